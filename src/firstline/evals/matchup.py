"""The model matchup: the scenario suite through each engine, scored on outcome, speed and cost.

Per engine: task success (share of scenario runs whose end state is right), pass^k (share of
scenarios that pass in all ``repeats`` runs — consistency, not luck), p50/p95 time to first token
and per turn, tokens and cost per 1,000 tickets (one scenario run = one ticket), and the license.
A model that fails a call is not rescued by a fallback here: the turn fails and so does the
scenario, so each row measures that model alone. The offline engine is always the baseline.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from firstline.conversations import SqlConversations
from firstline.directory import DirectoryBackend
from firstline.directory.models import OrgData
from firstline.evals.scenarios import Scenario, ScenarioResult, run_scenario
from firstline.helpdesk.desk import Helpdesk
from firstline.helpdesk.tools.deps import OneTimeCodes
from firstline.helpdesk.triage import Triage
from firstline.knowledge.base import KnowledgeBase
from firstline.llm.messages import ChatModel
from firstline.ticketing import TicketingBackend

__all__ = ["Contender", "MatchupRow", "chart", "run_matchup"]


@dataclass(frozen=True)
class Contender:
    """One engine in the matchup and what the catalog says about it."""

    name: str
    engine: ChatModel
    license: str = "unknown"


@dataclass
class MatchupRow:
    name: str
    license: str
    runs: int
    passed: int
    task_success: float
    pass_k: float
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    turn_p50_ms: float
    turn_p95_ms: float
    tokens_in_per_ticket: float
    tokens_out_per_ticket: float
    cost_per_1k_tickets_usd: float
    failed_turns: int
    failures: dict[str, list[str]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


async def run_matchup(
    contenders: Sequence[Contender],
    scenarios: Sequence[Scenario],
    *,
    org: OrgData,
    triage: Triage,
    knowledge: KnowledgeBase | None,
    repeats: int = 1,
    max_turns: int = 10,
    progress: Callable[[str], None] | None = None,
) -> list[MatchupRow]:
    rows = []
    for contender in contenders:

        def make(
            directory: DirectoryBackend,
            tickets: TicketingBackend,
            conversations: SqlConversations,
            codes: OneTimeCodes,
            engine: ChatModel = contender.engine,
        ) -> Helpdesk:
            return Helpdesk(
                directory=directory,
                tickets=tickets,
                conversations=conversations,
                triage=triage,
                knowledge=knowledge,
                codes=codes,
                engine=engine,
                max_turns=max_turns,
            )

        results: list[ScenarioResult] = []
        for _ in range(repeats):
            for scenario in scenarios:
                result = await run_scenario(scenario, org, make)
                results.append(result)
                if progress is not None:
                    progress(f"{contender.name} {scenario.id}: {'pass' if result.passed else 'FAIL'}")
        rows.append(_score(contender, results, scenarios, repeats))
    return rows


def _score(contender: Contender, results: list[ScenarioResult], scenarios: Sequence[Scenario], k: int) -> MatchupRow:
    ttft = [
        float(ms)
        for r in results
        for reply in r.replies
        for ms in reply.usage.get("turn", {}).get("first_token_ms", [])
        if ms is not None
    ]
    turns = [t for r in results for t in r.turn_ms]
    tokens_in = [sum(reply.usage.get("turn", {}).get("prompt_tokens", 0) for reply in r.replies) for r in results]
    tokens_out = [sum(reply.usage.get("turn", {}).get("completion_tokens", 0) for reply in r.replies) for r in results]
    cost = [sum(reply.usage.get("turn", {}).get("cost_usd", 0.0) for reply in r.replies) for r in results]
    by_scenario: dict[str, list[bool]] = {}
    for r in results:
        by_scenario.setdefault(r.scenario.id, []).append(r.passed)
    passed = sum(r.passed for r in results)
    return MatchupRow(
        name=contender.name,
        license=contender.license,
        runs=len(results),
        passed=passed,
        task_success=round(passed / len(results), 4) if results else 0.0,
        pass_k=round(sum(all(v) for v in by_scenario.values()) / len(by_scenario), 4) if by_scenario else 0.0,
        ttft_p50_ms=_pct(ttft, 0.5),
        ttft_p95_ms=_pct(ttft, 0.95),
        turn_p50_ms=_pct(turns, 0.5) or 0.0,
        turn_p95_ms=_pct(turns, 0.95) or 0.0,
        tokens_in_per_ticket=round(statistics.fmean(tokens_in), 1) if tokens_in else 0.0,
        tokens_out_per_ticket=round(statistics.fmean(tokens_out), 1) if tokens_out else 0.0,
        cost_per_1k_tickets_usd=round(statistics.fmean(cost) * 1000, 4) if cost else 0.0,
        failed_turns=sum(reply.status == "failed" for r in results for reply in r.replies),
        failures={r.scenario.id: r.failures for r in results if not r.passed},
    )


def chart(rows: Sequence[MatchupRow], path: Path) -> Path:
    """A PNG: task success and pass^k per engine, with p95 turn time and cost in the labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.name for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.6 * len(rows) + 2.2))
    y = range(len(rows))
    axes[0].barh([i + 0.2 for i in y], [r.task_success for r in rows], height=0.4, label="task success")
    axes[0].barh([i - 0.2 for i in y], [r.pass_k for r in rows], height=0.4, label="pass^k")
    axes[0].set_yticks(list(y), names)
    axes[0].set_xlim(0, 1)
    axes[0].set_title("Scenario outcome (end state)")
    axes[0].legend(loc="lower right")
    axes[1].barh(list(y), [r.turn_p95_ms for r in rows], color="grey")
    axes[1].set_yticks(list(y), [f"${r.cost_per_1k_tickets_usd:.2f}/1k tickets" for r in rows])
    axes[1].set_title("p95 turn time (ms)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
