"""The rules every directory change follows, as pure functions from a record to its new state.

:class:`~firstline.directory.memory.InMemoryDirectory` and :class:`~firstline.directory.sql.SqlDirectory`
load a record under their lock, apply one of these, and store the result, so both stores behave
the same way. Refusals are :class:`~firstline.errors.InputError` (the request cannot be done as
asked: the message says what can) or :class:`~firstline.errors.AccountDisabledError`.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from firstline.directory.models import (
    DEVICE_STATUSES,
    EXTENSION_PATTERN,
    FORWARDING_MODES,
    Account,
    CallForwarding,
    Device,
    DistributionList,
    Mailbox,
    Person,
    Phone,
    Printer,
)
from firstline.errors import AccountDisabledError, DirectoryEntryNotFoundError, InputError

__all__ = [
    "CREDENTIAL_ACTIONS",
    "LOCKOUT_THRESHOLD",
    "AccountRules",
    "Refusal",
    "admin_account_refused",
    "automatic_replies",
    "check_new_password",
    "cleared_queue",
    "device_action_requested",
    "device_with_status",
    "failed_login",
    "forwarded",
    "joined",
    "left",
    "matches_text",
    "mfa_reset",
    "not_found",
    "password_changed",
    "password_reset_required",
    "remote_lock_requested",
    "search_terms",
    "sessions_revoked",
    "toner_ordered",
    "unlocked",
    "utc_now",
    "voicemail_reset",
]

LOCKOUT_THRESHOLD = 5  # failed sign-ins that lock an account, unless the store is given another policy
_UK_NUMBER = re.compile(r"(\+44|0)\d{9,10}")
_NEEDS_OWNER = ("in_use", "lost", "stolen", "in_repair")


def utc_now() -> datetime:
    """The current time, aware UTC (the default clock of the stores)."""
    return datetime.now(UTC)


_HINTS = {
    "account": "That person has no sign-in account; escalate to Identity & Access Management if they need one.",
    "device": "Check the id (d001), hostname (NW-L-0206) or serial, or list the owner's devices with devices_of.",
    "printer": "Printer names look like LON-F4-HP-02 (site, floor, vendor, number); list them with printers().",
    "extension": "Extensions have 4 digits; look up a person's extension with phone_of.",
    "mailbox": "Check the full address (name@domain), or look up a person's mailbox with mailbox_of.",
    "distribution list": "Check the full address of the list, e.g. all-staff@ followed by the company domain.",
}


def not_found(kind: str, key: str) -> DirectoryEntryNotFoundError:
    """The error for an unknown ``kind`` (one of account, device, printer, extension, mailbox, distribution list)."""
    return DirectoryEntryNotFoundError(kind, key, _HINTS[kind])


def search_terms(text: str) -> list[str]:
    """The lower-case words of a people search; :class:`InputError` when there are none."""
    terms = text.lower().split()
    if not terms:
        raise InputError("The search is empty: type part of a name, email address or username, e.g. 'chen'.")
    return terms


def matches_text(terms: Iterable[str], person: Person, account: Account | None) -> bool:
    """Every term appears in the person's id, name, email, department or title, or their username."""
    usernames = (account.username, account.admin_account or "") if account else ()
    haystack = " ".join((person.id, person.name, person.email, person.department, person.title, *usernames)).lower()
    return all(term in haystack for term in terms)


def admin_account_refused(username: str) -> InputError:
    """Admin accounts (``adm-...``) are never unlocked or reset by Tier-1."""
    return InputError(
        f"{username!r} is an admin account; Firstline does not unlock or reset admin accounts. "
        "Escalate to Identity & Access Management."
    )


def failed_login(account: Account, threshold: int = LOCKOUT_THRESHOLD) -> Account:
    """One more failed sign-in; an enabled account locks when the count reaches ``threshold``."""
    failed = account.failed_attempts + 1
    return replace(account, failed_attempts=failed, locked=account.locked or (account.enabled and failed >= threshold))


def unlocked(account: Account) -> Account:
    """The lockout lifted and the failure count reset; a disabled account is refused, never re-enabled."""
    if not account.enabled:
        raise AccountDisabledError(account.username)
    return replace(account, locked=False, failed_attempts=0)


def password_reset_required(account: Account) -> Account:
    """The user must choose a new password at the next sign-in (Firstline never sets one itself)."""
    return replace(account, password_reset_pending=True)


def check_new_password(new_password: str) -> None:
    """Refuse an empty password, or one with spaces at either end (almost always a paste accident)."""
    if not new_password or new_password != new_password.strip():
        raise InputError("The new password is empty or starts or ends with spaces; choose another one.")


def password_changed(account: Account, new_password: str, today: date) -> Account:
    """A new password was set (through the self-service link); the password itself is not kept."""
    check_new_password(new_password)
    return replace(account, password_last_set=today, password_expired=False, password_reset_pending=False)


def mfa_reset(account: Account) -> Account:
    """Every registered MFA method removed, so the user registers again (with a Temporary Access Pass)."""
    return replace(account, mfa_factors=())


def device_with_status(device: Device, status: str) -> Device:
    """``device`` marked ``status``; spare and retired devices go back to stock without an owner."""
    status = status.strip().lower()
    if status not in DEVICE_STATUSES:
        raise InputError(f"{status!r} is not a device status; use one of: {', '.join(DEVICE_STATUSES)}.")
    if status in _NEEDS_OWNER and device.owner is None:
        raise InputError(
            f"{device.hostname} has no owner, so it cannot be {status.replace('_', ' ')}. Assigning devices "
            "to people is done by End User Computing: escalate to them."
        )
    return replace(device, status=status, owner=device.owner if status in _NEEDS_OWNER else None)


def remote_lock_requested(device: Device, now: datetime) -> Device:
    """A remote lock sent through the MDM; only enrolled devices can receive one."""
    if not device.mdm_enrolled:
        raise InputError(
            f"{device.hostname} is not enrolled in Intune, so it cannot be locked remotely. Ask the owner to "
            "change the device passcode and escalate to Security Operations."
        )
    return replace(device, lock_requested_at=now)


def sessions_revoked(account: Account, now: datetime) -> Account:
    """Every session and refresh token of the user revoked; a disabled account has none to revoke."""
    return replace(account, sessions_revoked_at=now)


_DEVICE_ACTIONS = {"sync": "sync_requested_at", "retire": "retire_requested_at", "wipe": "wipe_requested_at"}


def device_action_requested(device: Device, action: str, now: datetime) -> Device:
    """A ``sync``, ``retire`` or ``wipe`` sent through the MDM; only enrolled devices can receive one.

    A retired device keeps its owner (the company data is gone, the device is theirs); a wiped one is
    factory-reset, so it also keeps its record until End User Computing marks it.
    """
    if action not in _DEVICE_ACTIONS:
        raise InputError(f"{action!r} is not a device action; use one of: {', '.join(_DEVICE_ACTIONS)}.")
    if not device.mdm_enrolled:
        raise InputError(
            f"{device.hostname} is not enrolled in Intune, so the MDM cannot {action} it. Escalate to End User "
            "Computing."
        )
    changes: dict[str, Any] = {_DEVICE_ACTIONS[action]: now}
    return replace(device, **changes)


def automatic_replies(mailbox: Mailbox, message: str | None) -> Mailbox:
    """The out-of-office reply on with ``message`` (trimmed, at most 4,000 characters), or off with ``None``."""
    if message is None:
        return replace(mailbox, automatic_replies=None)
    text = message.strip()
    if not text:
        raise InputError("The automatic reply is empty; give the message people should receive, or turn it off.")
    if len(text) > 4000:
        raise InputError(f"The automatic reply has {len(text)} characters; keep it under 4,000.")
    return replace(mailbox, automatic_replies=text)


def cleared_queue(printer: Printer, job_ids: Iterable[str] | None) -> Printer:
    """``printer`` without the jobs ``job_ids`` (all of them when ``None``)."""
    if job_ids is None:
        return replace(printer, queue=())
    wanted = {job_id.strip().upper() for job_id in job_ids}
    queued = {job.id.upper() for job in printer.queue}
    for job_id in sorted(wanted - queued):
        held = ", ".join(job.id for job in printer.queue) or "nothing"
        raise DirectoryEntryNotFoundError(
            "print job",
            job_id,
            f"{printer.name}'s queue holds: {held}. Clear one of those, or clear the whole queue.",
        )
    return replace(printer, queue=tuple(job for job in printer.queue if job.id.upper() not in wanted))


def toner_ordered(printer: Printer, colour: str) -> Printer:
    """A toner cartridge of ``colour`` on order for ``printer`` (ordering it twice changes nothing)."""
    colour = colour.strip().lower()
    if colour not in printer.toner:
        raise InputError(f"{printer.name} takes {', '.join(printer.toner)} toner, not {colour!r}.")
    return replace(printer, toner_ordered=tuple(sorted({*printer.toner_ordered, colour})))


def voicemail_reset(phone: Phone) -> Phone:
    """Voicemail unlocked and a temporary PIN sent to the user (they choose their own at the next call)."""
    return replace(phone, voicemail_locked=False, voicemail_pin_set=True, temporary_pin_sent=True)


def forwarded(phone: Phone, target: str | None, mode: str, extensions: Container[str]) -> Phone:
    """Calls to ``phone`` forwarded to ``target`` (an extension in ``extensions`` or a UK number); ``None`` stops it."""
    if target is None:
        return replace(phone, call_forwarding=None)
    mode, target = mode.strip().lower(), target.strip()
    if mode not in FORWARDING_MODES:
        raise InputError(f"{mode!r} is not a forwarding mode; use one of: {', '.join(FORWARDING_MODES)}.")
    if EXTENSION_PATTERN.fullmatch(target):
        if target == phone.extension:
            raise InputError(f"Extension {target} cannot forward to itself; give another extension or a number.")
        if target not in extensions:
            raise InputError(f"There is no extension {target}; check the number with the person it should ring.")
    elif not _UK_NUMBER.fullmatch(target.replace(" ", "")):
        raise InputError(
            f"{target!r} is neither a 4-digit extension nor a UK phone number; use e.g. '4357' or '07700 900123'."
        )
    return replace(phone, call_forwarding=CallForwarding(to=target, mode=mode))


def joined(dl: DistributionList, person: Person) -> DistributionList:
    """``person`` added to the members of ``dl`` (already a member: unchanged)."""
    _check_manual(dl)
    if not person.is_current:
        raise InputError(f"{person.name} ({person.id}) has left the company, and leavers cannot join lists.")
    return dl if person.id in dl.members else replace(dl, members=(*dl.members, person.id))


def left(dl: DistributionList, person: Person) -> DistributionList:
    """``person`` removed from the members of ``dl`` (not a member: unchanged)."""
    _check_manual(dl)
    return replace(dl, members=tuple(member for member in dl.members if member != person.id))


def _check_manual(dl: DistributionList) -> None:
    if dl.dynamic:
        rule = ", ".join(f"{key}: {value}" for key, value in (dl.rule or {}).items()) or "its rule"
        raise InputError(
            f"{dl.address} is a dynamic list whose members follow {rule}; people cannot be added or removed "
            "by hand. Update the person's record instead, or escalate to Messaging."
        )


# -- who may have what done to their account ----------------------------------------------------------

CREDENTIAL_ACTIONS = frozenset(
    {"unlock_account", "send_password_reset_link", "reset_mfa", "reset_voicemail_pin", "revoke_sessions",
     "sign_out_everywhere"}
)  # fmt: skip
# What stays possible for a blocked account: reporting, and handing the problem to a person.
_ALWAYS = frozenset({"escalate_to_human", "escalate_ticket", "add_ticket_note", "close_ticket", "mark_resolved",
                     "report_lost_device", "remote_lock", "report_phishing", "revoke_sessions",
                     "sign_out_everywhere"})  # fmt: skip


@dataclass(frozen=True)
class Refusal:
    """Why an action is refused on an account: ``reason`` for the employee and the ticket, ``team`` owns it."""

    category: str  # disabled, leaver, service, privileged, possible_attack or unreadable_log
    reason: str
    team: str
    urgent: bool = False  # the team should look now (a possible attack), not in the usual queue


@dataclass(frozen=True)
class AccountRules:
    """Which accounts Tier-1 may act on: the directory's rules, the same for every engine.

    * a **disabled** account or a **leaver**'s: nothing that changes or grants access (only reporting and
      escalation), whatever the request;
    * a **service** account (its store says so, a username prefix in ``service_prefixes`` or a group in
      ``service_groups``) and a **privileged** one (its store says so, it has an admin account, or a group in
      ``privileged_groups``): no unlock, reset link, MFA reset, session revocation or PIN reset by Tier-1.

    ``allow`` lifts a rule where a directory's own policy says so, e.g. ``{"privileged": {"unlock_account"}}``.
    ``trusted_networks`` (the offices' egress ranges) and ``sign_in_days`` tune the sign-in check that comes
    before an unlock (:func:`firstline.directory.signins.assess`).
    """

    service_prefixes: tuple[str, ...] = ("svc-", "svc_", "svc.", "sa-", "app-")
    service_groups: tuple[str, ...] = ("Service-Accounts",)
    privileged_groups: tuple[str, ...] = (
        "Domain-Admins", "Global-Admins", "IT-Admins", "Privileged-Access", "Enterprise-Admins", "Security-Admins",
    )  # fmt: skip
    allow: Mapping[str, frozenset[str]] = field(default_factory=dict)
    trusted_networks: tuple[str, ...] = ()
    sign_in_days: int = 14

    def categories(self, person: Person, account: Account | None) -> list[str]:
        """What makes this account special (empty: an ordinary, active account)."""
        found = []
        if account is not None and not account.enabled:
            found.append("disabled")
        if not person.is_current:
            found.append("leaver")
        if account is not None:
            groups = {g.lower() for g in account.groups}
            username = account.username.lower()
            if account.service or username.startswith(self.service_prefixes) or groups & _lower(self.service_groups):
                found.append("service")
            if account.privileged or account.admin_account or groups & _lower(self.privileged_groups):
                found.append("privileged")
        return found

    def refusal(self, action: str, person: Person, account: Account | None) -> Refusal | None:
        """Why ``action`` must not run on ``person``'s account, or ``None`` when it may."""
        for category in self.categories(person, account):
            if action in self.allow.get(category, frozenset()):
                continue
            blocked = category in ("disabled", "leaver") and action not in _ALWAYS
            if blocked or (category in ("service", "privileged") and action in CREDENTIAL_ACTIONS):
                return _REFUSALS[category]
        return None


def _lower(names: Iterable[str]) -> set[str]:
    return {name.lower() for name in names}


_REFUSALS = {
    "disabled": Refusal(
        "disabled",
        "the account is disabled by an administrator, and Tier-1 never re-enables, unlocks or resets a disabled "
        "account",
        "Security Operations",
    ),
    "leaver": Refusal(
        "leaver",
        "the directory records this person as having left the company, so their account gets no unlock, reset or "
        "new access from Tier-1",
        "Identity & Access Management",
    ),
    "service": Refusal(
        "service",
        "this is a service account; its credentials are managed by its owning team, never by Tier-1",
        "Identity & Access Management",
    ),
    "privileged": Refusal(
        "privileged",
        "this account holds administrator rights, so unlocks and password, MFA and voicemail PIN resets go through "
        "Identity & Access Management's privileged-access process",
        "Identity & Access Management",
    ),
}
