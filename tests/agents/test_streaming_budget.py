"""Tokens stream as the model writes them; a model that dies mid-answer is followed by a reset and the next
model's answer; a turn past its channel's budget sends one holding message at once and still ends with an
answer once the hard limit is reached."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from firstline.agents import Agent, RunContext, RunEvent, Runner
from firstline.agents.budget import TurnBudget
from firstline.errors import ModelCallError
from firstline.llm.fallback import Budget, FallbackChain
from firstline.llm.messages import ChatRequest, ModelResponse, StreamItem
from firstline.llm.testing import ScriptedModel, say


class Typist:
    """A model that types ``words`` with ``pause_s`` between them, and can die after ``die_after`` words."""

    def __init__(self, name: str, words: list[str], pause_s: float = 0.0, die_after: int | None = None) -> None:
        self.name = name
        self.words = words
        self.pause_s = pause_s
        self.die_after = die_after
        self.calls = 0

    async def complete(self, request: ChatRequest) -> ModelResponse:
        raise AssertionError("the runner streams")

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        self.calls += 1
        for n, word in enumerate(self.words):
            if self.die_after is not None and n == self.die_after:
                raise ModelCallError(self.name, "broken_stream", "connection lost")
            await asyncio.sleep(self.pause_s)
            yield word
        yield ModelResponse(text="".join(self.words), model=self.name, latency_ms=1.0)


def run(model: object, budget: TurnBudget | None = None) -> tuple[list[RunEvent], str]:
    agents = {"desk": Agent("desk", "Answer briefly.")}
    runner = Runner(agents, model)  # type: ignore[arg-type]
    context = RunContext("ana@example.com", "c1", budget=budget)
    result = asyncio.run(runner.run("desk", "hello", context))
    return result.events, result.reply


def test_tokens_arrive_as_the_model_writes_them_not_after() -> None:
    typist = Typist("m", ["The ", "printer ", "is ", "back."], pause_s=0.05)
    seen: list[tuple[str, float]] = []
    agents = {"desk": Agent("desk", "Answer briefly.")}
    runner = Runner(agents, typist)  # type: ignore[arg-type]

    def sink(event: RunEvent) -> None:
        seen.append((event.kind, time.perf_counter()))

    asyncio.run(runner.run("desk", "hi", RunContext("a@b.c"), on_event=sink))
    tokens = [t for kind, t in seen if kind == "token"]
    message = next(t for kind, t in seen if kind == "message")
    assert len(tokens) == 4
    assert message - tokens[0] >= 0.12  # the first token went out while three more were still being written


def test_a_model_dying_mid_answer_is_reset_and_the_next_answers() -> None:
    dying = Typist("first", ["Your ", "account ", "is ", "unlo"], die_after=3)
    backup = Typist("second", ["I ", "can ", "help ", "with ", "that."])
    chain = FallbackChain([dying, backup], budget=Budget(1.0, 2.0))  # type: ignore[list-item]
    events, reply = run(chain)
    kinds = [e.kind for e in events if e.kind != "model_call"]
    reset = kinds.index("token_reset")
    assert kinds[:reset] == ["token"] * 3 and kinds[reset + 1 :] == ["token"] * 5 + ["message", "done"]
    assert events[[e.kind for e in events].index("token_reset")].data["reason"] == "broken_stream"
    assert reply == "I can help with that."  # never half of the first answer
    call = next(e for e in events if e.kind == "model_call")
    assert call.data["model"] == "second" and call.data["fallbacks"] == ["first: broken_stream"]


def test_a_bare_model_dying_mid_answer_resets_what_it_streamed() -> None:
    events: list[RunEvent] = []
    agents = {"desk": Agent("desk", "Answer briefly.")}
    runner = Runner(agents, Typist("only", ["Half ", "an ", "answer"], die_after=2))  # type: ignore[arg-type]
    try:
        asyncio.run(runner.run("desk", "hi", RunContext("a@b.c"), on_event=events.append))
    except ModelCallError:
        pass
    else:  # pragma: no cover - the test needs the failure
        raise AssertionError("the model's failure should reach the caller")
    assert [e.kind for e in events] == ["token", "token", "token_reset"]


def test_a_slow_turn_gets_one_holding_message_when_the_budget_runs_out() -> None:
    budget = TurnBudget(0.1, 5.0)
    events, reply = run(Typist("slow", ["Still ", "here."], pause_s=0.15), budget)
    kinds = [e.kind for e in events]
    assert kinds.count("holding") == 1 and kinds.index("holding") < kinds.index("message")
    holding = events[kinds.index("holding")].data
    assert holding["reason"] == "budget" and holding["budget_s"] == 0.1
    assert 0.09 <= (budget.held_at_s or 0) < 0.3 and reply == "Still here."


def test_a_fast_turn_sends_no_holding_message() -> None:
    events, _ = run(ScriptedModel([say("Quick answer.")]), TurnBudget(2.0, 6.0))
    assert "holding" not in [e.kind for e in events]


def test_a_breach_seen_coming_is_announced_before_the_model_call() -> None:
    model = Typist("slowpoke", ["ok"])
    agents = {"desk": Agent("desk", "Answer briefly.")}
    runner = Runner(agents, model)  # type: ignore[arg-type]
    runner.latency.add("slowpoke", 3.0)  # its recent calls took 3 s: a 2 s budget will not hold
    events: list[RunEvent] = []
    budget = TurnBudget(2.0, 6.0)
    asyncio.run(runner.run("desk", "hi", RunContext("a@b.c", budget=budget), on_event=events.append))
    assert events[0].kind == "holding" and events[0].data["reason"] == "predicted"
    assert budget.held_at_s is not None and budget.held_at_s < 0.5


def test_past_the_hard_limit_the_last_resort_answers_within_it() -> None:
    slow = Typist("slow", ["never ", "mind"], pause_s=2.0)
    chain = FallbackChain([slow], last_resort=ScriptedModel([say("Here is what I know.")]), budget=Budget(5, 10))  # type: ignore[list-item]
    budget = TurnBudget(0.05, 0.3)
    events, reply = run(chain, budget)
    assert reply == "Here is what I know." and budget.elapsed() < 1.5
    call = next(e for e in events if e.kind == "model_call")
    assert call.data["fallbacks"] == ["slow: timeout"]
    assert [e.kind for e in events].count("holding") == 1
