"""A vector store over Chroma 1.x, embedded (a folder on disk) or client/server (``chroma run``).

Metadata layout, one Chroma metadata dict per record, always lower-cased:

* ``category`` and ``audience``: strings (absent when unset);
* one boolean key per tag, ``"tag:<tag>": True``, so "has every tag" is an ``$and`` of equalities;
* ``flagged``: True for a chunk flagged as instruction-like (absent otherwise, so "not flagged" is
  ``$ne: True``, which also matches records written before the flag existed).

Chroma filters *before* the nearest-neighbour search, so a filtered query returns the true top-k
among matching records even when very few match.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import chromadb
import httpx
import numpy as np
import numpy.typing as npt
from chromadb.api.collection_configuration import CreateCollectionConfiguration
from chromadb.config import Settings

from firstline.errors import BackendUnavailableError, ConfigError
from firstline.knowledge.models import Filters
from firstline.knowledge.stores import ScoredId, VectorRecord

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

__all__ = ["ChromaStore"]

DEFAULT_COLLECTION = "firstline_chunks"
URL_SETTING = "knowledge.chroma_url"
TAG_PREFIX = "tag:"
CONFIGURATION: CreateCollectionConfiguration = {"hnsw": {"space": "cosine", "ef_search": 200, "ef_construction": 200}}

MetadataValue = str | bool | None


def to_metadata(record: VectorRecord) -> dict[str, MetadataValue]:
    """The Chroma metadata for ``record``: lower-cased category, audience, one key per tag, the flag."""
    metadata: dict[str, MetadataValue] = {}
    if record.category:
        metadata["category"] = record.category.lower()
    if record.audience:
        metadata["audience"] = record.audience.lower()
    for tag in record.tags:
        if tag.strip():
            metadata[TAG_PREFIX + tag.strip().lower()] = True
    if record.flagged:
        metadata["flagged"] = True
    return metadata


def to_where(filters: Filters | None) -> dict[str, Any] | None:
    """A Chroma ``where`` clause with the meaning of :meth:`Filters.matches`, or None for no filter."""
    if not filters:
        return None
    clauses: list[dict[str, Any]] = []
    if filters.category:
        clauses.append({"category": {"$in": list(filters.category)}})
    if filters.audience:
        clauses.append({"audience": {"$in": list(filters.audience)}})
    clauses.extend({TAG_PREFIX + tag: {"$eq": True}} for tag in filters.tags)
    if filters.flagged is not None:
        clauses.append({"flagged": {"$eq": True} if filters.flagged else {"$ne": True}})
    # Chroma rejects an ``$and`` with fewer than two clauses.
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaStore:
    """A :class:`~firstline.knowledge.stores.VectorStore` backed by a Chroma collection (cosine space).

    Build one with :meth:`embedded` (a local folder) or :meth:`server` (a running ``chroma run``).
    """

    def __init__(self, client: ClientAPI, collection: str, *, name: str, url: str | None = None) -> None:
        self.name = name
        self._client = client
        self._url = url
        self._closed = False
        try:
            with self._translate():
                self._collection: Collection = client.get_or_create_collection(
                    collection, configuration=CONFIGURATION, embedding_function=None
                )
                self._batch_size = max(1, client.get_max_batch_size())
        except BaseException:
            self.close()
            raise

    @classmethod
    def embedded(cls, path: str, collection: str = DEFAULT_COLLECTION) -> ChromaStore:
        """A store in the folder ``path`` (created if missing), through ``chromadb.PersistentClient``."""
        client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
        return cls(client, collection, name="chroma")

    @classmethod
    def server(
        cls, url: str, collection: str = DEFAULT_COLLECTION, headers: dict[str, str] | None = None
    ) -> ChromaStore:
        """A store on the Chroma server at ``url``, e.g. ``http://127.0.0.1:8000``.

        Raises :class:`~firstline.errors.BackendUnavailableError` when nothing answers there.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"`{URL_SETTING}` must be an http(s) URL like http://127.0.0.1:8000, got {url!r}.")
        ssl = parts.scheme == "https"
        port = parts.port or (443 if ssl else 8000)
        try:
            client = chromadb.HttpClient(
                host=parts.hostname,
                port=port,
                ssl=ssl,
                headers=headers,
                settings=Settings(anonymized_telemetry=False),
            )
        except ValueError as error:
            # chromadb turns a failed first request into ValueError("Could not connect ...").
            if _is_transport_error(error):
                raise BackendUnavailableError("Chroma server", url, URL_SETTING, _reason(error)) from error
            raise
        return cls(client, collection, name="chroma-server", url=url)

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """Turn "cannot reach the server" into :class:`BackendUnavailableError`."""
        try:
            yield
        except (httpx.TransportError, ValueError) as error:
            if self._url is None or not _is_transport_error(error):
                raise
            raise BackendUnavailableError("Chroma server", self._url, URL_SETTING, _reason(error)) from error

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        """Insert or replace records by id; a replaced record keeps none of its old metadata."""
        latest = {record.id: record for record in records}  # the last one wins, as Chroma rejects duplicates
        batch = list(latest.values())
        with self._translate():
            for start in range(0, len(batch), self._batch_size):
                self._upsert_batch(batch[start : start + self._batch_size])

    def _upsert_batch(self, batch: Sequence[VectorRecord]) -> None:
        ids = [record.id for record in batch]
        metadatas = [to_metadata(record) for record in batch]
        # Chroma's upsert merges metadata into an existing record: clear the keys the new one lacks.
        existing = self._collection.get(ids=ids, include=["metadatas"])
        old_by_id = dict(zip(existing["ids"], existing["metadatas"] or [], strict=False))
        for id_, metadata in zip(ids, metadatas, strict=True):
            for key in old_by_id.get(id_) or {}:
                metadata.setdefault(key, None)
        embeddings = np.vstack([np.asarray(record.vector, dtype=np.float32) for record in batch])
        self._collection.upsert(
            ids=ids,
            embeddings=embeddings,
            metadatas=cast(Any, [metadata or None for metadata in metadatas]),
        )

    def delete(self, ids: Sequence[str]) -> None:
        """Delete records by id; unknown ids are ignored."""
        unique = list(dict.fromkeys(ids))
        with self._translate():
            for start in range(0, len(unique), self._batch_size):
                self._collection.delete(ids=unique[start : start + self._batch_size])

    def query(self, vector: npt.NDArray[np.float32], k: int, filters: Filters | None = None) -> list[ScoredId]:
        """The ``k`` most similar records that pass ``filters``, best first; score = 1 - cosine distance."""
        if k <= 0:
            return []
        with self._translate():
            result = self._collection.query(
                query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
                n_results=k,
                where=to_where(filters),
                include=["distances"],
            )
        ids = result["ids"][0] if result["ids"] else []
        distances = result["distances"][0] if result["distances"] else []
        return [ScoredId(id_, 1.0 - float(distance)) for id_, distance in zip(ids, distances, strict=True)]

    def count(self) -> int:
        """How many records the collection holds."""
        with self._translate():
            return self._collection.count()

    def ids(self) -> set[str]:
        """Every id in the collection, read page by page."""
        out: set[str] = set()
        offset = 0
        with self._translate():
            while True:
                page = self._collection.get(include=[], limit=self._batch_size, offset=offset)["ids"]
                out.update(page)
                if len(page) < self._batch_size:
                    return out
                offset += len(page)

    def close(self) -> None:
        """Release the client (for an embedded store, its files); calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        # chromadb's HTTP client never closes its httpx sessions (one of its own, one of its internal
        # admin client), so their sockets leak: close them here.
        for client in (self._client, getattr(self._client, "_admin_client", None)):
            session = getattr(getattr(client, "_server", None), "_session", None)
            if isinstance(session, httpx.Client):
                session.close()
        close = getattr(self._client, "close", None)  # chromadb >= 1.4
        if callable(close):
            close()


def _is_transport_error(error: BaseException) -> bool:
    """Whether ``error`` is, or was raised while handling, an httpx transport error."""
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, httpx.TransportError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(error: BaseException) -> str:
    """The innermost message of a chain of exceptions, e.g. ``[Errno 111] Connection refused``."""
    while (error.__cause__ or error.__context__) is not None:
        error = cast(BaseException, error.__cause__ or error.__context__)
    return str(error) or type(error).__name__
