"""A job consumer in a process of its own, for the crash test (run: python crash_worker.py FOLDER [REDIS_URL]).

Kind ``nap``: the first run writes ``started`` and sleeps (the test kills the process then); a later run
finds ``started`` and writes ``done`` with the job id.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from firstline.jobs import Consumer, DeadLetters, Jobs
from firstline.jobs_settings import JobsSettings
from firstline.localdb import open_database

SETTINGS = JobsSettings(retries=0, lease_s=1.0, poll_s=0.05, periodic_s=60.0)


def main(folder: Path, redis_url: str | None) -> None:
    dead = DeadLetters(open_database(f"sqlite:///{folder / 'tickets.db'}"))
    if redis_url:
        jobs = Jobs.redis(redis_url, dead, SETTINGS, prefix=folder.name)
    else:
        jobs = Jobs.sqlite(folder / "jobs.db", dead, SETTINGS)

    def nap(payload: dict[str, Any]) -> None:
        started = folder / "started"
        if started.exists():
            written = folder / "done.partial"  # renamed whole: the test never reads a half-written file
            written.write_text(str(payload["n"]))
            written.replace(folder / "done")
            return
        started.write_text(str(time.time()))
        time.sleep(120)

    jobs.register("nap", nap)
    if len(sys.argv) > 3 and sys.argv[3] == "enqueue":
        jobs.enqueue("nap", {"n": 7})
    Consumer(jobs, 1, periodic=False).start()
    (folder / "ready").write_text("1")
    threading.Event().wait()  # until the test kills this process


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] or None)
