"""The knowledge engine's vocabulary: documents, sections, chunks, filters, hits and citations."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Chunk", "Citation", "Document", "Filters", "Hit", "Section", "chunk_id"]

PATH_SEPARATOR = " > "


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text under one heading path, e.g. ``("VPN", "Client keeps disconnecting", "Steps")``.

    ``audience`` is the section's own (a marker under its heading, or its parent's); None when it has none.
    """

    path: tuple[str, ...]
    text: str
    audience: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """One loaded document: what a loader returns and the chunker consumes.

    ``doc_id`` is stable for the same source (a file path relative to its ingest root, or a
    corpus ``_id``). ``source`` is where it came from (a path or URL) and is shown in citations.
    """

    doc_id: str
    title: str
    source: str
    sections: tuple[Section, ...]
    url: str | None = None
    category: str | None = None
    audience: str | None = None
    tags: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable unit: a piece of one section of one document, with a stable id.

    ``audience`` is the narrower of the document's and the section's. ``flags`` names the rules of
    :mod:`firstline.knowledge.injection` its text or headings match (empty for ordinary text).
    """

    id: str
    doc_id: str
    title: str
    section_path: str
    text: str
    source: str
    position: int
    url: str | None = None
    category: str | None = None
    audience: str | None = None
    tags: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        """Whether the chunk holds instruction-like text (see :mod:`firstline.knowledge.injection`)."""
        return bool(self.flags)

    def index_text(self) -> str:
        """The text that embeddings and BM25 see: the heading path gives a chunk its context."""
        head = self.section_path or self.title
        return f"{head}\n{self.text}" if head else self.text


def chunk_id(doc_id: str, section_path: str, text: str, ordinal: int = 0, meta: str = "") -> str:
    """A stable chunk id: the same document, section, text and metadata always give the same id."""
    digest = hashlib.sha1(f"{doc_id}\x1f{section_path}\x1f{text}\x1f{ordinal}\x1f{meta}".encode()).hexdigest()
    return digest[:20]


@dataclass(frozen=True, slots=True)
class Filters:
    """Metadata filters that mean the same on every backend.

    ``category`` and ``audience`` match any of the listed values; ``tags`` requires every
    listed tag; ``flagged`` (when not None) keeps only chunks that are (True) or are not (False)
    flagged as instruction-like. Empty fields do not filter.
    """

    category: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    flagged: bool | None = None

    @classmethod
    def of(
        cls,
        category: str | Sequence[str] | None = None,
        audience: str | Sequence[str] | None = None,
        tags: str | Sequence[str] | None = None,
        flagged: bool | None = None,
    ) -> Filters:
        def norm(value: str | Sequence[str] | None) -> tuple[str, ...]:
            if value is None:
                return ()
            if isinstance(value, str):
                value = [value]
            return tuple(v.strip().lower() for v in value if v and v.strip())

        return cls(norm(category), norm(audience), norm(tags), flagged)

    def __bool__(self) -> bool:
        return bool(self.category or self.audience or self.tags or self.flagged is not None)

    def matches(self, category: str | None, audience: str | None, tags: Sequence[str], flagged: bool = False) -> bool:
        """The reference semantics every store must reproduce."""
        if self.flagged is not None and bool(flagged) != self.flagged:
            return False
        if self.category and (category or "").lower() not in self.category:
            return False
        if self.audience and (audience or "").lower() not in self.audience:
            return False
        lowered = {t.lower() for t in tags}
        return all(t in lowered for t in self.tags)


@dataclass(frozen=True, slots=True)
class Citation:
    """Where an answer came from: enough to show a link and to find the chunk again."""

    title: str
    section_path: str
    source: str
    chunk_id: str
    score: float
    url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "section_path": self.section_path,
            "source": self.source,
            "url": self.url,
            "chunk_id": self.chunk_id,
            "score": round(self.score, 6),
        }


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: the chunk, its final score, and the per-retriever evidence."""

    chunk: Chunk
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None
    rerank_score: float | None = None

    @property
    def citation(self) -> Citation:
        c = self.chunk
        return Citation(c.title, c.section_path, c.source, c.id, self.score, c.url)

    def as_dict(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk.id,
            "doc_id": self.chunk.doc_id,
            "text": self.chunk.text,
            "score": round(self.score, 6),
            "dense_score": self.dense_score,
            "bm25_score": self.bm25_score,
            "rerank_score": self.rerank_score,
            "category": self.chunk.category,
            "audience": self.chunk.audience,
            "tags": list(self.chunk.tags),
            "flags": list(self.chunk.flags),
            "citation": self.citation.as_dict(),
        }
