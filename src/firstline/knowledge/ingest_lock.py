"""One ingest at a time per catalog: a file lock on one machine, a PostgreSQL advisory lock across machines.

An :class:`IngestLock` is held for a whole ingest. ``hold(wait_s=0)`` refuses at once with
:class:`~firstline.errors.IngestLockedError` when another ingest holds it (what the CLI and the API
answer); ``hold(wait_s=120)`` waits up to that long first (what the service's startup ingest of
the demo runbooks does in every worker, which then finds nothing changed).

* :class:`FileIngestLock`: ``index_dir/ingest.lock`` (``filelock``), for the SQLite catalog, whose
  processes all run on the machine that holds the file.
* :class:`PostgresIngestLock`: a session-level ``pg_advisory_lock`` taken on a connection of its own
  and held until the ingest ends. PostgreSQL releases it when that connection ends, so an ingesting
  process that dies (killed pod, OOM) leaves no stale lock behind. The key is a constant paired with
  a hash of the connection's ``current_schema()``, so deployments that share one database in
  separate schemas do not block each other. Waiting uses ``lock_timeout``, so a waiter wakes the
  moment the lock is released instead of polling.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from firstline.errors import IngestLockedError
from firstline.sqlstore.engine import StoreDatabase, display_url, translate_errors

__all__ = ["INGEST_LOCK_KEY", "FileIngestLock", "IngestLock", "PostgresIngestLock"]

INGEST_LOCK_KEY = 0x464C4B49  # "FLKI": first half of the advisory lock key of an ingest
_LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock wait that ran past lock_timeout


class IngestLock(Protocol):
    """Held for the whole of one ingest; ``where`` names it in messages."""

    @property
    def where(self) -> str: ...

    def hold(self, wait_s: float = 0.0) -> AbstractContextManager[None]: ...


def _refusal(where: str, wait_s: float) -> IngestLockedError:
    waited = f" (waited {wait_s:g} s)" if wait_s > 0 else ""
    return IngestLockedError(
        f"Another ingest is writing to this index ({where}){waited}. Wait for it to finish and run this one again."
    )


class FileIngestLock:
    """A lock file beside the SQLite catalog: one ingest at a time among the processes of one machine."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        return f"lock {self.path}"

    @contextmanager
    def hold(self, wait_s: float = 0.0) -> Iterator[None]:
        lock = FileLock(str(self.path), timeout=max(wait_s, 0.0))
        try:
            lock.acquire()
        except Timeout as exc:
            raise _refusal(self.where, wait_s) from exc
        try:
            yield
        finally:
            lock.release()


class PostgresIngestLock:
    """A session-level advisory lock of the catalog's PostgreSQL database, on a connection of its own."""

    def __init__(self, engine: Engine, database: StoreDatabase) -> None:
        self.engine = engine
        self.database = database

    @property
    def where(self) -> str:
        return f"advisory lock in {display_url(self.engine.url)}"

    @contextmanager
    def hold(self, wait_s: float = 0.0) -> Iterator[None]:
        with translate_errors(self.database, self.engine.url):
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        released = False
        try:
            with translate_errors(self.database, self.engine.url):
                key = connection.execute(text("SELECT hashtext(coalesce(current_schema(), ''))")).scalar_one()
                if not self._acquire(connection, int(key), wait_s):
                    raise _refusal(self.where, wait_s)
            try:
                yield
            finally:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:a, :b)"), {"a": INGEST_LOCK_KEY, "b": int(key)})
                    released = True
                except DBAPIError:  # the connection broke: closing it below releases the lock anyway
                    pass
        finally:
            if released:
                connection.close()
            else:
                connection.invalidate()  # never hand a connection that may hold the lock back to the pool
                connection.close()

    @staticmethod
    def _acquire(connection: Connection, key: int, wait_s: float) -> bool:
        params = {"a": INGEST_LOCK_KEY, "b": key}
        if wait_s <= 0:
            return bool(connection.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), params).scalar_one())
        connection.execute(text(f"SET lock_timeout = {max(int(wait_s * 1000), 1)}"))
        try:
            connection.execute(text("SELECT pg_advisory_lock(:a, :b)"), params)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                return False
            raise
        finally:
            connection.execute(text("RESET lock_timeout"))
        return True
