"""``Prepared`` statements and the driver-level BEGIN give what SQLAlchemy's execution gives, on SQLite and
PostgreSQL: the same rows and types, the caller's transaction, SQLAlchemy's error classes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from firstline.errors import BackendResponseError, BackendUnavailableError
from firstline.sqlstore.columns import UtcDateTime
from firstline.sqlstore.engine import StoreDatabase, create_engine_for, translate_errors
from firstline.sqlstore.prepared import Prepared

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(32), nullable=False, unique=True),
    Column("count", Integer, nullable=False),  # a column named like a tuple method
    Column("seen", UtcDateTime),
    Column("born", Date),
    Column("flag", Boolean, nullable=False),
    Column("data", JSON, nullable=False),
)
measures = Table("measures", metadata, Column("id", Integer, primary_key=True), Column("value", Float))
with_default = Table("with_default", metadata, Column("id", Integer, primary_key=True), Column("n", Integer, default=7))

BY_NAME = Prepared(select(things).where(things.c.name == bindparam("name")))
ADD = Prepared(insert(things), columns=("name", "count", "seen", "born", "flag", "data"))
BUMP = Prepared(
    update(things)
    .where(things.c.name == bindparam("who"))
    .values(count=things.c.count + bindparam("n"))
    .returning(things.c.count, things.c.data)
)
ROW = {
    "name": "printer",
    "count": 2,
    "seen": datetime(2026, 12, 5, 9, 30, 15, 123456, tzinfo=UTC),
    "born": date(2020, 1, 31),
    "flag": True,
    "data": {"jobs": ["a", "b"], "note": "ünïcode", "n": 1.5},
}
DATABASE = StoreDatabase("test database", "test.database_url", "things.db", "things")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.live)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_engine_for(DATABASE, f"sqlite:///{tmp_path / 'things.db'}")
    else:
        engine = create_engine(request.getfixturevalue("postgres").fresh_url())
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_rows_and_types_are_the_ones_sqlalchemy_gives(engine: Engine) -> None:
    with engine.begin() as conn:
        assert ADD.execute(conn, [ROW, {**ROW, "name": "phone", "data": []}]) == 2
    with engine.begin() as conn:
        expected = conn.execute(select(things).where(things.c.name == "printer")).one()
        found = BY_NAME.first(conn, {"name": "printer"})
        assert found is not None
        assert tuple(found) == tuple(expected) and found.mapping() == dict(expected._mapping)
        assert found.seen == ROW["seen"] and found.seen.tzinfo is not None
        assert found.born == ROW["born"] and found.flag is True and found.data == ROW["data"]
        assert found.count == 2  # the column, not tuple.count
        assert BY_NAME.first(conn, {"name": "nobody"}) is None
        assert [row.name for row in Prepared(select(things).order_by(things.c.name)).all(conn, {})] == [
            "phone",
            "printer",
        ]
        assert BUMP.first(conn, {"who": "printer", "n": 3}) == (5, ROW["data"])
        assert BUMP.execute(conn, {"who": "nobody", "n": 1}) == 0


def test_a_prepared_statement_joins_the_callers_transaction(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        ADD.execute(conn, ROW)
        assert BY_NAME.first(conn, {"name": "printer"}) is not None  # visible inside
        raise RuntimeError("roll back")
    with engine.connect() as conn:
        assert BY_NAME.first(conn, {"name": "printer"}) is None  # rolled back with the rest


def test_driver_errors_are_sqlalchemys_and_cross_the_store_boundary(engine: Engine) -> None:
    with engine.begin() as conn:
        ADD.execute(conn, ROW)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        ADD.execute(conn, ROW)  # the same unique name again
    with pytest.raises(BackendResponseError), translate_errors(DATABASE, engine.url), engine.begin() as conn:
        ADD.execute(conn, ROW)


def test_what_a_prepared_statement_cannot_do_is_refused_when_planned(engine: Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="expand IN"):
            Prepared(select(things).where(things.c.name.in_(bindparam("names", expanding=True)))).all(
                conn, {"names": ["a"]}
            )
        with pytest.raises(ValueError, match=r"'n'.*Python-side default"):
            Prepared(insert(with_default), columns=("id",)).execute(conn, {"id": 1})
    with pytest.raises(ValueError, match="columns"):
        Prepared(insert(things))


def test_a_writer_that_cannot_begin_gets_sqlalchemys_error(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE goes to the driver directly; a locked database still reads as unavailable."""
    engine = create_engine_for(DATABASE, f"sqlite:///{tmp_path / 'locked.db'}")
    metadata.create_all(engine)
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with engine.connect() as conn:
            conn.connection.driver_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
            with pytest.raises(OperationalError, match="locked"), conn.begin():
                pass
            with (
                pytest.raises(BackendUnavailableError, match="locked"),
                translate_errors(DATABASE, engine.url),
                conn.begin(),
            ):
                pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()


def test_plans_are_made_once_under_concurrent_first_use(engine: Engine) -> None:
    statement = Prepared(select(things.c.name).where(things.c.count > bindparam("n")))
    with engine.begin() as conn:
        ADD.execute(conn, ROW)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            with engine.connect() as conn:
                assert [row.name for row in statement.all(conn, {"n": 0})] == ["printer"]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(statement._plans) == 1


def test_prepared_updates_set_only_the_columns_given(engine: Engine) -> None:
    from firstline.sqlstore.prepared import PreparedUpdates

    updates = PreparedUpdates(things, "name")
    later = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    with engine.begin() as conn:
        ADD.execute(conn, [ROW, {**ROW, "name": "phone"}])
        assert updates.execute(conn, "printer", {"count": 9, "seen": later}) == 1
        assert updates.execute(conn, "phone", {"data": {"new": [1]}, "flag": False}) == 1
        assert updates.execute(conn, "printer", {"count": 10}) == 1  # another set of columns, another statement
        assert updates.execute(conn, "nobody", {"count": 1}) == 0
    with engine.begin() as conn:
        printer, phone = (BY_NAME.first(conn, {"name": n}) for n in ("printer", "phone"))
    assert printer is not None and phone is not None
    assert (printer.count, printer.seen, printer.data, printer.flag) == (10, later, ROW["data"], True)
    assert (phone.count, phone.seen, phone.data, phone.flag) == (2, ROW["seen"], {"new": [1]}, False)


def test_float_columns_come_back_as_floats(engine: Engine) -> None:
    """PostgreSQL's numeric result processors need the column's type code, known only with a result: planned
    without it, the driver's float is kept (the one-time codes' expiry is such a column)."""
    add = Prepared(insert(measures), columns=("id", "value"))
    read = Prepared(select(measures.c.value).where(measures.c.id == bindparam("id")))
    with engine.begin() as conn:
        add.execute(conn, {"id": 1, "value": 1765000000.25})
        assert read.scalar(conn, {"id": 1}) == 1765000000.25
        assert isinstance(read.scalar(conn, {"id": 1}), float)
