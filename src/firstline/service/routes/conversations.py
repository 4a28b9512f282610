"""Conversations and messages: create, list own, read the event log, post a message (JSON or SSE)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse

from firstline.conversations import Conversation
from firstline.errors import ConversationNotFoundError
from firstline.helpdesk.reply import ticket_card
from firstline.runtime import Runtime
from firstline.service.auth import Principal, Requester
from firstline.service.jsonresponse import FastJSONResponse
from firstline.service.markdown import render
from firstline.service.retries import IdempotencyKey, claim_key
from firstline.service.schemas import (
    AskIn,
    AskOut,
    ConversationList,
    ConversationOut,
    ErrorBody,
    MessageIn,
    NewConversationIn,
    OutboxOut,
    errors,
)
from firstline.service.state import runtime_of, turns_of
from firstline.service.turns import public_reply, stream_events

__all__ = ["router"]

router = APIRouter(tags=["conversations"])

# What a requester sees of their own conversation's log; agents see every event (tool calls, model calls).
REQUESTER_EVENTS = {
    "user_message",
    "assistant_message",
    "rejected_message",
    "routed",
    "ticket_change",
    "approval_needed",
    "approval_decided",
    "ticket_update",
}

_REFUSED: dict[int | str, dict[str, Any]] = {
    413: {
        "model": AskOut | ErrorBody,
        "description": "The message is over 8,000 characters: refused but stored (the reply, status 'rejected'); "
        "or the body is over service.max_body_bytes (an error body)",
    },
    422: {
        "model": AskOut | ErrorBody,
        "description": "The message is empty: refused but stored (the reply, status 'rejected'); or the body is "
        "malformed (an error body naming the fields)",
    },
}


_RUNNING = "The same Idempotency-Key's message is still being answered: send it again after Retry-After seconds"


def _refused_status(text: str) -> int:
    return 422 if not text.strip() else 413


def _status(reply: dict[str, Any], text: str) -> int:
    return 200 if reply["status"] != "rejected" else _refused_status(text)


def _summary(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": conversation.id,
        "requester": conversation.requester,
        "status": conversation.status,
        "agent": conversation.agent,
        "intent": conversation.intent,
        "ticket_number": conversation.ticket_number,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }


def _for_whom(who: Principal, user: str | None, requester: str | None) -> str | None:
    """Who a message is from: the named employee (agents), the caller, or, when an agent names no one in a
    conversation that already has its employee (``requester``), that employee."""
    if user is None and who.is_agent and requester:
        return requester
    return who.speaks_for(user)


def conversation_owner(runtime: Runtime, conversation_id: str, who: Principal) -> str | None:
    """The conversation's employee if ``who`` may see the conversation (its header only: the turn reads the
    rest); someone else's is reported as unknown."""
    requester = runtime.conversations.requester_of(conversation_id)
    if not who.can_see(requester):
        raise ConversationNotFoundError("conversation", conversation_id)
    return requester


def load_conversation(runtime: Runtime, conversation_id: str, who: Principal) -> Conversation:
    """The conversation if ``who`` may see it; someone else's is reported as unknown."""
    conversation = runtime.conversations.get(conversation_id)
    if not who.can_see(conversation.requester):
        raise ConversationNotFoundError("conversation", conversation_id)
    return conversation


def _with_html(event: dict[str, Any]) -> dict[str, Any]:
    """An ``assistant_message`` event gets ``data.html``: its text as sanitised HTML (the page never renders
    Markdown itself)."""
    if event["kind"] == "assistant_message" and isinstance(event["data"].get("text"), str):
        event["data"] = {**event["data"], "html": render(event["data"]["text"])}
    return event


def conversation_view(runtime: Runtime, conversation: Conversation, who: Principal, after: int) -> dict[str, Any]:
    store = runtime.conversations
    kinds = () if who.is_agent else tuple(sorted(REQUESTER_EVENTS))
    events = [_with_html(e.as_dict()) for e in store.events(conversation.id, after=after, kinds=kinds)]
    pending = store.approvals("pending", conversation.id)
    return {
        **_summary(conversation),
        "ticket": ticket_card(runtime.helpdesk.ticket_or_none(conversation.ticket_number)),
        "pending_approval": pending[0].as_dict() if pending else None,
        "events": events,
    }


@router.post("/v1/conversations", response_model=ConversationOut, status_code=201, responses=errors(401, 403, 422, 429))
async def create_conversation(request: Request, body: NewConversationIn, who: Requester) -> dict[str, Any]:
    """Start a conversation: for yourself, or (agents) for the employee named in ``user``."""
    runtime = runtime_of(request)
    for_whom = who.speaks_for(body.user)
    conversation = await asyncio.to_thread(runtime.conversations.create, for_whom, "web")
    return {**_summary(conversation), "ticket": None, "pending_approval": None, "events": []}


@router.get("/v1/conversations", response_model=ConversationList, responses=errors(401, 403, 422, 429))
async def list_conversations(
    request: Request,
    who: Requester,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    requester: Annotated[str | None, Query(max_length=254, description="agents: whose conversations")] = None,
) -> dict[str, Any]:
    """Your conversations, most recently active first (agents may ask for anyone's)."""
    runtime = runtime_of(request)
    whose = who.speaks_for(requester)

    def load() -> list[dict[str, Any]]:
        found = runtime.conversations.recent(whose, limit, offset)
        titles = runtime.conversations.titles([c.id for c in found])
        out = []
        for c in found:
            ticket = runtime.helpdesk.ticket_or_none(c.ticket_number) if c.ticket_number else None
            state = ticket.state.value if ticket is not None else None
            out.append({**_summary(c), "title": titles.get(c.id, ""), "ticket_state": state})
        return out

    return {"conversations": await asyncio.to_thread(load)}


@router.get("/v1/conversations/{conversation_id}", response_model=ConversationOut, responses=errors(401, 404, 422, 429))
async def get_conversation(
    request: Request,
    conversation_id: str,
    who: Requester,
    after: Annotated[int, Query(ge=0, le=1_000_000_000, description="only events after this seq")] = 0,
) -> dict[str, Any]:
    """A conversation with its ticket card, any pending approval, and its event log after ``after``."""
    runtime = runtime_of(request)

    def view() -> dict[str, Any]:
        return conversation_view(runtime, load_conversation(runtime, conversation_id, who), who, after)

    return await asyncio.to_thread(view)


@router.post(
    "/v1/conversations/{conversation_id}/messages",
    responses={
        200: {
            "model": AskOut,
            "description": "The reply; with `stream: true` Server-Sent Events (routed, tool, approval_needed, "
            "token as the model writes, token_reset when the draft so far is void, holding when the turn runs "
            "past its budget, message, then done carrying this same JSON, or error)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **errors(401, 403, 404, 409, 429, e409=_RUNNING),
        **_REFUSED,
    },
)
async def post_message(
    request: Request, conversation_id: str, body: MessageIn, who: Requester, idempotency_key: IdempotencyKey = None
) -> Any:
    """Send a message. The turn runs to its end and is stored even if a streaming client disconnects."""
    runtime = runtime_of(request)
    requester = await asyncio.to_thread(conversation_owner, runtime, conversation_id, who)  # 404 before a stream
    for_whom = _for_whom(who, body.user, requester)
    desk = runtime.helpdesk
    agent_view = who.is_agent
    refused = desk.refusal(body.text) is not None
    keyed = await claim_key(runtime, who, idempotency_key, stream=body.stream,
                            request=("messages", conversation_id, for_whom, body.text))  # fmt: skip
    if isinstance(keyed, Response):
        return keyed

    def run(sink: Any) -> Any:
        return desk.ask(body.text, requester=for_whom, conversation_id=conversation_id, channel="web", on_event=sink)

    turn = run if keyed is None else keyed.wrap(run, lambda reply: _status(reply, body.text))

    if not body.stream or refused:
        reply = await turns_of(request).start(turn)
        return FastJSONResponse(public_reply(reply, agent_view=agent_view), status_code=_status(reply, body.text))

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def sink(event: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, event)

    future = turns_of(request).start(turn, sink)
    body_iter = stream_events(future, queue, lambda r: public_reply(r, agent_view=agent_view), agent_view=agent_view)
    return StreamingResponse(
        body_iter, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@router.post("/v1/ask", response_model=AskOut, responses={**errors(401, 403, 404, 409, 429, e409=_RUNNING), **_REFUSED})
async def ask(request: Request, body: AskIn, who: Requester, idempotency_key: IdempotencyKey = None) -> Response:
    """One message, with or without a conversation id: the same JSON as ``firstline ask --json``."""
    runtime = runtime_of(request)
    requester = None
    if body.conversation_id:
        requester = await asyncio.to_thread(conversation_owner, runtime, body.conversation_id, who)
    for_whom = _for_whom(who, body.user, requester)
    desk = runtime.helpdesk
    keyed = await claim_key(runtime, who, idempotency_key, stream=False,
                            request=("ask", body.conversation_id, for_whom, body.text))  # fmt: skip
    if isinstance(keyed, Response):
        return keyed

    def one(sink: Any) -> Any:
        return desk.ask(body.text, requester=for_whom, conversation_id=body.conversation_id, channel="api",
                        on_event=sink)  # fmt: skip

    turn = one if keyed is None else keyed.wrap(one, lambda reply: _status(reply, body.text))
    reply = await turns_of(request).start(turn)
    return FastJSONResponse(public_reply(reply, agent_view=who.is_agent), status_code=_status(reply, body.text))


@router.get("/v1/demo/outbox", response_model=OutboxOut, responses=errors(401, 404, 429))
async def demo_outbox(request: Request, who: Requester) -> dict[str, Any]:
    """The one-time codes the demo delivery "sent" to you (the demo stand-in for SMS; off in production)."""
    runtime = runtime_of(request)
    settings = runtime.settings
    if not (settings.service.demo_outbox and settings.directory.backend == "sql" and settings.directory.seed_demo_org):
        raise HTTPException(404, "The demo phone is off: codes go to the configured delivery.")
    messages = runtime.outbox.messages(who.email)
    return {
        "messages": [
            {
                "channel": m["channel"],
                "code": m["code"],
                "sent_at": datetime.fromtimestamp(m["sent_at"], UTC).isoformat(),
            }
            for m in messages
        ]
    }
