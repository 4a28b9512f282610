"""Ticket specialist tools: status, notes, close, escalate — on the requester's own tickets only.

Reading or changing another person's ticket is refused whatever the message says; the agent
console (for IT staff) is where others' tickets are handled.
"""

from __future__ import annotations

from typing import Any

from firstline.agents import RunContext, Tool, tool
from firstline.errors import ConflictError, InvalidTransitionError, TicketNotFoundError, ToolFailed
from firstline.helpdesk.ticket_actions import TicketActions
from firstline.helpdesk.tools.deps import deps_of
from firstline.ticketing import Ticket, TicketQuery, TicketState

__all__ = ["TICKET_TOOLS"]


def _own(ctx: RunContext, number: str) -> Ticket:
    if not ctx.requester:
        raise ToolFailed(
            "I don't know who you are yet: what's your work e-mail address?",
            guidance="ask for the requester's work e-mail address first",
        )
    try:
        ticket = deps_of(ctx).tickets.get(number.strip().upper())
    except TicketNotFoundError as exc:
        raise ToolFailed(
            f"I can't find a ticket {number}. Could you check the number (e.g. INC0012345)?",
            guidance="ask the user to check the number",
        ) from exc
    if ticket.requester.lower() != ctx.requester.lower():
        raise ToolFailed(
            f"{ticket.number} was raised by someone else, and I can only discuss your own tickets (their "
            "manager or the service desk can help with others)"
        )
    return ticket


def _summary(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "state": ticket.state.value,
        "priority": int(ticket.priority),
        "short_description": ticket.short_description,
        "specialist": ticket.specialist,
        "intent": ticket.intent,
        "assignment_group": ticket.assignment_group,
        "opened_at": ticket.opened_at.isoformat(),
        "due_at": ticket.due_at.isoformat(),
    }


@tool
def ticket_status(ctx: RunContext, number: str) -> dict[str, Any]:
    """Show the state, priority, team and latest public updates of one of the requester's tickets.

    Args:
        number: the ticket number, e.g. "INC0012345".
    """
    ticket = _own(ctx, number)
    tickets = deps_of(ctx).tickets
    updates = tickets.history(ticket.number, public_only=True)[-3:]
    vendor = tickets.vendor_number(ticket.number)
    return {
        **_summary(ticket),
        "vendor_number": vendor,
        "latest_updates": [f"{e.created_at:%d %b %H:%M} {e.body}" for e in updates],
    }


@tool
def my_open_tickets(ctx: RunContext) -> list[dict[str, Any]]:
    """List the requester's open tickets (newest first, at most 10)."""
    if not ctx.requester:
        raise ToolFailed(
            "I don't know who you are yet: what's your work e-mail address?",
            guidance="ask for the requester's work e-mail address first",
        )
    states = [TicketState.NEW, TicketState.IN_PROGRESS, TicketState.ON_HOLD]
    found = deps_of(ctx).tickets.search(TicketQuery(requester=ctx.requester, state=states, limit=10))
    return [_summary(t) for t in found]


@tool(risk="write")
def add_ticket_note(ctx: RunContext, number: str, note: str) -> str:
    """Add the requester's information to their ticket as a comment the support team sees.

    Args:
        number: the ticket number, e.g. "INC0012345".
        note: the text to add, in the user's words.
    """
    ticket = _own(ctx, number)
    try:
        deps_of(ctx).tickets.comment(ticket.number, note, author=ctx.requester or "requester")
    except InvalidTransitionError as exc:
        raise ToolFailed(
            f"{ticket.number} is {ticket.state.value} and takes no more notes; I can open a new ticket instead"
        ) from exc
    return f"Added to {ticket.number}."


@tool(risk="write")
def close_ticket(ctx: RunContext, number: str, reason: str) -> str:
    """Resolve one of the requester's tickets because the problem is gone.

    Args:
        number: the ticket number, e.g. "INC0012345".
        reason: why it can be closed, e.g. "printer works again after restart".
    """
    ticket = _own(ctx, number)
    if ticket.state.is_final:
        return f"{ticket.number} is already {ticket.state.value}; nothing to do."
    try:
        TicketActions(deps_of(ctx).tickets).close(ticket, f"Closed by the requester: {reason}", ctx.requester or "")
    except (ConflictError, InvalidTransitionError) as exc:
        raise ToolFailed(f"{ticket.number} cannot be closed from {ticket.state.value}: {exc}") from exc
    return f"{ticket.number} is closed. If the problem comes back, tell me and I'll open a new ticket."


@tool(risk="write")
def escalate_ticket(ctx: RunContext, number: str, summary: str) -> str:
    """Hand one of the requester's tickets to the Tier-2 team of its area, with a summary a human can act on.

    Args:
        number: the ticket number, e.g. "INC0012345".
        summary: what was tried, what the user sees, and why Tier-1 cannot fix it.
    """
    ticket = _own(ctx, number)
    try:
        escalated = TicketActions(deps_of(ctx).tickets).escalate(ticket, summary, author="firstline")
    except (ConflictError, InvalidTransitionError) as exc:
        raise ToolFailed(f"{ticket.number} cannot be escalated: {exc}") from exc
    return f"{ticket.number} is escalated to {escalated.assignment_group}."


TICKET_TOOLS: tuple[Tool, ...] = (ticket_status, my_open_tickets, add_ticket_note, close_ticket, escalate_ticket)
