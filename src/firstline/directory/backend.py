"""The seam every directory implements: :class:`DirectoryBackend`.

Implementations: :class:`~firstline.directory.memory.InMemoryDirectory` (tests, docs, evals),
:class:`~firstline.directory.sql.SqlDirectory` (the demo organisation in SQLite or PostgreSQL) and
:class:`~firstline.directory.ldap.LdapDirectory` (people and accounts from an LDAP server, the rest
delegated). The first two pass :class:`firstline.testing.directory.DirectoryContract`; the LDAP one
passes its account part, :class:`firstline.testing.directory.AccountContract`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

from firstline.directory.models import (
    Account,
    Device,
    DistributionList,
    KnownIncident,
    Mailbox,
    Person,
    Phone,
    Printer,
    SharedMailbox,
    SignIn,
)

__all__ = ["CheckableDirectory", "DirectoryBackend", "DirectoryCheck", "PersonRef", "ReportsDirectory"]

PersonRef: TypeAlias = Person | str
"""A :class:`Person`, or the id (``p019``), email address or username (``r.chen``) of one."""


@runtime_checkable
class DirectoryBackend(Protocol):
    """Look up people and what they use, and make the few changes Tier-1 is allowed to make.

    Every write is atomic and returns the new state. Errors: an unknown person raises
    :class:`~firstline.errors.PersonNotFoundError`, any other unknown key
    :class:`~firstline.errors.DirectoryEntryNotFoundError`, a change that cannot be made as asked
    :class:`~firstline.errors.InputError`, unlocking a disabled account
    :class:`~firstline.errors.AccountDisabledError`, and an unreachable store
    :class:`~firstline.errors.BackendUnavailableError`.
    """

    # --- people and accounts

    def person(self, key: str) -> Person:
        """The person whose id (``p019``), email address or username (``r.chen``, ``adm-r.kulkarni``) is ``key``."""
        ...

    def find_people(self, text: str) -> list[Person]:
        """People whose name, email, username, department or title contain every word of ``text``, by id."""
        ...

    def account(self, person: PersonRef) -> Account:
        """The sign-in account of ``person``."""
        ...

    # --- devices, printers, phones, mail

    def devices_of(self, person: PersonRef) -> list[Device]:
        """Every device whose owner is ``person``, by id."""
        ...

    def device(self, key: str) -> Device:
        """The device with this id (``d001``), hostname (``NW-L-0206``), serial or asset tag."""
        ...

    def printer(self, name: str) -> Printer:
        """The printer with this name (``LON-F4-HP-02``, any case) or id (``pr07``)."""
        ...

    def printers(self, location: str | None = None, floor: int | None = None) -> list[Printer]:
        """Printers at ``location`` (``london``) and on ``floor``, by name; ``None`` matches any."""
        ...

    def phone(self, extension: str) -> Phone:
        """The Webex Calling extension ``extension`` (``"4357"``)."""
        ...

    def phone_of(self, person: PersonRef) -> Phone | None:
        """The extension of ``person``, or ``None`` when they have none (leavers)."""
        ...

    def mailbox(self, address: str) -> Mailbox | SharedMailbox:
        """The user or shared mailbox at ``address`` (any case)."""
        ...

    def mailbox_of(self, person: PersonRef) -> Mailbox | None:
        """The user mailbox of ``person``, or ``None`` when they have none (leavers)."""
        ...

    def distribution_list(self, address: str) -> DistributionList:
        """The distribution list at ``address`` (any case)."""
        ...

    def incidents(self, active_only: bool = True) -> list[KnownIncident]:
        """Known incidents by id: only ongoing ones unless ``active_only`` is false."""
        ...

    def sign_ins(self, person: PersonRef, days: int = 14) -> list[SignIn]:
        """The sign-in attempts of ``person`` in the last ``days`` days, newest first (empty when the store
        keeps no sign-in log, as LDAP does)."""
        ...

    # --- account changes

    def unlock_account(self, username: str) -> Account:
        """Lift a lockout and reset the failure count. A disabled account raises AccountDisabledError."""
        ...

    def record_failed_login(self, username: str) -> Account:
        """Count a failed sign-in; the account locks when the count reaches the policy's maximum."""
        ...

    def set_password_reset_required(self, username: str) -> Account:
        """Make the user choose a new password at the next sign-in. Firstline never handles passwords."""
        ...

    def reset_password(self, username: str, new_password: str) -> Account:
        """Set a new password. Only for the self-service reset-link flow and tests, never from chat."""
        ...

    def reset_mfa(self, username: str) -> Account:
        """Remove every MFA method, so the user registers again."""
        ...

    def revoke_sessions(self, username: str) -> Account:
        """Sign the user out everywhere (refresh tokens and sessions revoked); records ``sessions_revoked_at``."""
        ...

    # --- device, printer, phone and list changes

    def set_device_status(self, device_id: str, status: str) -> Device:
        """Mark a device ``in_use``, ``lost``, ``stolen``, ``in_repair``, ``spare`` or ``retired``."""
        ...

    def remote_lock(self, device_id: str) -> Device:
        """Send a remote lock through the MDM and record when it was requested."""
        ...

    def sync_device(self, device_id: str) -> Device:
        """Ask the MDM to make the device check in now (policies, compliance); records ``sync_requested_at``."""
        ...

    def retire_device(self, device_id: str) -> Device:
        """Remove company data and management from the device, keeping personal data (destructive)."""
        ...

    def wipe_device(self, device_id: str) -> Device:
        """Factory-reset the device through the MDM (destructive: everything on it is lost)."""
        ...

    def clear_print_queue(self, printer: str, job_ids: Iterable[str] | None = None) -> Printer:
        """Cancel the jobs ``job_ids`` on ``printer``, or every job when ``None``."""
        ...

    def set_toner_order(self, printer: str, colour: str) -> Printer:
        """Order a toner cartridge of ``colour`` (``black``, ``cyan``, ...) for ``printer``."""
        ...

    def set_voicemail_pin_reset(self, extension: str) -> Phone:
        """Unlock the voicemail of ``extension`` and send the user a temporary PIN."""
        ...

    def set_call_forwarding(self, extension: str, target: str | None, mode: str = "always") -> Phone:
        """Forward calls to ``target`` (an extension or a UK number) ``always``, on ``busy`` or on ``no_answer``;
        ``target=None`` stops forwarding."""
        ...

    def set_automatic_replies(self, person: PersonRef, message: str | None) -> Mailbox:
        """Turn the out-of-office reply of ``person``'s own mailbox on with ``message``, or off with ``None``."""
        ...

    def add_to_distribution_list(self, address: str, person: PersonRef) -> DistributionList:
        """Add ``person`` to the members of the (non-dynamic) list at ``address``."""
        ...

    def remove_from_distribution_list(self, address: str, person: PersonRef) -> DistributionList:
        """Remove ``person`` from the members of the (non-dynamic) list at ``address``."""
        ...

    def close(self) -> None:
        """Release connections; calling it twice is harmless."""
        ...


@dataclass(frozen=True)
class DirectoryCheck:
    """One line of ``firstline directory check``: what was tried (``name``), whether it worked, and ``detail``:
    on failure, what is missing (the permission, scope or role to grant) in words an administrator can act on.
    ``needed_by`` names the specialists that need it (``Security``, ``Device``, ``Email``)."""

    name: str
    ok: bool
    detail: str = ""
    needed_by: tuple[str, ...] = ()


@runtime_checkable
class CheckableDirectory(Protocol):
    """A directory backend that can test its connection and permissions (vendor backends do)."""

    def check(self) -> list[DirectoryCheck]:
        """Try each kind of call Firstline makes, read-only where possible; never raises for a refusal."""
        ...


@runtime_checkable
class ReportsDirectory(Protocol):
    """A directory backend that can tell at once whether someone manages anyone (the SQL directory does);
    for the others, :func:`firstline.helpdesk.audience.manages_anyone` lists the people of the domain."""

    def has_current_reports(self, person: Person) -> bool:
        """Whether anyone current (not a leaver) in ``person``'s e-mail domain has them as their manager."""
        ...
