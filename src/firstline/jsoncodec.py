"""JSON text in and out, on the paths every turn takes (stored state and events, replies, SSE frames).

:func:`dumps` writes the document the standard library's ``json.dumps(value, default=...,
ensure_ascii=False, separators=(",", ":"))`` writes, with orjson (several times faster), and falls
back to the standard library for what orjson would write differently or refuse: a datetime or a
dataclass (the standard library calls ``default`` for them, orjson would not), an integer over 64 bits,
a nesting deeper than orjson's limit. NaN and infinities, which JSON has no words for, become ``null``
(the standard library writes ``NaN``, which no strict parser reads). :func:`loads` reads with orjson
and, for what it refuses (``NaN`` in old text), with the standard library, whose errors are the ones a
caller sees.

Below every other layer: depends on the standard library and orjson only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["dumps", "dumps_bytes", "loads"]

# Non-string keys become strings as in the standard library; datetimes and dataclasses go to ``default``
# (or fail) as they would there.
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps_bytes(value: Any, *, default: Callable[[Any], Any] | None = None) -> bytes:
    """``value`` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(value, default=default, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is one: let the standard library write it or raise its error
        return json.dumps(value, default=default, ensure_ascii=False, separators=(",", ":")).encode()


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None) -> str:
    """``value`` as compact JSON text (non-ASCII characters as themselves)."""
    return dumps_bytes(value, default=default).decode()


def loads(text: str | bytes) -> Any:
    """The value that JSON ``text`` writes."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
