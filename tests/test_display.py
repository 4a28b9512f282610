"""firstline.display: stored text shown in a terminal, never obeyed by it."""

from __future__ import annotations

import json
import re

import pytest

from firstline.display import for_terminal, json_for_terminal

BIDI = [chr(c) for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))]
# Anything a terminal could act on: C0 but tab and newline, DEL, C1, and every bidi control.
OBEYED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),  # OSC: retitle the window
        ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),  # CSI: clear the screen
        ("\x1bP+q544e\x1b\\", "\\x1bP+q544e\\x1b\\"),  # DCS ... ST
        ("\x9b31mred", "\\x9b31mred"),  # the one-byte C1 CSI
        ("\x9d8;;http://evil\x9c", "\\x9d8;;http://evil\\x9c"),  # C1 OSC hyperlink
        ("ok\x08\x08no", "ok\\x08\\x08no"),  # backspaces that would overwrite "ok"
        ("safe\rEVIL", "safe\\x0dEVIL"),  # a lone CR rewrites the line
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
    ],
)
def test_control_sequences_are_shown_escaped(text: str, shown: str) -> None:
    assert for_terminal(text) == shown
    assert not OBEYED.search(for_terminal(text))


@pytest.mark.parametrize("char", BIDI)
def test_every_bidi_control_is_shown_as_its_code_point(char: str) -> None:
    assert for_terminal(f"invoice{char}fdp.exe") == f"invoice<U+{ord(char):04X}>fdp.exe"


def test_right_to_left_override_no_longer_reorders_a_file_name() -> None:
    assert for_terminal("report\u202eexe.txt") == "report<U+202E>exe.txt"


def test_invisible_characters_are_shown() -> None:
    hidden = "pay\u200bpal\u2060\ufeff\u2028\U000e0041\ud800"
    assert for_terminal(hidden) == "pay<U+200B>pal<U+2060><U+FEFF><U+2028><U+E0041><U+D800>"


def test_ordinary_text_newlines_tabs_and_scripts_are_kept() -> None:
    text = "Line one\n\tindented · café · Łódź · مرحبا · שלום · 日本語 · 👩\u200d💻 · [bold]not markup here[/]"
    assert for_terminal(text) == text
    assert for_terminal("windows\r\nline") == "windows\nline"


def test_json_for_terminal_escapes_what_json_leaves_raw_and_round_trips() -> None:
    data = {"text": "a\x1b[2J\x9b\u202eexe.txt\u2066\U000e0041 café\n", "n": [1, None]}
    out = json_for_terminal(data)
    assert not OBEYED.search(out) and "\U000e0041" not in out
    assert "\\u202e" in out and "\\u009b" in out and "café" in out
    assert json.loads(out) == data
