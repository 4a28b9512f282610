"""Schema migrations of the ticket store (Alembic), kept in their own version table :data:`VERSION_TABLE`.

:class:`~firstline.ticketing.sql.SqlTicketing` calls :func:`upgrade` on open. How upgrades stay safe under
concurrency, and how to write a revision after changing :mod:`firstline.localdb.schema`:
:mod:`firstline.sqlstore.migrations`.
"""

from __future__ import annotations

from pathlib import Path

from firstline.localdb.database import DATABASE
from firstline.localdb.schema import metadata
from firstline.sqlstore.migrations import Migrations

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
VERSION_TABLE = "ticketing_alembic_version"
# pg_advisory_xact_lock key that serialises concurrent upgrades ("FLTK" in ASCII).
MIGRATIONS = Migrations(DATABASE, SCRIPT_LOCATION, VERSION_TABLE, lock_key=0x464C544B, metadata=metadata)

is_ours = MIGRATIONS.is_ours
alembic_config = MIGRATIONS.alembic_config
upgrade = MIGRATIONS.upgrade
head_revision = MIGRATIONS.head_revision
current_revision = MIGRATIONS.current_revision
schema_drift = MIGRATIONS.schema_drift
