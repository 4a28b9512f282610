"""Single sign-on routes: how people may sign in, the redirect to the identity provider, and its callback.

* ``GET /v1/auth/methods`` (public): whether password sign-in is on, the SSO button's name, and the
  sentence the sign-in page shows for each way a single sign-on can be refused.
* ``GET /v1/auth/sso/login?next=/console``: a 302 to the provider, with the sign-in's state, nonce and
  PKCE verifier sealed in a 10-minute HttpOnly cookie (``SameSite=Lax``: the provider's redirect back
  is a cross-site navigation, which a Strict cookie would not survive). ``next`` is kept only when it
  is a path on this site; anything else (``//evil.example``, ``https://...``, ``/\\evil``) becomes ``/``.
* ``GET /v1/auth/sso/callback``: checks everything (see :mod:`firstline.service.sso` and
  :mod:`firstline.service.sso_tokens`), creates or refreshes the account with the role its groups
  give, starts the same session cookie ``POST /v1/auth/login`` sets, and sends the browser to ``next``.
  Any refusal is logged with its reason and sends the browser to ``/login?sso_error=<code>``, where
  the page shows the sentence for that code: never a stack trace, never text from the provider.

Which account a sign-in opens:

* The provider's ``issuer|sub`` is recorded as a verified channel identity (channel ``oidc``). Once
  recorded, the subject decides: a person whose e-mail changed at the provider keeps their account
  (the old address; the change is logged).
* A subject seen for the first time opens the account of its e-mail address, created without a
  password when there is none. That address must not already be tied to another subject of the same
  provider (refused: ``account_conflict``, so a recycled or forged address cannot take an account over).
* An existing account **with a password** is tied to a new subject only when the provider states
  ``email_verified: true`` or the address's domain is in ``sso.allowed_domains`` (the operator vouches
  that the provider owns that domain); otherwise ``account_conflict``. It keeps its password.
* Each sign-in sets the role from the groups, so the provider's groups are the source of truth for
  anyone who signs in through it (unless ``sso.roles_from_groups`` is off: then a new account is a
  requester and an existing one keeps its role); a disabled account stays disabled (``account_disabled``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from firstline.errors import AuthenticationError
from firstline.runtime import Runtime, server_secret
from firstline.service.auth import COOKIE
from firstline.service.observability import Metrics
from firstline.service.schemas import errors
from firstline.service.sso import FLOW_TTL_S, MESSAGES, OidcClient, SsoError, open_flow, seal_flow
from firstline.service.sso_tokens import IdTokenVerifier, SsoIdentity, identity_of
from firstline.service.state import runtime_of

__all__ = ["FLOW_COOKIE", "router", "safe_next"]

log = logging.getLogger(__name__)
router = APIRouter()

FLOW_COOKIE = "firstline_sso"
CALLBACK = "/v1/auth/sso/callback"
_lock = threading.Lock()

_TO_LOGIN: dict[int | str, dict[str, Any]] = {
    303: {"description": "refused: back to /login?sso_error=<code> (the page explains the code)"}
}


class SsoButton(BaseModel):
    name: str  # the button says "Sign in with {name}"
    login_url: str


class MethodsOut(BaseModel):
    password: bool  # whether POST /v1/auth/login is open
    sso: SsoButton | None  # None when single sign-on is off
    sso_errors: dict[str, str]  # the sentence for each ?sso_error=<code>


def safe_next(raw: str | None) -> str:
    """``raw`` when it is a path on this site, else ``/`` (no open redirects)."""
    if not raw or len(raw) > 2000 or not raw.startswith("/") or raw.startswith("//"):
        return "/"
    if "\\" in raw or any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        return "/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return "/"
    return raw


class _Sso:
    """The client, token verifier and cookie key of one app (built at first use)."""

    def __init__(self, runtime: Runtime) -> None:
        self.client = OidcClient(runtime.settings.sso)
        self.verifier = IdTokenVerifier(self.client)
        self.key = hmac.new(server_secret(runtime.settings), b"firstline sso flow cookie", hashlib.sha256).digest()


def _sso(request: Request) -> _Sso:
    with _lock:
        found = getattr(request.app.state, "sso", None)
        if not isinstance(found, _Sso):
            found = _Sso(runtime_of(request))
            request.app.state.sso = found
        return found


def _messages(runtime: Runtime) -> dict[str, str]:
    name = runtime.settings.sso.display_name
    return {code: text.replace("{provider}", name) for code, text in MESSAGES.items()}


def redirect_uri(request: Request) -> str:
    """The callback address registered at the provider: ``sso.redirect_url``, else from the public URL."""
    settings = runtime_of(request).settings
    if settings.sso.redirect_url.strip():
        return settings.sso.redirect_url.strip()
    base = settings.service.public_url.strip().rstrip("/") or str(request.base_url).rstrip("/")
    return base + CALLBACK


def _to_login(code: str, next_path: str) -> RedirectResponse:
    query = {"sso_error": code, **({"next": next_path} if next_path != "/" else {})}
    response = RedirectResponse("/login?" + urlencode(query), status_code=303)
    response.delete_cookie(FLOW_COOKIE, path="/v1/auth/sso")
    return response


def _refused(request: Request, error: SsoError, next_path: str) -> RedirectResponse:
    log.warning("sso sign-in refused: %s", error.reason, extra={"sso_error": error.code, "reason": error.reason})
    metrics: Metrics = request.app.state.metrics
    metrics.logins.labels("sso_refused").inc()
    return _to_login(error.code, next_path)


@router.get("/v1/auth/methods", tags=["auth"], response_model=MethodsOut, responses=errors(429))
async def methods(request: Request) -> dict[str, Any]:
    """How people may sign in here (public): password, single sign-on, and what each SSO refusal means."""
    runtime = runtime_of(request)
    sso = runtime.settings.sso
    return {
        "password": sso.password_sign_in or not sso.enabled,
        "sso": {"name": sso.display_name, "login_url": "/v1/auth/sso/login"} if sso.enabled else None,
        "sso_errors": _messages(runtime),
    }


@router.get(
    "/v1/auth/sso/login",
    tags=["auth"],
    response_class=RedirectResponse,
    status_code=302,
    responses={**_TO_LOGIN, **errors(422, 429)},
)
async def sso_login(request: Request, next: Annotated[str | None, Query(max_length=4000)] = None) -> RedirectResponse:
    """Start a single sign-on: a redirect to the identity provider (``next``: a path on this site)."""
    runtime = runtime_of(request)
    target = safe_next(next)
    if next and target != next:
        log.warning("sso sign-in: refused to redirect to %r after sign-in; using /", next[:200])
    if not runtime.settings.sso.enabled:
        return _to_login("not_enabled", target)
    sso = _sso(request)
    try:
        url, flow = await asyncio.to_thread(sso.client.begin, redirect_uri(request), target)
    except SsoError as exc:
        return _refused(request, exc, target)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        FLOW_COOKIE,
        seal_flow(flow, sso.key),
        max_age=FLOW_TTL_S,
        httponly=True,
        samesite="lax",
        secure=runtime.settings.service.secure_cookies,
        path="/v1/auth/sso",
    )
    return response


def _account_email(runtime: Runtime, identity: SsoIdentity) -> str:
    """Which account this identity opens, recording the subject on first sight (policy: module docstring)."""
    channels = runtime.channels
    linked = channels.person("oidc", identity.subject)
    if linked is not None:
        if linked != identity.email:
            log.info("sso: the provider now gives %s for the subject of %s; the account stays", identity.email,
                     linked, extra={"subject": identity.subject})  # fmt: skip
        return linked
    issuer = identity.subject.rpartition("|")[0]
    others = [
        i.external_id for i in channels.identities(identity.email)
        if i.channel == "oidc" and i.external_id.rpartition("|")[0] == issuer and i.external_id != identity.subject
    ]  # fmt: skip
    if others:
        raise SsoError("account_conflict", f"{identity.email} is already tied to another subject of {issuer} "
                                           f"({others[0]}); {identity.subject} may not take it over")  # fmt: skip
    existing = runtime.accounts.find(identity.email)
    domain = identity.email.rpartition("@")[2]
    vouched = identity.verified or domain in runtime.settings.sso.allowed_domains
    if existing is not None and existing.has_password and not vouched:
        raise SsoError("account_conflict", f"{identity.email} has a password account and the provider neither says "
                       "email_verified = true nor is the domain in sso.allowed_domains")  # fmt: skip
    return identity.email


def _sign_in(runtime: Runtime, sso: _Sso, code: str, nonce: str, verifier: str, uri: str) -> tuple[str, datetime]:
    tokens = sso.client.exchange(code, verifier, uri)
    claims = sso.verifier.verify(tokens["id_token"], nonce)
    identity = identity_of(claims, runtime.settings.sso, sso.client.issuer)
    email = _account_email(runtime, identity)
    role = identity.role
    if not runtime.settings.sso.roles_from_groups:
        existing = runtime.accounts.find(email)
        role = existing.role if existing is not None else "requester"
    account = runtime.accounts.upsert_sso(email, identity.name, role)
    if not account.active:
        raise SsoError("account_disabled", f"{email} is disabled")
    runtime.channels.link("oidc", identity.subject, email, "oidc")
    try:
        token, expires = runtime.accounts.start_session(email)
    except AuthenticationError as exc:
        raise SsoError("account_disabled", str(exc)) from exc
    log.info("sso sign-in", extra={"email": email, "role": identity.role, "subject": identity.subject})
    return token, expires


@router.get(
    "/v1/auth/sso/callback",
    tags=["auth"],
    response_class=RedirectResponse,
    status_code=303,
    responses={
        303: {"description": "signed in: on to `next`; or refused: back to /login?sso_error=<code>"},
        **errors(422, 429),
    },
)
async def sso_callback(
    request: Request,
    code: Annotated[str | None, Query(max_length=4000)] = None,
    state: Annotated[str | None, Query(max_length=1000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    """Where the provider sends the browser back: signs in and redirects to ``next``, or to /login with the reason."""
    runtime = runtime_of(request)
    if not runtime.settings.sso.enabled:
        return _to_login("not_enabled", "/")
    sso = _sso(request)
    try:
        flow = open_flow(request.cookies.get(FLOW_COOKIE), sso.key, state)
    except SsoError as exc:
        if error is None:
            return _refused(request, exc, "/")
        flow = None  # an error answer signs no one in: say what the provider said, even without its state
    if error is not None or not code or flow is None:
        refusal = SsoError("provider_refused", f"the provider answered error={error!r} instead of a code")
        return _refused(request, refusal, flow.next_path if flow is not None else "/")
    try:
        token, _ = await asyncio.to_thread(_sign_in, runtime, sso, code, flow.nonce, flow.verifier,
                                           redirect_uri(request))  # fmt: skip
    except SsoError as exc:
        return _refused(request, exc, flow.next_path)
    except Exception:
        log.exception("sso sign-in failed unexpectedly")
        return _refused(request, SsoError("unexpected", "see the exception above"), flow.next_path)
    metrics: Metrics = request.app.state.metrics
    metrics.logins.labels("sso_ok").inc()
    response = RedirectResponse(safe_next(flow.next_path), status_code=303)
    response.delete_cookie(FLOW_COOKIE, path="/v1/auth/sso")
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(runtime.accounts.session_ttl.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=runtime.settings.service.secure_cookies,
        path="/",
    )
    return response
