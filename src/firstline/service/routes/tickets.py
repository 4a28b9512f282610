"""Tickets (list, search, get, comment, close, escalate; agents: assign, unlink, merge, counts), and the
approvals router (:mod:`firstline.service.routes.approvals`) mounted beside them.

The queue's sorting, its filters on the names agents see and the requester search live in
:mod:`firstline.service.routes.queue`. Every change made here is stored first, then told: the requester
in their conversation (:func:`~firstline.helpdesk.staff_updates.tell_requester`, in the same unit of
work as the change) and the open consoles through the hub (``hub.ticket_changed`` -> ``event: ticket``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from firstline.errors import InputError, PermissionDeniedError, TicketNotFoundError
from firstline.helpdesk.reply import ticket_card
from firstline.helpdesk.staff_updates import tell_requester
from firstline.helpdesk.ticket_actions import TicketActions
from firstline.runtime import Runtime
from firstline.service.auth import Agent, Principal, Requester
from firstline.service.routes import approvals
from firstline.service.routes.queue import (
    Names,
    QueueFilter,
    Sort,
    default_order,
    scan,
    sort_tickets,
    specialist_name,
)
from firstline.service.schemas import (
    AssignIn,
    CloseIn,
    CommentIn,
    EntryOut,
    EscalateIn,
    MergeIn,
    TicketCounts,
    TicketDetail,
    TicketList,
    TicketOut,
    errors,
)
from firstline.service.state import runtime_of
from firstline.ticketing import Priority, Ticket, TicketEntry, TicketQuery, TicketState, TicketUpdate

__all__ = ["router"]

router = APIRouter()
router.include_router(approvals.router)
AT_RISK = 0.75


def sla_used(ticket: Ticket, now: datetime) -> float:
    """Share of the resolution time used: 1.0 means due now; measured to resolution once resolved."""
    end = ticket.resolved_at or now
    total = (ticket.due_at - ticket.opened_at).total_seconds()
    return round((end - ticket.opened_at).total_seconds() / total, 4) if total > 0 else 0.0


def ticket_out(ticket: Ticket, now: datetime, names: Names | None = None) -> dict[str, Any]:
    card = ticket_card(ticket)
    assert card is not None
    return {
        **card,
        "requester": ticket.requester,
        "requester_name": names.of(ticket.requester) if names else "",
        "assignee_name": names.of(ticket.assigned_to) if names else "",
        "specialist_name": specialist_name(ticket.specialist),
        "description": ticket.description,
        "category": ticket.category,
        "specialist": ticket.specialist,
        "intent": ticket.intent,
        "impact": int(ticket.impact),
        "urgency": int(ticket.urgency),
        "assigned_to": ticket.assigned_to,
        "opened_at": ticket.opened_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else None,
        "closed_at": ticket.closed_at.isoformat() if ticket.closed_at else None,
        "due_at": ticket.due_at.isoformat(),
        "respond_by": ticket.respond_by.isoformat(),
        "overdue": ticket.is_overdue(now),
        "sla_used": sla_used(ticket, now),
        "tags": list(ticket.tags),
        "resolution_note": ticket.resolution_note,
    }


def _entry(entry: TicketEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind.value,
        "author": entry.author,
        "body": entry.body,
        "created_at": entry.created_at.isoformat(),
        "field": entry.field,
        "old_value": entry.old_value,
        "new_value": entry.new_value,
        "public": entry.public,
    }


def _visible(runtime: Runtime, number: str, who: Principal) -> tuple[Ticket, bool]:
    """The ticket and whether the caller sees it only in part: a requester whose report was linked to a
    major incident may follow that incident (card and public updates), but not read its description, which
    lists the other reporters. Anything else of someone else's is unknown to a requester."""
    ticket = runtime.tickets.get(number)
    if who.can_see(ticket.requester):
        return ticket, False
    if runtime.conversations.has_ticket(who.email, ticket.number):
        return ticket, True
    raise TicketNotFoundError(number)  # never confirm that someone else's ticket exists


def _own_ticket(runtime: Runtime, number: str, who: Principal) -> Ticket:
    ticket, linked = _visible(runtime, number, who)
    if linked:
        raise PermissionDeniedError(
            f"{ticket.number} is a major incident the IT team runs; your report is linked to it. Follow it here, "
            "or start a new conversation if something else is wrong."
        )
    return ticket


def _changed(runtime: Runtime, ticket: Ticket, by: str) -> None:
    """Tell the open consoles (``event: ticket``) that ``ticket`` changed; call it once the change is stored."""
    runtime.conversations.hub.ticket_changed(ticket.number, by, ticket.requester)


def _sla_matches(ticket: Ticket, sla: str, now: datetime) -> bool:
    used = sla_used(ticket, now)
    if sla == "overdue":
        return ticket.is_overdue(now)
    if sla == "at_risk":
        return ticket.state.is_open and AT_RISK <= used <= 1.0
    return not ticket.is_overdue(now) and not (ticket.state.is_open and used >= AT_RISK)


@router.get("/v1/tickets", response_model=TicketList, tags=["tickets"], responses=errors(401, 422, 429))
async def list_tickets(
    request: Request,
    who: Requester,
    state: Annotated[list[TicketState] | None, Query(description="repeat for several")] = None,
    priority: Annotated[list[int] | None, Query(description="1 (critical) to 5; repeat for several")] = None,
    specialist: Annotated[str | None, Query(max_length=64, description="stored or shown name, any case")] = None,
    assignment_group: Annotated[str | None, Query(max_length=100, description="any case, part of it")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="text in the number, title, description, requester or name")
    ] = None,
    sla: Annotated[Literal["overdue", "at_risk", "ok"] | None, Query(description="age against the SLA")] = None,
    requester: Annotated[str | None, Query(max_length=254, description="agents: whose tickets")] = None,
    sort: Annotated[Sort | None, Query(description="priority, updated, created, due, state or number")] = None,
    order: Annotated[Literal["asc", "desc"] | None, Query(description="default: most urgent or newest first")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """The ticket queue (agents) or your own tickets (requesters), newest first unless ``sort`` says otherwise.
    Specialist and group match the names shown in any case; ``q`` also matches the requester's e-mail and name."""
    runtime = runtime_of(request)
    whose = who.speaks_for(requester) if requester or not who.is_agent else None
    if any(not 1 <= p <= 5 for p in priority or ()):
        raise InputError(f"`priority` takes 1 (critical) to 5 (planning), not {priority}.")
    now = datetime.now(UTC)

    def search() -> dict[str, Any]:
        names = Names(runtime)
        common: dict[str, Any] = {
            "requester": whose,
            "state": state or None,
            "priority": [Priority(p) for p in priority] if priority else None,
        }
        text = (q or "").strip() or None
        keep = QueueFilter(
            specialist=(specialist or "").strip() or None,
            group=(assignment_group or "").strip() or None,
            text=text,
            requesters=frozenset(names.matching(text) if text and who.is_agent else ()),
            sla=(lambda t: _sla_matches(t, sla, now)) if sla else None,
        )
        chosen: Sort = sort or "created"
        truncated = False
        if not keep.active and chosen == "created" and (order or "desc") == "desc":
            found = runtime.tickets.search(TicketQuery(**common, limit=limit, offset=offset))  # the store's order
        else:
            matched, truncated = scan(runtime.tickets.search, common, keep)
            found = sort_tickets(matched, chosen, order or default_order(chosen))[offset : offset + limit]
        return {"tickets": [ticket_out(t, now, names) for t in found], "truncated": truncated}

    return await asyncio.to_thread(search)


@router.get("/v1/tickets/counts", response_model=TicketCounts, tags=["tickets"], responses=errors(401, 403, 429))
async def ticket_counts(request: Request, who: Agent) -> dict[str, Any]:
    """The numbers on the console's tabs (agents): open tickets, open ones nobody is assigned to, yours,
    and approvals waiting for a decision."""
    runtime = runtime_of(request)

    def count() -> dict[str, Any]:
        open_states = [s for s in TicketState if s.is_open]
        tickets, _ = scan(runtime.tickets.search, {"state": open_states}, QueueFilter())
        return {
            "open": len(tickets),
            "unassigned": sum(1 for t in tickets if not t.assigned_to),
            "mine": sum(1 for t in tickets if t.assigned_to.lower() == who.email),
            "pending_approvals": len(runtime.conversations.approvals("pending", limit=1000)),
        }

    return await asyncio.to_thread(count)


@router.get("/v1/tickets/{number}", response_model=TicketDetail, tags=["tickets"], responses=errors(401, 404, 429))
async def get_ticket(request: Request, number: str, who: Requester) -> dict[str, Any]:
    """One ticket with its history (requesters see comments and state changes only)."""
    runtime = runtime_of(request)

    def load() -> dict[str, Any]:
        ticket, linked = _visible(runtime, number, who)
        history = runtime.tickets.history(ticket.number, public_only=not who.is_agent)
        conversation = runtime.conversations.for_ticket(ticket.number)
        out = {
            **ticket_out(ticket, datetime.now(UTC), Names(runtime)),
            "history": [_entry(e) for e in history],
            "conversation_id": conversation.id if conversation and who.can_see(conversation.requester) else None,
        }
        if linked:  # the incident's own text names the other reporters
            out.update(description="", requester="", resolution_note=ticket.resolution_note, tags=[])
        return out

    return await asyncio.to_thread(load)


@router.post(
    "/v1/tickets/{number}/comments",
    response_model=EntryOut,
    status_code=201,
    tags=["tickets"],
    responses=errors(401, 403, 404, 409, 422, 429),
)
async def comment_ticket(request: Request, number: str, body: CommentIn, who: Requester) -> dict[str, Any]:
    """Add a comment the requester sees, or (agents) an internal work note."""
    runtime = runtime_of(request)
    if body.internal and not who.is_agent:
        raise PermissionDeniedError("Only the IT team writes internal work notes; send it as a normal comment.")

    def add() -> TicketEntry:
        ticket = _own_ticket(runtime, number, who)
        with runtime.conversations.unit_of_work():  # the comment and the employee's news commit together
            entry = runtime.tickets.comment(ticket.number, body.body, author=who.email, internal=body.internal)
            tell_requester(runtime.conversations, None, ticket, who.email, entry)
        _changed(runtime, ticket, who.email)
        return entry

    return _entry(await asyncio.to_thread(add))


@router.post(
    "/v1/tickets/{number}/close",
    response_model=TicketOut,
    tags=["tickets"],
    responses=errors(401, 403, 404, 409, 422, 429),
)
async def close_ticket(request: Request, number: str, body: CloseIn, who: Requester) -> dict[str, Any]:
    """Resolve (with the note) and close a ticket; a requester may close their own."""
    runtime = runtime_of(request)

    def close() -> Ticket:
        ticket = _own_ticket(runtime, number, who)
        with runtime.conversations.unit_of_work():
            closed = TicketActions(runtime.tickets, runtime.conversations.unit_of_work).close(
                ticket, body.note, who.email
            )
            tell_requester(runtime.conversations, ticket, closed, who.email)
        _changed(runtime, closed, who.email)
        return closed

    return ticket_out(await asyncio.to_thread(close), datetime.now(UTC))


@router.post(
    "/v1/tickets/{number}/escalate",
    response_model=TicketOut,
    tags=["tickets"],
    responses=errors(401, 403, 404, 409, 422, 429),
)
async def escalate_ticket(request: Request, number: str, body: EscalateIn, who: Requester) -> dict[str, Any]:
    """Hand the ticket to a group (agents choose it; an employee's request goes to the Service Desk)."""
    runtime = runtime_of(request)

    def escalate() -> Ticket:
        ticket = _own_ticket(runtime, number, who)
        with runtime.conversations.unit_of_work():
            done = TicketActions(runtime.tickets).escalate(
                ticket, body.summary, who.email, group=body.group, staff=who.is_agent
            )
            tell_requester(runtime.conversations, ticket, done, who.email)
        _changed(runtime, done, who.email)
        return done

    return ticket_out(await asyncio.to_thread(escalate), datetime.now(UTC))


@router.post(
    "/v1/tickets/{number}/assign",
    response_model=TicketOut,
    tags=["tickets"],
    responses=errors(401, 403, 404, 409, 422, 429),
)
async def assign_ticket(request: Request, number: str, body: AssignIn, who: Agent) -> dict[str, Any]:
    """Assign the ticket to an agent (your own e-mail: "assign to me"; ``null``: nobody), optionally in a
    new assignment group (agents). The assignee must be an active agent or admin account (422 otherwise); a
    ``new`` ticket someone takes becomes ``in_progress``. The requester is told in their conversation."""
    runtime = runtime_of(request)
    assignee = (body.assignee or "").strip().lower()

    def assign() -> Ticket:
        if assignee:
            account = runtime.accounts.find(assignee)
            if account is None or not account.active or account.role not in ("agent", "admin"):
                raise InputError(
                    f"{assignee} is not an active IT agent account here: assign the ticket to a member of the desk."
                )
        ticket = runtime.tickets.get(number)
        taken = bool(assignee) and ticket.state is TicketState.NEW
        change = TicketUpdate(
            assigned_to=assignee,
            assignment_group=body.group,
            state=TicketState.IN_PROGRESS if taken else None,
        )
        with runtime.conversations.unit_of_work():
            after = runtime.tickets.update(ticket.number, change, who.email)
            tell_requester(runtime.conversations, ticket, after, who.email)
        _changed(runtime, after, who.email)
        return after

    return ticket_out(await asyncio.to_thread(assign), datetime.now(UTC), Names(runtime))


@router.post(
    "/v1/tickets/{number}/unlink",
    response_model=TicketOut,
    tags=["tickets"],
    responses=errors(401, 403, 404, 409, 422, 429),
)
async def unlink_ticket(request: Request, number: str, who: Agent) -> dict[str, Any]:
    """Take a ticket out of the major incident it is linked to (agents); both histories name you."""
    runtime = runtime_of(request)
    ticket = await asyncio.to_thread(runtime.tickets.unlink, number, who.email)
    _changed(runtime, ticket, who.email)
    return ticket_out(ticket, datetime.now(UTC))


@router.post(
    "/v1/tickets/{number}/merge",
    response_model=TicketOut,
    tags=["tickets"],
    responses=errors(401, 403, 404, 409, 422, 429),
)
async def merge_ticket(request: Request, number: str, body: MergeIn, who: Agent) -> dict[str, Any]:
    """Close a duplicate ticket into the one that stays open (agents): the duplicate is closed with close code
    duplicate and a comment pointing to `into`, and its children move there. Returns the closed duplicate."""
    runtime = runtime_of(request)
    ticket = await asyncio.to_thread(runtime.tickets.merge, number, body.into, who.email)
    _changed(runtime, ticket, who.email)
    return ticket_out(ticket, datetime.now(UTC))


@router.post("/v1/webhooks/tickets", status_code=202, tags=["tickets"], responses=errors(401, 404, 413, 429))
async def vendor_webhook(request: Request) -> dict[str, Any]:
    """The vendor's call that tickets changed (ServiceNow business rule, Jira webhook, ConnectWise callback).

    No sign-in: the connector verifies the vendor's signature or shared secret (401 when it does not
    match), then fetches each ticket the call names and takes back what IT staff changed; the employee's
    conversation is told. 404 when ``ticketing.backend`` is ``sql`` (there is no vendor to hear from).
    """
    runtime = runtime_of(request)
    syncer = await asyncio.to_thread(lambda: runtime.syncer)
    if syncer is None:
        raise HTTPException(404, "ticketing.backend is 'sql': tickets live in Firstline, there are no vendor webhooks.")
    body = await request.body()
    events = await asyncio.to_thread(syncer.webhook, request.headers, body)
    return {"changes": len(events), "tickets": sorted({e.ticket.number for e in events})}
