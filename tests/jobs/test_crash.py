"""A consumer process killed in the middle of a job: a consumer started afterwards runs the job (its lease
ran out), on SQLite and on Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("crash_worker.py")


def _wait_for(what: Callable[[], bool], timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            pytest.fail(f"the worker process exited early ({proc.returncode}):\n{out[-3000:]}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _start(folder: Path, url: str, enqueue: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [sys.executable, str(WORKER), str(folder), url, "enqueue" if enqueue else ""]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    if proc.stdout:
        proc.stdout.close()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_job_cut_off_by_a_killed_worker_runs_after_a_restart(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis").url if backend == "redis" else ""
    folder = tmp_path / f"crash{backend}"
    folder.mkdir()
    first = _start(folder, url, enqueue=True)
    try:
        _wait_for(lambda: (folder / "started").exists(), 30, first)
        first.send_signal(signal.SIGKILL)  # mid-job: no cleanup runs
        first.wait(10)
    finally:
        _stop(first)
    assert not (folder / "done").exists()
    second = _start(folder, url, enqueue=False)
    try:
        _wait_for(lambda: (folder / "done").exists(), 30, second)
    finally:
        _stop(second)
    assert (folder / "done").read_text() == "7"
