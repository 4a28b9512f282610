"""Redaction: what it catches, what it leaves alone, and what it costs per message.

Reads the secrets corpora of the adversarial suite (``tests/security/data``: invented values, written
independently of the redactor): ``secrets.jsonl`` (the redactor was widened from what it missed there, so
its rate is in-sample) and ``secrets_heldout.jsonl`` (written afterwards and never used to tune it: the
honest rate); then the training and held-out utterances (ordinary messages, which must come
through unchanged apart from one-time codes) and the shipped runbooks (prose, which must come through
unchanged). Reports the share of secrets removed per kind, look-alikes kept, ordinary texts changed, and the
time of one ``redact`` call: median and p95 per message, and per KiB for long inputs.

Usage: .venv/bin/python bench/redaction.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from typing import Any

from _common import ROOT, save, summary
from firstline.redaction import redact


def _lines(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (ROOT / path).read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="times each text is redacted for the timings")
    args = parser.parse_args()
    secrets = _lines("tests/security/data/secrets.jsonl")
    alike = _lines("tests/security/data/not_secrets.jsonl")
    ordinary = [
        row["text"]
        for name in ("utterances/train", "utterances/heldout", "acts/train", "acts/heldout")
        for row in _lines(f"src/firstline/helpdesk/data/{name}.jsonl")
    ]
    runbooks = [
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "src/firstline/helpdesk/seed/runbooks").glob("*.md"))
    ]

    def removed(rows: list[dict[str, Any]]) -> dict[str, str]:
        caught: Counter[str] = Counter()
        total: Counter[str] = Counter()
        for row in rows:
            out = redact(row["text"], expect_code=row["kind"] == "one_time_code").text
            total[row["kind"]] += 1
            caught[row["kind"]] += all(s not in out for s in row["secrets"])
        return {**{k: f"{caught[k]}/{total[k]}" for k in sorted(total)}, "all": f"{sum(caught.values())}/{len(rows)}"}

    def kept(rows: list[dict[str, Any]]) -> str:
        return f"{sum(all(k in redact(r['text']).text for k in r['keep']) for r in rows)}/{len(rows)}"

    heldout = _lines("tests/security/data/secrets_heldout.jsonl")
    alike_heldout = _lines("tests/security/data/not_secrets_heldout.jsonl")
    changed = [t for t in ordinary if redact(t).text != t]
    runbooks_changed = sum(redact(t).text != t for t in runbooks)

    def timed(texts: list[str]) -> list[float]:
        out = []
        for text in texts:
            started = time.perf_counter()
            for _ in range(args.repeat):
                redact(text)
            out.append((time.perf_counter() - started) / args.repeat * 1000)
        return out

    messages = [row["text"] for row in secrets] + [row["text"] for row in alike] + ordinary[:400]
    per_message = timed(messages)
    per_runbook = timed(runbooks)
    kib = sum(len(t) for t in runbooks) / 1024
    result = {
        "secrets_removed_in_sample": removed(secrets),
        "look_alikes_kept_in_sample": kept(alike),
        "secrets_removed_held_out": removed(heldout),
        "look_alikes_kept_held_out": kept(alike_heldout),
        "ordinary_messages_changed": f"{len(changed)}/{len(ordinary)}",
        "ordinary_changed_examples": changed[:10],
        "runbooks_changed": f"{runbooks_changed}/{len(runbooks)}",
        "ms_per_message": summary(per_message),
        "ms_per_runbook": summary(per_runbook),
        "ms_per_kib_of_runbook": round(sum(per_runbook) / kib, 3),
    }
    save("redaction", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
