"""Speed at 20,000 chunks on this machine: ingest throughput and query latency per mode.

A synthetic corpus is written as Markdown runbooks (deterministic, seed 7): sentences drawn from
the shipped demo runbooks, recombined, with random ticket numbers, error codes, hostnames and
floor numbers so chunks are distinct. Then, through the real `KnowledgeBase` (Chroma embedded +
the default MiniLM embedder (queries on ONNX Runtime, ingest batches on torch) + BM25):

* ingest: chunks/s and tokens/s, end to end (load, chunk, embed, write vectors, catalog, BM25);
* queries: 300 queries (5-12 word spans from random chunks, reworded), k=5, per mode, latency
  including the query embedding; hybrid also with a category filter;
* Chroma recall@10 against exact search for the dense candidates (HNSW is approximate).

Usage: .venv/bin/python bench/retrieval_speed.py [--chunks 20000] [--words 40]
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import ROOT, save, summary
from firstline.knowledge.base import KnowledgeBase
from firstline.knowledge.embedders import LocalEmbedder
from firstline.knowledge.models import Filters
from firstline.knowledge.stores.chroma import ChromaStore
from firstline.runtime import demo_runbooks

CATEGORIES = ["device", "ticket", "network", "email", "computer", "printer", "phone", "security", "lookup"]


def sentence_pool() -> list[str]:
    pool: list[str] = []
    for path in sorted(demo_runbooks().glob("*.md")):
        body = path.read_text().split("---", 2)[-1]
        for line in body.splitlines():
            line = re.sub(r"^[#\-*\d.\s]+", "", line).strip()
            for sentence in re.split(r"(?<=[.!?])\s+", line):
                if 6 <= len(sentence.split()) <= 40:
                    pool.append(sentence)
    return pool


def synthetic_chunk(rng: random.Random, pool: list[str], words: int) -> str:
    parts: list[str] = []
    while sum(len(p.split()) for p in parts) < words:
        sentence = rng.choice(pool)
        sentence = sentence.replace("4357", str(rng.randint(1000, 9999)))
        parts.append(sentence)
    parts.append(
        f"Reference INC{rng.randint(10**6, 10**7 - 1)} on host NW-{rng.choice('LKR')}{rng.randint(100, 999)}, "
        f"error 0x{rng.randint(0, 2**32 - 1):08X}, floor {rng.randint(1, 9)}."
    )
    return " ".join(parts)


def write_corpus(folder: Path, chunks: int, words: int, sections_per_file: int = 10) -> int:
    rng = random.Random(7)
    pool = sentence_pool()
    files = (chunks + sections_per_file - 1) // sections_per_file
    written = 0
    for number in range(files):
        category = CATEGORIES[number % len(CATEGORIES)]
        lines = [
            "---",
            f"title: Synthetic runbook {number}",
            f"category: {category}",
            "audience: employee",
            f"tags: [synthetic, {category}]",
            "---",
            f"# Synthetic runbook {number}",
            "",
        ]
        for section in range(min(sections_per_file, chunks - written)):
            lines += [f"## Section {section}", "", synthetic_chunk(rng, pool, words), ""]
            written += 1
        (folder / f"{category}-{number:05d}.md").write_text("\n".join(lines))
    return written


def queries(kb: KnowledgeBase, n: int) -> list[str]:
    rng = random.Random(11)
    chunks = kb.catalog.all_chunks()
    out = []
    for _ in range(n):
        words = rng.choice(chunks).text.split()
        start = rng.randrange(max(1, len(words) - 12))
        span = words[start : start + rng.randint(5, 12)]
        rng.shuffle(span)
        out.append(" ".join(span))
    return out


def timed(fn, items):  # type: ignore[no-untyped-def]
    samples = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--words", type=int, default=40, help="target words per synthetic chunk")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "docs").mkdir()
        written = write_corpus(root / "docs", args.chunks, args.words)
        embedder = LocalEmbedder(cache_dir=root / "onnx")  # the default: ONNX queries, torch ingest
        embedder.embed_query("load the models before timing")
        embedder.embed_documents(["warm up the batch engine"] * 32)
        kb = KnowledgeBase(root / "index", ChromaStore.embedded(str(root / "index" / "chroma")), embedder)

        started = time.perf_counter()
        report = kb.ingest([root / "docs"])
        ingest_s = time.perf_counter() - started
        chunks = kb.catalog.all_chunks()
        tokenizer = embedder.queries._tokenizer
        tokens = sum(len(tokenizer.encode(c.index_text()).ids) for c in chunks)
        print(f"ingested {report.chunks_embedded} chunks ({written} sections) in {ingest_s:.1f} s")

        qs = queries(kb, args.queries)
        for q in qs[:10]:
            kb.search(q, k=5)
        latency = {
            mode: summary(timed(lambda q, mode=mode: kb.search(q, k=5, mode=mode), qs))
            for mode in ("dense", "bm25", "hybrid", "rrf")
        }
        flt = Filters.of(category="network")
        latency["hybrid+category-filter"] = summary(timed(lambda q: kb.search(q, k=5, filters=flt), qs))
        latency["query-embedding-only"] = summary(timed(embedder.embed_query, qs))

        # Chroma HNSW recall@10 against exact search over the same vectors.
        ids = [c.id for c in chunks]
        exact_vectors = embedder.embed_documents([c.index_text() for c in chunks])
        recall = []
        for q in qs[:100]:
            v = embedder.embed_query(q)
            truth = {ids[i] for i in np.argsort(-(exact_vectors @ v))[:10]}
            got = {s.id for s in kb.store.query(v, 10)}
            recall.append(len(truth & got) / 10)
        kb.close()

    result = {
        "chunks": len(chunks),
        "words_per_chunk_target": args.words,
        "mean_tokens_per_chunk": round(tokens / len(chunks), 1),
        "ingest_seconds": round(ingest_s, 1),
        "ingest_chunks_per_s": round(len(chunks) / ingest_s, 1),
        "ingest_tokens_per_s": round(tokens / ingest_s),
        "query_latency": latency,
        "chroma_recall_at_10_vs_exact": round(float(np.mean(recall)), 4),
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    path = save(f"retrieval_speed_{args.chunks}x{args.words}w", result)
    print(f"saved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
