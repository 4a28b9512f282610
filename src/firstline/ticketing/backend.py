"""The seam every ticket store implements: :class:`TicketingBackend`.

Implementations: :class:`~firstline.ticketing.memory.InMemoryTicketing` (tests, docs, evals) and
:class:`~firstline.ticketing.sql.SqlTicketing` (the built-in store on SQLite or PostgreSQL). Each one
passes :class:`firstline.testing.ticketing.TicketingContract`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from firstline.ticketing.models import NewTicket, Ticket, TicketEntry, TicketQuery, TicketUpdate

__all__ = ["TicketingBackend"]


@runtime_checkable
class TicketingBackend(Protocol):
    """Create, read, change and search tickets; every change leaves history entries.

    Errors: unknown numbers raise :class:`~firstline.errors.TicketNotFoundError`, forbidden state
    changes :class:`~firstline.errors.InvalidTransitionError`, unusable input
    :class:`~firstline.errors.InputError`, and an unreachable store
    :class:`~firstline.errors.BackendUnavailableError`.
    """

    def create(self, new: NewTicket) -> Ticket:
        """Open a ticket. The same ``new.correlation_id`` returns the existing ticket, never a second one."""
        ...

    def get(self, number: str) -> Ticket:
        """The ticket with this number, e.g. ``"INC0001234"``."""
        ...

    def search(self, query: TicketQuery) -> list[Ticket]:
        """Tickets matching every filter in ``query``, newest first, paged by ``limit`` and ``offset``."""
        ...

    def update(self, number: str, update: TicketUpdate, author: str) -> Ticket:
        """Apply a partial update, recording one field_change / state_change entry per changed field."""
        ...

    def comment(self, number: str, body: str, author: str, internal: bool = False) -> TicketEntry:
        """Add a comment the requester sees, or with ``internal=True`` a work note only agents see."""
        ...

    def escalate(self, number: str, group: str, summary: str, author: str) -> Ticket:
        """Assign the ticket to ``group`` with a hand-over ``summary``; a ``new`` ticket becomes ``in_progress``."""
        ...

    def add_transcript(self, number: str, lines: Sequence[tuple[str, str]]) -> list[TicketEntry]:
        """Attach conversation lines, ``(author, text)`` pairs oldest first, as internal transcript entries."""
        ...

    def history(self, number: str, *, public_only: bool = False) -> list[TicketEntry]:
        """Every entry, oldest first; with ``public_only`` just what the requester may see."""
        ...

    def link_to_parent(self, child_number: str, parent_number: str | None, author: str) -> Ticket:
        """Make ``child_number`` a child of the major incident ``parent_number`` (``None`` unlinks)."""
        ...

    def unlink(self, child_number: str, author: str) -> Ticket:
        """Take ``child_number`` out of its major incident: its history names ``author``, the parent gets a work
        note. :class:`~firstline.errors.InputError` when it is not linked to one."""
        ...

    def merge(self, duplicate_number: str, into: str, author: str) -> Ticket:
        """Close ``duplicate_number`` as a duplicate of ``into`` and return it (see
        :func:`~firstline.ticketing.lifecycle.apply_merge`); its open children move to ``into``, all in one
        transaction. :class:`~firstline.errors.InputError` for a merge into itself or into a closed ticket."""
        ...

    def vendor_number(self, number: str) -> str | None:
        """The ticket's number in the vendor system IT staff work in (``None`` when tickets live here, or it is
        not filed there yet), so the employee can be told both."""
        ...

    def close(self) -> None:
        """Release connections; calling it twice is harmless."""
        ...
