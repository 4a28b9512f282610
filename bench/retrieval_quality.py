"""Retrieval quality on public data: every mode side by side, one setting for all data sets.

Runs `firstline kb eval --json` (the command users run) on:

* stackfaq-retrieval, thread level (threads.jsonl, qrels/test_threads.csv)
* emanual-s10-retrieval (corpus.jsonl, qrels/test.csv)

Usage: .venv/bin/python bench/retrieval_quality.py   (about 2-4 minutes on 2 cores)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, save, shared_data

SETS = {
    "stackfaq-threads": ("stackfaq-retrieval", "threads.jsonl", "queries.jsonl", "qrels/test_threads.csv"),
    "emanual-s10": ("emanual-s10-retrieval", "corpus.jsonl", "queries.jsonl", "qrels/test.csv"),
}


def run(name: str, folder: str, corpus: str, queries: str, qrels: str) -> dict[str, dict[str, float]]:
    base = shared_data() / folder
    with tempfile.TemporaryDirectory() as data_dir:
        command = [
            str(ROOT / ".venv" / "bin" / "firstline"),
            "kb",
            "eval",
            "--corpus",
            str(base / corpus),
            "--queries",
            str(base / queries),
            "--qrels",
            str(base / qrels),
            "--json",
        ]
        env = {"FIRSTLINE_DATA_DIR": data_dir, "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"{name}: firstline kb eval failed:\n{done.stderr}")
    result: dict[str, dict[str, float]] = json.loads(done.stdout)
    return result


def main() -> None:
    results = {name: run(name, *spec) for name, spec in SETS.items()}
    for name, modes in results.items():
        print(f"\n{name}")
        print(f"{'mode':<10} {'NDCG@10':>8} {'MRR@10':>8} {'R@10':>7} {'R@100':>7} {'p50 ms':>7} {'p95 ms':>7}")
        for mode, m in modes.items():
            print(
                f"{mode:<10} {m['ndcg@10']:>8.4f} {m['mrr@10']:>8.4f} {m['recall@10']:>7.4f} "
                f"{m['recall@100']:>7.4f} {m['latency_p50_ms']:>7.1f} {m['latency_p95_ms']:>7.1f}"
            )
    path = save("retrieval_quality", {"results": results})
    print(f"\nsaved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
