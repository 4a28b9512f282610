"""``KnowledgeBase``: one index folder = catalog + vector store + keyword index, searched and fed together."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from firstline.errors import ConfigError
from firstline.knowledge.catalog import Catalog
from firstline.knowledge.chunking import Chunker
from firstline.knowledge.embedders import Embedder
from firstline.knowledge.ingest import Ingestor, IngestReport, Progress
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

    ``index_dir`` holds ``catalog.sqlite3``, ``keyword/<version>/`` (the BM25 index of that
    catalog version, swapped in atomically) and ``ingest.lock``. The vector store may live in the
    same folder (Chroma embedded, Qdrant local) or on a server.
    """

    def __init__(
        self,
        index_dir: Path,
        store: VectorStore,
        embedder: Embedder,
        reranker: Reranker | None = None,
        retrieval: RetrievalConfig | None = None,
        chunker: Chunker | None = None,
    ) -> None:
        self.index_dir = index_dir
        index_dir.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(index_dir / "catalog.sqlite3")
        self.store = store
        self.embedder = embedder
        self.ingestor = Ingestor(self.catalog, store, embedder, index_dir / "ingest.lock", chunker)
        self.retriever = HybridRetriever(embedder, store, self.catalog, self.keyword_index, reranker, retrieval)
        self._keyword: BM25Index | None = None
        self._keyword_version = ""
        self._reload = threading.Lock()
        self._embedder_checked = False

    def close(self) -> None:
        self.store.close()
        self.catalog.close()

    def ingest(self, paths: Sequence[Path], prune: bool = False, progress: Progress | None = None) -> IngestReport:
        self.check_embedder(claim=True)
        report = self.ingestor.ingest(paths, prune=prune, progress=progress)
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
        staging = root / f".{version}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        index.save(staging)
        staging.rename(root / version)
        for old in root.iterdir():
            if old.name != version:
                shutil.rmtree(old, ignore_errors=True)
        with self._reload:
            self._keyword, self._keyword_version = index, version
