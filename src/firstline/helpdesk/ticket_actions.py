"""What a person may do to a ticket — close it, escalate it — decided once, for the chat tools and the HTTP routes.

The ticket specialist's tools (:mod:`firstline.helpdesk.tools.ticket`) and the routes
(``POST /v1/tickets/{number}/close`` and ``/escalate``) both call :class:`TicketActions`, over whatever
:class:`~firstline.ticketing.TicketingBackend` is configured, so "close" and "escalate" mean the same
whichever way a person asks:

- **close**: the problem is gone. An open ticket is resolved with the note, then closed; a resolved
  one is closed; a closed or cancelled one is a :class:`~firstline.errors.ConflictError`.
- **escalate**: an open ticket (new, in progress, on hold) goes to a group with the summary. IT staff
  may name the group; anyone else's escalation goes to the ticket's own group (the Service Desk when
  it has none). A resolved or final ticket is a :class:`~firstline.errors.ConflictError`: open a new one.

Who may act on which ticket (their own, or any for IT staff) is checked by the caller, which knows how
the person signed in.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from firstline.errors import ConflictError
from firstline.ticketing import Ticket, TicketingBackend, TicketState, TicketUpdate

__all__ = ["SERVICE_DESK", "TicketActions"]

SERVICE_DESK = "Service Desk"


class TicketActions:
    """Close and escalate over ``tickets``; ``unit_of_work`` makes a two-step change (resolve, close) one."""

    def __init__(
        self,
        tickets: TicketingBackend,
        unit_of_work: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> None:
        self.tickets = tickets
        self.unit_of_work = unit_of_work

    def close(self, ticket: Ticket, note: str, author: str) -> Ticket:
        """Resolve ``ticket`` with ``note`` (when still open) and close it."""
        if ticket.state.is_final:
            raise ConflictError(f"{ticket.number} is already {ticket.state.value}.")
        with self.unit_of_work():
            if ticket.state.is_open:
                update = TicketUpdate(state=TicketState.RESOLVED, resolution_note=note)
                ticket = self.tickets.update(ticket.number, update, author=author)
            return self.tickets.update(ticket.number, TicketUpdate(state=TicketState.CLOSED), author=author)

    def escalate(
        self, ticket: Ticket, summary: str, author: str, *, group: str | None = None, staff: bool = False
    ) -> Ticket:
        """Hand ``ticket`` over with ``summary``: to ``group`` when IT ``staff`` name one, else to its own group."""
        if not ticket.state.is_open:
            raise ConflictError(f"{ticket.number} is {ticket.state.value}: open a new request instead.")
        chosen = (group or "").strip() if staff else ""
        return self.tickets.escalate(ticket.number, chosen or ticket.assignment_group or SERVICE_DESK, summary, author)
