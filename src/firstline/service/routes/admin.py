"""Sign-in, who am I, analytics (agents), and administration: API keys and settings (admins)."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from firstline.errors import AuthenticationError, InputError
from firstline.service.auth import COOKIE, Admin, Agent, Requester
from firstline.service.observability import Metrics
from firstline.service.schemas import (
    AnalyticsOut,
    ApiKeyIn,
    ApiKeyList,
    LoginIn,
    LoginOut,
    MeOut,
    NewApiKeyOut,
    errors,
)
from firstline.service.signins import SignInThrottle
from firstline.service.state import runtime_of
from firstline.settings import redacted

__all__ = ["router"]

router = APIRouter()


@router.post("/v1/auth/login", response_model=LoginOut, tags=["auth"], responses=errors(401, 403, 422, 429))
async def login(request: Request, body: LoginIn) -> JSONResponse:
    """Sign in with e-mail and password; sets the session cookie the web chat and console use.

    After a few failed sign-ins for one account, each further attempt must wait longer: until then
    the answer is 429 with Retry-After, and the password is not checked (see ``service/signins.py``).
    With ``sso.password_sign_in`` off the answer is 403: sign in through the company sign-in instead.
    """
    runtime = runtime_of(request)
    accounts = runtime.accounts
    metrics: Metrics = request.app.state.metrics
    sso = runtime.settings.sso
    if sso.enabled and not sso.password_sign_in:
        metrics.logins.labels("refused").inc()
        return JSONResponse(
            {"error": "Forbidden", "detail": f"Password sign-in is turned off here: sign in with {sso.display_name} "
             "(the company sign-in button on /login)."},
            status_code=403,
        )  # fmt: skip
    throttle: SignInThrottle = request.app.state.signins
    wait = throttle.claim(body.email)
    if wait > 0:
        metrics.logins.labels("throttled").inc()
        metrics.rate_limited.labels("account").inc()
        seconds = max(1, math.ceil(wait))
        return JSONResponse(
            {"error": "RateLimited", "detail": f"Too many failed sign-ins for this account, try again in {seconds} s."},
            status_code=429,
            headers={"Retry-After": str(seconds)},
        )
    try:
        token, expires = await asyncio.to_thread(accounts.login, body.email, body.password)
    except AuthenticationError as exc:
        metrics.logins.labels("failed").inc()
        seconds = throttle.seconds(body.email)
        if not seconds:
            raise
        notice = f"Too many failed sign-ins for this account: the next attempt must wait {seconds} s."
        return JSONResponse(
            {"error": "Unauthenticated", "detail": f"{exc} {notice}"},
            status_code=401,
            headers={"Retry-After": str(seconds)},
        )
    except Exception:
        throttle.refund(body.email)  # no answer (the database is down): the attempt does not count
        raise
    throttle.succeeded(body.email)
    metrics.logins.labels("ok").inc()
    account = await asyncio.to_thread(accounts.get, body.email)
    response = JSONResponse(
        {
            "user": {"email": account.email, "name": account.name, "role": account.role},
            "expires_at": expires.isoformat(),
        }
    )
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(accounts.session_ttl.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=runtime.settings.service.secure_cookies,
        path="/",
    )
    return response


@router.post("/v1/auth/logout", status_code=204, tags=["auth"], responses=errors(401, 403, 429))
async def logout(request: Request, who: Requester) -> Response:
    """End this session (the cookie is cleared and the token forgotten)."""
    token = request.cookies.get(COOKIE)
    if token:
        await asyncio.to_thread(runtime_of(request).accounts.logout, token)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/v1/me", response_model=MeOut, tags=["auth"], responses=errors(401, 429))
async def me(who: Requester) -> dict[str, Any]:
    """Who you are signed in as, and your role."""
    return {"email": who.email, "name": who.name, "role": who.role, "via": who.via}


@router.get("/v1/analytics", response_model=AnalyticsOut, tags=["analytics"], responses=errors(401, 403, 422, 429))
async def analytics(request: Request, who: Agent, days: Annotated[int, Query(ge=1, le=366)] = 30) -> dict[str, Any]:
    """Deflection, escalation, time to resolution, top intents, tickets per specialist per day, cost;
    each metric with the sentence that defines it."""
    result: dict[str, Any] = await asyncio.to_thread(runtime_of(request).analytics, days)
    return result


@router.get("/v1/admin/settings", tags=["admin"], responses=errors(401, 403, 429))
async def settings(request: Request, who: Admin) -> dict[str, Any]:
    """The running configuration, secrets redacted."""
    return redacted(runtime_of(request).settings)


@router.get("/v1/admin/api-keys", response_model=ApiKeyList, tags=["admin"], responses=errors(401, 403, 429))
async def list_keys(request: Request, who: Admin) -> dict[str, Any]:
    """Every API key (never the keys themselves)."""
    keys = await asyncio.to_thread(runtime_of(request).accounts.list_keys)
    return {"keys": [k.as_dict() for k in keys]}


@router.post(
    "/v1/admin/api-keys",
    response_model=NewApiKeyOut,
    status_code=201,
    tags=["admin"],
    responses=errors(401, 403, 422, 429),
)
async def create_key(request: Request, body: ApiKeyIn, who: Admin) -> dict[str, Any]:
    """Make a key for an integration; the key is in this answer only."""
    accounts = runtime_of(request).accounts
    key, record = await asyncio.to_thread(accounts.create_key, body.name, body.role, body.subject)
    return {**record.as_dict(), "key": key}


@router.delete("/v1/admin/api-keys/{key_id}", tags=["admin"], responses=errors(401, 403, 404, 429))
async def revoke_key(request: Request, key_id: str, who: Admin) -> dict[str, Any]:
    """Revoke a key: it stops working at once."""
    accounts = runtime_of(request).accounts
    try:
        record = await asyncio.to_thread(accounts.revoke_key, key_id)
    except InputError as exc:
        raise HTTPException(404, str(exc)) from exc
    return record.as_dict()
