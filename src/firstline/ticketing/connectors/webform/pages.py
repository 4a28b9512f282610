"""The app's pages read back into Firstline's snapshots: search results, the call page and its notes.

A call is opened the way a person would: the search form, then the link with its number in the
result table. The call page's ``<th>label</th><td>value</td>`` rows become a
:class:`~firstline.ticketing.remote.RemoteTicket` by the labels in ``[view.labels]``; the notes
table (``[view.notes]``) becomes :class:`~firstline.ticketing.remote.RemoteComment` s, ``ours`` when
the integration user wrote them. Option texts go back to Firstline's values through ``[values.*]``.
:meth:`CallPages.check` looks for every mapped label on every form and on a call's page.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from enum import IntEnum
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

from firstline.errors import BackendResponseError, TicketNotFoundError
from firstline.ticketing.connectors.webform.browser import FormDriver
from firstline.ticketing.connectors.webform.evidence import Trail
from firstline.ticketing.connectors.webform.formmap import FormSpec, WebformMap, WebformMapError
from firstline.ticketing.models import TicketState
from firstline.ticketing.remote import Check, RemoteComment, RemoteRef, RemoteTicket
from firstline.ticketing.sla import Impact, Priority, Urgency, priority_for

if TYPE_CHECKING:
    from playwright.sync_api import Frame

__all__ = ["CallPages"]

E = TypeVar("E", bound=IntEnum)


class CallPages:
    """Finds calls with the search form and reads their pages, as the form map describes them."""

    def __init__(self, form_map: WebformMap, base_url: str, system: str, user: str) -> None:
        self.map, self.base, self.system, self.user = form_map, base_url.rstrip("/"), system, user

    def open(self, d: FormDriver, trail: Trail, query: str, column: str) -> RemoteTicket | None:
        """Search for ``query`` and open the call whose ``columns.<column>`` cell equals it (``None``: no such call)."""
        spec = self.map.form("search")
        frame = d.open_form(spec, trail)
        d.fill(frame, spec, {"query": query}, trail)
        d.submit(frame, spec, trail)
        wanted, number_column = self.map.columns[column], self.map.columns["number"]
        hits = [r for r in self.rows(d, frame, spec) if r.get(wanted, "").casefold() == query.strip().casefold()]
        if not hits:
            trail.add("read", f"{spec.results} table", f"no call with {wanted} {query}", looked=True)
            return None
        if not hits[0].get(number_column):
            raise WebformMapError.missing("columns.number", f"column {number_column!r}", f"{spec.results} table")
        d.click_link(frame, hits[0][number_column], "columns.number", self.frame(d), trail)
        return self.ticket(d, trail)

    def open_number(self, d: FormDriver, trail: Trail, number: str) -> RemoteTicket:
        """Call ``number``'s page: straight from ``view.url`` (a 404 there: no such call), else by searching."""
        if self.map.view.url:
            d.home(trail)
            if d.goto(self.map.view.url.format(number=quote(number)), trail, self.frame(d)) == 404:
                raise TicketNotFoundError(number)
            if self.shown(d) == number:
                return self.ticket(d, trail)
            d.raise_if_login()
        found = self.open(d, trail, number, "number")
        if found is None:
            raise TicketNotFoundError(number)
        return found

    def frame(self, d: FormDriver) -> Frame:
        return d.frame(self.map.view.frame, "view.frame")

    def rows(self, d: FormDriver, frame: Frame, spec: FormSpec) -> list[dict[str, str]]:
        """The rows of ``spec``'s result table (header -> cell text)."""
        rows = d.table(frame, spec.results)
        if rows is None:
            d.raise_if_login()
            raise WebformMapError.missing(f"{spec.key}.results", f"table captioned {spec.results!r}", spec.title)
        return rows

    def shown(self, d: FormDriver) -> str | None:
        """The number of the call whose page is open now, if one is."""
        return d.pairs(self.frame(d)).get(self.map.view.labels["number"])

    def ticket(self, d: FormDriver, trail: Trail) -> RemoteTicket:
        """The call page that is open now, as a snapshot."""
        pairs, labels = d.pairs(self.frame(d)), self.map.view.labels

        def value(name: str) -> str:
            if name not in labels:
                return ""
            if labels[name] not in pairs:
                d.raise_if_login()
                raise WebformMapError.missing(f"view.labels.{name}", f"row labelled {labels[name]!r}", "call page")
            return pairs[labels[name]]

        number, status = value("number"), value("state")
        state = self.map.back("state", status) or status.casefold().replace(" ", "_")
        if state not in set(TicketState):
            raise BackendResponseError(
                f"Call {number} has the status {status!r}, which the form map's `values.state` does not map: add it."
            )
        urgency = _level(Urgency, value("urgency"), self.map.back("urgency", value("urgency")))
        impact = _level(Impact, value("impact"), self.map.back("impact", value("impact")))
        priority_text = value("priority")
        priority = _level(Priority, priority_text, None) if priority_text else priority_for(impact, urgency)
        url = self.base + self.map.view.url.format(number=quote(number)) if self.map.view.url else ""
        trail.add("read", f"call page {number}", f"status {status}", looked=True)
        return RemoteTicket(
            ref=RemoteRef(self.system, number, number, url), firstline_number=value("reference") or None,
            short_description=value("short_description"), description=value("description"),
            requester=value("requester"), state=TicketState(state), impact=impact, urgency=urgency,
            priority=priority, assignment_group=value("assignment_group"), assigned_to=value("assigned_to"),
            resolution_note=value("resolution_note"), updated_at=self.map.parse_time(value("updated_at")),
            parent_number=value("parent_number") or None,
        )  # fmt: skip

    def notes(self, d: FormDriver, number: str) -> list[RemoteComment]:
        """The notes table of the call page that is open now, oldest first."""
        spec = self.map.view.notes
        rows = d.table(self.frame(d), spec.table)
        if rows is None:
            d.raise_if_login()
            raise WebformMapError.missing("view.notes.table", f"table captioned {spec.table!r}", "call page")
        notes = []
        for row in rows:
            for name in ("id", "time", "author", "visibility", "body"):
                if getattr(spec, name) not in row:
                    raise WebformMapError.missing(f"view.notes.{name}", f"column {getattr(spec, name)!r}", spec.table)
            author = row[spec.author]
            public = row[spec.visibility].casefold() == spec.public.casefold()
            created = self.map.parse_time(row[spec.time])
            ours = author.casefold() == self.user.casefold()
            notes.append(RemoteComment(f"{number}#{row[spec.id]}", author, row[spec.body], public, created, ours))
        return sorted(notes, key=lambda n: n.created_at)

    def new_number(self, text: str, spec: FormSpec, trail: Trail | None = None) -> str | None:
        """The call number in ``text`` (a confirmation page, a fallback's answer) by ``spec.result``."""
        found = spec.result.search(text) if spec.result else None
        if found is None:
            return None
        number = found.group(1) if found.re.groups else found.group(0)
        if trail is not None:
            trail.add("read", "call number", number, looked=True)
        return number

    def check(self, d: FormDriver, trail: Trail) -> list[Check]:
        """One :class:`Check` per form, the call page and the update form: every mapped label there, or which not."""
        checks: list[Check] = []

        def labels(name: str, run: Callable[[], list[tuple[str, str]]]) -> None:
            try:
                absent = run()
                detail = "; ".join(f"{what} not found (form map key `{key}`)" for key, what in absent)
                checks.append(Check(f"webform {name}", not absent, detail or "every mapped label found"))
            except Exception as exc:
                checks.append(Check(f"webform {name}", False, str(exc)))

        def form_missing(spec: FormSpec) -> list[tuple[str, str]]:
            return d.missing(d.open_form(spec, trail), spec)

        for name in ("new_call", "search", "since"):
            labels(f"form {name}", functools.partial(form_missing, self.map.form(name)))
        try:  # the call page and the update form need a call: the first one the app lists
            spec = self.map.form("since")
            frame = d.open_form(spec, trail)
            d.fill(frame, spec, {"since": self.map.format_time(datetime(1990, 1, 1, tzinfo=UTC))}, trail)
            d.submit(frame, spec, trail)
            numbers = [r[self.map.columns["number"]] for r in self.rows(d, frame, spec)]
        except Exception as exc:
            return [*checks, Check("webform call page", False, str(exc))]
        if not numbers:
            return [*checks, Check("webform call page", True, "not checked: the app holds no call yet")]
        labels("call page", functools.partial(self.missing, d, trail, numbers[0]))
        labels("form update", functools.partial(form_missing, self.map.form("update")))
        return checks

    def missing(self, d: FormDriver, trail: Trail, number: str) -> list[tuple[str, str]]:
        """``(map key, what)`` for every ``view.labels`` row and the notes table not on call ``number``'s page."""
        self.open_number(d, trail, number)
        frame = self.frame(d)
        pairs = d.pairs(frame)
        absent = [
            (f"view.labels.{k}", f"row labelled {v!r}") for k, v in self.map.view.labels.items() if v not in pairs
        ]
        if d.table(frame, self.map.view.notes.table) is None:
            absent.append(("view.notes.table", f"table captioned {self.map.view.notes.table!r}"))
        return absent


def _level(kind: type[E], text: str, mapped: str | None) -> E:
    """An impact, urgency or priority from ``"2 - Medium"``, ``"2"`` or ``"Medium"`` (the middle one if none)."""
    digits = re.match(r"\s*(\d+)", mapped or text)
    if digits and int(digits.group(1)) in {m.value for m in kind}:
        return kind(int(digits.group(1)))
    return {m.name.casefold(): m for m in kind}.get(text.strip().casefold(), kind(2))
