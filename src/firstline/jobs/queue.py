"""``Jobs``: named kinds of background work on a huey queue, with retries, leases and dead letters.

The queue is huey's (:class:`huey.SqliteHuey` in ``data_dir/jobs.db`` for one process, :class:`huey.RedisHuey`
when ``scale.redis_url`` is set, so every worker and machine shares one queue). Firstline registers a single
huey task, ``firstline_job(kind, payload)``, and dispatches on ``kind`` to a handler registered here with
its retry policy (:meth:`Jobs.register`): retries wait ``retry_delay_s``, then ``retry_backoff`` times
longer each time (huey's ``retry_delay`` / ``retry_backoff``). When the retries are spent the job is
recorded as dead in Firstline's database (:class:`~firstline.jobs.dead.DeadLetters`).

What huey does not give, and this module adds:

* **Leases** (a job survives its consumer dying mid-run). huey removes a job from the queue when a consumer
  takes it. :meth:`Jobs.run_one` writes a ``running:<id>`` record (the serialised job and a deadline) into
  huey's key-value store right after taking it, renews it every third of ``lease_s`` while the handler
  runs, and deletes it when huey has finished with the job (done, rescheduled for a retry, or dead).
  :meth:`Jobs.tick` (every consumer runs it) puts a job whose lease ran out back on the queue, popping the
  record atomically so one consumer re-enqueues it. The guarantee is *at least once*: a handler may run
  again after a crash, so handlers are idempotent (ingest skips unchanged files; the outboxes claim rows).
  A consumer killed in the few microseconds between taking a job and writing its lease loses that run; the
  periodic rounds below re-create the trigger jobs, and an upload reports 202 with the job id.
* **Deduplicated triggers**: a kind registered with ``dedupe=True`` (``send_mail``, ``ticket_sync``) has at
  most one run waiting: :meth:`Jobs.enqueue` sets a ``queued:<kind>`` flag with huey's atomic
  ``put_if_empty`` and returns the waiting job's id when it is already set. A consumer clears the flag as
  it takes that job, so a trigger that arrives during a run queues the next round (none is lost). A flag
  older than ``lease_s`` is treated as lost (its enqueuer died) and replaced.
* **Periodic safety-net rounds**: kinds registered with ``periodic=True`` are enqueued by every consumer
  every ``periodic_s`` (deduplicated, so N consumers still queue one round).
* **Results for waiters**: a kind registered with ``keep_result=True`` (``ingest``) stores its handler's
  JSON result as ``done:<id>`` for :meth:`Jobs.wait` (an upload that answers with the ingest report).

Payloads are JSON objects; they should name rows or files, never carry secrets (dead letters keep a
redacted copy, and a retry from the console re-enqueues that copy). huey pickles its messages, so the
Redis it uses must be as trusted as the database.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from huey.api import Task
from huey.constants import EmptyData
from huey.exceptions import RetryTask
from huey.utils import utcnow

from firstline.errors import InputError
from firstline.jobs.dead import DeadJob, DeadLetters
from firstline.jobs_settings import JobsSettings

__all__ = ["JobCounts", "JobKind", "Jobs", "QueuedJob"]

log = logging.getLogger(__name__)

TASK_NAME = "firstline_job"
RESULT_TTL_S = 3600.0  # a kept result nobody collected is removed after this long


@dataclass(frozen=True)
class JobKind:
    """A registered kind: what runs it and how it is retried."""

    name: str
    handler: Callable[[dict[str, Any]], Any]
    retries: int
    retry_delay_s: float
    retry_backoff: float
    dedupe: bool = False
    periodic: bool = False
    keep_result: bool = False


@dataclass(frozen=True)
class JobCounts:
    queued: int
    scheduled: int
    running: int
    dead: int


@dataclass(frozen=True)
class QueuedJob:
    id: str
    kind: str
    payload: dict[str, Any]
    eta: datetime | None
    retries_left: int


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _load(raw: Any) -> dict[str, Any]:
    loaded = json.loads(bytes(raw))
    return loaded if isinstance(loaded, dict) else {}


class Jobs:
    """One deployment's job queue: enqueue by kind, run one job, move due retries, reclaim lost leases."""

    def __init__(self, huey: Huey, dead: DeadLetters, settings: JobsSettings, *, where: str = "") -> None:
        self.huey = huey
        self.dead = dead
        self.settings = settings
        self.where = where or type(huey).__name__
        self._kinds: dict[str, JobKind] = {}
        self._task = huey.task(context=True, name=TASK_NAME)(self._run_job)
        self._closed = False

    # -- building ------------------------------------------------------------------------------------

    @classmethod
    def sqlite(cls, path: Path, dead: DeadLetters, settings: JobsSettings, name: str = "firstline") -> Jobs:
        """A queue in one SQLite file (one process, or processes of one machine)."""
        from firstline.sqlstore.engine import private_files

        with private_files():  # the file and its -wal / -shm (SQLite gives them the file's mode): 0600
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            for existing in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                if existing.exists():
                    existing.chmod(0o600)
            huey = SqliteHuey(name, filename=str(path), results=False, utc=True)
        return cls(huey, dead, settings, where=str(path))

    @classmethod
    def redis(
        cls,
        url: str,
        dead: DeadLetters,
        settings: JobsSettings,
        *,
        password: str | None = None,
        prefix: str = "firstline",
    ) -> Jobs:
        """A queue in Redis shared by every worker; huey's keys are named after ``prefix``."""
        from redis import ConnectionPool

        pool = ConnectionPool.from_url(url, password=password, socket_timeout=5.0, socket_connect_timeout=5.0)
        huey = RedisHuey(prefix, connection_pool=pool, blocking=False, results=False, utc=True)
        return cls(huey, dead, settings, where=url)

    def register(
        self,
        kind: str,
        handler: Callable[[dict[str, Any]], Any],
        *,
        retries: int | None = None,
        dedupe: bool = False,
        periodic: bool = False,
        keep_result: bool = False,
    ) -> JobKind:
        """Run ``handler(payload)`` for jobs of ``kind``; ``retries`` defaults to ``jobs.retries``."""
        s = self.settings
        spec = JobKind(
            kind,
            handler,
            s.retries if retries is None else retries,
            s.retry_delay_s,
            s.retry_backoff,
            dedupe,
            periodic,
            keep_result,
        )
        self._kinds[kind] = spec
        return spec

    @property
    def kinds(self) -> dict[str, JobKind]:
        return dict(self._kinds)

    # -- enqueueing ----------------------------------------------------------------------------------

    def enqueue(self, kind: str, payload: dict[str, Any] | None = None, *, delay_s: float = 0.0) -> str:
        """Queue one job of ``kind``; its id (for a deduplicated kind, the id of the run already waiting)."""
        spec = self._kinds.get(kind)
        if spec is None:
            raise InputError(f"No job kind {kind!r}; known kinds: {', '.join(sorted(self._kinds)) or 'none'}.")
        body = dict(payload or {})
        try:
            json.dumps(body)
        except (TypeError, ValueError) as exc:
            raise InputError(f"The payload of a {kind} job must be JSON: {exc}") from exc
        task: Task = self._task.s(kind=kind, payload=body)
        task.retries, task.retry_delay, task.retry_backoff = spec.retries, spec.retry_delay_s, spec.retry_backoff
        if spec.dedupe and not delay_s:
            waiting = self._flag(kind, task.id)
            if waiting is not None:
                return waiting
        if delay_s:
            task.eta = utcnow() + timedelta(seconds=delay_s)
            self.huey.add_schedule(task)
        else:
            self.huey.enqueue(task)
        return str(task.id)

    def _flag(self, kind: str, job_id: str) -> str | None:
        """Mark ``kind`` as queued by ``job_id``; the id already waiting when another run is queued."""
        storage, key = self.huey.storage, f"queued:{kind}"
        for _ in range(3):
            if storage.put_if_empty(key, _json({"id": job_id, "at": time.time()})):
                return None
            raw = storage.peek_data(key)
            if raw is EmptyData:
                continue  # a consumer took it just now: try again
            held = _load(raw)
            if time.time() - float(held.get("at", 0)) < self.settings.lease_s:
                return str(held.get("id", ""))
            storage.delete_data(key)  # the enqueuer died between the flag and the queue: replace it
        return None

    def enqueue_periodic(self) -> list[str]:
        """Queue one round of each periodic kind (deduplicated)."""
        return [self.enqueue(k.name) for k in self._kinds.values() if k.periodic]

    # -- running -------------------------------------------------------------------------------------

    def run_one(self) -> bool:
        """Take one job from the queue and run it under a lease; False when the queue was empty."""
        raw = self.huey.storage.dequeue()
        if raw is None:
            return False
        task = self.huey.deserialize_task(raw)
        with self._leased(task.id, bytes(raw)):
            kind = str(task.kwargs.get("kind", ""))
            spec = self._kinds.get(kind)
            if spec is not None and spec.dedupe:
                self._clear_flag(kind, task.id)
            self.huey.execute(task)
        return True

    def _clear_flag(self, kind: str, job_id: str) -> None:
        raw = self.huey.storage.peek_data(f"queued:{kind}")
        if raw is not EmptyData and _load(raw).get("id") == job_id:
            self.huey.storage.delete_data(f"queued:{kind}")

    @contextmanager
    def _leased(self, job_id: str, data: bytes) -> Iterator[None]:
        key = f"running:{job_id}"
        encoded = base64.b64encode(data).decode()
        done = threading.Event()

        def renew() -> None:
            self.huey.storage.put_data(key, _json({"until": time.time() + self.settings.lease_s, "data": encoded}))

        def keep() -> None:
            while not done.wait(self.settings.lease_s / 3):
                try:
                    renew()
                except Exception:  # the queue's store is down for a moment: the next renewal may work
                    log.warning("could not renew the lease of job %s", job_id, exc_info=True)

        renew()
        keeper = threading.Thread(target=keep, name=f"lease:{job_id[:8]}", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()
            self.huey.storage.delete_data(key)

    def _run_job(
        self,
        kind: str,
        payload: dict[str, Any],
        first_tried: float | None = None,
        attempt: int = 0,
        task: Task | None = None,
    ) -> None:
        assert task is not None  # huey passes it (context=True)
        # Stored in the task's kwargs, so a retry (huey re-serialises the same task) carries them on.
        task.kwargs["first_tried"] = first_tried = first_tried or time.time()
        task.kwargs["attempt"] = attempt = attempt + 1
        try:
            spec = self._kinds.get(kind)
            if spec is None:
                raise LookupError(f"no handler for job kind {kind!r} in this process")
            result = spec.handler(payload)
            if spec.keep_result:
                self.huey.storage.put_data(f"done:{task.id}", _json({"at": time.time(), "result": result}))
        except Exception as exc:
            if not task.retries:
                self._bury(str(task.id), kind, payload, exc, attempt, first_tried, task)
            raise

    def _bury(
        self, job_id: str, kind: str, payload: dict[str, Any], exc: Exception, attempts: int, first: float, task: Task
    ) -> None:
        error = f"{type(exc).__name__}: {exc}"
        try:
            self.dead.record(job_id, kind, payload, error, attempts, datetime.fromtimestamp(first, UTC))
        except Exception as store_error:  # keep the job rather than lose it: try again later
            log.error("job %s (%s) failed for good but could not be recorded as dead: %s", job_id, kind, store_error)
            raise RetryTask(delay=self.settings.retry_delay_s or 1.0) from store_error
        log.error("job %s (%s) is dead after %d attempts: %s", job_id, kind, attempts, error)

    def tick(self) -> int:
        """Move due retries and scheduled jobs to the queue and reclaim expired leases; how many moved."""
        moved = 0
        for task in self.huey.read_schedule(utcnow()):
            self.huey.enqueue(task)
            moved += 1
        now = time.time()
        storage = self.huey.storage
        for key, raw in storage.result_items().items():
            if key.startswith("running:") and float(_load(raw).get("until", 0)) < now:
                taken = storage.pop_data(key)  # atomic: one consumer re-enqueues it
                if taken is EmptyData:
                    continue
                record = _load(taken)
                if float(record.get("until", 0)) >= now:  # renewed just now: its consumer is alive
                    storage.put_data(key, taken)
                    continue
                log.warning("job %s lost its consumer (lease ran out); queued again", key.removeprefix("running:"))
                storage.enqueue(base64.b64decode(record["data"]), None)
                moved += 1
            elif key.startswith("done:") and now - float(_load(raw).get("at", 0)) > RESULT_TTL_S:
                storage.delete_data(key)
        return moved

    def wait(self, job_id: str, timeout_s: float, poll_s: float = 0.05) -> tuple[bool, Any]:
        """Wait up to ``timeout_s`` for a ``keep_result`` job: ``(True, result)``, or ``(False, None)``."""
        deadline = time.monotonic() + timeout_s
        key = f"done:{job_id}"
        while True:
            raw = self.huey.storage.pop_data(key)
            if raw is not EmptyData:
                return True, _load(raw).get("result")
            if time.monotonic() >= deadline:
                return False, None
            time.sleep(min(poll_s, max(deadline - time.monotonic(), 0.0)))

    # -- looking -------------------------------------------------------------------------------------

    def counts(self) -> JobCounts:
        storage = self.huey.storage
        running = sum(1 for key in storage.result_items() if key.startswith("running:"))
        return JobCounts(storage.queue_size(), storage.schedule_size(), running, self.dead.count())

    def queued(self, limit: int = 100) -> list[QueuedJob]:
        """Jobs waiting to run now, then jobs waiting for their time (retries, delayed)."""
        items = [*self.huey.storage.enqueued_items(limit), *self.huey.storage.scheduled_items(limit)][:limit]
        out = []
        for raw in items:
            task = self.huey.deserialize_task(raw)
            kwargs = task.kwargs
            out.append(QueuedJob(str(task.id), str(kwargs.get("kind")), dict(kwargs.get("payload") or {}),
                                 task.eta, int(task.retries or 0)))  # fmt: skip
        return out

    def retry_dead(self, job_id: str) -> str | None:
        """Queue a dead job again with fresh retries; the new job id, or None when no such dead job."""
        letter = self.dead.get(job_id)
        if letter is None:
            return None
        if letter.kind not in self._kinds:
            raise InputError(f"Dead job {job_id} is of kind {letter.kind!r}, which this version does not run.")
        taken: DeadJob | None = self.dead.take(job_id)
        if taken is None:
            return None
        return self.enqueue(taken.kind, taken.payload)

    def discard_dead(self, job_id: str) -> bool:
        return self.dead.take(job_id) is not None

    def close(self) -> None:
        """Close the queue's connections; harmless to call twice."""
        if self._closed:
            return
        self._closed = True
        storage = self.huey.storage
        pool = getattr(storage, "pool", None)
        if pool is not None:
            pool.disconnect()
        close = getattr(storage, "close", None)
        if callable(close) and pool is None:
            close()
