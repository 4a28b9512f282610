"""``Prepared``: a statement every turn runs, compiled once per dialect and handed to the driver directly.

SQLAlchemy's work around one execution (a cache key for the statement, an execution context, events, the
result's wrapping) costs about ten times the sqlite3 call for the point reads and small writes a helpdesk
turn makes forty times. A ``Prepared`` statement keeps what SQLAlchemy would compute each time — the SQL
text in the driver's parameter style, the order of the parameters, the bind and result processors of every
column type (``UtcDateTime``, JSON, booleans) — and runs on the connection the caller's transaction already
holds, so it joins that transaction, its locks and its commit. Driver errors come back as SQLAlchemy's
``DBAPIError`` family, so the stores' error boundary (``translate_errors``) treats them as before.

Only plain statements qualify: no expanding ``IN`` lists, no Python-side column defaults left for an
``INSERT`` to fill (both are refused when the statement is first planned, not silently mis-run).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Dialect, Table, bindparam, exc, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ClauseElement, sqltypes
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert

__all__ = ["Prepared", "PreparedUpdates", "Record"]

Processor = Callable[[Any], Any] | None


class Record(tuple[Any, ...]):
    """One row: a tuple whose result columns are also attributes (``row.number``), and ``mapping()``."""

    __slots__ = ()
    _names: ClassVar[tuple[str, ...]] = ()

    def mapping(self) -> dict[str, Any]:
        return dict(zip(self._names, self, strict=True))

    if TYPE_CHECKING:  # the columns are properties of each statement's own subclass

        def __getattr__(self, name: str) -> Any: ...


def _record_type(names: tuple[str, ...]) -> type[Record]:
    fields: dict[str, Any] = {name: property(itemgetter(i)) for i, name in enumerate(names)}
    return type("Record", (Record,), {"__slots__": (), "_names": names, **fields})


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    positional: tuple[str, ...] | None  # the parameters' order for a positional driver; None: by name
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # (name, processor) where the type has one
    results: tuple[Processor, ...]
    record: type[Record] | None  # None: the statement returns no rows
    dbapi_error: type[Exception]


class Prepared:
    """``statement`` (with ``bindparam`` placeholders, or an ``insert(table)`` and the ``columns`` it is given)
    compiled once per dialect, executed through the driver on a SQLAlchemy ``Connection``'s own DBAPI
    connection."""

    def __init__(self, statement: ClauseElement, *, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.columns = tuple(columns) if columns is not None else None
        if isinstance(statement, Insert) and self.columns is None:
            raise ValueError("a prepared INSERT needs the columns it will be given")
        self._plans: dict[tuple[str, str], _Plan] = {}  # by (dialect, driver)
        self._lock = threading.Lock()

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Record | None:
        """The first row, or None."""
        plan = self._plan(conn.dialect)
        cursor = self._run(conn, plan, [params], many=False)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else self._record(plan, row)

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[Record]:
        plan = self._plan(conn.dialect)
        cursor = self._run(conn, plan, [params], many=False)
        try:
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return [self._record(plan, row) for row in rows]

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        row = self.first(conn, params)
        return None if row is None else row[0]

    def execute(self, conn: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
        """Run a statement that returns no rows (once, or once per mapping); the rows it matched."""
        plan = self._plan(conn.dialect)
        rows: Sequence[Mapping[str, Any]] = [params] if isinstance(params, Mapping) else params
        many = not isinstance(params, Mapping)
        if not rows:
            return 0
        cursor = self._run(conn, plan, rows, many=many and len(rows) > 1)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    # -- planning and running -----------------------------------------------------------------------

    def _plan(self, dialect: Dialect) -> _Plan:
        key = (dialect.name, dialect.driver)
        plan = self._plans.get(key)
        if plan is None:
            with self._lock:
                plan = self._plans.get(key) or self._compile(dialect)
                self._plans[key] = plan
        return plan

    def _compile(self, dialect: Dialect) -> _Plan:
        compiled = self.statement.compile(dialect=dialect, column_keys=list(self.columns or ()) or None)
        assert isinstance(compiled, SQLCompiler), compiled
        if any(bind.expanding for bind in compiled.binds.values()):
            raise ValueError("a prepared statement cannot expand IN lists: use a plain execute")
        if isinstance(self.statement, Insert):
            given = set(self.columns or ())
            for column in self.statement.table.columns:
                if column.key not in given and column.default is not None:
                    raise ValueError(f"a prepared INSERT must be given {column.key!r}: it has a Python-side default")
        binds = []
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                binds.append((name, processor))
        positional = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup is not None else None
        columns = list(getattr(self.statement, "exported_columns", ()))  # a SELECT's columns, or RETURNING's
        record: type[Record] | None = None
        results: tuple[Processor, ...] = ()
        if columns:
            names = tuple(column.key for column in columns)
            record = _record_type(names)
            results = tuple(_result_processor(column.type, dialect) for column in columns)
        return _Plan(compiled.string, positional, tuple(binds), results, record, dialect.loaded_dbapi.Error)

    @staticmethod
    def _arguments(plan: _Plan, params: Mapping[str, Any]) -> Any:
        values = dict(params)
        for name, processor in plan.binds:
            if name in values:
                values[name] = processor(values[name])
        if plan.positional is None:
            return values
        return tuple(values[name] for name in plan.positional)

    def _run(self, conn: Connection, plan: _Plan, rows: Sequence[Mapping[str, Any]], *, many: bool) -> Any:
        driver = conn.connection.driver_connection
        assert driver is not None, "the connection is closed"
        cursor = driver.cursor()
        arguments = [self._arguments(plan, row) for row in rows]
        try:
            if many:
                cursor.executemany(plan.sql, arguments)
            else:
                cursor.execute(plan.sql, arguments[0])
        except plan.dbapi_error as error:
            cursor.close()
            raise exc.DBAPIError.instance(
                plan.sql, arguments if many else arguments[0], error, plan.dbapi_error, dialect=conn.dialect
            ) from error
        return cursor

    @staticmethod
    def _record(plan: _Plan, row: Sequence[Any]) -> Record:
        assert plan.record is not None, "this statement returns no rows"
        return plan.record(value if processor is None else processor(value)
                           for value, processor in zip(row, plan.results, strict=True))  # fmt: skip


def _result_processor(type_: Any, dialect: Dialect) -> Processor:
    """The column type's result processor. Numeric ones ask for the result column's database type, which is only
    known once a row comes back; planned without it, the driver's own value is kept (psycopg gives float for
    ``double precision`` and Decimal for ``numeric``, as the processor would)."""
    impl = type_.dialect_impl(dialect)
    try:
        processor: Processor = impl.result_processor(dialect, None)
    except (TypeError, KeyError):
        if not isinstance(
            impl, (sqltypes.Numeric, sqltypes.Float, getattr(sqltypes, "NumericCommon", sqltypes.Numeric))
        ):
            raise
        return None
    return processor


class PreparedUpdates:
    """``UPDATE table SET <the columns given> WHERE <key> = :key``: one :class:`Prepared` per set of columns
    (a store changes a few different sets of fields, each many times)."""

    def __init__(self, table: Table, key: str) -> None:
        self.table = table
        self.key = key
        self._by_columns: dict[tuple[str, ...], Prepared] = {}
        self._lock = threading.Lock()

    def execute(self, conn: Connection, key: Any, values: Mapping[str, Any]) -> int:
        """Set ``values`` on the row(s) whose key is ``key``; the rows matched."""
        names = tuple(sorted(values))
        prepared = self._by_columns.get(names)
        if prepared is None:
            with self._lock:
                prepared = self._by_columns.get(names)
                if prepared is None:
                    statement = (
                        update(self.table)
                        .where(self.table.c[self.key] == bindparam("where_key"))
                        .values({name: bindparam("set_" + name, type_=self.table.c[name].type) for name in names})
                    )
                    prepared = self._by_columns[names] = Prepared(statement)
        return prepared.execute(conn, {"where_key": key, **{"set_" + name: value for name, value in values.items()}})
