"""Text from outside (messages, ticket fields, names, file names) made safe to show in a terminal.

A stored message can carry terminal escape sequences (``"\\x1b]0;pwned\\x07"`` retitles the
operator's window, ``"\\x1b[2J"`` clears it, ``"\\x9b"`` is a one-byte CSI) or Unicode bidi
controls that reorder what the reader sees (``"\\u202eexe.txt"`` reads as ``txt.exe``).
:func:`for_terminal` shows each of them instead of obeying it; newlines and tabs are kept::

    >>> for_terminal("invoice\\u202eexe.txt\\x1b[2J")
    'invoice<U+202E>exe.txt\\\\x1b[2J'

:func:`json_for_terminal` is the same guard for ``--json`` output: it writes the unsafe characters
as JSON escapes, so the text still parses to exactly what was stored.

Standard library only: this module sits below every other layer.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["for_terminal", "json_for_terminal"]

# C0 controls but tab and newline, DEL and the C1 controls (0x9b is CSI, 0x9d OSC, 0x90 DCS).
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f"
# Bidi controls: ALM, LRM/RLM, the embeddings and overrides (LRE..RLO), the isolates (LRI..PDI).
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Invisible characters that hide or split text: zero-width space, line/paragraph separators, word
# joiner and invisible operators, deprecated format controls, BOM, interlinear annotations, tag
# characters (invisible ASCII look-alikes) and lone surrogates (which a terminal cannot encode).
_INVISIBLE = "\u200b\u2028\u2029\u2060-\u2065\u206a-\u206f\ufeff\ufff9-\ufffb\U000e0000-\U000e007f\ud800-\udfff"

_UNSAFE = re.compile(f"[{_CONTROLS}{_BIDI}{_INVISIBLE}]")
_CONTROL = re.compile(f"[{_CONTROLS}]")


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    if _CONTROL.fullmatch(char):
        return f"\\x{ord(char):02x}"
    return f"<U+{ord(char):04X}>"


def for_terminal(text: str) -> str:
    """``text`` with every control character and bidi or invisible formatting character made visible.

    Controls become their escaped form (ESC -> ``\\x1b``, a lone CR -> ``\\x0d``); bidi and invisible
    characters become ``<U+202E>``. Newlines and tabs stay; ``\\r\\n`` becomes ``\\n``.
    """
    return _UNSAFE.sub(_shown, text.replace("\r\n", "\n"))


def _json_escape(match: re.Match[str]) -> str:
    return json.dumps(match.group())[1:-1]  # ensure_ascii: \u001b, \u202e, or a surrogate pair for tags


def json_for_terminal(data: Any, indent: int | None = 2) -> str:
    """``data`` as JSON (non-ASCII letters kept readable), with the characters :func:`for_terminal`
    neutralises written as JSON ``\\u`` escapes (four hex digits): the output parses back to exactly ``data``."""
    return _UNSAFE.sub(_json_escape, json.dumps(data, indent=indent, ensure_ascii=False))
