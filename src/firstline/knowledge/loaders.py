"""Loaders turn files into :class:`Document` objects: Markdown, HTML, PDF, plain text, BEIR JSONL.

Each loader raises :class:`DocumentLoadError` naming the file when it cannot be read, so an
ingest can report it and go on with the rest.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from firstline.errors import DocumentLoadError
from firstline.knowledge.audience import AUDIENCE_MARKER, default_section_audience, narrower, normalise
from firstline.knowledge.models import Document, Section

if TYPE_CHECKING:
    from bs4.element import Tag

__all__ = ["SUPPORTED_SUFFIXES", "load_file", "split_markdown"]

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
# Inline styles that hide an element's text from a reader (white text counts unless a background is set).
_HIDDEN_STYLE = re.compile(
    r"display:none|visibility:hidden|font-size:0(?:px|pt|em|rem|%)?(?:;|$)|opacity:0(?:\.0+)?(?:;|$)"
)
_WHITE_TEXT = re.compile(r"(?:^|;)color:(?:#fff(?:fff)?|white|rgba?\(255,255,255[,)])")


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentLoadError(str(path), f"cannot read the file ({exc.strerror or exc})") from exc
    if b"\x00" in data[:4096]:
        raise DocumentLoadError(str(path), "looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _front_matter(text: str, source: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines()
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            try:
                meta = yaml.safe_load("\n".join(lines[1:end])) or {}
            except yaml.YAMLError as exc:
                raise DocumentLoadError(source, f"invalid YAML front matter ({exc.__class__.__name__})") from exc
            if not isinstance(meta, dict):
                raise DocumentLoadError(source, "front matter must be a YAML mapping")
            return meta, "\n".join(lines[end + 1 :])
    raise DocumentLoadError(source, "front matter opened with '---' but never closed")


def split_markdown(body: str) -> tuple[str | None, list[Section]]:
    """Split Markdown into sections by heading; returns the first H1 (if any) and the sections.

    Section paths hold the headings below the H1 (the caller puts the document title in
    front). Headings inside fenced code blocks are text. A section's audience is the marker
    ``<!-- audience: ... -->`` on the first line under its heading (the line is removed), else the
    default for its heading (``it-staff`` for "When to escalate"), narrowed by its parent's.
    """
    stack: list[tuple[int, str, str | None]] = []  # (level, heading, audience)
    sections: list[Section] = []
    buffer: list[str] = []
    found_title: str | None = None
    intro: str | None = None  # the audience of the text before the first heading below the H1
    in_fence = False
    under_heading = True  # no text since the last heading (or the start): a marker may follow

    def flush() -> None:
        text = "\n".join(buffer).strip()
        buffer.clear()
        if text:
            sections.append(Section(tuple(name for _, name, _ in stack), text, stack[-1][2] if stack else intro))

    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence, under_heading = not in_fence, False
            buffer.append(line)
            continue
        match = None if in_fence else _HEADING.match(line)
        if not match:
            marker = AUDIENCE_MARKER.match(line) if under_heading and not in_fence else None
            if marker:
                own = normalise(marker["audience"])
                if stack:
                    parent = stack[-2][2] if len(stack) > 1 else None
                    stack[-1] = (stack[-1][0], stack[-1][1], narrower(parent, own))
                else:
                    intro = own
            else:
                buffer.append(line)
            under_heading = under_heading and not line.strip()
            continue
        flush()
        under_heading = True
        level, name = len(match.group(1)), match.group(2).strip()
        if level == 1 and found_title is None and not stack:
            found_title = name
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, name, narrower(stack[-1][2] if stack else None, default_section_audience(name))))
    flush()
    return found_title, sections


def _titled(title: str, sections: list[Section]) -> tuple[Section, ...]:
    return tuple(Section((title, *s.path), s.text, s.audience) for s in sections)


def _title_from_stem(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name


def _meta_fields(meta: Mapping[str, Any]) -> dict[str, Any]:
    tags = meta.get("tags") or []
    if isinstance(tags, str):
        tags = [t for t in re.split(r"[,\s]+", tags) if t]
    extra = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in meta.items() if k not in _KNOWN}
    return {
        "category": str(meta["category"]).lower() if meta.get("category") else None,
        "audience": normalise(meta.get("audience")),
        "tags": tuple(str(t).lower() for t in tags),
        "url": str(meta["url"]) if meta.get("url") else None,
        "extra": extra,
    }


_KNOWN = {"title", "category", "audience", "tags", "url"}


def load_markdown(path: Path, doc_id: str) -> list[Document]:
    text = _read_text(path)
    meta, body = _front_matter(text, str(path))
    title = str(meta["title"]) if meta.get("title") else None
    h1, sections = split_markdown(body)
    final_title = title or h1 or _title_from_stem(path)
    return [Document(doc_id, final_title, str(path), _titled(final_title, sections), **_meta_fields(meta))]


def load_html(path: Path, doc_id: str) -> list[Document]:
    from bs4 import BeautifulSoup
    from bs4.element import Comment, NavigableString

    text = _read_text(path)
    soup = BeautifulSoup(text, "html.parser")
    if soup.find() is None:
        raise DocumentLoadError(str(path), "no HTML elements found")
    meta: dict[str, Any] = {}
    for tag in soup.find_all("meta"):
        name, content = tag.get("name"), tag.get("content")
        if isinstance(name, str) and isinstance(content, str) and name.lower() in ("category", "audience", "tags"):
            meta[name.lower()] = content
    page_title = soup.title.get_text(" ", strip=True) if soup.title else None
    for bad in soup(["script", "style", "nav", "header", "footer", "noscript", "template", "title"]):
        bad.decompose()
    for comment in soup.find_all(string=lambda node: isinstance(node, Comment)):
        if AUDIENCE_MARKER.match(f"<!--{comment}-->"):  # a section's audience marker is kept as a line
            comment.replace_with(NavigableString(f"\n<!--{comment}-->\n"))
    for element in soup.find_all(_is_hidden):
        # Text no reader sees stays hidden: an HTML comment, which the injection rules read and nobody is shown.
        hidden = " ".join(element.get_text(" ", strip=True).replace("--", "- -").split())
        element.replace_with(NavigableString(f" <!-- {hidden} --> " if hidden else " "))
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.replace_with(NavigableString(f"\n\n{'#' * level} {heading.get_text(' ', strip=True)}\n\n"))
    for block in soup.find_all(["p", "li", "tr", "pre", "div", "br", "dd", "dt"]):
        block.insert_after(NavigableString("\n"))
    for item in soup.find_all("li"):
        item.insert_before(NavigableString("- "))
    raw = soup.get_text()
    body = "\n".join(re.sub(r"[ \t\xa0]+", " ", line).strip() for line in raw.splitlines())
    body = re.sub(r"\n{3,}", "\n\n", body)
    h1, sections = split_markdown(body)
    title = page_title or h1 or _title_from_stem(path)
    return [Document(doc_id, title, str(path), _titled(title, sections), **_meta_fields(meta))]


def _is_hidden(tag: Tag) -> bool:
    """Whether an HTML element's text is hidden from a reader by its attributes or inline style."""
    if tag.has_attr("hidden"):
        return True
    style = re.sub(r"\s+", "", str(tag.get("style") or "")).lower()
    return bool(_HIDDEN_STYLE.search(style) or (_WHITE_TEXT.search(style) and "background" not in style))


def load_pdf(path: Path, doc_id: str) -> list[Document]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(path))
        info = reader.metadata
        title = str(info.title).strip() if info and info.title else _title_from_stem(path)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, OSError, ValueError, KeyError, TypeError) as exc:
        raise DocumentLoadError(str(path), f"not a readable PDF ({exc.__class__.__name__}: {exc})") from exc
    sections = tuple(
        Section((title, f"Page {number}"), text.strip()) for number, text in enumerate(pages, start=1) if text.strip()
    )
    if not sections:
        raise DocumentLoadError(str(path), "the PDF has no extractable text (scanned images need OCR first)")
    return [Document(doc_id, title, str(path), sections)]


def load_text(path: Path, doc_id: str) -> list[Document]:
    text = _read_text(path).strip()
    title = _title_from_stem(path)
    sections = (Section((title,), text),) if text else ()
    return [Document(doc_id, title, str(path), sections)]


def iter_beir_corpus(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a BEIR ``corpus.jsonl``; every row needs ``_id`` and ``text``."""
    text = _read_text(path)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DocumentLoadError(str(path), f"line {number} is not JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or "_id" not in row or "text" not in row:
            raise DocumentLoadError(str(path), f"line {number} needs the fields '_id' and 'text'")
        yield row


def load_beir_jsonl(path: Path, doc_id: str) -> list[Document]:
    """One document per corpus row; ``section_path`` ("A > B") and ``url`` are used when present."""
    documents = []
    for row in iter_beir_corpus(path):
        title = str(row.get("title") or "").strip()
        raw_path = row.get("section_path")
        if isinstance(raw_path, str) and raw_path.strip():
            section_path = tuple(p.strip() for p in raw_path.split(">") if p.strip())
        else:
            section_path = (title,) if title else ()
        body = str(row["text"]).strip()
        sections = (Section(section_path, body),) if body else ()
        meta = _meta_fields(row)
        meta["extra"] = {}
        documents.append(Document(str(row["_id"]), title or str(row["_id"]), str(path), sections, **meta))
    return documents


Loader = Callable[[Path, str], list[Document]]

_LOADERS: dict[str, Loader] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".txt": load_text,
    ".text": load_text,
    ".jsonl": load_beir_jsonl,
}

SUPPORTED_SUFFIXES = frozenset(_LOADERS)


def load_file(path: Path, doc_id: str) -> list[Document]:
    """Load one file with the loader for its suffix."""
    loader = _LOADERS.get(path.suffix.lower())
    if loader is None:
        raise DocumentLoadError(str(path), f"unsupported file type {path.suffix!r}; supported: {sorted(_LOADERS)}")
    return loader(path, doc_id)
