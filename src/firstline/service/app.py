"""The HTTP service: ``create_app(settings)`` with a lifespan that builds the runtime once.

It serves the helpdesk (``POST /v1/ask``, the same JSON as ``firstline ask --json``) and the
knowledge base (``GET /v1/kb/search``), plus ``GET /health`` and ``GET /ready``.
Every error of the Firstline tree maps to one JSON shape in one handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
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
            if settings.knowledge.ingest_demo_runbooks:
                report = await asyncio.to_thread(runtime.knowledge.ingest, [demo_runbooks()])
                log.info("demo runbooks: %s", report.as_dict())
            # Load the embedding model and keyword index before the first request.
            await asyncio.to_thread(runtime.knowledge.search, "warm up", 1)
            await asyncio.to_thread(lambda: runtime.helpdesk.triage.classify("warm up the classifier"))
            app.state.ready = True
            yield

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

    return app
