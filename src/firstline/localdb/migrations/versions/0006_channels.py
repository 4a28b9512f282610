"""Channels and notifications: channel identities and link codes, channel threads, handled deliveries,
the IMAP cursor, outgoing mail, notification preferences; accounts without a password (single sign-on).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("password_hash", existing_type=sa.String(200), nullable=True)
    op.create_table(
        "channel_identities",
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(300), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("verified_via", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("channel", "external_id", name="pk_channel_identities"),
    )
    op.create_index("ix_channel_identities_email", "channel_identities", ["email"])
    op.create_table(
        "channel_link_codes",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(300), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_channel_link_codes"),
    )
    op.create_table(
        "channel_threads",
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_key", sa.String(400), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_channel_threads_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel", "external_key", name="pk_channel_threads"),
    )
    op.create_index("ix_channel_threads_conversation_id", "channel_threads", ["conversation_id"])
    op.create_table(
        "channel_events_seen",
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(300), nullable=False),
        sa.Column("seen_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("channel", "event_id", name="pk_channel_events_seen"),
    )
    op.create_table(
        "mail_cursors",
        sa.Column("mailbox", sa.String(200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("mailbox", name="pk_mail_cursors"),
    )
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="ck_mail_outbox_status"),
        sa.PrimaryKeyConstraint("id", name="pk_mail_outbox"),
        sa.UniqueConstraint("message_id", name="uq_mail_outbox_message_id"),
    )
    op.create_index("ix_mail_outbox_status", "mail_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "notification_preferences",
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("email", "kind", name="pk_notification_preferences"),
    )


def downgrade() -> None:
    for table in ("notification_preferences", "mail_outbox", "mail_cursors", "channel_events_seen"):
        op.drop_table(table)
    op.drop_index("ix_channel_threads_conversation_id", "channel_threads")
    op.drop_table("channel_threads")
    op.drop_table("channel_link_codes")
    op.drop_index("ix_channel_identities_email", "channel_identities")
    op.drop_table("channel_identities")
    op.execute("DELETE FROM accounts WHERE password_hash IS NULL")
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("password_hash", existing_type=sa.String(200), nullable=False)
