"""The HTTP service: ``create_app(settings)`` with a lifespan that builds the runtime once.

It serves the helpdesk (``POST /v1/ask``, the same JSON as ``firstline ask --json``) and the
knowledge base (``GET /v1/kb/search``), plus ``GET /health`` and ``GET /ready``.
Every error of the Firstline tree maps to one JSON shape in one handler.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from firstline import __version__
from firstline.errors import (
    BackendUnavailableError,
    ConfigError,
    ConversationNotFoundError,
    FirstlineError,
    IndexNotReadyError,
    InputError,
    QueryTooLongError,
)
from firstline.knowledge.models import Filters
from firstline.knowledge.retriever import MODES, Mode
from firstline.runtime import Runtime, demo_runbooks
from firstline.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    error: str
    detail: str


class CitationOut(BaseModel):
    title: str
    section_path: str
    source: str
    url: str | None
    chunk_id: str
    score: float


class HitOut(BaseModel):
    chunk_id: str
    doc_id: str
    text: str
    score: float
    dense_score: float | None
    bm25_score: float | None
    rerank_score: float | None
    category: str | None
    audience: str | None
    tags: list[str]
    citation: CitationOut


class SearchOut(BaseModel):
    query: str
    mode: str
    hits: list[HitOut]


_STATUS: list[tuple[type[FirstlineError], int]] = [
    (ConversationNotFoundError, 404),
    (QueryTooLongError, 413),
    (InputError, 422),
    (IndexNotReadyError, 503),
    (BackendUnavailableError, 503),
    (ConfigError, 500),
]


class AskIn(BaseModel):
    text: str = Field(description="what the person typed (at most 8,000 characters)", max_length=200_000)
    user: str | None = Field(None, description="the requester's work e-mail address, when the caller knows it")
    conversation_id: str | None = Field(None, description="continue this conversation", max_length=64)


class NewConversationIn(BaseModel):
    user: str | None = Field(None, description="the requester's work e-mail address, when the caller knows it")


class MessageIn(BaseModel):
    text: str = Field(description="what the person typed (at most 8,000 characters)", max_length=200_000)
    user: str | None = Field(None, description="the requester's work e-mail address")
    stream: bool = Field(False, description="answer with Server-Sent Events as the turn runs")


class ConversationOut(BaseModel):
    conversation_id: str
    requester: str | None
    status: str
    agent: str
    intent: str
    ticket_number: str | None
    created_at: str
    events: list[dict[str, Any]]


class AskOut(BaseModel):
    conversation_id: str
    agent: str
    intent: str
    reply: str
    citations: list[dict[str, Any]]
    ticket: dict[str, Any] | None
    actions: list[dict[str, Any]]
    status: str = Field(description="done | paused | failed | needs_identity | rejected | waiting")
    approval: dict[str, Any] | None
    known_incident: dict[str, Any] | None
    secondary: dict[str, Any] | None
    engine: str


_ASK_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown conversation id (or someone else's)"},
    413: {"model": AskOut, "description": "The message is over 8,000 characters: refused, but stored"},
    422: {"model": AskOut, "description": "The message is empty (stored), or the body is malformed"},
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "The query is longer than knowledge.retrieval.max_query_chars"},
    422: {"model": ErrorBody, "description": "Empty query, unknown mode or bad parameter"},
    503: {"model": ErrorBody, "description": "A backend (vector store, embedder) is unreachable"},
}


def create_app(settings: Settings) -> FastAPI:
    """Build the ASGI app. The runtime (stores, models) is created in the lifespan, once."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Runtime(settings) as runtime:
            app.state.runtime = runtime
            app.state.ready = False
            app.state.turns = set()
            if settings.knowledge.ingest_demo_runbooks:
                report = await asyncio.to_thread(runtime.knowledge.ingest, [demo_runbooks()])
                log.info("demo runbooks: %s", report.as_dict())
            # Load the embedding model and keyword index before the first request.
            await asyncio.to_thread(runtime.knowledge.search, "warm up", 1)
            await asyncio.to_thread(lambda: runtime.helpdesk.triage.classify("warm up the classifier"))
            app.state.ready = True
            yield
            # Turns whose clients went away still finish and are stored before the stores close.
            await asyncio.gather(*app.state.turns, return_exceptions=True)

    app = FastAPI(title="Firstline", version=__version__, lifespan=lifespan)

    @app.exception_handler(FirstlineError)
    async def firstline_error(request: Request, exc: FirstlineError) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 502)
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=status)

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["ops"], responses={503: {"model": ErrorBody}})
    async def ready(request: Request) -> JSONResponse:
        """Readiness: the knowledge base is loaded."""
        if not getattr(request.app.state, "ready", False):
            return JSONResponse({"error": "NotReady", "detail": "still starting"}, status_code=503)
        stats = await asyncio.to_thread(request.app.state.runtime.knowledge.stats)
        return JSONResponse({"status": "ready", "chunks": stats.chunks})

    @app.get("/v1/kb/search", response_model=SearchOut, tags=["knowledge"], responses=_ERRORS)
    async def kb_search(
        request: Request,
        q: Annotated[str, Query(description="the question or symptom, e.g. 'VPN keeps disconnecting'")],
        k: Annotated[int, Query(ge=1, le=50)] = 5,
        mode: Annotated[str | None, Query(description="dense | bm25 | hybrid | hybrid+rerank | rrf")] = None,
        category: Annotated[list[str] | None, Query()] = None,
        audience: Annotated[list[str] | None, Query()] = None,
        tag: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, Any]:
        """Search the runbooks; every hit carries a citation."""
        runtime: Runtime = request.app.state.runtime
        chosen = mode or settings.knowledge.retrieval.default_mode
        if chosen not in MODES:
            raise InputError(f"Unknown search mode {chosen!r}; choose one of {', '.join(MODES)}.")
        filters = Filters.of(category, audience, tag)
        hits = await asyncio.to_thread(runtime.knowledge.search, q, k, cast(Mode, chosen), filters)
        return {"query": q, "mode": chosen, "hits": [h.as_dict() for h in hits]}

    @app.post("/v1/ask", response_model=AskOut, tags=["helpdesk"], responses=_ASK_ERRORS)
    async def ask(request: Request, body: AskIn) -> JSONResponse:
        """One message to the helpdesk: the same JSON as ``firstline ask --json``."""
        runtime: Runtime = request.app.state.runtime
        desk = runtime.helpdesk

        def run() -> dict[str, Any]:
            return asyncio.run(
                desk.ask(body.text, requester=body.user, conversation_id=body.conversation_id, channel="api")
            ).as_dict()

        reply = await asyncio.to_thread(run)
        status = 200
        if reply["status"] == "rejected":
            status = 413 if body.text.strip() else 422
        return JSONResponse(reply, status_code=status)

    @app.post("/v1/conversations", response_model=ConversationOut, status_code=201, tags=["helpdesk"])
    async def create_conversation(request: Request, body: NewConversationIn) -> dict[str, Any]:
        """Start a conversation for ``user`` (or for someone not yet known, who will be asked)."""
        runtime: Runtime = request.app.state.runtime
        conversation = await asyncio.to_thread(runtime.tickets.conversations.create, body.user, "api")
        return _conversation_out(conversation, [])

    @app.get(
        "/v1/conversations/{conversation_id}",
        response_model=ConversationOut,
        tags=["helpdesk"],
        responses={404: {"model": ErrorBody, "description": "Unknown conversation, or someone else's"}},
    )
    async def get_conversation(
        request: Request,
        conversation_id: str,
        user: Annotated[str | None, Query(description="the requester; another person's conversation is a 404")] = None,
    ) -> dict[str, Any]:
        """A conversation and its full event log (messages, routing, tool calls, ticket changes)."""
        runtime: Runtime = request.app.state.runtime
        conversation = await asyncio.to_thread(runtime.tickets.conversations.get, conversation_id)
        if conversation.requester is not None and (user or "").strip().lower() != conversation.requester:
            raise ConversationNotFoundError("conversation", conversation_id)
        events = await asyncio.to_thread(runtime.tickets.conversations.events, conversation_id)
        return _conversation_out(conversation, [e.as_dict() for e in events])

    @app.post(
        "/v1/conversations/{conversation_id}/messages",
        tags=["helpdesk"],
        responses={
            200: {
                "description": "The reply (AskOut JSON), or with `stream: true` Server-Sent Events: one event per "
                "run event (routed, model_call, tool_started, tool_finished, tool_refused, approval_needed, message, "
                "done) and a final `reply` event carrying the AskOut JSON.",
                "content": {"text/event-stream": {}},
            },
            **_ASK_ERRORS,
        },
    )
    async def post_message(request: Request, conversation_id: str, body: MessageIn) -> Any:
        """Send a message. The turn runs to its end and is stored even if a streaming client disconnects."""
        runtime: Runtime = request.app.state.runtime
        desk = runtime.helpdesk
        await asyncio.to_thread(desk.check_access, conversation_id, body.user)  # 404 before any stream starts
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def sink(event: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        def run() -> dict[str, Any]:
            coroutine = desk.ask(body.text, requester=body.user, conversation_id=conversation_id, channel="api",
                                 on_event=sink if body.stream else None)  # fmt: skip
            return asyncio.run(coroutine).as_dict()

        turn = asyncio.ensure_future(asyncio.to_thread(run))
        request.app.state.turns.add(turn)  # keep it alive past a disconnect
        turn.add_done_callback(request.app.state.turns.discard)
        if not body.stream:
            reply = await turn
            status = 200 if reply["status"] != "rejected" else (413 if body.text.strip() else 422)
            return JSONResponse(reply, status_code=status)

        async def stream() -> AsyncIterator[bytes]:
            while True:
                waiter = asyncio.ensure_future(events.get())
                done, _ = await asyncio.wait({waiter, turn}, return_when=asyncio.FIRST_COMPLETED)
                if waiter in done:
                    event = waiter.result()
                    yield _sse(str(event.get("kind", "event")), event)
                    continue
                waiter.cancel()
                while not events.empty():
                    event = events.get_nowait()
                    yield _sse(str(event.get("kind", "event")), event)
                try:
                    reply = turn.result()
                except FirstlineError as exc:
                    yield _sse("error", {"error": type(exc).__name__, "detail": str(exc)})
                    return
                yield _sse("reply", reply)
                return

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return app


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode()


def _conversation_out(conversation: Any, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "conversation_id": conversation.id,
        "requester": conversation.requester,
        "status": conversation.status,
        "agent": conversation.agent,
        "intent": conversation.intent,
        "ticket_number": conversation.ticket_number,
        "created_at": conversation.created_at.isoformat(),
        "events": events,
    }
