"""Triage accuracy and speed.

1. Held-out utterances (helpdesk/data/utterances/heldout.jsonl, never used in training): accuracy
   over the nine specialists, over all twelve labels, macro-F1, intent accuracy, and per-call
   latency of `Triage.classify` (embedding included).
2. External check on ../shared/data/endava-it-tickets (real, anonymised tickets) with the mapping
   fixed in its SOURCE.md: Access -> security, Administrative rights -> computer,
   Hardware -> device or computer, Storage -> email or network; the other four groups are not
   Tier-1 routing labels and are reported separately, not scored.

Usage: .venv/bin/python bench/triage.py [--endava-limit N]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import Counter

from _common import ROOT, save, shared_data, summary
from firstline.cli.triage import score
from firstline.helpdesk.taxonomy import SPECIALISTS, data_dir, load_taxonomy
from firstline.helpdesk.triage import Triage, TriageModel, load_examples, packaged_model_path
from firstline.knowledge.embedders import LocalEmbedder

ENDAVA = {
    "Access": {"security"},
    "Administrative rights": {"computer"},
    "Hardware": {"device", "computer"},
    "Storage": {"email", "network"},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endava-limit", type=int, default=0, help="score at most N rows (0 = all)")
    args = parser.parse_args()
    triage = Triage(load_taxonomy(), TriageModel.load(packaged_model_path()), LocalEmbedder())
    triage.classify("warm up")

    heldout = load_examples(data_dir() / "utterances" / "heldout.jsonl")
    latencies, predicted = [], []
    for example in heldout:
        started = time.perf_counter()
        predicted.append(triage.classify(example.text))
        latencies.append((time.perf_counter() - started) * 1000)
    everything = score([e.agent for e in heldout], [p.agent for p in predicted])
    pairs = [(e, p) for e, p in zip(heldout, predicted, strict=True) if e.agent in SPECIALISTS]
    specialists = score([e.agent for e, _ in pairs], [p.agent for _, p in pairs])
    intent_accuracy = sum(e.intent == p.intent for e, p in zip(heldout, predicted, strict=True)) / len(heldout)

    rows = list(csv.DictReader((shared_data() / "endava-it-tickets" / "tickets_sample6000.csv").open()))
    scored = [r for r in rows if r["topic_group"] in ENDAVA]
    if args.endava_limit:
        scored = scored[: args.endava_limit]
    hits, by_group, confusion = 0, Counter(), Counter()
    for row in scored:
        agent = triage.classify(row["text"][:8000]).agent
        ok = agent in ENDAVA[row["topic_group"]]
        hits += ok
        by_group[(row["topic_group"], ok)] += 1
        confusion[(row["topic_group"], agent)] += 1
    unscored = Counter(r["topic_group"] for r in rows if r["topic_group"] not in ENDAVA)
    result = {
        "heldout": {
            "n": len(heldout),
            "specialists_only": {k: specialists[k] for k in ("n", "accuracy", "macro_f1")},
            "all_labels": {k: everything[k] for k in ("n", "accuracy", "macro_f1")},
            "intent_accuracy": round(intent_accuracy, 4),
            "confusion": everything["confusion"],
            "latency": summary(latencies),
        },
        "endava": {
            "scored_rows": len(scored),
            "accuracy": round(hits / len(scored), 4),
            "per_group_accuracy": {
                g: round(by_group[(g, True)] / max(1, by_group[(g, True)] + by_group[(g, False)]), 4) for g in ENDAVA
            },
            "predictions_per_group": {
                g: dict(Counter({a: n for (grp, a), n in confusion.items() if grp == g}).most_common()) for g in ENDAVA
            },
            "not_scored_rows": dict(unscored),
            "mapping_cost": f"{sum(unscored.values())} of {len(rows)} rows have no Tier-1 specialist label",
        },
    }
    h = result["heldout"]
    print(f"held-out: specialists accuracy {h['specialists_only']['accuracy']} (n={h['specialists_only']['n']}), "
          f"all labels {h['all_labels']['accuracy']} (n={h['n']}), intent {h['intent_accuracy']}, "
          f"latency median {h['latency']['median_ms']} ms p95 {h['latency']['p95_ms']} ms")  # fmt: skip
    e = result["endava"]
    print(f"endava: accuracy {e['accuracy']} on {e['scored_rows']} rows; per group {e['per_group_accuracy']}; "
          f"{e['mapping_cost']}")  # fmt: skip
    path = save("triage", result)
    print(f"saved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
