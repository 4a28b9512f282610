"""``KnowledgeBase``: one index = catalog + vector store + keyword index, searched and fed together.

On one machine everything lives in ``index_dir`` (the SQLite catalog, the ingest lock file, the
keyword index, perhaps an embedded vector store). On several machines the catalog and the ingest
lock live in a shared PostgreSQL database (``catalog_url``, see
:mod:`firstline.knowledge.sql_catalog`) and the vectors in a vector-store server, while each
process keeps its own BM25 keyword index in its ``index_dir``, rebuilt from the catalog whenever
the catalog's version differs from the one it was built for: a process that did not ingest
finds what another machine ingested, in every search mode.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from firstline.errors import ConfigError
from firstline.knowledge.catalog import Catalog, KnowledgeCatalog
from firstline.knowledge.chunking import Chunker
from firstline.knowledge.embedders import Embedder
from firstline.knowledge.ingest import Ingestor, IngestReport, Progress
from firstline.knowledge.ingest_lock import FileIngestLock, IngestLock, PostgresIngestLock
from firstline.knowledge.models import Chunk, Filters, Hit
from firstline.knowledge.rerank import Reranker
from firstline.knowledge.retriever import HybridRetriever, Mode, RetrievalConfig
from firstline.knowledge.sparse import BM25Index
from firstline.knowledge.stores import VectorStore

__all__ = ["KnowledgeBase", "KnowledgeStats"]


@dataclass(frozen=True, slots=True)
class KnowledgeStats:
    sources: int
    documents: int
    chunks: int
    vectors: int
    keyword_terms: int
    by_category: dict[str, int]
    store: str
    embedder: str
    index_dir: str

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__}


class KnowledgeBase:
    """The knowledge engine's facade: ``ingest``, ``search``, ``stats``.

    ``index_dir`` holds ``keyword/<version>/`` (the BM25 index of that catalog version, swapped in
    atomically) and, without ``catalog_url``, ``catalog.sqlite3`` and ``ingest.lock``. With
    ``catalog_url`` (a database URL; PostgreSQL to share it between machines) the catalog lives
    there and ingests take the database's advisory lock. The vector store may live in the same
    folder (Chroma embedded, Qdrant local) or on a server.
    """

    def __init__(
        self,
        index_dir: Path,
        store: VectorStore,
        embedder: Embedder,
        reranker: Reranker | None = None,
        retrieval: RetrievalConfig | None = None,
        chunker: Chunker | None = None,
        catalog_url: str | None = None,
    ) -> None:
        self.index_dir = index_dir
        index_dir.mkdir(parents=True, exist_ok=True)
        self.catalog: KnowledgeCatalog
        lock: IngestLock
        if catalog_url is None:
            self.catalog, lock = Catalog(index_dir / "catalog.sqlite3"), FileIngestLock(index_dir / "ingest.lock")
        else:
            from firstline.knowledge.sql_catalog import DATABASE, SqlCatalog  # SQLAlchemy: only when used

            shared = SqlCatalog(catalog_url)
            postgres = shared.dialect == "postgresql"
            self.catalog = shared
            lock = (
                PostgresIngestLock(shared.engine, DATABASE) if postgres else FileIngestLock(index_dir / "ingest.lock")
            )
        self.store = store
        self.embedder = embedder
        self.ingestor = Ingestor(self.catalog, store, embedder, lock, chunker)
        self.retriever = HybridRetriever(embedder, store, self.catalog, self.keyword_index, reranker, retrieval)
        self._keyword: BM25Index | None = None
        self._keyword_version = ""
        self._reload = threading.Lock()
        self._embedder_checked = False

    def close(self) -> None:
        self.store.close()
        self.catalog.close()

    def ingest(
        self, paths: Sequence[Path], prune: bool = False, progress: Progress | None = None, wait_s: float = 0.0
    ) -> IngestReport:
        """Ingest ``paths``. Another ingest of the same catalog running (any process, any machine):
        :class:`~firstline.errors.IngestLockedError` at once, or after waiting ``wait_s`` for it to end."""
        self.check_embedder(claim=True)
        report = self.ingestor.ingest(paths, prune=prune, progress=progress, wait_s=wait_s)
        current = self._current_keyword_dir()
        if report.changed or current is None or current.name != self.catalog.version():
            self._rebuild_keyword_index()
        return report

    def search(
        self, query: str, k: int = 5, mode: Mode = "hybrid", filters: Filters | None = None, by_document: bool = False
    ) -> list[Hit]:
        self.check_embedder()
        return self.retriever.search(query, k=k, mode=mode, filters=filters, by_document=by_document)

    def document(self, doc_id: str) -> list[Chunk]:
        """A document's chunks in reading order (to show a whole section, not only the best-matching part)."""
        return self.catalog.chunks_of_document(doc_id)

    def check_embedder(self, claim: bool = False) -> None:
        """Refuse to mix vectors of two different embedding models in one index."""
        if self._embedder_checked:
            return
        recorded = self.catalog.get_meta("embedder")
        if recorded is None:
            if claim or self.catalog.count_chunks():
                self.catalog.set_meta("embedder", self.embedder.name)
                self._embedder_checked = True
            return
        if recorded != self.embedder.name:
            raise ConfigError(
                f"The index at {self.index_dir} was built with the embedder {recorded!r}, but the configured one "
                f"is {self.embedder.name!r}; their vectors cannot be compared. Point `knowledge.index_dir` (or "
                "`data_dir`) at a new folder and run `firstline kb ingest`, or configure the original embedder."
            )
        self._embedder_checked = True

    def stats(self) -> KnowledgeStats:
        sources = self.catalog.sources()
        return KnowledgeStats(
            sources=len(sources),
            documents=sum(s.documents for s in sources.values()),
            chunks=self.catalog.count_chunks(),
            vectors=self.store.count(),
            keyword_terms=len(self.keyword_index()),
            by_category=self.catalog.facet("category"),
            store=self.store.name,
            embedder=self.embedder.name,
            index_dir=str(self.index_dir),
        )

    # -- the keyword index follows the catalog version, across processes -------------------------

    def keyword_index(self) -> BM25Index:
        """The BM25 index for the catalog's current version (reloaded when another process ingested)."""
        version = self.catalog.version()
        if self._keyword is not None and version == self._keyword_version:
            return self._keyword
        with self._reload:
            if self._keyword is None or version != self._keyword_version:
                folder = self.index_dir / "keyword" / version
                try:
                    self._keyword = BM25Index.load(folder) if folder.exists() else self._build_from_catalog()
                except (OSError, ValueError, KeyError):  # swapped out by a concurrent ingest mid-load
                    self._keyword = self._build_from_catalog()
                self._keyword_version = version
        return self._keyword

    def _build_from_catalog(self) -> BM25Index:
        index = BM25Index()
        index.build(self.catalog.all_chunks())
        return index

    def _current_keyword_dir(self) -> Path | None:
        folder = self.index_dir / "keyword" / self.catalog.version()
        return folder if folder.exists() else None

    def _rebuild_keyword_index(self) -> None:
        version = self.catalog.version()
        index = self._build_from_catalog()
        root = self.index_dir / "keyword"
        # Each writer stages in its own folder: two processes that finish ingests of the same version at once
        # (one waited for the other and found nothing changed) must not write into, or delete, each other's.
        staging = root / f".{version}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        index.save(staging)
        try:
            staging.rename(root / version)
        except OSError:  # the same version was published first by another writer: theirs serves
            shutil.rmtree(staging, ignore_errors=True)
        stale_staging = time.time() - _STAGING_MAX_AGE_S
        for old in root.iterdir():
            if old.name == version:
                continue
            if old.name.startswith(".") and _modified(old) > stale_staging:
                continue  # another writer's staging in progress; one left by a crash goes once it is old
            shutil.rmtree(old, ignore_errors=True)
        with self._reload:
            self._keyword, self._keyword_version = index, version


_STAGING_MAX_AGE_S = 3600.0


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
