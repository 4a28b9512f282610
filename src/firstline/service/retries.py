"""``Idempotency-Key`` on the message routes: a client's retry of a message gets the reply, not a second turn.

See :mod:`firstline.conversations.message_keys` for what a key means. Here: the header, the claim before
a turn starts (409 while the first try still runs, 422 for a key reused for another message), the reply
stored before it is sent (inside the turn, so a client that went away still finds it), and the replay —
as JSON, or as a one-event stream when the client asked for Server-Sent Events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header, HTTPException
from fastapi.responses import JSONResponse, Response, StreamingResponse

from firstline.conversations.message_keys import SqlMessageKeys, request_digest
from firstline.helpdesk.reply import DeskReply
from firstline.runtime import Runtime
from firstline.service.auth import Principal
from firstline.service.turns import EventSink, TurnFn, public_reply, sse

__all__ = ["IdempotencyKey", "Keyed", "claim_key"]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="a key of your choosing (e.g. a UUID) for this message: sent again with the same key, the "
        "message is not answered twice — you get the stored reply (header `Idempotent-Replayed: true`), or 409 "
        "while the first try is still running",
    ),
]
REPLAYED = {"Idempotent-Replayed": "true"}


@dataclass(frozen=True, slots=True)
class Keyed:
    """A key this request claimed: its turn stores the reply under it before the client is answered."""

    keys: SqlMessageKeys
    principal: str
    key: str

    def wrap(self, turn: TurnFn, status_of: Callable[[dict[str, Any]], int]) -> TurnFn:
        async def keyed(sink: EventSink) -> DeskReply:
            try:
                reply = await turn(sink)
            except BaseException:
                self.keys.release(self.principal, self.key)
                raise
            answer = reply.as_dict()
            self.keys.finish(self.principal, self.key, answer, status_of(answer))
            return reply

        return keyed


async def claim_key(
    runtime: Runtime, who: Principal, key: str | None, *, stream: bool, request: tuple[str | None, ...]
) -> Keyed | Response | None:
    """None without a key; a :class:`Keyed` to run the turn with; or the response to send instead of a turn."""
    if key is None:
        return None
    principal = f"key:{who.key_id}" if who.via == "api_key" and who.key_id else f"account:{who.email}"
    keys = runtime.message_keys
    claim = await asyncio.to_thread(keys.claim, principal, key, request_digest(*request))
    if claim.kind == "run":
        return Keyed(keys, principal, key)
    if claim.kind == "running":
        raise HTTPException(409, "This message is still being answered; send it again in a moment for the reply.",
                            headers={"Retry-After": "1"})  # fmt: skip
    if claim.kind == "mismatch":
        raise HTTPException(422, "This Idempotency-Key was already used for a different message; use a new key.")
    assert claim.reply is not None and claim.status is not None
    body = public_reply(claim.reply, agent_view=who.is_agent)
    if stream and claim.status == 200:

        async def once() -> Any:
            yield sse("done", body)

        return StreamingResponse(once(), media_type="text/event-stream", status_code=claim.status,
                                 headers={"Cache-Control": "no-cache", **REPLAYED})  # fmt: skip
    return JSONResponse(body, status_code=claim.status, headers=REPLAYED)
