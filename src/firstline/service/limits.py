"""Request limits: header size (431), body size (413) and request rates per credential and per client IP (429).

All are plain ASGI middleware, so they answer before a body is parsed or a route runs. The rate
limiter keys a credential by a digest of the presented cookie or API key (no database lookup): a
stolen or guessed key is limited as tightly as a valid one. The client IP is ``scope["client"]``,
which :class:`~firstline.service.proxies.ProxyHeaders` rewrites only for trusted proxies.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "HeaderLimit", "RateLimit", "TokenBuckets"]

UNLIMITED_PATHS = ("/health", "/ready", "/metrics")


async def _refuse(send: Send, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class HeaderLimit:
    """Refuse requests whose headers total more than ``max_bytes`` with 431, before anything reads them.

    Each header counts as ``name: value`` plus its line ending, as on the wire. The server's own cap
    (``h11_max_incomplete_event_size``, set by :func:`firstline.service.server.uvicorn_options`) stops
    far larger heads before they are buffered; this gives the JSON answer below that cap.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            total = sum(len(name) + len(value) + 4 for name, value in scope.get("headers") or ())
            if total > self.max_bytes:
                detail = (
                    f"The request headers total {total:,} bytes, more than the limit of {self.max_bytes:,}; "
                    "send fewer or smaller headers (clear this site's cookies if they have grown)."
                )
                await _refuse(send, 431, "HeadersTooLarge", detail)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over the limit with 413, whether announced by Content-Length or streamed.

    A streamed (chunked) body is counted as it arrives and reading past the limit raises inside the
    app. Whatever the app then answers (FastAPI turns any error while reading a JSON body into 400,
    which the service reports as 422), the response is replaced by the 413 when it has not started.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        detail = f"The request body is larger than {limit:,} bytes; send less (a message may be 8,000 characters)."
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, 413, "TooLarge", detail)
            return
        received = 0
        started = over = refused = False

        async def limited() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise _TooLarge
            return message

        async def tracking(message: Message) -> None:
            nonlocal started, refused
            if refused:  # the rest of the app's own answer to the overflow: dropped
                return
            if message["type"] == "http.response.start":
                if over:
                    refused = True
                    await _refuse(send, 413, "TooLarge", detail)
                    return
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking)
        except _TooLarge:
            if not started and not refused:
                await _refuse(send, 413, "TooLarge", detail)


class TokenBuckets:
    """Token buckets by key: ``rate`` requests per minute with bursts up to the same number."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def take(self, key: str) -> float:
        """0 when the request may go ahead, otherwise the seconds until it could."""
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - stamp) * self.refill)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.refill
            if len(self._buckets) > self._max_keys:  # forget full buckets: they behave like new ones
                full = [k for k, (t, s) in self._buckets.items() if t + (now - s) * self.refill >= self.capacity]
                for k in full:
                    del self._buckets[k]
        return wait


def credential_key(headers: dict[bytes, bytes]) -> str | None:
    """A digest of the presented API key or session cookie, or None for an anonymous request."""
    raw = headers.get(b"authorization", b"").removeprefix(b"Bearer ").strip() or headers.get(b"x-api-key", b"")
    if not raw:
        for part in headers.get(b"cookie", b"").split(b";"):
            name, _, value = part.strip().partition(b"=")
            if name == b"firstline_session" and value:
                raw = value
                break
    return hashlib.sha256(raw).hexdigest()[:32] if raw else None


class RateLimit:
    """429 with Retry-After when an IP, a credential, or sign-ins from one IP go over their rate."""

    def __init__(
        self,
        app: ASGIApp,
        per_credential: TokenBuckets,
        per_ip: TokenBuckets,
        logins: TokenBuckets,
        on_limited: Callable[[str], Any] | None = None,
    ) -> None:
        self.app = app
        self.per_credential, self.per_ip, self.logins = per_credential, per_ip, logins
        self.on_limited = on_limited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        headers = dict(scope.get("headers") or [])
        checks: list[tuple[str, TokenBuckets, str]] = [("ip", self.per_ip, ip)]
        if (scope["path"] == "/v1/auth/login" and scope["method"] == "POST") or scope["path"].startswith(
            "/v1/auth/sso/"
        ):
            checks.append(("login", self.logins, ip))
        credential = credential_key(headers)
        if credential is not None:
            checks.append(("credential", self.per_credential, credential))
        for scope_name, buckets, key in checks:
            wait = buckets.take(key)
            if wait > 0:
                if self.on_limited is not None:
                    self.on_limited(scope_name)
                seconds = max(1, math.ceil(wait))
                what = {"ip": "this address", "login": "sign-in attempts", "credential": "this account or key"}
                await _refuse(
                    send,
                    429,
                    "RateLimited",
                    f"Too many requests from {what[scope_name]}: try again in {seconds} s.",
                    {"Retry-After": str(seconds)},
                )
                return
        await self.app(scope, receive, send)
