"""Idempotency keys of messages sent over the API: a retried message gets the stored reply, not a second turn.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_keys",
        sa.Column("principal", sa.String(300), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reply", sa.JSON(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("principal", "key", name="pk_message_keys"),
    )
    op.create_index("ix_message_keys_claimed_at", "message_keys", ["claimed_at"])


def downgrade() -> None:
    op.drop_index("ix_message_keys_claimed_at", "message_keys")
    op.drop_table("message_keys")
