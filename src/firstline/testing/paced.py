"""``PacedModel``: another engine's decisions, delivered at a language model's speed over real HTTP.

For latency evaluations: the scenario suite's outcomes stay those of a known engine (the offline engine
decides), while every model call spends the time a hosted model would — the request (with the real
messages and tools) goes to a :class:`~firstline.testing.openai_server.FakeOpenAIServer`, which streams the
decision back paced by ``ttft_s`` and ``token_s`` through an :class:`~firstline.llm.openai_compat.OpenAICompatModel`
on the model-I/O loop (pooled client, keep-alive, SSE parsing: the path a real endpoint takes).

    with FakeOpenAIServer() as server:
        engine = PacedModel(OfflineEngine(triage), server, ttft_s=0.35, token_s=0.025)
        desk = Helpdesk(..., engine=engine)

The text deltas are yielded as they arrive; the final response is the inner engine's decision (its text,
tool calls, ``expects`` and usage) with ``latency_ms`` and ``first_token_ms`` measured from the start of
the call (the inner decision included) and ``model`` set to this model's name. Calls are matched to their
scripted answers by a key sent in the request's ``user`` field, so one server serves many paced models and
concurrent turns.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from firstline.llm.messages import ChatModel, ChatRequest, ModelResponse, StreamItem
from firstline.llm.openai_compat import OpenAICompatModel
from firstline.llm.pool import ModelIO
from firstline.testing.openai_server import FakeOpenAIServer, Turn

__all__ = ["PacedModel"]


class _PacedTurns:
    """A fake server's ``default``: the turn registered under the request's ``user`` key, else the old default."""

    def __init__(self, fallback: Turn | Callable[[dict[str, Any]], Turn]) -> None:
        self.fallback = fallback
        self.pending: dict[str, Turn] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @classmethod
    def on(cls, server: FakeOpenAIServer) -> _PacedTurns:
        if not isinstance(server.default, _PacedTurns):
            server.default = cls(server.default)
        return server.default

    def put(self, turn: Turn) -> str:
        with self._lock:
            key = f"paced-{next(self._ids)}"
            self.pending[key] = turn
        return key

    def drop(self, key: str) -> None:
        with self._lock:
            self.pending.pop(key, None)

    def __call__(self, body: dict[str, Any]) -> Turn:
        with self._lock:
            turn = self.pending.pop(str(body.get("user", "")), None)
        if turn is not None:
            return turn
        return self.fallback(body) if callable(self.fallback) else self.fallback


class PacedModel:
    """``inner``'s decisions, streamed from ``server`` at a model's pace (see the module docstring)."""

    def __init__(
        self,
        inner: ChatModel,
        server: FakeOpenAIServer,
        *,
        ttft_s: float = 0.35,
        token_s: float = 0.025,
        io: ModelIO | None = None,
        name: str | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        self.inner = inner
        self.server = server
        self.ttft_s = ttft_s
        self.token_s = token_s
        self.io = io
        self.name = name or f"paced-{inner.name}"
        self.timeout_s = timeout_s
        self._turns = _PacedTurns.on(server)

    def __repr__(self) -> str:
        return f"PacedModel({self.inner.name!r}, ttft {self.ttft_s} s, {self.token_s} s per delta)"

    async def complete(self, request: ChatRequest) -> ModelResponse:
        final: ModelResponse | None = None
        async for item in self.stream(request):
            if isinstance(item, ModelResponse):
                final = item
        assert final is not None, "a paced stream always ends with its response"
        return final

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        started = time.perf_counter()
        decision = await self.inner.complete(request)
        turn = Turn(
            text=decision.text,
            tool_calls=[(call.name, call.arguments) for call in decision.tool_calls],
            ttft_s=self.ttft_s,
            token_s=self.token_s,
            usage=(_prompt_tokens(request), max(1, (len(decision.text) + 3) // 4), 0),
        )
        key = self._turns.put(turn)
        wire = OpenAICompatModel(
            "paced",
            base_url=self.server.url,
            name=self.name,
            timeout_s=self.timeout_s,
            extra={"user": key},
            io=self.io,
        )
        sent_at = time.perf_counter()
        http: ModelResponse | None = None
        try:
            async for item in wire.stream(request):
                if isinstance(item, ModelResponse):
                    http = item
                else:
                    yield item
        finally:
            self._turns.drop(key)  # the request never reached the server (or the reader stopped early)
        assert http is not None, "OpenAICompatModel.stream ends with its response"
        offset_ms = (sent_at - started) * 1000
        yield replace(
            decision,
            latency_ms=(time.perf_counter() - started) * 1000,
            first_token_ms=None if http.first_token_ms is None else offset_ms + http.first_token_ms,
            model=self.name,
        )


def _prompt_tokens(request: ChatRequest) -> int:
    """A rough prompt size (four characters a token), for the fake server's usage numbers."""
    characters = sum(len(m.content) for m in request.messages) + sum(len(str(t.parameters)) for t in request.tools)
    return max(1, characters // 4)
