"""Engines for a store's database, and the boundary where database errors become Firstline errors.

SQLite (the default) runs in WAL mode and starts every write transaction with ``BEGIN IMMEDIATE``,
so concurrent writers queue on the busy timeout instead of failing with "database is locked" when
a read lock cannot be upgraded. PostgreSQL uses psycopg 3; ``postgresql://`` and ``postgres://``
URLs are read as ``postgresql+psycopg://``.

Data stays private to the user running Firstline: a SQLite database file is created 0600 (in
folders created 0700) before SQLite opens it, and SQLite gives its ``-wal``, ``-shm`` and
``-journal`` files the database file's permissions; an existing file readable by others is
tightened. :func:`private_dir` and :func:`private_files` do the same for the rest of the data
folder (the runtime uses them for the index folder and the embedded vector store).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from firstline import jsoncodec
from firstline.errors import BackendResponseError, BackendUnavailableError, ConfigError

__all__ = [
    "READ_ONLY",
    "StoreDatabase",
    "create_engine_for",
    "display_url",
    "is_memory_sqlite",
    "parse_url",
    "private_dir",
    "private_files",
    "private_sqlite_file",
    "tighten",
    "translate_errors",
]

log = logging.getLogger(__name__)

READ_ONLY = "firstline_read_only"  # execution option: a SQLite transaction that only reads (plain BEGIN)
SQLITE_BUSY_TIMEOUT_S = 30.0
POSTGRES_CONNECT_TIMEOUT_S = 10
# Connections a process keeps open: the service runs 8 turn threads plus the event loop's reads. With
# SQLAlchemy's default of 5, a loaded worker opened and closed ~22 connections a second (measured by
# bench/scale_load.py: 1,347 in 60 s), each a PostgreSQL backend process started and ended.
POSTGRES_POOL_SIZE = 12
POSTGRES_MAX_OVERFLOW = 8
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
_umask_lock = threading.Lock()
_umask_depth = 0
_umask_saved = 0


def tighten(path: Path, mode: int) -> None:
    """Take group and other permissions off ``path`` (to ``mode``) when it exists and has any; warn if we cannot."""
    try:
        current = path.stat().st_mode
    except FileNotFoundError:
        return
    if current & 0o077:
        try:
            path.chmod(mode)
        except OSError as error:
            log.warning("cannot make %s private (chmod %o): %s", path, mode, error.strerror or error)


def private_dir(path: Path) -> Path:
    """``path`` as a folder, creating it and any missing parents 0700 (existing folders are left alone)."""
    missing: list[Path] = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue
        folder.chmod(PRIVATE_DIR_MODE)  # mkdir's mode passes through the umask
    return path


@contextmanager
def private_files() -> Iterator[None]:
    """Files and folders created inside get no group or other permissions (umask 077).

    The umask belongs to the process: files that other threads create meanwhile are private too.
    Nested and concurrent uses share one change, undone when the last one ends.
    """
    global _umask_depth, _umask_saved
    with _umask_lock:
        if _umask_depth == 0:
            _umask_saved = os.umask(0o077)
        _umask_depth += 1
    try:
        yield
    finally:
        with _umask_lock:
            _umask_depth -= 1
            if _umask_depth == 0:
                os.umask(_umask_saved)


def private_sqlite_file(path: Path) -> None:
    """Create the SQLite file ``path`` 0600 (an empty file is a new database), or tighten it and its companions."""
    private_dir(path.parent)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    os.close(descriptor)
    for suffix in ("", *SQLITE_COMPANIONS):
        tighten(path.with_name(path.name + suffix), PRIVATE_FILE_MODE)


@dataclass(frozen=True)
class StoreDatabase:
    """How a store's database is named in settings and messages.

    ``what`` names it in errors (``"ticket database"``), ``setting`` is the setting holding its
    URL (``"ticketing.database_url"``), ``example`` the file name in example URLs (``"tickets.db"``)
    and ``serves`` what an unsupported driver would not be supported for (``"tickets"``).
    """

    what: str
    setting: str
    example: str
    serves: str

    @property
    def examples(self) -> str:
        """Example URLs for error messages."""
        return f"sqlite:///path/to/{self.example} or postgresql+psycopg://user:password@host:5432/firstline"


def parse_url(database: StoreDatabase, url: str | URL) -> URL:
    """``url`` as a SQLAlchemy URL with a driver we ship; :class:`ConfigError` for anything else."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"`{database.setting}` is not a database URL: {url!r}. Use {database.examples}.") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database.startswith("~"):
        parsed = parsed.set(database=str(Path(parsed.database).expanduser()))
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise ConfigError(
            f"`{database.setting}` uses {parsed.drivername!r}, which Firstline does not support for "
            f"{database.serves}. Use {database.examples}."
        )
    return parsed


def display_url(url: str | URL) -> str:
    """``url`` safe to print: the password, if any, shown as ``***``."""
    return make_url(url).render_as_string(hide_password=True)


def is_memory_sqlite(url: URL) -> bool:
    """An in-memory SQLite database (``sqlite://``), private to one connection."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


# JSON columns (conversation state, event data) are written and read on every turn: orjson, same documents.
_JSON_CODEC: dict[str, Any] = {"json_serializer": jsoncodec.dumps, "json_deserializer": jsoncodec.loads}


def create_engine_for(database: StoreDatabase, url: str | URL) -> Engine:
    """An engine tuned for a store (see the module docstring). Connects lazily."""
    parsed = parse_url(database, url)
    if parsed.get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=POSTGRES_POOL_SIZE,
            max_overflow=POSTGRES_MAX_OVERFLOW,
            connect_args=connect_args,
            **_JSON_CODEC,
        )
    if is_memory_sqlite(parsed):
        engine = create_engine(parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}, **_JSON_CODEC)
    else:
        assert parsed.database is not None
        file = Path(parsed.database)
        try:
            if parsed.query.get("uri"):  # a file: URI names options too; leave its file to SQLite
                private_dir(file.parent)
            else:
                private_sqlite_file(file)
        except OSError as error:
            reason = f"cannot create {file} (or its folder): {error.strerror or error}"
            raise BackendUnavailableError(database.what, display_url(parsed), database.setting, reason) from error
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **_JSON_CODEC)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _begin_sqlite)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    """Switch a new database to WAL. WAL is persistent, so later connections only read the mode.

    Switching needs an exclusive lock and SQLite answers "database is locked" at once, without
    the busy handler, when another connection is opening the same new file: retry with backoff.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _begin_sqlite(connection: Connection) -> None:
    """Open the transaction: ``BEGIN IMMEDIATE`` takes the write lock at once (no upgrade deadlock later).

    Sent on the driver connection itself, as SQLAlchemy's execution machinery costs more than the
    statement; a driver error comes back as SQLAlchemy's, so the stores' error boundary sees it as before."""
    statement = "BEGIN" if connection.get_execution_options().get(READ_ONLY, False) else "BEGIN IMMEDIATE"
    driver = connection.connection.driver_connection
    try:
        driver.execute(statement)  # type: ignore[union-attr]
    except sqlite3.Error as error:
        raise DBAPIError.instance(statement, (), error, sqlite3.Error, dialect=connection.dialect) from error


@contextmanager
def translate_errors(database: StoreDatabase, url: str | URL) -> Iterator[None]:
    """Turn database errors into :class:`BackendUnavailableError` / :class:`BackendResponseError`."""
    try:
        yield
    except (OperationalError, InterfaceError) as error:
        raise BackendUnavailableError(database.what, display_url(url), database.setting, _reason(error)) from error
    except DBAPIError as error:
        raise BackendResponseError(
            f"The {database.what} at {display_url(url)} rejected a request ({_reason(error)}). "
            "If it was migrated by a newer Firstline, upgrade Firstline; otherwise report this as a bug."
        ) from error


def _reason(error: DBAPIError) -> str:
    text = str(error.orig if error.orig is not None else error).strip()
    return text.splitlines()[0] if text else type(error.orig or error).__name__
