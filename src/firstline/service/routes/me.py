"""The signed-in person's own things: "My requests" (tickets with the IT team's public comments) and the
channel identities (Slack, Teams, e-mail) they tied to their account with a link code."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from firstline.errors import InputError, PermissionDeniedError
from firstline.service.auth import Principal, Requester
from firstline.service.markdown import render
from firstline.service.schemas import errors
from firstline.service.schemas_me import ChannelLinkIn, ChannelLinkList, ChannelLinkOut, MyTicketList
from firstline.service.state import runtime_of
from firstline.ticketing.models import EntryKind, Ticket, TicketQuery, TicketState

__all__ = ["router"]

router = APIRouter(tags=["me"])

_OPEN = [s for s in TicketState if s.is_open]
_DONE = [s for s in TicketState if not s.is_open]


def _person(who: Principal) -> str:
    if not who.person:
        raise PermissionDeniedError("This key speaks for no one: 'my' requests need a signed-in person.")
    return who.email


def _name(email: str) -> str:
    return email.split("@")[0].replace(".", " ").replace("_", " ").title() if email else "IT"


@router.get("/v1/me/tickets", response_model=MyTicketList, responses=errors(401, 403, 422, 429))
async def my_tickets(
    request: Request,
    who: Requester,
    state: Annotated[Literal["open", "closed", "all"], Query(description="open, closed (resolved too) or all")] = "all",
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Your tickets, newest first, each with its state, the conversation it came from and the IT team's
    public comments (oldest first)."""
    runtime = runtime_of(request)
    email = _person(who)
    states = {"open": _OPEN, "closed": _DONE, "all": None}[state]

    def load() -> list[dict[str, Any]]:
        found = runtime.tickets.search(TicketQuery(requester=email, state=states, limit=limit, offset=offset))
        return [_mine(t) for t in found]

    def _mine(ticket: Ticket) -> dict[str, Any]:
        history = runtime.tickets.history(ticket.number, public_only=True)
        conversation = runtime.conversations.for_ticket(ticket.number)
        comments = [
            {
                "author": e.author,
                "author_name": _name(e.author),
                "body": e.body,
                "html": render(e.body),
                "created_at": e.created_at.isoformat(),
            }
            for e in history
            if e.kind is EntryKind.COMMENT and e.author.lower() != email
        ]
        return {
            "number": ticket.number,
            "title": ticket.short_description,
            "state": ticket.state.value,
            "priority": int(ticket.priority),
            "created_at": ticket.opened_at.isoformat(),
            "updated_at": ticket.updated_at.isoformat(),
            "assignment_group": ticket.assignment_group,
            "assigned_to": ticket.assigned_to,
            "conversation_id": conversation.id if conversation and conversation.requester == email else None,
            "comments": comments,
        }

    return {"tickets": await asyncio.to_thread(load), "as_of": datetime.now(UTC).isoformat()}


@router.get("/v1/me/links", response_model=ChannelLinkList, responses=errors(401, 403, 429))
async def my_links(request: Request, who: Requester) -> dict[str, Any]:
    """The Slack, Teams and e-mail identities tied to you (and how each was verified)."""
    runtime = runtime_of(request)
    email = _person(who)
    found = await asyncio.to_thread(runtime.channels.identities, email)
    return {"links": [i.as_dict() for i in found if i.channel != "oidc"]}


@router.post("/v1/me/links", response_model=ChannelLinkOut, status_code=201, responses=errors(401, 403, 422, 429))
async def link_channel(request: Request, body: ChannelLinkIn, who: Requester) -> dict[str, Any]:
    """Tie a Slack, Teams or e-mail identity to you with the code that channel gave you (valid 15 minutes)."""
    runtime = runtime_of(request)
    if who.via != "session":
        raise PermissionDeniedError("Link codes are confirmed by a signed-in person in the web chat, not by a key.")
    email = _person(who)
    identity = await asyncio.to_thread(runtime.channels.confirm_link, body.code, email)
    return identity.as_dict()


@router.delete("/v1/me/links/{channel}/{external_id}", status_code=204, responses=errors(401, 403, 404, 429))
async def unlink_channel(request: Request, channel: str, external_id: str, who: Requester) -> None:
    """Untie one of your channel identities (it must be yours)."""
    runtime = runtime_of(request)
    email = _person(who)

    def drop() -> None:
        if not any(i.channel == channel and i.external_id == external_id for i in runtime.channels.identities(email)):
            raise InputError(f"No {channel} identity {external_id!r} is tied to you.")
        runtime.channels.unlink(channel, external_id)

    await asyncio.to_thread(drop)
