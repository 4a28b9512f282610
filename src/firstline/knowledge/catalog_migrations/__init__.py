"""Schema migrations of the knowledge catalog's ``kb_*`` tables (Alembic), in their own version table.

:class:`~firstline.knowledge.sql_catalog.SqlCatalog` calls :func:`upgrade` on open, so every worker may
open the catalog at once: on PostgreSQL the upgrade runs under its own advisory lock key (not the ticket
store's), on SQLite inside ``BEGIN IMMEDIATE``. How to write a revision: :mod:`firstline.sqlstore.migrations`.
"""

from __future__ import annotations

from pathlib import Path

from firstline.knowledge.sql_catalog import DATABASE, VERSION_TABLE, metadata
from firstline.sqlstore.migrations import Migrations

__all__ = ["MIGRATIONS", "SCRIPT_LOCATION", "current_revision", "head_revision", "schema_drift", "upgrade"]

SCRIPT_LOCATION = Path(__file__).parent
# pg_advisory_xact_lock key that serialises concurrent upgrades ("FLKB" in ASCII).
MIGRATIONS = Migrations(DATABASE, SCRIPT_LOCATION, VERSION_TABLE, lock_key=0x464C4B42, metadata=metadata)

upgrade = MIGRATIONS.upgrade
head_revision = MIGRATIONS.head_revision
current_revision = MIGRATIONS.current_revision
schema_drift = MIGRATIONS.schema_drift
