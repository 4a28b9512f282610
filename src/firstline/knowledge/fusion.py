"""Rank fusion: combine the dense and BM25 candidate lists into one ranking.

``fuse_rrf`` is reciprocal rank fusion (Cormack et al., 2009). ``fuse_scores`` is the default:
a convex combination of per-query normalised scores, which keeps the *size* of each
retriever's margins that RRF throws away (Bruch et al., 2023, "An analysis of fusion
functions for hybrid retrieval"). See docs/retrieval.md for the measurements behind the choice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["Ranked", "fuse_rrf", "fuse_scores"]

Ranked = Sequence[tuple[str, float]]
"""A candidate list, best first: ``(id, score)``."""


def fuse_rrf(lists: Sequence[Ranked], k: int = 60, weights: Sequence[float] | None = None) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: ``sum_i w_i / (k + rank_i)``."""
    weights = weights or [1.0] * len(lists)
    fused: dict[str, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        for rank, (id_, _) in enumerate(ranked, start=1):
            fused[id_] = fused.get(id_, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: -item[1])


def _normalise(ranked: Ranked, depth: int) -> dict[str, float]:
    """Min-max normalise the scores of the top ``depth`` candidates to [0, 1]."""
    top = list(ranked[:depth])
    if not top:
        return {}
    scores = np.array([s for _, s in top], dtype=np.float64)
    high, low = float(scores.max()), float(scores.min())
    if high - low < 1e-12:
        return {id_: 1.0 for id_, _ in top}
    return {id_: (s - low) / (high - low) for id_, s in top}


def fuse_scores(
    lists: Sequence[Ranked], weights: Sequence[float] | None = None, depth: int = 100
) -> list[tuple[str, float]]:
    """Convex combination of min-max normalised scores; a candidate missing from a list scores 0 there."""
    weights = weights or [1.0 / len(lists)] * len(lists)
    fused: dict[str, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        for id_, score in _normalise(ranked, depth).items():
            fused[id_] = fused.get(id_, 0.0) + weight * score
    return sorted(fused.items(), key=lambda item: -item[1])
