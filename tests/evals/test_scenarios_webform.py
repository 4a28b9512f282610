"""The scenario suite on the legacy web app backend: every scenario, its tickets filed through LegacyDesk's forms.

Each scenario gets a fresh LegacyDesk (its call numbers start again) and a WebformConnector in map mode,
behind the mirror and outbox (``SyncedTicketing`` + ``Syncer``, every change pushed after its commit), all
connectors sharing one Chromium (a module-scoped ``BrowserThread``; each connector has its own browser
context). The end check is the one of ``test_scenarios.py``: the outbox is all done, and every mirror
ticket was filed and is in the same state in the app. Without /usr/bin/chromium the tests skip, except
in CI (``CI=true``), where they must run.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from firstline.conversations import SqlConversations
from firstline.directory import DirectoryBackend
from firstline.evals.scenarios import load_scenarios, run_scenario, summarise
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


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    """One Chromium for every scenario; each scenario's connector gets its own context (cookies) in it."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: browser tests must run)")
        pytest.skip(reason)
    thread = BrowserThread(CHROMIUM, timeout_s=10.0)
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def evidence_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("webform-scenario-evidence")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario_on_the_legacy_web_app(  # type: ignore[no-untyped-def]
    scenario, world, browser: BrowserThread, evidence_root: Path
) -> None:
    triage, knowledge, org = world
    checked: list[str] = []
    desks: list[LegacyDesk] = []

    def webform(database: Transactions) -> SyncedTicketing:
        """A fresh LegacyDesk (numbers start again) and a connector on the shared browser."""
        app = LegacyDesk().__enter__()
        desks.append(app)
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
                checked.extend(assert_filed_as_mirrored(tickets))
            finally:
                original()  # the connector's browser context goes; the shared browser stays
                desks[-1].__exit__(None, None, None)

        tickets.close = check_then_close  # type: ignore[method-assign]
        return desk

    result = asyncio.run(run_scenario(scenario, org, make, tickets_on=webform))
    assert result.passed, "\n".join(result.failures) + "\n\n" + result.transcript()
    assert summarise([result])["passed"] == 1
    # Every ticket the mirror holds is a call in this scenario's own app, filed under its Firstline number.
    app = desks[-1]
    assert sorted(c.reference for c in app.calls.values()) == sorted(checked)
    assert all(c.number == f"CALL-{n:06d}" for n, c in enumerate(app.calls.values(), 1))
