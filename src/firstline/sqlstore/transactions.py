"""``Transactions``: one store's engine, its transactions and its error boundary, in one object."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from firstline.sqlstore.engine import READ_ONLY, StoreDatabase, create_engine_for, is_memory_sqlite, translate_errors

__all__ = ["Transactions"]


class Transactions:
    """Opens ``url`` for one store, migrates it with ``upgrade``, and hands out transactions.

    ``write()`` and ``read()`` translate database errors at the boundary; ``transaction()`` is the
    raw form for callers that translate themselves. In-memory SQLite has one shared connection,
    so its transactions are serialised.
    """

    def __init__(self, database: StoreDatabase, url: Any, upgrade: Callable[[Engine], None]) -> None:
        self.database = database
        self.engine = create_engine_for(database, url)
        self.url = self.engine.url
        self._serial: AbstractContextManager[Any] = threading.Lock() if is_memory_sqlite(self.url) else nullcontext()
        try:
            with self._serial:
                upgrade(self.engine)
        except BaseException:
            self.engine.dispose()
            raise

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Connection]:
        with self._serial, self.engine.connect() as conn:
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
