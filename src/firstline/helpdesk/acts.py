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

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from firstline.helpdesk.labelled import LabelModel, load_labelled
from firstline.helpdesk.taxonomy import data_dir
from firstline.helpdesk.triage import embed
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
    return load_labelled(path, "act", ACTS)


class ActModel(LabelModel):
    """One linear softmax over (embedding, per-act similarity to the training utterances)."""

    GROUPS = ACTS
    NAME = "dialogue-act model"


@dataclass(frozen=True, slots=True)
class ActReading:
    act: str
    confidence: float

    def is_(self, *acts: str, at_least: float = 0.5) -> bool:
        return self.act in acts and self.confidence >= at_least


class Acts:
    """Reads the dialogue act of a message (cached per text)."""

    def __init__(self, model: ActModel, embedder: Embedder) -> None:
        model.check_embedder(embedder)
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
