"""Idempotent ingest: files in, chunks + vectors + keyword index out.

* An unchanged file (same SHA-256) writes nothing.
* A changed file replaces exactly its chunks: new chunk ids are embedded and added, ids that
  disappeared are deleted, ids that survived (same section, same text) are kept as they are.
* With ``prune``, files that were ingested from under the given paths but are gone are removed.
* A file that cannot be loaded is reported by name and skipped; the rest goes on. The catalog
  remembers its hash and the reason: while its bytes stay the same, later ingests report it under
  ``still_failing`` without trying it again; with ``prune``, a broken file that is gone is forgotten.
* One ingest at a time per catalog (:mod:`firstline.knowledge.ingest_lock`: a file lock, or a
  PostgreSQL advisory lock across machines): a second one gets :class:`IngestLockedError` at once,
  or, with ``wait_s``, waits that long for the first to end (and then usually finds nothing changed).
* A file processed by an older :data:`PIPELINE` (loading, chunking, audiences, injection screening)
  is processed again even when unchanged; chunks that come out the same keep their ids and vectors.
* Instruction-like passages (:mod:`firstline.knowledge.injection`) flag their chunks, and the report
  lists every flagged passage of the files under the given paths, changed or not.

Write order per batch: vectors first, then the catalog (one transaction per file), then stale
vectors are deleted. A crash in between leaves extra vectors that searches ignore (the catalog
is the source of truth) and that the next ``prune`` reconciles.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from firstline.errors import DocumentLoadError
from firstline.knowledge.catalog import FailureRecord, KnowledgeCatalog, SourceRecord
from firstline.knowledge.chunking import Chunker
from firstline.knowledge.embedders import Embedder
from firstline.knowledge.ingest_lock import FileIngestLock, IngestLock
from firstline.knowledge.injection import find_instructions
from firstline.knowledge.loaders import SUPPORTED_SUFFIXES, load_file
from firstline.knowledge.models import PATH_SEPARATOR, Chunk
from firstline.knowledge.stores import VectorRecord, VectorStore

__all__ = ["PIPELINE", "FlaggedPassage", "IngestReport", "Ingestor", "discover"]

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""``progress(done, total, current_source)``."""

PIPELINE = "3"
"""Bumped when loading or chunking changes what a file's chunks are (2: section audiences, injection flags; 3: long
tables cut between rows)."""


@dataclass(frozen=True, slots=True)
class FlaggedPassage:
    """A chunk with instruction-like text: where it is, the rules it matched and the passages withheld."""

    source: str
    title: str
    section: str
    chunk_id: str
    rules: tuple[str, ...]
    passages: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "title": self.title,
            "section": self.section,
            "chunk_id": self.chunk_id,
            "rules": list(self.rules),
            "passages": list(self.passages),
        }

    @classmethod
    def of(cls, chunk: Chunk) -> FlaggedPassage:
        heads = [h for h in chunk.section_path.split(PATH_SEPARATOR) if find_instructions(f"### {h}")]
        passages = [*(f"heading: {h}" for h in heads), *(f.passage for f in find_instructions(chunk.text))]
        return cls(chunk.source, chunk.title, chunk.section_path, chunk.id, chunk.flags, tuple(passages))


@dataclass
class IngestReport:
    """What an ingest did, file by file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    still_failing: list[tuple[str, str]] = field(default_factory=list)  # failed before, unchanged: not retried
    flagged: list[FlaggedPassage] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": len(self.unchanged),
            "removed": self.removed,
            "failed": [{"source": s, "reason": r} for s, r in self.failed],
            "still_failing": [{"source": s, "reason": r} for s, r in self.still_failing],
            "flagged": [f.as_dict() for f in self.flagged],
            "chunks_embedded": self.chunks_embedded,
            "chunks_deleted": self.chunks_deleted,
            "seconds": round(self.seconds, 3),
        }


def discover(paths: Iterable[Path]) -> list[tuple[Path, Path]]:
    """Supported files under ``paths`` as ``(root, file)`` pairs, sorted, hidden files skipped."""
    found: list[tuple[Path, Path]] = []
    for raw in paths:
        root = raw.expanduser().resolve()
        if root.is_file():
            found.append((root.parent, root))
            continue
        if not root.exists():
            raise DocumentLoadError(str(raw), "no such file or folder")
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if any(part.startswith(".") for part in relative.parts):
                continue
            if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
                found.append((root, path))
    return found


@dataclass
class _Pending:
    record: SourceRecord
    chunks: list[Chunk]
    stale: set[str]
    new: bool


class Ingestor:
    """Writes files into one index (catalog + vector store). Call :meth:`ingest`."""

    def __init__(
        self,
        catalog: KnowledgeCatalog,
        store: VectorStore,
        embedder: Embedder,
        lock: IngestLock | Path,
        chunker: Chunker | None = None,
        batch_chunks: int = 256,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.embedder = embedder
        self.lock = FileIngestLock(lock) if isinstance(lock, Path) else lock
        self.chunker = chunker or Chunker()
        self.batch_chunks = batch_chunks

    def ingest(
        self, paths: Sequence[Path], prune: bool = False, progress: Progress | None = None, wait_s: float = 0.0
    ) -> IngestReport:
        """Ingest ``paths``; another ingest running: refuse at once, or wait up to ``wait_s`` for it to end."""
        with self.lock.hold(wait_s):
            return self._ingest(paths, prune, progress)

    def _ingest(self, paths: Sequence[Path], prune: bool, progress: Progress | None) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        known = self.catalog.sources()
        broken = self.catalog.failures()
        files = discover(paths)
        seen: set[str] = set()
        pending: list[_Pending] = []
        for done, (root, path) in enumerate(files, start=1):
            source = str(path)
            seen.add(source)
            if progress:
                progress(done - 1, len(files), source)
            try:
                data = path.read_bytes()
            except OSError as exc:
                report.failed.append((source, f"cannot read the file ({exc.strerror or exc})"))
                continue
            digest = hashlib.sha256(data).hexdigest()
            previous = known.get(source)
            if previous is not None and previous.sha256 == digest and previous.pipeline == PIPELINE:
                report.unchanged.append(source)
                continue
            failure = broken.get(source)
            if failure is not None and failure.sha256 == digest and failure.pipeline == PIPELINE:
                report.still_failing.append((source, failure.reason))
                continue
            try:
                documents = load_file(path, path.relative_to(root).as_posix())
            except Exception as exc:  # a loader library choking on a corrupt file must not stop the ingest
                reason = exc.reason if isinstance(exc, DocumentLoadError) else f"{exc.__class__.__name__}: {exc}"
                report.failed.append((source, reason))
                self.catalog.record_failure(FailureRecord(source, digest, len(data), reason, time.time(), PIPELINE))
                log.warning("skipped %s: %s", source, reason)
                continue
            chunks = [c for d in documents for c in self.chunker.chunk(d)]
            record = SourceRecord(source, digest, len(data), len(documents), len(chunks), time.time(), PIPELINE)
            old = self.catalog.chunk_ids_of(source) if previous is not None else set()
            pending.append(_Pending(record, chunks, old - {c.id for c in chunks}, previous is None))
            if sum(len(p.chunks) for p in pending) >= self.batch_chunks:
                self._flush(pending, report)
        self._flush(pending, report)
        if prune:
            roots = [p.expanduser().resolve() for p in paths]
            gone = [s for s in known if s not in seen and any(_under(Path(s), r) for r in roots)]
            vanished = [s for s in broken if s not in seen and any(_under(Path(s), r) for r in roots)]
            if vanished:
                self.catalog.forget_failures(vanished)
            if gone:
                stale = set().union(*(self.catalog.chunk_ids_of(s) for s in gone))
                self.catalog.remove_sources(gone)
                self.store.delete(sorted(stale))
                report.removed.extend(gone)
                report.chunks_deleted += len(stale)
            orphans = self.store.ids() - {c.id for c in self.catalog.all_chunks()}
            if orphans:
                self.store.delete(sorted(orphans))
                report.chunks_deleted += len(orphans)
        report.flagged = [FlaggedPassage.of(c) for c in self.catalog.flagged_chunks() if c.source in seen]
        for item in report.flagged:
            log.warning("instruction-like text in %s (%s): %s", item.source, item.section, ", ".join(item.rules))
        if progress:
            progress(len(files), len(files), "")
        report.seconds = time.perf_counter() - started
        return report

    def _flush(self, pending: list[_Pending], report: IngestReport) -> None:
        if not pending:
            return
        existing = set()
        for item in pending:
            if not item.new:
                existing |= self.catalog.chunk_ids_of(item.record.source)
        to_embed = [c for item in pending for c in item.chunks if c.id not in existing]
        if to_embed:
            vectors = self.embedder.embed_documents([c.index_text() for c in to_embed])
            self.store.upsert(
                [
                    VectorRecord(c.id, vectors[i], c.category, c.audience, c.tags, c.flagged)
                    for i, c in enumerate(to_embed)
                ]
            )
            report.chunks_embedded += len(to_embed)
        for item in pending:
            self.catalog.replace_source(item.record, item.chunks)
            if item.stale:
                self.store.delete(sorted(item.stale))
                report.chunks_deleted += len(item.stale)
            (report.added if item.new else report.updated).append(item.record.source)
        pending.clear()


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
