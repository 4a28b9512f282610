"""A loopback fake of the Slack Web API, checked against Slack's published specs, and Slack's side of events.

:class:`SlackFake` serves ``/api/{method}`` on 127.0.0.1 for the methods Firstline calls
(``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``, ``views.open``). Every request is checked
against ``../shared/specs/slack/slack_web_openapi_v2.json`` (Swagger 2.0, which ``openapi-core`` does not
read, so the check is done here): the method must exist, every parameter must be one the method declares,
the required ones present, booleans ``true``/``false``; a request that breaks it is a
:class:`~firstline.testing.loopback.ShapeViolation` (answered 422 and recorded, so the ``loopback``
fixture fails the test). Where the spec is known to be stale (see its ``SOURCE.md``) the fake follows
Slack as it is today: the token comes as ``Authorization: Bearer`` instead of the spec's ``token``
header, and ``views.open`` (a GET with query arguments in the spec) is accepted as a POST form, with the
same parameters checked. Each answer the fake gives is itself validated against the method's response
schema (a fake that drifts from Slack fails with ``AssertionError``). Block Kit JSON inside ``blocks`` and
``view`` is checked against Slack's documented limits (50 blocks, 3,000 characters in a section, a modal
title of 24).

Faults for the retry paths: :meth:`SlackFake.fail_next` (HTTP 5xx or 429 with ``Retry-After``) and
:meth:`SlackFake.error_next` (``ok: false``). :func:`event_callback` / :func:`check_event` build and
validate Events API deliveries against ``slack_common_event_wrapper_schema.json`` and the AsyncAPI
file's ``GenericEventWrapper``; :func:`signed_headers` signs a body as Slack does.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema

from firstline.channels.slack_signature import sign
from firstline.testing.loopback import LoopbackServer, Request, ShapeViolation
from firstline.testing.openapi_check import spec_path

__all__ = ["Call", "SlackFake", "check_event", "event_callback", "signed_headers"]

BOT_TOKEN = "xoxb-fake-bot-token"
_BOOL = {"true", "false", "1", "0"}


@cache
def _web_spec() -> dict[str, Any]:
    return dict(json.loads(spec_path("slack", "slack_web_openapi_v2.json").read_text(encoding="utf-8")))


@cache
def _event_schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    wrapper = json.loads(spec_path("slack", "slack_common_event_wrapper_schema.json").read_text(encoding="utf-8"))
    asyncapi = json.loads(spec_path("slack", "slack_events_api_async_v1.json").read_text(encoding="utf-8"))
    return wrapper, asyncapi["components"]["schemas"]["GenericEventWrapper"]


def _operation(method: str) -> dict[str, Any]:
    found = _web_spec()["paths"].get(f"/{method}")
    if not found:
        raise ShapeViolation(f"Slack has no Web API method {method!r}")
    return dict(found.get("post") or found.get("get"))


def check_params(method: str, params: dict[str, str]) -> None:
    """Raise :class:`ShapeViolation` unless the spec's ``method`` takes ``params`` (token aside)."""
    declared = {p["name"]: p for p in _operation(method)["parameters"] if p["in"] != "header"}
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ShapeViolation(f"{method}: parameters the method does not take: {unknown}")
    missing = sorted(name for name, p in declared.items() if p.get("required") and not params.get(name))
    if missing:
        raise ShapeViolation(f"{method}: required parameters missing: {missing}")
    for name, value in params.items():
        if declared[name].get("type") == "boolean" and value not in _BOOL:
            raise ShapeViolation(f"{method}: {name}={value!r} is not a boolean")


def check_answer(method: str, status: int, body: dict[str, Any]) -> None:
    """Raise ``AssertionError`` when the fake's own answer breaks the method's response schema."""
    responses = _operation(method)["responses"]
    schema = (responses.get(str(status)) if body.get("ok") else None) or responses["default"]
    document = {"definitions": _web_spec()["definitions"], **schema["schema"]}
    errors = list(jsonschema.Draft4Validator(document).iter_errors(body))
    if errors:
        raise AssertionError(f"fake answer to {method} breaks the spec: {errors[0].message}")


def _blocks(method: str, raw: str, limit: int = 50) -> list[dict[str, Any]]:
    try:
        blocks = json.loads(raw)
    except ValueError as exc:
        raise ShapeViolation(f"{method}: blocks is not JSON: {exc}") from exc
    if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks):
        raise ShapeViolation(f"{method}: blocks must be a JSON array of block objects")
    if len(blocks) > limit:
        raise ShapeViolation(f"{method}: {len(blocks)} blocks; Slack takes at most {limit}")
    for block in blocks:
        text = (block.get("text") or {}).get("text", "")
        if block["type"] == "section" and not 0 < len(text) <= 3000:
            raise ShapeViolation(f"{method}: a section's text has {len(text)} characters (1 to 3,000)")
        for element in block.get("elements") or []:
            if element.get("type") == "button" and not 0 < len(element.get("action_id", "")) <= 255:
                raise ShapeViolation(f"{method}: a button needs an action_id of 1 to 255 characters")
    return blocks


def _view(raw: str) -> dict[str, Any]:
    try:
        view = json.loads(raw)
    except ValueError as exc:
        raise ShapeViolation(f"views.open: view is not JSON: {exc}") from exc
    if not isinstance(view, dict) or view.get("type") != "modal":
        raise ShapeViolation("views.open: view must be a modal object")
    if not 0 < len(view.get("title", {}).get("text", "")) <= 24:
        raise ShapeViolation("views.open: a modal's title has 1 to 24 characters")
    if len(view.get("private_metadata", "")) > 3000:
        raise ShapeViolation("views.open: private_metadata is over 3,000 characters")
    _blocks("views.open", json.dumps(view.get("blocks", [])), 100)
    return view


@dataclass
class Call:
    """One accepted Web API call: the method, its form parameters and when it arrived (``time.perf_counter``)."""

    method: str
    params: dict[str, str]
    at: float
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def ts(self) -> str:
        """The posted message's ``ts`` (chat.postMessage), as the fake answered it."""
        return str(self.answer.get("ts", ""))

    @property
    def channel(self) -> str:
        """The channel the message went to (a user id becomes their direct message's ``D...`` id)."""
        return str(self.answer.get("channel") or self.params.get("channel", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return list(json.loads(self.params.get("blocks", "[]")))


@dataclass
class SlackFake:
    """The Web API on a loopback server; ``url`` is the ``api_url`` to configure (``.../api``)."""

    token: str = BOT_TOKEN
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    _faults: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.server = LoopbackServer(self._answer, require_json=False)

    @property
    def url(self) -> str:
        return self.server.url + "/api"

    def fail_next(self, count: int, status: int = 503, retry_after: float | None = None) -> None:
        """The next ``count`` calls get HTTP ``status`` (429: with ``Retry-After``)."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        with self._lock:
            self._faults += [(status, {"ok": False, "error": "service_unavailable"}, headers)] * count

    def error_next(self, error: str, count: int = 1) -> None:
        """The next ``count`` calls get ``{"ok": false, "error": error}`` (HTTP 200, as Slack does)."""
        with self._lock:
            self._faults += [(200, {"ok": False, "error": error}, {})] * count

    def _answer(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        parts = urlsplit(request.path)
        method = parts.path.removeprefix("/api/")
        if request.headers.get("authorization") != f"Bearer {self.token}":
            raise ShapeViolation(f"{method}: no 'Authorization: Bearer {self.token}' header")
        kind = request.headers.get("content-type", "").split(";")[0]
        if request.method != "POST" or kind != "application/x-www-form-urlencoded":
            raise ShapeViolation(f"{method}: expected a form-encoded POST, got {request.method} {kind}")
        params = dict(parse_qsl(request.raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        params.update(parse_qsl(parts.query))
        check_params(method, params)
        with self._lock:
            if self._faults:
                status, body, headers = self._faults.pop(0)
                return status, json.dumps(body).encode(), headers
        body = self._do(method, params)
        try:
            check_answer(method, 200, body)
        except AssertionError as exc:  # the fake's own drift: recorded like a client's violation, so tests fail
            raise ShapeViolation(str(exc)) from exc
        return 200, json.dumps(body).encode(), {}

    def _do(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        if "blocks" in params:
            _blocks(method, params["blocks"])
        if method == "views.open":
            _view(params["view"])
        ts = f"{int(time.time()):010d}.{next(self._ts):06d}"
        channel = params.get("channel", "")
        if channel.startswith(("U", "W")):  # a user id: the app's direct message with them
            channel = "D" + channel[1:].ljust(8, "0")
        body: dict[str, Any] = {"ok": True}
        if method == "chat.postMessage":
            self.messages[(channel, ts)] = dict(params)
            message = {"type": "message", "text": params.get("text", ""), "ts": ts}
            if params.get("thread_ts"):
                message["thread_ts"] = params["thread_ts"]
            body.update(channel=channel, ts=ts, message=message)
        elif method == "chat.update":
            if (channel, params["ts"]) not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            self.messages[(channel, params["ts"])].update(params)
            body.update(channel=channel, ts=params["ts"], text=params.get("text", ""),
                        message={"text": params.get("text", "")})  # fmt: skip
        elif method == "chat.postEphemeral":
            body.update(message_ts=ts)
        with self._lock:
            self.calls.append(Call(method, params, time.perf_counter(), body))
            self._lock.notify_all()
        return body

    def wait_for(self, method: str, count: int = 1, timeout: float = 30.0, **params: str) -> list[Call]:
        """Wait until ``count`` accepted calls of ``method`` (with these parameter values) have arrived."""

        def found() -> list[Call]:
            return [
                c for c in self.calls if c.method == method and all(c.params.get(k) == v for k, v in params.items())
            ]

        with self._lock:
            self._lock.wait_for(lambda: len(found()) >= count, timeout)
            hits = found()
        if len(hits) < count:
            raise AssertionError(f"{len(hits)} {method} calls with {params} after {timeout} s; wanted {count}: "
                                 f"{[(c.method, c.params) for c in self.calls]}")  # fmt: skip
        return hits

    def start(self) -> SlackFake:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()


def check_event(payload: dict[str, Any]) -> dict[str, Any]:
    """Validate an ``event_callback`` against both Slack event-wrapper schemas; returns it."""
    for schema in _event_schemas():
        jsonschema.validate(payload, schema)
    return payload


_event_ids = itertools.count(1)


def event_callback(
    event: dict[str, Any], *, event_id: str | None = None, bot_user: str = "UBOT00001"
) -> dict[str, Any]:
    """An Events API delivery of ``event`` as Slack sends it (checked against the specs)."""
    now = time.time()
    event = {"event_ts": event.get("ts", f"{now:.6f}"), **event}
    return check_event({
        "token": "legacy-verification-token",
        "team_id": "T0FIRSTLN",
        "api_app_id": "A0FIRSTLN",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_ids):08d}{int(now * 1000) % 100000:05d}",
        "event_time": int(now),
        "authed_users": [bot_user],
        "authorizations": [{"team_id": "T0FIRSTLN", "user_id": bot_user, "is_bot": True}],
    })  # fmt: skip


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack would send with ``body`` (``timestamp`` defaults to now)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign(secret, stamp, body)}
