from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from firstline.errors import EmptyQueryError, InputError, QueryTooLongError, RerankError
from firstline.knowledge.base import KnowledgeBase
from firstline.knowledge.models import Filters
from firstline.knowledge.rerank import RerankResult
from firstline.knowledge.retriever import MODES, RetrievalConfig
from firstline.testing.postgres import PostgresCluster

KB = Callable[..., KnowledgeBase]


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_backend(request: pytest.FixtureRequest) -> str:
    """The tests that build their own knowledge base run on the SQLite catalog and on a PostgreSQL one."""
    return str(request.param)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo_index(
    request: pytest.FixtureRequest, demo_kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KnowledgeBase]:
    """The session's demo index, and the same index with its catalog copied into PostgreSQL.

    The copy shares the vectors (the in-memory store) and the embedder, so the PostgreSQL variant
    costs no second embedding of the runbooks; its searches read chunk texts only from PostgreSQL.
    """
    if request.param == "sqlite":
        yield demo_kb
        return
    postgres: PostgresCluster = request.getfixturevalue("postgres")
    kb = KnowledgeBase(
        tmp_path_factory.mktemp("demo-pg"), demo_kb.store, demo_kb.embedder, catalog_url=postgres.fresh_url()
    )
    every = demo_kb.catalog.all_chunks()
    for source, record in demo_kb.catalog.sources().items():
        kb.catalog.replace_source(record, [c for c in every if c.source == source])
    kb.catalog.set_meta("embedder", demo_kb.embedder.name)
    assert not (kb.index_dir / "catalog.sqlite3").exists()
    yield kb
    kb.catalog.close()  # the store belongs to the session's demo index


@pytest.mark.parametrize(
    ("query", "expected_title"),
    [
        ("my vpn drops every five minutes", "VPN client keeps disconnecting"),
        ("GlobalProtect will not connect", "GlobalProtect VPN will not connect"),
        ("outlook keeps prompting me for my password", "Outlook keeps asking for a password"),
        ("I clicked a link in a suspicious email", "Reporting a phishing email"),
        ("print job stuck in queue", "Print job stuck in the queue"),
        ("forgot my voicemail pin", "Resetting a voicemail PIN"),
        ("what are the service desk opening hours", "Support hours and service levels"),
        ("can I use my personal phone for work email", "Bring your own device (BYOD) policy"),
        ("lost my laptop on the train", "Lost or stolen laptop"),
        ("too many failed sign-ins, account locked", "Account locked out"),
    ],
)
def test_hybrid_finds_the_right_runbook(demo_index: KnowledgeBase, query: str, expected_title: str) -> None:
    titles = [h.chunk.title for h in demo_index.search(query, k=3, by_document=True)]
    assert expected_title in titles, titles


def test_every_hit_carries_a_citation(demo_index: KnowledgeBase) -> None:
    hits = demo_index.search("paper jam in tray 2", k=5)
    assert len(hits) == 5
    for hit in hits:
        c = hit.citation
        assert c.title and c.section_path.startswith(c.title)
        assert c.source.endswith(".md") and Path(c.source).exists()
        assert len(c.chunk_id) == 20 and c.score == hit.score
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_answers(demo_index: KnowledgeBase, mode: str) -> None:
    hits = demo_index.search("toner is low on the printer", k=4, mode=mode)  # type: ignore[arg-type]
    assert 1 <= len(hits) <= 4
    assert any("Toner" in h.chunk.title for h in hits)


def test_filters_restrict_every_mode(demo_index: KnowledgeBase) -> None:
    for mode in ("dense", "bm25", "hybrid", "rrf"):
        hits = demo_index.search("password", k=10, mode=mode, filters=Filters.of(category="email"))  # type: ignore[arg-type]
        assert hits and all(h.chunk.category == "email" for h in hits)
    tagged = demo_index.search("vpn", k=10, filters=Filters.of(tags=["vpn"]))
    assert tagged and all("vpn" in h.chunk.tags for h in tagged)
    assert demo_index.search("vpn", k=10, filters=Filters.of(category="no-such-category")) == []


def test_by_document_returns_one_hit_per_document(demo_index: KnowledgeBase) -> None:
    hits = demo_index.search("vpn", k=8, by_document=True)
    assert len({h.chunk.doc_id for h in hits}) == len(hits) == 8


def test_bad_queries_get_clear_errors(demo_index: KnowledgeBase) -> None:
    with pytest.raises(EmptyQueryError, match="empty"):
        demo_index.search("   ")
    with pytest.raises(QueryTooLongError, match=r"2001 characters.*limit is 2000"):
        demo_index.search("x" * 2001)
    with pytest.raises(InputError, match="Unknown search mode"):
        demo_index.search("vpn", mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="k must be"):
        demo_index.search("vpn", k=0)


def test_empty_index_returns_nothing(make_kb: KB) -> None:
    kb = make_kb()
    assert kb.search("anything") == []


class ReverseReranker:
    name = "reverse"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[RerankResult]:
        self.seen = list(documents)
        return [RerankResult(i, float(i)) for i in reversed(range(len(documents)))]


class BrokenReranker:
    name = "broken"

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[RerankResult]:
        raise RerankError("TEI reranker at http://127.0.0.1:9/rerank: connection refused")


def _kb_with(make_kb: KB, reranker: object, runbooks_dir: Path, depth: int = 3) -> KnowledgeBase:
    kb = make_kb(reranker=reranker, retrieval=RetrievalConfig(rerank_depth=depth))
    kb.ingest([runbooks_dir / "printer-paper-jam.md", runbooks_dir / "printer-toner-low-ordering.md"])
    return kb


def test_rerank_reorders_the_head(make_kb: KB, runbooks_dir: Path) -> None:
    reranker = ReverseReranker()
    kb = _kb_with(make_kb, reranker, runbooks_dir)
    fused = kb.search("toner cartridge", k=6, mode="hybrid")
    reranked = kb.search("toner cartridge", k=6, mode="hybrid+rerank")
    assert len(reranker.seen) == 3
    assert [h.chunk.id for h in reranked[:3]] == [h.chunk.id for h in fused[:3]][::-1]
    assert [h.chunk.id for h in reranked[3:]] == [h.chunk.id for h in fused[3:]]
    assert reranked[0].rerank_score == 2.0


def test_failing_reranker_falls_back_to_fused_order(
    make_kb: KB, runbooks_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kb = _kb_with(make_kb, BrokenReranker(), runbooks_dir)
    fused = kb.search("toner cartridge", k=5, mode="hybrid")
    with caplog.at_level("WARNING"):
        reranked = kb.search("toner cartridge", k=5, mode="hybrid+rerank")
    assert [h.chunk.id for h in reranked] == [h.chunk.id for h in fused]
    assert "keeping the fused order" in caplog.text and "connection refused" in caplog.text
