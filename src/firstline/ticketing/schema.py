"""The ticket store's tables (SQLAlchemy Core), as the newest migration leaves them.

Migrations never import this module's tables (a migration is frozen in time); ``env.py`` uses
:data:`metadata` for ``--autogenerate``, and a test checks that migrating an empty database gives
exactly these tables.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from firstline.sqlstore.columns import UtcDateTime, new_metadata

__all__ = ["COUNTER_NAME", "UtcDateTime", "metadata", "ticket_counters", "ticket_entries", "tickets"]

COUNTER_NAME = "INC"

metadata = new_metadata()


# Hands out ticket numbers: one row per prefix, incremented under a row lock.
ticket_counters = Table(
    "ticket_counters",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("number", String(16), nullable=False),
    Column("correlation_id", String(128)),
    Column("requester", String(254), nullable=False),
    Column("short_description", String(160), nullable=False),
    Column("description", Text, nullable=False),
    Column("category", String(64), nullable=False),
    Column("specialist", String(64), nullable=False),
    Column("intent", String(64), nullable=False),
    Column("impact", SmallInteger, nullable=False),
    Column("urgency", SmallInteger, nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("assignment_group", String(100), nullable=False),
    Column("assigned_to", String(254), nullable=False),
    Column("parent_number", String(16), ForeignKey("tickets.number")),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("due_at", UtcDateTime, nullable=False),
    Column("resolution_note", Text, nullable=False),
    Column("tags", JSON, nullable=False),
    CheckConstraint("impact BETWEEN 1 AND 3", name="impact"),
    CheckConstraint("urgency BETWEEN 1 AND 3", name="urgency"),
    CheckConstraint("priority BETWEEN 1 AND 5", name="priority"),
    CheckConstraint(
        "state IN ('new', 'in_progress', 'on_hold', 'resolved', 'closed', 'canceled')",
        name="state",
    ),
    UniqueConstraint("seq"),
    UniqueConstraint("number"),
    Index(None, "correlation_id", unique=True),
    Index(None, "requester"),
    Index(None, "state"),
    Index(None, "assignment_group"),
    Index(None, "parent_number"),
)

ticket_entries = Table(
    "ticket_entries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ticket_id", String(32), ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("author", String(254), nullable=False),
    Column("body", Text, nullable=False),
    Column("field", String(32)),
    Column("old_value", Text),
    Column("new_value", Text),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint(
        "kind IN ('comment', 'work_note', 'state_change', 'field_change', 'escalation', 'transcript')",
        name="kind",
    ),
    Index(None, "ticket_id", "id"),
)
