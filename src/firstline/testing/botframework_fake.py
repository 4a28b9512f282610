"""The Bot Framework on 127.0.0.1, for the Teams channel's tests: metadata, keys, tokens and a connector.

No official machine-readable spec of the Bot Framework is stored in ``../shared/specs``; the shapes
here follow Microsoft's Bot Framework REST API documentation, checked (with the ``search`` tool)
against "Authenticate requests from the Bot Connector service to your bot" (OpenID metadata with a
``jwks_uri``; keys with ``endorsements``; tokens with ``iss`` https://api.botframework.com, ``aud`` =
the App ID, ``serviceUrl`` claim, RS256, five minutes of clock skew), "Authenticate requests from your
bot to the Bot Connector service" (client-credentials grant with scope
``https://api.botframework.com/.default``; answer ``token_type``, ``expires_in``, ``access_token``),
the Connector API reference (``POST /v3/conversations/{id}/activities[/{activityId}]``, ``PUT
/v3/conversations/{id}/activities/{activityId}``, answering a ``ResourceResponse`` ``{"id"}``), the
Activity schema (``type``, ``id``, ``serviceUrl``, ``channelId``, ``from``/``recipient`` with
``aadObjectId``, ``conversation`` with ``conversationType`` and ``tenantId``, ``channelData.tenant.id``,
``replyToId``, ``textFormat``, ``attachments`` of ``contentType`` + ``content``, ``value``) and the
Universal Actions model (``invoke`` named ``adaptiveCard/action`` with ``value.action`` of type
``Action.Execute``, ``verb`` and ``data``).

:class:`BotFrameworkFake` serves:

* ``GET /v1/.well-known/openidconfiguration`` and ``GET /v1/.well-known/keys`` (an RSA key made here,
  endorsed for ``msteams``; :meth:`rotate` publishes another);
* ``POST /botframework.com/oauth2/v2.0/token``: the bot's token (only for the right App ID and
  password, grant and scope);
* the Connector under ``{serviceUrl}`` = ``{url}/teams/``: each call must carry a bearer token this
  fake issued and not yet expired (else 401), and a well-formed activity (else 422 and a
  ``violation``); accepted ones are kept in :attr:`activities`, with the time they arrived.

:meth:`token` mints the Bot Connector's inbound JWT for an activity, right or wrong in one way
(expired, wrong audience or issuer, a key nobody published, a forged signature, another serviceUrl).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from firstline.testing.loopback import LoopbackServer, Reply, Request, ShapeViolation

__all__ = ["BOT_ISSUER", "BotFrameworkFake", "Posted"]

BOT_ISSUER = "https://api.botframework.com"
SCOPE = "https://api.botframework.com/.default"
_CONNECTOR = re.compile(r"^/teams/v3/conversations/(?P<cid>[^/]+)/activities(?:/(?P<aid>[^/]+))?$")
_TEXT_FORMATS = {"markdown", "plain", "xml"}


@dataclass(frozen=True)
class Posted:
    """One activity the bot sent to the connector."""

    method: str
    conversation_id: str
    activity_id: str | None  # the activity replied to (POST) or replaced (PUT); None for a new message
    body: dict[str, Any]
    at: float  # time.monotonic() when it arrived
    new_id: str


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class _Key:
    kid: str
    private: rsa.RSAPrivateKey
    endorsements: list[str] = field(default_factory=lambda: ["msteams", "webchat"])

    def jwk(self) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "n": _b64(numbers.n),
            "e": _b64(numbers.e),
            "endorsements": self.endorsements,
        }


def _new_key(kid: str) -> _Key:
    return _Key(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


class BotFrameworkFake:
    """Microsoft's side of a Teams bot, on a free port of 127.0.0.1."""

    def __init__(self, app_id: str, app_password: str, tenant_id: str = "tenant-nwm") -> None:
        self.app_id = app_id
        self.app_password = app_password
        self.tenant_id = tenant_id
        self.keys = [_new_key("key-1")]
        self.rogue = _new_key("key-1")  # same kid as the published key, another private key: a forged signature
        self.activities: list[Posted] = []
        self.metadata_fetches = 0
        self.key_fetches = 0
        self.tokens_issued = 0
        self.token_lifetime_s = 3600
        self._issued: dict[str, float] = {}  # bot token -> expiry (monotonic)
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self.server = LoopbackServer(self._app, require_json=False)

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> BotFrameworkFake:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> BotFrameworkFake:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/v1/.well-known/openidconfiguration"

    @property
    def token_url(self) -> str:
        return f"{self.url}/botframework.com/oauth2/v2.0/token"

    @property
    def service_url(self) -> str:
        return f"{self.url}/teams/"

    @property
    def violations(self) -> list[str]:
        return self.server.violations

    def rotate(self) -> str:
        """Publish a new signing key (the old one stays); its kid."""
        key = _new_key(f"key-{len(self.keys) + 1}")
        self.keys.append(key)
        return key.kid

    # -- inbound: activities and their tokens -----------------------------------------------------------

    def token(
        self,
        activity: dict[str, Any],
        *,
        audience: str | None = None,
        issuer: str = BOT_ISSUER,
        kid: str | None = None,
        forged: bool = False,
        lifetime_s: int = 3600,
        not_before_s: int = 0,
        service_url: str | None = None,
    ) -> str:
        """The ``Authorization`` header the Bot Connector would send with ``activity`` (or a wrong one)."""
        now = int(time.time())
        key = self.rogue if forged else next((k for k in self.keys if k.kid == (kid or self.keys[-1].kid)), None)
        signer = key.private if key is not None else _new_key("x").private
        claims = {
            "iss": issuer,
            "aud": audience or self.app_id,
            "exp": now + lifetime_s,
            "nbf": now + not_before_s,
            "iat": now + min(0, not_before_s),
            "serviceUrl": activity.get("serviceUrl") if service_url is None else service_url,
        }
        headers = {"kid": kid or self.keys[-1].kid, "typ": "JWT"}
        return "Bearer " + jwt.encode(claims, signer, algorithm="RS256", headers=headers)

    def message(
        self,
        user_aad: str,
        text: str = "",
        *,
        conversation_id: str | None = None,
        conversation_type: str = "personal",
        name: str = "A. User",
        value: dict[str, Any] | None = None,
        reply_to: str | None = None,
        tenant_id: str | None = None,
    ) -> dict[str, Any]:
        """A Teams message activity from ``user_aad`` to the bot."""
        tenant = tenant_id or self.tenant_id
        activity: dict[str, Any] = {
            "type": "message",
            "id": f"1{next(self._ids):012d}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": {"id": f"29:{user_aad}", "name": name, "aadObjectId": user_aad},
            "conversation": {
                "id": conversation_id or f"a:personal-{user_aad}",
                "conversationType": conversation_type,
                "tenantId": tenant,
            },
            "recipient": {"id": f"28:{self.app_id}", "name": "Firstline"},
            "textFormat": "plain",
            "locale": "en-GB",
            "channelData": {"tenant": {"id": tenant}},
        }
        if text:
            activity["text"] = text
        if value is not None:
            activity["value"] = value
        if reply_to:
            activity["replyToId"] = reply_to
        return activity

    def invoke(self, user_aad: str, data: dict[str, Any], verb: str, reply_to: str, **options: Any) -> dict[str, Any]:
        """An ``adaptiveCard/action`` invoke: ``user_aad`` used an ``Action.Execute`` button."""
        activity = self.message(user_aad, reply_to=reply_to, **options)
        activity.update(
            type="invoke",
            name="adaptiveCard/action",
            value={"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"},
        )
        activity.pop("textFormat", None)
        return activity

    # -- what the bot sent -------------------------------------------------------------------------------

    def wait_for(
        self, count: int, timeout: float = 30.0, match: Callable[[Posted], bool] | None = None, **where: Any
    ) -> list[Posted]:
        """The activities matching ``where`` (Posted fields) and ``match``, once there are ``count``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [
                    p
                    for p in self.activities
                    if all(getattr(p, k) == v for k, v in where.items()) and (match is None or match(p))
                ]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout}s for {count} activities {where}; got {len(found)}")
                self._changed.wait(left)

    # -- the server -------------------------------------------------------------------------------------

    def _app(self, request: Request) -> Reply:
        path = request.path.split("?")[0]
        if request.method == "GET" and path == "/v1/.well-known/openidconfiguration":
            self.metadata_fetches += 1
            return 200, json.dumps(
                {
                    "issuer": BOT_ISSUER,
                    "authorization_endpoint": f"{self.url}/v1/auth",
                    "jwks_uri": f"{self.url}/v1/.well-known/keys",
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                }
            ).encode()
        if request.method == "GET" and path == "/v1/.well-known/keys":
            self.key_fetches += 1
            return 200, json.dumps({"keys": [k.jwk() for k in self.keys]}).encode()
        if request.method == "POST" and path == "/botframework.com/oauth2/v2.0/token":
            return self._token(request)
        match = _CONNECTOR.match(path)
        if match and request.method in ("POST", "PUT"):
            return self._connector(request, unquote(match["cid"]), unquote(match["aid"]) if match["aid"] else None)
        return 404, json.dumps({"error": {"code": "NotFound", "message": f"{request.method} {path}"}}).encode()

    def _token(self, request: Request) -> Reply:
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise ShapeViolation("the token request must be form-encoded")
        form = {k: v[0] for k, v in parse_qs(request.raw.decode()).items()}
        if form.get("grant_type") != "client_credentials" or form.get("scope") != SCOPE:
            raise ShapeViolation(f"token request with grant {form.get('grant_type')!r}, scope {form.get('scope')!r}")
        if form.get("client_id") != self.app_id or form.get("client_secret") != self.app_password:
            return 401, json.dumps({"error": "invalid_client", "error_description": "AADSTS7000215"}).encode()
        token = secrets.token_urlsafe(32)
        self._issued[token] = time.monotonic() + self.token_lifetime_s
        self.tokens_issued += 1
        answer = {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime_s,
            "ext_expires_in": self.token_lifetime_s,
            "access_token": token,
        }
        return 200, json.dumps(answer).encode()

    def _connector(self, request: Request, conversation_id: str, activity_id: str | None) -> Reply:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        if self._issued.get(token, 0.0) < time.monotonic():
            return 401, json.dumps({"message": "Authorization has been denied for this request."}).encode()
        if request.method == "PUT" and activity_id is None:
            raise ShapeViolation("PUT needs the activity id to replace")
        if request.headers.get("content-type") != "application/json":
            raise ShapeViolation(f"Content-Type is {request.headers.get('content-type')!r}")
        body = request.json()
        _check_activity(body, conversation_id)
        new_id = activity_id if request.method == "PUT" and activity_id else f"0:{next(self._ids)}"
        with self._changed:
            self.activities.append(Posted(request.method, conversation_id, activity_id, body, time.monotonic(), new_id))
            self._changed.notify_all()
        return 200 if request.method == "PUT" else 201, json.dumps({"id": new_id}).encode()


def _check_activity(body: Any, conversation_id: str) -> None:
    """What the Connector would refuse in an activity the bot sends."""
    if not isinstance(body, dict) or body.get("type") != "message":
        raise ShapeViolation("the activity must be an object of type 'message'")
    for name in ("from", "conversation", "recipient"):
        if not isinstance(body.get(name), dict) or not body[name].get("id"):
            raise ShapeViolation(f"the activity's {name} needs an id")
    if body["conversation"]["id"] != conversation_id:
        raise ShapeViolation("the activity's conversation.id differs from the URL's")
    if body.get("textFormat", "plain") not in _TEXT_FORMATS:
        raise ShapeViolation(f"textFormat {body.get('textFormat')!r}")
    attachments = body.get("attachments", [])
    if not body.get("text") and not attachments:
        raise ShapeViolation("a message needs text or attachments")
    for attachment in attachments:
        if not isinstance(attachment, dict) or not attachment.get("contentType"):
            raise ShapeViolation("each attachment needs a contentType")
        card = attachment.get("content")
        if attachment["contentType"] == "application/vnd.microsoft.card.adaptive":
            if not isinstance(card, dict) or card.get("type") != "AdaptiveCard" or not card.get("version"):
                raise ShapeViolation("an Adaptive Card attachment needs content of type AdaptiveCard with a version")
            for action in card.get("actions", []):
                if action.get("type") not in ("Action.Submit", "Action.Execute", "Action.OpenUrl", "Action.ShowCard"):
                    raise ShapeViolation(f"unknown card action {action.get('type')!r}")
