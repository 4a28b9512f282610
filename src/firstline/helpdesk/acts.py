"""Dialogue acts: is a message thanks, a person please, a cancel ... or content (a problem, an answer)?

Trained like the triage model, on our own utterances (``helpdesk/data/acts/train.jsonl``, measured
on ``heldout.jsonl``): the MiniLM sentence embedding plus, per act, the mean of the three highest
similarities to that act's training utterances, into one multinomial logistic regression (fit
with scikit-learn, applied with numpy from an ``.npz``). ``inform`` is content: a problem, a
detail, an answer such as a device name or a code; ``status`` asks what happens next ("how long will that
take?"). Long messages are content by construction:
an act is a short thing to say.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from firstline.errors import ConfigError, InputError
from firstline.helpdesk.taxonomy import data_dir
from firstline.helpdesk.triage import embed, reference_features, softmax
from firstline.knowledge.embedders import Embedder

__all__ = ["ACTS", "ActModel", "ActReading", "Acts", "load_act_examples", "packaged_act_model_path"]

ACTS: tuple[str, ...] = (
    "inform",
    "affirm",
    "deny",
    "thanks",
    "fixed",
    "not_fixed",
    "human",
    "greeting",
    "goodbye",
    "complaint",
    "cancel",
    "repeat",
    "clarify",
    "skip",
    "chitchat",
    "back",
    "status",
)
_MAX_ACT_WORDS = 16  # longer messages are content


def packaged_act_model_path() -> Path:
    return data_dir() / "acts-model.npz"


def load_act_examples(path: Path) -> list[tuple[str, str]]:
    """``(text, act)`` pairs from a JSONL file of ``{"text", "act"}`` lines."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            act = str(row["act"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path} line {number}: expected JSON with 'text' and 'act'") from exc
        if act not in ACTS:
            raise InputError(f"{path} line {number}: unknown act {act!r} (known: {', '.join(ACTS)})")
        out.append((str(row["text"]), act))
    return out


@dataclass
class ActModel:
    """One linear softmax over (embedding, per-act similarity to the training utterances)."""

    labels: list[str]
    weights: npt.NDArray[np.float64]
    bias: npt.NDArray[np.float64]
    ref_vectors: npt.NDArray[np.float32]
    ref_labels: list[str]
    embedder: str
    meta: dict[str, Any] = field(default_factory=dict)

    def features(self, vectors: npt.NDArray[np.float64], leave_out: bool = False) -> npt.NDArray[np.float64]:
        return reference_features(vectors, self.ref_vectors, self.ref_labels, ACTS, leave_out)

    def probabilities(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return softmax(features @ self.weights.T + self.bias)

    @classmethod
    def train(cls, examples: Sequence[tuple[str, str]], embedder: Embedder, c: float = 4.0) -> ActModel:
        from sklearn.linear_model import LogisticRegression

        started = time.perf_counter()
        vectors = embed(embedder, [t for t, _ in examples])
        model = cls([], np.zeros(0), np.zeros(0), vectors.astype(np.float32), [a for _, a in examples], embedder.name)
        fitted = LogisticRegression(C=c, max_iter=5000).fit(
            model.features(vectors, leave_out=True), [a for _, a in examples]
        )
        model.labels = [str(x) for x in fitted.classes_]
        model.weights, model.bias = fitted.coef_, fitted.intercept_
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
    def load(cls, path: Path) -> ActModel:
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
                f"Cannot load the dialogue-act model {path} ({exc}). Run `firstline triage train` to build it."
            ) from exc


@dataclass(frozen=True, slots=True)
class ActReading:
    act: str
    confidence: float

    def is_(self, *acts: str, at_least: float = 0.5) -> bool:
        return self.act in acts and self.confidence >= at_least


class Acts:
    """Reads the dialogue act of a message (cached per text)."""

    def __init__(self, model: ActModel, embedder: Embedder) -> None:
        if model.embedder != embedder.name:
            raise ConfigError(
                f"The dialogue-act model was trained with {model.embedder!r} but the embedder is {embedder.name!r}. "
                "Run `firstline triage train` to train it for this embedder."
            )
        self.model = model
        self.embedder = embedder
        self._cache: OrderedDict[str, ActReading] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, text: str) -> ActReading:
        text = " ".join(text.split())
        if not text or len(text.split()) > _MAX_ACT_WORDS:
            return ActReading("inform", 1.0)
        with self._lock:
            if (hit := self._cache.get(text)) is not None:
                return hit
        probabilities = self.model.probabilities(self.model.features(embed(self.embedder, [text])))[0]
        best = int(np.argmax(probabilities))
        reading = ActReading(self.model.labels[best], float(probabilities[best]))
        with self._lock:
            self._cache[text] = reading
            while len(self._cache) > 1024:
                self._cache.popitem(last=False)
        return reading

    def evaluate(self, examples: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """Accuracy and per-act recall on labelled ``examples`` (the held-out split)."""
        vectors = embed(self.embedder, [t for t, _ in examples])
        predicted = np.argmax(self.model.probabilities(self.model.features(vectors)), axis=1)
        labels = [self.model.labels[int(i)] for i in predicted]
        correct = [p == a for p, (_, a) in zip(labels, examples, strict=True)]
        recall = {
            act: round(sum(c for c, (_, a) in zip(correct, examples, strict=True) if a == act) / n, 3)
            for act in ACTS
            if (n := sum(1 for _, a in examples if a == act))
        }
        return {"examples": len(examples), "accuracy": round(sum(correct) / len(examples), 4), "recall": recall}
