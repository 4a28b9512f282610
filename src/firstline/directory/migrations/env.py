"""Alembic environment of the directory store; run through :func:`firstline.directory.migrations.upgrade`.

See :func:`firstline.sqlstore.migrations.run_env`.
"""

from __future__ import annotations

from firstline.directory.migrations import MIGRATIONS
from firstline.sqlstore.migrations import run_env

run_env(MIGRATIONS)
