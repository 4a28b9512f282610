"""``GET /v1/events``: what changed for the signed-in person, live, as Server-Sent Events (no polling).

The conversation hub (:mod:`firstline.conversations.hub`) tells each stream of every stored
conversation event after its commit, and of tickets IT staff changed in the console, whichever worker
stored it (streams subscribe to the notices of every worker; with Redis they cross workers on the bus).
Each open stream forwards what its caller may see:

* ``event: conversation`` ``{"conversation_id", "seq", "kind", "ticket"}`` for an event of one of the
  caller's conversations (agents: every conversation). A requester hears only the kinds their
  conversation view shows them; the page then reads the events after its last ``seq``
  (``GET /v1/conversations/{id}?after=``), so a notice carries no message text.
* ``event: ticket`` ``{"number", "by"}`` when a ticket changed: agents hear of every ticket, a
  requester of their own.
* ``event: approvals`` ``{"pending": n}`` (agents) when an approval is requested or decided.
* ``: ping`` every 15 s keeps proxies from closing an idle stream; ``retry: 3000`` tells the browser
  how soon to reconnect. A notice missed while reconnecting is not lost: the page re-reads the events
  after its last ``seq`` when the stream opens.

A stream that falls more than :data:`BACKLOG` notices behind gets ``event: resync`` (re-read
everything) instead of the notices it missed. A stream lives in the worker that serves it; a notice
lost on the bus (Redis restarting) delays an update, and the page's re-read on reconnect catches up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from firstline.conversations.hub import TICKET, Notice
from firstline.errors import FirstlineError
from firstline.runtime import Runtime
from firstline.service.auth import Principal, Requester
from firstline.service.routes.conversations import REQUESTER_EVENTS
from firstline.service.schemas import errors
from firstline.service.state import runtime_of

__all__ = ["BACKLOG", "PING_S", "router"]

router = APIRouter(tags=["events"])

PING_S = 15.0
BACKLOG = 500
_APPROVALS = {"approval_needed", "approval_decided"}
_RESYNC = object()


def _frame(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _ticket_requester(runtime: Runtime, number: str) -> str | None:
    try:
        return runtime.tickets.get(number).requester
    except FirstlineError:
        return None


def _number(data: dict[str, Any]) -> str | None:
    """The ticket an event is about: ``ticket`` as a number or as a ticket card, or ``number``."""
    ticket = data.get("ticket") or data.get("number")
    if isinstance(ticket, dict):
        ticket = ticket.get("number")
    return ticket if isinstance(ticket, str) and ticket else None


def frames_for(runtime: Runtime, who: Principal, notice: Notice) -> list[str]:
    """The SSE frames ``who`` gets for ``notice`` (none when it is not theirs to see). Runs off the loop."""
    if notice.kind == TICKET:
        changed = str(notice.data.get("ticket") or "")
        owner = notice.requester or _ticket_requester(runtime, changed)
        if who.is_agent or (owner is not None and owner == who.email):
            return [_frame("ticket", {"number": changed, "by": notice.agent if who.is_agent else ""})]
        return []
    if not who.can_see(notice.requester):
        return []
    if not who.is_agent and notice.kind not in REQUESTER_EVENTS:
        return []
    number = _number(notice.data)
    seen = {"conversation_id": notice.conversation_id, "seq": notice.seq, "kind": notice.kind, "ticket": number}
    frames = [_frame("conversation", seen)]
    if who.is_agent and notice.kind in _APPROVALS:
        frames.append(_frame("approvals", {"pending": len(runtime.conversations.approvals("pending"))}))
    if notice.kind in {"ticket_change", "ticket_update"} and number:
        frames.append(_frame("ticket", {"number": number, "by": notice.agent if who.is_agent else ""}))
    return frames


@router.get(
    "/v1/events",
    responses={
        200: {
            "description": "Server-Sent Events: conversation, ticket, approvals, resync; pings every 15 s",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **errors(401, 429),
    },
)
async def events(
    request: Request,
    who: Requester,
    max_s: Annotated[
        float | None, Query(gt=0, le=3600, description="close the stream after this many seconds (default: never)")
    ] = None,
) -> StreamingResponse:
    """Live notices of what changed for you (see the module docstring); the stream stays open."""
    runtime = runtime_of(request)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    behind = {"dropped": False}

    def put(item: Any) -> None:
        if behind["dropped"]:
            return
        if queue.qsize() >= BACKLOG:
            behind["dropped"] = True
            item = _RESYNC
        queue.put_nowait(item)

    def listen(notice: Notice) -> None:  # on the writer's thread: only hand it over
        loop.call_soon_threadsafe(put, notice)

    unsubscribe = runtime.conversations.hub.subscribe_everywhere(listen)

    async def stream() -> AsyncIterator[str]:
        try:
            yield f"retry: 3000\n: listening as {who.email}\n\n"
            ends = loop.time() + max_s if max_s is not None else None
            while True:
                wait = PING_S if ends is None else min(PING_S, ends - loop.time())
                if wait <= 0:
                    return
                try:
                    item = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    if await request.is_disconnected() or (ends is not None and loop.time() >= ends):
                        return
                    yield ": ping\n\n"
                    continue
                if item is _RESYNC:
                    behind["dropped"] = False
                    while not queue.empty():
                        queue.get_nowait()
                    yield _frame("resync", {})
                    continue
                for frame in await asyncio.to_thread(frames_for, runtime, who, item):
                    yield frame
        finally:
            unsubscribe()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
