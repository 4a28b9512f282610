"""The directory's records: people, accounts, devices, printers, phones, mailboxes and known incidents.

Frozen dataclasses whose field names follow the demo organisation's YAML (``helpdesk/seed/org``), so
a row of ``accounts.yaml`` and an :class:`Account` read the same. A few fields are not in the YAML:
they record what Firstline changed (``password_reset_pending``, ``lock_requested_at``,
``toner_ordered``, ``temporary_pin_sent``) and default to "nothing requested". Times are aware UTC
datetimes; lists are tuples, so every record is immutable and safe to share between threads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

__all__ = [
    "DEVICE_STATUSES",
    "EXTENSION_PATTERN",
    "FORWARDING_MODES",
    "INACTIVE_INCIDENT_STATUSES",
    "Account",
    "CallForwarding",
    "Device",
    "DistributionList",
    "KnownIncident",
    "Mailbox",
    "MfaFactor",
    "OrgData",
    "Person",
    "Phone",
    "PrintJob",
    "Printer",
    "SharedMailbox",
    "SignIn",
]

EXTENSION_PATTERN = re.compile(r"\d{4}")  # internal extensions: 4 digits (4xxx London, 6xxx Leeds)
DEVICE_STATUSES = ("in_use", "lost", "stolen", "in_repair", "spare", "retired")
FORWARDING_MODES = ("always", "busy", "no_answer")
INACTIVE_INCIDENT_STATUSES = ("resolved", "closed")


@dataclass(frozen=True)
class Person:
    """An HR record. ``id`` looks like ``p019``; ``manager`` is a person id (``None`` for the CEO)."""

    id: str
    name: str
    email: str
    department: str = ""
    title: str = ""
    manager: str | None = None
    location: str = ""  # london, leeds or remote in the demo organisation
    floor: int | None = None
    phone_mobile: str = ""
    vip: bool = False
    employment: str = "active"  # active, leaver or new_starter
    start_date: date | None = None
    leaving_date: date | None = None
    notes: str = ""

    @property
    def is_current(self) -> bool:
        """Still employed: ``active`` or ``new_starter``, not a leaver."""
        return self.employment != "leaver"


@dataclass(frozen=True)
class MfaFactor:
    """One registered sign-in method: ``type`` is authenticator_app, sms, fido2_key or phone_call."""

    type: str
    registered: date | None = None
    device: str = ""


@dataclass(frozen=True)
class Account:
    """A person's sign-in account (Entra ID / AD / LDAP). Firstline never sees or stores passwords.

    ``locked`` is a lockout after too many failed sign-ins (Tier-1 may unlock it); ``enabled=False``
    is an administrative block that Tier-1 must never lift. ``password_reset_pending`` means the
    user must choose a new password at the next sign-in (LDAP: ``pwdReset: TRUE``).
    """

    person: str
    username: str
    enabled: bool = True
    locked: bool = False
    failed_attempts: int = 0
    password_last_set: date | None = None
    password_expired: bool = False
    mfa_factors: tuple[MfaFactor, ...] = ()
    groups: tuple[str, ...] = ()
    admin_account: str | None = None
    notes: str = ""
    password_reset_pending: bool = False
    service: bool = False
    privileged: bool = False
    sessions_revoked_at: datetime | None = None


@dataclass(frozen=True)
class Device:
    """A laptop, desktop, mobile or tablet from Intune / the CMDB. ``status`` is one of :data:`DEVICE_STATUSES`."""

    id: str
    kind: str
    owner: str | None
    model: str
    serial: str
    hostname: str
    asset_tag: str | None = None
    ownership: str = "corporate"
    os: str = ""
    os_version: str = ""
    mdm_enrolled: bool = True
    encrypted: bool = True
    compliance: str = "unknown"
    compliance_issues: tuple[str, ...] = ()
    disk_total_gb: float = 0.0
    disk_free_gb: float = 0.0
    last_check_in: datetime | None = None
    status: str = "in_use"
    notes: str = ""
    lock_requested_at: datetime | None = None
    sync_requested_at: datetime | None = None
    retire_requested_at: datetime | None = None
    wipe_requested_at: datetime | None = None


@dataclass(frozen=True)
class PrintJob:
    """A job in a printer's queue; ``status`` is printing, held, error or stuck."""

    id: str
    owner: str
    document: str
    pages: int
    submitted: datetime
    status: str


@dataclass(frozen=True)
class Printer:
    """A PaperCut print device. ``toner`` maps colour to percent; ``toner_ordered`` lists colours on order."""

    id: str
    name: str
    model: str
    location: str
    floor: int | None
    ip: str
    status: str = "online"
    error: str | None = None
    toner: Mapping[str, int] = field(default_factory=dict)
    queue: tuple[PrintJob, ...] = ()
    followme: bool = True
    notes: str = ""
    toner_ordered: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallForwarding:
    """Where calls to an extension go: ``to`` an extension or a UK number, ``mode`` from :data:`FORWARDING_MODES`."""

    to: str
    mode: str


@dataclass(frozen=True)
class Phone:
    """A Webex Calling extension (4 digits, as text) and the desk phone on it (``model=None``: softphone only)."""

    extension: str
    direct_dial: str
    person: str
    model: str | None = None
    mac: str | None = None
    status: str = "registered"
    voicemail_pin_set: bool = True
    voicemail_locked: bool = False
    call_forwarding: CallForwarding | None = None
    softphone: bool = False
    notes: str = ""
    temporary_pin_sent: bool = False


@dataclass(frozen=True)
class Mailbox:
    """A person's own Exchange mailbox; ``automatic_replies`` is the out-of-office message while it is on,
    ``delegates`` the person ids with access to it."""

    address: str
    owner: str
    quota_gb: float
    used_gb: float
    archive_enabled: bool = False
    litigation_hold: bool = False
    notes: str = ""
    automatic_replies: str | None = None
    delegates: tuple[str, ...] = ()


@dataclass(frozen=True)
class SharedMailbox:
    """A shared mailbox (ap@, servicedesk@): ``owners`` approve access, ``members`` read, ``send_as`` send."""

    address: str
    name: str
    owners: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    send_as: tuple[str, ...] = ()
    quota_gb: float = 50.0
    used_gb: float = 0.0
    notes: str = ""


@dataclass(frozen=True)
class DistributionList:
    """A mail distribution list. A ``dynamic`` list's members follow its ``rule`` (e.g. ``{"location": "leeds"}``)."""

    address: str
    name: str
    owners: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    restricted: bool = False
    dynamic: bool = False
    rule: Mapping[str, str] | None = None
    allowed_senders: tuple[str, ...] = ()
    open_join: bool = False
    notes: str = ""


@dataclass(frozen=True)
class KnownIncident:
    """An ongoing incident that callers may be hitting (``id`` like INC0049001); ``priority`` like ``"P3"``."""

    id: str
    title: str
    description: str
    affected: tuple[str, ...]
    assignment_group: str
    priority: str
    started: datetime
    status: str
    workaround: str = ""
    update_eta: datetime | None = None
    related_printers: tuple[str, ...] = ()
    related_extensions: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """Still ongoing (not resolved or closed)."""
        return self.status not in INACTIVE_INCIDENT_STATUSES


@dataclass(frozen=True)
class SignIn:
    """One sign-in attempt from the identity provider's log (Okta System Log, Entra sign-in logs, the demo's YAML).

    ``person`` is the person id; ``at`` an aware UTC time. ``ip``, ``country`` (ISO 3166 alpha-2, ``GB``)
    and ``city`` say where it came from; ``device`` is the hostname of a managed device when the log
    names one (``NW-M-0119``), ``client`` the app (``Exchange ActiveSync``, ``Browser``, ``Windows Sign
    In``). ``reason`` says why a failure failed (``bad_password``, ``locked_out``, ``mfa_denied``);
    ``event_id`` is the log entry's own id at the vendor.
    """

    person: str
    at: datetime
    success: bool
    ip: str = ""
    country: str = ""
    city: str = ""
    device: str = ""
    client: str = ""
    reason: str = ""
    event_id: str = ""


@dataclass(frozen=True)
class OrgData:
    """A whole organisation, as :func:`~firstline.directory.seed.load_org` reads it from YAML."""

    people: tuple[Person, ...] = ()
    accounts: tuple[Account, ...] = ()
    devices: tuple[Device, ...] = ()
    printers: tuple[Printer, ...] = ()
    phones: tuple[Phone, ...] = ()
    mailboxes: tuple[Mailbox, ...] = ()
    shared_mailboxes: tuple[SharedMailbox, ...] = ()
    distribution_lists: tuple[DistributionList, ...] = ()
    incidents: tuple[KnownIncident, ...] = ()
    sign_ins: tuple[SignIn, ...] = ()
