"""The ticket store: counters, tickets and their history entries.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = "'new', 'in_progress', 'on_hold', 'resolved', 'closed', 'canceled'"
KINDS = "'comment', 'work_note', 'state_change', 'field_change', 'escalation', 'transcript'"


def upgrade() -> None:
    counters = op.create_table(
        "ticket_counters",
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_ticket_counters"),
    )
    op.bulk_insert(counters, [{"name": "INC", "value": 0}])
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=True),
        sa.Column("requester", sa.String(254), nullable=False),
        sa.Column("short_description", sa.String(160), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("specialist", sa.String(64), nullable=False),
        sa.Column("intent", sa.String(64), nullable=False),
        sa.Column("impact", sa.SmallInteger(), nullable=False),
        sa.Column("urgency", sa.SmallInteger(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("assignment_group", sa.String(100), nullable=False),
        sa.Column("assigned_to", sa.String(254), nullable=False),
        sa.Column("parent_number", sa.String(16), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolution_note", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("seq", name="uq_tickets_seq"),
        sa.UniqueConstraint("number", name="uq_tickets_number"),
        sa.ForeignKeyConstraint(["parent_number"], ["tickets.number"], name="fk_tickets_parent_number_tickets"),
        sa.CheckConstraint("impact BETWEEN 1 AND 3", name="ck_tickets_impact"),
        sa.CheckConstraint("urgency BETWEEN 1 AND 3", name="ck_tickets_urgency"),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name="ck_tickets_priority"),
        sa.CheckConstraint(f"state IN ({STATES})", name="ck_tickets_state"),
    )
    op.create_index("ix_tickets_correlation_id", "tickets", ["correlation_id"], unique=True)
    op.create_index("ix_tickets_requester", "tickets", ["requester"])
    op.create_index("ix_tickets_state", "tickets", ["state"])
    op.create_index("ix_tickets_assignment_group", "tickets", ["assignment_group"])
    op.create_index("ix_tickets_parent_number", "tickets", ["parent_number"])
    op.create_table(
        "ticket_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("author", sa.String(254), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("field", sa.String(32), nullable=True),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_entries"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_ticket_entries_ticket_id_tickets", ondelete="CASCADE"
        ),
        sa.CheckConstraint(f"kind IN ({KINDS})", name="ck_ticket_entries_kind"),
    )
    op.create_index("ix_ticket_entries_ticket_id", "ticket_entries", ["ticket_id", "id"])


def downgrade() -> None:
    op.drop_table("ticket_entries")
    op.drop_table("tickets")
    op.drop_table("ticket_counters")
