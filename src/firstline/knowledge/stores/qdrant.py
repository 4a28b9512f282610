"""A vector store over Qdrant: local (a folder or memory, exact search) or a Qdrant server.

Qdrant point ids must be UUIDs or integers, so a chunk id maps to ``uuid5(NAMESPACE, id)`` and the
original id travels in the payload. Payload, always lower-cased: ``id``, ``category`` and
``audience`` (keywords, absent when unset), ``tags`` (a keyword list) and ``flagged`` (true for a
chunk flagged as instruction-like, absent otherwise). The collection is created on the first upsert,
when the vector size is known.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from firstline.errors import BackendResponseError, BackendUnavailableError
from firstline.knowledge.models import Filters
from firstline.knowledge.stores import ScoredId, VectorRecord

__all__ = ["QdrantStore"]

DEFAULT_COLLECTION = "firstline_chunks"
URL_SETTING = "knowledge.qdrant_url"
NAMESPACE = uuid.UUID("0f1a7c1e-3b1d-5c55-9a0e-6f1e5d7b2a11")
BATCH_SIZE = 512
KEYWORD_FIELDS = ("category", "audience", "tags")


def point_id(id_: str) -> str:
    """The Qdrant point id (a UUID string) for one of our chunk ids."""
    return str(uuid.uuid5(NAMESPACE, id_))


def to_payload(record: VectorRecord) -> dict[str, Any]:
    """The Qdrant payload for ``record``: the original id plus lower-cased metadata."""
    payload: dict[str, Any] = {"id": record.id}
    if record.category:
        payload["category"] = record.category.lower()
    if record.audience:
        payload["audience"] = record.audience.lower()
    tags = sorted({tag.strip().lower() for tag in record.tags if tag.strip()})
    if tags:
        payload["tags"] = tags
    if record.flagged:
        payload["flagged"] = True
    return payload


def to_filter(filters: Filters | None) -> models.Filter | None:
    """A Qdrant filter with the meaning of :meth:`Filters.matches`, or None for no filter."""
    if not filters:
        return None
    must: list[models.Condition] = []
    if filters.category:
        must.append(models.FieldCondition(key="category", match=models.MatchAny(any=list(filters.category))))
    if filters.audience:
        must.append(models.FieldCondition(key="audience", match=models.MatchAny(any=list(filters.audience))))
    must.extend(models.FieldCondition(key="tags", match=models.MatchValue(value=tag)) for tag in filters.tags)
    must_not: list[models.Condition] = []
    if filters.flagged is not None:
        flagged = models.FieldCondition(key="flagged", match=models.MatchValue(value=True))
        (must if filters.flagged else must_not).append(flagged)
    return models.Filter(must=must, must_not=must_not or None)


class QdrantStore:
    """A :class:`~firstline.knowledge.stores.VectorStore` backed by one Qdrant collection (cosine distance).

    Build one with :meth:`local`, :meth:`memory` or :meth:`server`.
    """

    name = "qdrant"

    def __init__(self, client: QdrantClient, collection: str = DEFAULT_COLLECTION, *, url: str | None = None) -> None:
        self._client = client
        self._collection = collection
        self._url = url
        self._closed = False
        try:
            with self._translate():
                self._exists = client.collection_exists(collection)  # also the reachability check for a server
        except BaseException:
            self.close()
            raise

    @classmethod
    def local(cls, path: str, collection: str = DEFAULT_COLLECTION) -> QdrantStore:
        """A store in the folder ``path`` (Qdrant local mode: exact search; one process holds the folder)."""
        return cls(QdrantClient(path=str(path)), collection)

    @classmethod
    def memory(cls, collection: str = DEFAULT_COLLECTION) -> QdrantStore:
        """A store that lives in this process only (Qdrant local mode, ``:memory:``)."""
        return cls(QdrantClient(":memory:"), collection)

    @classmethod
    def server(cls, url: str, api_key: str | None = None, collection: str = DEFAULT_COLLECTION) -> QdrantStore:
        """A store on the Qdrant server at ``url``, e.g. ``http://127.0.0.1:6333``.

        Raises :class:`~firstline.errors.BackendUnavailableError` when nothing answers there.
        """
        # The version check runs in a background thread and only warns; our first call checks reachability.
        client = QdrantClient(url=url, api_key=api_key, check_compatibility=False)
        return cls(client, collection, url=url)

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """Turn server failures into Firstline's exception tree."""
        try:
            yield
        except ResponseHandlingException as error:
            if self._url is None:
                raise
            reason = str(error.source) if error.source is not None else str(error)
            raise BackendUnavailableError("Qdrant server", self._url, URL_SETTING, reason) from error
        except UnexpectedResponse as error:
            if self._url is None:
                raise
            raise BackendResponseError(
                f"The Qdrant server at {self._url} answered HTTP {error.status_code}: {error.content!r}"
            ) from error

    def _ensure_collection(self, size: int) -> None:
        if self._exists:
            return
        if not self._client.collection_exists(self._collection):
            self._client.create_collection(
                self._collection,
                vectors_config=models.VectorParams(size=size, distance=models.Distance.COSINE),
            )
            if self._url is not None:  # payload indexes do nothing (but warn) in local mode
                for field in KEYWORD_FIELDS:
                    self._client.create_payload_index(
                        self._collection, field_name=field, field_schema=models.PayloadSchemaType.KEYWORD
                    )
                self._client.create_payload_index(
                    self._collection, field_name="flagged", field_schema=models.PayloadSchemaType.BOOL
                )
        self._exists = True

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        """Insert or replace records by id (vector and the whole payload)."""
        batch = list({record.id: record for record in records}.values())  # the last one wins
        if not batch:
            return
        with self._translate():
            self._ensure_collection(int(np.asarray(batch[0].vector).shape[-1]))
            for start in range(0, len(batch), BATCH_SIZE):
                points = [
                    models.PointStruct(
                        id=point_id(record.id),
                        vector=np.asarray(record.vector, dtype=np.float32).tolist(),
                        payload=to_payload(record),
                    )
                    for record in batch[start : start + BATCH_SIZE]
                ]
                self._client.upsert(self._collection, points=points, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        """Delete records by id; unknown ids are ignored."""
        if not ids or not self._exists:
            return
        unique = list(dict.fromkeys(point_id(id_) for id_ in ids))
        with self._translate():
            for start in range(0, len(unique), BATCH_SIZE):
                selector = models.PointIdsList(points=list(unique[start : start + BATCH_SIZE]))
                self._client.delete(self._collection, points_selector=selector, wait=True)

    def query(self, vector: npt.NDArray[np.float32], k: int, filters: Filters | None = None) -> list[ScoredId]:
        """The ``k`` most similar records that pass ``filters``, best first; score = cosine similarity."""
        if k <= 0 or not self._exists:
            return []
        with self._translate():
            response = self._client.query_points(
                self._collection,
                query=np.asarray(vector, dtype=np.float32).tolist(),
                query_filter=to_filter(filters),
                limit=k,
                with_payload=["id"],
            )
        return [ScoredId(str((point.payload or {})["id"]), float(point.score)) for point in response.points]

    def count(self) -> int:
        """How many records the collection holds."""
        if not self._exists:
            return 0
        with self._translate():
            return self._client.count(self._collection, exact=True).count

    def ids(self) -> set[str]:
        """Every id in the collection, read page by page."""
        out: set[str] = set()
        if not self._exists:
            return out
        offset: Any = None
        with self._translate():
            while True:
                page, offset = self._client.scroll(
                    self._collection, limit=1000, offset=offset, with_payload=["id"], with_vectors=False
                )
                out.update(str((point.payload or {})["id"]) for point in page)
                if offset is None:
                    return out

    def close(self) -> None:
        """Release the client (for a local store, the lock on its folder); calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        self._client.close()
