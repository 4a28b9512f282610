"""A vendor backend's bookkeeping: remote links, the outbox, poll cursors and known vendor comments.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "remote_links",
        sa.Column("ticket_number", sa.String(16), nullable=False),
        sa.Column("system", sa.String(32), nullable=False),
        sa.Column("remote_key", sa.String(64), nullable=False),
        sa.Column("remote_number", sa.String(64), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("pushed", sa.JSON(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_number", name="pk_remote_links"),
        sa.UniqueConstraint("system", "remote_number", name="uq_remote_links_system"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("ticket_number", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('create', 'fields', 'note')", name="ck_outbox_kind"),
        sa.CheckConstraint("status IN ('pending', 'sending', 'done', 'failed')", name="ck_outbox_status"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_status", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_ticket_number", "outbox", ["ticket_number", "id"])
    op.create_table(
        "sync_cursors",
        sa.Column("system", sa.String(32), nullable=False),
        sa.Column("polled_to", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system", name="pk_sync_cursors"),
    )
    op.create_table(
        "remote_comments",
        sa.Column("system", sa.String(32), nullable=False),
        sa.Column("remote_id", sa.String(64), nullable=False),
        sa.Column("ticket_number", sa.String(16), nullable=False),
        sa.Column("ours", sa.Boolean(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system", "remote_id", name="pk_remote_comments"),
    )


def downgrade() -> None:
    op.drop_table("remote_comments")
    op.drop_table("sync_cursors")
    op.drop_index("ix_outbox_ticket_number", table_name="outbox")
    op.drop_index("ix_outbox_status", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("remote_links")
