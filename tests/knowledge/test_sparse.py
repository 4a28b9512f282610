from __future__ import annotations

from pathlib import Path

import numpy as np

from firstline.knowledge.models import Chunk, Filters
from firstline.knowledge.sparse import BM25Index, tokenize


def _chunk(id_: str, text: str, category: str | None = None, tags: tuple[str, ...] = ()) -> Chunk:
    return Chunk(id_, id_, id_, id_, text, "src", 0, category=category, tags=tags)


CHUNKS = [
    _chunk("wu", "Windows Update fails with error 0x80070005 access denied", "computer", ("windows",)),
    _chunk("vpn", "GlobalProtect VPN keeps disconnecting from the gateway", "network", ("vpn",)),
    _chunk("wifi", "Cannot join the Wi-Fi network NW-Corp", "network", ("wifi",)),
    _chunk("inc", "Ticket INC0012345 was escalated to Messaging", "ticket"),
]


def test_tokenize_keeps_codes_whole_and_as_parts() -> None:
    tokens = tokenize("Error 0x80070005 on Wi-Fi, see INC0012345")
    assert "0x80070005" in tokens
    assert "inc0012345" in tokens
    assert {"wi-fi", "wifi", "fi"} <= set(tokens)
    assert "on" not in tokens


def test_search_finds_exact_codes_and_stems() -> None:
    index = BM25Index()
    index.build(CHUNKS)
    assert index.search("0x80070005", 2)[0][0] == "wu"
    assert index.search("disconnects", 2)[0][0] == "vpn"
    assert index.search("wifi", 1)[0][0] == "wifi"
    assert index.search("INC0012345 status", 1)[0][0] == "inc"
    assert index.search("zebra", 3) == []


def test_mask_filters_and_best_possible(tmp_path: Path) -> None:
    index = BM25Index()
    index.build(CHUNKS)
    mask = index.mask(Filters.of(category="network"))
    assert mask.tolist() == [0.0, 1.0, 1.0, 0.0]
    assert {i for i, _ in index.search("network gateway error", 5, mask)} == {"vpn", "wifi"}
    top_score = index.search("GlobalProtect gateway", 1)[0][1]
    assert 0 < top_score <= index.best_possible("GlobalProtect gateway") + 1e-6
    assert index.best_possible("zebra") == 0.0


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    index = BM25Index()
    index.build(CHUNKS)
    index.save(tmp_path / "kw")
    loaded = BM25Index.load(tmp_path / "kw")
    assert loaded.ids == index.ids
    np.testing.assert_allclose(loaded.scores("vpn gateway"), index.scores("vpn gateway"), rtol=1e-6)
    assert loaded.mask(Filters.of(tags="wifi")).tolist() == [0.0, 0.0, 1.0, 0.0]


def test_empty_index() -> None:
    index = BM25Index()
    index.build([])
    assert index.search("anything", 5) == []
    assert len(index) == 0
