"""Generated conversations at scale: how often the desk breaks an invariant on unscripted dialogues.

Plays ``--conversations`` seeded conversations (``firstline.evals.conversations``: an opening for any
intent, then 1-6 follow-ups picked for the state the dialogue is in) against the offline engine with the
real triage model, the demo runbooks and a fresh copy of the demo organisation every ``--per-desk``
conversations, and checks every invariant after every turn. Prints conversations, turns, violations by
invariant, turn latency (each ``ask`` / ``decide``, checks excluded) and ``--examples`` transcripts per
invariant; writes ``bench/results/conversations.json``.

Usage: .venv/bin/python bench/conversations.py [--conversations 20000] [--seed 1] [--per-desk 10] [--examples 2]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from _common import save, summary
from firstline.directory import load_org
from firstline.evals.conversations import INVARIANTS, STATES, run_conversations
from firstline.helpdesk.taxonomy import load_taxonomy
from firstline.helpdesk.triage import Triage, TriageModel, packaged_model_path
from firstline.knowledge.base import KnowledgeBase
from firstline.knowledge.embedders import LocalEmbedder
from firstline.knowledge.stores.memory import InMemoryStore
from firstline.runtime import demo_org, demo_runbooks
from firstline.testing.helpdesk import HelpdeskWorld


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-desk", type=int, default=10, help="conversations that share one helpdesk")
    parser.add_argument("--examples", type=int, default=2, help="transcripts to print per invariant")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as index:
        embedder = LocalEmbedder()
        knowledge = KnowledgeBase(Path(index), InMemoryStore(), embedder)
        knowledge.ingest([demo_runbooks()])
        triage = Triage(load_taxonomy(), TriageModel.load(packaged_model_path()), embedder)
        world = HelpdeskWorld(triage, knowledge, load_org(demo_org()))
        started = time.perf_counter()
        result = asyncio.run(
            run_conversations(world.desk, world.org, seed=args.seed, count=args.conversations, per_desk=args.per_desk)
        )
        wall = time.perf_counter() - started
        knowledge.close()

    counts = result.by_invariant()
    latency = summary(result.latencies_ms)
    per_thousand = wall / max(result.conversations, 1) * 1000
    print(f"conversations {result.conversations}, turns {result.turns}, {wall:.0f} s ({per_thousand:.1f} s per 1,000)")
    print(f"turn latency: median {latency['median_ms']} ms, p95 {latency['p95_ms']} ms")
    print(f"violations: {len(result.violations)}")
    for name in INVARIANTS:
        turns_hit = len({(v.conversation, v.turn) for v in result.violations if v.invariant == name})
        print(f"  {name:<26} {counts.get(name, 0):>6}  ({turns_hit / max(result.turns, 1):.1%} of turns)")
    examples = {name: [v for v in result.violations if v.invariant == name][: args.examples] for name in INVARIANTS}
    for violation in (v for found in examples.values() for v in found):
        print("\n" + violation.render(200))
    switches = {state: result.coverage.get(f"{state}:switch", 0) for state in STATES}
    path = save(
        "conversations",
        {
            "seed": args.seed,
            "per_desk": args.per_desk,
            "conversations": result.conversations,
            "turns": result.turns,
            "wall_s": round(wall, 1),
            "seconds_per_1000_conversations": round(per_thousand, 1),
            "turn_latency": latency,
            "violations": len(result.violations),
            "by_invariant": {name: counts.get(name, 0) for name in INVARIANTS},
            "topic_switches_by_state": switches,
            "coverage": dict(sorted(result.coverage.items())),
            "intents": dict(sorted(result.intents.items())),
            "examples": {name: [v.as_dict() for v in found] for name, found in examples.items()},
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
