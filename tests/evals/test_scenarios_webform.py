"""The scenario suite on the legacy web app backend: every scenario, its tickets filed through LegacyDesk's forms.

Each scenario gets a fresh LegacyDesk (its call numbers start again) and a WebformConnector in map mode,
behind the mirror and outbox (``SyncedTicketing`` + ``Syncer``, every change pushed after its commit). A
module fixture plays the selected scenarios two at a time, each player with a Chromium of its own (a
``BrowserThread``; each connector has its own browser context in it), and each scenario's test waits for
and checks its own run: the suite mostly waits on the browser, so two players take about half the time of
one. The end check is the one of ``test_scenarios.py``: the outbox is all done, and every mirror ticket was
filed and is in the same state in the app. Without /usr/bin/chromium the tests skip, except in CI
(``CI=true``), where they must run.
"""

from __future__ import annotations

import asyncio
import os
import queue
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from firstline.conversations import SqlConversations
from firstline.directory import DirectoryBackend
from firstline.evals.scenarios import Scenario, ScenarioResult, load_scenarios, run_scenario, summarise
from firstline.helpdesk.desk import Helpdesk
from firstline.helpdesk.tools.deps import OneTimeCodes
from firstline.sqlstore.transactions import Transactions
from firstline.testing.browser import CHROMIUM
from firstline.testing.connectors import assert_filed_as_mirrored
from firstline.testing.legacy_desk import FORM_MAP, LegacyDesk
from firstline.ticketing import SqlTicketing, TicketingBackend
from firstline.ticketing.connectors.webform import BrowserThread, WebformConnector, WebformOptions, load_form_map
from firstline.ticketing.sync import Syncer
from firstline.ticketing.synced import SyncedTicketing

pytestmark = pytest.mark.live

SCENARIOS = load_scenarios()
FORMS = load_form_map(FORM_MAP)


PLAYERS = 2  # scenarios played at once, each player with its own Chromium (the suite mostly waits on the browser)


@dataclass
class Played:
    """One scenario's run on the legacy web app, kept for its test to check."""

    result: ScenarioResult | None = None
    checked: list[str] = field(default_factory=list)  # mirror tickets found filed in the app, as mirrored
    desks: list[LegacyDesk] = field(default_factory=list)
    error: BaseException | None = None


def _chromium_or_skip() -> None:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: browser tests must run)")
        pytest.skip(reason)


def _play(scenario: Scenario, world: Any, browser: BrowserThread, evidence_root: Path) -> Played:
    triage, knowledge, org = world
    played = Played()

    def webform(database: Transactions) -> SyncedTicketing:
        """A fresh LegacyDesk (numbers start again) and a connector on this player's browser."""
        app = LegacyDesk().__enter__()
        played.desks.append(app)
        options = WebformOptions(app.url, app.user, app.password, FORMS, evidence_dir=evidence_root / scenario.id)
        tickets = SyncedTicketing(SqlTicketing(database), WebformConnector(options, browser=browser), push_now=True)
        Syncer(tickets)
        return tickets

    def make(
        directory: DirectoryBackend, tickets: TicketingBackend, conversations: SqlConversations, codes: OneTimeCodes
    ) -> Helpdesk:
        desk = Helpdesk(
            directory=directory, tickets=tickets, conversations=conversations, triage=triage, knowledge=knowledge,
            codes=codes,
        )  # fmt: skip
        assert isinstance(tickets, SyncedTicketing)
        original = tickets.close

        def check_then_close() -> None:  # every ticket reached the app, as the mirror holds it
            try:
                played.checked.extend(assert_filed_as_mirrored(tickets))
            finally:
                original()  # the connector's browser context goes; the player's browser stays
                played.desks[-1].__exit__(None, None, None)

        tickets.close = check_then_close  # type: ignore[method-assign]
        return desk

    try:
        played.result = asyncio.run(run_scenario(scenario, org, make, tickets_on=webform))
    except BaseException as exc:  # kept for the scenario's own test to raise
        played.error = exc
    return played


@pytest.fixture(scope="module")
def played(request: pytest.FixtureRequest, world: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    dict[str, Future[Played]]
]:  # fmt: skip
    """Every selected scenario, played ``PLAYERS`` at a time; each test then checks its own scenario's run.

    A player takes a browser from the pool for one scenario and gives it back, so no two scenarios share a
    Chromium at the same moment (each connector still gets its own context, as in production).
    """
    _chromium_or_skip()
    evidence_root = tmp_path_factory.mktemp("webform-scenario-evidence")
    wanted = [
        item.callspec.params["scenario"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec") and "scenario" in item.callspec.params
    ]
    triage, knowledge, _ = world
    triage.classify("warm up the models")  # loaded once, here, not by two players at the same moment
    knowledge.search("warm up", 1)
    pool: queue.SimpleQueue[BrowserThread] = queue.SimpleQueue()
    browsers = [BrowserThread(CHROMIUM, timeout_s=10.0) for _ in range(PLAYERS)]
    for browser in browsers:
        pool.put(browser)

    def one(scenario: Scenario) -> Played:
        browser = pool.get()
        try:
            return _play(scenario, world, browser, evidence_root)
        finally:
            pool.put(browser)

    players = ThreadPoolExecutor(PLAYERS, thread_name_prefix="webform-scenario")
    try:  # in test order: each test waits for its own scenario only (and its time limit covers only that wait)
        yield {scenario.id: players.submit(one, scenario) for scenario in wanted}
    finally:
        players.shutdown(wait=True, cancel_futures=True)  # after `-x`, the scenarios nobody will check are dropped
        for browser in browsers:
            browser.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario_on_the_legacy_web_app(scenario: Scenario, played: dict[str, Future[Played]]) -> None:
    run = played[scenario.id].result()
    if run.error is not None:
        raise run.error
    result = run.result
    assert result is not None
    assert result.passed, "\n".join(result.failures) + "\n\n" + result.transcript()
    assert summarise([result])["passed"] == 1
    # Every ticket the mirror holds is a call in this scenario's own app, filed under its Firstline number.
    app = run.desks[-1]
    assert sorted(c.reference for c in app.calls.values()) == sorted(run.checked)
    assert all(c.number == f"CALL-{n:06d}" for n, c in enumerate(app.calls.values(), 1))
