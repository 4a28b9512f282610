"""Heading-aware chunking: every chunk stays inside one section and keeps its section path.

Sections longer than ``max_words`` are cut on paragraph boundaries, then on sentence
boundaries, then on words, with a small overlap so a step that straddles a cut is still
findable. Ids are stable: the same document, section and text always give the same id.

Each chunk gets the narrower of its document's and its section's audience, and the names of the
injection rules its text or headings match (:mod:`firstline.knowledge.injection`); both count in
the id, so a chunk whose audience or flags change is written again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from firstline.knowledge.audience import default_section_audience, narrower
from firstline.knowledge.injection import flags_of
from firstline.knowledge.models import PATH_SEPARATOR, Chunk, Document, chunk_id

__all__ = ["Chunker"]

# A sentence ends at . ! or ? — but not the "1." that numbers a list item.
_SENTENCE = re.compile(r"(?<=[.!?])(?<!^\d\.)(?<!^\d\d\.)\s+(?=[A-Z0-9\"'(])", re.M)
_LIST_ITEM = re.compile(r"\n(?=\s*(?:\d+[.)]|[-*•])\s)")


@dataclass(frozen=True, slots=True)
class Chunker:
    """Splits documents into chunks of at most ``max_words`` words (overlap ``overlap_words``)."""

    max_words: int = 160
    overlap_words: int = 24

    def chunk(self, document: Document) -> list[Chunk]:
        chunks: list[Chunk] = []
        seen: dict[str, int] = {}
        meta = f"{document.category}|{document.audience}|{','.join(document.tags)}|{document.url}|{document.title}"
        for section in document.sections:
            path = PATH_SEPARATOR.join(p for p in section.path if p)
            own = section.audience  # the loader's; else the IT team's headings, for documents built another way
            for heading in section.path if own is None else ():
                own = narrower(own, default_section_audience(heading))
            audience = narrower(document.audience, own)
            for piece in self.split(section.text):
                key = f"{path}\x1f{piece}"
                ordinal = seen.get(key, 0)
                seen[key] = ordinal + 1
                flags = flags_of(piece, section.path)
                # Only what differs from the document adds to the id: ids of ordinary chunks stay as they were.
                extra = (f"|{audience}" if audience != document.audience else "") + (
                    f"|{','.join(flags)}" if flags else ""
                )
                chunks.append(
                    Chunk(
                        id=chunk_id(document.doc_id, path, piece, ordinal, meta + extra),
                        doc_id=document.doc_id,
                        title=document.title,
                        section_path=path,
                        text=piece,
                        source=document.source,
                        position=len(chunks),
                        url=document.url,
                        category=document.category,
                        audience=audience,
                        tags=document.tags,
                        flags=flags,
                    )
                )
        return chunks

    def split(self, text: str) -> list[str]:
        """Cut one section's text into pieces of at most ``max_words`` words."""
        text = text.strip()
        if not text:
            return []
        if _words(text) <= self.max_words:
            return [text]
        units = list(self._units(text))
        pieces: list[str] = []
        current: list[str] = []
        size = 0
        for unit in units:
            n = _words(unit)
            if current and size + n > self.max_words:
                pieces.append("\n\n".join(current))
                current, size = self._overlap(current)
            current.append(unit)
            size += n
        if current:
            pieces.append("\n\n".join(current))
        return pieces

    def _units(self, text: str) -> Iterable[str]:
        """Paragraphs, or sentences of a long paragraph, or word windows of a long sentence."""
        for paragraph in re.split(r"\n\s*\n", text):
            paragraph = paragraph.strip()
            if not paragraph:
                continue
            if _words(paragraph) <= self.max_words:
                yield paragraph
                continue
            if _is_table(paragraph):  # a long table: groups of whole rows, each under the table's header
                yield from self._table_units(paragraph)
                continue
            items = _LIST_ITEM.split(paragraph)
            if len(items) > 1:  # a long list: whole items are the units, never a number cut from its step
                yield from (item.strip() for item in items if item.strip())
                continue
            for sentence in _SENTENCE.split(paragraph):
                words = sentence.split()
                step = max(1, self.max_words - self.overlap_words)
                if len(words) <= self.max_words:
                    yield sentence
                    continue
                for start in range(0, len(words), step):
                    yield " ".join(words[start : start + self.max_words])
                    if start + self.max_words >= len(words):
                        break

    def _table_units(self, table: str) -> Iterable[str]:
        """A Markdown table too long for one piece, as tables of whole rows: each keeps the header and its rule
        line, so a piece shown alone still reads (and renders) as the table it came from."""
        lines = [line.strip() for line in table.splitlines() if line.strip()]
        head, rows = lines[:2], lines[2:]
        group: list[str] = []
        for row in rows:
            if group and _words("\n".join([*head, *group, row])) > self.max_words:
                yield "\n".join([*head, *group])
                group = []
            group.append(row)
        if group:
            yield "\n".join([*head, *group])

    def _overlap(self, units: list[str]) -> tuple[list[str], int]:
        """Carry the tail of the previous piece (whole units only) into the next one."""
        if self.overlap_words <= 0:
            return [], 0
        tail = units[-1]
        n = _words(tail)
        if n <= self.overlap_words:
            return [tail], n
        return [], 0


def _is_table(paragraph: str) -> bool:
    """A Markdown table: every line a row between pipes, the second the rule under the header."""
    lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
    return (
        len(lines) >= 3
        and all(line.startswith("|") for line in lines)
        and set(lines[1].replace("|", "").replace(":", "").replace(" ", "")) == {"-"}
    )


def _words(text: str) -> int:
    return len(text.split())
