"""``Transactions``: one store's engine, its transactions and its error boundary, in one object."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from firstline.sqlstore.engine import READ_ONLY, StoreDatabase, create_engine_for, is_memory_sqlite, translate_errors

__all__ = ["Transactions"]

# The transaction a ``unit_of_work()`` opened in this thread / task, per Transactions object.
_AMBIENT: ContextVar[dict[int, Connection] | None] = ContextVar("firstline_ambient_transactions", default=None)
# What to run once that unit of work has committed, per Transactions object.
_AFTER: ContextVar[dict[int, list[Callable[[], None]]] | None] = ContextVar("firstline_after_commit", default=None)
log = logging.getLogger(__name__)


class Transactions:
    """Opens ``url`` for one store, migrates it with ``upgrade``, and hands out transactions.

    ``write()`` and ``read()`` translate database errors at the boundary; ``transaction()`` is the
    raw form for callers that translate themselves. In-memory SQLite has one shared connection,
    so its transactions are serialised.

    ``unit_of_work()`` opens one transaction that every ``transaction()`` / ``write()`` / ``read()``
    on this object joins until the block ends, in the same thread or asyncio task: changes made by
    several store calls (a ticket update, the conversation event that records it) then commit
    together or not at all. Nested units of work join the outer one.
    """

    def __init__(self, database: StoreDatabase, url: Any, upgrade: Callable[[Engine], None]) -> None:
        self.database = database
        self.engine = create_engine_for(database, url)
        self.url = self.engine.url
        self._serial: AbstractContextManager[Any] = threading.Lock() if is_memory_sqlite(self.url) else nullcontext()
        # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in growing steps
        # (up to 100 ms) before it retries. Queue this process's writers on a lock instead: they then take
        # turns as soon as the previous one commits. Other processes still meet SQLite's busy handler.
        self._writer: AbstractContextManager[Any] = (
            threading.Lock() if self.url.get_backend_name() == "sqlite" and not is_memory_sqlite(self.url)
            else nullcontext()
        )  # fmt: skip
        try:
            with self._serial:
                upgrade(self.engine)
        except BaseException:
            self.engine.dispose()
            raise

    @contextmanager
    def unit_of_work(self) -> Iterator[Connection]:
        """One transaction shared by every store call on this object inside the block."""
        ambient = _AMBIENT.get() or {}
        if id(self) in ambient:
            yield ambient[id(self)]
            return
        callbacks: list[Callable[[], None]] = []
        with (
            translate_errors(self.database, self.url),
            self._writer,
            self._serial,
            self.engine.connect() as conn,
            conn.begin(),
        ):
            token = _AMBIENT.set({**ambient, id(self): conn})
            after = _AFTER.set({**(_AFTER.get() or {}), id(self): callbacks})
            try:
                yield conn
            finally:
                _AFTER.reset(after)
                _AMBIENT.reset(token)
        for callback in callbacks:  # committed: nothing raised out of the block above
            _run(callback)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current unit of work has committed (at once outside one; never after a
        rollback). A callback that raises is logged, never passed on: the commit has already happened."""
        pending = (_AFTER.get() or {}).get(id(self))
        if pending is None:
            _run(callback)
        else:
            pending.append(callback)

    @property
    def in_unit_of_work(self) -> bool:
        return id(self) in (_AMBIENT.get() or {})

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Connection]:
        ambient = _AMBIENT.get()
        if ambient and id(self) in ambient:
            yield ambient[id(self)]
            return
        with nullcontext() if read_only else self._writer, self._serial, self.engine.connect() as conn:
            if read_only:
                conn.execution_options(**{READ_ONLY: True})
            with conn.begin():
                yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with translate_errors(self.database, self.url), self.transaction() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with translate_errors(self.database, self.url), self.transaction(read_only=True) as conn:
            yield conn

    def close(self) -> None:
        """Close every pooled connection; harmless to call twice."""
        self.engine.dispose()


def _run(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:
        log.exception("an after-commit callback failed")
