"""The legacy web ticket app connector (form-map mode) against LegacyDesk, driven in Debian's Chromium.

One LegacyDesk, one Chromium (a shared BrowserThread) and one connector serve the whole module;
tests that need other options (dry run, a fallback, bad credentials, an unreachable app) open their
own connector on the same browser, in a browser context of its own.
Without /usr/bin/chromium the browser tests skip, except in CI (``CI=true``), where they must run.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from firstline.errors import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigError,
    InputError,
    TicketNotFoundError,
)
from firstline.testing.browser import CHROMIUM
from firstline.testing.connectors import firstline_ticket
from firstline.testing.legacy_desk import FORM_MAP, LegacyDesk
from firstline.ticketing import Impact, TicketState, Urgency
from firstline.ticketing.connectors.webform import (
    DRY_RUN,
    BrowserThread,
    FallbackResult,
    WebformConnector,
    WebformMapError,
    WebformOptions,
    load_form_map,
    parse_form_map,
)
from firstline.ticketing.remote import RemoteChange, TicketConnector

S = TicketState
live = pytest.mark.live
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def desk() -> Iterator[LegacyDesk]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: browser tests must run)")
        pytest.skip(reason)
    with LegacyDesk() as app:
        yield app


@pytest.fixture(scope="module")
def browser(desk: LegacyDesk) -> Iterator[BrowserThread]:
    """One Chromium for the module; each connector gets its own context (cookies) in it."""
    thread = BrowserThread(CHROMIUM, timeout_s=10.0)
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def evidence_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("webform-evidence")


def connect(
    browser: BrowserThread, desk: LegacyDesk, evidence_dir: Path, url: str = "", password: str = "", **options: Any
) -> WebformConnector:
    settings = WebformOptions(
        url or desk.url, desk.user, password or desk.password, FORM_MAP, evidence_dir=evidence_dir
    )
    return WebformConnector(replace(settings, **options), browser=browser)


@pytest.fixture(scope="module")
def connector(browser: BrowserThread, desk: LegacyDesk, evidence_dir: Path) -> Iterator[WebformConnector]:
    opened = connect(browser, desk, evidence_dir)
    yield opened
    opened.close()


@pytest.fixture
def restore(desk: LegacyDesk) -> Iterator[LegacyDesk]:
    """Put the app's switches back after a test that flips them."""
    yield desk
    desk.relabel(False)
    desk.session_timeout_s = 600.0
    desk.page_size = 10
    desk.fail_next(500, times=0)
    desk.expire_sessions_after(None)


@dataclass
class ScriptedFallback:
    """A stand-in for the computer-use agent: fixed Playwright actions by visible text, one script per call."""

    scripts: list[list[tuple[str, str, str]]]
    goals: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def __call__(self, page: Any, goal: str, folder: Path) -> FallbackResult:
        self.goals.append(goal)
        self.threads.append(threading.current_thread())
        main = page.frame(name="main")
        script = self.scripts.pop(0)
        for verb, text, value in script:
            if verb == "fill":
                main.get_by_label(text, exact=True).fill(value)
            elif verb == "select":
                main.get_by_label(text, exact=True).select_option(label=value)
            elif verb == "press":
                with main.expect_navigation():
                    main.get_by_role("button", name=text, exact=True).click()
        (folder / "01-scripted.png").write_bytes(page.screenshot())
        return FallbackResult(ok=True, result_text=str(main.locator("body").inner_text()), steps=len(script))


# --- the form map, no browser ----------------------------------------------------------------------------


def test_the_form_map_parses_and_its_errors_name_the_key() -> None:
    form_map = load_form_map(FORM_MAP)
    new_call = form_map.form("new_call")
    assert new_call.fields["short_description"] == "Summary" and new_call.nav == ("New call",)
    assert new_call.result is not None and new_call.result.search("Call logged: CALL-000042")
    assert form_map.out("state", "resolved") == "Resolved" and form_map.back("state", "in progress") == "in_progress"
    text = FORM_MAP.read_text()
    broken = {
        "forms.new_call.submit": text.replace('submit = "Log call"\n', ""),
        "forms.new_call.sumbit": text.replace('submit = "Log call"', 'sumbit = "Log call"'),
        "forms.new_call.result": text.replace("result = 'Call logged:\\s*(CALL-\\d+)'", "result = '(unclosed'"),
        "login.fields.password": text.replace(', password = "Password"', ""),
        "forms.new_call.fields.summary": text.replace('short_description = "Summary"', 'summary = "Summary"'),
    }
    for key, document in broken.items():
        with pytest.raises(ConfigError, match=re.escape(f"`{key}`")):
            parse_form_map(document, source="legacy_desk.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_form_map("home = ")


def test_webhooks_are_not_offered_and_polling_is_named(tmp_path: Path) -> None:
    connector = WebformConnector(WebformOptions("http://127.0.0.1:9", "u", "p", FORM_MAP, evidence_dir=tmp_path))
    try:
        assert isinstance(connector, TicketConnector) and connector.system == "webform"
        with pytest.raises(ConfigError, match="polling"):
            connector.parse_webhook({}, b"{}")
    finally:
        connector.close()
        connector.close()  # twice is harmless


# --- map mode in Chromium ----------------------------------------------------------------------------------


@live
def test_files_a_call_in_map_mode_and_reads_it_back(connector: WebformConnector, desk: LegacyDesk) -> None:
    ticket = firstline_ticket()
    before = desk.count()
    remote = connector.create(ticket)
    assert re.fullmatch(r"CALL-\d{6}", remote.ref.number) and remote.ref.key == remote.ref.number
    assert remote.ref.url.endswith(f"/call/view?no={remote.ref.number}")
    [stored] = desk.by_reference(ticket.number)  # Firstline's number went into the Reference field
    assert (stored.number, stored.summary, stored.category) == (remote.ref.number, ticket.short_description, "Network")
    assert remote.firstline_number == ticket.number and remote.state is S.NEW
    assert (remote.short_description, remote.requester) == (ticket.short_description, ticket.requester)
    assert remote.description == ticket.description
    assert (remote.urgency, remote.impact, remote.priority) == (Urgency.HIGH, Impact.MEDIUM, ticket.priority)
    assert connector.get(remote.ref.number) == remote == connector.find(ticket.number)
    assert desk.count() == before + 1
    assert connector.find("FL0000000404") is None
    with pytest.raises(TicketNotFoundError):
        connector.get("CALL-999999")


@live
def test_create_is_idempotent_by_the_reference(connector: WebformConnector, desk: LegacyDesk) -> None:
    ticket = firstline_ticket(short_description="Printer on floor 3 jams")
    before = desk.count()
    first = connector.create(ticket)
    again = connector.create(ticket)
    assert again.ref == first.ref and desk.count() == before + 1
    assert len(desk.by_reference(ticket.number)) == 1
    skipped = [e for e in connector.evidence(ticket.number) if e.action == "skip"]
    assert skipped and first.ref.number in skipped[-1].outcome


@live
def test_server_errors_are_retried_then_reported_unavailable(connector: WebformConnector, restore: LegacyDesk) -> None:
    desk = restore
    before = desk.count()
    desk.fail_next(500, times=2)
    assert connector.create(firstline_ticket()).ref.number
    assert desk.count() == before + 1
    desk.fail_next(500, times=50)
    with pytest.raises(BackendUnavailableError, match=r"ticketing\.webform\.url"):
        connector.create(firstline_ticket())
    assert desk.count() == before + 1


@live
def test_update_moves_the_status_once_and_keeps_the_resolution(connector: WebformConnector, desk: LegacyDesk) -> None:
    ref = connector.create(firstline_ticket()).ref
    assert connector.update(ref, RemoteChange(state=S.IN_PROGRESS, assigned_to="tomasz.nowicki")).state is S.IN_PROGRESS
    done = connector.update(ref, RemoteChange(state=S.RESOLVED, resolution_note="Reinstalled the VPN client"))
    assert done.state is S.RESOLVED and done.resolution_note == "Reinstalled the VPN client"
    assert done.assigned_to == "tomasz.nowicki"
    posts = len([r for r in desk.seen if r.method == "POST" and r.path == "/call/edit"])
    retried = connector.update(ref, RemoteChange(state=S.RESOLVED, resolution_note="Reinstalled the VPN client"))
    assert retried.state is S.RESOLVED
    assert len([r for r in desk.seen if r.method == "POST" and r.path == "/call/edit"]) == posts  # not saved again
    assert connector.update(ref, RemoteChange(state=S.CLOSED)).state is S.CLOSED
    assert desk.calls[ref.number].status == "Closed"
    with pytest.raises(InputError, match=r"forms\.update\.fields\.short_description"):
        connector.update(ref, RemoteChange(short_description="Renamed"))


@live
def test_public_and_internal_notes_and_staff_notes(connector: WebformConnector, desk: LegacyDesk) -> None:
    ref = connector.create(firstline_ticket()).ref
    public = connector.comment(ref, "Please restart the VPN client and try again.", public=True)
    note = connector.comment(ref, "Client 4.2 known bad; see KB0012.", public=False)
    desk.staff_comment(ref.number, "Rolled the client back to 4.1 for you.", public=True)
    desk.staff_comment(ref.number, "Checked the concentrator logs.", public=False)
    seen = connector.comments(ref)
    assert [(c.body, c.public, c.ours) for c in seen] == [
        ("Please restart the VPN client and try again.", True, True),
        ("Client 4.2 known bad; see KB0012.", False, True),
        ("Rolled the client back to 4.1 for you.", True, False),
        ("Checked the concentrator logs.", False, False),
    ]
    assert [n.public for n in desk.calls[ref.number].notes] == [True, False, True, False]
    assert {public.id, note.id} <= {c.id for c in seen} and public.id != note.id
    assert [c.created_at for c in seen] == sorted(c.created_at for c in seen)


@live
def test_changed_since_follows_the_pages_and_sees_staff_changes(
    connector: WebformConnector, restore: LegacyDesk
) -> None:
    desk = restore
    desk.page_size = 1  # every call on a page of its own
    before = datetime.now(UTC)
    refs = [connector.create(firstline_ticket(short_description=f"issue {i}")).ref for i in range(2)]
    changed = connector.changed_since(before)
    assert {r.number for r in refs} <= {t.ref.number for t in changed}
    assert [t.updated_at for t in changed] == sorted(t.updated_at for t in changed)
    time.sleep(1.0)  # the app keeps whole seconds
    later = datetime.now(UTC)
    desk.staff_change(refs[0].number, state=S.IN_PROGRESS, assigned_to="tomasz.nowicki@example.com")
    [latest] = [t for t in connector.changed_since(later, limit=5) if t.ref.number == refs[0].number]
    assert latest.state is S.IN_PROGRESS and latest.assigned_to == "tomasz.nowicki@example.com"
    assert refs[1].number not in {t.ref.number for t in connector.changed_since(later)}


@live
def test_a_session_that_times_out_means_a_new_login(connector: WebformConnector, restore: LegacyDesk) -> None:
    desk = restore
    ticket = firstline_ticket()
    ref = connector.create(ticket).ref
    desk.session_timeout_s = 1.0
    logins = desk.logins
    time.sleep(1.3)  # idle past the timeout: the next click lands on the login page
    assert connector.comment(ref, "Still on it.", public=True).ours
    assert desk.logins == logins + 1
    desk.session_timeout_s = 600.0
    desk.expire_sessions_after(3)  # in the middle of the next run
    assert connector.update(ref, RemoteChange(state=S.ON_HOLD)).state is S.ON_HOLD
    assert desk.logins == logins + 2
    assert any(e.action == "login page" for e in connector.evidence(ticket.number))


@live
def test_every_step_of_a_write_leaves_evidence(connector: WebformConnector, evidence_dir: Path) -> None:
    ticket = firstline_ticket()
    connector.create(ticket)
    steps = connector.evidence(ticket.number)
    assert [e.step for e in steps] == list(range(steps[0].step, steps[0].step + len(steps)))
    assert all(e.screenshot is not None and e.screenshot.read_bytes().startswith(PNG) for e in steps)
    folder = evidence_dir / ticket.number
    assert all(e.screenshot is not None and e.screenshot.parent == folder for e in steps)
    assert all(re.fullmatch(r"\d{2,}-[a-z0-9._-]+\.png", e.screenshot.name) for e in steps if e.screenshot)
    filled = [e for e in steps if e.action == "fill" and "forms.new_call.fields.short_description" in e.target]
    assert filled and filled[0].outcome == ticket.short_description
    assert any(e.action == "submit" and e.target == "Log call" for e in steps)
    lines = [json.loads(line) for line in (folder / "actions.jsonl").read_text().splitlines()]
    assert len(lines) == len(steps) and {"action", "target", "time", "outcome"} <= set(lines[0])
    assert "Winter2003!" not in (folder / "actions.jsonl").read_text()


@live
def test_a_dry_run_fills_the_form_but_never_submits(
    browser: BrowserThread, desk: LegacyDesk, evidence_dir: Path
) -> None:
    dry = connect(browser, desk, evidence_dir, dry_run=True)
    try:
        ticket = firstline_ticket(short_description="Dry run: monitor flickers")
        before, seen = desk.count(), len(desk.seen)
        remote = dry.create(ticket)
        assert remote.ref.number == DRY_RUN and remote.firstline_number == ticket.number
        assert desk.count() == before
        assert not [r for r in desk.seen[seen:] if r.method == "POST" and r.path == "/call/new"]
        steps = dry.evidence(ticket.number)
        assert [e.outcome for e in steps if e.target == "Log call"] == ["skipped: dry run"]
        assert any(e.action == "fill" and e.outcome == ticket.short_description for e in steps)
        assert all(e.screenshot and e.screenshot.exists() for e in steps)
    finally:
        dry.close()


@live
def test_a_relabelled_form_names_the_map_key_and_the_fallback_takes_over(
    connector: WebformConnector, browser: BrowserThread, restore: LegacyDesk, evidence_dir: Path
) -> None:
    desk = restore
    desk.relabel()
    ticket = firstline_ticket(short_description="Outlook keeps asking for the password")
    before = desk.count()
    with pytest.raises(WebformMapError) as caught:
        connector.create(ticket)
    assert caught.value.key == "forms.new_call.fields.requester"
    assert "'Caller e-mail'" in str(caught.value) and "forms.new_call.fields.short_description" in str(caught.value)
    assert desk.count() == before  # nothing half-filed

    scripted = ScriptedFallback(
        [
            [
                ("fill", "Contact address", ticket.requester),
                ("fill", "Short description of the fault", ticket.short_description),
                ("fill", "Full description", ticket.description),
                ("select", "How urgent is it?", "1 - High"),
                ("select", "Type of problem", "E-mail"),
                ("fill", "External ticket ID", ticket.number),
                ("press", "Submit call", ""),
            ],
            [
                ("select", "Call state", "Resolved"),
                ("fill", "Fix applied", "Re-entered the password"),
                ("press", "Apply changes", ""),
            ],
        ]
    )
    helped = connect(browser, desk, evidence_dir, fallback=scripted)
    try:
        remote = helped.create(ticket)
        assert re.fullmatch(r"CALL-\d{6}", remote.ref.number) and remote.firstline_number == ticket.number
        assert desk.count() == before + 1 and remote.short_description == ticket.short_description
        goal = scripted.goals[0]
        assert ticket.short_description in goal and ticket.number in goal and "call number" in goal
        assert scripted.threads[0] is helped.browser_thread.thread  # called on the browser thread
        done = helped.update(remote.ref, RemoteChange(state=S.RESOLVED, resolution_note="Re-entered the password"))
        assert done.state is S.RESOLVED and done.resolution_note == "Re-entered the password"
        assert "Resolved" in scripted.goals[1] and remote.ref.number in scripted.goals[1]
        steps = helped.evidence(ticket.number)
        assert [e.action for e in steps].count("fallback") == 4
        assert (evidence_dir / ticket.number / "computer-use" / "01-scripted.png").exists()
    finally:
        helped.close()


@live
def test_check_reports_a_missing_label_with_its_map_key(connector: WebformConnector, restore: LegacyDesk) -> None:
    connector.create(firstline_ticket())  # the call page and the update form are checked on a call
    checks = connector.check()
    assert all(c.ok for c in checks), checks
    assert {"webform reachable", "webform login", "webform form new_call", "webform call page"} <= {
        c.name for c in checks
    }
    restore.relabel()
    failed = {c.name: c.detail for c in connector.check() if not c.ok}
    assert set(failed) == {"webform form new_call", "webform form update"}
    assert "'Summary'" in failed["webform form new_call"]
    assert "forms.new_call.fields.short_description" in failed["webform form new_call"]
    assert "forms.update.submit" in failed["webform form update"]


@live
def test_refused_login_and_an_unreachable_app(browser: BrowserThread, desk: LegacyDesk, evidence_dir: Path) -> None:
    bad = connect(browser, desk, evidence_dir, password="wrong")
    try:
        with pytest.raises(AuthenticationError, match="FIRSTLINE_TICKETING__WEBFORM__PASSWORD"):
            bad.create(firstline_ticket())
        login = {c.name: c for c in bad.check()}["webform login"]
        assert not login.ok and "FIRSTLINE_TICKETING__WEBFORM__USER" in login.detail
    finally:
        bad.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = connect(browser, desk, evidence_dir, url=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(BackendUnavailableError, match=str(port)):
            gone.find("FL1")
        [reachable] = gone.check()
        assert not reachable.ok and "ticketing.webform.url" in reachable.detail
    finally:
        gone.close()


@live
def test_calls_from_several_threads_share_one_browser_thread(connector: WebformConnector, desk: LegacyDesk) -> None:
    before = desk.count()
    tickets = [firstline_ticket(short_description=f"parallel {i}") for i in range(3)]
    with ThreadPoolExecutor(3) as pool:
        created = list(pool.map(connector.create, tickets))
        found = list(pool.map(connector.find, [t.number for t in tickets]))
    assert [r.firstline_number for r in created] == [t.number for t in tickets]
    assert [f.ref if f else None for f in found] == [r.ref for r in created]
    assert desk.count() == before + 3
    browser = connector.browser_thread.thread
    assert browser is not None and browser is not threading.current_thread()
