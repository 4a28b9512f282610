"""The directory store's tables (SQLAlchemy Core), as the newest migration leaves them.

One table per record type of :mod:`firstline.directory.models`, one column per field, with the same
names; the sign-in log (``directory_sign_ins``) adds a surrogate ``id``, as its entries have no key
of their own. Columns added after the first release have a server default, so rows written before
them read as "nothing recorded". Lists inside a record (groups, MFA methods, a print queue, list
members) are JSON columns: they are always read and written together with their record, under its
row lock, so a change to a list is as atomic as a change to any other field.

Migrations never import this module's tables (a migration is frozen in time); ``env.py`` uses
:data:`metadata` for ``--autogenerate``, and a test checks that migrating an empty database gives
exactly these tables. Every table name starts with ``directory_`` so the store can share a database
with the ticket store.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)

from firstline.sqlstore.columns import UtcDateTime, new_metadata

__all__ = [
    "UtcDateTime",
    "accounts",
    "devices",
    "distribution_lists",
    "incidents",
    "mailboxes",
    "metadata",
    "people",
    "phones",
    "printers",
    "shared_mailboxes",
    "sign_ins",
]

metadata = new_metadata()


def _person_ref(name: str, nullable: bool = False) -> Column[Any]:
    return Column(name, String(32), ForeignKey("directory_people.id"), nullable=nullable)


people = Table(
    "directory_people",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=False),
    Column("department", String(100), nullable=False),
    Column("title", String(200), nullable=False),
    Column("manager", String(32)),  # no foreign key: a seed may list a report before their manager
    Column("location", String(32), nullable=False),
    Column("floor", Integer),
    Column("phone_mobile", String(32), nullable=False),
    Column("vip", Boolean, nullable=False),
    Column("employment", String(16), nullable=False),
    Column("start_date", Date),
    Column("leaving_date", Date),
    Column("notes", Text, nullable=False),
    UniqueConstraint("email"),
)

accounts = Table(
    "directory_accounts",
    metadata,
    Column("username", String(64), primary_key=True),
    _person_ref("person"),
    Column("enabled", Boolean, nullable=False),
    Column("locked", Boolean, nullable=False),
    Column("failed_attempts", Integer, nullable=False),
    Column("password_last_set", Date),
    Column("password_expired", Boolean, nullable=False),
    Column("mfa_factors", JSON, nullable=False),
    Column("groups", JSON, nullable=False),
    Column("admin_account", String(64)),
    Column("notes", Text, nullable=False),
    Column("password_reset_pending", Boolean, nullable=False),
    Column("service", Boolean, nullable=False, server_default=false()),
    Column("privileged", Boolean, nullable=False, server_default=false()),
    Column("sessions_revoked_at", UtcDateTime),
    CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
    UniqueConstraint("person"),
    UniqueConstraint("admin_account"),
)

devices = Table(
    "directory_devices",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    _person_ref("owner", nullable=True),
    Column("model", String(100), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("hostname", String(64), nullable=False),
    Column("asset_tag", String(64)),
    Column("ownership", String(16), nullable=False),
    Column("os", String(64), nullable=False),
    Column("os_version", String(32), nullable=False),
    Column("mdm_enrolled", Boolean, nullable=False),
    Column("encrypted", Boolean, nullable=False),
    Column("compliance", String(16), nullable=False),
    Column("compliance_issues", JSON, nullable=False),
    Column("disk_total_gb", Float, nullable=False),
    Column("disk_free_gb", Float, nullable=False),
    Column("last_check_in", UtcDateTime),
    Column("status", String(16), nullable=False),
    Column("notes", Text, nullable=False),
    Column("lock_requested_at", UtcDateTime),
    Column("sync_requested_at", UtcDateTime),
    Column("retire_requested_at", UtcDateTime),
    Column("wipe_requested_at", UtcDateTime),
    CheckConstraint("status IN ('in_use', 'lost', 'stolen', 'in_repair', 'spare', 'retired')", name="status"),
    UniqueConstraint("serial"),
    UniqueConstraint("hostname"),
    UniqueConstraint("asset_tag"),
    Index(None, "owner"),
)

printers = Table(
    "directory_printers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("model", String(100), nullable=False),
    Column("location", String(32), nullable=False),
    Column("floor", Integer),
    Column("ip", String(45), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("toner", JSON, nullable=False),
    Column("queue", JSON, nullable=False),
    Column("followme", Boolean, nullable=False),
    Column("notes", Text, nullable=False),
    Column("toner_ordered", JSON, nullable=False),
    UniqueConstraint("name"),
)

phones = Table(
    "directory_phones",
    metadata,
    Column("extension", String(16), primary_key=True),
    Column("direct_dial", String(32), nullable=False),
    _person_ref("person"),
    Column("model", String(64)),
    Column("mac", String(17)),
    Column("status", String(16), nullable=False),
    Column("voicemail_pin_set", Boolean, nullable=False),
    Column("voicemail_locked", Boolean, nullable=False),
    Column("call_forwarding", JSON(none_as_null=True)),
    Column("softphone", Boolean, nullable=False),
    Column("notes", Text, nullable=False),
    Column("temporary_pin_sent", Boolean, nullable=False),
    Index(None, "person"),
)

mailboxes = Table(
    "directory_mailboxes",
    metadata,
    Column("address", String(254), primary_key=True),
    _person_ref("owner"),
    Column("quota_gb", Float, nullable=False),
    Column("used_gb", Float, nullable=False),
    Column("archive_enabled", Boolean, nullable=False),
    Column("litigation_hold", Boolean, nullable=False),
    Column("notes", Text, nullable=False),
    Column("automatic_replies", Text),
    Column("delegates", JSON, nullable=False, server_default=text("'[]'")),
    Index(None, "owner"),
)

shared_mailboxes = Table(
    "directory_shared_mailboxes",
    metadata,
    Column("address", String(254), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("owners", JSON, nullable=False),
    Column("members", JSON, nullable=False),
    Column("send_as", JSON, nullable=False),
    Column("quota_gb", Float, nullable=False),
    Column("used_gb", Float, nullable=False),
    Column("notes", Text, nullable=False),
)

distribution_lists = Table(
    "directory_distribution_lists",
    metadata,
    Column("address", String(254), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("owners", JSON, nullable=False),
    Column("members", JSON, nullable=False),
    Column("restricted", Boolean, nullable=False),
    Column("dynamic", Boolean, nullable=False),
    Column("rule", JSON(none_as_null=True)),
    Column("allowed_senders", JSON, nullable=False),
    Column("open_join", Boolean, nullable=False),
    Column("notes", Text, nullable=False),
)

incidents = Table(
    "directory_incidents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("affected", JSON, nullable=False),
    Column("assignment_group", String(100), nullable=False),
    Column("priority", String(8), nullable=False),
    Column("started", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("workaround", Text, nullable=False),
    Column("update_eta", UtcDateTime),
    Column("related_printers", JSON, nullable=False),
    Column("related_extensions", JSON, nullable=False),
    Index(None, "status"),
)

sign_ins = Table(
    "directory_sign_ins",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    _person_ref("person"),
    Column("at", UtcDateTime, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("ip", String(45), nullable=False),
    Column("country", String(64), nullable=False),
    Column("city", String(100), nullable=False),
    Column("device", String(64), nullable=False),
    Column("client", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    Column("event_id", String(128), nullable=False),
    Index(None, "person", "at"),
)


# Every lookup by a name a person types (an e-mail, a username, a hostname, a printer) compares lower-cased
# values; without an index on the lower-cased column each lookup reads the whole table (2 ms a lookup at
# 10,000 employees on SQLite, several lookups a turn). Indexes on the expressions make them point reads on
# SQLite and PostgreSQL alike.
CASE_FREE_KEYS: dict[str, tuple[str, ...]] = {
    "directory_people": ("id", "email"),
    "directory_accounts": ("username", "admin_account"),
    "directory_devices": ("id", "hostname", "serial", "asset_tag"),
    "directory_printers": ("id", "name"),
    "directory_mailboxes": ("address",),
    "directory_shared_mailboxes": ("address",),
    "directory_distribution_lists": ("address",),
}
for _table, _columns in CASE_FREE_KEYS.items():
    for _column in _columns:
        Index(f"ix_{_table}_lower_{_column}", func.lower(metadata.tables[_table].c[_column]))
Index("ix_directory_people_manager", people.c.manager)  # "does this person have reports?" at offboarding
