"""The console's "Jobs" view in a real browser (Chromium): an admin sees dead jobs with their error, retries one
(it leaves the list and runs) and discards another; an agent gets no Jobs tab."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from firstline.jobs import DeadLetters
from firstline.localdb import open_database
from firstline.testing.browser import CHROMIUM, CHROMIUM_ARGS
from firstline.testing.live import LiveService, cannot_start, clean_environment, live_service

pytestmark = [pytest.mark.live, pytest.mark.slow]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, _session_cache: Path) -> Iterator[LiveService]:
    data = tmp_path_factory.mktemp("jobs-console")
    with clean_environment(_session_cache), live_service(data, knowledge={"ingest_demo_runbooks": False}) as svc:
        yield svc


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        cannot_start(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _bury(live: LiveService, job_id: str, error: str) -> None:
    db = open_database(live.settings.ticket_database_url)
    try:
        DeadLetters(db).record(job_id, "reingest", {"why": "test"}, error, 6, datetime.now(UTC))
    finally:
        db.close()


def _signed_in(browser: Any, live: LiveService, who: str, path: str) -> Any:
    from playwright.sync_api import expect

    context = browser.new_context(base_url=live.base_url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path)
    page.wait_for_url(re.compile(r"/login\?next="))
    email, password = live.accounts[who]
    page.get_by_label("Work e-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#tabs")).to_be_visible()
    page.errors = errors
    return page


def test_an_admin_retries_and_discards_dead_jobs(browser: Any, live: LiveService) -> None:
    from playwright.sync_api import expect

    _bury(live, "job-retry-me", "TimeoutError: the vector store did not answer")
    _bury(live, "job-discard-me", "OSError: disk full")
    page = _signed_in(browser, live, "admin", "/console#jobs")
    expect(page.get_by_role("heading", name="Background jobs")).to_be_visible()
    expect(page.locator("#tabs [data-tab=jobs]")).to_have_attribute("aria-current", "page")
    retry_row = page.locator("[data-job=job-retry-me]")
    expect(retry_row).to_contain_text("TimeoutError: the vector store did not answer")
    retry_row.get_by_role("button", name="Retry").click()
    expect(page.locator("[data-job=job-retry-me]")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("queued again")
    page.locator("[data-job=job-discard-me]").get_by_role("button", name="Discard").click()
    expect(page.locator("[data-job]")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("No dead jobs")
    page.locator("#tabs [data-tab=queue]").click()  # away and back through the tabs: the router and this view
    expect(page.get_by_role("heading", name="Background jobs")).to_have_count(0)
    page.locator("#tabs [data-tab=jobs]").click()
    expect(page.get_by_role("heading", name="Background jobs")).to_be_visible()
    assert page.errors == []
    page.context.close()


def test_an_agent_has_no_jobs_tab(browser: Any, live: LiveService) -> None:
    from playwright.sync_api import expect

    page = _signed_in(browser, live, "agent", "/console")
    expect(page.locator("#tabs [data-tab=queue]")).to_be_visible()
    expect(page.locator("#tabs [data-tab=jobs]")).to_be_hidden()
    page.context.close()
