"""Every table of Firstline's own database (SQLAlchemy Core), as the newest migration leaves them.

Migrations never import this module's tables (a migration is frozen in time); ``env.py`` uses
:data:`metadata` for ``--autogenerate``, and a test checks that migrating an empty database gives
exactly these tables.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
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

__all__ = [
    "COUNTER_NAME",
    "UtcDateTime",
    "accounts",
    "api_keys",
    "approvals",
    "channel_events_seen",
    "channel_identities",
    "channel_link_codes",
    "channel_threads",
    "conversation_events",
    "conversations",
    "dead_jobs",
    "login_sessions",
    "mail_cursors",
    "mail_outbox",
    "message_keys",
    "metadata",
    "notification_preferences",
    "outbox",
    "remote_comments",
    "remote_links",
    "sync_cursors",
    "ticket_counters",
    "ticket_entries",
    "tickets",
    "verification_codes",
]

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

# Conversations live beside the tickets, so a ticket change and the event that records it share a
# transaction (``Transactions.unit_of_work``).
conversations = Table(
    "conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("requester", String(254)),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("agent", String(64), nullable=False),
    Column("intent", String(64), nullable=False),
    Column("ticket_number", String(16)),
    Column("state", JSON, nullable=False),
    Column("event_count", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("status IN ('active', 'paused', 'closed')", name="status"),
    Index(None, "requester", "updated_at"),
)

conversation_events = Table(
    "conversation_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("conversation_id", String(32), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("agent", String(64), nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("conversation_id", "seq"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("conversation_id", String(32), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("tool", String(64), nullable=False),
    Column("arguments", JSON, nullable=False),
    Column("requested_by", String(254), nullable=False),
    Column("approvers", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_by", String(254)),
    Column("reason", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime),
    CheckConstraint("status IN ('pending', 'approved', 'denied')", name="status"),
    Index(None, "status", "created_at"),
    Index(None, "conversation_id"),
)

# Pending one-time codes (a salted hash, never the code), so any process can check a code another sent.
verification_codes = Table(
    "verification_codes",
    metadata,
    Column("subject", String(254), primary_key=True),
    Column("digest", String(100), nullable=False),
    Column("expires", Float, nullable=False),
    Column("attempts", Integer, nullable=False),
)


# Who may sign in to the web chat and the console; passwords as argon2id hashes, never in clear.
accounts = Table(
    "accounts",
    metadata,
    Column("email", String(254), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(200)),  # None: signs in only through single sign-on
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_login_at", UtcDateTime),
    CheckConstraint("role IN ('requester', 'agent', 'admin')", name="role"),
)

# Keys for integrations: only the SHA-256 digest of the key is kept.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("subject", String(254)),
    Column("digest", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    CheckConstraint("role IN ('requester', 'agent', 'admin')", name="role"),
)

# Console and web chat sign-ins: the SHA-256 digest of the cookie's token, sliding expiry.
login_sessions = Table(
    "login_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("email", String(254), ForeignKey("accounts.email", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index(None, "email"),
)


# -- a vendor backend's bookkeeping (firstline.ticketing.synced): where each mirrored ticket lives ----------
# The vendor ticket a Firstline ticket was filed as, and the syncable fields as last pushed or seen there.
remote_links = Table(
    "remote_links",
    metadata,
    Column("ticket_number", String(16), primary_key=True),
    Column("system", String(32), nullable=False),
    Column("remote_key", String(64), nullable=False),
    Column("remote_number", String(64), nullable=False),
    Column("url", String(500), nullable=False),
    Column("pushed", JSON, nullable=False),
    Column("linked_at", UtcDateTime, nullable=False),
    UniqueConstraint("system", "remote_number"),
)

# Changes waiting for the vendor, oldest first per ticket: stored with the change itself, sent by the worker.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ticket_number", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("claimed_at", UtcDateTime),
    Column("claimed_by", String(100)),
    Column("done_at", UtcDateTime),
    Column("last_error", Text, nullable=False),
    Column("result", JSON),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("kind IN ('create', 'fields', 'note')", name="kind"),
    CheckConstraint("status IN ('pending', 'sending', 'done', 'failed')", name="status"),
    Index(None, "status", "next_attempt_at"),
    Index(None, "ticket_number", "id"),
)

# How far the last poll of each vendor got, and which vendor comments are already known (ours or delivered).
sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("system", String(32), primary_key=True),
    Column("polled_to", UtcDateTime, nullable=False),
)

remote_comments = Table(
    "remote_comments",
    metadata,
    Column("system", String(32), primary_key=True),
    Column("remote_id", String(64), primary_key=True),
    Column("ticket_number", String(16), nullable=False),
    Column("ours", Boolean, nullable=False),
    Column("seen_at", UtcDateTime, nullable=False),
)


# -- channels (firstline.channels): who is who on Teams, Slack and e-mail, and where each conversation lives --
# A channel's user id (Slack user, Teams AAD object id, OIDC issuer|subject, a mail address) mapped to a
# person, only once verified (``verified_via`` says how); never by a display name.
channel_identities = Table(
    "channel_identities",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("external_id", String(300), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("verified_via", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "email"),
)

# A code a channel user brings to the signed-in web chat to prove who they are (SHA-256 digest only).
channel_link_codes = Table(
    "channel_link_codes",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("external_id", String(300), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Where a conversation lives on a channel (a Slack thread, a Teams conversation, an e-mail Message-ID):
# the way back for replies and proactive messages; one conversation may have several keys.
channel_threads = Table(
    "channel_threads",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("external_key", String(400), primary_key=True),
    Column("conversation_id", String(32), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("reference", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "conversation_id"),
)

# Deliveries a channel already handled (Slack event_id, Teams activity id, e-mail Message-ID): retries ignored.
channel_events_seen = Table(
    "channel_events_seen",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("event_id", String(300), primary_key=True),
    Column("seen_at", UtcDateTime, nullable=False),
)

# How far the IMAP watcher got in each mailbox (UIDs are valid only with their UIDVALIDITY).
mail_cursors = Table(
    "mail_cursors",
    metadata,
    Column("mailbox", String(200), primary_key=True),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("last_uid", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Outgoing mail (notifications and e-mail replies): stored first, sent by a worker with retries.
mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(24), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text),
    Column("headers", JSON, nullable=False),
    Column("message_id", String(300), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status"),
    Index(None, "status", "next_attempt_at"),
)

# Which notifications a person turned off (a row per kind; no row means on).
notification_preferences = Table(
    "notification_preferences",
    metadata,
    Column("email", String(254), primary_key=True),
    Column("kind", String(24), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Background jobs whose retries were spent (firstline.jobs): shown in the console, retried or discarded there.
dead_jobs = Table(
    "dead_jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False),  # redacted (firstline.redaction.redact_data)
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("first_tried_at", UtcDateTime, nullable=False),
    Column("last_tried_at", UtcDateTime, nullable=False),
    Column("dead_at", UtcDateTime, nullable=False),
    Index(None, "dead_at"),
)

# A client's Idempotency-Key for a message it sent over the API: a retry of the same message gets the stored
# reply instead of a second turn (firstline.conversations.message_keys).
message_keys = Table(
    "message_keys",
    metadata,
    Column("principal", String(300), primary_key=True),  # whose key: a signed-in account, or an API key's id
    Column("key", String(128), primary_key=True),
    Column("digest", String(64), nullable=False),  # of the request the key was first used for
    Column("claimed_at", UtcDateTime, nullable=False),
    Column("reply", JSON),  # the reply as the turn returned it (redacted); NULL while the turn runs
    Column("status", Integer),
    Index(None, "claimed_at"),
)
