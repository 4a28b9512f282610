"""Where the Slack channel's work runs, off the service's event loop: :class:`KeyedWork` and :class:`Serial`.

Slack wants an answer to every request within 3 seconds and a help desk turn can take longer, so a
request only records what it must (the delivery, the conversation, the thread) and hands the turn to
:class:`KeyedWork`: a few threads, each with an event loop of its own (``LoopThreads``), that run jobs
in order *per key* (one Slack thread is one key: two messages in a thread never race; different
threads run side by side). :class:`Stored` lets the request wait, briefly, until the job has stored the
user's message or decision, so Slack is answered once nothing can be lost, and at the latest after
``ack_wait_s`` (the turn itself carries on).

Everything sent to Slack goes through one :class:`Serial` thread, in order: a Slack that is slow or
down (retries, ``Retry-After``) delays other Slack posts, never a turn.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from firstline.conversations import Notice
from firstline.llm.pool import LoopThreads

__all__ = ["KeyedWork", "Serial", "Stored"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Stored:
    """Set when the notice a job waits for (its message or decision, stored and committed) is published."""

    def __init__(self, matches: Callable[[Notice], bool]) -> None:
        self.matches = matches
        self.event = threading.Event()

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)


class KeyedWork:
    """Run jobs on ``workers`` threads, one at a time and in order for each key."""

    def __init__(self, workers: int, name: str = "firstline-slack") -> None:
        self.loops = LoopThreads(workers, name)
        self._queues: dict[str, deque[Callable[[], None]]] = {}
        self._lock = threading.Lock()
        self._waiting: list[Stored] = []
        self._idle = threading.Condition(self._lock)

    def submit(self, key: str, job: Callable[[], None], stored: Stored | None = None) -> None:
        with self._lock:
            if stored is not None:
                self._waiting.append(stored)
            jobs = self._queues.setdefault(key, deque())
            jobs.append(lambda: self._run(job, stored))
            if len(jobs) > 1:
                return  # runs when the key's earlier jobs are done
        self.loops.executor.submit(self._drain, key)

    def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a coroutine to the end on this worker's own loop (call from inside a job)."""
        return self.loops.run(make)

    def heard(self, notice: Notice) -> None:
        """A hub notice: release every request waiting for it."""
        with self._lock:
            found = [s for s in self._waiting if s.matches(notice)]
            self._waiting = [s for s in self._waiting if s not in found]
        for stored in found:
            stored.event.set()

    def _run(self, job: Callable[[], None], stored: Stored | None) -> None:
        try:
            job()
        except Exception:  # one failed job must not stop the key's next ones
            log.exception("a Slack job failed")
        finally:
            if stored is not None:  # stored, failed or nothing to store: the request waits no longer
                with self._lock:
                    self._waiting = [s for s in self._waiting if s is not stored]
                stored.event.set()

    def _drain(self, key: str) -> None:
        while True:
            with self._lock:
                jobs = self._queues[key]
                job = jobs[0]
            job()
            with self._lock:
                jobs.popleft()
                if not jobs:
                    del self._queues[key]
                    self._idle.notify_all()
                    return

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job is queued or running (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._queues, timeout)

    def shutdown(self) -> None:
        self.loops.shutdown()


class Serial:
    """One thread that runs callables in the order they were handed over."""

    def __init__(self, name: str = "firstline-slack-out") -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._busy = 0
        self._lock = threading.Condition()

    def start(self) -> None:
        self._thread.start()

    def do(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._busy += 1
        self._queue.put(job)

    def _loop(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                job()
            except Exception:
                log.exception("a Slack delivery failed")
            finally:
                with self._lock:
                    self._busy -= 1
                    self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self._busy == 0, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Send what is queued (for up to ``timeout`` seconds), then end the thread."""
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)
