"""The OData ``$filter`` subset the Microsoft Graph fake understands, and ``$select`` / ``$expand`` parsing.

``$filter``: comparisons ``name op literal`` (``eq ne ge le gt lt``) joined by ``and`` / ``or`` (``and``
binds tighter) and grouped with parentheses; literals are ``'text'`` (``''`` is a quote), ``true``,
``false``, ``null``, numbers and bare ISO 8601 times. Text compares without regard to case, as
Entra ID's directory does; times compare as times. Anything else is a :class:`FilterError`, which the
fake answers with 400, as Graph answers a filter it does not support.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

__all__ = ["FilterError", "Predicate", "parse_expand", "parse_filter", "parse_select"]

Predicate = Callable[[Mapping[str, Any]], bool]
_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<text>'(?:[^']|'')*')|"
    r"(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)|(?P<word>[A-Za-z0-9_./@-]+))"
)
_OPS = ("eq", "ne", "ge", "le", "gt", "lt")


class FilterError(ValueError):
    """A ``$filter`` outside the supported subset, or on a property the collection does not filter on."""


def parse_filter(text: str, allowed: Collection[str]) -> tuple[Predicate, set[str], bool]:
    """A predicate for ``text``, the properties it names, and whether it uses ``or``."""
    tokens = _tokens(text)
    names: set[str] = set()
    uses_or = "or" in [t[1] for t in tokens if t[0] == "word"]
    position = 0

    def expression() -> Predicate:
        nonlocal position
        left = conjunction()
        while position < len(tokens) and tokens[position] == ("word", "or"):
            position += 1
            right, first = conjunction(), left
            left = _either(first, right)
        return left

    def conjunction() -> Predicate:
        nonlocal position
        left = comparison()
        while position < len(tokens) and tokens[position] == ("word", "and"):
            position += 1
            right, first = comparison(), left
            left = _both(first, right)
        return left

    def comparison() -> Predicate:
        nonlocal position
        if position < len(tokens) and tokens[position][0] == "open":
            position += 1
            inner = expression()
            if position >= len(tokens) or tokens[position][0] != "close":
                raise FilterError(f"unbalanced parentheses in {text!r}")
            position += 1
            return inner
        if position + 3 > len(tokens):
            raise FilterError(f"incomplete comparison in {text!r}")
        (kind, name), (_, op), literal = tokens[position], tokens[position + 1], tokens[position + 2]
        if kind != "word" or op not in _OPS:
            raise FilterError(f"cannot read {text!r} at {name!r}")
        if name not in allowed:
            raise FilterError(f"filtering on {name!r} is not supported here")
        names.add(name)
        position += 3
        return _compare(name, op, _value(literal))

    predicate = expression()
    if position != len(tokens):
        raise FilterError(f"unexpected {tokens[position][1]!r} in {text!r}")
    return predicate, names, uses_or


def parse_select(text: str, known: Collection[str], kind: str) -> list[str]:
    """The properties of a ``$select``; an unknown one is refused as Graph refuses it."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in known:
            raise FilterError(f"Could not find a property named '{name}' on type 'microsoft.graph.{kind}'.")
    return names


def parse_expand(text: str) -> list[str]:
    """``manager($select=employeeId)`` -> the manager's selected properties (the only expansion served)."""
    match = re.fullmatch(r"manager(?:\(\$select=([A-Za-z,]+)\))?", text.strip())
    if match is None:
        raise FilterError(f"$expand={text!r} is not supported by this fake (only manager)")
    return [n for n in (match.group(1) or "id,displayName").split(",") if n]


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterError(f"cannot read {text!r} at position {position}")
        kind = match.lastgroup or "word"
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


def _value(token: tuple[str, str]) -> Any:
    kind, raw = token
    if kind == "text":
        return raw[1:-1].replace("''", "'")
    if kind == "time":
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    raise FilterError(f"{raw!r} is not a literal (quote text: 'like this')")


def _either(left: Predicate, right: Predicate) -> Predicate:
    return lambda item: left(item) or right(item)


def _both(left: Predicate, right: Predicate) -> Predicate:
    return lambda item: left(item) and right(item)


def _compare(name: str, op: str, wanted: Any) -> Predicate:
    def test(item: Mapping[str, Any]) -> bool:
        have: Any = item
        for part in name.split("/"):
            have = have.get(part) if isinstance(have, Mapping) else None
        if isinstance(wanted, datetime) and isinstance(have, str):
            have = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", have).replace("Z", "+00:00"))
        if isinstance(wanted, str) and isinstance(have, str):
            have, want = have.casefold(), wanted.casefold()
        else:
            want = wanted
        if op in ("eq", "ne"):
            return bool((have == want) == (op == "eq"))
        if have is None or want is None:
            return False
        return bool({"ge": have >= want, "le": have <= want, "gt": have > want, "lt": have < want}[op])

    return test
