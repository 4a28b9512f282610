"""WebformConnector: a :class:`~firstline.ticketing.remote.TicketConnector` for a ticket web app with no API.

It logs in with a form, files calls through the app's "New call" form, finds them again by the
Firstline number it typed into the app's reference field, reads the call page, and saves status,
resolution and notes through the app's update form, all as a person would in Chromium (see
:mod:`.browser`), following a form map (see :mod:`.formmap`). Every write keeps evidence (see
:mod:`.evidence`). A session that timed out is noticed (the login page shows up) and the operation
starts again after a fresh login; 5xx pages are retried, then reported as unavailable.

When the page no longer matches the map (a label, button or link is gone) the connector raises
:class:`~.formmap.WebformMapError` naming the map key or, with a ``fallback`` configured, hands the
logged-in page to it with a plain-language goal (the computer-use mode) and reads its
:class:`FallbackResult`. What the fallback says is checked: the call it names must exist and carry the
Firstline number, and an update must show on the call page afterwards (else ``WebformMapError``). A dry
run never hands a page to the fallback (it could not be trusted to stop short of submitting).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from firstline.errors import (
    AuthenticationError,
    BackendResponseError,
    BackendUnavailableError,
    ConfigError,
    FirstlineError,
    InputError,
    TicketNotFoundError,
)
from firstline.ticketing.connectors.webform.browser import (
    CHROMIUM,
    BrowserThread,
    FormDriver,
    ServerError,
    SessionExpired,
)
from firstline.ticketing.connectors.webform.evidence import Evidence, EvidenceLog, Trail
from firstline.ticketing.connectors.webform.formmap import (
    VALUE_TABLES,
    FormSpec,
    WebformMap,
    WebformMapError,
    load_form_map,
)
from firstline.ticketing.connectors.webform.pages import CallPages
from firstline.ticketing.models import Ticket, TicketState
from firstline.ticketing.remote import Check, RemoteChange, RemoteComment, RemoteRef, RemoteTicket

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["DRY_RUN", "Fallback", "FallbackResult", "WebformConnector", "WebformOptions"]

T = TypeVar("T")
DRY_RUN = "DRY-RUN"
SETTING = "ticketing.webform.url"


@dataclass(frozen=True, slots=True)
class FallbackResult:
    """What the computer-use fallback reports: whether it reached the goal, what it read, how many steps it took."""

    ok: bool
    result_text: str
    steps: int


Fallback = Callable[["Page", str, Path], FallbackResult]
"""``fallback(page, goal, folder)``: reach ``goal`` on the logged-in ``page``; keep its own evidence in ``folder``.

Called on the browser thread with the page as map mode left it (the form it could not fill open in
its frame). ``goal`` is plain language ("... fill it in: Summary = 'VPN drops'; ... then read the
call number on the confirmation page and answer with it"); ``folder`` is
``<evidence_dir>/<ticket>/computer-use`` (created).
"""


@dataclass(frozen=True)
class WebformOptions:
    """How to reach and drive the app. Empty ``user``/``password`` are read from ``credential_names`` (env).

    ``form_map`` is a path to the TOML form map or a parsed one. ``dry_run`` fills every form and takes
    the screenshots but never presses submit (a created ticket comes back numbered ``DRY-RUN``).
    ``max_steps`` bounds the computer-use fallback (its goal says so). ``evidence_dir=None`` keeps
    evidence in a new temporary folder; ``evidence_reads`` also records read-only operations.
    """

    url: str
    user: str
    password: str
    form_map: Path | str | WebformMap
    evidence_dir: Path | None = None
    dry_run: bool = False
    max_steps: int = 30
    fallback: Fallback | None = None
    credential_names: tuple[str, str] = ("FIRSTLINE_TICKETING__WEBFORM__USER", "FIRSTLINE_TICKETING__WEBFORM__PASSWORD")
    chromium: Path = CHROMIUM
    timeout_s: float = 10.0
    retries: int = 2
    evidence_reads: bool = False


class WebformConnector:
    """Files and follows tickets in a legacy ticket web app through its forms. Thread-safe (one browser thread)."""

    system = "webform"

    def __init__(self, options: WebformOptions, *, browser: BrowserThread | None = None) -> None:
        """``browser``: share one Chromium thread between connectors (each keeps its own context and cookies)."""
        self.options = options
        fm = options.form_map
        self.map = fm if isinstance(fm, WebformMap) else load_form_map(fm)
        self.url = options.url.rstrip("/")
        user_env, password_env = options.credential_names
        self.user = options.user or os.environ.get(user_env, "")
        self._password = options.password or os.environ.get(password_env, "")
        self.pages = CallPages(self.map, self.url, self.system, self.user)
        self.log = EvidenceLog(options.evidence_dir)
        self._own_browser = browser is None
        self._browser = browser or BrowserThread(options.chromium, timeout_s=options.timeout_s)
        self._session = f"webform-{id(self):x}"

    @property
    def browser_thread(self) -> BrowserThread:
        return self._browser

    # --- TicketConnector ------------------------------------------------------------------------------
    def find(self, firstline_number: str) -> RemoteTicket | None:
        return self._run("find", lambda d, t: self.pages.open(d, t, firstline_number, "reference"), firstline_number)

    def get(self, number: str) -> RemoteTicket:
        return self._run("get", lambda d, t: self.pages.open_number(d, t, number), number)

    def create(self, ticket: Ticket) -> RemoteTicket:
        spec = self.map.form("new_call")

        def work(d: FormDriver, trail: Trail) -> RemoteTicket:
            existing = self.pages.open(d, trail, ticket.number, "reference")
            if existing is not None:
                trail.add(
                    "skip", spec.submit, f"already filed as {existing.ref.number}: not submitted again", looked=True
                )
                return existing
            values = self._new_call_values(ticket, spec)
            try:
                frame = d.open_form(spec, trail)
                d.fill(frame, spec, values, trail)
            except WebformMapError as exc:
                if self.options.fallback is None or self.options.dry_run:
                    raise
                then = "then read the call number on the confirmation page and answer with it"
                answer = self._fallback(d, trail, exc, self._goal(spec, values, then)).result_text
                filed = self._filed(d, trail, answer, spec, ticket.number)
                if filed is None:
                    raise WebformMapError(exc.key, f"{exc} The computer-use fallback answered {answer!r}, with no "
                                          f"number in it of a call whose reference is {ticket.number} (see "
                                          f"`{spec.key}.result`).") from exc  # fmt: skip
                return filed
            if self.options.dry_run:
                trail.add("submit", spec.submit, "skipped: dry run")
                return self._dry_ticket(ticket, frame.url)
            d.submit(frame, spec, trail)
            page = d.text(frame)
            number = self.pages.new_number(page, spec, trail)
            if number is None:
                d.raise_if_login()
                raise BackendResponseError(
                    f"The page after '{spec.submit}' shows no call number matching `{spec.key}.result`; it says: "
                    f"{' '.join(page.split())[:300]}"
                )
            return self.pages.open_number(d, trail, number)

        return self._run("create", work, ticket.number, writes=True)

    def update(self, ref: RemoteRef, change: RemoteChange) -> RemoteTicket:
        spec = self.map.form("update")
        unmapped = [name for name in change.fields() if name not in spec.fields]
        if unmapped:
            raise InputError(
                f"The legacy ticket app's update form has no field for {', '.join(f'`{n}`' for n in unmapped)}: add "
                f"`forms.update.fields.{unmapped[0]}` to the form map {self.map.source}, or leave it out of the change."
            )

        def work(d: FormDriver, trail: Trail) -> RemoteTicket:
            current = self.pages.open_number(d, trail, ref.number)
            trail.key = current.firstline_number or current.ref.number
            values = self._changes(current, change)
            if not values:
                trail.add("skip", spec.submit, "nothing to change: the call already shows these values", looked=True)
                return current
            saved, helped = self._save(d, trail, current, values, "change it as follows")
            unsaved = [name for name in self._changes(saved, change) if name != "category"] if helped else []
            if unsaved:  # a fallback that says it is done is checked against the call page (it shows no category)
                shown = ", ".join(f"{spec.fields[name]} = {values[name]!r}" for name in unsaved if name in values)
                raise WebformMapError(
                    spec.field_key(unsaved[0]),
                    f"The computer-use fallback reported call {ref.number} updated, but its page does not show "
                    f"{shown or ', '.join(unsaved)}: the change was not saved. Update the form map (`{spec.key}`).",
                )
            return saved

        return self._run("update", work, ref.number, writes=True)

    def comment(self, ref: RemoteRef, body: str, *, public: bool) -> RemoteComment:
        spec = self.map.form("update")
        for name in ("note",) if public else ("note", "internal"):
            if name not in spec.fields:
                raise InputError(f"The form map {self.map.source} has no `forms.update.fields.{name}`: add its label.")
        text, started = body.strip(), datetime.now(UTC).replace(microsecond=0)

        def mine(notes: list[RemoteComment]) -> list[RemoteComment]:
            return [n for n in notes if n.ours and n.body == text and n.public == public]

        def work(d: FormDriver, trail: Trail) -> RemoteComment:
            current = self.pages.open_number(d, trail, ref.number)
            trail.key = current.firstline_number or current.ref.number
            done = [n for n in mine(self.pages.notes(d, ref.number)) if n.created_at >= started]
            if done:  # saved by an earlier attempt whose answer got lost
                return done[-1]
            values: dict[str, str | bool] = {"note": text}
            if "internal" in spec.fields:
                values["internal"] = not public
            self._save(d, trail, current, values, "add this note")  # the note is checked for below
            if self.options.dry_run:
                return RemoteComment(DRY_RUN, self.user, text, public, datetime.now(UTC), ours=True)
            added = mine(self.pages.notes(d, ref.number))
            if not added:
                d.raise_if_login()
                raise BackendResponseError(f"The note saved on {ref.number} is not in its `view.notes.table`.")
            trail.add("read", f"{self.map.view.notes.table} table", f"note {added[-1].id}", looked=True)
            return added[-1]

        return self._run("comment", work, ref.number, writes=True)

    def comments(self, ref: RemoteRef) -> list[RemoteComment]:
        def work(d: FormDriver, trail: Trail) -> list[RemoteComment]:
            self.pages.open_number(d, trail, ref.number)
            return self.pages.notes(d, ref.number)

        return self._run("comments", work, ref.number)

    def changed_since(self, since: datetime, *, limit: int = 200) -> list[RemoteTicket]:
        """Calls updated at or after ``since`` (to the app's second), oldest change first, all result pages."""
        spec, column = self.map.form("since"), self.map.columns["number"]
        floor = since.astimezone(UTC).replace(microsecond=0)

        def work(d: FormDriver, trail: Trail) -> list[RemoteTicket]:
            frame = d.open_form(spec, trail)
            d.fill(frame, spec, {"since": self.map.format_time(floor)}, trail)
            d.submit(frame, spec, trail)
            numbers: list[str] = []
            while True:
                numbers += [n for row in self.pages.rows(d, frame, spec) if (n := row.get(column)) and n not in numbers]
                if len(numbers) >= limit or not spec.next or not d.has_link(frame, spec.next):
                    break
                d.click_link(frame, spec.next, f"{spec.key}.next", frame, trail)
            tickets = [self.pages.open_number(d, trail, number) for number in numbers[:limit]]
            return sorted((t for t in tickets if t.updated_at >= floor), key=lambda t: (t.updated_at, t.ref.number))

        return self._run("changed_since", work, "_polling")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[str]:
        raise ConfigError(
            "The webform connector has no webhooks: a legacy ticket web app cannot call Firstline, so webform "
            "uses polling (changed_since) instead. Remove the webhook that points here."
        )

    def check(self) -> Sequence[Check]:
        """Reachable, login, and every mapped label on every form, the call page and the update form."""
        try:
            return self._browser.run(self._check, session=self._session)
        except Exception as exc:
            return [Check("webform", False, str(exc))]

    def close(self) -> None:
        if self._own_browser:
            self._browser.close()
        else:
            self._browser.end_session(self._session)

    def evidence(self, number: str) -> list[Evidence]:
        """Every recorded step for the ticket with this Firstline number (vendor number for staff calls)."""
        return self.log.read(number)

    # --- running on the browser thread ------------------------------------------------------------------
    def _driver(self, page: Page) -> FormDriver:
        return FormDriver(page, self.map, self.url, {"user": self.user, "password": self._password}, self._refused())

    def _run(self, operation: str, work: Callable[[FormDriver, Trail], T], key: str, *, writes: bool = False) -> T:
        def on_thread(page: Page) -> T:
            from playwright.sync_api import Error as PlaywrightError

            driver = self._driver(page)
            trail = Trail(page, operation, record=writes or self.options.evidence_reads, key=key)
            expired = failures = 0
            try:
                while True:
                    try:
                        if expired:
                            driver.login(trail)
                        return work(driver, trail)
                    except SessionExpired:
                        expired += 1
                        trail.add("login page", "session", "the session expired: logging in again")
                        if expired > 2:
                            raise AuthenticationError(self._refused()) from None
                    except ServerError as exc:
                        failures += 1
                        trail.add("error", str(exc), "retrying" if failures <= self.options.retries else "giving up")
                        if failures > self.options.retries:
                            raise self._unavailable(str(exc)) from exc
                        time.sleep(0.1 * 2**failures)
            except PlaywrightError as exc:
                trail.add("failed", operation, str(exc).splitlines()[0][:300])
                raise self._unavailable(str(exc).splitlines()[0]) from exc
            except FirstlineError as exc:
                trail.add("failed", operation, str(exc)[:300])
                raise
            finally:
                trail.finish()
                self.log.keep(trail)

        return self._browser.run(on_thread, session=self._session)

    def _check(self, page: Page) -> list[Check]:
        driver, trail = self._driver(page), Trail(page, "check", record=False)
        try:
            driver.goto(self.map.login.path, trail)
        except Exception as exc:
            return [Check("webform reachable", False, str(self._unavailable(str(exc).splitlines()[0])))]
        checks = [Check("webform reachable", True, self.url)]
        try:
            driver.login(trail)
        except Exception as exc:
            return [*checks, Check("webform login", False, str(exc))]
        checks.append(Check("webform login", True, f"logged in as {self.user}"))
        return checks + self.pages.check(driver, trail)

    def _save(
        self, d: FormDriver, trail: Trail, current: RemoteTicket, values: dict[str, str | bool], how: str
    ) -> tuple[RemoteTicket, bool]:
        """Fill and save the update form of ``current``'s call (whose page is open): the call as saved, and
        whether the computer-use fallback did it (the map no longer fits the form)."""
        spec, number = self.map.form("update"), current.ref.number
        try:
            frame = d.open_form(spec, trail)
            d.fill(frame, spec, values, trail)
        except WebformMapError as exc:
            if self.options.fallback is None or self.options.dry_run:
                raise
            self._fallback(d, trail, exc, self._goal(spec, values, f"and so save it (call {number}: {how})"))
            return self.pages.open_number(d, trail, number), True
        if self.options.dry_run:
            trail.add("submit", spec.submit, "skipped: dry run")
            return current, False
        d.submit(frame, spec, trail)
        shown = self.pages.shown(d) == number
        return (self.pages.ticket(d, trail) if shown else self.pages.open_number(d, trail, number)), False

    def _filed(self, d: FormDriver, trail: Trail, answer: str, spec: FormSpec, reference: str) -> RemoteTicket | None:
        """The call the fallback says it filed: the number in its answer (by ``result``, else a word of it with a
        digit, as a model may answer with the bare number), opened and checked to carry ``reference``."""
        found = self.pages.new_number(answer, spec, trail)
        words = [word.strip(".,;:!?\"'()[]<>*`") for word in answer.split()]
        candidates = [found] if found else [word for word in words if any(c.isdigit() for c in word)]
        checked = "reference" in self.map.view.labels
        for number in list(dict.fromkeys(candidates))[:3]:
            try:
                remote = self.pages.open_number(d, trail, number)
            except TicketNotFoundError:
                trail.add("read", f"call {number}", "no such call", looked=True)
                continue
            if not checked or remote.firstline_number == reference:
                return remote
            trail.add("read", f"call page {number}", f"its reference is not {reference}", looked=True)
        return None

    def _fallback(self, d: FormDriver, trail: Trail, exc: WebformMapError, goal: str) -> FallbackResult:
        assert self.options.fallback is not None
        folder = self.log.folder(trail.key or "_unfiled") / "computer-use"
        folder.mkdir(parents=True, exist_ok=True)
        trail.add("fallback", f"computer use (map key `{exc.key}` failed)", goal)
        result = self.options.fallback(d.page, goal, folder)
        outcome = f"{'ok' if result.ok else 'failed'} in {result.steps} steps: {result.result_text}"
        trail.add("fallback", "computer use", outcome)
        if not result.ok:
            raise WebformMapError(exc.key, f"{exc} The computer-use fallback did not reach the goal either: {outcome}")
        return result

    def _goal(self, spec: FormSpec, values: Mapping[str, str | bool], then: str) -> str:
        def shown(value: str | bool) -> str:
            return ("ticked" if value else "not ticked") if isinstance(value, bool) else repr(value)

        fields = "; ".join(f"{spec.fields[name]} = {shown(value)}" for name, value in values.items())
        reach = f" (the '{' > '.join(spec.nav)}' link)" if spec.nav else ""
        return (
            f"In the {self.map.name} web app (already logged in), open the '{spec.title}' form{reach} and fill it in: "
            f"{fields}. The page's labels may differ from these names: match each one by meaning. Press the button "
            f"that submits the form, {then}. Use at most {self.options.max_steps} steps."
        )

    def _new_call_values(self, ticket: Ticket, spec: FormSpec) -> dict[str, str | bool]:
        raw = {
            "requester": ticket.requester, "short_description": ticket.short_description,
            "description": ticket.description, "urgency": self.map.out("urgency", str(int(ticket.urgency))),
            "impact": self.map.out("impact", str(int(ticket.impact))),
            "category": self.map.out("category", ticket.category), "reference": ticket.number,
            "assignment_group": ticket.assignment_group, "assigned_to": ticket.assigned_to,
        }  # fmt: skip
        return {name: raw[name] for name in spec.fields}

    def _changes(self, current: RemoteTicket, change: RemoteChange) -> dict[str, str | bool]:
        """The update form's fields that ``change`` really changes (a state already reached is left alone)."""
        values: dict[str, str | bool] = {}
        for name, value in change.fields().items():
            if isinstance(value, IntEnum):
                wanted, now = (
                    self.map.out(name, str(value.value)),
                    self.map.out(name, str(getattr(current, name).value)),
                )
            elif isinstance(value, TicketState):
                wanted, now = self.map.out("state", value.value), self.map.out("state", current.state.value)
            elif name == "parent":  # the parent's call number; the call page shows it as `parent_number`
                wanted, now = str(value), current.parent_number or ""
            elif name in VALUE_TABLES:  # a category goes as the app's option text (the call page is not read back)
                wanted, now = self.map.out(name, str(value)), ""
            else:  # text: a difference in line breaks or spaces alone is no change (the app may rewrite them)
                wanted, now = str(value), str(getattr(current, name, ""))
                if wanted.split() == now.split():
                    continue
            if wanted != now:
                values[name] = wanted
        return values

    def _dry_ticket(self, ticket: Ticket, url: str) -> RemoteTicket:
        return RemoteTicket(
            RemoteRef(self.system, DRY_RUN, DRY_RUN, url), ticket.number, ticket.short_description, ticket.description,
            ticket.requester, TicketState.NEW, ticket.impact, ticket.urgency, ticket.priority, ticket.assignment_group,
            ticket.assigned_to, "", datetime.now(UTC),
        )  # fmt: skip

    def _refused(self) -> str:
        user_env, password_env = self.options.credential_names
        who = f"the login for user {self.user!r}" if self.user else "a login with no user name"
        return (
            f"The legacy ticket app at {self.url} refused {who}. Set {user_env} and {password_env} to an account "
            "that can log in to it (try it in a browser first)."
        )

    def _unavailable(self, reason: str) -> BackendUnavailableError:
        return BackendUnavailableError("legacy ticket web app", self.url, SETTING, reason)
