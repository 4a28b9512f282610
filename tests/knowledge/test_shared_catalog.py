"""Several machines, one knowledge base: the catalog in PostgreSQL, the vectors in a Chroma server.

Each knowledge base here has its own ``index_dir`` (as each Kubernetes pod would), so nothing is
shared through the file system: what one ingests or removes, the other must find (or stop finding)
through the shared catalog and the shared Chroma collection. Ingests from separate processes take
the catalog's PostgreSQL advisory lock: a second one is refused (or waits), and a killed ingest
leaves no lock behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from firstline.errors import BackendUnavailableError, ConfigError, IngestLockedError
from firstline.knowledge.base import KnowledgeBase
from firstline.knowledge.catalog_migrations import current_revision, head_revision, schema_drift
from firstline.knowledge.sql_catalog import catalog_url_for
from firstline.knowledge.stores.chroma import ChromaStore
from firstline.knowledge.stores.memory import InMemoryStore
from firstline.settings import load_settings
from firstline.testing.embedders import HashingEmbedder
from firstline.testing.live import free_port
from firstline.testing.postgres import PostgresCluster

# An ingest in another process whose embedder blocks (holding the ingest lock) until a line arrives on stdin.
CHILD = """
import sys
from pathlib import Path
from firstline.knowledge.base import KnowledgeBase
from firstline.knowledge.stores.chroma import ChromaStore
from firstline.knowledge.stores.memory import InMemoryStore
from firstline.testing.embedders import HashingEmbedder

class Blocking(HashingEmbedder):
    def embed_documents(self, texts):
        print("embedding", flush=True)
        sys.stdin.readline()
        return super().embed_documents(texts)

index_dir, catalog_url, chroma_url, collection, docs = sys.argv[1:]
kb = KnowledgeBase(Path(index_dir), ChromaStore.server(chroma_url, collection=collection), Blocking(),
                   catalog_url=catalog_url)
report = kb.ingest([Path(docs)])
print("added", len(report.added), flush=True)
kb.close()
"""


def _runbook(title: str, steps: str) -> str:
    return f"---\ntitle: {title}\ncategory: network\n---\n# {title}\n\n## Steps\n\n{steps}\n"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "vpn.md").write_text(_runbook("VPN drops", "1. Reconnect GlobalProtect to the gateway."))
    (folder / "printer.md").write_text(_runbook("Printer jam", "1. Open tray 2 and pull the paper."))
    (folder / "wifi.md").write_text(_runbook("Wi-Fi", "1. Join NW-Corp with your laptop account."))
    return folder


@pytest.fixture
def shared(
    postgres: PostgresCluster, chroma_server: str, tmp_path: Path
) -> Iterator[tuple[Callable[[str], KnowledgeBase], str, str]]:
    """``make(name)``: a knowledge base in its own index_dir on one PostgreSQL catalog and one Chroma collection."""
    url, collection = postgres.fresh_url(), f"kb-{uuid.uuid4().hex[:12]}"
    made: list[KnowledgeBase] = []

    def make(name: str) -> KnowledgeBase:
        store = ChromaStore.server(chroma_server, collection=collection)
        made.append(KnowledgeBase(tmp_path / name, store, HashingEmbedder(), catalog_url=url))
        return made[-1]

    yield make, url, collection
    for kb in made:
        kb.close()


def _titles(kb: KnowledgeBase, query: str, mode: str) -> list[str]:
    return [h.chunk.title for h in kb.search(query, k=3, mode=mode)]  # type: ignore[arg-type]


@pytest.mark.live
def test_a_second_machine_finds_what_the_first_ingested_and_removed(
    shared: tuple[Callable[[str], KnowledgeBase], str, str], docs: Path
) -> None:
    make, _, _ = shared
    first, second = make("pod-a"), make("pod-b")
    assert second.search("GlobalProtect gateway", k=3, mode="bm25") == []
    first.ingest([docs])
    for mode in ("bm25", "hybrid", "dense"):
        assert _titles(second, "GlobalProtect gateway", mode)[0] == "VPN drops", mode
    assert second.stats().sources == 3 and second.stats().vectors == first.stats().vectors > 0
    assert not (second.index_dir / "catalog.sqlite3").exists() and not (first.index_dir / "catalog.sqlite3").exists()

    (docs / "vpn.md").unlink()
    assert first.ingest([docs], prune=True).removed == [str(docs / "vpn.md")]
    assert "VPN drops" not in _titles(second, "GlobalProtect gateway", "bm25")
    assert "VPN drops" not in _titles(second, "GlobalProtect gateway", "hybrid")
    assert second.stats().sources == 2

    (docs / "phones.md").write_text(_runbook("Desk phone", "1. Re-seat the handset cable."))
    assert second.ingest([docs]).added == [str(docs / "phones.md")]
    assert _titles(first, "handset cable", "hybrid")[0] == "Desk phone"
    assert len(list((second.index_dir / "keyword").iterdir())) == 1


def _start_child(tmp_path: Path, url: str, chroma: str, collection: str, docs: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", CHILD, str(tmp_path / "child"), url, chroma, collection, str(docs)]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline()  # the child holds the lock once it embeds
    assert line.strip() == "embedding", line
    return child


@pytest.mark.live
def test_an_ingest_in_another_process_refuses_a_second_and_a_waiting_one_finds_nothing_changed(
    shared: tuple[Callable[[str], KnowledgeBase], str, str], chroma_server: str, docs: Path, tmp_path: Path
) -> None:
    make, url, collection = shared
    kb = make("pod-a")
    child = _start_child(tmp_path, url, chroma_server, collection, docs)
    try:
        with pytest.raises(IngestLockedError, match="Another ingest is writing to this index"):
            kb.ingest([docs])
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        report = kb.ingest([docs], wait_s=30)  # blocks until the child's ingest ends
        out, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0 and out.strip() == "added 3"
    assert len(report.unchanged) == 3 and not report.changed
    assert isinstance(kb.embedder, HashingEmbedder) and kb.embedder.calls == 0
    assert _titles(kb, "GlobalProtect gateway", "hybrid")[0] == "VPN drops"


@pytest.mark.live
def test_a_killed_ingest_releases_the_lock(
    shared: tuple[Callable[[str], KnowledgeBase], str, str], chroma_server: str, docs: Path, tmp_path: Path
) -> None:
    make, url, collection = shared
    kb = make("pod-a")
    child = _start_child(tmp_path, url, chroma_server, collection, docs)
    try:
        with pytest.raises(IngestLockedError):
            kb.ingest([docs])
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=10)
        started = time.monotonic()
        report = kb.ingest([docs], wait_s=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert time.monotonic() - started < 10
    assert len(report.added) == 3  # the killed ingest had committed nothing
    assert _titles(make("pod-b"), "tray paper", "bm25")[0] == "Printer jam"


@pytest.mark.live
def test_opening_the_catalog_migrates_its_tables(postgres: PostgresCluster, tmp_path: Path) -> None:
    url = postgres.fresh_url()
    assert current_revision(url) is None
    with _on(url, tmp_path):
        pass
    assert current_revision(url) == head_revision() and schema_drift(url) == []


@contextmanager
def _on(url: str, folder: Path) -> Iterator[KnowledgeBase]:
    kb = KnowledgeBase(folder / "on-url", InMemoryStore(), HashingEmbedder(), catalog_url=url)
    try:
        yield kb
    finally:
        kb.close()


def test_a_sqlite_catalog_url_works_too(tmp_path: Path, docs: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    with _on(url, tmp_path) as kb:
        kb.ingest([docs])
        assert _titles(kb, "GlobalProtect", "bm25")[0] == "VPN drops"
    assert schema_drift(url) == [] and not (tmp_path / "on-url" / "catalog.sqlite3").exists()


def test_the_catalog_follows_a_postgresql_ticket_database_unless_set(tmp_path: Path) -> None:
    pg = "postgresql+psycopg://firstline@db.internal:5432/firstline"
    assert catalog_url_for(load_settings()) is None
    assert catalog_url_for(load_settings(ticketing={"database_url": f"sqlite:///{tmp_path / 't.db'}"})) is None
    assert catalog_url_for(load_settings(ticketing={"database_url": pg})) == pg
    own = "postgresql+psycopg://kb@other:5432/kb"
    assert catalog_url_for(load_settings(ticketing={"database_url": pg}, knowledge={"catalog_url": own})) == own


def test_a_bad_or_unreachable_catalog_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"knowledge\.catalog_url.*mysql"):
        KnowledgeBase(tmp_path / "a", InMemoryStore(), HashingEmbedder(), catalog_url="mysql://kb@127.0.0.1/kb")
    closed = f"postgresql+psycopg://kb@127.0.0.1:{free_port()}/kb"
    with pytest.raises(BackendUnavailableError, match=r"knowledge catalog.*knowledge\.catalog_url"):
        KnowledgeBase(tmp_path / "b", InMemoryStore(), HashingEmbedder(), catalog_url=closed)
