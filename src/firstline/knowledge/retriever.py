"""Hybrid retrieval: dense + BM25 candidates, fused, optionally reranked, returned with citations.

Modes:

* ``dense`` — cosine similarity of MiniLM (or any ``Embedder``) vectors.
* ``bm25`` — keyword scores.
* ``hybrid`` (default) — ``cosine + bm25_weight * keyword_share`` where ``keyword_share`` is the
  chunk's BM25 score divided by the best score the query's terms can get in this corpus
  (:meth:`BM25Index.best_possible`). Both terms are on absolute scales, so a query whose words
  really occur in a chunk gains the most, and a paraphrase with little word overlap leans on
  the embedding. One setting for every corpus; docs/retrieval.md has the measurements.
* ``rrf`` — equal-weight reciprocal rank fusion, kept as the reference the default must beat.
* ``hybrid+rerank`` — ``hybrid``, then the top ``rerank_depth`` candidates reordered by a
  ``Reranker``. A reranker that fails or times out leaves the fused order (a warning is logged).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from firstline.errors import EmptyQueryError, FirstlineError, InputError, QueryTooLongError
from firstline.knowledge.catalog import KnowledgeCatalog
from firstline.knowledge.embedders import Embedder
from firstline.knowledge.fusion import fuse_rrf
from firstline.knowledge.models import Filters, Hit
from firstline.knowledge.rerank import Reranker
from firstline.knowledge.sparse import BM25Index
from firstline.knowledge.stores import VectorStore

__all__ = ["MODES", "HybridRetriever", "Mode", "RetrievalConfig"]

log = logging.getLogger(__name__)

Mode = Literal["dense", "bm25", "hybrid", "hybrid+rerank", "rrf"]
MODES: tuple[str, ...] = get_args(Mode)


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    """Search settings (``[knowledge.retrieval]`` in firstline.toml)."""

    candidates: int = 100
    bm25_weight: float = 0.5
    rerank_depth: int = 30
    max_query_chars: int = 2000


class HybridRetriever:
    """Searches one knowledge index. Thread-safe for concurrent searches."""

    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        catalog: KnowledgeCatalog,
        keyword_index: Callable[[], BM25Index],
        reranker: Reranker | None = None,
        config: RetrievalConfig | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.catalog = catalog
        self._keyword_index = keyword_index
        self.reranker = reranker
        self.config = config or RetrievalConfig()

    def validate(self, query: str) -> str:
        """Return the stripped query or raise a clear :class:`InputError`."""
        if not isinstance(query, str):
            raise InputError("The query must be text.")
        stripped = query.strip()
        if not stripped:
            raise EmptyQueryError()
        if len(stripped) > self.config.max_query_chars:
            raise QueryTooLongError(len(stripped), self.config.max_query_chars)
        return stripped

    def search(
        self,
        query: str,
        k: int = 5,
        mode: Mode = "hybrid",
        filters: Filters | None = None,
        by_document: bool = False,
    ) -> list[Hit]:
        """The ``k`` best chunks for ``query`` (or best chunk per document with ``by_document``)."""
        query = self.validate(query)
        if mode not in MODES:
            raise InputError(f"Unknown search mode {mode!r}; choose one of {', '.join(MODES)}.")
        if k <= 0:
            raise InputError("k must be at least 1.")
        depth = max(self.config.candidates, k * (4 if by_document else 1))
        dense: list[tuple[str, float]] = []
        keyword: list[tuple[str, float]] = []
        best_possible = 0.0
        if mode != "bm25":
            vector = self.embedder.embed_query(query)
            dense = [(s.id, s.score) for s in self.store.query(vector, depth, filters)]
        if mode != "dense":
            index = self._keyword_index()
            mask = index.mask(filters) if filters else None
            keyword = index.search(query, depth, mask)
            best_possible = index.best_possible(query)
        dense_of = dict(dense)
        keyword_of = dict(keyword)
        if mode == "dense":
            ranked = dense
        elif mode == "bm25":
            ranked = keyword
        elif mode == "rrf":
            ranked = fuse_rrf([dense, keyword])
        else:
            ranked = self._fuse(dense, keyword, best_possible)
        chunks = self.catalog.get([id_ for id_, _ in ranked[: depth * 2]])
        hits = [
            Hit(chunks[id_], score, dense_of.get(id_), keyword_of.get(id_)) for id_, score in ranked if id_ in chunks
        ]
        if mode == "hybrid+rerank" and self.reranker is not None:
            hits = self._rerank(query, hits)
        if by_document:
            hits = _best_per_document(hits)
        return hits[:k]

    def _fuse(
        self, dense: list[tuple[str, float]], keyword: list[tuple[str, float]], best_possible: float
    ) -> list[tuple[str, float]]:
        floor = dense[-1][1] if dense else 0.0
        dense_of = dict(dense)
        keyword_of = dict(keyword)
        scale = self.config.bm25_weight / best_possible if best_possible > 0 else 0.0
        fused = {
            id_: dense_of.get(id_, floor) + scale * keyword_of.get(id_, 0.0) for id_ in dense_of.keys() | keyword_of
        }
        return sorted(fused.items(), key=lambda item: (-item[1], item[0]))

    def _rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        assert self.reranker is not None
        head, tail = hits[: self.config.rerank_depth], hits[self.config.rerank_depth :]
        if not head:
            return hits
        started = time.perf_counter()
        try:
            results = self.reranker.rerank(query, [h.chunk.index_text() for h in head], top_n=len(head))
        except FirstlineError as exc:  # RerankError, or a local model that failed to load
            log.warning("reranker %s failed, keeping the fused order: %s", self.reranker.name, exc)
            return hits
        log.debug("reranked %d candidates in %.1f ms", len(head), (time.perf_counter() - started) * 1000)
        seen = {r.index for r in results}
        reranked = [
            Hit(head[r.index].chunk, r.score, head[r.index].dense_score, head[r.index].bm25_score, r.score)
            for r in results
        ]
        # Candidates the reranker did not return keep their fused order after the reranked ones.
        rest = [h for i, h in enumerate(head) if i not in seen]
        return reranked + rest + tail


def _best_per_document(hits: list[Hit]) -> list[Hit]:
    seen: set[str] = set()
    out = []
    for hit in hits:
        if hit.chunk.doc_id not in seen:
            seen.add(hit.chunk.doc_id)
            out.append(hit)
    return out
