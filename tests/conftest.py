"""Shared fixtures. Tests are hermetic: no network beyond servers they start on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from firstline.helpdesk.taxonomy import load_taxonomy
from firstline.helpdesk.triage import Triage, TriageModel, packaged_model_path
from firstline.knowledge.base import KnowledgeBase
from firstline.knowledge.embedders import Embedder, LocalEmbedder, SentenceTransformerEmbedder
from firstline.knowledge.stores.memory import InMemoryStore
from firstline.runtime import demo_runbooks
from firstline.testing.directory import demo_org as moved_demo_org  # the sign-in log moved to now
from firstline.testing.embedders import HashingEmbedder
from firstline.testing.helpdesk import HelpdeskWorld
from firstline.testing.loopback import LoopbackServer
from firstline.testing.postgres import PostgresCluster, postgres_cluster
from firstline.testing.redis import RedisServer, redis_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One throw-away PostgreSQL cluster per test session (skips without PostgreSQL, fails in CI)."""
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder per test session, so the ONNX export of the model happens once."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _session_cache: Path) -> None:
    """No test reads the developer's config or writes to their data or cache folders."""
    for name in list(__import__("os").environ):
        if name.startswith("FIRSTLINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FIRSTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(_session_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEmbedder:
    """The real default embedding model, loaded once per test session."""
    embedder = SentenceTransformerEmbedder()
    embedder.embed_query("warm up")
    return embedder


@pytest.fixture
def make_kb(tmp_path: Path) -> Iterator[Callable[..., KnowledgeBase]]:
    """Build knowledge bases over an in-memory store (hashing embedder unless one is given)."""
    made: list[KnowledgeBase] = []

    def make(embedder: Embedder | None = None, index_dir: Path | None = None, **kwargs: object) -> KnowledgeBase:
        kb = KnowledgeBase(
            index_dir or tmp_path / f"index{len(made)}", InMemoryStore(), embedder or HashingEmbedder(), **kwargs
        )  # type: ignore[arg-type]
        made.append(kb)
        return kb

    yield make
    for kb in made:
        kb.close()


@pytest.fixture
def loopback() -> Iterator[Callable[[LoopbackServer], LoopbackServer]]:
    """Start loopback servers; stop them after the test and fail it if any saw a bad request."""
    servers: list[LoopbackServer] = []

    def start(server: LoopbackServer) -> LoopbackServer:
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()
    assert [v for server in servers for v in server.violations] == []


@pytest.fixture(scope="session")
def runbooks_dir() -> Path:
    return demo_runbooks()


@pytest.fixture(scope="session")
def demo_kb(tmp_path_factory: pytest.TempPathFactory, minilm: SentenceTransformerEmbedder) -> Iterator[KnowledgeBase]:
    """The shipped runbooks ingested with the real model (once per session)."""
    kb = KnowledgeBase(tmp_path_factory.mktemp("demo-index"), InMemoryStore(), minilm)
    kb.ingest([demo_runbooks()])
    yield kb
    kb.close()


@pytest.fixture(scope="session")
def helpdesk_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelpdeskWorld]:
    embedder = LocalEmbedder()
    knowledge = KnowledgeBase(tmp_path_factory.mktemp("helpdesk-kb"), InMemoryStore(), embedder)
    knowledge.ingest([demo_runbooks()])
    triage = Triage(load_taxonomy(), TriageModel.load(packaged_model_path()), embedder)
    yield HelpdeskWorld(triage, knowledge, moved_demo_org())
    knowledge.close()


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    """One throw-away redis-server per test session (skips without redis-server, fails in CI)."""
    with redis_server() as server:
        yield server


_SHARED_NODE_IDS: set[str] = set()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Schemathesis gives every API operation of a test the test's own node id, and pytest-xdist schedules by node
    id: in several processes all operations but one would silently never run. Such tests fail there instead, with
    the reason (``make check`` runs their module in a process of its own)."""
    if not __import__("os").environ.get("PYTEST_XDIST_WORKER"):
        return
    seen: set[str] = set()
    _SHARED_NODE_IDS.update(item.nodeid for item in items if item.nodeid in seen or seen.add(item.nodeid))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.nodeid in _SHARED_NODE_IDS:
        pytest.fail(f"{item.nodeid} is one node id for several tests: run its module without -n (pytest-xdist)")
