"""Redaction: what it catches, what it leaves alone, and what it costs per message.

Reads the secrets corpus written for the adversarial suite (``tests/security/data``: invented values, written
independently of the redactor), the training and held-out utterances (ordinary messages, which must come
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

    caught: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for row in secrets:
        out = redact(row["text"], expect_code=row["kind"] == "one_time_code").text
        total[row["kind"]] += 1
        caught[row["kind"]] += all(s not in out for s in row["secrets"])
    kept = sum(all(k in redact(row["text"]).text for k in row["keep"]) for row in alike)
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
        "secrets_removed": {kind: f"{caught[kind]}/{total[kind]}" for kind in sorted(total)},
        "secrets_removed_all": f"{sum(caught.values())}/{len(secrets)}",
        "look_alikes_kept": f"{kept}/{len(alike)}",
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
