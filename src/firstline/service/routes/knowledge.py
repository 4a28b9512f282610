"""Knowledge: search (anyone signed in), stats (agents), upload, remove and re-ingest (admins), runbook pages.

What an admin is told about files never shows where they live on the server: a file is named by its
path under the folder it was ingested from (:func:`shown_name`), and a failure carries its reason
with the server's paths taken out and a ``kind`` (``parse_error``, ``unsupported``, ``unreadable``).
A file that failed is remembered with its hash (:mod:`firstline.knowledge.catalog`): re-ingests report
it under ``still_failing`` without retrying it until it changes, and an admin can remove an uploaded
file, broken or not (``DELETE /v1/knowledge/documents/{name}``).

Who reads what: a requester searches and opens only the audiences they may read
(``firstline.helpdesk.audience``: everyone, managers, the IT team, members of a group), with
instruction-like passages withheld. The IT desk (agents and admins), who keep the runbooks and check
what the chat cited, reads everything as written, including runbooks without an audience.
"""

from __future__ import annotations

import asyncio
import html
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import quote

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from firstline.errors import AccessError, InputError
from firstline.helpdesk.audience import requester_audiences
from firstline.knowledge.audience import narrower
from firstline.knowledge.ingest import IngestReport
from firstline.knowledge.injection import withhold
from firstline.knowledge.loaders import load_file
from firstline.knowledge.models import PATH_SEPARATOR, Filters, Section
from firstline.knowledge.retriever import MODES, Mode
from firstline.runtime import Runtime, demo_runbooks
from firstline.service.auth import Admin, Agent, Principal, Requester, principal
from firstline.service.markdown import render
from firstline.service.schemas import FailedDocumentOut, IngestOut, KnowledgeStatsOut, errors
from firstline.service.state import runtime_of
from firstline.service.turns import anchor

__all__ = ["failure_kind", "router", "shown_name", "uploads_dir"]

router = APIRouter(tags=["knowledge"])
QUEUED: dict[str, Any] = {
    "description": "The ingest takes longer than jobs.ingest_wait_s: it goes on as a background job "
    '(body: {"status": "queued", "job_id": ..., "detail": ...}); see docs/jobs.md'
}
UPLOAD_TYPES = {".md", ".markdown", ".txt", ".html", ".htm", ".pdf"}


def uploads_dir(runtime: Runtime) -> Path:
    return runtime.settings.data_dir / "uploads"


def _search_errors() -> dict[int | str, dict[str, Any]]:
    return errors(401, 413, 422, 429, 503, e413="The query is over the configured length")


class FlaggedOut(BaseModel):
    source: str
    title: str
    section: str
    chunk_id: str
    rules: list[str]
    passages: list[str]


class IngestReportOut(IngestOut):
    still_failing: list[FailedDocumentOut] = Field(
        default_factory=list, description="files that failed before and have not changed: not tried again"
    )
    flagged: list[FlaggedOut] = Field(
        default_factory=list, description="passages with instruction-like text: withheld whenever they are shown"
    )


def readable_by(runtime: Runtime, who: Principal) -> tuple[str, ...] | None:
    """The audiences ``who`` may read here; None for everything (the IT desk)."""
    if who.is_agent:
        return None
    return requester_audiences(runtime.directory, who.email if who.person else None, role=who.role)


@router.get("/v1/knowledge/search", responses=_search_errors())
@router.get("/v1/kb/search", responses=_search_errors(), include_in_schema=False)
async def search(
    request: Request,
    who: Requester,
    q: Annotated[str, Query(max_length=100_000, description="the question or symptom, e.g. 'VPN keeps dropping'")],
    k: Annotated[int, Query(ge=1, le=50)] = 5,
    mode: Annotated[str | None, Query(description="dense | bm25 | hybrid | hybrid+rerank | rrf")] = None,
    category: Annotated[list[str] | None, Query()] = None,
    audience: Annotated[list[str] | None, Query()] = None,
    tag: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """Search the runbooks; every hit carries a citation and a link to its section. Each caller searches only
    the audiences they may read (employees: not the IT team's sections, not other groups' runbooks)."""
    runtime = runtime_of(request)
    chosen = mode or runtime.settings.knowledge.retrieval.default_mode
    if chosen not in MODES:
        raise InputError(f"Unknown search mode {chosen!r}; choose one of {', '.join(MODES)}.")
    readable = await asyncio.to_thread(readable_by, runtime, who)
    if readable is not None:
        wanted = [a.strip().lower() for a in audience or readable]
        audience = [a for a in wanted if a in readable] or ["(none)"]
    filters = Filters.of(category, audience, tag)
    hits = await asyncio.to_thread(runtime.knowledge.search, q, k, cast(Mode, chosen), filters)
    out = []
    for hit in hits:
        item = hit.as_dict()
        if not who.is_agent:
            item["text"] = withhold(hit.chunk.text)
        item["href"] = f"/kb/{hit.chunk.id}#{anchor(hit.chunk.section_path)}"
        out.append(item)
    return {"query": q, "mode": chosen, "hits": out}


def shown_name(runtime: Runtime, source: str) -> str:
    """``source`` as an admin sees it: its path under the uploads or demo runbooks folder, else its name."""
    path = Path(source)
    for root in (uploads_dir(runtime), demo_runbooks()):
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
    return path.name


def failure_kind(reason: str) -> str:
    """What kind of failure ``reason`` describes: unsupported (file type), unreadable, or parse_error."""
    if reason.startswith("unsupported file type"):
        return "unsupported"
    if reason.startswith("cannot read the file"):
        return "unreadable"
    return "parse_error"


def _failure(runtime: Runtime, source: str, reason: str) -> dict[str, Any]:
    name = shown_name(runtime, source)
    for place in (source, str(Path(source).parent), str(uploads_dir(runtime)), str(runtime.settings.data_dir)):
        reason = reason.replace(place, name if place == source else "")  # no server paths in what is shown
    return {"source": name, "name": name, "reason": reason.strip(), "kind": failure_kind(reason)}


def _failed_files(runtime: Runtime) -> list[dict[str, Any]]:
    uploads = uploads_dir(runtime).resolve()
    out = []
    for record in sorted(runtime.knowledge.catalog.failures().values(), key=lambda r: r.source):
        item = _failure(runtime, record.source, record.reason)
        item["failed_at"] = datetime.fromtimestamp(record.failed_at, UTC).isoformat()
        item["size"] = record.size
        item["removable"] = Path(record.source).resolve().parent == uploads
        out.append(item)
    return out


def _files(runtime: Runtime) -> list[dict[str, Any]]:
    sources = runtime.knowledge.catalog.sources()
    uploads = uploads_dir(runtime).resolve()
    return [
        {
            "source": shown_name(runtime, record.source),
            "removable": Path(record.source).resolve().parent == uploads,
            "name": Path(record.source).name,
            "documents": record.documents,
            "chunks": record.chunks,
            "size": record.size,
            "ingested_at": datetime.fromtimestamp(record.ingested_at, UTC).isoformat(),
        }
        for record in sorted(sources.values(), key=lambda r: r.source)
    ]


@router.get("/v1/knowledge/stats", response_model=KnowledgeStatsOut, responses=errors(401, 403, 429, 503))
async def stats(request: Request, who: Agent) -> dict[str, Any]:
    """What the knowledge base holds: counts, store, embedder, and every ingested file."""
    runtime = runtime_of(request)

    def load() -> dict[str, Any]:
        numbers = runtime.knowledge.stats().as_dict()
        numbers.pop("index_dir", None)
        return {**numbers, "files": _files(runtime), "failed": _failed_files(runtime)}

    return await asyncio.to_thread(load)


def _safe_name(filename: str) -> str:
    name = Path(filename.replace("\\", "/")).name
    stem, suffix = Path(name).stem, Path(name).suffix.lower()
    if suffix not in UPLOAD_TYPES:
        raise InputError(f"Upload a runbook as {', '.join(sorted(UPLOAD_TYPES))}; {name!r} is not one of those.")
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-")[:100]
    if not clean:
        raise InputError(f"The file name {filename!r} has no usable characters; rename it, e.g. vpn-setup.md.")
    return clean + suffix


def _report(runtime: Runtime, report: IngestReport | dict[str, Any]) -> dict[str, Any]:
    """An ingest report (or its ``as_dict()``, as a job keeps it) with sources as an admin sees them."""
    data: dict[str, Any] = dict(report.as_dict() if isinstance(report, IngestReport) else report)
    for key in ("added", "updated", "removed"):
        data[key] = [shown_name(runtime, source) for source in data.get(key, [])]
    for key in ("failed", "still_failing"):
        data[key] = [_failure(runtime, f["source"], f["reason"]) for f in data.get(key, [])]
    data["flagged"] = [{**f, "source": shown_name(runtime, f["source"])} for f in data.get("flagged", [])]
    return data  # "flagged": every passage with instruction-like text under the ingested paths


@router.post(
    "/v1/knowledge/documents",
    response_model=IngestReportOut,
    status_code=201,
    responses={**errors(401, 403, 409, 413, 422, 429, 503), 202: QUEUED},
)
async def upload(request: Request, who: Admin, file: Annotated[UploadFile, File(description="a runbook")]) -> Any:
    """Upload a runbook (.md, .txt, .html, .pdf) and ingest it; a file of the same name is replaced. The report
    lists passages with instruction-like text (``flagged``): they are kept, and withheld whenever shown. The ingest
    runs as an ``ingest`` job; one that takes longer than ``jobs.ingest_wait_s`` answers 202 with its job id."""
    runtime = runtime_of(request)
    name = _safe_name(file.filename or "")
    data = await file.read()
    if not data.strip():
        raise InputError(f"{name} is empty: nothing to ingest.")
    folder = uploads_dir(runtime)

    def store_and_ingest() -> dict[str, Any]:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        staging = folder / f".{name}.part"
        staging.write_bytes(data)
        staging.replace(target)
        return _ingest_job(runtime, "ingest", {"paths": [str(folder)], "prune": False}, 201) or _report(
            runtime, runtime.knowledge.ingest([folder])
        )

    return await asyncio.to_thread(store_and_ingest)


@router.delete(
    "/v1/knowledge/documents/{name}",
    response_model=IngestReportOut,
    responses=errors(401, 403, 404, 409, 429, 503),
)
async def remove(request: Request, who: Admin, name: str) -> Any:
    """Remove an uploaded runbook (one that failed to ingest too): the file, its chunks and what was
    remembered of its failure. ``name`` is the file's name as listed (``files[].name`` / ``failed[].name``)."""
    runtime = runtime_of(request)
    folder = uploads_dir(runtime)
    target = folder / Path(name.replace("\\", "/")).name

    def delete() -> dict[str, Any]:
        if target.name != name or target.name.startswith(".") or not target.is_file():
            raise HTTPException(404, f"No uploaded runbook is named {name!r}; only uploaded files can be removed.")
        target.unlink()
        out = _report(runtime, runtime.knowledge.ingest([folder], prune=True))
        if name not in out["removed"]:  # a file that never got into the index: its failure is forgotten
            out["removed"].append(name)
        return out

    return await asyncio.to_thread(delete)


@router.post(
    "/v1/knowledge/reingest",
    response_model=IngestReportOut,
    responses={**errors(401, 403, 409, 429, 503), 202: QUEUED},
)
async def reingest(request: Request, who: Admin) -> dict[str, Any]:
    """Ingest the demo runbooks (when enabled) and the uploads again: the report says what changed. It runs as a
    ``reingest`` job; one that takes longer than ``jobs.ingest_wait_s`` answers 202 with its job id."""
    runtime = runtime_of(request)
    roots = runtime.reingest_roots()  # the demo runbooks (when enabled) and the uploads
    if not roots:
        return _report(runtime, IngestReport())
    return await asyncio.to_thread(
        lambda: (
            _ingest_job(runtime, "reingest", {}, 200) or _report(runtime, runtime.knowledge.ingest(roots, prune=True))
        )
    )


def _ingest_job(runtime: Runtime, kind: str, payload: dict[str, Any], status: int) -> Any:
    """Run an ingest on the job queue and wait up to ``jobs.ingest_wait_s`` for its report: the report (as the
    inline ingest gives it), 202 with the job id when it takes longer, or None when the queue is off here
    (``jobs.enabled = false`` or no consumer in this process: the caller then ingests in the request)."""
    if not runtime.settings.jobs.enabled or not runtime.jobs_consuming:
        return None
    jobs = runtime.jobs
    job_id = jobs.enqueue(kind, payload)
    done, result = jobs.wait(job_id, runtime.settings.jobs.ingest_wait_s)
    if not done:
        body = {
            "status": "queued",
            "job_id": job_id,
            "detail": "The ingest runs in the background; see /v1/knowledge/stats.",
        }
        return JSONResponse(body, status_code=202)
    return JSONResponse(_report(runtime, result or IngestReport()), status_code=status)


# -- runbook pages (citations link here) ------------------------------------------------------------------


def _sections_of(
    runtime: Runtime, chunk_id: str, readable: tuple[str, ...] | None, as_written: bool
) -> tuple[str, str, list[Section]]:
    """The sections of ``chunk_id``'s document that ``readable`` covers (None: all), withheld unless ``as_written``."""

    def allowed(audience: str | None) -> bool:
        return readable is None or (audience or "") in readable

    chunk = runtime.knowledge.catalog.get([chunk_id]).get(chunk_id)
    if chunk is None or not allowed(chunk.audience):
        raise InputError("unknown")
    source = Path(chunk.source)
    try:
        documents = [d for d in load_file(source, chunk.doc_id) if d.doc_id == chunk.doc_id] if source.exists() else []
    except Exception:  # the file changed or broke since it was ingested: show what the index holds
        documents = []
    if documents:
        title, doc = documents[0].title, documents[0]
        sections = [s for s in doc.sections if allowed(narrower(doc.audience, s.audience))]
    else:
        title = chunk.title
        chunks = [c for c in runtime.knowledge.catalog.chunks_of_document(chunk.doc_id) if allowed(c.audience)]
        sections = [Section(tuple(c.section_path.split(PATH_SEPARATOR)), c.text) for c in chunks]
    if not as_written:
        sections = [Section(s.path, withhold(s.text), s.audience) for s in sections]
    return title, chunk.source, sections


@router.get(
    "/kb/{chunk_id}",
    response_class=HTMLResponse,
    tags=["pages"],
    responses={307: {"description": "not signed in: to /login"}, 404: {"description": "unknown, or not for you"}},
)
async def runbook_page(request: Request, chunk_id: str) -> Response:
    """The runbook a citation points to, rendered, with an anchor per section (signed-in users; only the
    sections the reader's audiences cover: IT-staff sections for the IT team, group runbooks for the group)."""
    runtime = runtime_of(request)
    try:
        who = await principal(request)
    except AccessError:
        return RedirectResponse(f"/login?next={quote(request.url.path, safe='')}", status_code=307)
    try:
        readable = await asyncio.to_thread(readable_by, runtime, who)
        title, source, sections = await asyncio.to_thread(_sections_of, runtime, chunk_id, readable, who.is_agent)
    except InputError:
        return HTMLResponse(_page("Not found", "<p>No runbook section has that id. It may have been re-ingested.</p>"),
                            status_code=404)  # fmt: skip

    parts = []
    for section in sections:
        path = PATH_SEPARATOR.join(p for p in section.path if p)
        heading = html.escape(section.path[-1] if section.path else title)
        level = min(2 + max(len(section.path) - 2, 0), 4)
        parts.append(
            f'<section id="{anchor(path)}"><h{level}>{heading}</h{level}>{render(section.text, line_breaks=False)}'
            "</section>"
        )
    body = f"<h1>{html.escape(title)}</h1><p class=source>Source: {html.escape(Path(source).name)}</p>" + "".join(parts)
    return HTMLResponse(_page(title, body))


def _page(title: str, body: str) -> str:
    """The runbook page around ``body``: the chat's header and stylesheet (``.runbook-page``), dark mode with
    the system (``theme-auto``)."""
    return (
        "<!doctype html><html lang=en class=theme-auto><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        '<meta name=color-scheme content="light dark">'
        f"<title>{html.escape(title)} - Firstline runbooks</title>"
        '<link rel=icon href="data:,"><link rel=stylesheet href="/static/style.css"></head>'
        "<body class=runbook><header class=topbar><p class=brand>Firstline <small>Runbooks</small></p>"
        '<a href="/">Back to the chat</a></header>'
        f"<main class=runbook-page>{body}</main></body></html>"
    )
