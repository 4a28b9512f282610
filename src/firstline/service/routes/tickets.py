"""Tickets (list, search, get, comment, close, escalate; agents: unlink, merge) and approvals (list, approve,
deny)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from firstline.conversations import ApprovalRecord
from firstline.errors import (
    ConflictError,
    ConversationNotFoundError,
    InputError,
    PermissionDeniedError,
    TicketNotFoundError,
)
from firstline.helpdesk.reply import ticket_card
from firstline.helpdesk.ticket_actions import TicketActions
from firstline.runtime import Runtime
from firstline.service.auth import Agent, Principal, Requester
from firstline.service.schemas import (
    ApprovalList,
    AskOut,
    CloseIn,
    CommentIn,
    DecisionIn,
    DenyIn,
    EntryOut,
    EscalateIn,
    MergeIn,
    TicketDetail,
    TicketList,
    TicketOut,
    errors,
)
from firstline.service.state import runtime_of, turns_of
from firstline.service.turns import public_reply
from firstline.ticketing import (
    Priority,
    Ticket,
    TicketEntry,
    TicketQuery,
    TicketState,
)
from firstline.ticketing.models import MAX_SEARCH_LIMIT

__all__ = ["router"]

router = APIRouter()
AT_RISK = 0.75


def sla_used(ticket: Ticket, now: datetime) -> float:
    """Share of the resolution time used: 1.0 means due now; measured to resolution once resolved."""
    end = ticket.resolved_at or now
    total = (ticket.due_at - ticket.opened_at).total_seconds()
    return round((end - ticket.opened_at).total_seconds() / total, 4) if total > 0 else 0.0


def ticket_out(ticket: Ticket, now: datetime) -> dict[str, Any]:
    card = ticket_card(ticket)
    assert card is not None
    return {
        **card,
        "requester": ticket.requester,
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
    specialist: Annotated[str | None, Query(max_length=64)] = None,
    assignment_group: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in the number or description")] = None,
    sla: Annotated[Literal["overdue", "at_risk", "ok"] | None, Query(description="age against the SLA")] = None,
    requester: Annotated[str | None, Query(max_length=254, description="agents: whose tickets")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """The ticket queue (agents) or your own tickets (requesters), newest first."""
    runtime = runtime_of(request)
    whose = who.speaks_for(requester) if requester or not who.is_agent else None
    if any(not 1 <= p <= 5 for p in priority or ()):
        raise InputError(f"`priority` takes 1 (critical) to 5 (planning), not {priority}.")
    now = datetime.now(UTC)

    def search() -> list[Ticket]:
        common: dict[str, Any] = {
            "requester": whose,
            "state": state or None,
            "priority": [Priority(p) for p in priority] if priority else None,
            "specialist": specialist or None,
            "assignment_group": assignment_group or None,
            "text": q,
        }
        if sla is None:
            return runtime.tickets.search(TicketQuery(**common, limit=limit, offset=offset))
        # The SLA filter depends on the clock: scan the newest tickets and page over the matches.
        matched: list[Ticket] = []
        scanned = 0
        while len(matched) < offset + limit:
            batch = runtime.tickets.search(TicketQuery(**common, limit=MAX_SEARCH_LIMIT, offset=scanned))
            matched += [t for t in batch if _sla_matches(t, sla, now)]
            scanned += len(batch)
            if len(batch) < MAX_SEARCH_LIMIT or scanned >= 20 * MAX_SEARCH_LIMIT:
                break
        return matched[offset : offset + limit]

    found = await asyncio.to_thread(search)
    return {"tickets": [ticket_out(t, now) for t in found]}


@router.get("/v1/tickets/{number}", response_model=TicketDetail, tags=["tickets"], responses=errors(401, 404, 429))
async def get_ticket(request: Request, number: str, who: Requester) -> dict[str, Any]:
    """One ticket with its history (requesters see comments and state changes only)."""
    runtime = runtime_of(request)

    def load() -> dict[str, Any]:
        ticket, linked = _visible(runtime, number, who)
        history = runtime.tickets.history(ticket.number, public_only=not who.is_agent)
        conversation = runtime.conversations.for_ticket(ticket.number)
        out = {
            **ticket_out(ticket, datetime.now(UTC)),
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
        return runtime.tickets.comment(ticket.number, body.body, author=who.email, internal=body.internal)

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
        return TicketActions(runtime.tickets, runtime.conversations.unit_of_work).close(ticket, body.note, who.email)

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
        actions = TicketActions(runtime.tickets)
        return actions.escalate(ticket, body.summary, who.email, group=body.group, staff=who.is_agent)

    return ticket_out(await asyncio.to_thread(escalate), datetime.now(UTC))


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
    return ticket_out(ticket, datetime.now(UTC))


# -- approvals ---------------------------------------------------------------------------------------------


def _approval_out(runtime: Runtime, record: ApprovalRecord) -> dict[str, Any]:
    try:
        conversation = runtime.conversations.get(record.conversation_id)
        requester, ticket = conversation.requester, conversation.ticket_number
    except ConversationNotFoundError:  # pragma: no cover - approvals cascade with their conversation
        requester = ticket = None
    return {**record.as_dict(), "requester": requester, "ticket_number": ticket}


def _may_decide(record: ApprovalRecord, who: Principal) -> bool:
    if record.approvers:
        return who.email in record.approvers
    return who.is_agent and who.email != record.requested_by.lower()


@router.get("/v1/approvals", response_model=ApprovalList, tags=["approvals"], responses=errors(401, 422, 429))
async def list_approvals(
    request: Request,
    who: Requester,
    status: Annotated[Literal["pending", "approved", "denied"] | None, Query()] = "pending",
) -> dict[str, Any]:
    """Approvals (pending by default): agents see all; employees those of their own conversations or
    the ones they are named to decide (a distribution list's owner)."""
    runtime = runtime_of(request)

    def load() -> list[dict[str, Any]]:
        records = runtime.conversations.approvals(status)
        out = [_approval_out(runtime, r) for r in records]
        if who.is_agent:
            return out
        return [a for a in out if a["requester"] == who.email or who.email in a["approvers"]]

    return {"approvals": await asyncio.to_thread(load)}


async def _decide(request: Request, approval_id: str, approved: bool, reason: str, who: Principal) -> dict[str, Any]:
    runtime = runtime_of(request)
    store = runtime.conversations

    def check() -> ApprovalRecord:
        record = store.approval(approval_id)
        if not who.is_agent and who.email not in record.approvers:
            conversation = store.get(record.conversation_id)
            if conversation.requester != who.email:
                raise ConversationNotFoundError("approval", approval_id)
            raise PermissionDeniedError("You can't approve your own request: the IT team decides it.")
        if record.status != "pending":
            raise ConflictError(f"Approval {record.id} was already {record.status} by {record.decided_by}.")
        if not _may_decide(record, who):
            if record.approvers:
                raise PermissionDeniedError(f"Only {', '.join(record.approvers)} may decide this request.")
            raise PermissionDeniedError("You can't decide a request you made: another member of the desk must.")
        return record

    await asyncio.to_thread(check)
    desk = runtime.helpdesk
    turns = turns_of(request)

    def turn(sink: Any) -> Any:
        return desk.decide(approval_id, approved=approved, decided_by=who.email, reason=reason, on_event=sink)

    reply = await turns.start(turn)
    return public_reply(reply, agent_view=who.is_agent)


@router.post(
    "/v1/approvals/{approval_id}/approve",
    response_model=AskOut,
    tags=["approvals"],
    responses=errors(401, 403, 404, 409, 422, 429),
)
async def approve(request: Request, approval_id: str, body: DecisionIn, who: Requester) -> dict[str, Any]:
    """Approve the pending action; the paused conversation carries on and its reply is returned."""
    return await _decide(request, approval_id, True, body.reason, who)


@router.post(
    "/v1/approvals/{approval_id}/deny",
    response_model=AskOut,
    tags=["approvals"],
    responses=errors(401, 403, 404, 409, 422, 429),
)
async def deny(request: Request, approval_id: str, body: DenyIn, who: Requester) -> dict[str, Any]:
    """Deny the pending action with a reason the employee is told."""
    return await _decide(request, approval_id, False, body.reason, who)


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
