"""Fallback chains: an ordered list of models for one role, a latency budget, a circuit breaker per model.

``FallbackChain`` is itself a :class:`~firstline.llm.messages.ChatModel`. Each call tries the models
in order: a model whose circuit is open is skipped; a timeout (no first token within
``budget.first_token_s``, or no full turn within ``budget.turn_s``), a 429 (its Retry-After keeps the
model's circuit open that long), a 5xx, a refused connection or a stream cut mid-way moves on to the
next model. When every model failed, the ``last_resort`` (the offline engine) answers, so a user
never meets a dead end; the response's ``model`` and ``fallbacks`` say who answered and who failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace

from firstline.errors import ModelCallError
from firstline.llm.messages import ChatModel, ChatRequest, ModelResponse

__all__ = ["Budget", "CircuitBreaker", "FallbackChain"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """How long a user may wait: the first token, and the whole model turn."""

    first_token_s: float = 2.0
    turn_s: float = 5.0


class CircuitBreaker:
    """Stops calling a model after ``threshold`` failures in a row, for ``cooldown_s`` (or its Retry-After).

    After the cool-down one trial call is let through (half-open): success closes the circuit,
    failure opens it again.
    """

    def __init__(self, threshold: int = 3, cooldown_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.failures = 0
        self.open_until = 0.0

    @property
    def state(self) -> str:
        if self.open_until > self._clock():
            return "open"
        return "half_open" if self.failures >= self.threshold else "closed"

    def allow(self) -> bool:
        return self.state != "open"

    def success(self) -> None:
        self.failures, self.open_until = 0, 0.0

    def failure(self, retry_after_s: float | None = None) -> None:
        self.failures += 1
        now = self._clock()
        if retry_after_s is not None:
            self.open_until = max(self.open_until, now + retry_after_s)
        if self.failures >= self.threshold:
            self.open_until = max(self.open_until, now + self.cooldown_s)


class FallbackChain:
    """Try ``models`` in order within ``budget``; the ``last_resort`` answers when all fail."""

    def __init__(
        self,
        models: Sequence[ChatModel],
        *,
        last_resort: ChatModel | None = None,
        budget: Budget | None = None,
        name: str = "chain",
        breakers: dict[str, CircuitBreaker] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not models and last_resort is None:
            raise ValueError("a fallback chain needs at least one model")
        self.models = list(models)
        self.last_resort = last_resort
        self.budget = budget or Budget()
        self.name = name
        self.breakers = breakers if breakers is not None else {}
        for model in self.models:
            self.breakers.setdefault(model.name, CircuitBreaker())
        self._clock = clock

    async def complete(self, request: ChatRequest) -> ModelResponse:
        failed: list[str] = []
        for model in self.models:
            breaker = self.breakers[model.name]
            if not breaker.allow():
                failed.append(f"{model.name}: circuit_open")
                continue
            try:
                response = await self._within_budget(model, request)
            except ModelCallError as exc:
                breaker.failure(exc.retry_after_s)
                failed.append(f"{model.name}: {exc.kind}")
                log.warning("model %s failed (%s); trying the next one", model.name, exc.kind)
                continue
            breaker.success()
            return replace(response, fallbacks=tuple(failed))
        if self.last_resort is None:
            raise ModelCallError(self.name, "all_failed", "; ".join(failed))
        response = await self.last_resort.complete(request)
        return replace(response, fallbacks=tuple(failed))

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | ModelResponse]:
        # A model that fails half-way must not leave half a reply on screen: the chain streams the
        # chosen model's whole text once it is known.
        response = await self.complete(request)
        if response.text:
            yield response.text
        yield response

    async def _within_budget(self, model: ChatModel, request: ChatRequest) -> ModelResponse:
        started = self._clock()
        stream = model.stream(request).__aiter__()
        first = True
        while True:
            spent = self._clock() - started
            limit = (self.budget.first_token_s if first else self.budget.turn_s) - spent
            if limit <= 0:
                raise ModelCallError(model.name, "timeout", "latency budget spent")
            try:
                item = await asyncio.wait_for(stream.__anext__(), timeout=limit)
            except StopAsyncIteration:
                raise ModelCallError(model.name, "broken_stream", "no final response") from None
            except TimeoutError:
                await _close(stream)
                what = "first token" if first else "turn"
                raise ModelCallError(model.name, "timeout", f"no {what} within the budget") from None
            first = False
            if isinstance(item, ModelResponse):
                await _close(stream)
                return item


async def _close(stream: AsyncIterator[object]) -> None:
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except Exception:  # pragma: no cover - closing a broken stream is best effort
            log.debug("closing a model stream failed", exc_info=True)
