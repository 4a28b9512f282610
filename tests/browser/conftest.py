"""Browser tests: the real service (firstline.testing.live) driven by Debian's Chromium through Playwright.

Every page a test visits is saved as a full-page screenshot under ``test-artifacts/screenshots/``.
Without /usr/bin/chromium the tests skip, except in CI (``CI=true``), where they must run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from firstline.testing.browser import CHROMIUM, CHROMIUM_ARGS

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory, _session_cache: Path) -> Iterator[Any]:
    """The real Firstline service on a loopback port, started once for the browser tests."""
    from firstline.testing.live import clean_environment, live_service

    # Every test signs in from 127.0.0.1: allow more than the default 10 sign-ins a minute.
    data = tmp_path_factory.mktemp("live-data")
    with clean_environment(_session_cache), live_service(data, service={"login_rate_limit_per_minute": 200}) as svc:
        yield svc


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an asyncio loop running on the main thread
    # while it is open, and every later test that calls asyncio.run() would fail.
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Pages:
    """Opens pages in fresh browser contexts (separate cookies), signs in, and saves screenshots."""

    browser: Any
    live: Any
    test_name: str
    contexts: list[Any] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def new(self, width: int = 1280, height: int = 900) -> Any:
        context = self.browser.new_context(viewport={"width": width, "height": height}, base_url=self.live.base_url)
        context.set_default_timeout(30_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def sign_in(self, page: Any, who: str, path: str = "/") -> None:
        """Open ``path``, get sent to /login, sign in as ``who`` and land back on ``path``."""
        email, password = self.live.accounts[who]
        page.goto(path)
        page.wait_for_url(re.compile(r"/login\?next="))
        self.shot(page, f"login-{who}")
        page.get_by_label("Work e-mail").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(re.escape(self.live.base_url + path.split("#")[0]) + r"(#.*)?$"))

    def shot(self, page: Any, step: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.test_name}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser: Any, live: Any, request: pytest.FixtureRequest) -> Iterator[Pages]:
    opened = Pages(browser, live, re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name))
    yield opened
    opened.close()
    assert opened.errors == [], f"JavaScript errors on the page: {opened.errors}"


@pytest.fixture
def send() -> Callable[[Any, str], None]:
    """Type a message into the chat and press Enter."""

    def type_and_send(page: Any, text: str) -> None:
        from playwright.sync_api import expect

        # Like a person: wait until the previous answer is in (Send is disabled while a turn runs).
        assert text.strip(), "a test must not send an empty message"
        expect(page.get_by_role("button", name="Send")).to_be_enabled()
        box = page.get_by_label("Message to the IT helpdesk")
        box.fill(text)
        box.press("Enter")

    return type_and_send


@pytest.fixture
def read_code() -> Callable[..., str]:
    """The newest one-time code on the demo phone, read as a person would: open the phone if it is closed.

    The page opens the phone itself when a code arrives; a click racing that would close it again, so the
    phone is clicked only while the code is not visible, and the text is read from the DOM (a closed
    ``<details>`` has no rendered text)."""

    def read(page: Any, scope: str = "#phone") -> str:
        from playwright.sync_api import Error, expect

        code = page.locator(f"{scope} .sms .code").first
        expect(code).to_have_text(re.compile(r"^\d{6}$"))
        for _ in range(3):
            if code.is_visible():
                break
            page.locator("#phone summary").click()
            try:
                expect(code).to_be_visible(timeout=2000)
            except (AssertionError, Error):
                continue
        expect(code).to_be_visible()
        return (code.text_content() or "").strip()

    return read
