"""The agent console's ticket queue: sorting, filters on the names people see, and who is who.

The ticket stores (:class:`~firstline.ticketing.TicketingBackend`) filter on exact stored values and
return the newest tickets first. The queue asks for more than that:

* **sorting** by priority, last update, creation, SLA due time, state or number, from an allow-list
  (:data:`SORTS`), each with the order an agent expects by default (most urgent, newest, soonest due);
* **filters on the names shown**: the specialist ``Network`` is stored as ``network``, the group
  ``service desk`` as ``Service Desk``: both match case-insensitively on the stored value or its
  display name (:data:`SPECIALIST_NAMES`);
* **text search on the requester** too: their e-mail address and their name, as the directory or the
  sign-in accounts know it.

When a request needs any of these, :func:`scan` pages through the store's matches for the filters it
can apply (requester, state, priority) and applies the rest here, up to :data:`SCAN_LIMIT` tickets;
a plain newest-first page still goes straight to the store. :class:`Names` turns e-mail addresses into
the names the console shows (accounts first, then the directory), once per request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from firstline.errors import FirstlineError
from firstline.runtime import Runtime
from firstline.ticketing import Ticket, TicketQuery, TicketState
from firstline.ticketing.models import MAX_SEARCH_LIMIT

__all__ = [
    "SCAN_LIMIT",
    "SORTS",
    "SPECIALIST_NAMES",
    "Names",
    "QueueFilter",
    "Sort",
    "default_order",
    "scan",
    "sort_tickets",
    "specialist_name",
]

Sort = Literal["priority", "updated", "created", "due", "state", "number"]
SORTS: tuple[Sort, ...] = ("priority", "updated", "created", "due", "state", "number")
SCAN_LIMIT = 20 * MAX_SEARCH_LIMIT  # the most tickets one filtered or sorted page looks at

# The names the console shows for the specialists (kept in step with AGENT_NAMES in static/common.js).
SPECIALIST_NAMES = {
    "security": "Security",
    "device": "Devices",
    "network": "Network",
    "access": "Access",
    "hardware": "Hardware",
    "software": "Software",
    "email": "E-mail",
    "mailbox": "E-mail",
    "triage": "Triage",
}
_STATE_ORDER = {state: i for i, state in enumerate(TicketState)}


def specialist_name(specialist: str) -> str:
    """The name an agent sees for a specialist: ``network`` -> ``Network``, ``it_ops`` -> ``It ops``."""
    if not specialist:
        return ""
    known = SPECIALIST_NAMES.get(specialist)
    return known or (specialist[:1].upper() + specialist[1:]).replace("_", " ")


def default_order(sort: Sort) -> Literal["asc", "desc"]:
    """Most urgent, most recent or soonest first: priority 1, due soonest and state ``new`` ascend."""
    return "desc" if sort in ("updated", "created", "number") else "asc"


def _sort_key(sort: Sort) -> Callable[[Ticket], Any]:
    keys: dict[Sort, Callable[[Ticket], Any]] = {
        "priority": lambda t: int(t.priority),
        "updated": lambda t: t.updated_at,
        "created": lambda t: t.opened_at,
        "due": lambda t: t.due_at,
        "state": lambda t: _STATE_ORDER.get(t.state, 99),
        "number": lambda t: t.number,
    }
    return keys[sort]


def sort_tickets(tickets: list[Ticket], sort: Sort, order: Literal["asc", "desc"]) -> list[Ticket]:
    """``tickets`` by ``sort``; ties keep the store's newest-first order (a stable sort)."""
    return sorted(tickets, key=_sort_key(sort), reverse=order == "desc")


class Names:
    """E-mail address -> the person's name (sign-in account, else directory); "" when nobody knows it."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._cache: dict[str, str] = {}

    def of(self, email: str | None) -> str:
        key = (email or "").strip().lower()
        if not key:
            return ""
        if key not in self._cache:
            self._cache[key] = self._lookup(key)
        return self._cache[key]

    def _lookup(self, email: str) -> str:
        try:
            account = self._runtime.accounts.find(email)
            if account is not None and account.name:
                return account.name
            return self._runtime.directory.person(email).name
        except FirstlineError:  # unknown person, or a directory that does not answer: show the address
            return ""

    def matching(self, text: str) -> set[str]:
        """E-mail addresses of the people whose name or address contains ``text`` (case-insensitive)."""
        needle = text.strip().lower()
        found: set[str] = set()
        try:
            for person in self._runtime.directory.find_people(needle):
                if needle in person.name.lower() or needle in person.email.lower():
                    found.add(person.email.lower())
        except FirstlineError:
            pass  # the accounts below still match
        for account in self._runtime.accounts.all():
            if needle in account.name.lower() or needle in account.email.lower():
                found.add(account.email.lower())
        return found


def _folded(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """The filters the store cannot apply: case-insensitive names, text that may be the requester, SLA."""

    specialist: str | None = None
    group: str | None = None
    text: str | None = None
    requesters: frozenset[str] = frozenset()  # whose name matches ``text``
    sla: Callable[[Ticket], bool] | None = None

    @property
    def active(self) -> bool:
        return bool(self.specialist or self.group or self.text or self.sla)

    def matches(self, ticket: Ticket) -> bool:
        if self.specialist:
            needle = _folded(self.specialist)
            names = (_folded(ticket.specialist), _folded(specialist_name(ticket.specialist)))
            if not any(needle in name for name in names if name):
                return False
        if self.group and _folded(self.group) not in _folded(ticket.assignment_group):
            return False
        if self.text:
            needle = self.text.lower()
            fields = (ticket.number, ticket.short_description, ticket.description, ticket.requester)
            if not any(needle in field.lower() for field in fields) and ticket.requester not in self.requesters:
                return False
        return self.sla is None or self.sla(ticket)


def scan(
    search: Callable[[TicketQuery], list[Ticket]], common: dict[str, Any], keep: QueueFilter
) -> tuple[list[Ticket], bool]:
    """Every ticket the store matches for ``common`` that ``keep`` keeps, newest first, looking at up to
    :data:`SCAN_LIMIT` tickets; the flag says whether the limit cut the scan short."""
    matched: list[Ticket] = []
    scanned = 0
    while True:
        batch = search(TicketQuery(**common, limit=MAX_SEARCH_LIMIT, offset=scanned))
        matched += [t for t in batch if keep.matches(t)]
        scanned += len(batch)
        if len(batch) < MAX_SEARCH_LIMIT:
            return matched, False
        if scanned >= SCAN_LIMIT:
            return matched, True
