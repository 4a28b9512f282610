"""A throw-away ``redis-server`` for tests: 127.0.0.1, a free port, no persistence, stopped on exit.

    with redis_server() as server:
        Coordination(server.url)

:meth:`RedisServer.restart` stops it and starts it again on the same port (for reconnect tests); the data
is gone after a restart, as after a real crash without persistence. Without the ``redis-server`` binary
(Debian ``redis-server``; ``REDIS_SERVER`` names another) the caller skips, except in CI, where it fails.
Use it through the ``redis`` fixture of ``tests/conftest.py`` (one server per test session).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from firstline.testing.live import cannot_start, free_port

__all__ = ["RedisServer", "redis_server"]

START_TIMEOUT_S = 20.0


def find_redis_server() -> str | None:
    """``$REDIS_SERVER``, ``redis-server`` on PATH, or Debian's /usr/bin/redis-server."""
    for candidate in (os.environ.get("REDIS_SERVER", ""), shutil.which("redis-server") or "", "/usr/bin/redis-server"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


class RedisServer:
    """One ``redis-server`` process; :attr:`url` is ``redis://127.0.0.1:<port>/0``."""

    def __init__(self, executable: str, folder: Path, port: int) -> None:
        self.executable, self.folder, self.port = executable, folder, port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log = folder / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        command = [
            self.executable,
            "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.folder), "--logfile", str(self.log), "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                self.stop()
                cannot_start(f"redis-server did not answer on port {self.port} within {START_TIMEOUT_S:.0f} s:\n{tail}")
            time.sleep(0.02)
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop it at once (SIGKILL: as a crash; nothing is persisted anyway)."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Start a redis-server, yield it, stop it and remove its folder."""
    executable = find_redis_server()
    if executable is None:
        cannot_start("redis-server is not installed: apt-get install redis-server (or scripts/services.sh)")
    folder = Path(tempfile.mkdtemp(prefix="firstline-redis-"))
    server = RedisServer(executable, folder, free_port())
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
