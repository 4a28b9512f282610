"""A complete directory in dicts: the reference backend for tests, docs and evals.

Thread-safe (one lock around every change); everything is lost when the process ends. Lookups scan
the records, which is instant at demo-organisation size (a few hundred records).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from firstline.directory import rules
from firstline.directory.backend import PersonRef
from firstline.directory.models import (
    Account,
    Device,
    DistributionList,
    KnownIncident,
    Mailbox,
    OrgData,
    Person,
    Phone,
    Printer,
    SharedMailbox,
    SignIn,
)
from firstline.errors import PersonNotFoundError

__all__ = ["InMemoryDirectory"]


class InMemoryDirectory:
    """A :class:`~firstline.directory.backend.DirectoryBackend` holding ``org`` (empty when ``None``) in memory.

    ``lockout_threshold`` failed sign-ins lock an account. ``clock`` returns the current time (aware
    UTC); pass a fake one to pin the times recorded by writes.
    """

    def __init__(
        self,
        org: OrgData | None = None,
        *,
        lockout_threshold: int = rules.LOCKOUT_THRESHOLD,
        clock: Callable[[], datetime] = rules.utc_now,
    ) -> None:
        org = org or OrgData()
        self.lockout_threshold = lockout_threshold
        self._clock = clock
        self._lock = threading.RLock()
        self._people = {p.id: p for p in org.people}
        self._accounts = {a.person: a for a in org.accounts}
        self._devices = {d.id: d for d in org.devices}
        self._printers = {p.id: p for p in org.printers}
        self._phones = {p.extension: p for p in org.phones}
        self._mailboxes = {m.address.lower(): m for m in org.mailboxes}
        self._shared = {m.address.lower(): m for m in org.shared_mailboxes}
        self._lists = {d.address.lower(): d for d in org.distribution_lists}
        self._incidents = {i.id: i for i in org.incidents}
        self._sign_ins = list(org.sign_ins)

    def __repr__(self) -> str:
        return f"InMemoryDirectory({len(self._people)} people)"

    # --- reads

    def person(self, key: str) -> Person:
        with self._lock:
            wanted = key.strip().lower()
            for person in self._people.values():
                if wanted in (person.id.lower(), person.email.lower()):
                    return person
            for account in self._accounts.values():
                if wanted in (account.username.lower(), (account.admin_account or "").lower()):
                    return self._people[account.person]
            raise PersonNotFoundError(key)

    def find_people(self, text: str) -> list[Person]:
        terms = rules.search_terms(text)
        with self._lock:
            found = [p for p in self._people.values() if rules.matches_text(terms, p, self._accounts.get(p.id))]
        return sorted(found, key=lambda p: p.id)

    def account(self, person: PersonRef) -> Account:
        with self._lock:
            return self._account_of(self._resolve(person))

    def devices_of(self, person: PersonRef) -> list[Device]:
        with self._lock:
            owner = self._resolve(person).id
            return sorted((d for d in self._devices.values() if d.owner == owner), key=lambda d: d.id)

    def device(self, key: str) -> Device:
        with self._lock:
            return self._devices[self._device_id(key)]

    def printer(self, name: str) -> Printer:
        with self._lock:
            return self._printers[self._printer_id(name)]

    def printers(self, location: str | None = None, floor: int | None = None) -> list[Printer]:
        with self._lock:
            found = [
                p
                for p in self._printers.values()
                if (location is None or p.location == location.strip().lower()) and (floor is None or p.floor == floor)
            ]
        return sorted(found, key=lambda p: p.name)

    def phone(self, extension: str) -> Phone:
        with self._lock:
            return self._phones[self._extension(extension)]

    def phone_of(self, person: PersonRef) -> Phone | None:
        with self._lock:
            owner = self._resolve(person).id
            return next((p for p in self._phones.values() if p.person == owner), None)

    def mailbox(self, address: str) -> Mailbox | SharedMailbox:
        with self._lock:
            found = self._mailboxes.get(address.strip().lower()) or self._shared.get(address.strip().lower())
        if found is None:
            raise rules.not_found("mailbox", address)
        return found

    def mailbox_of(self, person: PersonRef) -> Mailbox | None:
        with self._lock:
            owner = self._resolve(person).id
            return next((m for m in self._mailboxes.values() if m.owner == owner), None)

    def distribution_list(self, address: str) -> DistributionList:
        with self._lock:
            return self._lists[self._list_address(address)]

    def incidents(self, active_only: bool = True) -> list[KnownIncident]:
        with self._lock:
            found = [i for i in self._incidents.values() if i.active or not active_only]
        return sorted(found, key=lambda i: i.id)

    def sign_ins(self, person: PersonRef, days: int = 14) -> list[SignIn]:
        with self._lock:
            owner = self._resolve(person).id
            since = self._clock() - timedelta(days=days)
            found = [s for s in self._sign_ins if s.person == owner and s.at >= since]
        return sorted(found, key=lambda s: s.at, reverse=True)

    # --- writes

    def unlock_account(self, username: str) -> Account:
        return self._change_account(username, rules.unlocked)

    def record_failed_login(self, username: str) -> Account:
        return self._change_account(username, lambda a: rules.failed_login(a, self.lockout_threshold))

    def set_password_reset_required(self, username: str) -> Account:
        return self._change_account(username, rules.password_reset_required)

    def reset_password(self, username: str, new_password: str) -> Account:
        return self._change_account(username, lambda a: rules.password_changed(a, new_password, self._clock().date()))

    def reset_mfa(self, username: str) -> Account:
        return self._change_account(username, rules.mfa_reset)

    def revoke_sessions(self, username: str) -> Account:
        return self._change_account(username, lambda a: rules.sessions_revoked(a, self._clock()))

    def set_device_status(self, device_id: str, status: str) -> Device:
        with self._lock:
            key = self._device_id(device_id)
            self._devices[key] = rules.device_with_status(self._devices[key], status)
            return self._devices[key]

    def remote_lock(self, device_id: str) -> Device:
        with self._lock:
            key = self._device_id(device_id)
            self._devices[key] = rules.remote_lock_requested(self._devices[key], self._clock())
            return self._devices[key]

    def sync_device(self, device_id: str) -> Device:
        return self._device_action(device_id, "sync")

    def retire_device(self, device_id: str) -> Device:
        return self._device_action(device_id, "retire")

    def wipe_device(self, device_id: str) -> Device:
        return self._device_action(device_id, "wipe")

    def _device_action(self, device_id: str, action: str) -> Device:
        with self._lock:
            key = self._device_id(device_id)
            self._devices[key] = rules.device_action_requested(self._devices[key], action, self._clock())
            return self._devices[key]

    def set_automatic_replies(self, person: PersonRef, message: str | None) -> Mailbox:
        with self._lock:
            owner = self._resolve(person)
            mailbox = next((m for m in self._mailboxes.values() if m.owner == owner.id), None)
            if mailbox is None:
                raise rules.not_found("mailbox", owner.email)
            changed = rules.automatic_replies(mailbox, message)
            self._mailboxes[mailbox.address.lower()] = changed
            return changed

    def clear_print_queue(self, printer: str, job_ids: Iterable[str] | None = None) -> Printer:
        with self._lock:
            key = self._printer_id(printer)
            self._printers[key] = rules.cleared_queue(self._printers[key], job_ids)
            return self._printers[key]

    def set_toner_order(self, printer: str, colour: str) -> Printer:
        with self._lock:
            key = self._printer_id(printer)
            self._printers[key] = rules.toner_ordered(self._printers[key], colour)
            return self._printers[key]

    def set_voicemail_pin_reset(self, extension: str) -> Phone:
        with self._lock:
            key = self._extension(extension)
            self._phones[key] = rules.voicemail_reset(self._phones[key])
            return self._phones[key]

    def set_call_forwarding(self, extension: str, target: str | None, mode: str = "always") -> Phone:
        with self._lock:
            key = self._extension(extension)
            self._phones[key] = rules.forwarded(self._phones[key], target, mode, self._phones)
            return self._phones[key]

    def add_to_distribution_list(self, address: str, person: PersonRef) -> DistributionList:
        with self._lock:
            key = self._list_address(address)
            self._lists[key] = rules.joined(self._lists[key], self._resolve(person))
            return self._lists[key]

    def remove_from_distribution_list(self, address: str, person: PersonRef) -> DistributionList:
        with self._lock:
            key = self._list_address(address)
            self._lists[key] = rules.left(self._lists[key], self._resolve(person))
            return self._lists[key]

    def close(self) -> None:
        """Nothing to release; present for the protocol."""

    # --- lookups behind the lock

    def _resolve(self, person: PersonRef) -> Person:
        return person if isinstance(person, Person) else self.person(person)

    def _account_of(self, person: Person) -> Account:
        account = self._accounts.get(person.id)
        if account is None:
            raise rules.not_found("account", person.id)
        return account

    def _change_account(self, username: str, change: Callable[[Account], Account]) -> Account:
        with self._lock:
            wanted = username.strip().lower()
            account = next((a for a in self._accounts.values() if a.username.lower() == wanted), None)
            if account is None:
                if any((a.admin_account or "").lower() == wanted for a in self._accounts.values()):
                    raise rules.admin_account_refused(username)
                account = self._account_of(self.person(username))
            self._accounts[account.person] = change(account)
            return self._accounts[account.person]

    def _device_id(self, key: str) -> str:
        wanted = key.strip().lower()
        for device in self._devices.values():
            if wanted in (
                device.id.lower(),
                device.hostname.lower(),
                device.serial.lower(),
                (device.asset_tag or "").lower(),
            ):
                return device.id
        raise rules.not_found("device", key)

    def _printer_id(self, name: str) -> str:
        wanted = name.strip().lower()
        for printer in self._printers.values():
            if wanted in (printer.id.lower(), printer.name.lower()):
                return printer.id
        raise rules.not_found("printer", name)

    def _extension(self, extension: str) -> str:
        if extension.strip() not in self._phones:
            raise rules.not_found("extension", extension)
        return extension.strip()

    def _list_address(self, address: str) -> str:
        if address.strip().lower() not in self._lists:
            raise rules.not_found("distribution list", address)
        return address.strip().lower()
