"""The sign-in log, and what Firstline records of session, device and mailbox actions.

Adds ``directory_sign_ins``; accounts gain ``service``, ``privileged`` and ``sessions_revoked_at``;
devices ``sync_/retire_/wipe_requested_at``; mailboxes ``automatic_replies`` and ``delegates``.
Existing rows read as "nothing recorded": flags false, times and replies empty, no delegates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACCOUNT_COLUMNS = ("service", "privileged", "sessions_revoked_at")
DEVICE_COLUMNS = ("sync_requested_at", "retire_requested_at", "wipe_requested_at")
MAILBOX_COLUMNS = ("automatic_replies", "delegates")


def _text(name: str, length: int | None = None) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length) if length else sa.Text(), nullable=False)


def _time(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def _off(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false())


def upgrade() -> None:
    op.create_table(
        "directory_sign_ins",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        _text("person", 32),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        _text("ip", 45),
        _text("country", 64),
        _text("city", 100),
        _text("device", 64),
        _text("client", 100),
        _text("reason"),
        _text("event_id", 128),
        sa.PrimaryKeyConstraint("id", name="pk_directory_sign_ins"),
        sa.ForeignKeyConstraint(
            ["person"], ["directory_people.id"], name="fk_directory_sign_ins_person_directory_people"
        ),
    )
    op.create_index("ix_directory_sign_ins_person", "directory_sign_ins", ["person", "at"])
    # SQLite adds a column in place when it is nullable or has a default, so no table is copied.
    with op.batch_alter_table("directory_accounts") as batch:
        batch.add_column(_off("service"))
        batch.add_column(_off("privileged"))
        batch.add_column(_time("sessions_revoked_at"))
    with op.batch_alter_table("directory_devices") as batch:
        for name in DEVICE_COLUMNS:
            batch.add_column(_time(name))
    with op.batch_alter_table("directory_mailboxes") as batch:
        batch.add_column(sa.Column("automatic_replies", sa.Text(), nullable=True))
        batch.add_column(sa.Column("delegates", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    for table, columns in (
        ("directory_mailboxes", MAILBOX_COLUMNS),
        ("directory_devices", DEVICE_COLUMNS),
        ("directory_accounts", ACCOUNT_COLUMNS),
    ):
        with op.batch_alter_table(table, recreate="never") as batch:  # SQLite 3.35+ drops a column in place
            for name in columns:
                batch.drop_column(name)
    op.drop_index("ix_directory_sign_ins_person", table_name="directory_sign_ins")
    op.drop_table("directory_sign_ins")
