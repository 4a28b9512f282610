"""Microsoft Teams: a bot on the Bot Framework, at ``POST /api/messages``.

Set up in ``[channels.teams]`` (see docs/teams.md): the bot's App ID, its password from the
environment (``FIRSTLINE_CHANNELS__TEAMS__APP_PASSWORD``) and your tenant. The route:

1. checks the ``Authorization: Bearer`` JWT (:mod:`teams_auth`): signature by a key of the Bot
   Framework's OpenID metadata, issuer, audience, lifetime, the key's endorsement of the channel and
   the ``serviceUrl`` claim. Any failure is 401 and nothing runs; keys that cannot be fetched, 503;
2. refuses activities from another tenant (403) when ``tenant_id`` is set;
3. hands the activity to :class:`~firstline.channels.teams_channel.TeamsChannel`, which answers 202
   once the message is stored and replies in the conversation from its own threads, or answers an
   ``invoke`` (an Adaptive Card button) in the response body.

The module is what :mod:`firstline.channels.registry` expects: ``router`` (mounted always; 404 while
the channel is off) and ``build(runtime)``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from firstline.channels.registry import channel_of
from firstline.channels.teams_auth import KeysUnavailable, TokenRejected
from firstline.channels.teams_channel import TeamsChannel

if TYPE_CHECKING:
    from firstline.runtime import Runtime

__all__ = ["TeamsChannel", "build", "router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["channels"])


def build(runtime: Runtime) -> TeamsChannel:
    """The Teams channel for this runtime (started by the service's lifespan)."""
    return TeamsChannel(runtime)


def _refuse(status: int, error: str, detail: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="botframework"'} if status == 401 else None
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


@router.post("/api/messages", include_in_schema=False)
async def messages(request: Request) -> Response:
    """The Bot Connector's activities for the bot (Bot Framework REST API)."""
    channel = cast(TeamsChannel, channel_of(request, "teams"))
    raw = await request.body()
    try:
        activity: Any = json.loads(raw)
    except ValueError:
        activity = None
    # The token is checked first: an unauthenticated caller learns nothing, not even that the body was bad.
    try:
        await asyncio.to_thread(
            channel.auth.verify, request.headers.get("authorization"), activity if isinstance(activity, dict) else {}
        )
    except TokenRejected as exc:
        log.warning("Teams activity refused: %s", exc)
        return _refuse(401, "Unauthenticated", f"The Bot Framework token was refused: {exc}.")
    except KeysUnavailable as exc:
        log.error("Teams activity not checked: %s", exc)
        return _refuse(503, "Unavailable", str(exc))
    if not isinstance(activity, dict) or not isinstance(activity.get("type"), str):
        return _refuse(422, "InvalidInput", "The body is not a Bot Framework activity (a JSON object with a type).")
    tenant = channel.settings.tenant_id
    theirs = ((activity.get("channelData") or {}).get("tenant") or {}).get("id") or (
        (activity.get("conversation") or {}).get("tenantId")
    )
    if tenant and theirs != tenant:
        log.warning("Teams activity from tenant %r refused", theirs)
        return _refuse(403, "Forbidden", "This bot serves one organisation's tenant only.")
    answer = await channel.handle(activity)
    if answer.body is not None:
        return JSONResponse(answer.body, status_code=answer.status)
    return Response(status_code=answer.status)
