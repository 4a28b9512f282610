"""Chromium for the webform connector: one dedicated browser thread, and the form map's steps on a page.

Playwright's sync API must stay on the thread that started it, so :class:`BrowserThread` owns one
thread that launches Debian's Chromium (headless, offline flags) on first use, keeps one browser
context and page, and runs every piece of browser work handed to :meth:`BrowserThread.run` from any
thread, one at a time. :class:`FormDriver` does what a form map describes on that page: log in (and
notice the login page when a session timed out), follow menu links, fill fields found by their
label, press buttons by their text, and read ``<th>``/``<td>`` rows and captioned tables back.
Every step goes into a :class:`~.evidence.Trail`, with a PNG screenshot taken right after it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from firstline.errors import AuthenticationError, BackendResponseError, ConfigError, InputError
from firstline.ticketing.connectors.webform.evidence import Trail
from firstline.ticketing.connectors.webform.formmap import VALUE_TABLES, FormSpec, WebformMap, WebformMapError

if TYPE_CHECKING:
    from playwright.sync_api import Frame, Locator, Page, Response

__all__ = ["CHROMIUM", "OFFLINE_ARGS", "BrowserThread", "FormDriver", "ServerError", "SessionExpired"]

T = TypeVar("T")
_Job = tuple[Callable[["Page"], Any], str, Future[Any]]
CHROMIUM = Path("/usr/bin/chromium")
OFFLINE_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
)  # fmt: skip
_PAIRS = """() => {
  const out = {};
  for (const th of document.querySelectorAll('th')) {
    const td = th.nextElementSibling;
    const key = th.innerText.trim();
    if (td && td.tagName === 'TD' && key && !(key in out)) out[key] = td.innerText;
  }
  return out;
}"""
_PASSWORD_FIELD = """() => {
  const walk = (doc) => {
    if (doc.querySelector('input[type=password]')) return true;
    for (const f of doc.querySelectorAll('frame, iframe')) {
      try { if (f.contentDocument && walk(f.contentDocument)) return true; } catch (e) {}
    }
    return false;
  };
  return walk(document);
}"""
_TABLE = """(caption) => {
  for (const t of document.querySelectorAll('table')) {
    if (!t.caption || t.caption.innerText.trim() !== caption) continue;
    let head = null; const out = [];
    for (const r of t.rows) {
      const cells = Array.from(r.cells);
      if (!head) { if (cells.some(c => c.tagName === 'TH')) head = cells.map(c => c.innerText.trim()); continue; }
      out.push(Object.fromEntries(cells.map((c, i) => [head[i] ?? String(i), c.innerText])));
    }
    return out;
  }
  return null;
}"""


class SessionExpired(Exception):
    """The app showed its login page in the middle of an operation (the session timed out)."""


class ServerError(Exception):
    """The app answered a page with HTTP 5xx."""

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status


class BrowserThread:
    """Chromium on one dedicated thread; :meth:`run` hands it work from any thread and waits for the result.

    Each ``session`` (one per connector) gets its own browser context (its own cookies) and page in
    the one browser, so several connectors can share a thread and a Chromium. ``timeout_s`` bounds
    every single page action.
    """

    def __init__(
        self, chromium: Path = CHROMIUM, *, args: Sequence[str] = OFFLINE_ARGS, timeout_s: float = 10.0,
        viewport: tuple[int, int] = (1024, 768),
    ) -> None:  # fmt: skip
        self.chromium, self.args, self.timeout_s, self.viewport = chromium, tuple(args), timeout_s, viewport
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._chromium = _Chromium(self)

    @property
    def thread(self) -> threading.Thread | None:
        """The browser thread, while it runs."""
        return self._thread

    def run(self, work: Callable[[Page], T], *, session: str = "") -> T:
        """Run ``work(page)`` on the browser thread (directly when called from it) and return its result."""
        if threading.current_thread() is self._thread:
            return work(self._chromium.page(session))
        future: Future[T] = Future()
        with self._lock:
            if self._thread is None:  # each thread has its own queue and browser: a closing one never mixes in
                self._jobs, self._chromium = queue.SimpleQueue(), _Chromium(self)
                self._thread = threading.Thread(
                    target=_serve, args=(self._jobs, self._chromium), name="webform-browser", daemon=True
                )
                self._thread.start()
            self._jobs.put((work, session, future))
        return future.result()

    def end_session(self, session: str) -> None:
        """Close ``session``'s browser context (its cookies go with it); the browser stays up."""
        if self._thread is not None and session in self._chromium.pages:
            self.run(lambda page: self._chromium.end(session), session=session)

    def close(self) -> None:
        """Close the browser and end the thread; harmless twice, and a later :meth:`run` starts afresh."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._jobs.put(None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)


class _Chromium:
    """One browser thread's Playwright, browser and pages (one per session); touched on that thread only."""

    def __init__(self, owner: BrowserThread) -> None:
        self.owner = owner
        self.pages: dict[str, Page] = {}
        self.playwright: Any = None
        self.browser: Any = None

    def page(self, session: str) -> Page:
        page = self.pages.get(session)
        if page is None or page.is_closed():
            if self.browser is None or not self.browser.is_connected():
                self.stop()
                self.playwright, self.browser = self.launch()
            width, height = self.owner.viewport
            context = self.browser.new_context(viewport={"width": width, "height": height})
            context.set_default_timeout(self.owner.timeout_s * 1000)
            page = self.pages[session] = context.new_page()
        return page

    def end(self, session: str) -> None:
        page = self.pages.pop(session, None)
        if page is not None:
            page.context.close()

    def stop(self) -> None:
        browser, playwright, self.browser, self.playwright, self.pages = self.browser, self.playwright, None, None, {}
        for stop in (browser and browser.close, playwright and playwright.stop):
            try:
                if stop:
                    stop()
            except Exception:  # the browser may already be gone
                pass

    def launch(self) -> tuple[Any, Any]:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as exc:  # pragma: no cover - playwright is a dev dependency
            raise ConfigError(
                "The webform connector needs Playwright: pip install playwright (Chromium itself comes from "
                "apt-get install chromium; `playwright install` is not needed)."
            ) from exc
        chromium = self.owner.chromium
        if not chromium.exists():
            raise ConfigError(
                f"Chromium is not at {chromium}: apt-get install chromium, or point "
                "ticketing.webform.chromium (env FIRSTLINE_TICKETING__WEBFORM__CHROMIUM) at the browser."
            )
        playwright = sync_playwright().start()
        try:
            browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=self.owner.args)
        except BaseException:
            playwright.stop()
            raise
        return playwright, browser


def _serve(jobs: queue.SimpleQueue[_Job | None], chromium: _Chromium) -> None:
    """The browser thread: run each job on its session's page until the ``None`` that ends it."""
    try:
        while (job := jobs.get()) is not None:
            work, session, future = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work(chromium.page(session)))
                except BaseException as exc:
                    future.set_exception(exc)
    finally:
        chromium.stop()


class FormDriver:
    """What a form map says to do, done on one page. Runs on the browser thread only."""

    def __init__(
        self, page: Page, form_map: WebformMap, base_url: str, credentials: Mapping[str, str], refused: str
    ) -> None:
        self.page, self.map, self.base = page, form_map, base_url.rstrip("/")
        self.credentials, self.refused = credentials, refused

    # --- pages, login and frames --------------------------------------------------------------------
    def goto(self, path: str, trail: Trail, frame: Frame | None = None) -> int:
        """Open ``path`` in the page (or in ``frame``); the HTTP status (5xx: :class:`ServerError`; 4xx returned)."""
        url = path if "://" in path else self.base + path
        response = (frame or self.page).goto(url, wait_until="load")
        if response is not None and response.status >= 500:
            raise ServerError(response.status, url)
        trail.add("open", path)
        return response.status if response is not None else 200

    def home(self, trail: Trail) -> None:
        """Be on the page after login (stay when already there), logging in first when the app asks for it."""
        if self.at_home():
            return
        if (status := self.goto(self.map.home, trail)) >= 400:
            raise BackendResponseError(f"The page after login (`home`, {self.map.home}) answered HTTP {status}.")
        if self.on_login_page():
            self.login(trail)
            if not self.at_home():
                self.goto(self.map.home, trail)
            if self.on_login_page():
                raise AuthenticationError(self.refused)

    def at_home(self) -> bool:
        """On the page after login; a session that timed out shows up at the next click (:class:`SessionExpired`)."""
        home = self.map.home if "://" in self.map.home else self.base + self.map.home
        return self.page.url == home and not self.on_login_page()

    def login(self, trail: Trail) -> None:
        """Log in on the login page (opened first, unless the app has just sent the page there)."""
        spec = self.map.login
        login_url = urlsplit(spec.path if "://" in spec.path else self.base + spec.path)
        here = urlsplit(self.page.url)
        if (here.netloc, here.path) == (login_url.netloc, login_url.path) and self.on_login_page():
            trail.add("login page", spec.path, "the app showed its login page", looked=True)
        elif (status := self.goto(spec.path, trail)) >= 400:
            raise BackendResponseError(f"The login page `login.path` ({spec.path}) answered HTTP {status}.")
        for credential, label in spec.fields.items():
            self.locate(self.page.main_frame, label, f"login.fields.{credential}", "login page").fill(
                self.credentials[credential]
            )
        trail.add("fill", "login form", f"{', '.join(spec.fields.values())} (values not recorded)")
        button = self.page.get_by_role("button", name=spec.submit, exact=True)
        if button.count() == 0:
            raise WebformMapError.missing("login.submit", f"button {spec.submit!r}", "login page")
        with self.page.expect_navigation() as nav:
            button.first.click()
        self.check_status(nav.value, self.page.url)
        failed = spec.failure_text and self.page.get_by_text(spec.failure_text).count() > 0
        if failed or self.on_login_page():
            trail.add("login", spec.fields.get("user", "user"), "refused")
            raise AuthenticationError(self.refused)
        trail.add("login", self.credentials.get("user", ""), "ok")

    def on_login_page(self) -> bool:
        """A password field shows, on the page or in one of its frames: the app wants a login."""
        return bool(self.page.evaluate(_PASSWORD_FIELD))

    def raise_if_login(self) -> None:
        if self.on_login_page():
            raise SessionExpired()

    def frame(self, name: str, key: str) -> Frame:
        if not name:
            return self.page.main_frame
        found = self.page.frame(name=name)
        if found is None:
            self.raise_if_login()
            raise WebformMapError.missing(key, f"frame named {name!r}", "page")
        return found

    def check_status(self, response: Response | None, url: str) -> None:
        if response is None:
            return
        if response.status >= 500:
            raise ServerError(response.status, url)
        if response.status >= 400:
            raise BackendResponseError(f"The legacy ticket app answered HTTP {response.status} for {url}.")

    # --- forms ----------------------------------------------------------------------------------------
    def open_form(self, spec: FormSpec, trail: Trail) -> Frame:
        """Reach ``spec``'s form: from the home page (or the call page already open), follow its links."""
        if spec.start == "home":
            self.home(trail)
        for text in spec.nav:
            nav = self.frame(spec.nav_frame, f"{spec.key}.nav_frame")
            self.click_link(nav, text, f"{spec.key}.nav", self.frame(spec.frame, f"{spec.key}.frame"), trail)
        return self.frame(spec.frame, f"{spec.key}.frame")

    def click_link(self, frame: Frame, text: str, key: str, target: Frame, trail: Trail) -> None:
        link = frame.get_by_role("link", name=text, exact=True)
        if link.count() == 0:
            self.raise_if_login()
            raise WebformMapError.missing(key, f"link {text!r}", "page")
        with target.expect_navigation() as nav:
            link.first.click()
        self.check_status(nav.value, text)
        trail.add("click", text)  # a login page instead (session timed out) shows at the next step

    def has_link(self, frame: Frame, text: str) -> bool:
        return bool(frame.get_by_role("link", name=text, exact=True).count() > 0)

    def missing(self, frame: Frame, spec: FormSpec, names: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """``(map key, what)`` for every mapped label (of ``names``) and the submit button not on the form."""
        absent = [
            (spec.field_key(name), f"field labelled {spec.fields[name]!r}")
            for name in (spec.fields if names is None else names)
            if frame.get_by_label(spec.fields[name], exact=True).count() == 0
        ]
        if frame.get_by_role("button", name=spec.submit, exact=True).count() == 0:
            absent.append((f"{spec.key}.submit", f"button {spec.submit!r}"))
        return absent

    def fill(self, frame: Frame, spec: FormSpec, values: Mapping[str, str | bool], trail: Trail) -> None:
        """Fill (select, tick) each field by its label; every label is checked before anything is typed."""
        absent = self.missing(frame, spec, values)
        if absent:
            self.raise_if_login()
            others = "; ".join(f"{what} (`{key}`)" for key, what in absent[1:])
            raise WebformMapError.missing(
                *absent[0], f"{spec.title} form", f"Also missing: {others}." if others else ""
            )
        for n, (name, value) in enumerate(values.items(), 1):
            label, later = spec.fields[name], n < len(values)  # one screenshot, after the last field, shows them all
            field = frame.get_by_label(label, exact=True).first
            kind = str(field.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '').toLowerCase()"))
            if kind.startswith("select"):
                options = [str(o) for o in field.evaluate("e => Array.from(e.options).map(o => o.text.trim())")]
                choice = self._choose(options, str(value), name, spec.field_key(name))
                field.select_option(label=choice)
                trail.add("select", f"{label} ({spec.field_key(name)})", choice, shot_later=later)
            elif kind.endswith((":checkbox", ":radio")):
                field.set_checked(bool(value))
                trail.add("check" if value else "uncheck", f"{label} ({spec.field_key(name)})", shot_later=later)
            else:
                field.fill(str(value))
                trail.add("fill", f"{label} ({spec.field_key(name)})", _short(str(value)), shot_later=later)

    def submit(self, frame: Frame, spec: FormSpec, trail: Trail) -> None:
        button = frame.get_by_role("button", name=spec.submit, exact=True)
        if button.count() == 0:
            raise WebformMapError.missing(f"{spec.key}.submit", f"button {spec.submit!r}", f"{spec.title} form")
        with frame.expect_navigation() as nav:
            button.first.click()
        self.check_status(nav.value, frame.url)
        trail.add("submit", spec.submit)

    def _choose(self, options: list[str], wanted: str, name: str, key: str) -> str:
        folded = {o.casefold(): o for o in options}
        default = self.map.values.get(name, {}).get("*") if name in VALUE_TABLES else None
        for candidate in (wanted, default):
            if candidate is not None and candidate.casefold() in folded:
                return folded[candidate.casefold()]
        raise InputError(
            f"The list labelled by `{key}` has no option {wanted!r}; it offers {', '.join(options)}. "
            f'Map the value in the form map\'s `values.{name}` table (or add a "*" entry for anything else).'
        )

    # --- reading --------------------------------------------------------------------------------------
    def text(self, frame: Frame) -> str:
        return str(frame.locator("body").inner_text())

    def pairs(self, frame: Frame) -> dict[str, str]:
        """Every ``<th>label</th><td>value</td>`` on the page, first one per label."""
        return {str(k): str(v).strip() for k, v in dict(frame.evaluate(_PAIRS)).items()}

    def table(self, frame: Frame, caption: str) -> list[dict[str, str]] | None:
        """The rows of the table captioned ``caption`` (header text -> cell text), or ``None`` without one."""
        rows = frame.evaluate(_TABLE, caption)
        if rows is None:
            return None
        return [{str(k): str(v).strip() for k, v in row.items()} for row in rows]

    def locate(self, frame: Frame, label: str, key: str, where: str) -> Locator:
        found = frame.get_by_label(label, exact=True)
        if found.count() == 0:
            raise WebformMapError.missing(key, f"field labelled {label!r}", where)
        return found.first


def _short(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
