"""The small classifiers the desk trains on its own utterances: one logistic regression over the MiniLM
embedding plus, per label, the similarity to that label's training utterances (``triage.reference_features``).

:class:`LabelModel` is the shared part — training with scikit-learn, applying with numpy, an ``.npz`` on
disk; the dialogue-act model (``acts.py``) and the beneficiary model (``beneficiary.py``) say only which
labels they have and what they are called.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from firstline.errors import ConfigError, InputError
from firstline.helpdesk.triage import embed, reference_features, softmax
from firstline.knowledge.embedders import Embedder

__all__ = ["LabelModel", "load_labelled"]


def load_labelled(path: Path, key: str, labels: Sequence[str]) -> list[tuple[str, str]]:
    """``(text, label)`` pairs from a JSONL file of ``{"text", key}`` lines; every label must be one of ``labels``."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            label = str(row[key])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path} line {number}: expected JSON with 'text' and {key!r}") from exc
        if label not in labels:
            raise InputError(f"{path} line {number}: unknown {key} {label!r} (known: {', '.join(labels)})")
        out.append((str(row["text"]), label))
    return out


@dataclass
class LabelModel:
    """One linear softmax over (embedding, per-label similarity to the training utterances)."""

    GROUPS: ClassVar[tuple[str, ...]] = ()  # the labels, in the order of the similarity features
    NAME: ClassVar[str] = "model"

    labels: list[str]
    weights: npt.NDArray[np.float64]
    bias: npt.NDArray[np.float64]
    ref_vectors: npt.NDArray[np.float32]
    ref_labels: list[str]
    embedder: str
    meta: dict[str, Any] = field(default_factory=dict)

    def features(self, vectors: npt.NDArray[np.float64], leave_out: bool = False) -> npt.NDArray[np.float64]:
        return reference_features(vectors, self.ref_vectors, self.ref_labels, self.GROUPS, leave_out)

    def probabilities(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return softmax(features @ self.weights.T + self.bias)

    @classmethod
    def train(cls, examples: Sequence[tuple[str, str]], embedder: Embedder, c: float = 4.0) -> Self:
        from sklearn.linear_model import LogisticRegression

        started = time.perf_counter()
        vectors = embed(embedder, [t for t, _ in examples])
        model = cls([], np.zeros(0), np.zeros(0), vectors.astype(np.float32), [a for _, a in examples], embedder.name)
        fitted = LogisticRegression(C=c, max_iter=5000).fit(
            model.features(vectors, leave_out=True), [a for _, a in examples]
        )
        model.labels = [str(x) for x in fitted.classes_]
        model.weights, model.bias = fitted.coef_, fitted.intercept_
        if len(model.labels) == 2:  # scikit-learn fits one row for two classes: the same as a two-row softmax
            model.weights = np.vstack([-fitted.coef_[0] / 2, fitted.coef_[0] / 2])
            model.bias = np.array([-fitted.intercept_[0] / 2, fitted.intercept_[0] / 2])
        model.meta = {
            "examples": len(examples),
            "c": c,
            "seconds": round(time.perf_counter() - started, 2),
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        return model

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(
            staging,
            labels=np.array(self.labels),
            weights=self.weights,
            bias=self.bias,
            ref_vectors=self.ref_vectors.astype(np.float16),
            ref_labels=np.array(self.ref_labels),
            embedder=np.array(self.embedder),
            meta=np.array(json.dumps(self.meta)),
        )
        staging.replace(path)

    @classmethod
    def load(cls, path: Path) -> Self:
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    [str(x) for x in data["labels"]],
                    data["weights"],
                    data["bias"],
                    data["ref_vectors"].astype(np.float32),
                    [str(x) for x in data["ref_labels"]],
                    str(data["embedder"]),
                    json.loads(str(data["meta"])),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(
                f"Cannot load the {cls.NAME} {path} ({exc}). Run `firstline triage train` to build it."
            ) from exc

    def check_embedder(self, embedder: Embedder) -> None:
        """ConfigError when the model was trained with another embedder than the one that will feed it."""
        if self.embedder != embedder.name:
            raise ConfigError(
                f"The {self.NAME} was trained with {self.embedder!r} but the embedder is {embedder.name!r}. "
                "Run `firstline triage train` to train it for this embedder."
            )
