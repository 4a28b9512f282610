"""Every vector store backend against the shared conformance suite, plus "server unreachable" errors."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from firstline.errors import BackendUnavailableError
from firstline.knowledge.stores import VectorStore
from firstline.knowledge.stores.chroma import ChromaStore
from firstline.knowledge.stores.memory import InMemoryStore
from firstline.knowledge.stores.qdrant import QdrantStore
from firstline.testing import VectorStoreContract
from firstline.testing.live import cannot_start, free_port

SERVER_START_TIMEOUT_S = 30.0


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


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``chroma run`` on a free port of 127.0.0.1, for this module; yields its URL."""
    executable = Path(sys.executable).parent / "chroma"
    if not executable.exists():
        cannot_start(f"the `chroma` executable is missing at {executable}; install chromadb in this environment")
    folder = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = folder / "server.log"
    command = [str(executable), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                cannot_start(f"`chroma run` did not answer on {url} within {SERVER_START_TIMEOUT_S:.0f} s:\n{tail}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
