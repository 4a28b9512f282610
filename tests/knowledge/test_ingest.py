from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from firstline.errors import ConfigError, DocumentLoadError, IngestLockedError
from firstline.knowledge.base import KnowledgeBase
from firstline.testing.embedders import HashingEmbedder

KB = Callable[..., KnowledgeBase]


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on the SQLite catalog file and on a PostgreSQL catalog."""
    return str(request.param)


def _write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


def _runbook(title: str, steps: str, category: str = "network") -> str:
    front = f"---\ntitle: {title}\ncategory: {category}\ntags: [demo]\n---\n"
    return f"{front}# {title}\n\n## Symptoms\n\nIt fails.\n\n## Steps\n\n{steps}\n"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    _write(folder, "vpn.md", _runbook("VPN drops", "1. Reconnect GlobalProtect."))
    _write(folder, "printer.md", _runbook("Printer jam", "1. Open tray 2.", "printer"))
    _write(folder, "sub/wifi.txt", "Join NW-Corp with your laptop account.")
    _write(folder, ".hidden/secret.md", "# Hidden\n\nnot ingested")
    _write(folder, "notes.xlsx", "ignored suffix")
    return folder


def test_first_ingest_adds_everything(make_kb: KB, docs: Path) -> None:
    kb = make_kb()
    report = kb.ingest([docs])
    assert len(report.added) == 3 and not report.failed
    stats = kb.stats()
    assert stats.sources == 3
    assert stats.chunks == stats.vectors == report.chunks_embedded
    assert stats.by_category == {"network": 2, "printer": 2, "": 1}
    assert kb.search("GlobalProtect", k=1, mode="bm25")[0].chunk.title == "VPN drops"


def test_reingest_unchanged_writes_nothing(make_kb: KB, docs: Path) -> None:
    embedder = HashingEmbedder()
    kb = make_kb(embedder)
    kb.ingest([docs])
    version, calls = kb.catalog.version(), embedder.calls
    report = kb.ingest([docs])
    assert len(report.unchanged) == 3
    assert not report.changed and report.chunks_embedded == 0
    assert kb.catalog.version() == version
    assert embedder.calls == calls


def test_changed_file_replaces_exactly_its_chunks(make_kb: KB, docs: Path) -> None:
    embedder = HashingEmbedder()
    kb = make_kb(embedder)
    kb.ingest([docs])
    printer_ids = kb.catalog.chunk_ids_of(str(docs / "printer.md"))
    vpn_before = kb.catalog.chunk_ids_of(str(docs / "vpn.md"))
    before = embedder.texts_embedded
    _write(docs, "vpn.md", _runbook("VPN drops", "1. Reconnect GlobalProtect.\n2. Switch to the LON gateway."))
    report = kb.ingest([docs])
    assert report.updated == [str(docs / "vpn.md")]
    vpn_after = kb.catalog.chunk_ids_of(str(docs / "vpn.md"))
    # the unchanged Symptoms chunk keeps its id and is not embedded again; the Steps chunk is replaced
    assert len(vpn_before & vpn_after) == 1
    assert report.chunks_embedded == 1 == embedder.texts_embedded - before
    assert report.chunks_deleted == 1
    assert kb.catalog.chunk_ids_of(str(docs / "printer.md")) == printer_ids
    assert kb.store.ids() == {c.id for c in kb.catalog.all_chunks()}
    assert kb.search("LON gateway", k=1, mode="bm25")[0].chunk.section_path == "VPN drops > Steps"


def test_prune_removes_deleted_files(make_kb: KB, docs: Path) -> None:
    kb = make_kb()
    kb.ingest([docs])
    (docs / "printer.md").unlink()
    assert kb.ingest([docs]).removed == []  # without --prune nothing is removed
    report = kb.ingest([docs], prune=True)
    assert report.removed == [str(docs / "printer.md")]
    assert kb.stats().sources == 2
    assert kb.store.ids() == {c.id for c in kb.catalog.all_chunks()}
    assert not [h for h in kb.search("tray", k=5, mode="bm25") if h.chunk.title == "Printer jam"]


def test_prune_only_touches_sources_under_the_given_paths(make_kb: KB, docs: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    _write(other, "phones.md", _runbook("Voicemail", "1. Press *.", "phone"))
    kb = make_kb()
    kb.ingest([docs, other])
    (docs / "vpn.md").unlink()
    report = kb.ingest([docs], prune=True)
    assert report.removed == [str(docs / "vpn.md")]
    assert str(other / "phones.md") in kb.catalog.sources()


def test_corrupt_file_is_reported_and_the_rest_ingests(make_kb: KB, docs: Path) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7 definitely not a pdf")
    _write(docs, "bad.md", "---\ntitle: [oops\n---\nbody")
    kb = make_kb()
    report = kb.ingest([docs])
    failed = dict(report.failed)
    assert set(failed) == {str(docs / "broken.pdf"), str(docs / "bad.md")}
    assert "YAML" in failed[str(docs / "bad.md")]
    assert len(report.added) == 3


def test_missing_path_is_a_clear_error(make_kb: KB, tmp_path: Path) -> None:
    with pytest.raises(DocumentLoadError, match="no such file"):
        make_kb().ingest([tmp_path / "nope"])


def test_second_concurrent_ingest_is_refused(make_kb: KB, docs: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "shared-index"
    gate, release = threading.Event(), threading.Event()

    class SlowEmbedder(HashingEmbedder):
        def embed_documents(self, texts):  # type: ignore[no-untyped-def]
            gate.set()
            release.wait(10)
            return super().embed_documents(texts)

    first = make_kb(SlowEmbedder(), index_dir=index_dir)
    second = make_kb(index_dir=index_dir)
    errors: list[BaseException] = []
    worker = threading.Thread(target=lambda: first.ingest([docs]))
    worker.start()
    try:
        assert gate.wait(10)
        with pytest.raises(IngestLockedError, match="Another ingest"):
            second.ingest([docs])
    except BaseException as exc:  # pragma: no cover - surfaced below
        errors.append(exc)
    finally:
        release.set()
        worker.join(10)
    assert not errors
    assert first.stats().sources == 3


def test_a_waiting_ingest_runs_once_the_other_ends_and_finds_nothing_changed(
    make_kb: KB, docs: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "shared-index"
    gate, release = threading.Event(), threading.Event()

    class SlowEmbedder(HashingEmbedder):
        def embed_documents(self, texts):  # type: ignore[no-untyped-def]
            gate.set()
            release.wait(10)
            return super().embed_documents(texts)

    first, waiter = make_kb(SlowEmbedder(), index_dir=index_dir), HashingEmbedder()
    second = make_kb(waiter, index_dir=index_dir)
    worker = threading.Thread(target=lambda: first.ingest([docs]))
    worker.start()
    try:
        assert gate.wait(10)
        threading.Timer(0.3, release.set).start()
        started = time.monotonic()
        report = second.ingest([docs], wait_s=20)
        waited = time.monotonic() - started
    finally:
        release.set()
        worker.join(10)
    assert 0.25 < waited < 10
    assert len(report.unchanged) == 3 and not report.changed and waiter.calls == 0


def test_two_writers_publishing_the_same_keyword_version_at_once_both_succeed(
    make_kb: KB, docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes that finish an ingest of the same catalog version together (one waited for the other
    and found nothing changed) each stage the keyword index; neither may clobber the other's staging."""
    from firstline.knowledge import sparse

    index_dir = tmp_path / "both-publish"
    first, second = make_kb(index_dir=index_dir), make_kb(index_dir=index_dir)
    first.ingest([docs])
    both_saved = threading.Barrier(2, timeout=10)
    real_save = sparse.BM25Index.save

    def save_together(self: sparse.BM25Index, directory: Path) -> None:
        real_save(self, directory)
        both_saved.wait()  # both staged before either publishes

    monkeypatch.setattr(sparse.BM25Index, "save", save_together)
    errors: list[BaseException] = []

    def publish(kb: KnowledgeBase) -> None:
        try:
            kb._rebuild_keyword_index()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    writers = [threading.Thread(target=publish, args=(kb,)) for kb in (first, second)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(15)
    assert errors == []
    published = list((index_dir / "keyword").iterdir())
    assert [p.name for p in published] == [first.catalog.version()]
    monkeypatch.setattr(sparse.BM25Index, "save", real_save)
    reader = make_kb(index_dir=index_dir)
    assert reader.search("GlobalProtect", k=1, mode="bm25")


def test_keyword_index_follows_ingests_from_another_process(make_kb: KB, docs: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "shared"
    reader = make_kb(index_dir=index_dir)
    writer = make_kb(index_dir=index_dir)
    writer.ingest([docs / "vpn.md"])
    assert reader.search("GlobalProtect", k=1, mode="bm25")
    assert not reader.search("tray", k=1, mode="bm25")
    writer.ingest([docs / "printer.md"])
    assert reader.search("tray", k=1, mode="bm25")[0].chunk.title == "Printer jam"
    assert len(list((index_dir / "keyword").iterdir())) == 1


def test_an_index_refuses_a_different_embedder(make_kb: KB, docs: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "one-model"
    make_kb(HashingEmbedder(64), index_dir=index_dir).ingest([docs])
    assert make_kb(HashingEmbedder(64), index_dir=index_dir).search("vpn")  # same model: fine
    other = make_kb(HashingEmbedder(32), index_dir=index_dir)
    with pytest.raises(ConfigError, match=r"built with the embedder 'hashing-64'.*knowledge\.index_dir"):
        other.search("vpn")
    with pytest.raises(ConfigError, match="hashing-32"):
        other.ingest([docs])
