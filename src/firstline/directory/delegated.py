"""The part of a vendor backend that hands what the vendor does not hold to another directory.

LDAP, Active Directory and Okta hold people and their accounts; Microsoft Graph adds devices and
mail. :class:`Delegating` gives such a backend the rest of
:class:`~firstline.directory.backend.DirectoryBackend` by forwarding each call to ``others`` (usually
the seeded SQL directory), passing the :class:`Person` the backend found itself, so both stores agree
on who is meant; a backend overrides what it holds. Without ``others`` those calls raise a
:class:`~firstline.errors.ConfigError` that says what to configure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from firstline.directory.backend import DirectoryBackend, PersonRef
from firstline.directory.models import (
    Device,
    DistributionList,
    KnownIncident,
    Mailbox,
    Person,
    Phone,
    Printer,
    SharedMailbox,
)
from firstline.errors import ConfigError

__all__ = ["Delegating"]


class Delegating:
    """Forwards devices, printers, phones, mail and incidents to ``others``; subclasses provide ``person`` and
    override what their vendor holds."""

    others: DirectoryBackend | None
    system = "This directory"  # named in the error when ``others`` is missing
    holds = "only people and accounts"

    if TYPE_CHECKING:  # every subclass defines it; declared here for the forwarding below

        def person(self, key: str) -> Person: ...

    @property
    def _delegate(self) -> DirectoryBackend:
        if self.others is None:
            raise ConfigError(
                f"{self.system} holds {self.holds}; the rest (printers, phones, incidents, and devices and mailboxes "
                "where it keeps none) comes from the built-in directory. Set `directory.database_url` (and seed it) "
                f"so Firstline can pass it to {type(self).__name__} as `others`."
            )
        return self.others

    def _person(self, person: PersonRef) -> Person:
        return person if isinstance(person, Person) else self.person(person)

    def devices_of(self, person: PersonRef) -> list[Device]:
        return self._delegate.devices_of(self._person(person))

    def device(self, key: str) -> Device:
        return self._delegate.device(key)

    def printer(self, name: str) -> Printer:
        return self._delegate.printer(name)

    def printers(self, location: str | None = None, floor: int | None = None) -> list[Printer]:
        return self._delegate.printers(location, floor)

    def phone(self, extension: str) -> Phone:
        return self._delegate.phone(extension)

    def phone_of(self, person: PersonRef) -> Phone | None:
        return self._delegate.phone_of(self._person(person))

    def mailbox(self, address: str) -> Mailbox | SharedMailbox:
        return self._delegate.mailbox(address)

    def mailbox_of(self, person: PersonRef) -> Mailbox | None:
        return self._delegate.mailbox_of(self._person(person))

    def distribution_list(self, address: str) -> DistributionList:
        return self._delegate.distribution_list(address)

    def incidents(self, active_only: bool = True) -> list[KnownIncident]:
        return self._delegate.incidents(active_only)

    def set_device_status(self, device_id: str, status: str) -> Device:
        return self._delegate.set_device_status(device_id, status)

    def remote_lock(self, device_id: str) -> Device:
        return self._delegate.remote_lock(device_id)

    def sync_device(self, device_id: str) -> Device:
        return self._delegate.sync_device(device_id)

    def retire_device(self, device_id: str) -> Device:
        return self._delegate.retire_device(device_id)

    def wipe_device(self, device_id: str) -> Device:
        return self._delegate.wipe_device(device_id)

    def clear_print_queue(self, printer: str, job_ids: Iterable[str] | None = None) -> Printer:
        return self._delegate.clear_print_queue(printer, job_ids)

    def set_toner_order(self, printer: str, colour: str) -> Printer:
        return self._delegate.set_toner_order(printer, colour)

    def set_voicemail_pin_reset(self, extension: str) -> Phone:
        return self._delegate.set_voicemail_pin_reset(extension)

    def set_call_forwarding(self, extension: str, target: str | None, mode: str = "always") -> Phone:
        return self._delegate.set_call_forwarding(extension, target, mode)

    def set_automatic_replies(self, person: PersonRef, message: str | None) -> Mailbox:
        return self._delegate.set_automatic_replies(self._person(person), message)

    def add_to_distribution_list(self, address: str, person: PersonRef) -> DistributionList:
        return self._delegate.add_to_distribution_list(address, self._person(person))

    def remove_from_distribution_list(self, address: str, person: PersonRef) -> DistributionList:
        return self._delegate.remove_from_distribution_list(address, self._person(person))

    def close(self) -> None:
        """Close ``others``; harmless to call twice."""
        if self.others is not None:
            self.others.close()
