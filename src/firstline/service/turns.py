"""Running helpdesk turns for the API: off the event loop, past client disconnects, as SSE when asked.

A turn runs on a worker thread of its own pool (the offline engine is CPU-bound and the stores are
synchronous), in a copy of the request's context so its log lines and spans carry the request id.
The task is held by :class:`TurnRunner` until it finishes, so a client that goes away does not cancel
it, and the app waits for running turns before the stores close.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from firstline.errors import FirstlineError
from firstline.helpdesk.reply import DeskReply
from firstline.service.observability import Metrics

__all__ = ["TurnRunner", "anchor", "public_reply", "sse", "stream_events"]

EventSink = Callable[[dict[str, Any]], None]
TurnFn = Callable[[EventSink], Coroutine[Any, Any, DeskReply]]


def anchor(section_path: str) -> str:
    """The HTML id of a runbook section: its heading path, lower-case, words joined by dashes."""
    return re.sub(r"[^a-z0-9]+", "-", section_path.lower()).strip("-") or "top"


def public_reply(reply: dict[str, Any], *, agent_view: bool) -> dict[str, Any]:
    """The reply as the caller may see it: citations get their runbook link; tool details only for agents."""
    out = dict(reply)
    out["citations"] = [
        {**c, "href": f"/kb/{quote(str(c['chunk_id']), safe='')}#{anchor(str(c.get('section_path') or ''))}"}
        if c.get("chunk_id")
        else {**c, "href": None}
        for c in reply.get("citations") or []
    ]
    if not agent_view:  # requesters see which engine answered, not the tool calls or the costs
        out["actions"] = []
        out["usage"] = {}
    return out


class TurnRunner:
    """Runs turns on a thread pool and keeps each one alive until it is stored."""

    def __init__(self, metrics: Metrics, workers: int = 8) -> None:
        self.metrics = metrics
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="firstline-turn")
        self.running: set[asyncio.Future[dict[str, Any]]] = set()

    def start(self, turn: TurnFn, sink: EventSink | None = None) -> asyncio.Future[dict[str, Any]]:
        """Start ``turn`` now; the future resolves to the reply as a dict (or the turn's error)."""
        loop = asyncio.get_running_loop()
        seen: list[dict[str, Any]] = []

        def collect(event: dict[str, Any]) -> None:
            seen.append(event)
            if sink is not None:
                sink(event)

        def work() -> dict[str, Any]:
            started = time.perf_counter()
            self.metrics.turns_in_flight.inc()
            try:
                reply: dict[str, Any] = asyncio.run(turn(collect)).as_dict()
            finally:
                self.metrics.turns_in_flight.dec()
            self.metrics.observe_turn(reply, time.perf_counter() - started, seen)
            return reply

        context = contextvars.copy_context()
        future = loop.run_in_executor(self.executor, context.run, work)
        self.running.add(future)
        future.add_done_callback(self.running.discard)
        return future

    async def drain(self) -> None:
        """Wait for every running turn (at shutdown, before the stores close)."""
        if self.running:
            await asyncio.gather(*self.running, return_exceptions=True)
        self.executor.shutdown(wait=True)


def sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode()


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


def translate(event: dict[str, Any], *, agent_view: bool) -> list[tuple[str, dict[str, Any]]]:
    """One run event as the SSE events a client sees (see docs/api.md); internal ones become nothing."""
    kind, agent = event.get("kind"), event.get("agent", "")
    if kind == "routed":
        return [("routed", {"agent": agent, "source": event.get("source"), "reason": event.get("reason", "")})]
    if kind in ("tool_started", "tool_finished", "tool_refused"):
        out: dict[str, Any] = {"agent": agent, "phase": str(kind).removeprefix("tool_"), "tool": event.get("tool")}
        if kind == "tool_finished":
            out["ok"] = bool(event.get("ok", True))
        if event.get("call_id"):
            out["call_id"] = event["call_id"]
        if agent_view:
            for key in ("arguments", "result", "error", "reason", "approved_by"):
                if key in event:
                    out[key] = event[key]
        return [("tool", out)]
    if kind == "approval_needed":
        return [("approval_needed", {"agent": agent, "approval": event.get("approval"), "tool": event.get("tool")})]
    if kind == "message":
        text = str(event.get("text", ""))
        return [*(("token", {"text": piece}) for piece in _words(text)), ("message", {"agent": agent, "text": text})]
    if kind == "model_call" and agent_view:
        return [("model_call", {k: v for k, v in event.items() if k != "kind"})]
    return []


async def stream_events(
    turn: asyncio.Future[dict[str, Any]],
    events: asyncio.Queue[dict[str, Any]],
    finish: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    agent_view: bool,
) -> AsyncIterator[bytes]:
    """The SSE body: translated run events as they come, then ``done`` with the reply (or ``error``)."""
    while True:
        waiter = asyncio.ensure_future(events.get())
        done, _ = await asyncio.wait({waiter, turn}, return_when=asyncio.FIRST_COMPLETED)
        if waiter in done:
            for kind, data in translate(waiter.result(), agent_view=agent_view):
                yield sse(kind, data)
            continue
        waiter.cancel()
        while not events.empty():
            for kind, data in translate(events.get_nowait(), agent_view=agent_view):
                yield sse(kind, data)
        try:
            reply = turn.result()
        except FirstlineError as exc:
            yield sse("error", {"error": type(exc).__name__, "detail": str(exc)})
            return
        except Exception:
            yield sse("error", {"error": "InternalError", "detail": "The turn failed; your message is stored."})
            return
        yield sse("done", finish(reply))
        return
