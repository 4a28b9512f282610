"""The in-process consumer: threads that run jobs, and one that keeps time.

huey ships its own consumer program; Firstline runs a small one of its own so that ``firstline serve`` stays
one command (the lifespan starts it) and ``firstline jobs work`` is the same code in a process of its own.
:class:`Consumer` starts ``threads`` workers, each calling :meth:`Jobs.run_one` and waiting ``poll_s`` when
the queue is empty, plus one clock thread that calls :meth:`Jobs.tick` (due retries, lost leases) every
``poll_s`` and :meth:`Jobs.enqueue_periodic` every ``periodic_s``. A failure of the queue's store (Redis
restarting, SQLite busy) is logged and the loop goes on; :meth:`Consumer.stop` lets running jobs finish
(up to its timeout; a job cut off later is run again when its lease runs out).
"""

from __future__ import annotations

import logging
import threading
import time

from firstline.jobs.queue import Jobs

__all__ = ["Consumer"]

log = logging.getLogger(__name__)


class Consumer:
    """``threads`` job runners and a clock over one :class:`Jobs`."""

    def __init__(self, jobs: Jobs, threads: int = 1, *, periodic: bool = True) -> None:
        self.jobs = jobs
        self.threads = threads
        self.periodic = periodic
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self) -> Consumer:
        if self._threads:
            return self
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._work, name=f"jobs-{n}", daemon=True) for n in range(self.threads)
        ]
        self._threads.append(threading.Thread(target=self._clock, name="jobs-clock", daemon=True))
        for thread in self._threads:
            thread.start()
        log.info("job consumer started: %d thread(s) on %s", self.threads, self.jobs.where)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        self._threads = []

    def _work(self) -> None:
        poll_s = self.jobs.settings.poll_s
        while not self._stopping.is_set():
            try:
                ran = self.jobs.run_one()
            except Exception:  # the queue's store failed: wait, then try again
                log.exception("the job consumer could not take a job")
                ran = False
            if not ran:
                self._stopping.wait(poll_s)

    def _clock(self) -> None:
        settings = self.jobs.settings
        next_round = time.monotonic() + (settings.periodic_s if self.periodic else float("inf"))
        while not self._stopping.is_set():
            try:
                self.jobs.tick()
                if time.monotonic() >= next_round:
                    next_round = time.monotonic() + settings.periodic_s
                    self.jobs.enqueue_periodic()
            except Exception:
                log.exception("the job clock failed a round")
            self._stopping.wait(settings.poll_s)
