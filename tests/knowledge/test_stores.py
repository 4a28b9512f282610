"""Every vector store backend against the shared conformance suite, plus "server unreachable" errors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from firstline.errors import BackendUnavailableError
from firstline.knowledge.stores import VectorStore
from firstline.knowledge.stores.chroma import ChromaStore
from firstline.knowledge.stores.memory import InMemoryStore
from firstline.knowledge.stores.qdrant import QdrantStore
from firstline.testing import VectorStoreContract
from firstline.testing.live import free_port


class TestInMemoryStore(VectorStoreContract):
    @pytest.fixture
    def store(self) -> VectorStore:
        return InMemoryStore()


class TestChromaEmbedded(VectorStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[VectorStore]:
        self.path = tmp_path / "chroma"
        store = ChromaStore.embedded(str(self.path))
        yield store
        store.close()

    def reopen(self, store: VectorStore) -> VectorStore:
        store.close()
        return ChromaStore.embedded(str(self.path))


class TestQdrantLocal(VectorStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[VectorStore]:
        self.path = tmp_path / "qdrant"
        store = QdrantStore.local(str(self.path))
        yield store
        store.close()

    def reopen(self, store: VectorStore) -> VectorStore:
        store.close()  # local mode locks its folder until the client is closed
        return QdrantStore.local(str(self.path))


class TestQdrantMemory(VectorStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[VectorStore]:
        store = QdrantStore.memory()
        yield store
        store.close()


@pytest.mark.live
class TestChromaServer(VectorStoreContract):
    @pytest.fixture
    def store(self, chroma_server: str) -> Iterator[VectorStore]:
        self.url, self.collection = chroma_server, f"test-{uuid.uuid4().hex}"
        store = ChromaStore.server(self.url, collection=self.collection)
        yield store
        store.close()

    def reopen(self, store: VectorStore) -> VectorStore:
        store.close()
        return ChromaStore.server(self.url, collection=self.collection)


def test_unreachable_chroma_server_names_url_and_setting() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnavailableError) as caught:
        ChromaStore.server(url)
    assert url in str(caught.value)
    assert "knowledge.chroma_url" in str(caught.value)
    assert caught.value.url == url


def test_unreachable_qdrant_server_names_url_and_setting() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnavailableError) as caught:
        QdrantStore.server(url)
    assert url in str(caught.value)
    assert "knowledge.qdrant_url" in str(caught.value)
    assert caught.value.url == url
