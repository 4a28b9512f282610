"""The keyword index: BM25 (bm25s) over stemmed, stop-word-filtered tokens, saved beside the vectors.

Exact error codes, product names and KB numbers are where keywords beat embeddings, so the
tokenizer keeps tokens like ``0x80070005``, ``INC0012345`` and ``802.1x`` whole.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from firstline.knowledge.models import Chunk, Filters

__all__ = ["BM25Index", "tokenize"]

_TOKEN = re.compile(r"[a-z0-9]+(?:[._\-/][a-z0-9]+)*")
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
    i'm i've it's can't don't won't""".split()
)
_stemmers = threading.local()  # a PyStemmer stemmer is not thread-safe: one per thread (shared, it crashed)


def _stem(words: list[str]) -> list[str]:
    stemmer: Any = getattr(_stemmers, "english", None)
    if stemmer is None:
        import Stemmer

        stemmer = _stemmers.english = Stemmer.Stemmer("english")
    return list(stemmer.stemWords(words))


def tokenize(text: str) -> list[str]:
    """Lower-case, keep compound tokens (``0x80070005``, ``wi-fi``), drop stop words, stem.

    Compound tokens are indexed whole *and* as their parts, so "wi-fi" matches "wifi" and "fi".
    """
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if token in _STOPWORDS:
            continue
        out.append(token)
        if any(sep in token for sep in "._-/"):
            parts = [p for p in re.split(r"[._\-/]", token) if p and p not in _STOPWORDS]
            out.extend(parts)
            out.append("".join(parts))
    return _stem(out)


class BM25Index:
    """A bm25s index over chunk ids; rebuilt from the catalog after an ingest that changed it."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._ids: list[str] = []
        self._position: dict[str, int] = {}
        self._model: Any = None
        self._term_max: npt.NDArray[np.float32] | None = None
        self._meta: list[list[str]] = []
        self._flagged: list[bool] = []
        self._masks: dict[Filters, npt.NDArray[np.float32]] = {}

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> list[str]:
        return self._ids

    def build(self, chunks: Sequence[Chunk]) -> None:
        """Index the chunks' :meth:`Chunk.index_text` and remember their filterable metadata."""
        import bm25s

        texts = [c.index_text() for c in chunks]
        self._ids = [c.id for c in chunks]
        self._meta = [[c.category or "", c.audience or "", *c.tags] for c in chunks]
        self._flagged = [c.flagged for c in chunks]
        self._masks = {}
        self._position = {id_: i for i, id_ in enumerate(self._ids)}
        self._term_max = None
        if not self._ids:
            self._model = None
            return
        model = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        model.index([tokenize(t) or [""] for t in texts], show_progress=False)
        self._model = model

    def scores(self, query: str, mask: npt.NDArray[np.float32] | None = None) -> npt.NDArray[np.float32]:
        """BM25 score of every indexed chunk for ``query`` (zeros where ``mask`` is 0)."""
        if self._model is None:
            return np.zeros(0, dtype=np.float32)
        vocab = self._model.vocab_dict
        tokens = [t for t in tokenize(query) if t in vocab]
        if not tokens:
            return np.zeros(len(self._ids), dtype=np.float32)
        scores = np.asarray(self._model.get_scores(tokens), dtype=np.float32)
        if mask is not None:
            scores = scores * mask
        return scores

    def mask(self, filters: Filters) -> npt.NDArray[np.float32]:
        """1.0 for chunks that pass ``filters``, else 0.0 (cached per filter)."""
        cached = self._masks.get(filters)
        if cached is None:
            cached = np.array(
                [
                    1.0 if filters.matches(m[0], m[1], m[2:], flagged) else 0.0
                    for m, flagged in zip(self._meta, self._flagged, strict=True)
                ],
                dtype=np.float32,
            )
            if len(self._masks) > 256:
                self._masks.clear()
            self._masks[filters] = cached
        return cached

    def best_possible(self, query: str) -> float:
        """The sum over the query's distinct known terms of the best score any chunk gets for that term.

        Dividing a chunk's score by this gives the share of the query's keyword evidence it
        matches, on the same absolute [0, ~1] scale for every query and every corpus.
        """
        if self._model is None:
            return 0.0
        if self._term_max is None:
            data = np.asarray(self._model.scores["data"], dtype=np.float32)
            indptr = np.asarray(self._model.scores["indptr"])
            term_max = np.zeros(len(indptr) - 1, dtype=np.float32)
            nonempty = indptr[1:] > indptr[:-1]
            if data.size:
                term_max[nonempty] = np.maximum.reduceat(data, indptr[:-1][nonempty])
            self._term_max = term_max
        vocab = self._model.vocab_dict
        return float(sum(self._term_max[vocab[t]] for t in set(tokenize(query)) if t in vocab))

    def search(self, query: str, k: int, mask: npt.NDArray[np.float32] | None = None) -> list[tuple[str, float]]:
        """The ``k`` best chunk ids with a positive score, best first."""
        scores = self.scores(query, mask)
        if scores.size == 0 or k <= 0:
            return []
        k = min(k, scores.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._ids[int(i)], float(scores[int(i)])) for i in top if scores[int(i)] > 0]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "ids.json").write_text(
            json.dumps({"ids": self._ids, "meta": self._meta, "flagged": self._flagged})
        )
        if self._model is not None:
            self._model.save(str(directory / "bm25"), show_progress=False)

    @classmethod
    def load(cls, directory: Path) -> BM25Index:
        import bm25s

        index = cls()
        ids_file = directory / "ids.json"
        if not ids_file.exists():
            return index
        saved = json.loads(ids_file.read_text())
        index._ids, index._meta = saved["ids"], saved["meta"]
        index._flagged = [bool(f) for f in saved.get("flagged") or [False] * len(index._ids)]
        index._position = {id_: i for i, id_ in enumerate(index._ids)}
        if index._ids and (directory / "bm25").exists():
            index._model = bm25s.BM25.load(str(directory / "bm25"), show_progress=False, mmap=False)
        return index
