"""One directory out of several: accounts from one backend, devices from another, mail from a third.

A real IT team's people and sign-ins may live in Okta, its laptops in Intune and its mailboxes in
Exchange Online, while printers, desk phones and known incidents stay in Firstline's own store.
:class:`RoutedDirectory` is a :class:`~firstline.directory.backend.DirectoryBackend` that sends each
call to the backend that owns that kind of record:

========  ===============================================================================
accounts  person, find_people, account, unlock, failed sign-ins, password resets
identity  the sign-in log, MFA reset, session revocation (default: the accounts backend; for an AD
          account, the cloud identity provider it is synchronised to: Entra ID or Okta)
devices   devices_of, device, set_device_status, remote_lock, sync, retire, wipe
mail      mailbox, mailbox_of, distribution lists, automatic replies
rest      printers, phones, incidents (and their changes)
========  ===============================================================================

A call about a person on a devices or mail backend gets the :class:`~firstline.directory.models.Person`
the accounts backend found, so every backend agrees on who is meant. The same backend may fill
several roles; it is closed once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from firstline.directory.backend import (
    CheckableDirectory,
    DirectoryBackend,
    DirectoryCheck,
    PersonRef,
    ReportsDirectory,
)
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
from firstline.errors import DirectoryEntryNotFoundError

__all__ = ["RoutedDirectory"]


class RoutedDirectory:
    """Accounts from ``accounts``, devices from ``devices``, mail from ``mail``, the rest from ``rest``."""

    def __init__(
        self,
        accounts: DirectoryBackend,
        devices: DirectoryBackend,
        mail: DirectoryBackend,
        rest: DirectoryBackend,
        identity: DirectoryBackend | None = None,
    ) -> None:
        self.accounts, self.devices, self.mail, self.rest = accounts, devices, mail, rest
        self.identity = identity or accounts

    def __repr__(self) -> str:
        return (
            f"RoutedDirectory(accounts={self.accounts!r}, devices={self.devices!r}, mail={self.mail!r}, "
            f"rest={self.rest!r})"
        )

    def _who(self, person: PersonRef) -> Person:
        return person if isinstance(person, Person) else self.accounts.person(person)

    # --- accounts

    def person(self, key: str) -> Person:
        return self.accounts.person(key)

    def find_people(self, text: str) -> list[Person]:
        return self.accounts.find_people(text)

    def has_current_reports(self, person: Person) -> bool:
        if isinstance(self.accounts, ReportsDirectory):
            return self.accounts.has_current_reports(person)
        domain = person.email.partition("@")[2]
        return bool(domain) and any(
            p.manager == person.id and p.is_current for p in self.accounts.find_people(f"@{domain}")
        )

    def account(self, person: PersonRef) -> Account:
        """The account from the accounts backend, with the MFA methods and last sign-out the identity provider
        keeps when that is another backend (an AD account synchronised to Entra ID)."""
        account = self.accounts.account(person)
        if self.identity is self.accounts:
            return account
        try:
            cloud = self.identity.account(self._who(person))
        except DirectoryEntryNotFoundError:  # not synchronised to the identity provider: AD's word alone
            return account
        return replace(account, mfa_factors=cloud.mfa_factors, sessions_revoked_at=cloud.sessions_revoked_at)

    def sign_ins(self, person: PersonRef, days: int = 14) -> list[SignIn]:
        return self.identity.sign_ins(self._who(person), days)

    def unlock_account(self, username: str) -> Account:
        return self.accounts.unlock_account(username)

    def record_failed_login(self, username: str) -> Account:
        return self.accounts.record_failed_login(username)

    def set_password_reset_required(self, username: str) -> Account:
        return self.accounts.set_password_reset_required(username)

    def reset_password(self, username: str, new_password: str) -> Account:
        return self.accounts.reset_password(username, new_password)

    def reset_mfa(self, username: str) -> Account:
        self.identity.reset_mfa(username)
        return self.account(username)

    def revoke_sessions(self, username: str) -> Account:
        self.identity.revoke_sessions(username)
        return self.account(username)

    # --- devices

    def devices_of(self, person: PersonRef) -> list[Device]:
        return self.devices.devices_of(self._who(person))

    def device(self, key: str) -> Device:
        return self.devices.device(key)

    def set_device_status(self, device_id: str, status: str) -> Device:
        return self.devices.set_device_status(device_id, status)

    def remote_lock(self, device_id: str) -> Device:
        return self.devices.remote_lock(device_id)

    def sync_device(self, device_id: str) -> Device:
        return self.devices.sync_device(device_id)

    def retire_device(self, device_id: str) -> Device:
        return self.devices.retire_device(device_id)

    def wipe_device(self, device_id: str) -> Device:
        return self.devices.wipe_device(device_id)

    # --- mail

    def mailbox(self, address: str) -> Mailbox | SharedMailbox:
        return self.mail.mailbox(address)

    def mailbox_of(self, person: PersonRef) -> Mailbox | None:
        return self.mail.mailbox_of(self._who(person))

    def distribution_list(self, address: str) -> DistributionList:
        return self.mail.distribution_list(address)

    def set_automatic_replies(self, person: PersonRef, message: str | None) -> Mailbox:
        return self.mail.set_automatic_replies(self._who(person), message)

    def add_to_distribution_list(self, address: str, person: PersonRef) -> DistributionList:
        return self.mail.add_to_distribution_list(address, self._who(person))

    def remove_from_distribution_list(self, address: str, person: PersonRef) -> DistributionList:
        return self.mail.remove_from_distribution_list(address, self._who(person))

    # --- the rest

    def printer(self, name: str) -> Printer:
        return self.rest.printer(name)

    def printers(self, location: str | None = None, floor: int | None = None) -> list[Printer]:
        return self.rest.printers(location, floor)

    def phone(self, extension: str) -> Phone:
        return self.rest.phone(extension)

    def phone_of(self, person: PersonRef) -> Phone | None:
        return self.rest.phone_of(self._who(person))

    def incidents(self, active_only: bool = True) -> list[KnownIncident]:
        return self.rest.incidents(active_only)

    def clear_print_queue(self, printer: str, job_ids: Iterable[str] | None = None) -> Printer:
        return self.rest.clear_print_queue(printer, job_ids)

    def set_toner_order(self, printer: str, colour: str) -> Printer:
        return self.rest.set_toner_order(printer, colour)

    def set_voicemail_pin_reset(self, extension: str) -> Phone:
        return self.rest.set_voicemail_pin_reset(extension)

    def set_call_forwarding(self, extension: str, target: str | None, mode: str = "always") -> Phone:
        return self.rest.set_call_forwarding(extension, target, mode)

    # --- operations

    def backends(self) -> dict[str, DirectoryBackend]:
        """Each distinct backend once, by the roles it fills (``"accounts+identity+devices"``)."""
        roles: dict[int, tuple[list[str], DirectoryBackend]] = {}
        for role, backend in (("accounts", self.accounts), ("identity", self.identity), ("devices", self.devices),
                              ("mail", self.mail), ("rest", self.rest)):  # fmt: skip
            roles.setdefault(id(backend), ([], backend))[0].append(role)
        return {"+".join(names): backend for names, backend in roles.values()}

    def check(self) -> list[DirectoryCheck]:
        """Every backend's own checks, each line prefixed by the roles that backend fills."""
        found: list[DirectoryCheck] = []
        for roles, backend in self.backends().items():
            if isinstance(backend, CheckableDirectory):
                found += [DirectoryCheck(f"{roles}: {c.name}", c.ok, c.detail, c.needed_by) for c in backend.check()]
        return found

    def close(self) -> None:
        for backend in self.backends().values():
            backend.close()
