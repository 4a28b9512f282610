"""The conformance suite every :class:`~firstline.knowledge.stores.VectorStore` must pass.

Subclass :class:`VectorStoreContract` in a ``Test*`` class and override the ``store`` fixture so it
returns (or yields, then closes) a fresh, empty store. Persistent backends also override
:meth:`VectorStoreContract.reopen`::

    class TestInMemoryStore(VectorStoreContract):
        @pytest.fixture
        def store(self) -> VectorStore:
            return InMemoryStore()

Expected results are computed by brute force with numpy and :meth:`Filters.matches`, the
reference semantics, so approximate indexes that filter after the search fail here. Audiences are
checked end to end: Markdown documents for each audience (and one with an IT-staff section) are
chunked and stored, and each kind of reader's filter must return exactly the sections they may read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from firstline.knowledge.chunking import Chunker
from firstline.knowledge.loaders import split_markdown
from firstline.knowledge.models import Chunk, Document, Filters, Section
from firstline.knowledge.stores import ScoredId, VectorRecord, VectorStore

__all__ = ["VectorStoreContract"]

DIM = 8
TOLERANCE = 1e-4
Vector = npt.NDArray[np.float32]


def unit(values: Sequence[float] | npt.NDArray[np.floating[Any]]) -> Vector:
    """``values`` scaled to unit length, as float32."""
    vector = np.asarray(values, dtype=np.float32)
    scaled: Vector = (vector / np.linalg.norm(vector)).astype(np.float32)
    return scaled


def random_units(seed: int, n: int, dim: int = DIM) -> npt.NDArray[np.float32]:
    """``n`` random unit vectors (rows), reproducible from ``seed``."""
    matrix = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    scaled: npt.NDArray[np.float32] = (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)
    return scaled


def expected(records: Sequence[VectorRecord], vector: Vector, k: int, filters: Filters | None = None) -> list[ScoredId]:
    """The reference answer: exact cosine top-k among the records that pass ``filters``."""
    passing = [r for r in records if not filters or filters.matches(r.category, r.audience, r.tags, r.flagged)]
    scored = [ScoredId(r.id, float(np.dot(unit(r.vector), unit(vector)))) for r in passing]
    return sorted(scored, key=lambda s: -s.score)[: max(k, 0)]


def assert_same(actual: list[ScoredId], wanted: list[ScoredId]) -> None:
    """Same ids in the same order, scores within :data:`TOLERANCE`."""
    assert [s.id for s in actual] == [s.id for s in wanted]
    for got, want in zip(actual, wanted, strict=True):
        assert got.score == pytest.approx(want.score, abs=TOLERANCE), got.id


def hand_made() -> list[VectorRecord]:
    """Six records with distinct, well-separated similarities to :func:`probe`."""
    return [
        VectorRecord("a", unit([1, 0, 0, 0, 0, 0, 0, 0]), "network", "staff", ("vpn", "windows")),
        VectorRecord("b", unit([1, 1, 0, 0, 0, 0, 0, 0]), "network", "admin", ("vpn",)),
        VectorRecord("c", unit([1, 2, 3, 0, 0, 0, 0, 0]), "hardware", "staff", ("printer",)),
        VectorRecord("d", unit([0, 0, 0, 1, 0, 0, 0, 0]), "accounts", "staff", ("password", "windows")),
        VectorRecord("e", unit([-1, 0, 0, 0, 1, 0, 0, 0]), "network", "student", ("wifi",)),
        VectorRecord("f", unit([0, 1, 0, 0, 0, 1, 1, 1]), "hardware", "admin", ("printer", "vpn")),
    ]


def probe() -> Vector:
    """The query vector the hand-made records are ranked against."""
    return unit([0.9, 0.3, 0.1, 0.05, -0.2, 0.02, 0.01, 0.0])


def random_records(seed: int, n: int, prefix: str = "r") -> list[VectorRecord]:
    """``n`` random records spread over a few categories, audiences and tags."""
    vectors = random_units(seed, n)
    categories, audiences, tags = ("network", "hardware", "accounts"), ("staff", "admin"), ("vpn", "windows", "mac")
    return [
        VectorRecord(
            f"{prefix}{i}",
            vectors[i],
            categories[i % 3],
            audiences[i % 2],
            tuple(t for j, t in enumerate(tags) if (i >> j) & 1),
        )
        for i in range(n)
    ]


AUDIENCE_DOCUMENTS: dict[str, tuple[str | None, str]] = {
    # doc id: (document audience, Markdown body)
    "all": ("all", "# Support hours\n\nThe desk is open 8 to 6.\n\n## When to escalate\n\nTier-2 after 30 minutes.\n"),
    "employee": ("employee", "# VPN\n\n## Steps\n\n1. Reconnect GlobalProtect.\n"),
    "manager": ("manager", "# Onboarding\n\n## Steps\n\n1. Fill in the new starter form.\n"),
    "it-staff": ("it-staff", "# Priority matrix\n\n## Steps\n\n1. Set impact and urgency.\n"),
    "group": ("group:Finance-Approvers", "# Payment approvals\n\n## Steps\n\n1. Approve in the portal.\n"),
    "mixed": (
        "employee",
        "# Lost security key\n\n## Steps\n\n1. Report it to the service desk.\n\n"
        "## Service desk procedure\n<!-- audience: it-staff -->\n\nDelete the key in Entra.\n\n"
        "### Record\n\nName the key on the ticket.\n\n"
        "## What Tier-1 may and may not do\n\nNo Temporary Access Pass for admins.\n\n"
        "## FAQ\n\nKeys cost 40 pounds.\n",
    ),
}
"""One document per audience, and a mixed one whose IT sections are marked or named for the IT team."""

READERS: dict[str, tuple[tuple[str, ...], set[tuple[str, str]]]] = {
    # reader: (audiences they may read, the (document, section) pairs they must get — and nothing else)
    "employee": (
        ("all", "employee"),
        {("all", "Support hours"), ("employee", "Steps"), ("mixed", "Steps"), ("mixed", "FAQ")},
    ),
    "manager": (
        ("all", "employee", "manager"),
        {("all", "Support hours"), ("employee", "Steps"), ("manager", "Steps"), ("mixed", "Steps"), ("mixed", "FAQ")},
    ),
    "it-staff": (
        ("all", "employee", "it-staff"),
        {
            ("all", "Support hours"),
            ("all", "When to escalate"),
            ("employee", "Steps"),
            ("it-staff", "Steps"),
            ("mixed", "Steps"),
            ("mixed", "Service desk procedure"),
            ("mixed", "Record"),
            ("mixed", "What Tier-1 may and may not do"),
            ("mixed", "FAQ"),
        },
    ),
    "finance approver": (
        ("all", "employee", "group:finance-approvers"),
        {("all", "Support hours"), ("employee", "Steps"), ("group", "Steps"), ("mixed", "Steps"), ("mixed", "FAQ")},
    ),
}
"""Who reads what in :data:`AUDIENCE_DOCUMENTS`."""


def audience_chunks() -> list[Chunk]:
    """:data:`AUDIENCE_DOCUMENTS` loaded like Markdown files and chunked."""
    chunks: list[Chunk] = []
    for doc_id, (audience, body) in AUDIENCE_DOCUMENTS.items():
        title, sections = split_markdown(body)
        assert title is not None
        titled = tuple(Section((title, *s.path), s.text, s.audience) for s in sections)
        document = Document(doc_id, title, f"{doc_id}.md", titled, audience=audience.lower() if audience else None)
        chunks.extend(Chunker().chunk(document))
    return chunks


class VectorStoreContract:
    """Tests every vector store backend must pass; subclass it and override ``store`` (and ``reopen``)."""

    @pytest.fixture
    def store(self) -> VectorStore:
        """A fresh, empty store; subclasses must override this fixture."""
        pytest.fail("override the `store` fixture in your VectorStoreContract subclass")

    def reopen(self, store: VectorStore) -> VectorStore:
        """Close ``store`` and open a new instance over the same storage; persistent backends override this."""
        pytest.skip("not persistent")

    def test_is_a_vector_store(self, store: VectorStore) -> None:
        assert isinstance(store, VectorStore)
        assert isinstance(store.name, str) and store.name

    def test_upsert_then_count_and_ids(self, store: VectorStore) -> None:
        store.upsert(hand_made())
        assert store.count() == 6
        assert store.ids() == {"a", "b", "c", "d", "e", "f"}

    def test_query_returns_cosine_scores_best_first(self, store: VectorStore) -> None:
        records = hand_made()
        store.upsert(records)
        result = store.query(probe(), 6)
        assert_same(result, expected(records, probe(), 6))
        assert [s.score for s in result] == sorted((s.score for s in result), reverse=True)
        assert result[0].id == "a"
        assert_same(store.query(probe(), 2), expected(records, probe(), 2))

    def test_upsert_existing_id_replaces_vector_and_metadata(self, store: VectorStore) -> None:
        store.upsert(hand_made())
        moved = VectorRecord("a", unit([0, 0, 0, 0, 0, 0, 0, 1]), "hardware", None, ())
        store.upsert([moved])
        assert store.count() == 6
        assert store.ids() == {"a", "b", "c", "d", "e", "f"}
        assert_same(store.query(moved.vector, 1), [ScoredId("a", 1.0)])
        assert "a" not in {s.id for s in store.query(probe(), 6, Filters.of(tags="vpn"))}
        assert "a" not in {s.id for s in store.query(probe(), 6, Filters.of(category="network"))}
        assert "a" not in {s.id for s in store.query(probe(), 6, Filters.of(audience="staff"))}
        assert "a" in {s.id for s in store.query(probe(), 6, Filters.of(category="hardware"))}
        store.upsert([VectorRecord("b", hand_made()[1].vector)])  # now without any metadata
        assert store.count() == 6
        for filters in (Filters.of(category="network"), Filters.of(audience="admin"), Filters.of(tags="vpn")):
            assert "b" not in {s.id for s in store.query(probe(), 6, filters)}
        assert "b" in {s.id for s in store.query(probe(), 6)}

    def test_duplicate_ids_in_one_upsert_keep_the_last(self, store: VectorStore) -> None:
        first = VectorRecord("x", unit([1, 0, 0, 0, 0, 0, 0, 0]), "network")
        last = VectorRecord("x", unit([0, 1, 0, 0, 0, 0, 0, 0]), "hardware")
        store.upsert([first, last])
        assert store.count() == 1
        assert_same(store.query(last.vector, 5), [ScoredId("x", 1.0)])
        assert store.query(last.vector, 5, Filters.of(category="network")) == []

    def test_delete_ignores_unknown_ids(self, store: VectorStore) -> None:
        records = hand_made()
        store.upsert(records)
        store.delete(["a", "no-such-id"])
        store.delete([])
        store.delete(["a"])
        assert store.count() == 5
        assert store.ids() == {"b", "c", "d", "e", "f"}
        assert_same(store.query(probe(), 10), expected(records[1:], probe(), 10))
        store.upsert(records[:1])
        assert store.count() == 6

    def test_k_larger_than_count_returns_everything(self, store: VectorStore) -> None:
        records = hand_made()
        store.upsert(records)
        assert_same(store.query(probe(), 100), expected(records, probe(), 100))

    def test_k_zero_and_empty_store_return_nothing(self, store: VectorStore) -> None:
        assert store.count() == 0
        assert store.ids() == set()
        assert store.query(probe(), 5) == []
        assert store.query(probe(), 5, Filters.of(category="network")) == []
        store.delete(["nothing-here"])
        store.upsert(hand_made())
        assert store.query(probe(), 0) == []

    def test_filter_category_and_audience_match_any_of(self, store: VectorStore) -> None:
        records = hand_made()
        store.upsert(records)
        for filters in (
            Filters.of(category="network"),
            Filters.of(category=["hardware", "accounts"]),
            Filters.of(audience="admin"),
            Filters.of(audience=["staff", "student"]),
        ):
            assert_same(store.query(probe(), 10, filters), expected(records, probe(), 10, filters))

    def test_filter_tags_match_all_of(self, store: VectorStore) -> None:
        records = hand_made()
        store.upsert(records)
        assert {s.id for s in store.query(probe(), 10, Filters.of(tags="vpn"))} == {"a", "b", "f"}
        assert {s.id for s in store.query(probe(), 10, Filters.of(tags=["vpn", "windows"]))} == {"a"}
        assert {s.id for s in store.query(probe(), 10, Filters.of(tags=["printer", "vpn"]))} == {"f"}
        assert store.query(probe(), 10, Filters.of(tags=["wifi", "vpn"])) == []

    def test_combined_filters(self, store: VectorStore) -> None:
        records = hand_made()
        store.upsert(records)
        for filters in (
            Filters.of(category="network", audience="staff", tags="vpn"),
            Filters.of(category=["network", "hardware"], tags="vpn"),
            Filters.of(category="hardware", audience=["admin", "staff"]),
            Filters.of(category="accounts", audience="admin"),
        ):
            assert_same(store.query(probe(), 10, filters), expected(records, probe(), 10, filters))

    def test_selective_filter_returns_true_top_k(self, store: VectorStore) -> None:
        records = random_records(seed=7, n=300)
        vectors = random_units(seed=8, n=3)
        rare = [VectorRecord(f"rare{i}", vectors[i], "rare", "staff", ("needle",)) for i in range(3)]
        store.upsert(records + rare)
        # A probe close to the common records and far from the rare ones.
        query = unit(records[0].vector - 2 * (vectors.sum(axis=0) / 3))
        everything = records + rare
        for filters in (
            Filters.of(category="rare"),
            Filters.of(tags="needle"),
            Filters.of(category="rare", tags="needle"),
        ):
            assert_same(store.query(query, 5, filters), expected(everything, query, 5, filters))
        for filters in (
            Filters.of(category="nothing"),
            Filters.of(tags=["needle", "vpn"]),
            Filters.of(audience="nobody"),
        ):
            assert store.query(query, 10, filters) == []

    def test_metadata_is_case_insensitive(self, store: VectorStore) -> None:
        store.upsert([VectorRecord("m", unit([1, 1, 1, 1, 0, 0, 0, 0]), "Network", "Staff", ("VPN", "Windows"))])
        hit = [ScoredId("m", 1.0)]
        vector = unit([1, 1, 1, 1, 0, 0, 0, 0])
        assert_same(store.query(vector, 3, Filters.of(category="NETWORK")), hit)
        assert_same(store.query(vector, 3, Filters.of(audience="staff")), hit)
        assert_same(store.query(vector, 3, Filters.of(tags=["vpn", "WINDOWS"])), hit)
        assert_same(store.query(vector, 3, Filters.of(category="network", audience="STAFF", tags="Vpn")), hit)

    def test_records_without_metadata(self, store: VectorStore) -> None:
        bare = [VectorRecord("p", unit([1, 0, 1, 0, 0, 0, 0, 0])), VectorRecord("q", unit([0, 1, 0, 1, 0, 0, 0, 0]))]
        records = [*hand_made(), *bare]
        store.upsert(records)
        assert store.count() == 8
        assert_same(store.query(probe(), 10), expected(records, probe(), 10))
        for filters in (Filters.of(category="network"), Filters.of(audience="staff"), Filters.of(tags="vpn")):
            assert not {"p", "q"} & {s.id for s in store.query(probe(), 10, filters)}
        assert_same(store.query(probe(), 10, Filters()), expected(records, probe(), 10))

    def test_batch_upsert_of_2000_records(self, store: VectorStore) -> None:
        records = random_records(seed=11, n=2000)
        store.upsert(records)
        assert store.count() == 2000
        assert store.ids() == {r.id for r in records}
        for record in records[::400]:
            top = store.query(record.vector, 1)
            assert_same(top, [ScoredId(record.id, 1.0)])
        query = random_units(seed=12, n=1)[0]
        filters = Filters.of(category="network", tags="vpn")
        assert_same(store.query(query, 10, filters), expected(records, query, 10, filters))

    def test_flag_filters_and_replacement(self, store: VectorStore) -> None:
        records = [
            VectorRecord(r.id, r.vector, r.category, r.audience, r.tags, r.id in ("b", "e"))
            for r in [*hand_made(), VectorRecord("bare", unit([0, 0, 1, 0, 0, 0, 0, 1]))]
        ]
        store.upsert(records)
        assert {s.id for s in store.query(probe(), 10, Filters.of(flagged=True))} == {"b", "e"}
        assert {s.id for s in store.query(probe(), 10, Filters.of(flagged=False))} == {"a", "c", "d", "f", "bare"}
        for filters in (
            Filters.of(flagged=True),
            Filters.of(flagged=False),
            Filters.of(audience="admin", flagged=True),
            Filters.of(category="network", tags="vpn", flagged=False),
        ):
            assert_same(store.query(probe(), 10, filters), expected(records, probe(), 10, filters))
        store.upsert([VectorRecord("b", records[1].vector, "network", "admin", ("vpn",))])  # cleaned: no flag
        store.upsert([VectorRecord("a", records[0].vector, "network", "staff", ("vpn", "windows"), True)])
        assert {s.id for s in store.query(probe(), 10, Filters.of(flagged=True))} == {"a", "e"}
        assert "b" in {s.id for s in store.query(probe(), 10, Filters.of(flagged=False, audience="admin"))}

    def test_flag_survives_reopen(self, store: VectorStore) -> None:
        store.upsert(
            [*hand_made(), VectorRecord("poisoned", unit([1, 0, 0, 0, 0, 0, 0, 1]), "network", "all", (), True)]
        )
        reopened = self.reopen(store)
        try:
            assert [s.id for s in reopened.query(probe(), 10, Filters.of(flagged=True))] == ["poisoned"]
            assert "poisoned" not in {s.id for s in reopened.query(probe(), 10, Filters.of(flagged=False))}
        finally:
            reopened.close()

    @pytest.mark.parametrize("reader", sorted(READERS))
    def test_each_reader_gets_exactly_the_sections_of_their_audiences(self, store: VectorStore, reader: str) -> None:
        chunks = audience_chunks()
        vectors = random_units(seed=21, n=len(chunks))
        records = [
            VectorRecord(c.id, vectors[i], c.category, c.audience, c.tags, c.flagged) for i, c in enumerate(chunks)
        ]
        store.upsert(records)
        audiences, wanted = READERS[reader]
        filters = Filters.of(audience=audiences)
        found = store.query(probe(), 100, filters)
        assert_same(found, expected(records, probe(), 100, filters))
        by_id = {c.id: c for c in chunks}
        got = {(by_id[s.id].doc_id, by_id[s.id].section_path.split(" > ")[-1]) for s in found}
        assert got == wanted
        for audience in audiences:  # one audience at a time, too: a store must not widen a filter
            single = Filters.of(audience=audience)
            assert_same(store.query(probe(), 100, single), expected(records, probe(), 100, single))

    def test_close_twice_is_harmless(self, store: VectorStore) -> None:
        store.upsert(hand_made())
        store.close()
        store.close()

    def test_reopen_keeps_everything(self, store: VectorStore) -> None:
        records = [*hand_made(), VectorRecord("bare", unit([0, 0, 1, 0, 0, 0, 0, 1]))]
        store.upsert(records)
        store.delete(["e"])
        kept = [r for r in records if r.id != "e"]
        reopened = self.reopen(store)
        try:
            assert reopened.count() == 6
            assert reopened.ids() == {r.id for r in kept}
            assert_same(reopened.query(probe(), 10), expected(kept, probe(), 10))
            filters = Filters.of(category="network", tags="vpn")
            assert_same(reopened.query(probe(), 10, filters), expected(kept, probe(), 10, filters))
        finally:
            reopened.close()
