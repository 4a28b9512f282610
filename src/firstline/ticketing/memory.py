"""A complete ticket store in a dict: the reference backend for tests, docs and evals.

Thread-safe (one lock around every operation); everything is lost when the process ends.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from firstline.errors import InputError, TicketNotFoundError
from firstline.ticketing import lifecycle
from firstline.ticketing.models import NewTicket, Ticket, TicketEntry, TicketQuery, TicketUpdate, clean_number

__all__ = ["InMemoryTicketing"]


class InMemoryTicketing:
    """A :class:`~firstline.ticketing.backend.TicketingBackend` that keeps tickets in memory.

    ``clock`` returns the current time (aware UTC); pass a fake one to test SLA arithmetic.
    """

    def __init__(self, *, clock: Callable[[], datetime] = lifecycle.utc_now) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._tickets: dict[str, Ticket] = {}
        self._entries: dict[str, list[TicketEntry]] = {}
        self._by_correlation: dict[str, str] = {}
        self._sequence = 0

    def create(self, new: NewTicket) -> Ticket:
        with self._lock:
            if new.correlation_id is not None and new.correlation_id in self._by_correlation:
                return self._tickets[self._by_correlation[new.correlation_id]]
            self._sequence += 1
            number = lifecycle.format_number(self._sequence)
            ticket = lifecycle.open_ticket(new, number, uuid.uuid4().hex, self._clock())
            self._tickets[number] = ticket
            self._entries[number] = []
            if new.correlation_id is not None:
                self._by_correlation[new.correlation_id] = number
            return ticket

    def get(self, number: str) -> Ticket:
        with self._lock:
            return self._get(number)

    def search(self, query: TicketQuery) -> list[Ticket]:
        with self._lock:
            found = [t for t in reversed(self._tickets.values()) if query.matches(t)]
        return found[query.offset : query.offset + query.limit]

    def update(self, number: str, update: TicketUpdate, author: str) -> Ticket:
        with self._lock:
            return self._save(lifecycle.apply_update(self._get(number), update, author, self._clock())).ticket

    def comment(self, number: str, body: str, author: str, internal: bool = False) -> TicketEntry:
        with self._lock:
            change = lifecycle.add_comment(self._get(number), body, author, internal, self._clock())
            return self._save(change).entries[-1]

    def escalate(self, number: str, group: str, summary: str, author: str) -> Ticket:
        with self._lock:
            change = lifecycle.apply_escalation(self._get(number), group, summary, author, self._clock())
            return self._save(change).ticket

    def add_transcript(self, number: str, lines: Sequence[tuple[str, str]]) -> list[TicketEntry]:
        with self._lock:
            return list(self._save(lifecycle.add_transcript(self._get(number), lines, self._clock())).entries)

    def history(self, number: str, *, public_only: bool = False) -> list[TicketEntry]:
        with self._lock:
            self._get(number)
            return [e for e in self._entries[number] if e.public or not public_only]

    def link_to_parent(self, child_number: str, parent_number: str | None, author: str) -> Ticket:
        with self._lock:
            child = self._get(child_number)
            parent = self._get(parent_number) if parent_number is not None else None
            has_children = any(t.parent_number == child.number for t in self._tickets.values())
            return self._save(lifecycle.apply_link(child, parent, has_children, author, self._clock())).ticket

    def unlink(self, child_number: str, author: str) -> Ticket:
        with self._lock:
            child = self._get(child_number)
            if child.parent_number is None:
                raise InputError(f"{child.number} is not linked to a major incident; there is nothing to unlink.")
            unlinked, noted = lifecycle.apply_unlink(child, self._get(child.parent_number), author, self._clock())
            self._save(noted)
            return self._save(unlinked).ticket

    def merge(self, duplicate_number: str, into: str, author: str) -> Ticket:
        with self._lock:
            duplicate, survivor = self._get(duplicate_number), self._get(into)
            children = [t for t in self._tickets.values() if t.parent_number == duplicate.number]
            merged, kept = lifecycle.apply_merge(duplicate, survivor, bool(children), author, self._clock())
            survivor = self._save(kept).ticket
            for child in sorted(children, key=lambda t: t.number):
                if child.number != survivor.number and not child.state.is_final:
                    self._save(lifecycle.apply_link(child, survivor, False, author, self._clock()))
            return self._save(merged).ticket

    def vendor_number(self, number: str) -> str | None:
        """Tickets live here: there is no vendor number."""
        return None

    def close(self) -> None:
        """Nothing to release; present for the protocol."""

    def _get(self, number: str) -> Ticket:
        ticket = self._tickets.get(clean_number(number))
        if ticket is None:
            raise TicketNotFoundError(number)
        return ticket

    def _save(self, change: lifecycle.Change) -> lifecycle.Change:
        self._tickets[change.ticket.number] = change.ticket
        self._entries[change.ticket.number].extend(change.entries)
        return change
