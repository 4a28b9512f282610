"""Alembic environment of the ticket store; run through :func:`firstline.localdb.migrations.upgrade`.

See :func:`firstline.sqlstore.migrations.run_env`.
"""

from __future__ import annotations

from firstline.localdb.migrations import MIGRATIONS
from firstline.sqlstore.migrations import run_env

run_env(MIGRATIONS)
