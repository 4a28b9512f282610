"""Vector stores: one small protocol, several backends, one conformance suite.

Every backend stores, per chunk id, a unit vector plus the filterable metadata
(category, audience, tags, and whether the chunk is flagged as instruction-like) and answers
nearest-neighbour queries by cosine similarity
(higher is better, in [-1, 1]). Chunk text lives in the ingest catalog, not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from firstline.knowledge.models import Filters

__all__ = ["ScoredId", "VectorRecord", "VectorStore"]


@dataclass(frozen=True, slots=True)
class VectorRecord:
    """What a store keeps for one chunk."""

    id: str
    vector: npt.NDArray[np.float32]
    category: str | None = None
    audience: str | None = None
    tags: tuple[str, ...] = ()
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class ScoredId:
    id: str
    score: float


@runtime_checkable
class VectorStore(Protocol):
    """A nearest-neighbour index over chunk vectors with metadata filters."""

    name: str

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        """Insert or replace records by id."""
        ...

    def delete(self, ids: Sequence[str]) -> None:
        """Delete records by id; unknown ids are ignored."""
        ...

    def query(self, vector: npt.NDArray[np.float32], k: int, filters: Filters | None = None) -> list[ScoredId]:
        """The ``k`` most similar records that pass ``filters``, best first."""
        ...

    def count(self) -> int:
        """How many records the store holds."""
        ...

    def ids(self) -> set[str]:
        """Every id the store holds."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...
