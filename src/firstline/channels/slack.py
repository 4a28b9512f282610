"""Slack: the Events API and interactivity endpoints, and :func:`build` for the service's lifespan.

* ``POST /slack/events`` (the app's Event Subscriptions Request URL): answers ``url_verification`` with
  its challenge and takes ``event_callback`` deliveries (``message.im``, ``app_mention``, and thread
  replies via ``message.channels`` / ``message.groups``).
* ``POST /slack/interactivity`` (Interactivity & Shortcuts Request URL): form-encoded ``payload`` with
  ``block_actions`` (Approve / Deny, "Enter the code", "Send a new code") and ``view_submission`` (the
  code modal).

Both verify Slack's v0 signature over the raw body with ``signing_secret`` and refuse a request older
than ``max_age_s`` (401, nothing else is read), then answer within Slack's 3 seconds: the work runs on
the channel's own threads (:mod:`~firstline.channels.slack_channel`). Both answer 404 when the channel
is off. How a Slack user becomes a person (never by display name or profile e-mail) is described in
``slack_channel`` and ``docs/slack.md``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from firstline.channels.registry import channel_of
from firstline.channels.slack_api import SlackWebApi
from firstline.channels.slack_approvals import Click
from firstline.channels.slack_blocks import (
    APPROVE,
    CODE_CALLBACK,
    CODE_INPUT,
    DENY,
    ENTER_CODE,
    NEW_CODE,
    NEW_CODE_TEXT,
    code_modal,
)
from firstline.channels.slack_channel import SlackChannel, incoming
from firstline.channels.slack_signature import SignatureError, verify
from firstline.channels.slack_work import Stored
from firstline.errors import ConfigError

if TYPE_CHECKING:
    from firstline.runtime import Runtime

__all__ = ["SlackChannel", "build", "router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["slack"])
_CODE = re.compile(r"^[0-9][0-9 -]{2,10}[0-9]$")  # one-time codes are digits (spaces and dashes tolerated)


def build(runtime: Runtime) -> SlackChannel:
    """The Slack channel from ``[channels.slack]``; a :class:`ConfigError` names what is missing."""
    settings = runtime.settings.channels.slack
    missing = [f"FIRSTLINE_CHANNELS__SLACK__{name.upper()}" for name in ("signing_secret", "bot_token")
               if getattr(settings, name) is None or not getattr(settings, name).get_secret_value()]  # fmt: skip
    if missing:
        raise ConfigError(f"[channels.slack] is enabled but {' and '.join(missing)} is not set (environment only).")
    assert settings.signing_secret is not None and settings.bot_token is not None
    api = SlackWebApi(settings.api_url, settings.bot_token.get_secret_value(), timeout_s=settings.timeout_s,
                      retries=settings.retries, backoff_s=settings.retry_backoff_s,
                      max_retry_after_s=settings.max_retry_after_s)  # fmt: skip
    return SlackChannel(runtime, settings, settings.signing_secret.get_secret_value(), api)


async def _verified(request: Request) -> tuple[SlackChannel, bytes]:
    channel = cast(SlackChannel, channel_of(request, "slack"))
    body = await request.body()
    try:
        verify(request.headers, body, channel.signing_secret, channel.settings.max_age_s)
    except SignatureError as exc:
        log.warning("Slack request refused: %s", exc)
        raise HTTPException(401, "The request is not signed by Slack, or it is too old.") from None
    return channel, body


async def _settle(channel: SlackChannel, stored: Stored | None) -> None:
    """Wait (off the loop, at most ``ack_wait_s``) until the job has stored what it was handed."""
    if stored is not None and not await asyncio.to_thread(stored.wait, channel.settings.ack_wait_s):
        log.warning("answering Slack before the message was stored (the turn is queued behind others)")


@router.post("/slack/events", include_in_schema=False)
async def events(request: Request) -> Response:
    """Slack's Events API deliveries; see the module docstring."""
    channel, body = await _verified(request)
    try:
        payload = json.loads(body)
    except ValueError:
        raise HTTPException(400, "The body is not JSON.") from None
    if not isinstance(payload, dict):
        raise HTTPException(400, "The body is not a JSON object.")
    if payload.get("type") == "url_verification":
        return JSONResponse({"challenge": str(payload.get("challenge", ""))})
    if payload.get("type") != "event_callback":
        return Response(status_code=200)
    retry = request.headers.get("x-slack-retry-num")
    if retry:
        log.info(
            "Slack retry %s of %s (%s)", retry, payload.get("event_id"), request.headers.get("x-slack-retry-reason")
        )
    message = incoming(payload)
    if message is not None:
        await _settle(channel, await asyncio.to_thread(channel.accept, message))
    return Response(status_code=200)


def _payload(body: bytes) -> dict[str, Any]:
    try:
        raw = parse_qs(body.decode("utf-8"), strict_parsing=False).get("payload", [""])[0]
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "The body has no JSON 'payload' form field.") from None
    if not isinstance(payload, dict):
        raise HTTPException(400, "The 'payload' field is not a JSON object.")
    return payload


@router.post("/slack/interactivity", include_in_schema=False)
async def interactivity(request: Request) -> Response:
    """Button clicks and modal submissions; see the module docstring."""
    channel, body = await _verified(request)
    payload = _payload(body)
    user = str(_dict(payload.get("user")).get("id") or "")
    if payload.get("type") == "block_actions":
        actions = payload.get("actions")
        for action in actions if isinstance(actions, list) else []:
            await _action(channel, payload, user, _dict(action))
        return Response(status_code=200)
    if payload.get("type") == "view_submission":
        view = _dict(payload.get("view"))
        if view.get("callback_id") == CODE_CALLBACK:
            return await _code_submitted(channel, user, view)
    return Response(status_code=200)


async def _action(channel: SlackChannel, payload: dict[str, Any], user: str, action: dict[str, Any]) -> None:
    action_id, value = str(action.get("action_id") or ""), str(action.get("value") or "")
    container = _dict(payload.get("container"))
    where = str(container.get("channel_id") or _dict(payload.get("channel")).get("id") or "")
    ts = str(container.get("message_ts") or _dict(payload.get("message")).get("ts") or "")
    if not (value and user):
        return  # not a button of ours (every one carries a value), or a shape Slack does not send
    if action_id in (APPROVE, DENY):
        stored = channel.click_approval(Click(user, value, action_id == APPROVE, where, ts))
        await _settle(channel, stored)
    elif action_id in (ENTER_CODE, NEW_CODE):
        found = await asyncio.to_thread(channel.conversation_for, user, value)
        if isinstance(found, str):
            channel.tell(where, user, found)
            return
        email, slack_channel, thread_ts = found
        if action_id == NEW_CODE:
            await _settle(channel, channel.submit_turn(email, NEW_CODE_TEXT, value, slack_channel, thread_ts))
            return
        view = json.dumps(code_modal(value, f"{slack_channel}:{thread_ts}"), separators=(",", ":"))
        channel.open_modal(str(payload.get("trigger_id")), view)


async def _code_submitted(channel: SlackChannel, user: str, view: dict[str, Any]) -> Response:
    try:
        meta = json.loads(str(view.get("private_metadata") or "{}"))
        code = str(view["state"]["values"][CODE_INPUT][CODE_INPUT]["value"] or "").strip()
        cid = str(meta["conversation_id"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return _field_error("That didn't come through; close this and press \u201cEnter the code\u201d again.")
    if not _CODE.match(code):
        return _field_error("Enter the code as it arrived, e.g. 123456.")
    found = await asyncio.to_thread(channel.conversation_for, user, cid)
    if isinstance(found, str):
        return _field_error(found)
    email, slack_channel, thread_ts = found
    digits = code.replace(" ", "").replace("-", "")
    await _settle(channel, channel.submit_turn(email, digits, cid, slack_channel, thread_ts))
    return Response(status_code=200)  # an empty 200 closes the modal; the reply comes in the thread


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _field_error(text: str) -> JSONResponse:
    return JSONResponse({"response_action": "errors", "errors": {CODE_INPUT: text[:150]}})
