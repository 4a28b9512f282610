"""A throw-away Chroma server for tests: ``chroma run`` (from the chromadb package) on a free loopback port.

Without the ``chroma`` executable beside the interpreter the caller skips through
:func:`~firstline.testing.live.cannot_start` (which fails under ``CI=true``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from firstline.testing.live import cannot_start, free_port

__all__ = ["chroma_server"]


@contextmanager
def chroma_server(folder: Path, start_timeout_s: float = 60.0) -> Iterator[str]:
    """Run ``chroma run`` with its data and log in ``folder`` until the block ends; yields its URL."""
    executable = Path(sys.executable).parent / "chroma"
    if not executable.exists():
        cannot_start(f"the `chroma` executable is missing at {executable}; install chromadb in this environment")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = folder / "server.log"
    command = [str(executable), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                cannot_start(f"`chroma run` did not answer on {url} within {start_timeout_s:.0f} s:\n{tail}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
