"""Schema migrations of the directory store (Alembic), runnable from code.

:func:`upgrade` brings a database to the newest revision; :class:`~firstline.directory.sql.SqlDirectory`
calls it on open, and it is safe to call again or from several processes at once (SQLite: the
migration runs inside ``BEGIN IMMEDIATE``; PostgreSQL: under an advisory lock). The revision
history lives in Alembic's table :data:`VERSION_TABLE`, so other Firstline stores can keep their
own migrations in the same database.

To write a new revision after changing :mod:`firstline.directory.schema`::

    from alembic import command
    from firstline.directory.migrations import alembic_config

    command.revision(alembic_config("sqlite:///scratch.db"), "add a column", autogenerate=True)

(the scratch database must be at the newest revision first: ``upgrade("sqlite:///scratch.db")``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, text

from firstline.directory.database import READ_ONLY, create_directory_engine, translate_errors
from firstline.directory.schema import metadata

__all__ = [
    "SCRIPT_LOCATION",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "head_revision",
    "is_ours",
    "schema_drift",
    "upgrade",
]

SCRIPT_LOCATION = Path(__file__).parent
VERSION_TABLE = "directory_alembic_version"
# pg_advisory_xact_lock key that serialises concurrent upgrades ("FLDR" in ASCII).
_POSTGRES_LOCK_KEY = 0x464C4452


def is_ours(name: str | None, type_: str, _parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: compare only the directory store's tables, never a neighbour's."""
    return type_ != "table" or name in metadata.tables


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic :class:`Config` built in code: ``script_location`` is this package folder."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(url: str | URL | Engine, revision: str = "head") -> None:
    """Migrate the directory database at ``url`` (or behind an engine from it) to ``revision``.

    Idempotent. Raises :class:`~firstline.errors.BackendUnavailableError` when the database
    cannot be reached and :class:`~firstline.errors.ConfigError` for an unsupported URL.
    """
    engine = url if isinstance(url, Engine) else create_directory_engine(url)
    try:
        with translate_errors(engine.url), engine.connect() as connection, connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_LOCK_KEY})
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if engine is not url:
            engine.dispose()


def head_revision() -> str:
    """The newest revision this Firstline ships, e.g. ``"0001"``."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, f"no revisions under {SCRIPT_LOCATION / 'versions'}"
    return head


def current_revision(url: str | URL | Engine) -> str | None:
    """The revision the database at ``url`` is at; ``None`` when it was never migrated."""
    with _reading(url) as connection:
        return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def schema_drift(url: str | URL | Engine) -> list[Any]:
    """What ``--autogenerate`` would change to make the database match :mod:`~firstline.directory.schema`.

    Empty when the migrations and the schema module agree; only the directory store's tables are compared.
    """
    opts = {"version_table": VERSION_TABLE, "compare_type": True, "include_name": is_ours}
    with _reading(url) as connection:
        return list(compare_metadata(MigrationContext.configure(connection, opts=opts), metadata))


@contextmanager
def _reading(url: str | URL | Engine) -> Iterator[Connection]:
    engine = url if isinstance(url, Engine) else create_directory_engine(url)
    try:
        with translate_errors(engine.url), engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            with connection.begin():
                yield connection
    finally:
        if engine is not url:
            engine.dispose()
