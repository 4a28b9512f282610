"""Triage: which specialist, which intent, what priority — from sentence embeddings and a linear model.

Two multinomial logistic regressions over the request's MiniLM embedding: one picks the routing
label (nine specialists + greeting / gibberish / out_of_scope), the other the intent within that
specialist. Trained on the utterances in ``helpdesk/data/utterances/train.jsonl`` with
scikit-learn (``firstline triage train``); saved as plain arrays (``.npz``, no pickle) and applied
with numpy, so answering needs neither scikit-learn nor torch.

* Low confidence gives one clarifying question instead of a guess.
* A message with two problems ("Outlook won't open and my printer is offline") is split into
  clauses: the first problem is the primary, a later one for another specialist is reported as
  ``secondary`` so the agent can offer it or record it.
* Text that tries to instruct the system is classified as this requester's own request and
  flagged (``injection``); it never changes who the requester is or what policy allows.
"""

from __future__ import annotations

import json
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from firstline.errors import ConfigError, InputError
from firstline.helpdesk.priority import Assessment, assess
from firstline.helpdesk.taxonomy import Taxonomy, data_dir
from firstline.knowledge.embedders import Embedder

__all__ = [
    "Example",
    "Triage",
    "TriageModel",
    "TriageResult",
    "embed",
    "load_examples",
    "packaged_model_path",
    "reference_features",
    "runbook_references",
    "softmax",
]

MAX_CHARS = 8000
_CACHE_SIZE = 512
_SECOND_PROBLEM = 0.7
# "the laptop screen is fine": a clause that says something works is no second problem
_FINE = re.compile(
    r"\b(fine|ok|okay|works? (fine|normally|ok)|working (fine|normally|ok)|no problems?)\b", re.I
)  # a clause is a second problem only when it is confidently another specialist's
_INJECTION = re.compile(
    r"\b(ignore|disregard|forget) (all |any |the |your )?(previous|prior|above|earlier) (instructions|rules|prompts?)|"
    r"\byou are now\b|\bsystem prompt\b|\bact as (an? )?(admin|administrator|root|system)|\bdeveloper mode\b|"
    r"\b(override|bypass) (the )?(policy|verification|approval|security)|\bjailbreak",
    re.I,
)
# Words that say the opposite of an intent the model may still give them with confidence ("can you reopen
# INC0012345" read as *close*: the two share every word but one). The intent they name wins.
_REOPEN = re.compile(
    r"\bre-?open\w*|\b(?:you|they|someone|it was|was|got|been|is)\s+(?:\w+\s+)?(?:closed|resolved)\b"
    r"(?=.*\b(?:still|again|back|not (?:fixed|working|sorted|resolved)|never (?:fixed|worked|sorted))\b)",
    re.I,
)
# "got a text saying my account is locked, click the link to fix it" is the lure, not a locked account: a message
# received that says to click or follow a link is reported as phishing, whatever it claims.
_LURE = re.compile(
    r"\b(?:got|received|had|getting|get)\s+(?:an?\s+|this\s+|some\s+)?(?:text|sms|e-?mail|message|whatsapp|call)\b"
    r".*\b(?:click\w*|link|url|verify)\b",
    re.I,
)
_CONTRADICTED = {
    "ticket_close": ("ticket_reopen", _REOPEN),
    "account_unlock": ("phishing_report", _LURE),
    "password_reset": ("phishing_report", _LURE),
}
_CLAUSE_SPLIT = re.compile(r"(?:[.;!?]\s+|\s+(?:and also|and|also|but|plus|oh and)\s+)", re.I)


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    agent: str
    intent: str


def load_examples(path: Path) -> list[Example]:
    """Read a JSONL file of ``{"text", "agent", "intent"?}`` lines."""
    examples = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            examples.append(Example(str(row["text"]), str(row["agent"]), str(row.get("intent") or row["agent"])))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path} line {number}: expected JSON with 'text' and 'agent'") from exc
    return examples


def packaged_model_path() -> Path:
    return data_dir() / "triage-model.npz"


def softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    result: npt.NDArray[np.float64] = exp / exp.sum(axis=-1, keepdims=True)
    return result


@dataclass
class TriageModel:
    """Two linear softmax models over a request's features, stored as arrays.

    Features: the sentence embedding, plus for each label the mean of the three highest cosine
    similarities to that label's reference texts — the training utterances (``u:<agent>``) and
    the runbook sections (``kb:<category>``). The reference vectors travel inside the model, so
    a prediction is the same wherever it runs. (On the held-out set the references lift accuracy
    from 0.89 to 0.93: bench/triage.py.)
    """

    agent_labels: list[str]
    agent_weights: npt.NDArray[np.float64]
    agent_bias: npt.NDArray[np.float64]
    intent_labels: list[str]
    intent_weights: npt.NDArray[np.float64]
    intent_bias: npt.NDArray[np.float64]
    ref_vectors: npt.NDArray[np.float32]
    ref_groups: list[str]
    embedder: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def groups(self) -> list[str]:
        return sorted(set(self.ref_groups))

    def features(self, vectors: npt.NDArray[np.float64], leave_out: bool = False) -> npt.NDArray[np.float64]:
        """Embedding + per-group top-3 similarity. ``leave_out`` ignores each row's own reference (training)."""
        return reference_features(vectors, self.ref_vectors, self.ref_groups, self.groups, leave_out)

    @classmethod
    def train(
        cls,
        examples: Sequence[Example],
        embedder: Embedder,
        references: Sequence[tuple[str, str]] = (),
        c: float = 4.0,
    ) -> TriageModel:
        """Fit on ``examples``; ``references`` are extra ``(text, category)`` pairs such as runbook sections."""
        from sklearn.linear_model import LogisticRegression

        if len({e.agent for e in examples}) < 2:
            raise InputError("Training needs examples of at least two labels.")
        started = time.perf_counter()
        vectors = embed(embedder, [e.text for e in examples])
        ref_vectors = embed(embedder, [t for t, _ in references]) if references else np.zeros((0, vectors.shape[1]))
        model = cls([], np.zeros(0), np.zeros(0), [], np.zeros(0), np.zeros(0),
                    np.vstack([vectors, ref_vectors]).astype(np.float32),
                    [f"u:{e.agent}" for e in examples] + [f"kb:{c}" for _, c in references],
                    embedder.name)  # fmt: skip
        features = model.features(vectors, leave_out=True)
        agent = LogisticRegression(C=c, max_iter=5000).fit(features, [e.agent for e in examples])
        intent = LogisticRegression(C=c, max_iter=5000).fit(features, [e.intent for e in examples])
        model.agent_labels, model.agent_weights, model.agent_bias = (
            [str(x) for x in agent.classes_], agent.coef_, agent.intercept_)  # fmt: skip
        model.intent_labels, model.intent_weights, model.intent_bias = (
            [str(x) for x in intent.classes_], intent.coef_, intent.intercept_)  # fmt: skip
        model.meta = {
            "examples": len(examples),
            "references": len(references),
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
            agent_labels=np.array(self.agent_labels),
            agent_weights=self.agent_weights,
            agent_bias=self.agent_bias,
            intent_labels=np.array(self.intent_labels),
            intent_weights=self.intent_weights,
            intent_bias=self.intent_bias,
            ref_vectors=self.ref_vectors.astype(np.float16),
            ref_groups=np.array(self.ref_groups),
            embedder=np.array(self.embedder),
            meta=np.array(json.dumps(self.meta)),
        )
        staging.replace(path)

    @classmethod
    def load(cls, path: Path) -> TriageModel:
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    [str(x) for x in data["agent_labels"]],
                    data["agent_weights"],
                    data["agent_bias"],
                    [str(x) for x in data["intent_labels"]],
                    data["intent_weights"],
                    data["intent_bias"],
                    data["ref_vectors"].astype(np.float32),
                    [str(x) for x in data["ref_groups"]],
                    str(data["embedder"]),
                    json.loads(str(data["meta"])),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(
                f"Cannot load the triage model {path} ({exc}). Run `firstline triage train` to build it."
            ) from exc

    def agent_probabilities(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return softmax(features @ self.agent_weights.T + self.agent_bias)

    def intent_probabilities(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return softmax(features @ self.intent_weights.T + self.intent_bias)


_REF_SCALE = 3.0


def reference_features(
    vectors: npt.NDArray[np.float64],
    ref_vectors: npt.NDArray[np.float32],
    ref_groups: Sequence[str],
    groups: Sequence[str],
    leave_out: bool = False,
) -> npt.NDArray[np.float64]:
    """The embedding plus, per group, the mean of its three highest similarities to that group's references.

    ``leave_out`` ignores each row's own reference (rows are the first references when training).
    """
    references, members = _prepared(ref_vectors, ref_groups, groups)
    similarity = vectors @ references
    if leave_out:
        similarity[np.arange(len(vectors)), np.arange(len(vectors))] = -1.0
    columns = []
    for group in groups:
        block = similarity[:, members[group]]
        top = np.sort(block, axis=1)[:, -3:] if block.shape[1] else np.zeros((len(vectors), 1))
        columns.append(top.mean(axis=1))
    return np.hstack([vectors, _REF_SCALE * np.stack(columns, axis=1)])


_PREPARED: dict[int, tuple[Any, ...]] = {}


def _prepared(
    ref_vectors: npt.NDArray[np.float32], ref_groups: Sequence[str], groups: Sequence[str]
) -> tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[np.bool_]]]:
    """The references transposed in float64 and each group's columns, made once per model (a copy of the
    whole reference matrix on every message cost more than the rest of the classification)."""
    key = id(ref_vectors)
    hit = _PREPARED.get(key)
    if hit is not None and hit[0] is ref_vectors and hit[1] is ref_groups and hit[2] == groups:
        return hit[3], hit[4]  # the model's own arrays: the same objects on every message
    labels = np.array(ref_groups)
    prepared = (ref_vectors, ref_groups, groups, ref_vectors.T.astype(np.float64), {g: labels == g for g in groups})
    if len(_PREPARED) >= 8:
        _PREPARED.clear()
    _PREPARED[key] = prepared
    return prepared[3], prepared[4]


def embed(embedder: Embedder, texts: Sequence[str]) -> npt.NDArray[np.float64]:
    """Embed with the engine that answers queries, so training and serving see the same vectors.

    One message is read by triage, the dialogue-act model and the beneficiary model: a single text's vector
    is kept (per embedder, the last 2,048 texts), so it is computed once.
    """
    queries = getattr(embedder, "queries", embedder)
    if len(texts) != 1:
        return np.asarray(queries.embed_documents(list(texts)), dtype=np.float64)
    text = texts[0]
    with _VECTORS_LOCK:
        try:
            kept = _VECTORS.setdefault(queries, OrderedDict())
        except TypeError:  # an embedder that cannot be weakly referenced: no cache
            kept = OrderedDict()
        hit = kept.get(text)
        if hit is not None:
            kept.move_to_end(text)
            return hit
    vector = np.asarray(queries.embed_documents([text]), dtype=np.float64)
    vector.setflags(write=False)
    with _VECTORS_LOCK:
        kept[text] = vector
        while len(kept) > 2048:
            kept.popitem(last=False)
    return vector


# Per embedder (dropped with it), the vectors of the last texts embedded one at a time.
_VECTORS: weakref.WeakKeyDictionary[Any, OrderedDict[str, npt.NDArray[np.float64]]] = weakref.WeakKeyDictionary()
_VECTORS_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class TriageResult:
    """Where a request goes and why."""

    agent: str
    intent: str
    confidence: float
    assessment: Assessment
    alternatives: tuple[tuple[str, float], ...]
    clarify: str | None = None
    secondary: tuple[str, str, str] | None = None  # (agent, intent, the clause it came from)
    injection: bool = False

    @property
    def priority(self) -> int:
        return self.assessment.priority

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "intent": self.intent,
            "priority": self.priority,
            "confidence": round(self.confidence, 4),
        }

    def details(self) -> dict[str, Any]:
        return {
            **self.as_dict(),
            "impact": self.assessment.impact,
            "urgency": self.assessment.urgency,
            "priority_reasons": list(self.assessment.reasons),
            "alternatives": [{"agent": a, "confidence": round(p, 4)} for a, p in self.alternatives],
            "clarify": self.clarify,
            "secondary": (
                {"agent": self.secondary[0], "intent": self.secondary[1], "text": self.secondary[2]}
                if self.secondary
                else None
            ),
            "injection_suspected": self.injection,
        }


class Triage:
    """Classifies requests with a :class:`TriageModel` and the same embedder it was trained with."""

    def __init__(self, taxonomy: Taxonomy, model: TriageModel, embedder: Embedder, threshold: float = 0.45) -> None:
        if model.embedder != embedder.name:
            raise ConfigError(
                f"The triage model was trained with the embedder {model.embedder!r} but the configured one is "
                f"{embedder.name!r}. Run `firstline triage train` to train it for this embedder."
            )
        self.taxonomy = taxonomy
        self.model = model
        self.embedder = embedder
        self.threshold = threshold
        self._cache: OrderedDict[tuple[str, bool], TriageResult] = OrderedDict()
        self._cache_lock = threading.Lock()

    def classify(self, text: str, vip: bool = False) -> TriageResult:
        """Where ``text`` goes. Results are cached per text (the desk and the offline engine ask twice)."""
        key = (text, vip)
        with self._cache_lock:
            if (hit := self._cache.get(key)) is not None:
                self._cache.move_to_end(key)
                return hit
        result = self._classify(text, vip)
        with self._cache_lock:
            self._cache[key] = result
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return result

    def intent_for(self, text: str, agent: str) -> str:
        """The most likely intent of ``text`` among ``agent``'s intents (the routing is already decided)."""
        allowed = {i.name for i in self.taxonomy.intents_of(agent)}
        if not allowed:
            return agent
        result = self.classify(text)
        if result.agent == agent and result.intent in allowed:
            return result.intent
        features = self.model.features(embed(self.embedder, [_validate(text)]))
        probabilities = self.model.intent_probabilities(features)[0]
        scored = [(float(p), label) for label, p in zip(self.model.intent_labels, probabilities, strict=True)]
        return max((p, label) for p, label in scored if label in allowed)[1]

    def _classify(self, text: str, vip: bool) -> TriageResult:
        text = _validate(text)
        clauses = [c.strip() for c in _CLAUSE_SPLIT.split(text) if len(c.split()) >= 3]
        texts = [text, *clauses] if len(clauses) > 1 else [text]
        features = self.model.features(embed(self.embedder, texts))
        agents = self.model.agent_probabilities(features)
        intents = self.model.intent_probabilities(features)
        whole = self._decide(agents[0], intents[0])
        primary = whole
        secondary = None
        if len(texts) > 1:
            parts = [self._decide(agents[i], intents[i]) for i in range(1, len(texts))]
            specialists = self.taxonomy.specialists
            confident = [
                (p, texts[i + 1])
                for i, p in enumerate(parts)
                if p[2] >= _SECOND_PROBLEM
                and p[0] in specialists
                and len(texts[i + 1].split()) >= 4
                and not _FINE.search(texts[i + 1])
            ]
            if len({p[0] for p, _ in confident}) > 1:
                primary = confident[0][0]
                secondary = next((p[0], p[1], t) for p, t in confident if p[0] != primary[0])
        agent, intent, confidence, alternatives = primary
        if intent in _CONTRADICTED and _CONTRADICTED[intent][1].search(text):
            intent = _CONTRADICTED[intent][0]
        intent = self._cued(agent, intent, intents[0], text)
        defaults = self.taxonomy.intents.get(intent)
        assessment = assess(
            text, defaults.default_impact if defaults else 3, defaults.default_urgency if defaults else 3, vip
        )
        clarify = None
        if confidence < self.threshold and agent in self.taxonomy.specialists:
            clarify = self._question(alternatives)
        return TriageResult(
            agent,
            intent,
            confidence,
            assessment,
            alternatives,
            clarify,
            secondary,
            bool(_INJECTION.search(text)),
        )

    def _cued(self, agent: str, intent: str, intent_p: npt.NDArray[np.float64], text: str) -> str:
        """``intent``, or where the taxonomy gives it ``cues`` the message lacks ("how do i get my work email on my
        iphone" says nothing of a loss), the agent's most likely intent whose cues it has (or that has none)."""
        found = self.taxonomy.intents.get(intent)
        if found is None or found.cues is None or found.cues.search(text):
            return intent
        fits = {i.name for i in self.taxonomy.intents_of(agent) if i.cues is None or i.cues.search(text)}
        scored = [
            (float(p), label) for label, p in zip(self.model.intent_labels, intent_p, strict=True) if label in fits
        ]
        return max(scored)[1] if scored else intent

    def _decide(
        self, agent_p: npt.NDArray[np.float64], intent_p: npt.NDArray[np.float64]
    ) -> tuple[str, str, float, tuple[tuple[str, float], ...]]:
        order = np.argsort(-agent_p)
        agent = self.model.agent_labels[int(order[0])]
        alternatives = tuple((self.model.agent_labels[int(i)], float(agent_p[int(i)])) for i in order[:3])
        allowed = {i.name for i in self.taxonomy.intents_of(agent)} or {agent}
        best_intent, best_p = agent, -1.0
        for label, p in zip(self.model.intent_labels, intent_p, strict=True):
            if label in allowed and p > best_p:
                best_intent, best_p = label, float(p)
        return agent, best_intent, float(agent_p[int(order[0])]), alternatives

    def _question(self, alternatives: tuple[tuple[str, float], ...]) -> str:
        options = [self.taxonomy.specialists[a].name for a, _ in alternatives if a in self.taxonomy.specialists][:2]
        if len(options) == 2:
            first, second = (_AS_ASKED.get(o.lower(), f"{_article(o.lower())} problem") for o in options)
            return (
                f"I want to send this to the right team: is it mainly {first} or {second}? A few "
                "more words about what you see (an error message, the device or app) will help."
            )
        return "Could you tell me a bit more: what are you trying to do, and what happens instead?"


# How an employee would name the specialists whose names are Firstline's own words.
_AS_ASKED = {"lookup": "a how-to or policy question", "ticket": "about a ticket you already have"}


def _article(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _validate(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError("The message is empty: describe the problem, e.g. 'my VPN drops every few minutes'.")
    if len(text) > MAX_CHARS:
        raise InputError(
            f"The message is {len(text)} characters long; the limit is {MAX_CHARS}. Send the key part first "
            "(the error message and what you were doing); attach long logs to the ticket instead."
        )
    return text.strip()


def runbook_references(folder: Path) -> list[tuple[str, str]]:
    """``(section text, category)`` for every chunk of the Markdown runbooks in ``folder``."""
    from firstline.knowledge.chunking import Chunker
    from firstline.knowledge.loaders import load_file

    chunker = Chunker()
    out = []
    for path in sorted(folder.glob("*.md")):
        for document in load_file(path, path.name):
            if document.category:
                out += [(c.index_text(), document.category) for c in chunker.chunk(document)]
    return out
