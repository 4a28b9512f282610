"""Tickets: Firstline's own ticket model, the :class:`TicketingBackend` seam and the built-in stores.

Open a ticket, change it and read its history::

    from firstline.ticketing import InMemoryTicketing, NewTicket, TicketState, TicketUpdate, Urgency

    tickets = InMemoryTicketing()  # or SqlTicketing("sqlite:///tickets.db")
    ticket = tickets.create(
        NewTicket(requester="alice@example.com", short_description="VPN drops every 5 minutes",
                  urgency=Urgency.HIGH, correlation_id="conversation-42")
    )
    tickets.comment(ticket.number, "Reinstalled the VPN client; please try again.", author="firstline")
    tickets.update(ticket.number, TicketUpdate(state=TicketState.RESOLVED, resolution_note="Client reinstalled"),
                   author="firstline")
    tickets.history(ticket.number, public_only=True)  # what the requester sees

Every backend passes :class:`firstline.testing.ticketing.TicketingContract`.
"""

from __future__ import annotations

from firstline.ticketing.backend import TicketingBackend
from firstline.ticketing.memory import InMemoryTicketing
from firstline.ticketing.models import (
    ALLOWED_TRANSITIONS,
    EntryKind,
    NewTicket,
    Ticket,
    TicketEntry,
    TicketQuery,
    TicketState,
    TicketUpdate,
)
from firstline.ticketing.sla import (
    SLA_TARGETS,
    Impact,
    Priority,
    SlaTarget,
    Urgency,
    due_at,
    priority_for,
    respond_by,
)
from firstline.ticketing.sql import SqlTicketing

__all__ = [
    "ALLOWED_TRANSITIONS",
    "SLA_TARGETS",
    "EntryKind",
    "Impact",
    "InMemoryTicketing",
    "NewTicket",
    "Priority",
    "SlaTarget",
    "SqlTicketing",
    "Ticket",
    "TicketEntry",
    "TicketQuery",
    "TicketState",
    "TicketUpdate",
    "TicketingBackend",
    "Urgency",
    "due_at",
    "priority_for",
    "respond_by",
]
