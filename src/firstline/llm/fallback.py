"""Fallback chains: an ordered list of models for one role, a latency budget, a circuit breaker per model.

``FallbackChain`` is itself a :class:`~firstline.llm.messages.ChatModel`. Each call tries the models
in order: a model whose circuit is open is skipped; a timeout (no first token within
``budget.first_token_s``, or no full turn within ``budget.turn_s``), a 429 (its Retry-After keeps the
model's circuit open that long), a 5xx, a refused connection or a stream cut mid-way moves on to the
next model. When every model failed, the ``last_resort`` (the offline engine) answers, so a user
never meets a dead end; the response's ``model`` and ``fallbacks`` say who answered and who failed.
Answers stream through as they come; a model that fails half-way is followed by a ``StreamReset``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace

from firstline.errors import ModelCallError
from firstline.llm.messages import ChatModel, ChatRequest, ModelResponse, StreamItem, StreamReset

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
        async for item in self.stream(request):
            if isinstance(item, ModelResponse):
                return item
        raise ModelCallError(self.name, "broken_stream", "no final response")  # pragma: no cover - stream ends with one

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        """The first healthy model's answer as it streams. A model that fails after it started answering is
        followed by a :class:`StreamReset`, so nobody keeps half an answer, and the next model's answer.

        ``request.metadata["time_left_s"]`` (the turn's remaining budget, set by the runner) caps every
        model's budget; once it is spent, the last resort answers at once."""
        failed: list[str] = []
        left = request.metadata.get("time_left_s")
        deadline = None if left is None else self._clock() + float(left)
        for model in self.models:
            breaker = self.breakers[model.name]
            if not breaker.allow():
                failed.append(f"{model.name}: circuit_open")
                continue
            if deadline is not None and deadline - self._clock() <= 0:
                failed.append(f"{model.name}: turn_budget")
                continue
            started_answer = False
            try:
                async for item in self._within_budget(model, request, deadline):
                    if isinstance(item, ModelResponse):
                        breaker.success()
                        yield replace(item, fallbacks=tuple(failed))
                        return
                    started_answer = started_answer or bool(item)
                    yield item
            except ModelCallError as exc:
                breaker.failure(exc.retry_after_s)
                failed.append(f"{model.name}: {exc.kind}")
                log.warning("model %s failed (%s); trying the next one", model.name, exc.kind)
                if started_answer:
                    yield StreamReset(model.name, exc.kind)
        if self.last_resort is None:
            raise ModelCallError(self.name, "all_failed", "; ".join(failed))
        async for item in self.last_resort.stream(request):
            yield replace(item, fallbacks=tuple(failed)) if isinstance(item, ModelResponse) else item

    async def _within_budget(
        self, model: ChatModel, request: ChatRequest, deadline: float | None
    ) -> AsyncIterator[StreamItem]:
        """``model``'s stream, item by item, each within what is left of the budget."""
        started = self._clock()
        stream = model.stream(request).__aiter__()
        first = True
        try:
            while True:
                now = self._clock()
                limit = (self.budget.first_token_s if first else self.budget.turn_s) - (now - started)
                if deadline is not None:
                    limit = min(limit, deadline - now)
                if limit <= 0:
                    raise ModelCallError(model.name, "timeout", "latency budget spent")
                # One timer per wait, and none while the caller handles an item (wait_for would make a task each).
                try:
                    async with asyncio.timeout(limit):
                        item = await stream.__anext__()
                except StopAsyncIteration:
                    raise ModelCallError(model.name, "broken_stream", "no final response") from None
                except TimeoutError:
                    what = "first token" if first else "turn"
                    raise ModelCallError(model.name, "timeout", f"no {what} within the budget") from None
                first = False
                yield item
                if isinstance(item, ModelResponse):
                    return
        finally:
            await _close(stream)


async def _close(stream: AsyncIterator[object]) -> None:
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except Exception:  # pragma: no cover - closing a broken stream is best effort
            log.debug("closing a model stream failed", exc_info=True)
