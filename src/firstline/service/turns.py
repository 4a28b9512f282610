"""Running helpdesk turns for the API: off the event loop, past client disconnects, as SSE when asked.

A turn runs on a worker thread of its own pool (the offline engine is CPU-bound and the stores are
synchronous), on that thread's long-lived event loop (``LoopThreads``; model calls hop to the model-I/O
loop), in a copy of the request's context so its log lines and spans carry the request id.
The task is held by :class:`TurnRunner` until it finishes, so a client that goes away does not cancel
it, and the app waits for running turns before the stores close.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any
from urllib.parse import quote

from firstline import jsoncodec
from firstline.errors import FirstlineError
from firstline.helpdesk.reply import DeskReply
from firstline.llm.pool import LoopThreads
from firstline.service.markdown import render
from firstline.service.observability import Metrics

__all__ = ["Translator", "TurnRunner", "anchor", "public_reply", "sse", "stream_events"]

EventSink = Callable[[dict[str, Any]], None]
TurnFn = Callable[[EventSink], Coroutine[Any, Any, DeskReply]]


def anchor(section_path: str) -> str:
    """The HTML id of a runbook section: its heading path, lower-case, words joined by dashes."""
    return re.sub(r"[^a-z0-9]+", "-", section_path.lower()).strip("-") or "top"


def public_reply(reply: dict[str, Any], *, agent_view: bool) -> dict[str, Any]:
    """The reply as the caller may see it: citations get their runbook link; tool details only for agents."""
    out = dict(reply)
    out["reply_html"] = render(str(reply.get("reply") or ""))
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
        self.loops = LoopThreads(workers, "firstline-turn")
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
                reply: dict[str, Any] = self.loops.run(lambda: turn(collect)).as_dict()
            finally:
                self.metrics.turns_in_flight.dec()
            self.metrics.observe_turn(reply, time.perf_counter() - started, seen)
            return reply

        context = contextvars.copy_context()
        future = loop.run_in_executor(self.loops.executor, context.run, work)
        self.running.add(future)
        future.add_done_callback(self.running.discard)
        return future

    async def drain(self) -> None:
        """Wait for every running turn (at shutdown, before the stores close)."""
        if self.running:
            await asyncio.gather(*self.running, return_exceptions=True)
        self.loops.shutdown()


def sse(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (kind.encode(), jsoncodec.dumps_bytes(data, default=str))


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


class Translator:
    """Run events as the SSE events a client sees (see docs/api.md); internal ones become nothing.

    ``token`` events are the model's text deltas as they arrive; ``token_reset`` tells the client to drop
    what it drew so far (the model failed mid-answer, or the desk will write this reply itself); ``holding``
    is the message an employee reads at once when the turn runs past its budget. Text that arrives whole (the
    offline engine's answer) goes out word by word, so every client draws replies the same way; ``done``
    carries the reply as stored, which replaces the draft."""

    def __init__(self, *, agent_view: bool) -> None:
        self.agent_view = agent_view
        self.streamed = False

    def __call__(self, event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        kind, agent = event.get("kind"), event.get("agent", "")
        if kind == "token":  # a delta that is more than a word (the offline engine's whole answer) goes word by word
            self.streamed = True
            return [("token", {"text": piece, "agent": agent}) for piece in _words(str(event.get("text", "")))]
        if kind == "token_reset":
            self.streamed = False
            return [("token_reset", {"agent": agent, "reason": event.get("reason", "")})]
        if kind == "holding":
            return [("holding", {"agent": agent, "text": event.get("text", ""), "elapsed_ms": event.get("elapsed_ms"),
                                 "budget_s": event.get("budget_s")})]  # fmt: skip
        if kind == "routed":
            return [("routed", {"agent": agent, "source": event.get("source"), "reason": event.get("reason", "")})]
        if kind in ("tool_started", "tool_finished", "tool_refused"):
            out: dict[str, Any] = {"agent": agent, "phase": str(kind).removeprefix("tool_"), "tool": event.get("tool")}
            if kind == "tool_finished":
                out["ok"] = bool(event.get("ok", True))
            if event.get("call_id"):
                out["call_id"] = event["call_id"]
            if self.agent_view:
                for key in ("arguments", "result", "error", "reason", "approved_by"):
                    if key in event:
                        out[key] = event[key]
            return [("tool", out)]
        if kind == "approval_needed":
            return [("approval_needed", {"agent": agent, "approval": event.get("approval"), "tool": event.get("tool")})]
        if kind == "message":
            text = str(event.get("text", ""))
            words = [] if self.streamed else [("token", {"text": piece, "agent": agent}) for piece in _words(text)]
            self.streamed = False
            return [*words, ("message", {"agent": agent, "text": text})]
        if kind == "model_call" and self.agent_view:
            return [("model_call", {k: v for k, v in event.items() if k != "kind"})]
        return []


async def stream_events(
    turn: asyncio.Future[dict[str, Any]],
    events: asyncio.Queue[dict[str, Any]],
    finish: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    agent_view: bool,
) -> AsyncIterator[bytes]:
    """The SSE body: translated run events as they come, then ``done`` with the reply (or ``error``).

    What has arrived by the time the loop looks goes out as one chunk (an answer written whole is dozens
    of ``token`` events, one per word, and each send passes every middleware); the client reads the same
    events either way."""
    translate = Translator(agent_view=agent_view)
    while True:
        waiter = asyncio.ensure_future(events.get())
        done, _ = await asyncio.wait({waiter, turn}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            break
        chunk = b"".join(
            sse(kind, data) for event in [waiter.result(), *_drain(events)] for kind, data in translate(event)
        )
        if chunk:
            yield chunk
    tail = b"".join(sse(kind, data) for event in _drain(events) for kind, data in translate(event))
    try:
        reply = turn.result()
    except FirstlineError as exc:
        yield tail + sse("error", {"error": type(exc).__name__, "detail": str(exc)})
        return
    except Exception:
        yield tail + sse("error", {"error": "InternalError", "detail": "The turn failed; your message is stored."})
        return
    yield tail + sse("done", finish(reply))


def _drain(events: asyncio.Queue[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    while not events.empty():
        out.append(events.get_nowait())
    return out
