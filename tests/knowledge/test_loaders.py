from __future__ import annotations

from pathlib import Path

import pytest

from firstline.errors import DocumentLoadError
from firstline.knowledge.loaders import load_file, split_markdown

MARKDOWN = """---
title: VPN
category: Network
audience: employee
tags: [vpn, GlobalProtect]
last_reviewed: 2026-09-14
---
# VPN

Intro text.

## Client keeps disconnecting

Context.

### Steps

1. Open GlobalProtect.
2. Click Refresh Connection.

```
# not a heading inside a fence
```

## When to escalate

Call Network Operations.
"""


def test_markdown_front_matter_and_section_paths(tmp_path: Path) -> None:
    path = tmp_path / "vpn.md"
    path.write_text(MARKDOWN)
    [doc] = load_file(path, "vpn.md")
    assert doc.title == "VPN"
    assert doc.category == "network"
    assert doc.audience == "employee"
    assert doc.tags == ("vpn", "globalprotect")
    assert doc.extra["last_reviewed"] == "2026-09-14"
    paths = [" > ".join(s.path) for s in doc.sections]
    assert paths == [
        "VPN",
        "VPN > Client keeps disconnecting",
        "VPN > Client keeps disconnecting > Steps",
        "VPN > When to escalate",
    ]
    steps = doc.sections[2].text
    assert "2. Click Refresh Connection." in steps
    assert "# not a heading inside a fence" in steps


def test_markdown_without_front_matter_uses_h1_then_file_name(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Printer jams\n\nOpen tray 2.\n")
    (tmp_path / "paper-jam_tray2.md").write_text("Open tray 2.\n")
    assert load_file(tmp_path / "a.md", "a")[0].title == "Printer jams"
    assert load_file(tmp_path / "paper-jam_tray2.md", "b")[0].title == "Paper jam tray2"


def test_split_markdown_pops_deeper_headings() -> None:
    title, sections = split_markdown("# T\n## A\n### B\nb\n## C\nc\n")
    assert title == "T"
    assert [s.path for s in sections] == [("A", "B"), ("C",)]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("---\ntitle: [unclosed\n---\nbody", "invalid YAML front matter"),
        ("---\ntitle: x\nbody without end", "never closed"),
        ("---\n- a list\n---\nbody", "must be a YAML mapping"),
    ],
)
def test_bad_front_matter_is_a_load_error_naming_the_file(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "bad.md"
    path.write_text(content)
    with pytest.raises(DocumentLoadError, match=reason) as info:
        load_file(path, "bad.md")
    assert str(path) in str(info.value)


def test_html_headings_become_section_paths(tmp_path: Path) -> None:
    path = tmp_path / "wifi.html"
    path.write_text(
        "<html><head><title>Office Wi-Fi</title><meta name='category' content='network'>"
        "<script>alert('x')</script></head><body><nav>menu</nav><h1>Office Wi-Fi</h1><p>Use NW-Corp.</p>"
        "<h2>Steps</h2><ol><li>Open Settings &gt; Network</li><li>Pick NW-Corp</li></ol></body></html>"
    )
    [doc] = load_file(path, "wifi.html")
    assert doc.title == "Office Wi-Fi"
    assert doc.category == "network"
    assert [s.path for s in doc.sections] == [("Office Wi-Fi",), ("Office Wi-Fi", "Steps")]
    assert "Open Settings > Network" in doc.sections[1].text
    text = " ".join(s.text for s in doc.sections)
    assert "alert" not in text and "menu" not in text


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "support-hours.txt"
    path.write_text("The desk is open 07:00-19:00.\n")
    [doc] = load_file(path, "support-hours.txt")
    assert doc.title == "Support hours"
    assert doc.sections[0].text == "The desk is open 07:00-19:00."


def _tiny_pdf(text: str) -> bytes:
    """A minimal one-page PDF with one line of text, built by hand (no PDF writer needed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_pages_become_sections(tmp_path: Path) -> None:
    path = tmp_path / "toner-policy.pdf"
    path.write_bytes(_tiny_pdf("Order toner through PaperCut"))
    [doc] = load_file(path, "toner-policy.pdf")
    assert doc.sections[0].path == ("Toner policy", "Page 1")
    assert "Order toner through PaperCut" in doc.sections[0].text


def test_corrupt_pdf_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n garbage that is not a pdf")
    with pytest.raises(DocumentLoadError) as info:
        load_file(path, "broken.pdf")
    assert "broken.pdf" in str(info.value)


def test_binary_file_with_text_suffix_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "blob.txt"
    path.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(DocumentLoadError, match="binary"):
        load_file(path, "blob.txt")


def test_beir_corpus(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text(
        '{"_id": "d1", "title": "Reset voicemail", "text": "Press * then 9."}\n'
        '\n{"_id": "d2", "title": "Screen", "text": "Open Settings.", "section_path": "Settings > Display",'
        ' "url": "https://example.test/display"}\n'
    )
    docs = load_file(path, "corpus.jsonl")
    assert [d.doc_id for d in docs] == ["d1", "d2"]
    assert docs[0].sections[0].path == ("Reset voicemail",)
    assert docs[1].sections[0].path == ("Settings", "Display")
    assert docs[1].url == "https://example.test/display"


@pytest.mark.parametrize("line", ["not json", '{"title": "no id"}', "[1, 2]"])
def test_beir_corpus_bad_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": "d1", "text": "ok"}\n' + line + "\n")
    with pytest.raises(DocumentLoadError, match="line 2"):
        load_file(path, "corpus.jsonl")


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(DocumentLoadError, match="unsupported file type"):
        load_file(path, "sheet.xlsx")
