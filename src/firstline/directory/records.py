"""Plain data (YAML rows, JSON columns) to directory records and back, driven by the dataclass fields.

:func:`from_record` checks every value against the field's annotation (``str``, ``int``, ``float``,
``bool``, ``date``, aware ``datetime``, ``X | None``, ``tuple[X, ...]``, ``Mapping[str, X]`` and
nested records), so the YAML loader and the SQL store share one strict reader and a typo in a file
becomes a :class:`~firstline.errors.ConfigError` that names the file, the entry and the field.
:func:`to_plain` is the inverse: JSON-safe values (dates as ISO text); :func:`to_row` keeps the
top-level dates and times of a record for the database's own column types.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from firstline.errors import ConfigError

__all__ = ["from_record", "to_plain", "to_row"]

R = TypeVar("R")


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def from_record(cls: type[R], data: Mapping[str, Any], where: str) -> R:
    """A ``cls`` record built from ``data``; ``where`` (e.g. ``"accounts.yaml[3] (r.chen)"``) prefixes errors.

    Fields with a default may be left out; unknown keys and values of the wrong type are errors.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of fields, got {_shown(data)}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown field {unknown[0]!r}. The fields of {cls.__name__} are: {', '.join(fields)}."
        )
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name in data:
            values[name] = _convert(_hints(cls)[name], data[name], f"{where}: `{name}`")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: the field `{name}` is missing; add it (see the folder's README.md).")
    return cls(**values)


def to_plain(value: Any) -> Any:
    """``value`` as JSON-safe data: records become dicts, tuples lists, dates and datetimes ISO text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    return value


def to_row(record: Any) -> dict[str, Any]:
    """A record as a database row: nested values (tuples, mappings, records) as JSON data, the rest as they are."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        nested = isinstance(value, tuple | Mapping) or dataclasses.is_dataclass(value)
        values[field.name] = to_plain(value) if nested else value
    return values


def _convert(hint: Any, value: Any, what: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = (arg for arg in args if arg is not type(None))
        return _convert(inner, value, what)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{what} must be a list, got {_shown(value)}.")
        return tuple(_convert(args[0], item, f"{what}[{i}]") for i, item in enumerate(value))
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{what} must be a mapping, got {_shown(value)}.")
        return {_convert(args[0], k, what): _convert(args[1], v, f"{what}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_record(hint, value, what)
    return _scalar(hint, value, what)


def _scalar(hint: Any, value: Any, what: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{what} must be true or false, got {_shown(value)}.")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{what} must be text, got {_shown(value)}; quote it, e.g. '{value}'.")
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is datetime:
        return _datetime(value, what)
    if hint is date:
        if isinstance(value, str):
            value = _parse(date.fromisoformat, value, what, "a date like 2026-11-28")
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        raise ConfigError(f"{what} must be a date like 2026-11-28, got {_shown(value)}.")
    if hint in (int, float):
        raise ConfigError(f"{what} must be a number, got {_shown(value)}.")
    raise TypeError(f"{what}: no conversion to {hint!r}")  # a field type this module does not know: a bug


def _datetime(value: Any, what: str) -> datetime:
    if isinstance(value, str):
        value = _parse(datetime.fromisoformat, value, what, "a UTC time like 2026-11-28T08:30:00Z")
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ConfigError(f"{what} must be a UTC time with its zone, like 2026-11-28T08:30:00Z, got {_shown(value)}.")
    return value.astimezone(UTC)


def _parse(parse: typing.Callable[[str], Any], text: str, what: str, expected: str) -> Any:
    try:
        return parse(text)
    except ValueError:
        raise ConfigError(f"{what} must be {expected}, got {text!r}.") from None


def _shown(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"
