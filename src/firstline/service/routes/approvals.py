"""Approvals: list, approve, deny (mounted by :mod:`firstline.service.routes.tickets`).

An approval is decided once. When a second agent acts on a request a colleague already decided, the
409 says who decided it, how, when and why ("Sarah Lindqvist already denied this at 14:02 UTC:
not a company device"), so the console can tell the agent instead of reloading to an empty list.
Every approval carries the names of its requester and decider where the accounts or the directory
know them (``requester_name``, ``decided_by_name``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from firstline.conversations import ApprovalRecord
from firstline.errors import ConflictError, ConversationNotFoundError, InputError, PermissionDeniedError
from firstline.helpdesk.deciding import already_decided, decision_refusal
from firstline.runtime import Runtime
from firstline.service.auth import Principal, Requester
from firstline.service.routes.queue import Names
from firstline.service.schemas import ApprovalList, AskOut, DecisionIn, DenyIn, errors
from firstline.service.state import runtime_of, turns_of
from firstline.service.turns import public_reply

__all__ = ["router"]

router = APIRouter(tags=["approvals"])


def _approval_out(runtime: Runtime, record: ApprovalRecord, names: Names) -> dict[str, Any]:
    try:
        conversation = runtime.conversations.get(record.conversation_id)
        requester, ticket = conversation.requester, conversation.ticket_number
    except ConversationNotFoundError:  # pragma: no cover - approvals cascade with their conversation
        requester = ticket = None
    return {
        **record.as_dict(),
        "requester": requester,
        "ticket_number": ticket,
        "requester_name": names.of(requester or record.requested_by),
        "decided_by_name": names.of(record.decided_by) if record.decided_by else None,
    }


@router.get("/v1/approvals", response_model=ApprovalList, responses=errors(401, 422, 429))
async def list_approvals(
    request: Request,
    who: Requester,
    status: Annotated[Literal["pending", "approved", "denied"] | None, Query()] = "pending",
) -> dict[str, Any]:
    """Approvals (pending by default): agents see all; employees those of their own conversations or
    the ones they are named to decide (a distribution list's owner)."""
    runtime = runtime_of(request)

    def load() -> list[dict[str, Any]]:
        names = Names(runtime)
        records = runtime.conversations.approvals(status)
        out = [_approval_out(runtime, r, names) for r in records]
        if who.is_agent:
            return out
        return [a for a in out if a["requester"] == who.email or who.email in a["approvers"]]

    return {"approvals": await asyncio.to_thread(load)}


async def _decide(request: Request, approval_id: str, approved: bool, reason: str, who: Principal) -> dict[str, Any]:
    runtime = runtime_of(request)
    store = runtime.conversations

    def check() -> ApprovalRecord:
        record = store.approval(approval_id)
        requester = store.get(record.conversation_id).requester
        refusal = decision_refusal(record, who.email, is_agent=who.is_agent, requester=requester,
                                   name_of=Names(runtime).of)  # fmt: skip
        if refusal is None:
            return record
        if refusal.kind == "unknown":  # never confirm that someone else's approval exists
            raise ConversationNotFoundError("approval", approval_id)
        if refusal.kind == "decided":
            raise ConflictError(refusal.reason)
        raise PermissionDeniedError(refusal.reason)

    await asyncio.to_thread(check)
    desk = runtime.helpdesk
    turns = turns_of(request)

    def turn(sink: Any) -> Any:
        return desk.decide(approval_id, approved=approved, decided_by=who.email, reason=reason, on_event=sink)

    try:
        reply = await turns.start(turn)
    except InputError:  # a colleague decided it between the check and the turn: say who, as above
        record = await asyncio.to_thread(store.approval, approval_id)
        if record.status == "pending" or record.decided_by == who.email:
            raise
        raise ConflictError(already_decided(record, Names(runtime).of)) from None
    return public_reply(reply, agent_view=who.is_agent)


@router.post(
    "/v1/approvals/{approval_id}/approve", response_model=AskOut, responses=errors(401, 403, 404, 409, 422, 429)
)
async def approve(request: Request, approval_id: str, body: DecisionIn, who: Requester) -> dict[str, Any]:
    """Approve the pending action; the paused conversation carries on and its reply is returned. 409 when
    someone already decided it: the detail names who, how, when and why."""
    return await _decide(request, approval_id, True, body.reason, who)


@router.post("/v1/approvals/{approval_id}/deny", response_model=AskOut, responses=errors(401, 403, 404, 409, 422, 429))
async def deny(request: Request, approval_id: str, body: DenyIn, who: Requester) -> dict[str, Any]:
    """Deny the pending action with a reason the employee is told (409 as for approve)."""
    return await _decide(request, approval_id, False, body.reason, who)
