"""Prompt tokens per ticket: what a model making the offline engine's calls would be sent, counted and priced.

:class:`PromptMeter` is a :class:`~firstline.llm.messages.ChatModel` that wraps the offline engine. For every
request it renders the JSON body an OpenAI-compatible endpoint would receive (``OpenAICompatModel.body``), lays
it out as a chat template does (:func:`render`) and keeps it, then lets the offline engine decide. Playing the
scenario suite through it (:func:`meter_suite`, one scenario = one ticket) gives the prompts of a model that
makes exactly the calls the offline engine makes: the same handoffs, tools and number of calls. A real model
may make more calls (or fewer); the size of each call is what this measures.

Counting (:func:`measure`): each catalog model's tokenizer (``tokenizer: gguf:<python package>``, the GGUF a
package ships, read with llama.cpp's vocabulary only), else :class:`Estimate`. Cached tokens follow automatic
prefix caching: a call's cached part is the longest common prefix of its rendered prompt with any earlier call
of the same ticket, in tokens, counted only from ``cache_min_tokens`` (1,024 unless the catalog entry says
otherwise) and in steps of 128 beyond it, as OpenAI documents its automatic caching. The completion is the
offline engine's answer as a model would write it (reply text, or tool calls as JSON): a floor, with no
reasoning tokens. Cost per 1,000 tickets comes from the catalog prices (cached tokens at ``price_cached_in``
where known, else at ``price_in``).
"""

from __future__ import annotations

import atexit
import importlib.util
import math
import statistics
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from firstline.evals.prompt_layout import LAYOUTS, render, render_completion
from firstline.llm.catalog import ModelInfo
from firstline.llm.messages import ChatModel, ChatRequest, ModelResponse
from firstline.llm.openai_compat import OpenAICompatModel

__all__ = [
    "CACHE_MIN_TOKENS",
    "CACHE_STEP",
    "LAYOUTS",
    "Estimate",
    "GgufTokenizer",
    "MeteredCall",
    "ModelRow",
    "PromptMeter",
    "TicketCount",
    "Tokenizer",
    "cacheable",
    "common_prefix",
    "count_ticket",
    "measure",
    "meter_suite",
    "render",
    "summary",
    "tokenizer_for",
]

CACHE_MIN_TOKENS = 1024  # OpenAI's automatic prompt caching: prompts of 1,024 tokens or more ...
CACHE_STEP = 128  # ... and cache hits in steps of 128 tokens beyond that


class Tokenizer(Protocol):
    @property
    def name(self) -> str: ...

    def count(self, text: str) -> int:
        """The number of tokens in ``text``."""
        ...


@dataclass(frozen=True)
class Estimate:
    """The stated estimate for a model whose tokenizer the catalog does not name: UTF-8 bytes / 4, rounded up.

    Measured against SmolLM2's tokenizer on the scenario suite's prompts (``docs/llm.md``): 8 % low over
    the whole suite, per call between 2 % and 17 % low."""

    bytes_per_token: float = 4.0
    name: str = "estimate"

    def count(self, text: str) -> int:
        return math.ceil(len(text.encode("utf-8")) / self.bytes_per_token)


class GgufTokenizer:
    """The tokenizer of a GGUF model file, through llama.cpp (``vocab_only``: no weights are loaded)."""

    def __init__(self, path: Path, name: str | None = None) -> None:
        from llama_cpp import Llama

        self.name = name or f"gguf:{path.name}"
        try:  # llama.cpp logs from C even with verbose=False; its own helper silences the file descriptors
            from llama_cpp._utils import suppress_stdout_stderr

            with suppress_stdout_stderr(disable=False):
                self._llama = Llama(model_path=str(path), vocab_only=True, verbose=False)
        except (ImportError, OSError, ValueError, AttributeError):  # no real stdout (captured): load it plainly
            self._llama = Llama(model_path=str(path), vocab_only=True, verbose=False)
        atexit.register(self._llama.close)  # before interpreter shutdown, when llama.cpp's own cleanup fails

    def count(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))


def gguf_in_package(package: str) -> Path | None:
    """The first ``*.gguf`` file inside the installed Python package ``package`` (found, never imported)."""
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


@cache
def tokenizer_for(spec: str | None) -> Tokenizer:
    """The tokenizer a catalog entry names (``gguf:<python package>``), else :class:`Estimate`.

    A named tokenizer that cannot be loaded (llama-cpp-python or the package missing) falls back to the
    estimate; its ``name`` then says so."""
    if spec and spec.startswith("gguf:"):
        package = spec.removeprefix("gguf:")
        path = gguf_in_package(package)
        if path is not None and importlib.util.find_spec("llama_cpp") is not None:
            return GgufTokenizer(path, spec)
        return Estimate(name=f"estimate ({spec} not installed)")
    return Estimate()


@dataclass(frozen=True)
class MeteredCall:
    """One model call as the meter saw it: the agent, the rendered prompt and the answer."""

    agent: str
    conversation: str
    body: dict[str, Any]  # what an OpenAI-compatible endpoint would receive
    completion: str
    offered: tuple[str, ...] = ()  # the tools the request listed
    called: tuple[str, ...] = ()  # the tools the engine called
    intent: str = ""  # the topic's intent, from the briefing

    def prompt(self, layout: str = "json") -> str:
        return render(self.body, layout)

    @property
    def unoffered(self) -> tuple[str, ...]:
        """Tools the engine called that the request did not list: a model could not have called them."""
        return tuple(name for name in self.called if name not in self.offered)


class PromptMeter:
    """A :class:`ChatModel` that records what an OpenAI-compatible endpoint would be sent, then lets ``engine``
    answer. It keeps the engine's ``name``, so the helpdesk treats its answers as the engine's own."""

    def __init__(self, engine: ChatModel, preset: str = "vllm") -> None:
        self.engine = engine
        self.name = engine.name
        self.wire = OpenAICompatModel("metered", base_url="http://127.0.0.1:9/v1", preset=preset)
        self.calls: list[MeteredCall] = []

    def take(self) -> list[MeteredCall]:
        """The calls recorded since the last ``take``."""
        taken, self.calls = self.calls, []
        return taken

    async def complete(self, request: ChatRequest) -> ModelResponse:
        body = self.wire.body(request)
        response = await self.engine.complete(request)
        briefing = request.metadata.get("briefing") or {}
        self.calls.append(
            MeteredCall(
                str(request.metadata.get("agent", "")),
                str(request.metadata.get("conversation_id", "")),
                body,
                render_completion(response),
                tuple(t.name for t in request.tools),
                tuple(c.name for c in response.tool_calls),
                str(briefing.get("intent") or ""),
            )
        )
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | ModelResponse]:
        response = await self.complete(request)
        if response.text:
            yield response.text
        yield response


# -- counting ---------------------------------------------------------------------------------------------------


def common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of ``a`` and ``b`` (binary search over slices)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def cacheable(prefix_tokens: int, minimum: int = CACHE_MIN_TOKENS, step: int = CACHE_STEP) -> int:
    """The tokens of a common prefix a provider serves from its cache: none below ``minimum``, then whole steps."""
    if prefix_tokens < minimum or prefix_tokens <= 0:
        return 0
    return minimum + (prefix_tokens - minimum) // step * step if step > 1 else prefix_tokens


@dataclass(frozen=True)
class TicketCount:
    calls: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int


def count_ticket(
    calls: Sequence[MeteredCall],
    tokenizer: Tokenizer,
    cache_min_tokens: int = CACHE_MIN_TOKENS,
    layout: str = "json",
) -> TicketCount:
    """One ticket's prompt, cached and completion tokens: each call's cache is its longest prefix in common
    with an earlier call of the ticket (providers cache per prefix; a ticket is one conversation)."""
    prompt = cached = completion = 0
    texts = [call.prompt(layout) for call in calls]
    for index, (call, text) in enumerate(zip(calls, texts, strict=True)):
        prompt += tokenizer.count(text)
        completion += tokenizer.count(call.completion)
        shared = max((common_prefix(text, earlier) for earlier in texts[:index]), default=0)
        if shared:
            step = CACHE_STEP if cache_min_tokens >= CACHE_MIN_TOKENS else 1
            cached += cacheable(tokenizer.count(text[:shared]), cache_min_tokens, step)
    return TicketCount(len(calls), prompt, cached, completion)


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]) if ordered else 0.0


@dataclass
class ModelRow:
    """One catalog model's prompt size and cost over the metered tickets."""

    model: str
    tokenizer: str
    layout: str
    tickets: int
    calls_per_ticket: float
    prompt_tokens_per_ticket: float
    prompt_tokens_p95: float
    prompt_tokens_max: float
    prompt_tokens_per_call: float
    cached_tokens_per_ticket: float
    completion_tokens_per_ticket: float
    cost_per_1k_tickets_usd: float | None
    cache_min_tokens: int = CACHE_MIN_TOKENS
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(
    tickets: Sequence[Sequence[MeteredCall]],
    models: Sequence[ModelInfo],
    tokenizer: Callable[[str | None], Tokenizer] = tokenizer_for,
    layout: str = "json",
) -> list[ModelRow]:
    """Per catalog model: prompt tokens per ticket (mean, p95, max), cached and completion tokens, and the cost
    of 1,000 such tickets. Models sharing a tokenizer and cache rule share the counting."""
    counted: dict[tuple[str | None, int], list[TicketCount]] = {}
    rows = []
    for model in models:
        key = (model.tokenizer, model.cache_min_tokens or CACHE_MIN_TOKENS)
        chosen = tokenizer(model.tokenizer)
        if key not in counted:
            counted[key] = [count_ticket(calls, chosen, key[1], layout) for calls in tickets]
        counts = counted[key]
        prompt = [c.prompt_tokens for c in counts]
        calls = sum(c.calls for c in counts)
        costs = [model.cost(c.prompt_tokens, c.completion_tokens, c.cached_tokens) for c in counts]
        priced = None if any(c is None for c in costs) else statistics.fmean(c or 0.0 for c in costs) * 1000
        notes = []
        if model.priced and model.price_cached_in is None:
            notes.append("no cached-input price: cached tokens priced as input")
        if not model.priced:
            notes.append("no published price")
        rows.append(
            ModelRow(
                model=model.id,
                tokenizer=chosen.name,
                layout=layout,
                tickets=len(counts),
                calls_per_ticket=round(calls / len(counts), 2) if counts else 0.0,
                prompt_tokens_per_ticket=round(statistics.fmean(prompt), 1) if prompt else 0.0,
                prompt_tokens_p95=_pct(prompt, 0.95),
                prompt_tokens_max=float(max(prompt, default=0)),
                prompt_tokens_per_call=round(sum(prompt) / calls, 1) if calls else 0.0,
                cached_tokens_per_ticket=round(statistics.fmean(c.cached_tokens for c in counts), 1) if counts else 0,
                completion_tokens_per_ticket=round(statistics.fmean(c.completion_tokens for c in counts), 1)
                if counts
                else 0.0,
                cost_per_1k_tickets_usd=None if priced is None else round(priced, 4),
                cache_min_tokens=key[1],
                notes=notes,
            )
        )
    return rows


def summary(tickets: Sequence[Sequence[MeteredCall]], failed: Sequence[str] = ()) -> dict[str, Any]:
    """What a metered run covered: tickets, calls per ticket, calls per agent, and any call to a tool the request
    did not offer (a model could not have made it: the agent's focus is missing that tool)."""
    calls = [c for t in tickets for c in t]
    agents: dict[str, int] = {}
    for call in calls:
        agents[call.agent] = agents.get(call.agent, 0) + 1
    return {
        "tickets": len(tickets),
        "calls_per_ticket": round(len(calls) / len(tickets), 2) if tickets else 0.0,
        "calls_by_agent": dict(sorted(agents.items())),
        "unoffered_calls": [f"{c.agent}/{c.intent}: {', '.join(c.unoffered)}" for c in calls if c.unoffered],
        "scenarios_failed": list(failed),
    }


async def meter_suite(
    scenarios: Sequence[Any],
    *,
    org: Any,
    triage: Any,
    knowledge: Any,
    preset: str = "vllm",
    max_turns: int = 10,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[list[MeteredCall]], list[str]]:
    """Play ``scenarios`` through the offline engine behind a :class:`PromptMeter`: the calls of each ticket,
    and the ids of the scenarios that did not reach their end state (the meter must not change the path)."""
    from firstline.evals.scenarios import run_scenario
    from firstline.helpdesk.desk import Helpdesk
    from firstline.helpdesk.offline import OfflineEngine

    meter = PromptMeter(OfflineEngine(triage), preset)

    def make(directory: Any, tickets: Any, conversations: Any, codes: Any) -> Helpdesk:
        return Helpdesk(
            directory=directory,
            tickets=tickets,
            conversations=conversations,
            triage=triage,
            knowledge=knowledge,
            codes=codes,
            engine=meter,
            max_turns=max_turns,
        )

    out: list[list[MeteredCall]] = []
    failed: list[str] = []
    for scenario in scenarios:
        result = await run_scenario(scenario, org, make)
        out.append(meter.take())
        if not result.passed:
            failed.append(scenario.id)
        if progress is not None:
            progress(f"{scenario.id}: {len(out[-1])} calls")
    return out, failed
