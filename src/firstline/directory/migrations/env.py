"""Alembic environment of the directory store; run through :func:`firstline.directory.migrations.upgrade`.

:func:`~firstline.directory.migrations.upgrade` passes an open connection (already inside a
locked transaction) in ``config.attributes["connection"]``; the Alembic command line and
``alembic.command.revision(alembic_config(url), ..., autogenerate=True)`` connect from
``sqlalchemy.url`` instead. Only the directory store's own tables are compared, so other tables in
the same database are left alone.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from firstline.directory.database import create_directory_engine
from firstline.directory.migrations import VERSION_TABLE, is_ours
from firstline.directory.schema import metadata


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=is_ours,
        render_as_batch=True,
        compare_type=True,
        **options,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    config = context.config
    connection: Connection | None = config.attributes.get("connection")
    url = config.get_main_option("sqlalchemy.url")
    if connection is not None:
        _configure(connection=connection)
    elif context.is_offline_mode():
        _configure(url=url, literal_binds=True)
    else:
        if not url:
            raise RuntimeError("set sqlalchemy.url, e.g. alembic_config('sqlite:///directory.db')")
        engine = create_directory_engine(url)
        try:
            with engine.connect() as connected:
                _configure(connection=connected)
                connected.commit()
        finally:
            engine.dispose()


run()
