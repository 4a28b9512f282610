"""The directory store: people, accounts, devices, printers, phones, mailboxes, lists and incidents.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEVICE_STATUSES = "'in_use', 'lost', 'stolen', 'in_repair', 'spare', 'retired'"


def _text(name: str, length: int | None = None, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length) if length else sa.Text(), nullable=nullable)


def _flag(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Boolean(), nullable=False)


def _json(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.JSON(none_as_null=nullable), nullable=nullable)


def _person_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["directory_people.id"], name=f"fk_{table}_{column}_directory_people")


def upgrade() -> None:
    op.create_table(
        "directory_people",
        _text("id", 32),
        _text("name", 200),
        _text("email", 254),
        _text("department", 100),
        _text("title", 200),
        _text("manager", 32, nullable=True),
        _text("location", 32),
        sa.Column("floor", sa.Integer(), nullable=True),
        _text("phone_mobile", 32),
        _flag("vip"),
        _text("employment", 16),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("leaving_date", sa.Date(), nullable=True),
        _text("notes"),
        sa.PrimaryKeyConstraint("id", name="pk_directory_people"),
        sa.UniqueConstraint("email", name="uq_directory_people_email"),
    )
    op.create_table(
        "directory_accounts",
        _text("username", 64),
        _text("person", 32),
        _flag("enabled"),
        _flag("locked"),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("password_last_set", sa.Date(), nullable=True),
        _flag("password_expired"),
        _json("mfa_factors"),
        _json("groups"),
        _text("admin_account", 64, nullable=True),
        _text("notes"),
        _flag("password_reset_pending"),
        sa.PrimaryKeyConstraint("username", name="pk_directory_accounts"),
        _person_fk("directory_accounts", "person"),
        sa.UniqueConstraint("person", name="uq_directory_accounts_person"),
        sa.UniqueConstraint("admin_account", name="uq_directory_accounts_admin_account"),
        sa.CheckConstraint("failed_attempts >= 0", name="ck_directory_accounts_failed_attempts"),
    )
    op.create_table(
        "directory_devices",
        _text("id", 32),
        _text("kind", 16),
        _text("owner", 32, nullable=True),
        _text("model", 100),
        _text("serial", 64),
        _text("hostname", 64),
        _text("asset_tag", 64, nullable=True),
        _text("ownership", 16),
        _text("os", 64),
        _text("os_version", 32),
        _flag("mdm_enrolled"),
        _flag("encrypted"),
        _text("compliance", 16),
        _json("compliance_issues"),
        sa.Column("disk_total_gb", sa.Float(), nullable=False),
        sa.Column("disk_free_gb", sa.Float(), nullable=False),
        sa.Column("last_check_in", sa.DateTime(timezone=True), nullable=True),
        _text("status", 16),
        _text("notes"),
        sa.Column("lock_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_directory_devices"),
        _person_fk("directory_devices", "owner"),
        sa.UniqueConstraint("serial", name="uq_directory_devices_serial"),
        sa.UniqueConstraint("hostname", name="uq_directory_devices_hostname"),
        sa.UniqueConstraint("asset_tag", name="uq_directory_devices_asset_tag"),
        sa.CheckConstraint(f"status IN ({DEVICE_STATUSES})", name="ck_directory_devices_status"),
    )
    op.create_index("ix_directory_devices_owner", "directory_devices", ["owner"])
    op.create_table(
        "directory_printers",
        _text("id", 32),
        _text("name", 64),
        _text("model", 100),
        _text("location", 32),
        sa.Column("floor", sa.Integer(), nullable=True),
        _text("ip", 45),
        _text("status", 16),
        _text("error", nullable=True),
        _json("toner"),
        _json("queue"),
        _flag("followme"),
        _text("notes"),
        _json("toner_ordered"),
        sa.PrimaryKeyConstraint("id", name="pk_directory_printers"),
        sa.UniqueConstraint("name", name="uq_directory_printers_name"),
    )
    op.create_table(
        "directory_phones",
        _text("extension", 16),
        _text("direct_dial", 32),
        _text("person", 32),
        _text("model", 64, nullable=True),
        _text("mac", 17, nullable=True),
        _text("status", 16),
        _flag("voicemail_pin_set"),
        _flag("voicemail_locked"),
        _json("call_forwarding", nullable=True),
        _flag("softphone"),
        _text("notes"),
        _flag("temporary_pin_sent"),
        sa.PrimaryKeyConstraint("extension", name="pk_directory_phones"),
        _person_fk("directory_phones", "person"),
    )
    op.create_index("ix_directory_phones_person", "directory_phones", ["person"])
    op.create_table(
        "directory_mailboxes",
        _text("address", 254),
        _text("owner", 32),
        sa.Column("quota_gb", sa.Float(), nullable=False),
        sa.Column("used_gb", sa.Float(), nullable=False),
        _flag("archive_enabled"),
        _flag("litigation_hold"),
        _text("notes"),
        sa.PrimaryKeyConstraint("address", name="pk_directory_mailboxes"),
        _person_fk("directory_mailboxes", "owner"),
    )
    op.create_index("ix_directory_mailboxes_owner", "directory_mailboxes", ["owner"])
    op.create_table(
        "directory_shared_mailboxes",
        _text("address", 254),
        _text("name", 200),
        _json("owners"),
        _json("members"),
        _json("send_as"),
        sa.Column("quota_gb", sa.Float(), nullable=False),
        sa.Column("used_gb", sa.Float(), nullable=False),
        _text("notes"),
        sa.PrimaryKeyConstraint("address", name="pk_directory_shared_mailboxes"),
    )
    op.create_table(
        "directory_distribution_lists",
        _text("address", 254),
        _text("name", 200),
        _json("owners"),
        _json("members"),
        _flag("restricted"),
        _flag("dynamic"),
        _json("rule", nullable=True),
        _json("allowed_senders"),
        _flag("open_join"),
        _text("notes"),
        sa.PrimaryKeyConstraint("address", name="pk_directory_distribution_lists"),
    )
    op.create_table(
        "directory_incidents",
        _text("id", 32),
        _text("title", 200),
        _text("description"),
        _json("affected"),
        _text("assignment_group", 100),
        _text("priority", 8),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        _text("status", 16),
        _text("workaround"),
        sa.Column("update_eta", sa.DateTime(timezone=True), nullable=True),
        _json("related_printers"),
        _json("related_extensions"),
        sa.PrimaryKeyConstraint("id", name="pk_directory_incidents"),
    )
    op.create_index("ix_directory_incidents_status", "directory_incidents", ["status"])


def downgrade() -> None:
    for table in (
        "directory_incidents",
        "directory_distribution_lists",
        "directory_shared_mailboxes",
        "directory_mailboxes",
        "directory_phones",
        "directory_printers",
        "directory_devices",
        "directory_accounts",
        "directory_people",
    ):
        op.drop_table(table)
