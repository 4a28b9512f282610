"""The HTTP service: ``create_app(settings)`` with a lifespan that builds the runtime once.

It serves the versioned JSON API under ``/v1`` (conversations with SSE, tickets, approvals,
knowledge, analytics, admin; see docs/api.md), the web chat at ``/``, the agent console at
``/console``, rendered runbooks at ``/kb/{chunk_id}``, and ``/health``, ``/ready``, ``/metrics``.

Middleware, outermost first: request id + JSON access log + metrics + an HTTP span, header size
(431), the client address from trusted proxies only (``service/proxies.py``), body size (413), rate
limits (429). Every error answers with one JSON shape: ``{"error", "detail"}`` (plus ``fields`` for
validation errors). Sign-ins are also limited per account (``service/signins.py``).

Several workers (``firstline serve --workers N``) each build this app with
:func:`create_app_from_environment` (settings from ``FIRSTLINE_CONFIG`` and the environment). With
``scale.redis_url`` set the rate limits are one budget in Redis, and the demo accounts are seeded and
the demo runbooks ingested under cross-worker locks, one worker at a time (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from firstline import __version__
from firstline.channels import registry as channel_registry
from firstline.channels.smtp import shared_worker
from firstline.coordination import INGEST_LOCK, SEED_LOCK, Coordination
from firstline.errors import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    ConversationNotFoundError,
    FirstlineError,
    IndexNotReadyError,
    IngestLockedError,
    InputError,
    InvalidTransitionError,
    PermissionDeniedError,
    PersonNotFoundError,
    QueryTooLongError,
    TicketNotFoundError,
)
from firstline.helpdesk.spelling import default_vocabulary
from firstline.runtime import Runtime, demo_runbooks
from firstline.service.jsonresponse import FastJSONResponse
from firstline.service.limits import BodyLimit, Buckets, HeaderLimit, RateLimit, RedisTokenBuckets, TokenBuckets
from firstline.service.observability import Metrics, configure_tracing, request_id
from firstline.service.proxies import ProxyHeaders
from firstline.service.routes import admin, conversations, events, jobs, knowledge, me, notifications, sso, tickets
from firstline.service.schemas import ErrorBody
from firstline.service.signins import SignInThrottle
from firstline.service.signins_redis import RedisSignInThrottle
from firstline.service.turns import TurnRunner
from firstline.settings import Settings, load_settings
from firstline.sqlstore.engine import private_dir

__all__ = ["DEMO_ACCOUNTS", "create_app", "create_app_from_environment", "seed_demo_accounts"]

T = TypeVar("T")
log = logging.getLogger(__name__)
access = logging.getLogger("firstline.access")
tracer = trace.get_tracer("firstline.service")

STATIC = Path(str(resources.files("firstline") / "service" / "static"))

# Our pages load nothing from elsewhere and run no inline script: say so to the browser (defence in depth
# against injected markup). FastAPI's /docs pages fetch Swagger UI from a CDN, so they go without.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
UNGUARDED = ("/docs", "/redoc")
SEED_LOCK_WAIT_S = 120.0  # how long a worker waits for another to finish seeding or ingesting at start

# (role, e-mail) of the demo accounts created on first start; the passwords are random and printed once.
DEMO_ACCOUNTS: tuple[tuple[str, str], ...] = (
    ("requester", "ruby.chen@nwmeridian.co.uk"),
    ("requester", "marcus.bell@nwmeridian.co.uk"),
    ("requester", "ben.carter@nwmeridian.co.uk"),
    ("agent", "sarah.lindqvist@nwmeridian.co.uk"),
    ("agent", "ravi.chandran@nwmeridian.co.uk"),
    ("admin", "emily.watson@nwmeridian.co.uk"),
)

_STATUS: list[tuple[type[FirstlineError], int, str]] = [
    (AuthenticationError, 401, "Unauthenticated"),
    (PermissionDeniedError, 403, "Forbidden"),
    (ConversationNotFoundError, 404, "NotFound"),
    (TicketNotFoundError, 404, "NotFound"),
    (PersonNotFoundError, 404, "NotFound"),
    (ConflictError, 409, "Conflict"),
    (InvalidTransitionError, 409, "Conflict"),
    (IngestLockedError, 409, "Conflict"),
    (QueryTooLongError, 413, "TooLarge"),
    (InputError, 422, "InvalidInput"),
    (IndexNotReadyError, 503, "NotReady"),
    (BackendUnavailableError, 503, "Unavailable"),
    (ConfigError, 500, "ConfigError"),
]


def seed_demo_accounts(runtime: Runtime, accounts: Iterable[tuple[str, str]] = DEMO_ACCOUNTS) -> list[dict[str, str]]:
    """Create the demo accounts with random passwords when there are no accounts yet; returns them once."""
    store = runtime.accounts
    if store.count():
        return []
    created = []
    for role, email in accounts:
        person = runtime.directory.person(email)
        password = secrets.token_urlsafe(12)
        store.add(email, person.name, role, password)
        created.append({"role": role, "email": email, "name": person.name, "password": password})
    return created


def _announce(settings: Settings, created: list[dict[str, str]]) -> None:
    lines = [f"  {a['role']:<9} {a['email']:<36} {a['password']}" for a in created]
    path = settings.data_dir / "demo-accounts.txt"
    private_dir(path.parent)
    text = "# Firstline demo accounts (role, e-mail, password). Delete this file once noted.\n" + "\n".join(lines)
    # Created 0600 (never readable by others, not even for a moment); an older file is tightened.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(descriptor, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text + "\n")
    print(
        "\nDemo accounts (sign in at /login; web chat for requesters, /console for agents and admins):\n"
        + "\n".join(lines)
        + f"\n(also saved to {path}, readable only by you)\n",
        flush=True,
    )


class _TicketGauge(Collector):
    """``firstline_tickets{state=...}``: tickets in the store by state, counted at scrape time."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("firstline_tickets", "Tickets in the store by state", labels=["state"])
        try:
            for state, count in sorted(self.runtime.ticket_counts().items()):
                family.add_metric([state], count)
        except Exception:  # the database being down must not break the scrape
            log.warning("ticket counts unavailable for /metrics")
        yield family
        stored = GaugeMetricFamily("firstline_conversations_stored", "Conversations and events stored", labels=["kind"])
        try:
            for kind, count in self.runtime.conversations.count().items():
                stored.add_metric([kind], count)
        except Exception:
            log.warning("conversation counts unavailable for /metrics")
        yield stored


class RequestContext:
    """Request id (``X-Request-ID`` in and out), one JSON access-log line, metrics and a span per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                extra = [] if scope["path"].startswith(UNGUARDED) else SECURITY_HEADERS
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode()), *extra]
            await send(message)

        name = f"HTTP {scope['method']}"
        try:
            with tracer.start_as_current_span(name, kind=trace.SpanKind.SERVER) as span:
                await self.app(scope, receive, send_with_id)
                span.set_attribute("http.response.status_code", status)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", None) or ("static" if scope["path"].startswith("/static/") else "unmatched")
            self.metrics.requests.labels(scope["method"], path, str(status)).inc()
            self.metrics.request_seconds.labels(scope["method"], path).observe(seconds)
            client = scope.get("client")
            access.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                    "route": path,
                    "client": client[0] if client else None,
                },
            )
            request_id.reset(token)


def _error(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status)


def _one_at_a_time(runtime: Runtime, name: str, work: Callable[[Runtime], T]) -> T:
    """Run ``work(runtime)`` under the cross-worker lock ``name`` when workers share Redis, else directly."""
    shared = runtime.coordination
    if shared is None:
        return work(runtime)
    with shared.lock(name).held(timeout_s=SEED_LOCK_WAIT_S):
        return work(runtime)


def create_app_from_environment() -> FastAPI:
    """The app of one worker of ``firstline serve --workers N`` (uvicorn's factory): settings from the file
    ``FIRSTLINE_CONFIG`` names and the environment, as the parent read them; logging as the parent's."""
    from firstline.service.observability import configure_logging

    settings = load_settings()
    configure_logging(settings)
    return create_app(settings)


def create_app(settings: Settings) -> FastAPI:
    """Build the ASGI app. The runtime (stores, models) is created in the lifespan, once."""
    metrics = Metrics()
    limits_redis = Coordination.from_settings(settings.scale)
    shared_buckets: list[RedisTokenBuckets] = []
    limit_errors = Counter(
        "firstline_rate_limit_errors", "Rate checks that failed open because Redis failed", registry=metrics.registry
    )

    def buckets(name: str, per_minute: int) -> Buckets:
        if limits_redis is None:
            return TokenBuckets(per_minute)
        made = RedisTokenBuckets(limits_redis, name, per_minute, on_error=lambda exc: limit_errors.inc())
        shared_buckets.append(made)
        return made

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_tracing(settings.telemetry)
        try:
            async with Runtime(settings) as runtime:
                app.state.runtime = runtime
                app.state.ready = False
                app.state.turns = TurnRunner(metrics)
                metrics.registry.register(_TicketGauge(runtime))
                await asyncio.to_thread(lambda: runtime.coordination)  # pings Redis: a clear error at start if down
                if settings.service.seed_demo_accounts and settings.directory.seed_demo_org:
                    created = await asyncio.to_thread(_one_at_a_time, runtime, SEED_LOCK, seed_demo_accounts)
                    if created:
                        _announce(settings, created)
                if settings.knowledge.ingest_demo_runbooks:

                    def ingest(runtime: Runtime) -> Any:
                        # wait_s: another process's ingest (a worker without Redis, `kb ingest`) may be running
                        return runtime.knowledge.ingest([demo_runbooks()], wait_s=SEED_LOCK_WAIT_S)

                    report = await asyncio.to_thread(_one_at_a_time, runtime, INGEST_LOCK, ingest)
                    log.info("demo runbooks ingested", extra={"report": report.as_dict()})
                # Load the embedding model, the keyword index and the classifier before the first request.
                await asyncio.to_thread(runtime.knowledge.search, "warm up", 1)
                await asyncio.to_thread(lambda: runtime.helpdesk.triage.classify("warm up the classifier"))
                await asyncio.to_thread(default_vocabulary)  # the spelling corrector's words (~0.3 s of CPU)
                await asyncio.to_thread(runtime.start_sync)  # a vendor backend: the outbox worker and the poller
                if settings.jobs.enabled:  # registers the send_mail job kind (the mail thread starts with its users)
                    await asyncio.to_thread(shared_worker, runtime)
                await asyncio.to_thread(runtime.start_jobs)  # job consumer threads (`jobs.consumers`; 0: elsewhere)
                app.state.channels = {}
                for name in channel_registry.enabled(settings):
                    channel = channel_registry.module(name).build(runtime)
                    await asyncio.to_thread(channel.start)
                    app.state.channels[name] = channel
                app.state.notifier = None
                if settings.notifications.email:
                    from firstline.channels.notify import build_notifier

                    app.state.notifier = build_notifier(runtime)
                    await asyncio.to_thread(app.state.notifier.start)
                app.state.ready = True
                yield
                for channel in app.state.channels.values():
                    await asyncio.to_thread(channel.stop)
                # Turns whose clients went away still finish and are stored before the stores close; the notifier
                # stops after them, so their events are still mailed.
                await app.state.turns.drain()
                await asyncio.to_thread(runtime.stop_jobs)  # running jobs finish; a cut-off one is re-run by lease
                if app.state.notifier is not None:
                    await asyncio.to_thread(app.state.notifier.stop)
        finally:
            for shared in shared_buckets:  # their connections; the next lifespan (tests) opens new ones
                shared.close()
            if isinstance(app.state.signins, RedisSignInThrottle):
                app.state.signins.close()
            if limits_redis is not None:
                limits_redis.close()

    app = FastAPI(
        title="Firstline",
        version=__version__,
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
        description="Tier-1 IT helpdesk agent: conversations, tickets, approvals, knowledge. See docs/api.md.",
    )
    app.state.metrics = metrics
    service = settings.service
    limits = (
        service.login_failures_allowed,
        service.login_delay_s,
        service.login_max_delay_s,
        service.login_failure_window_s,
    )
    # With Redis every worker counts one account's failures together (service/signins_redis.py).
    app.state.signins = SignInThrottle(*limits) if limits_redis is None else RedisSignInThrottle(limits_redis, *limits)

    @app.exception_handler(FirstlineError)
    async def firstline_error(request: Request, exc: FirstlineError) -> JSONResponse:
        status, kind = next(
            ((code, name) for cls, code, name in _STATUS if isinstance(exc, cls)), (502, "BackendError")
        )
        return _error(status, kind, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return _error(422, "ValidationError", f"The request is malformed - {summary}", fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        names = {404: "NotFound", 405: "MethodNotAllowed"}
        detail = exc.detail if isinstance(exc.detail, str) else "Request refused"
        if exc.status_code == 400:  # a body that cannot even be parsed (not UTF-8, broken multipart) is malformed
            return _error(422, "ValidationError", f"The request body cannot be read: {detail}", fields=[])
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No route {request.url.path}; the API is described at /docs."
        return JSONResponse({"error": names.get(exc.status_code, "HTTPError"), "detail": detail},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))  # fmt: skip

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "InternalError", f"Something broke on our side (request id {request_id.get()}).")

    for module in (admin, conversations, tickets, knowledge, me, events, notifications, sso, jobs):
        app.include_router(module.router)
    for name in channel_registry.available():
        app.include_router(channel_registry.module(name).router)

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, str | int]:
        """Liveness: the process answers; ``worker`` is its process id (which of several workers answered)."""
        return {"status": "ok", "version": __version__, "worker": os.getpid()}

    @app.get("/ready", tags=["ops"], responses={503: {"model": ErrorBody, "description": "still starting, or down"}})
    async def ready(request: Request) -> JSONResponse:
        """Readiness: the knowledge base is loaded and the ticket database answers."""
        if not getattr(request.app.state, "ready", False):
            return _error(503, "NotReady", "still starting")
        runtime: Runtime = request.app.state.runtime
        try:
            stats = await asyncio.to_thread(runtime.knowledge.stats)
            await asyncio.to_thread(runtime.ticket_counts)
        except FirstlineError as exc:
            return _error(503, "Unavailable", str(exc))
        return JSONResponse({"status": "ready", "chunks": stats.chunks})

    metrics_token = service.metrics_token.get_secret_value().encode() if service.metrics_token else None

    @app.get("/metrics", tags=["ops"], response_class=Response, responses={401: {"model": ErrorBody}})
    async def prometheus(request: Request) -> Response:
        """Prometheus metrics (text exposition format); with ``service.metrics_token`` set, only for that bearer."""
        if metrics_token is not None:
            header = request.headers.get("authorization", "")
            presented = header[7:].strip().encode() if header.lower().startswith("bearer ") else b""
            if not secrets.compare_digest(presented, metrics_token):
                return JSONResponse(
                    {
                        "error": "Unauthenticated",
                        "detail": "GET /metrics needs 'Authorization: Bearer <metrics token>'.",
                    },
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        data = await asyncio.to_thread(generate_latest, metrics.registry)
        return Response(data, media_type=CONTENT_TYPE_LATEST)

    def page(name: str) -> Any:
        async def serve() -> Response:
            path = STATIC / name
            if not path.exists():
                return _error(404, "NotFound", f"{name} is missing from this installation.")
            return FileResponse(path, media_type="text/html", headers={"Cache-Control": "no-cache"})

        return serve

    app.get("/", include_in_schema=False)(page("chat.html"))
    app.get("/console", include_in_schema=False)(page("console.html"))
    app.get("/login", include_in_schema=False)(page("login.html"))

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")

    app.add_middleware(
        RateLimit,
        per_credential=buckets("credential", service.rate_limit_per_minute),
        per_ip=buckets("ip", service.ip_rate_limit_per_minute),
        logins=buckets("login", service.login_rate_limit_per_minute),
        on_limited=lambda scope: metrics.rate_limited.labels(scope).inc(),
    )
    upload_limit = service.max_upload_bytes
    app.add_middleware(
        BodyLimit,
        limit_for=lambda path: upload_limit if path == "/v1/knowledge/documents" else service.max_body_bytes,
    )
    app.add_middleware(ProxyHeaders, trusted=service.trusted_proxies)
    app.add_middleware(HeaderLimit, max_bytes=service.max_header_bytes)
    app.add_middleware(RequestContext, metrics=metrics)
    return app
