"""Triage accuracy and speed.

1. Held-out utterances (helpdesk/data/utterances/heldout.jsonl, never used in training): accuracy
   over the nine specialists, over all twelve labels, macro-F1, intent accuracy, and per-call
   latency of `Triage.classify` (embedding included).
2. External check on ../shared/data/endava-it-tickets (real, anonymised tickets) with the mapping
   fixed in its SOURCE.md: Access -> security, Administrative rights -> computer,
   Hardware -> device or computer, Storage -> email or network; the other four groups are not
   Tier-1 routing labels and are reported separately, not scored.
3. Hand labels (bench/data/real-ticket-labels.csv): 300 Endava tickets and 150 English synthetic
   tickets (Tobi-Bueck), each labelled by a person with one of our twelve labels, an intent, and
   sure/unsure. Only ids and labels are stored; the texts are read from ../shared/data by id.
   Reported beside the held-out figure: accuracy over all rows, over `sure` rows, per data set,
   macro-F1, intent accuracy where an intent was given, and the most frequent confusions.

Usage: .venv/bin/python bench/triage.py [--endava-limit N]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from _common import ROOT, save, shared_data, summary
from firstline.cli.triage import score
from firstline.helpdesk.cleaning import understood
from firstline.helpdesk.taxonomy import SPECIALISTS, data_dir, load_taxonomy
from firstline.helpdesk.triage import Triage, TriageModel, load_examples, packaged_model_path
from firstline.knowledge.embedders import LocalEmbedder

LABELS = ROOT / "bench" / "data" / "real-ticket-labels.csv"


def _endava_text(row: dict[str, str]) -> str:
    return row["text"]


def _synthetic_text(row: dict[str, str]) -> str:
    """Subject and body as one message; the file keeps the e-mail's line breaks as a literal backslash-n."""
    return f"{row['subject']}\n{row['body']}".replace("\\n", "\n").replace("<br>", "\n").strip()


LABELLED_SETS: dict[str, tuple[str, Callable[[dict[str, str]], str]]] = {  # name -> (file under shared data, text)
    "endava-it-tickets": ("endava-it-tickets/tickets_sample6000.csv", _endava_text),
    "synthetic-support-tickets-tobi-bueck": ("synthetic-support-tickets-tobi-bueck/tickets_en.csv", _synthetic_text),
}

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
    labelled = hand_labelled(triage)
    labelled["heldout_beside"] = {"all_labels": result_of(everything), "specialists_only": result_of(specialists)}
    result = {
        "heldout": {
            "n": len(heldout),
            "specialists_only": result_of(specialists),
            "all_labels": result_of(everything),
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
        "hand_labelled": labelled,
    }
    h = result["heldout"]
    print(f"held-out: specialists accuracy {h['specialists_only']['accuracy']} (n={h['specialists_only']['n']}), "
          f"all labels {h['all_labels']['accuracy']} (n={h['n']}), intent {h['intent_accuracy']}, "
          f"latency median {h['latency']['median_ms']} ms p95 {h['latency']['p95_ms']} ms")  # fmt: skip
    e = result["endava"]
    print(f"endava: accuracy {e['accuracy']} on {e['scored_rows']} rows; per group {e['per_group_accuracy']}; "
          f"{e['mapping_cost']}")  # fmt: skip
    lab = result["hand_labelled"]
    print(f"hand-labelled real tickets: accuracy {lab['all']['accuracy']} (n={lab['all']['n']}), "
          f"sure only {lab['sure_only']['accuracy']} (n={lab['sure_only']['n']}), macro-F1 {lab['all']['macro_f1']}, "
          f"specialist rows {lab['specialists_only']['accuracy']} (n={lab['specialists_only']['n']}), "
          f"intent {lab['intent_accuracy']['accuracy']} (n={lab['intent_accuracy']['n']}); "
          f"held-out all labels {h['all_labels']['accuracy']}")  # fmt: skip
    desk = lab["as_the_desk_reads_it"]
    print(f"  after the desk's cleaning and spelling pass: {desk['all']['accuracy']} (n={desk['all']['n']}), "
          f"sure only {desk['sure_only']['accuracy']}")  # fmt: skip
    for name, part in lab["per_dataset"].items():
        print(f"  {name}: {part['all']['accuracy']} (n={part['all']['n']}), "
              f"sure only {part['sure_only']['accuracy']} (n={part['sure_only']['n']})")  # fmt: skip
    print("  top confusions (expected -> predicted: n): "
          + ", ".join(f"{c['expected']}->{c['predicted']}: {c['n']}" for c in lab["top_confusions"]))  # fmt: skip
    path = save("triage", result)
    print(f"saved {path.relative_to(ROOT)}")


def result_of(scored: dict[str, Any]) -> dict[str, Any]:
    return {k: scored[k] for k in ("n", "accuracy", "macro_f1")}


def hand_labelled(triage: Triage) -> dict[str, Any]:
    """Score the packaged model against our own labels of real (and LLM-written) ticket texts."""
    labels = list(csv.DictReader(LABELS.open(encoding="utf-8")))
    texts: dict[tuple[str, str], str] = {}
    for name, (relative, to_text) in LABELLED_SETS.items():
        with (shared_data() / relative).open(encoding="utf-8", newline="") as handle:
            texts.update({(name, row["id"]): to_text(row) for row in csv.DictReader(handle)})
    missing = [f"{r['dataset']}:{r['id']}" for r in labels if (r["dataset"], r["id"]) not in texts]
    if missing:
        raise SystemExit(f"{len(missing)} labelled ids not found in the shared data, e.g. {missing[:3]}")
    rows, cleaned = [], []
    for label in labels:
        text = texts[(label["dataset"], label["id"])][:8000]
        got = triage.classify(text)
        rows.append((label, got.agent, got.intent))
        # as the helpdesk reads it: headers, signatures, logs stripped and typos corrected first
        tidy = triage.classify(understood(text).text)
        cleaned.append((label, tidy.agent, tidy.intent))

    def part(selected: list[tuple[dict[str, str], str, str]]) -> dict[str, Any]:
        return result_of(score([lab["agent"] for lab, _, _ in selected], [agent for _, agent, _ in selected]))

    sure = [r for r in rows if r[0]["confidence"] == "sure"]
    with_intent = [r for r in rows if r[0]["intent"]]
    confusions = Counter((lab["agent"], agent) for lab, agent, _ in rows if lab["agent"] != agent)
    return {
        "labels_file": str(LABELS.relative_to(ROOT)),
        "all": {**part(rows), "confusion": score([r[0]["agent"] for r in rows], [r[1] for r in rows])["confusion"]},
        "sure_only": part(sure),
        "as_the_desk_reads_it": {
            "all": part(cleaned),
            "sure_only": part([r for r in cleaned if r[0]["confidence"] == "sure"]),
        },
        "specialists_only": part([r for r in rows if r[0]["agent"] in SPECIALISTS]),
        "per_dataset": {
            name: {
                "all": part([r for r in rows if r[0]["dataset"] == name]),
                "sure_only": part([r for r in sure if r[0]["dataset"] == name]),
            }
            for name in LABELLED_SETS
        },
        "intent_accuracy": {
            "n": len(with_intent),
            "accuracy": round(
                sum(lab["intent"] == intent for lab, _, intent in with_intent) / max(1, len(with_intent)), 4
            ),
        },
        "label_counts": dict(Counter(r[0]["agent"] for r in rows).most_common()),
        "predicted_counts": dict(Counter(r[1] for r in rows).most_common()),
        "top_confusions": [{"expected": e, "predicted": p, "n": n} for (e, p), n in confusions.most_common(10)],
        "misrouted": [
            {
                "dataset": lab["dataset"],
                "id": lab["id"],
                "expected": lab["agent"],
                "predicted": agent,
                "confidence": lab["confidence"],
            }
            for lab, agent, _ in rows
            if lab["agent"] != agent
        ],
    }


if __name__ == "__main__":
    main()
