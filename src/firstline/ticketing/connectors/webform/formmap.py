"""The form map: a TOML document that says where things are in a legacy ticket web app.

Fields are found by the text of their ``<label>`` (and buttons and links by their visible text), never
by CSS ids, so a map reads like instructions to a person::

    name = "HelpDesk 2003"
    home = "/desk"                          # the page after login (a frameset is fine)
    time_format = "%Y-%m-%d %H:%M:%S"       # how the app writes times; `timezone` says which zone

    [login]
    path = "/login"
    submit = "Log in"
    failure_text = "Invalid user name or password"
    fields = { user = "User name", password = "Password" }   # credential -> label

    [forms.new_call]                        # also: forms.search, forms.update, forms.since
    nav = ["New call"]                      # links clicked, in order, in `nav_frame`
    nav_frame = "nav"
    frame = "main"                          # the frame the form shows in ("" = the page itself)
    submit = "Log call"
    result = 'Call logged:\\s*(CALL-\\d+)'   # the call number on the confirmation page
    fields = { short_description = "Summary", reference = "Reference", ... }  # ticket field -> label

    [view]                                   # the call's page: labels of its <th>/<td> rows, the notes table
    [values.state]                           # Firstline values -> the app's option texts

:func:`parse_form_map` checks the whole document up front and raises
:class:`~firstline.errors.ConfigError` naming the key at fault. At run time a label the page no
longer shows raises :class:`WebformMapError` naming the map key to update.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from firstline.errors import ConfigError, InputError

__all__ = [
    "FormSpec",
    "LoginSpec",
    "NotesSpec",
    "ViewSpec",
    "WebformMap",
    "WebformMapError",
    "load_form_map",
    "parse_form_map",
]

FORMS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # form name -> (fields it must map, fields it may map)
    "new_call": (
        frozenset({"short_description", "reference"}),
        frozenset({"requester", "description", "urgency", "impact", "category", "assignment_group", "assigned_to"}),
    ),
    "search": (frozenset({"query"}), frozenset()),
    "update": (
        frozenset({"state"}),
        frozenset(
            {"resolution_note", "note", "internal", "assigned_to", "assignment_group", "urgency", "impact"}
            | {"category", "short_description", "description", "parent"}
        ),
    ),
    "since": (frozenset({"since"}), frozenset()),
}
VIEW_REQUIRED = frozenset({"number", "state", "updated_at"})
VIEW_OPTIONAL = frozenset(
    {"reference", "requester", "short_description", "description", "urgency", "impact", "priority", "category"}
    | {"assignment_group", "assigned_to", "resolution_note", "parent_number"}
)
VALUE_TABLES = frozenset({"state", "urgency", "impact", "priority", "category"})


class WebformMapError(InputError):
    """The page does not show what the form map says (a label, button, link, frame or table): the app changed.

    ``key`` is the form map key to update, e.g. ``forms.new_call.fields.short_description``.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)

    @classmethod
    def missing(cls, key: str, what: str, where: str, detail: str = "") -> WebformMapError:
        extra = f" {detail}" if detail else ""
        return cls(
            key,
            f"The legacy ticket app's {where} has no {what} (form map key `{key}`): the page has changed. "
            f"Set `{key}` in the form map to what the page shows now, or configure the computer-use "
            f"fallback (ticketing.webform.fallback).{extra}",
        )


@dataclass(frozen=True, slots=True)
class LoginSpec:
    """The login page: its path, credential -> field label, the button, the text shown on a refusal."""

    path: str
    fields: Mapping[str, str]
    submit: str
    failure_text: str = ""


@dataclass(frozen=True, slots=True)
class FormSpec:
    """One form: how to reach it (``start`` page, then ``nav`` links in ``nav_frame``), where it shows
    (``frame``), ticket field -> label, and the submit button. ``result`` finds the new number on the
    confirmation page; ``results`` is the caption of a result table and ``next`` its next-page link."""

    key: str
    title: str
    fields: Mapping[str, str]
    submit: str
    frame: str = ""
    nav: tuple[str, ...] = ()
    nav_frame: str = ""
    start: str = "home"
    result: re.Pattern[str] | None = None
    results: str = ""
    next: str = ""

    def field_key(self, name: str) -> str:
        return f"{self.key}.fields.{name}"


@dataclass(frozen=True, slots=True)
class NotesSpec:
    """The notes table on the view page: its caption, column headers, and the "public" marker."""

    table: str
    id: str
    time: str
    author: str
    visibility: str
    body: str
    public: str


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """The call's page: ticket field -> row label, the notes table, and ``url``, its address with ``{number}``
    (optional: it opens a call in one step, and becomes the ticket's link; without it calls are searched for)."""

    frame: str
    labels: Mapping[str, str]
    notes: NotesSpec
    url: str = ""


@dataclass(frozen=True, slots=True)
class WebformMap:
    """A parsed, checked form map (see the module docstring)."""

    name: str
    home: str
    login: LoginSpec
    forms: Mapping[str, FormSpec]
    columns: Mapping[str, str]
    view: ViewSpec
    values: Mapping[str, Mapping[str, str]]
    time_format: str
    timezone: str = "UTC"
    source: str = "<form map>"

    def form(self, name: str) -> FormSpec:
        return self.forms[name]

    def out(self, table: str, value: str) -> str:
        """``value`` as the app writes it (``values.<table>``); unmapped values go as they are."""
        return self.values.get(table, {}).get(value, value)

    def back(self, table: str, text: str) -> str | None:
        """The Firstline value that ``values.<table>`` maps to ``text`` (case-insensitive), else ``None``."""
        folded = text.strip().casefold()
        return next((ours for ours, theirs in self.values.get(table, {}).items() if theirs.casefold() == folded), None)

    @property
    def zone(self) -> tzinfo:
        return UTC if self.timezone.upper() == "UTC" else ZoneInfo(self.timezone)

    def parse_time(self, text: str) -> datetime:
        """A time as the app writes it, as aware UTC (``InputError`` naming ``time_format`` if it does not fit)."""
        try:
            return datetime.strptime(text.strip(), self.time_format).replace(tzinfo=self.zone).astimezone(UTC)
        except ValueError as exc:
            raise InputError(
                f"The legacy ticket app wrote the time {text!r}, which does not fit `time_format` "
                f"({self.time_format!r}) in the form map {self.source}. Fix `time_format`."
            ) from exc

    def format_time(self, when: datetime) -> str:
        return when.astimezone(self.zone).strftime(self.time_format)


def load_form_map(path: Path | str) -> WebformMap:
    """Read and check the form map at ``path`` (:class:`ConfigError` naming the key at fault)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the form map {file} ({exc.strerror}). Point ticketing.webform.form_map "
            "(env FIRSTLINE_TICKETING__WEBFORM__FORM_MAP) at a readable TOML file."
        ) from exc
    return parse_form_map(text, source=str(file))


def parse_form_map(text: str, *, source: str = "<form map>") -> WebformMap:
    """Parse and check a form map document (see the module docstring for its layout)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The form map {source} is not valid TOML: {exc}.") from exc
    root = _Table(data, "", source)
    root.done({"name", "home", "login", "forms", "columns", "view", "values", "time_format", "timezone"})
    login_t = root.table("login")
    login_t.done({"path", "fields", "submit", "failure_text"})
    login = LoginSpec(
        path=login_t.text("path"),
        fields=login_t.mapping("fields", allowed={"user", "password"}, required={"user", "password"}),
        submit=login_t.text("submit"),
        failure_text=login_t.text("failure_text", ""),
    )
    forms_t = root.table("forms")
    forms_t.done(set(FORMS))
    forms = {name: _form(forms_t.table(name), name, *fields) for name, fields in FORMS.items()}
    view_t = root.table("view")
    view_t.done({"frame", "labels", "notes", "url"})
    notes_t = view_t.table("notes")
    notes_t.done(set(NotesSpec.__slots__))
    notes = NotesSpec(**{name: notes_t.text(name) for name in NotesSpec.__slots__})
    view = ViewSpec(
        frame=view_t.text("frame", ""),
        labels=view_t.mapping("labels", allowed=VIEW_REQUIRED | VIEW_OPTIONAL, required=VIEW_REQUIRED),
        notes=notes,
        url=view_t.text("url", ""),
    )
    values_t = root.table("values", required=False)
    values_t.done(VALUE_TABLES)
    values = {name: values_t.mapping(name, required=set(), optional=True) for name in VALUE_TABLES}
    form_map = WebformMap(
        name=root.text("name", "legacy ticket app"),
        home=root.text("home"),
        login=login,
        forms=forms,
        columns=root.mapping("columns", allowed={"number", "reference"}, required={"number", "reference"}),
        view=view,
        values=values,
        time_format=root.text("time_format", "%Y-%m-%d %H:%M:%S"),
        timezone=root.text("timezone", "UTC"),
        source=source,
    )
    try:
        _ = form_map.zone
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"The form map {source} names an unknown `timezone` ({form_map.timezone!r}).") from exc
    return form_map


def _form(table: _Table, name: str, required: frozenset[str], optional: frozenset[str]) -> FormSpec:
    table.done({"title", "fields", "submit", "frame", "nav", "nav_frame", "start", "result", "results", "next"})
    pattern = table.text("result", "" if name != "new_call" else None)
    result = None
    if pattern:
        try:
            result = re.compile(pattern)
        except re.error as exc:
            raise table.error("result", f"is not a valid regular expression ({exc})") from exc
        if result.groups > 1:
            raise table.error("result", "has more than one group: keep one group around the number")
    start = table.text("start", "home")
    if start not in ("home", "view"):
        raise table.error("start", f"is {start!r}; use 'home' (after login) or 'view' (the call's page)")
    spec = FormSpec(
        key=table.key,
        title=table.text("title", name.replace("_", " ")),
        fields=table.mapping("fields", allowed=required | optional, required=required),
        submit=table.text("submit"),
        frame=table.text("frame", ""),
        nav=table.texts("nav"),
        nav_frame=table.text("nav_frame", ""),
        start=start,
        result=result,
        results=table.text("results", "" if name in ("new_call", "update") else None),
        next=table.text("next", ""),
    )
    return spec


class _Table:
    """A TOML table being read, with its dotted key for error messages."""

    def __init__(self, data: Mapping[str, Any], key: str, source: str) -> None:
        self.data, self.key, self.source = data, key, source

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(f"The form map {self.source}: `{self.path(name)}` {problem}.")

    def text(self, name: str, default: str | None = None) -> str:
        value = self.data.get(name)
        if value is None:
            if default is None:
                raise self.error(name, "is missing: add it (a label, text or path as the page shows it)")
            return default
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise self.error(name, f"must be a non-empty string, not {value!r}")
        return value.strip()

    def texts(self, name: str) -> tuple[str, ...]:
        value = self.data.get(name, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(name, f"must be a list of link texts, not {value!r}")
        return tuple(v.strip() for v in value)

    def table(self, name: str, *, required: bool = True) -> _Table:
        value = self.data.get(name)
        if value is None and not required:
            value = {}
        if not isinstance(value, dict):
            raise self.error(name, "is missing: add the table" if value is None else "must be a table")
        return _Table(value, self.path(name), self.source)

    def mapping(
        self, name: str, *, allowed: set[str] | frozenset[str] | None = None, required: set[str] | frozenset[str],
        optional: bool = False,
    ) -> dict[str, str]:  # fmt: skip
        inner = self.table(name, required=not optional)
        if allowed is not None:
            inner.done(set(allowed))
        for field in sorted(required):
            inner.text(field)
        return {str(k): inner.text(str(k)) for k in inner.data}

    def done(self, known: set[str] | frozenset[str]) -> None:
        unknown = sorted(set(self.data) - set(known))
        if unknown:
            raise self.error(unknown[0], f"is not a key the form map knows; known here: {', '.join(sorted(known))}")
