from __future__ import annotations

from firstline.knowledge.chunking import Chunker
from firstline.knowledge.models import Document, Section


def _doc(*sections: Section, tags: tuple[str, ...] = ()) -> Document:
    return Document("runbooks/vpn.md", "VPN", "/kb/vpn.md", sections, category="network", tags=tags)


def test_each_section_is_its_own_chunk_with_its_path() -> None:
    doc = _doc(Section(("VPN", "Symptoms"), "Drops every 5 minutes."), Section(("VPN", "Steps"), "1. Reconnect."))
    chunks = Chunker().chunk(doc)
    assert [c.section_path for c in chunks] == ["VPN > Symptoms", "VPN > Steps"]
    assert [c.position for c in chunks] == [0, 1]
    assert chunks[0].index_text() == "VPN > Symptoms\nDrops every 5 minutes."
    assert all(c.category == "network" and c.doc_id == "runbooks/vpn.md" for c in chunks)


def test_ids_are_stable_and_change_with_text_or_metadata() -> None:
    section = Section(("VPN", "Steps"), "1. Reconnect.")
    first = Chunker().chunk(_doc(section))[0].id
    assert Chunker().chunk(_doc(section))[0].id == first
    assert Chunker().chunk(_doc(Section(("VPN", "Steps"), "1. Reboot.")))[0].id != first
    assert Chunker().chunk(_doc(section, tags=("vpn",)))[0].id != first


def test_duplicate_text_in_one_section_gets_distinct_ids() -> None:
    doc = _doc(Section(("VPN", "A"), "Same."), Section(("VPN", "A"), "Same."))
    ids = [c.id for c in Chunker().chunk(doc)]
    assert len(set(ids)) == 2


def test_long_sections_split_on_paragraphs_under_the_limit() -> None:
    paragraphs = [" ".join(f"p{i}w{j}" for j in range(30)) for i in range(10)]
    chunker = Chunker(max_words=100, overlap_words=40)
    pieces = chunker.split("\n\n".join(paragraphs))
    assert len(pieces) >= 3
    assert all(len(p.split()) <= 100 for p in pieces)
    # every paragraph survives, and the overlap repeats a whole paragraph at each cut
    joined = "\n\n".join(pieces)
    assert all(p in joined for p in paragraphs)
    assert pieces[1].startswith(pieces[0].split("\n\n")[-1])


def test_one_giant_sentence_is_cut_into_word_windows() -> None:
    text = " ".join(f"w{i}" for i in range(450))
    pieces = Chunker(max_words=100, overlap_words=20).split(text)
    assert all(len(p.split()) <= 100 for p in pieces)
    words = set(" ".join(pieces).split())
    assert words == {f"w{i}" for i in range(450)}


def test_empty_sections_produce_nothing() -> None:
    assert Chunker().chunk(_doc(Section(("VPN",), "   "))) == []


def test_a_long_table_is_cut_between_rows_and_each_piece_keeps_the_header() -> None:
    """A Markdown table longer than a piece was cut into word windows, its rows run together on one line (an
    employee asking about Teams retention got "| Information | Kept for | ... | Email ..." as one line). Now
    it is cut between whole rows, and each piece repeats the header and rule line, so it reads as a table."""
    header = "| Information | Kept for | What happens after |\n|---|---|---|"
    rows = [f"| Record kind {i} with a few describing words | {i} years from the date | Deleted |" for i in range(30)]
    text = "Intro paragraph about retention.\n\n" + header + "\n" + "\n".join(rows)
    pieces = Chunker(max_words=120, overlap_words=20).split(text)
    tables = [p for p in pieces if "| Information |" in p]
    assert len(tables) >= 3
    seen: list[str] = []
    for piece in tables:
        lines = piece[piece.index("| Information |") :].splitlines()
        assert lines[:2] == header.splitlines()
        assert all(line.startswith("| Record kind") and line.endswith("|") for line in lines[2:])
        seen += lines[2:]
    assert seen == rows  # every row once, whole, in order
    assert Chunker(max_words=400).split(header + "\n" + rows[0]) == [header + "\n" + rows[0]]  # short: as it was
