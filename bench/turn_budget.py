"""The scenario suite at a language model's speed: how many turns pass the 2 s and 5 s budgets.

The engine is :class:`~firstline.testing.paced.PacedModel` over the offline engine: the offline engine
decides every model call (so the scenarios' outcomes are those of a known engine), and each call then
spends the time a hosted model would, over the real HTTP path (a pooled ``OpenAICompatModel`` on the
runtime's model-I/O loop, streaming from a ``FakeOpenAIServer`` on 127.0.0.1). Pacing, by default: TTFT
350 ms, then 25 ms per delta, where a delta is one word of text or four characters of tool-call JSON —
40 deltas/s, about 40 tokens/s for tool calls and ~50 tokens/s for prose (~1.3 tokens a word); ``--token
0.033`` gives 40 tokens/s of prose. Numbers a hosted mid-size model reaches on a good day.

Every shipped scenario (``firstline.evals.scenarios``) runs as ``evals/matchup.py`` runs one: a fresh
in-memory organisation and ticket store per scenario, a ``Helpdesk`` on the shared runtime's triage and
knowledge base (demo runbooks). Scenarios run ``--concurrency`` at a time on one event loop (their CPU work
then waits for one another now and then, as turns in a service do). Each ``ask`` / ``decide`` is timed and
its run events counted: turn p50/p95, turns past 2 s (the chat budget) and 5 s (e-mail, tickets), the
time to the first ``token`` event, model calls per turn, and ``holding`` events (the runner sends one when a
turn is about to pass its channel's budget; the suite's channel, ``eval``, has the default 2 s).

Usage: .venv/bin/python bench/turn_budget.py [--ttft 0.35] [--token 0.025] [--concurrency 4] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import save, summary
from firstline.conversations import SqlConversations
from firstline.directory import DirectoryBackend, load_org
from firstline.evals.scenarios import ScenarioResult, load_scenarios, run_scenario
from firstline.helpdesk.desk import Helpdesk
from firstline.helpdesk.offline import OfflineEngine
from firstline.helpdesk.reply import DeskReply
from firstline.helpdesk.tools.deps import OneTimeCodes
from firstline.runtime import Runtime, demo_org, demo_runbooks
from firstline.settings import load_settings
from firstline.testing.openai_server import FakeOpenAIServer
from firstline.testing.paced import PacedModel
from firstline.ticketing import TicketingBackend

BUDGETS_S = (2.0, 5.0)


def instrument(desk: Helpdesk, records: list[dict[str, Any]]) -> None:
    """Time each ``ask`` / ``decide`` of ``desk`` and count its run events into ``records``."""

    def timed(call: Callable[..., Awaitable[DeskReply]]) -> Callable[..., Awaitable[DeskReply]]:
        async def run(*args: Any, **kwargs: Any) -> DeskReply:
            record: dict[str, Any] = {"call": call.__name__, "holding": 0, "held_at_ms": None, "first_token_ms": None,
                                      "model_calls": 0}  # fmt: skip
            started = time.perf_counter()

            def sink(event: dict[str, Any]) -> None:
                kind, at = event.get("kind"), round((time.perf_counter() - started) * 1000, 1)
                if kind == "holding":
                    record["holding"] += 1
                    record["held_at_ms"] = record["held_at_ms"] or at
                elif kind == "token" and record["first_token_ms"] is None and event.get("text"):
                    record["first_token_ms"] = at
                elif kind == "model_call":
                    record["model_calls"] += 1

            reply = await call(*args, **kwargs, on_event=sink)
            record |= {
                "turn_ms": (time.perf_counter() - started) * 1000,
                "engine": reply.engine,
                "status": reply.status,
            }
            records.append(record)
            return reply

        return run

    setattr(desk, "ask", timed(desk.ask))  # noqa: B010  (an instance attribute shadows the method)
    setattr(desk, "decide", timed(desk.decide))  # noqa: B010


async def play(ttft_s: float, token_s: float, concurrency: int, limit: int | None) -> dict[str, Any]:
    scenarios = load_scenarios()[:limit] if limit else load_scenarios()
    records: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as data_dir,
        Runtime(load_settings(data_dir=Path(data_dir))) as runtime,
        FakeOpenAIServer() as server,
    ):
        if runtime.knowledge.stats().chunks == 0:
            runtime.knowledge.ingest([demo_runbooks()])
        triage, knowledge, org = runtime.triage, runtime.knowledge, load_org(demo_org())
        engine = PacedModel(OfflineEngine(triage), server, ttft_s=ttft_s, token_s=token_s, io=runtime.model_io)

        def make(
            directory: DirectoryBackend, tickets: TicketingBackend, conversations: SqlConversations, codes: OneTimeCodes
        ) -> Helpdesk:
            desk = Helpdesk(directory=directory, tickets=tickets, conversations=conversations, triage=triage,
                            knowledge=knowledge, codes=codes, engine=engine, max_turns=10)  # fmt: skip
            instrument(desk, records)
            return desk

        warm = await run_scenario(scenarios[0], org, make)  # the embedder, the classifier, the pooled connection
        records.clear()
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> ScenarioResult:
            async with gate:
                return await run_scenario(scenarios[index], org, make)

        started = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(len(scenarios))))
        wall_s = time.perf_counter() - started
        connections = server.connections
    del warm
    return report(records, results, ttft_s, token_s, concurrency, wall_s, connections)


def report(
    records: list[dict[str, Any]],
    results: list[ScenarioResult],
    ttft_s: float,
    token_s: float,
    concurrency: int,
    wall_s: float,
    connections: int,
) -> dict[str, Any]:
    turns = [r["turn_ms"] for r in records]
    with_model = [r for r in records if r["model_calls"]]
    over = {f"over_{b:g}s": sum(t > b * 1000 for t in turns) for b in BUDGETS_S}
    held = [r for r in records if r["holding"]]
    first_tokens = [r["first_token_ms"] for r in records if r["first_token_ms"] is not None]
    return {
        "pacing": {"ttft_s": ttft_s, "token_s": token_s, "delta": "one word of text or 4 characters of tool JSON"},
        "concurrency": concurrency,
        "scenarios": len(results),
        "passed": sum(r.passed for r in results),
        "failed": sorted(r.scenario.id for r in results if not r.passed),
        "turns": len(records),
        "turns_with_model_calls": len(with_model),
        "model_calls_per_turn": round(sum(r["model_calls"] for r in records) / max(1, len(records)), 2),
        "turn": summary(turns),
        "turn_with_model_calls": summary([r["turn_ms"] for r in with_model]) if with_model else None,
        "first_token": summary(first_tokens) if first_tokens else None,
        **over,
        "holding_events": sum(r["holding"] for r in records),
        "turns_held": len(held),
        "held_at": summary([r["held_at_ms"] for r in held]) if held else None,
        "held_but_within_2s": sum(r["turn_ms"] <= 2000 for r in held),  # a holding message the turn did not need
        "over_2s_without_holding": [
            {k: r[k] for k in ("call", "turn_ms", "model_calls", "engine", "status")}
            for r in records
            if r["turn_ms"] > 2000 and not r["holding"]
        ],
        "engines": {e: sum(r["engine"] == e for r in records) for e in sorted({r["engine"] for r in records})},
        "tcp_connections": connections,
        "wall_s": round(wall_s, 1),
        "per_turn": [{k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()} for r in records],
    }


def show(data: dict[str, Any]) -> None:
    p = data["pacing"]
    print(f"PacedModel over the offline engine: TTFT {p['ttft_s'] * 1000:g} ms, {p['token_s'] * 1000:g} ms per delta;"
          f" {data['scenarios']} scenarios ({data['passed']} passed), {data['concurrency']} at a time,"
          f" {data['wall_s']} s")  # fmt: skip
    turn, model_turn = data["turn"], data["turn_with_model_calls"] or {}
    print(f"  turns {data['turns']} ({data['turns_with_model_calls']} with model calls,"
          f" {data['model_calls_per_turn']} calls per turn)")  # fmt: skip
    print(f"  turn p50 {turn['median_ms']:.0f} ms, p95 {turn['p95_ms']:.0f} ms, max {turn['max_ms']:.0f} ms;"
          f" turns with model calls p50 {model_turn.get('median_ms', 0):.0f} ms,"
          f" p95 {model_turn.get('p95_ms', 0):.0f} ms")  # fmt: skip
    if data["first_token"]:
        ft = data["first_token"]
        print(f"  first token event p50 {ft['median_ms']:.0f} ms, p95 {ft['p95_ms']:.0f} ms (n={ft['n']})")
    print(f"  over 2 s: {data['over_2s']} turns; over 5 s: {data['over_5s']} turns")
    print(f"  holding events: {data['holding_events']} in {data['turns_held']} turns;"
          f" over 2 s without one: {len(data['over_2s_without_holding'])};"
          f" held but done within 2 s: {data['held_but_within_2s']}")  # fmt: skip
    if data["held_at"]:
        h = data["held_at"]
        print(f"  holding sent at p50 {h['median_ms']:.0f} ms, p95 {h['p95_ms']:.0f} ms into the turn")
    print(f"  engines that answered: {data['engines']}; TCP connections to the model: {data['tcp_connections']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttft", type=float, default=0.35, help="seconds before a reply's first delta")
    parser.add_argument("--token", type=float, default=0.025, help="seconds between deltas")
    parser.add_argument("--concurrency", type=int, default=4, help="scenarios in flight at once")
    parser.add_argument("--limit", type=int, default=None, help="only the first N scenarios")
    args = parser.parse_args()
    data = asyncio.run(play(args.ttft, args.token, args.concurrency, args.limit))
    show(data)
    print(f"wrote {save('turn_budget', data)}")
