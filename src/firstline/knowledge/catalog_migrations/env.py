"""Alembic environment of the knowledge catalog; run through :func:`firstline.knowledge.catalog_migrations.upgrade`.

See :func:`firstline.sqlstore.migrations.run_env`.
"""

from __future__ import annotations

from firstline.knowledge.catalog_migrations import MIGRATIONS
from firstline.sqlstore.migrations import run_env

run_env(MIGRATIONS)
