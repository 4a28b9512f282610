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


# A converter turns one plain value into the annotated type; ``what`` makes the error's prefix, only when
# there is an error (the SQL store reads ~10 records a turn: building every field's prefix cost more than
# the conversion). Converters are built once per annotation, plans once per record class.
Converter = typing.Callable[[Any, typing.Callable[[], str]], Any]
_CONVERTERS: dict[Any, Converter] = {}
_PLANS: dict[type[Any], tuple[frozenset[str], tuple[tuple[str, Converter, bool], ...]]] = {}


def from_record(cls: type[R], data: Mapping[str, Any], where: str) -> R:
    """A ``cls`` record built from ``data``; ``where`` (e.g. ``"accounts.yaml[3] (r.chen)"``) prefixes errors.

    Fields with a default may be left out; unknown keys and values of the wrong type are errors.
    """
    return _from_record(cls, data, lambda: where)


def _from_record(cls: type[R], data: Any, where: typing.Callable[[], str]) -> R:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where()}: expected a mapping of fields, got {_shown(data)}.")
    names, plan = _plan(cls)
    if not names.issuperset(data.keys()):
        unknown = sorted(set(data) - names)
        raise ConfigError(
            f"{where()}: unknown field {unknown[0]!r}. The fields of {cls.__name__} are: "
            f"{', '.join(name for name, _, _ in plan)}."
        )
    values: dict[str, Any] = {}
    for name, convert, required in plan:
        if name in data:
            values[name] = convert(data[name], lambda name=name: f"{where()}: `{name}`")  # type: ignore[misc]
        elif required:
            raise ConfigError(f"{where()}: the field `{name}` is missing; add it (see the folder's README.md).")
    return cls(**values)


def _plan(cls: type[Any]) -> tuple[frozenset[str], tuple[tuple[str, Converter, bool], ...]]:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)
        plan = _PLANS[cls] = (
            frozenset(f.name for f in fields),
            tuple(
                (
                    f.name,
                    _converter(hints[f.name]),
                    f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                )
                for f in fields
            ),
        )
    return plan


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


def _converter(hint: Any) -> Converter:
    convert = _CONVERTERS.get(hint)
    if convert is None:
        convert = _CONVERTERS[hint] = _build(hint)
    return convert


def _build(hint: Any) -> Converter:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        optional = type(None) in args
        (inner_hint,) = (arg for arg in args if arg is not type(None))
        inner = _converter(inner_hint)
        return lambda value, what: None if value is None and optional else inner(value, what)
    if origin is tuple:
        item = _converter(args[0])

        def to_tuple(value: Any, what: typing.Callable[[], str]) -> Any:
            if not isinstance(value, list | tuple):
                raise ConfigError(f"{what()} must be a list, got {_shown(value)}.")
            return tuple(item(v, lambda i=i: f"{what()}[{i}]") for i, v in enumerate(value))  # type: ignore[misc]

        return to_tuple
    if origin is Mapping:
        key, item = _converter(args[0]), _converter(args[1])

        def to_mapping(value: Any, what: typing.Callable[[], str]) -> Any:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{what()} must be a mapping, got {_shown(value)}.")
            return {key(k, what): item(v, lambda k=k: f"{what()}.{k}") for k, v in value.items()}  # type: ignore[misc]

        return to_mapping
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda value, what: _from_record(hint, value, what)
    if hint is str:
        return lambda value, what: value if type(value) is str else _scalar(hint, value, what())
    if hint is bool:
        return lambda value, what: value if type(value) is bool else _scalar(hint, value, what())
    if hint is int:
        return lambda value, what: value if type(value) is int else _scalar(hint, value, what())
    return lambda value, what: _scalar(hint, value, what())


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
