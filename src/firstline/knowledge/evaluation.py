"""Retrieval evaluation on BEIR-layout data: NDCG@10, MRR@10, Recall@10/100 and query latency.

Relevance is judged per corpus document (the ``_id`` of ``corpus.jsonl``): a document's rank is
the rank of its best chunk.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firstline.errors import CorpusFormatError
from firstline.knowledge.models import Hit

__all__ = ["EvalResult", "evaluate", "load_qrels", "load_queries", "mrr_at", "ndcg_at", "recall_at"]


def load_queries(path: Path) -> dict[str, str]:
    """``queries.jsonl``: one ``{"_id", "text"}`` object per line."""
    queries: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CorpusFormatError(f"Cannot read the queries file {path}: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            queries[str(row["_id"])] = str(row["text"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CorpusFormatError(f"{path} line {number}: expected a JSON object with '_id' and 'text'") from exc
    return queries


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Qrels as CSV or TSV with columns query-id, corpus-id, score (a header row is optional)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CorpusFormatError(f"Cannot read the qrels file {path}: {exc.strerror or exc}") from exc
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first else ","
    qrels: dict[str, dict[str, int]] = {}
    for number, row in enumerate(csv.reader(text.splitlines(), delimiter=delimiter), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 3:
            raise CorpusFormatError(f"{path} line {number}: expected query-id, corpus-id, score")
        try:
            score = int(float(row[2]))
        except ValueError:
            if number == 1:
                continue  # the header
            raise CorpusFormatError(f"{path} line {number}: the score {row[2]!r} is not a number") from None
        qrels.setdefault(row[0].strip(), {})[row[1].strip()] = score
    if not qrels:
        raise CorpusFormatError(f"{path} has no judgements")
    return qrels


def ndcg_at(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def mrr_at(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranked[:k]):
        if relevant.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def recall_at(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    wanted = {d for d, g in relevant.items() if g > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


@dataclass(frozen=True, slots=True)
class EvalResult:
    mode: str
    queries: int
    ndcg_at_10: float
    mrr_at_10: float
    recall_at_10: float
    recall_at_100: float
    latency_p50_ms: float
    latency_p95_ms: float

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "queries": self.queries,
            "ndcg@10": round(self.ndcg_at_10, 4),
            "mrr@10": round(self.mrr_at_10, 4),
            "recall@10": round(self.recall_at_10, 4),
            "recall@100": round(self.recall_at_100, 4),
            "latency_p50_ms": round(self.latency_p50_ms, 2),
            "latency_p95_ms": round(self.latency_p95_ms, 2),
        }


Search = Callable[[str, str], list[Hit]]
"""``search(query, mode) -> hits`` (best chunk per document, best first, at least 100 long)."""


def evaluate(
    search: Search,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    mode: str,
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    judged = [q for q in queries if q in qrels]
    if not judged:
        raise CorpusFormatError("No query in the queries file has a judgement in the qrels file: are the ids the same?")
    ndcg, mrr, r10, r100, latencies = [], [], [], [], []
    for i, qid in enumerate(judged):
        started = time.perf_counter()
        hits = search(queries[qid], mode)
        latencies.append((time.perf_counter() - started) * 1000)
        ranked = [h.chunk.doc_id for h in hits]
        relevant = qrels[qid]
        ndcg.append(ndcg_at(ranked, relevant, 10))
        mrr.append(mrr_at(ranked, relevant, 10))
        r10.append(recall_at(ranked, relevant, 10))
        r100.append(recall_at(ranked, relevant, 100))
        if progress:
            progress(i + 1, len(judged))
    lat = np.array(latencies)
    return EvalResult(
        mode,
        len(judged),
        float(np.mean(ndcg)),
        float(np.mean(mrr)),
        float(np.mean(r10)),
        float(np.mean(r100)),
        float(np.percentile(lat, 50)),
        float(np.percentile(lat, 95)),
    )
