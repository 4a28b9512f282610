"""Schema migrations of a store (Alembic), runnable from code.

A store describes its migrations once as a :class:`Migrations` (its Alembic scripts folder, its
own version table, so several stores can share one database, and the PostgreSQL advisory lock key
that serialises concurrent upgrades); the store's ``env.py`` calls :func:`run_env`.
:meth:`Migrations.upgrade` is safe to call again or from several processes at once (SQLite: the
migration runs inside ``BEGIN IMMEDIATE``; PostgreSQL: under the advisory lock).

To write a new revision after changing a store's schema module (here the ticket store)::

    from alembic import command
    from firstline.localdb.migrations import alembic_config

    command.revision(alembic_config("sqlite:///scratch.db"), "add a column", autogenerate=True)

(the scratch database must be at the newest revision first: ``upgrade("sqlite:///scratch.db")``).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Column, Connection, Engine, Index, MetaData, exc, text

from firstline.sqlstore.engine import READ_ONLY, StoreDatabase, create_engine_for, translate_errors

__all__ = ["Migrations", "run_env"]

# Alembic keeps the running migration in module globals (``alembic.context``): two threads migrating two
# databases at once in one process broke each other (KeyError 'config'). Across processes, PostgreSQL's
# advisory lock below serialises migrations of one database.
_ALEMBIC = threading.Lock()


@dataclass(frozen=True, eq=False)
class Migrations:
    """The Alembic migrations of one store, whose tables are ``metadata``, in ``database``."""

    database: StoreDatabase
    script_location: Path
    version_table: str
    lock_key: int  # pg_advisory_xact_lock key that serialises concurrent upgrades
    metadata: MetaData

    def is_ours(self, name: str | None, type_: str, _parent_names: Any) -> bool:
        """Alembic ``include_name`` hook: compare only this store's tables, never a neighbour's."""
        return type_ != "table" or name in self.metadata.tables

    def alembic_config(self, url: str | URL | None = None) -> Config:
        """An Alembic :class:`Config` built in code: ``script_location`` is the store's migrations folder."""
        config = Config()
        config.set_main_option("script_location", str(self.script_location))
        config.set_main_option("path_separator", "os")
        if url is not None:
            rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
            config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
        return config

    def upgrade(self, url: str | URL | Engine, revision: str = "head") -> None:
        """Migrate the database at ``url`` (or behind an engine from it) to ``revision``.

        Idempotent. Raises :class:`~firstline.errors.BackendUnavailableError` when the database
        cannot be reached and :class:`~firstline.errors.ConfigError` for an unsupported URL.
        """
        engine = url if isinstance(url, Engine) else create_engine_for(self.database, url)
        try:
            with translate_errors(self.database, engine.url), engine.connect() as connection, connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.lock_key})
                config = self.alembic_config()
                config.attributes["connection"] = connection
                with _ALEMBIC:
                    command.upgrade(config, revision)
        finally:
            if engine is not url:
                engine.dispose()

    def head_revision(self) -> str:
        """The newest revision this Firstline ships, e.g. ``"0001"``."""
        head = ScriptDirectory.from_config(self.alembic_config()).get_current_head()
        assert head is not None, f"no revisions under {self.script_location / 'versions'}"
        return head

    def current_revision(self, url: str | URL | Engine) -> str | None:
        """The revision the database at ``url`` is at; ``None`` when it was never migrated."""
        with self._reading(url) as connection:
            opts = {"version_table": self.version_table}
            return MigrationContext.configure(connection, opts=opts).get_current_revision()

    def schema_drift(self, url: str | URL | Engine) -> list[Any]:
        """What ``--autogenerate`` would change to make the database match the store's ``metadata``.

        Empty when the migrations and the schema module agree; only this store's tables are compared.
        Indexes on expressions (``lower(email)``) are compared by name: SQLite's reflection cannot read them and
        PostgreSQL's renders them its own way (``lower((email)::text)``).
        """
        opts = {
            "version_table": self.version_table,
            "compare_type": True,
            "include_name": self.is_ours,
            "include_object": lambda obj, _name, type_, _reflected, _other: not _on_expressions(obj),
        }
        with self._reading(url) as connection, warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index", exc.SAWarning)
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
            drift = list(compare_metadata(MigrationContext.configure(connection, opts=opts), self.metadata))
            present = set(_index_names(connection))
        wanted = [ix for table in self.metadata.tables.values() for ix in table.indexes if _on_expressions(ix)]
        return drift + [("add_index", ix) for ix in wanted if ix.name not in present]

    @contextmanager
    def _reading(self, url: str | URL | Engine) -> Iterator[Connection]:
        engine = url if isinstance(url, Engine) else create_engine_for(self.database, url)
        try:
            with translate_errors(self.database, engine.url), engine.connect() as connection:
                connection.execution_options(**{READ_ONLY: True})
                with connection.begin():
                    yield connection
        finally:
            if engine is not url:
                engine.dispose()


def run_env(migrations: Migrations) -> None:
    """The body of a store's Alembic ``env.py``.

    :meth:`Migrations.upgrade` passes an open connection (already inside a locked transaction) in
    ``config.attributes["connection"]``; the Alembic command line and
    ``alembic.command.revision(alembic_config(url), ..., autogenerate=True)`` connect from
    ``sqlalchemy.url`` instead. Only the store's own tables are compared, so other tables in the
    same database are left alone.
    """

    def configure(**options: Any) -> None:
        context.configure(
            target_metadata=migrations.metadata,
            version_table=migrations.version_table,
            include_name=migrations.is_ours,
            render_as_batch=True,
            compare_type=True,
            **options,
        )
        with context.begin_transaction():
            context.run_migrations()

    config = context.config
    connection: Connection | None = config.attributes.get("connection")
    url = config.get_main_option("sqlalchemy.url")
    if connection is not None:
        configure(connection=connection)
    elif context.is_offline_mode():
        configure(url=url, literal_binds=True)
    else:
        if not url:
            example = migrations.database.example
            raise RuntimeError(f"set sqlalchemy.url, e.g. alembic_config('sqlite:///{example}')")
        engine = create_engine_for(migrations.database, url)
        try:
            with engine.connect() as connected:
                configure(connection=connected)
                connected.commit()
        finally:
            engine.dispose()


def _on_expressions(obj: Any) -> bool:
    """Whether ``obj`` is an index on an expression rather than on plain columns (reflected ones included)."""
    return isinstance(obj, Index) and any(not isinstance(e, Column) for e in obj.expressions)


def _index_names(connection: Connection) -> list[str]:
    if connection.dialect.name == "postgresql":
        return list(connection.scalars(text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")))
    return list(connection.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'")))
