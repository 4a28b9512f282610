"""An in-memory vector store: exact cosine search with numpy. Used by tests, evals and docs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from firstline.knowledge.models import Filters
from firstline.knowledge.stores import ScoredId, VectorRecord

__all__ = ["InMemoryStore"]


class InMemoryStore:
    """Brute-force exact search; fine up to ~100k chunks."""

    name = "memory"

    def __init__(self) -> None:
        self._records: dict[str, VectorRecord] = {}
        self._matrix: npt.NDArray[np.float32] | None = None
        self._order: list[str] = []

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        for record in records:
            self._records[record.id] = record
        self._matrix = None

    def delete(self, ids: Sequence[str]) -> None:
        for id_ in ids:
            self._records.pop(id_, None)
        self._matrix = None

    def _ensure_matrix(self) -> npt.NDArray[np.float32]:
        if self._matrix is None:
            self._order = list(self._records)
            if self._order:
                self._matrix = np.vstack([self._records[i].vector for i in self._order]).astype(np.float32)
            else:
                self._matrix = np.zeros((0, 0), dtype=np.float32)
        return self._matrix

    def query(self, vector: npt.NDArray[np.float32], k: int, filters: Filters | None = None) -> list[ScoredId]:
        matrix = self._ensure_matrix()
        if k <= 0 or matrix.shape[0] == 0:
            return []
        scores = matrix @ np.asarray(vector, dtype=np.float32)
        order = np.argsort(-scores, kind="stable")
        out: list[ScoredId] = []
        for index in order:
            record = self._records[self._order[int(index)]]
            if filters and not filters.matches(record.category, record.audience, record.tags, record.flagged):
                continue
            out.append(ScoredId(record.id, float(scores[int(index)])))
            if len(out) == k:
                break
        return out

    def count(self) -> int:
        return len(self._records)

    def ids(self) -> set[str]:
        return set(self._records)

    def close(self) -> None:
        self._matrix = None
