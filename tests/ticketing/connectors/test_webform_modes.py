"""The legacy web app connector in both modes, end to end behind the mirror and the outbox.

A ticket is filed, updated (a status change, then a note), resolved and closed in LegacyDesk through
``SyncedTicketing`` + ``Syncer`` (every change pushed after its commit) and a ``WebformConnector``:

- **map mode**: the form map fits the app; the computer-use agent is configured but never asked;
- **computer-use mode**: ``LegacyDesk.relabel()`` has broken the form map, so each write goes to the real
  :class:`~firstline.agents.computer_use.ComputerUse` agent as the connector's fallback, driven by a scripted
  vision model that answers each request with a computer action (click at a point, type, key, done).

What is scripted is only the model's choices: which relabelled field stands for which field of its task
(the values it types are read from the task it was sent), and where those fields are: their centres, read
in the same Chromium at the same viewport from the same form of the app, by visible label text, in a browser
session of their own (the model's steps run on a worker thread and may not touch the agent's page). It
answers the call number the app gave the call, as a vision model reads it off the confirmation page. The
agent, the clicks and key presses in Chromium, the evidence, the connector and the outbox are all real.

Without /usr/bin/chromium the tests skip, except in CI (``CI=true``), where they must run.
"""

from __future__ import annotations

import json
import os
import re
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from firstline.agents.computer_use import ComputerUse
from firstline.errors import InputError
from firstline.llm.messages import ChatRequest, ComputerTool
from firstline.localdb import open_database
from firstline.testing.browser import CHROMIUM
from firstline.testing.connectors import firstline_ticket
from firstline.testing.legacy_desk import FORM_MAP, LegacyDesk
from firstline.testing.scripted_vision import ScriptedComputer, Step, click, done, key, latest_image, type_text
from firstline.ticketing import Impact, NewTicket, SqlTicketing, TicketState, TicketUpdate, Urgency
from firstline.ticketing.connectors.webform import BrowserThread, WebformConnector, WebformMapError, WebformOptions
from firstline.ticketing.remote import RemoteChange
from firstline.ticketing.sla import priority_for
from firstline.ticketing.sync import Syncer
from firstline.ticketing.synced import SyncedTicketing

S = TicketState
live = pytest.mark.live
PNG = b"\x89PNG\r\n\x1a\n"
DISPLAY = (1024, 768)
NOTE = "Please restart the VPN client and try again."
FIX = "Reinstalled the VPN client (4.1)."


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    """One Chromium for the module; each connector (and the screen reader) gets its own context in it."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: browser tests must run)")
        pytest.skip(reason)
    thread = BrowserThread(CHROMIUM, timeout_s=10.0, viewport=DISPLAY)
    yield thread
    thread.close()


@pytest.fixture
def desk(browser: BrowserThread) -> Iterator[LegacyDesk]:
    """A fresh app per test: each test's mirror numbers its tickets from INC0000001 again."""
    with LegacyDesk() as app:
        yield app


@pytest.fixture
def screen(browser: BrowserThread, desk: LegacyDesk) -> Iterator[Screen]:
    looking = Screen(browser, desk)
    yield looking
    browser.end_session(looking.session)


@dataclass
class Screen:
    """Where the fields and buttons of one of the app's forms are, by their visible text: the centres of their
    boxes in the app's frameset at the agent's display size, read in a browser session of their own."""

    browser: BrowserThread
    desk: LegacyDesk
    session: str = field(default_factory=lambda: f"screen-{time.monotonic_ns()}")

    def read(self, path: str, labels: Sequence[str], buttons: Sequence[str]) -> dict[str, tuple[float, float]]:
        def work(page: Any) -> dict[str, tuple[float, float]]:
            page.goto(f"{self.desk.url}/desk")
            if page.get_by_label("Password", exact=True).count():
                page.get_by_label("User name", exact=True).fill(self.desk.user)
                page.get_by_label("Password", exact=True).fill(self.desk.password)
                with page.expect_navigation():
                    page.get_by_role("button", name="Log in", exact=True).click()
            main = page.frame(name="main")
            main.goto(f"{self.desk.url}{path}")
            found = {text: main.get_by_label(text, exact=True) for text in labels}
            found |= {text: main.get_by_role("button", name=text, exact=True) for text in buttons}
            centres = {}
            for text, locator in found.items():
                box = locator.bounding_box()
                assert box is not None, f"{text!r} is not on {path}"
                centres[text] = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            return centres

        return self.browser.run(work, session=self.session)


def task(request: ChatRequest) -> str:
    """The task the agent was given (its first user message)."""
    return next(m.content for m in request.messages if m.role == "user")


def given(field_label: str, request: ChatRequest) -> str:
    """The value the task asks for in the field the form map calls ``field_label`` ("Summary = 'VPN drops'")."""
    found = re.search(rf"{re.escape(field_label)} = '([^']*)'", task(request))
    assert found, f"the task names no {field_label!r}: {task(request)}"
    return found.group(1)


def typed(field_label: str) -> Step:
    """Type what the task asks for in ``field_label`` (into the field clicked just before)."""
    return lambda request: type_text(given(field_label, request))


def chosen(field_label: str) -> list[Step]:
    """Pick an option of the drop-down list clicked just before: type its text, then Return."""
    return [typed(field_label), key("Return")]


def file_call(screen: Screen, desk: LegacyDesk) -> list[Step]:
    """The relabelled New call form, as a model that matched the task's fields to it by meaning would fill it."""
    at = screen.read(
        "/call/new",
        ["Contact address", "Short description of the fault", "Full description", "How urgent is it?",
         "Who is affected?", "External ticket ID"],
        ["Submit call"],
    )  # fmt: skip

    def confirmation(request: ChatRequest) -> str:
        """The number on the confirmation page now shown: the one the app gave the call with the task's reference
        (a scripted model cannot read the screenshot it is sent; a vision model reads the number off it)."""
        assert latest_image(request) is not None
        reference, deadline = given("Reference", request), time.monotonic() + 5
        while not desk.by_reference(reference) and time.monotonic() < deadline:
            time.sleep(0.05)
        filed = desk.by_reference(reference)
        return filed[0].number if filed else "FAILED: no confirmation page"

    return [
        click(*at["Contact address"]), typed("Caller e-mail"),
        click(*at["Short description of the fault"]), typed("Summary"),
        click(*at["Full description"]), typed("Details"),
        click(*at["How urgent is it?"]), *chosen("Urgency"),
        click(*at["Who is affected?"]), *chosen("Impact"),
        click(*at["External ticket ID"]), typed("Reference"),
        click(*at["Submit call"]),
        confirmation,
    ]  # fmt: skip


def save_call(screen: Screen, number: str, *fields: str) -> list[Step]:
    """The relabelled Update form of call ``number``: the task's ``fields`` (form map labels), then Apply changes."""
    relabelled = {"Status": "Call state", "Assign to": "Owner", "Resolution": "Fix applied", "Add note": "New remark"}
    at = screen.read(f"/call/edit?no={number}", [relabelled[f] for f in fields], ["Apply changes"])
    steps: list[Step] = []
    for name in fields:
        steps += [click(*at[relabelled[name]]), *(chosen(name) if name == "Status" else [typed(name)])]
    return [*steps, click(*at["Apply changes"]), done(f"Call {number} updated.")]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(PNG), path
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@dataclass
class Agent:
    """The scripted model and the real agent on top of it, with what each run left behind."""

    model: ScriptedComputer = field(default_factory=lambda: ScriptedComputer([]))
    runs: list[tuple[int, int]] = field(default_factory=list)  # (first request, first log line) of each run

    def __post_init__(self) -> None:
        self.computer_use = ComputerUse(self.model, max_steps=20, display=DISPLAY, settle_ms=150)

    def expect(self, steps: list[Step], folder: Path | None = None) -> None:
        """The next run plays ``steps``; ``folder``: where the ticket's earlier runs keep their evidence."""
        log = folder / "actions.jsonl" if folder else None
        self.runs.append((len(self.model.requests), len(log.read_text().splitlines()) if log and log.exists() else 0))
        self.model.steps += steps

    def check_last_run(self, folder: Path, *wanted: str) -> dict[str, Any]:
        """Every step of the last run: asked with a screenshot and the computer tool; a PNG and a log line each."""
        first_request, first_line = self.runs[-1]
        assert self.model.steps == []  # the whole script was played
        requests = self.model.requests[first_request:]
        lines: list[dict[str, Any]] = [
            json.loads(line) for line in (folder / "actions.jsonl").read_text().splitlines()
        ][first_line:]
        *steps, last = lines
        assert last["action"] in ("answer", "done") and last["outcome"] == "finished", last
        assert len(requests) == len(steps) + 1  # one request per action, and one for the answer
        for request in requests:
            assert request.computer == ComputerTool(*DISPLAY)
            assert latest_image(request) is not None
            assert sum(len(m.images) for m in request.messages) == 1  # the newest screenshot only
        assert all(w in task(requests[0]) for w in wanted), task(requests[0])
        assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
        assert all(s["outcome"].startswith("ok") for s in steps), steps
        assert png_size(folder / "00-start.png") == DISPLAY
        for step in steps:  # the screen after each step (a later run on the ticket reuses these names)
            assert png_size(folder / step["screenshot"]) == DISPLAY
        return last


def synced(connector: WebformConnector) -> SyncedTicketing:
    tickets = SyncedTicketing(SqlTicketing(open_database("sqlite://")), connector, push_now=True)
    Syncer(tickets)
    return tickets


def all_sent(tickets: SyncedTicketing) -> None:
    assert tickets.outbox.counts().keys() <= {"done"}, tickets.outbox.items()


# --- both modes, end to end --------------------------------------------------------------------------------


@live
@pytest.mark.parametrize("mode", ["map", "computer use"])
def test_files_updates_resolves_and_closes_a_ticket_behind_the_outbox(
    mode: str, desk: LegacyDesk, browser: BrowserThread, screen: Screen, tmp_path: Path
) -> None:
    agent = Agent()
    relabelled = mode == "computer use"
    desk.relabel(relabelled)
    options = WebformOptions(desk.url, desk.user, desk.password, FORM_MAP, evidence_dir=tmp_path)
    connector = WebformConnector(replace(options, fallback=agent.computer_use), browser=browser)
    tickets = synced(connector)
    try:
        new = NewTicket(
            requester="helena.marsh@example.com", short_description="VPN drops every few minutes",
            description="Since the client update this morning; home broadband is fine.", urgency=Urgency.HIGH,
            impact=Impact.MEDIUM,
        )  # fmt: skip
        before = desk.count()

        def step(steps: list[Step], number: str) -> Path:
            folder = tmp_path / number / "computer-use"
            if relabelled:
                agent.expect(steps, folder)
            return folder

        # File it: the agent answers the number on the confirmation page; the connector opens that call and
        # checks it carries the Firstline number.
        if relabelled:
            agent.expect(file_call(screen, desk))
        number = tickets.create(new).number
        folder = tmp_path / number / "computer-use"
        all_sent(tickets)
        ref = tickets.remote(number)
        assert ref is not None and desk.count() == before + 1
        call = desk.calls[ref.number]
        assert (call.reference, call.caller, call.summary) == (number, new.requester, new.short_description)
        assert (call.details, call.urgency, call.impact, call.status) == (new.description, "1", "2", "Open")
        if relabelled:
            last = agent.check_last_run(folder, "Summary = 'VPN drops every few minutes'", f"Reference = '{number}'")
            assert last["said"] == ref.number  # the bare number, as ComputerUse asks the model to answer

        # Update it: a status change (and an owner), then a note.
        folder = step(save_call(screen, ref.number, "Status", "Assign to") if relabelled else [], number)
        tickets.update(number, TicketUpdate(state=S.IN_PROGRESS, assigned_to="tomasz.nowicki"), author="firstline")
        all_sent(tickets)
        assert (call.status, call.assignee) == ("In progress", "tomasz.nowicki")
        if relabelled:
            agent.check_last_run(folder, "Status = 'In progress'", "Assign to = 'tomasz.nowicki'", ref.number)
        folder = step(save_call(screen, ref.number, "Add note") if relabelled else [], number)
        tickets.comment(number, NOTE, author="firstline")
        all_sent(tickets)
        assert [(n.author, n.body, n.public) for n in call.notes] == [(desk.user, NOTE, True)]
        if relabelled:
            agent.check_last_run(folder, f"Add note = {NOTE!r}", "Internal note (not shown to caller) = not ticked")

        # Resolve it, then close it.
        folder = step(save_call(screen, ref.number, "Status", "Resolution") if relabelled else [], number)
        tickets.update(number, TicketUpdate(state=S.RESOLVED, resolution_note=FIX), author="firstline")
        all_sent(tickets)
        assert (call.status, call.resolution) == ("Resolved", FIX)
        if relabelled:
            agent.check_last_run(folder, "Status = 'Resolved'", f"Resolution = {FIX!r}")
        folder = step(save_call(screen, ref.number, "Status") if relabelled else [], number)
        tickets.update(number, TicketUpdate(state=S.CLOSED), author="firstline")
        all_sent(tickets)
        assert call.status == "Closed" and desk.count() == before + 1
        assert tickets.get(number).state is S.CLOSED and connector.get(ref.number).state is S.CLOSED
        if relabelled:
            agent.check_last_run(folder, "Status = 'Closed'")

        # The connector's own evidence: every step of every write, a screenshot each, on the ticket's folder.
        steps = connector.evidence(number)
        assert {e.operation for e in steps} == {"create", "update", "comment"}
        assert all(e.screenshot is not None and e.screenshot.read_bytes().startswith(PNG) for e in steps)
        handed = [e for e in steps if e.action == "fallback"]
        if relabelled:  # five writes, each handed over (the goal) and answered (the outcome)
            assert len(handed) == 10 and len(agent.runs) == 5
            assert "forms.new_call.fields.requester" in handed[0].target
            assert all("forms.update.fields." in e.target for e in handed[2::2])
            assert all(e.outcome.startswith("ok in ") for e in handed[1::2])
        else:
            assert handed == [] and agent.model.requests == []
            assert not (tmp_path / number / "computer-use").exists()
    finally:
        tickets.close()


# --- dry run, and the agent's word checked -------------------------------------------------------------------


@live
def test_a_dry_run_never_hands_the_page_to_the_agent(desk: LegacyDesk, browser: BrowserThread, tmp_path: Path) -> None:
    """A dry run fills forms but never submits; the agent cannot be trusted to stop short of submitting, so in
    a dry run a form the map no longer fits is an error naming the key, and the agent is never asked."""
    options = WebformOptions(desk.url, desk.user, desk.password, FORM_MAP, evidence_dir=tmp_path)
    filer = WebformConnector(options, browser=browser)
    agent = Agent(ScriptedComputer([done("CALL-999999")]))
    dry = WebformConnector(replace(options, dry_run=True, fallback=agent.computer_use), browser=browser)
    try:
        ref = filer.create(firstline_ticket()).ref
        desk.relabel()
        before, seen = desk.count(), len(desk.seen)
        with pytest.raises(WebformMapError) as caught:
            dry.create(firstline_ticket(short_description="Dry run: monitor flickers"))
        assert caught.value.key == "forms.new_call.fields.requester"
        with pytest.raises(WebformMapError) as caught:
            dry.update(ref, RemoteChange(state=S.RESOLVED, resolution_note=FIX))
        assert caught.value.key == "forms.update.fields.state"
        assert agent.model.requests == [] and desk.count() == before
        assert desk.calls[ref.number].status == "Open"
        assert not [r for r in desk.seen[seen:] if r.method == "POST" and r.path != "/login"]
        assert not list(tmp_path.glob("*/computer-use"))
    finally:
        filer.close()
        dry.close()


@live
def test_what_the_agent_says_is_checked_against_the_app(
    desk: LegacyDesk, browser: BrowserThread, tmp_path: Path
) -> None:
    """An agent that names someone else's call, or says it saved a change it did not, fails the write."""
    options = WebformOptions(desk.url, desk.user, desk.password, FORM_MAP, evidence_dir=tmp_path)
    filer = WebformConnector(options, browser=browser)
    agent = Agent()
    helped = WebformConnector(replace(options, fallback=agent.computer_use), browser=browser)
    try:
        other = filer.create(firstline_ticket()).ref
        desk.relabel()
        before = desk.count()
        agent.model.steps += [done(f"Call logged: {other.number}")]  # files nothing, names another call
        with pytest.raises(WebformMapError, match=r"whose reference is FL\d+") as caught:
            helped.create(firstline_ticket(short_description="Keyboard sticks"))
        assert caught.value.key == "forms.new_call.fields.requester" and desk.count() == before
        agent.model.steps += [done("Saved.")]  # says it saved the change, without touching the form
        with pytest.raises(WebformMapError, match="does not show Status = 'Resolved'") as caught:
            helped.update(other, RemoteChange(state=S.RESOLVED, resolution_note=FIX))
        assert caught.value.key == "forms.update.fields.state"
        assert desk.calls[other.number].status == "Open"
        assert len(agent.model.requests) == 2
    finally:
        filer.close()
        helped.close()


# --- map mode: the update form holds what the scenarios change ------------------------------------------------


@live
def test_the_update_form_holds_group_urgency_impact_category_and_parent(
    desk: LegacyDesk, browser: BrowserThread, tmp_path: Path
) -> None:
    connector = WebformConnector(
        WebformOptions(desk.url, desk.user, desk.password, FORM_MAP, evidence_dir=tmp_path), browser=browser
    )
    try:
        parent = connector.create(firstline_ticket(short_description="VPN concentrator down")).ref
        ticket = firstline_ticket(assignment_group="Service Desk")
        child = connector.create(ticket)
        assert child.assignment_group == "Service Desk" and child.parent_number is None
        change = RemoteChange(
            assignment_group="Network Operations", urgency=Urgency.LOW, impact=Impact.HIGH, category="email",
            parent=parent.number,
        )  # fmt: skip
        saved = connector.update(child.ref, change)
        assert (saved.assignment_group, saved.urgency, saved.impact) == ("Network Operations", Urgency.LOW, Impact.HIGH)
        assert saved.parent_number == parent.number and saved.priority == priority_for(Impact.HIGH, Urgency.LOW)
        call = desk.calls[child.ref.number]
        assert (call.group, call.urgency, call.impact, call.category, call.parent) == (
            "Network Operations", "3", "1", "E-mail", parent.number,
        )  # fmt: skip
        unlinked = connector.update(child.ref, RemoteChange(parent=""))
        assert unlinked.parent_number is None and desk.calls[child.ref.number].parent == ""
        with pytest.raises(InputError, match=r"forms\.update\.fields\.short_description"):  # a field it lacks
            connector.update(child.ref, RemoteChange(short_description="Renamed"))
    finally:
        connector.close()
