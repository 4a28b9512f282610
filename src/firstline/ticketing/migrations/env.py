"""Alembic environment of the ticket store; run through :func:`firstline.ticketing.migrations.upgrade`.

See :func:`firstline.sqlstore.migrations.run_env`.
"""

from __future__ import annotations

from firstline.sqlstore.migrations import run_env
from firstline.ticketing.migrations import MIGRATIONS

run_env(MIGRATIONS)
