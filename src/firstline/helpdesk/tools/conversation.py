"""Tools every specialist has for the conversation's own ticket: hand it to a person, or resolve it.

Both act only on the ticket of this conversation (``RunContext.ticket_number``), never on one the
model names, so they are safe to run without a verified identity: handing over to a human and
recording that a problem is gone change nothing in anyone's account.
"""

from __future__ import annotations

from firstline.agents import RunContext, Tool, tool
from firstline.errors import InvalidTransitionError, TicketNotFoundError, ToolFailed
from firstline.helpdesk.tools.deps import conversation_ticket, deps_of
from firstline.ticketing import TicketState, TicketUpdate

__all__ = ["CONVERSATION_TOOLS"]


@tool
def escalate_to_human(ctx: RunContext, summary: str) -> str:
    """Hand the problem to a person (Tier 2) with a summary they can act on.

    Use it when Tier-1 cannot fix the problem, a tool failed, or the user asks for a person.

    Args:
        summary: what is wrong and what was tried.
    """
    ticket = conversation_ticket(ctx)
    if ticket.requester != (ctx.requester or "").lower():
        return f"This is part of the known incident {ticket.number}, and its team already has it."
    group = str(ctx.briefing.get("tier2_group") or ticket.assignment_group or "Service Desk")
    try:
        escalated = deps_of(ctx).tickets.escalate(ticket.number, group, summary, author="firstline")
    except InvalidTransitionError as exc:
        raise ToolFailed(f"{ticket.number} is {ticket.state.value} and cannot be handed over: {exc}") from exc
    return f"{escalated.number} is with {group} now; they'll contact you within the ticket's response time."


@tool
def mark_resolved(ctx: RunContext, note: str) -> str:
    """Record that the problem is fixed (the user confirmed, or the fix was applied).

    Args:
        note: what fixed it.
    """
    number = ctx.ticket_number
    if number is None:
        return "There is no ticket for this conversation; nothing to resolve."
    try:
        ticket = deps_of(ctx).tickets.get(number)
    except TicketNotFoundError as exc:
        raise ToolFailed(f"the conversation's ticket {number} is missing") from exc
    if ticket.requester != (ctx.requester or "").lower():
        return f"{ticket.number} is a known incident that its team resolves; you're linked to it."
    if ticket.state in (TicketState.RESOLVED, TicketState.CLOSED, TicketState.CANCELED):
        return f"{ticket.number} is already {ticket.state.value}."
    try:
        deps_of(ctx).tickets.update(
            ticket.number, TicketUpdate(state=TicketState.RESOLVED, resolution_note=note), author="firstline"
        )
    except InvalidTransitionError as exc:
        raise ToolFailed(f"{ticket.number} cannot be resolved from {ticket.state.value}: {exc}") from exc
    return f"{ticket.number} is resolved."


CONVERSATION_TOOLS: tuple[Tool, ...] = (escalate_to_human, mark_resolved)
