"""The seam to a vendor's service desk: :class:`TicketConnector`, and the snapshots it returns.

Firstline keeps every ticket in its own store first (the *mirror*, see
:mod:`firstline.ticketing.synced`): its number, history and lifecycle rules are Firstline's, the
same on every backend. A connector carries those tickets to the system IT staff work in
(ServiceNow, Jira Service Management, ConnectWise PSA, a legacy web form) and reads back what
staff changed there. It speaks in Firstline's vocabulary only: vendor JSON, state codes and ids
never leave the connector.

Rules every connector keeps (checked by :class:`firstline.testing.connectors.ConnectorContract`):

- ``create`` is idempotent by ``ticket.number`` (Firstline's number, stored in the vendor's
  correlation / external-reference field): it looks the number up before it posts, so a retried
  create after a crash or a timeout never makes a second vendor ticket.
- Errors are Firstline's: 401 -> :class:`~firstline.errors.AuthenticationError` and 403 ->
  :class:`~firstline.errors.PermissionDeniedError` (both name the credential or role to fix, for an
  admin), 404 -> :class:`~firstline.errors.TicketNotFoundError`, 400/422 ->
  :class:`~firstline.errors.InputError` with the vendor's own words, and 429 / 5xx / unreachable
  after the retries -> :class:`~firstline.errors.BackendUnavailableError` (the outbox keeps the
  change for later).
- Unknown fields in vendor answers are ignored; a missing required one is a
  :class:`~firstline.errors.BackendResponseError` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from firstline.ticketing.models import Ticket, TicketState
from firstline.ticketing.sla import Impact, Priority, Urgency

__all__ = ["Check", "FieldMap", "RemoteChange", "RemoteComment", "RemoteRef", "RemoteTicket", "TicketConnector"]


@dataclass(frozen=True, slots=True)
class RemoteRef:
    """Where a ticket lives in the vendor system.

    ``key`` is the vendor's stable id (a ServiceNow ``sys_id``, a Jira issue id, a ConnectWise ticket
    id); ``number`` is what people there read (``INC0010023``, ``HELP-42``, ``1234``); ``url`` opens
    it in the vendor's UI.
    """

    system: str
    key: str
    number: str
    url: str = ""


@dataclass(frozen=True, slots=True)
class RemoteTicket:
    """A ticket as the vendor holds it now, in Firstline's terms.

    ``firstline_number`` is the Firstline number stored in the vendor's correlation field (``None``
    for tickets staff opened there themselves). ``priority`` is the one the vendor computed or set.
    """

    ref: RemoteRef
    firstline_number: str | None
    short_description: str
    description: str
    requester: str
    state: TicketState
    impact: Impact
    urgency: Urgency
    priority: Priority
    assignment_group: str
    assigned_to: str
    resolution_note: str
    updated_at: datetime
    parent_number: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteComment:
    """One comment (``public``) or work note on a vendor ticket; ``ours`` when Firstline wrote it."""

    id: str
    author: str
    body: str
    public: bool
    created_at: datetime
    ours: bool = False


@dataclass(frozen=True, slots=True)
class RemoteChange:
    """Fields to change on a vendor ticket; ``None`` leaves a field alone.

    ``state`` moves the ticket through the vendor's workflow (a ServiceNow state code, a Jira
    transition by name, a ConnectWise status); a move to ``resolved`` carries ``resolution_note``
    (and the connector's configured close code). ``parent`` is the parent's *vendor* number, or
    ``""`` to unlink.
    """

    state: TicketState | None = None
    resolution_note: str | None = None
    short_description: str | None = None
    description: str | None = None
    category: str | None = None
    impact: Impact | None = None
    urgency: Urgency | None = None
    assignment_group: str | None = None
    assigned_to: str | None = None
    parent: str | None = None

    def fields(self) -> dict[str, object]:
        """The fields this change sets, in declaration order."""
        return {name: value for name in self.__slots__ if (value := getattr(self, name)) is not None}


@dataclass(frozen=True, slots=True)
class Check:
    """One line of ``firstline tickets check``: what was tried, whether it worked, and what to do if not."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FieldMap:
    """Firstline's values to the vendor's, from ``[ticketing.<vendor>.map]`` in ``firstline.toml``.

    ``groups`` and ``categories`` map Firstline names ("Network Operations", "network") to the
    vendor's; ``priorities`` map Firstline priorities ("1" .. "5") to vendor priority names or ids;
    ``states`` map Firstline states ("resolved") to a vendor state code, Jira transition name or
    ConnectWise status name. A value without an entry is sent as it is; reading back, a vendor value
    that no entry produces is kept as the vendor wrote it.
    """

    groups: Mapping[str, str] = field(default_factory=dict)
    categories: Mapping[str, str] = field(default_factory=dict)
    priorities: Mapping[str, str] = field(default_factory=dict)
    states: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def out(table: Mapping[str, str], value: str) -> str:
        """``value`` in the vendor's terms (unchanged when unmapped)."""
        return table.get(value, value)

    @staticmethod
    def back(table: Mapping[str, str], vendor_value: str) -> str:
        """The Firstline value that maps to ``vendor_value`` (case-insensitive), else ``vendor_value``."""
        folded = vendor_value.casefold()
        return next((ours for ours, theirs in table.items() if theirs.casefold() == folded), vendor_value)


@runtime_checkable
class TicketConnector(Protocol):
    """Reads and writes tickets in one vendor system. Thread-safe; every call is synchronous."""

    system: str
    """Short lower-case name used in settings, metrics and ticket references: ``"servicenow"``."""

    def find(self, firstline_number: str) -> RemoteTicket | None:
        """The vendor ticket carrying this Firstline number, or ``None``."""
        ...

    def create(self, ticket: Ticket) -> RemoteTicket:
        """Open ``ticket`` in the vendor system, or return the one already carrying ``ticket.number``."""
        ...

    def get(self, number: str) -> RemoteTicket:
        """The vendor ticket with this vendor number (:class:`~firstline.errors.TicketNotFoundError`)."""
        ...

    def update(self, ref: RemoteRef, change: RemoteChange) -> RemoteTicket:
        """Apply ``change``; a state already reached is not moved again (a retried change is harmless)."""
        ...

    def comment(self, ref: RemoteRef, body: str, *, public: bool) -> RemoteComment:
        """Add a comment the requester sees (``public``) or an internal work note."""
        ...

    def comments(self, ref: RemoteRef) -> list[RemoteComment]:
        """Every comment and work note on the ticket, oldest first."""
        ...

    def changed_since(self, since: datetime, *, limit: int = 200) -> list[RemoteTicket]:
        """Tickets updated after ``since``, oldest change first, following the vendor's pagination."""
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[str]:
        """Verify a webhook call (signature or shared secret) and return the vendor numbers it says changed.

        :class:`~firstline.errors.AuthenticationError` when the signature or secret does not match;
        the payload's contents beyond "this ticket changed" are not trusted: callers fetch the ticket.
        """
        ...

    def check(self) -> Sequence[Check]:
        """Try the connection, the credentials and each permission Firstline needs; never raises."""
        ...

    def close(self) -> None:
        """Release connections; calling it twice is harmless."""
        ...
