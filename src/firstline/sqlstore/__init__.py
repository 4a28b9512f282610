"""What Firstline's SQL stores (tickets, directory) share: engines, error translation and migrations.

:mod:`firstline.sqlstore.engine` creates tuned engines for a :class:`StoreDatabase` and turns
database errors into Firstline errors; :mod:`firstline.sqlstore.migrations` runs a store's Alembic
migrations. Each store describes itself once (its ``database.py`` and ``migrations`` package) and
delegates here, so the stores stay independent of each other.
"""

from __future__ import annotations

from firstline.sqlstore.engine import (
    READ_ONLY,
    StoreDatabase,
    create_engine_for,
    display_url,
    is_memory_sqlite,
    parse_url,
    translate_errors,
)
from firstline.sqlstore.migrations import Migrations, run_env

__all__ = [
    "READ_ONLY",
    "Migrations",
    "StoreDatabase",
    "create_engine_for",
    "display_url",
    "is_memory_sqlite",
    "parse_url",
    "run_env",
    "translate_errors",
]
