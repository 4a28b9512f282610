"""Indexes for the lookups by a typed name: lower-cased e-mails, usernames, hostnames, printers, addresses.

Every such lookup compares ``lower(column)``; without an index on that expression each one read the whole
table, which a 10,000-person directory pays several times a turn. Also an index on ``people.manager``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS: dict[str, tuple[str, ...]] = {  # as this revision leaves them (the schema module may change later)
    "directory_people": ("id", "email"),
    "directory_accounts": ("username", "admin_account"),
    "directory_devices": ("id", "hostname", "serial", "asset_tag"),
    "directory_printers": ("id", "name"),
    "directory_mailboxes": ("address",),
    "directory_shared_mailboxes": ("address",),
    "directory_distribution_lists": ("address",),
}


def upgrade() -> None:
    for table, columns in KEYS.items():
        for column in columns:
            op.create_index(f"ix_{table}_lower_{column}", table, [sa.text(f"lower({column})")])
    op.create_index("ix_directory_people_manager", "directory_people", ["manager"])


def downgrade() -> None:
    op.drop_index("ix_directory_people_manager", table_name="directory_people")
    for table, columns in reversed(KEYS.items()):
        for column in reversed(columns):
            op.drop_index(f"ix_{table}_lower_{column}", table_name=table)
