"""Whose thing a request acts on: the requester's own ("self") or another person's ("other").

Tier-1 acts only on the requester's own account, devices, line, mailbox and tickets. Whether "reset
the voicemail PIN for megan.lloyd" or "forward my calls to 4818, that's David's desk" asks that is a
question of meaning, not of names or pronouns: the second names someone else and is the requester's
own request. Two kinds of evidence decide it:

* a classifier trained like the dialogue-act model (MiniLM embedding plus similarity to the training
  utterances of each label, into a logistic regression) on our own examples
  (``helpdesk/data/beneficiary/train.jsonl``; measured on ``heldout.jsonl``);
* the directory: a message that refers to another person Firstline knows (their e-mail address,
  username, full name, or an extension or device registered to them).

A request is about someone else when the classifier is sure on its own, or leans that way and the
message refers to another known person (:meth:`Beneficiary.about_someone_else`).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from firstline.directory import DirectoryBackend
from firstline.directory.models import Person
from firstline.helpdesk.labelled import LabelModel, load_labelled
from firstline.helpdesk.taxonomy import data_dir
from firstline.helpdesk.triage import embed
from firstline.knowledge.embedders import Embedder

__all__ = ["LABELS", "Beneficiary", "BeneficiaryModel", "load_beneficiary_examples", "packaged_beneficiary_model_path"]

LABELS = ("other", "self")
SURE = 0.8  # the classifier alone decides at this probability of "other"
LEANS = 0.5  # with a reference to another known person, this is enough

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_USERNAME = re.compile(r"(?<![\w@.])([a-z][a-z'-]*\.[a-z][a-z'-]+|[a-z]\.[a-z]+)(?![\w@])", re.I)
_NAME = re.compile(r"\b([A-Z][a-z'-]+)(?:\s+([A-Z][a-z'-]+))?")
_EXTENSION = re.compile(r"(?<![\d+])([46]\d{3})(?!\d)")
_HOSTNAME = re.compile(r"\bNW-?([A-Z])-?(\d{4})\b", re.I)


def packaged_beneficiary_model_path() -> Path:
    return data_dir() / "beneficiary-model.npz"


def load_beneficiary_examples(path: Path) -> list[tuple[str, str]]:
    """``(text, label)`` pairs from a JSONL file of ``{"text", "label"}`` lines."""
    return load_labelled(path, "label", LABELS)


class BeneficiaryModel(LabelModel):
    """One logistic regression over (embedding, similarity to the "self" and "other" examples)."""

    GROUPS = LABELS
    NAME = "beneficiary model"

    def p_other(self, vectors: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(self.probabilities(self.features(vectors))[:, self.labels.index("other")], dtype=np.float64)


class Beneficiary:
    """Decides whether a message asks to act on someone else's things (see the module docstring)."""

    def __init__(self, model: BeneficiaryModel, embedder: Embedder) -> None:
        model.check_embedder(embedder)
        self.model = model
        self.embedder = embedder
        self._cache: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def packaged(cls, embedder: Embedder) -> Beneficiary:
        return cls(BeneficiaryModel.load(packaged_beneficiary_model_path()), embedder)

    def p_other(self, text: str) -> float:
        """The classifier's probability that ``text`` acts on another person's things."""
        text = " ".join(text.split())
        with self._lock:
            if (hit := self._cache.get(text)) is not None:
                return hit
        p = float(self.model.p_other(embed(self.embedder, [text]))[0])
        with self._lock:
            self._cache[text] = p
            while len(self._cache) > 1024:
                self._cache.popitem(last=False)
        return p

    def about_someone_else(self, text: str, requester: Person, directory: DirectoryBackend | None) -> bool:
        p = self.p_other(text)
        if p >= SURE:
            return True
        return p >= LEANS and bool(directory is not None and others_referred_to(text, requester, directory))

    def evaluate(self, examples: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """Accuracy, and recall per label, of the classifier alone at 0.5 on labelled ``examples``."""
        p = self.model.p_other(embed(self.embedder, [t for t, _ in examples]))
        predicted = ["other" if x >= LEANS else "self" for x in p]
        correct = [a == b for a, (_, b) in zip(predicted, examples, strict=True)]
        recall = {
            label: round(sum(c for c, (_, b) in zip(correct, examples, strict=True) if b == label) / n, 3)
            for label in LABELS
            if (n := sum(1 for _, b in examples if b == label))
        }
        return {"examples": len(examples), "accuracy": round(sum(correct) / len(examples), 4), "recall": recall}


def others_referred_to(text: str, requester: Person, directory: DirectoryBackend) -> list[str]:
    """Other people the directory knows whom ``text`` refers to (their ids): by e-mail address, username,
    full name, or an extension or device registered to them."""
    found: set[str] = set()

    def add(person: Person | None) -> None:
        if person is not None and person.id != requester.id:
            found.add(person.id)

    for email in _EMAIL.findall(text):
        add(_lookup(directory, email))
    domain = requester.email.rsplit("@", 1)[-1]
    for username in _USERNAME.findall(text):  # a username (o.grant) or an address without its domain
        add(_lookup(directory, username) or _lookup(directory, f"{username}@{domain}"))
    for first, last in _NAME.findall(text):
        if last:
            people = _search(directory, f"{first} {last}")
            if len(people) == 1 and people[0].name.lower() == f"{first} {last}".lower():
                add(people[0])
    for extension in _EXTENSION.findall(text):
        try:
            owner = directory.phone(extension).person
        except Exception:
            continue
        add(_lookup(directory, owner) if owner else None)
    for kind, number in _HOSTNAME.findall(text):
        try:
            device = directory.device(f"NW-{kind.upper()}-{number}")
        except Exception:
            continue
        add(_lookup(directory, device.owner) if device.owner else None)
    return sorted(found)


def _lookup(directory: DirectoryBackend, key: str) -> Person | None:
    try:
        return directory.person(key)
    except Exception:
        return None


def _search(directory: DirectoryBackend, text: str) -> list[Person]:
    try:
        return directory.find_people(text)
    except Exception:
        return []
