"""The scenario suite on the offline engine: every scenario must reach its expected end state."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import yaml

from firstline.conversations import SqlConversations
from firstline.directory import DirectoryBackend, load_org
from firstline.errors import ConfigError
from firstline.evals.scenarios import TicketsFactory, load_scenarios, run_scenario, summarise
from firstline.helpdesk.desk import DeskReply, Helpdesk
from firstline.helpdesk.reply import ticket_card
from firstline.helpdesk.taxonomy import SPECIALISTS
from firstline.helpdesk.tools.deps import OneTimeCodes
from firstline.runtime import demo_org
from firstline.sqlstore.transactions import Transactions
from firstline.testing.connectors import assert_filed_as_mirrored
from firstline.testing.connectwise_fake import FakeConnectWise
from firstline.testing.jira_fake import FakeJira
from firstline.testing.memory_connector import InMemoryConnector
from firstline.testing.servicenow_fake import FakeServiceNow
from firstline.ticketing import (
    InMemoryTicketing,
    NewTicket,
    SqlTicketing,
    Ticket,
    TicketingBackend,
    TicketQuery,
    TicketState,
    TicketUpdate,
)
from firstline.ticketing.connectors.connectwise import ConnectWiseConnector, ConnectWiseOptions
from firstline.ticketing.connectors.jira import JiraConnector, JiraOptions
from firstline.ticketing.connectors.servicenow import ServiceNowConnector, ServiceNowOptions
from firstline.ticketing.remote import FieldMap, TicketConnector
from firstline.ticketing.sync import Syncer
from firstline.ticketing.synced import SyncedTicketing

SCENARIOS = load_scenarios()


def test_the_suite_covers_every_specialist_and_the_hard_cases() -> None:
    assert len(SCENARIOS) >= 40
    counts = Counter(s.specialist for s in SCENARIOS)
    assert set(counts) >= set(SPECIALISTS), f"missing: {set(SPECIALISTS) - set(counts)}"
    tags = " ".join(s.id for s in SCENARIOS)
    for case in ("unverified", "denied", "unknown-user", "known-incident", "someone-else", "injection"):
        assert case in tags, f"no scenario id mentions {case!r}"


def _vendor_backend(database: Transactions) -> SyncedTicketing:
    """A vendor behind the mirror and outbox, every change pushed after its commit (as the worker would)."""
    tickets = SyncedTicketing(SqlTicketing(database), InMemoryConnector(), push_now=True)
    Syncer(tickets)
    return tickets


def _http_vendor(start: Callable[[], Any], connect: Callable[[Any], TicketConnector]) -> TicketsFactory:
    """A vendor's HTTP fake (fresh per scenario: Firstline numbers start again) behind the mirror and outbox."""

    def backend(database: Transactions) -> SyncedTicketing:
        server = start()
        fake = server.__enter__()
        tickets = SyncedTicketing(SqlTicketing(database), connect(fake), push_now=True)
        Syncer(tickets)
        close = tickets.close

        def close_and_stop() -> None:
            close()
            server.__exit__(None, None, None)
            assert fake.violations == [], fake.violations

        tickets.close = close_and_stop  # type: ignore[method-assign]
        return tickets

    return backend


def _servicenow(fake: FakeServiceNow) -> TicketConnector:
    options = ServiceNowOptions(url=fake.url, user=fake.user, password=fake.password)
    return ServiceNowConnector(options, transport=httpx.HTTPTransport(verify=False))


# Firstline's categories (its specialists) as the service types of the fake's board, as an admin maps them in
# [ticketing.connectwise.map.categories].
CONNECTWISE_TYPES = {
    "network": "Network", "computer": "Hardware", "device": "Hardware", "printer": "Hardware", "phone": "Hardware",
    "email": "Software", "software": "Software", "ticket": "Software", "lookup": "Software", "security": "Access",
}  # fmt: skip


def _connectwise(fake: FakeConnectWise) -> TicketConnector:
    options = ConnectWiseOptions(
        url=fake.url, company=fake.company, public_key=fake.public_key, private_key=fake.private_key,
        client_id=fake.client_id, board=fake.board, company_identifier=fake.customer, member=fake.member,
        fields=FieldMap(categories=CONNECTWISE_TYPES, groups={"Network Operations": "Network Ops"}),
    )  # fmt: skip
    return ConnectWiseConnector(options)


# The demo organisation's assignment groups, as the components of the fake Jira project.
DEMO_GROUPS = (
    "Service Desk", "Network Operations", "End User Computing", "Messaging", "Print Services", "Telephony",
    "Security Operations", "Desktop Support", "Identity & Access Management",
)  # fmt: skip


def _jira(fake: FakeJira) -> TicketConnector:
    options = JiraOptions(
        url=fake.url, email=fake.email, api_token=fake.api_token, project_key="HELP", service_desk_id="1",
        request_type_id="10",
    )  # fmt: skip
    return JiraConnector(options, transport=httpx.HTTPTransport(verify=False))


BACKENDS: dict[str, TicketsFactory] = {
    "sql": SqlTicketing,
    "memory": lambda database: InMemoryTicketing(),
    "memvendor": _vendor_backend,
    "servicenow": _http_vendor(lambda: FakeServiceNow(spec_checks=False), _servicenow),
    "connectwise": _http_vendor(FakeConnectWise, _connectwise),
    "jira": _http_vendor(lambda: FakeJira(page_size=50, teams=DEMO_GROUPS, spec_checks=False), _jira),
}


@pytest.mark.parametrize("backend", [*BACKENDS, "postgres"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario, world, backend: str, request: pytest.FixtureRequest) -> None:  # type: ignore[no-untyped-def]
    triage, knowledge, org = world
    # "postgres": the built-in store in a fresh schema of a real PostgreSQL server
    database_url = request.getfixturevalue("postgres").fresh_url() if backend == "postgres" else "sqlite://"
    checked: list[str] = []

    def make(
        directory: DirectoryBackend, tickets: TicketingBackend, conversations: SqlConversations, codes: OneTimeCodes
    ) -> Helpdesk:
        desk = Helpdesk(
            directory=directory, tickets=tickets, conversations=conversations, triage=triage, knowledge=knowledge,
            codes=codes,
        )  # fmt: skip
        if isinstance(tickets, SyncedTicketing):
            original = tickets.close

            def check_then_close() -> None:  # every ticket reached the vendor, as the mirror holds it
                checked.extend(assert_filed_as_mirrored(tickets))
                original()

            tickets.close = check_then_close  # type: ignore[method-assign]
        return desk

    tickets_on = BACKENDS.get(backend, SqlTicketing)
    result = asyncio.run(run_scenario(scenario, org, make, tickets_on=tickets_on, database_url=database_url))
    assert result.passed, "\n".join(result.failures) + "\n\n" + result.transcript()
    assert summarise([result])["passed"] == 1


# -- the grader's conversation checks, on a scripted desk (no engine involved) ------------------


class _ScriptedDesk:
    """Stands in for the Helpdesk: each turn runs the next step of a script against the real stores."""

    def __init__(self, steps: list[Callable[[_ScriptedDesk], DeskReply]], directory: DirectoryBackend,
                 tickets: TicketingBackend) -> None:  # fmt: skip
        self.steps = list(steps)
        self.directory = directory
        self.tickets = tickets

    async def ask(self, text: str, **_: Any) -> DeskReply:
        return self.steps.pop(0)(self)

    def ticket(self, short_description: str) -> Ticket:
        return next(t for t in self.tickets.search(TicketQuery(limit=50)) if t.short_description == short_description)


_REQUESTER = "ben.carter@nwmeridian.co.uk"
_P2 = {"impact": 1, "urgency": 2, "state": "in_progress"}
_BYOD = {"title": "Bring your own device (BYOD) policy", "section": "Policy", "source": "lookup-byod-policy.md"}
_DISK = {"title": "Disk almost full", "section": "Steps", "source": "computer-disk-almost-full.md"}


def _write(tmp_path: Path, expect: dict[str, Any], turns: int = 2) -> Path:
    raw = {
        "id": "grader-check",
        "specialist": "device",
        "requester": _REQUESTER,
        "setup": {"tickets": [{"ref": "T1", "requester": _REQUESTER, "short_description": "Setup ticket", **_P2}]},
        "turns": [{"user": f"message {n}"} for n in range(turns)],
        "expect": expect,
    }
    (tmp_path / "grader-check.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return tmp_path


def _play(tmp_path: Path, expect: dict[str, Any], steps: list[Callable[[_ScriptedDesk], DeskReply]]) -> list[str]:
    (scenario,) = load_scenarios(_write(tmp_path, expect, len(steps)))

    def make(
        directory: DirectoryBackend, tickets: TicketingBackend, conversations: SqlConversations, codes: OneTimeCodes
    ) -> Helpdesk:
        return cast(Helpdesk, _ScriptedDesk(steps, directory, tickets))

    return asyncio.run(run_scenario(scenario, load_org(demo_org()), make)).failures


_EXPECT = {
    "agent_not": ["triage"],
    "intent_not": ["lost_device"],
    "reply_says": ["NW-L-0338", ["first-aiders", "First Aiders"]],
    "reply_matches": [r"\bHR\b"],
    "reply_excludes": ["did that fix it", "{ticket:T1}"],
    "replies_exclude": ["ask the user", "mark_resolved"],
    "replies_distinct": True,
    "replies_nonempty": True,
    "escalated": True,
    "ticket_states_not": {"T1": ["resolved", "closed", "canceled"], "current": ["resolved"]},
    "citation_mentions": ["bring your own device"],
    "citation_excludes": ["Disk almost full"],
    "device": [{"key": "NW-L-0338", "status": "in_use"}, {"key": "NW-L-0288", "status": "in_use"}],
}


def _open_and_escalate(desk: _ScriptedDesk) -> DeskReply:
    ticket = desk.tickets.create(NewTicket(requester=_REQUESTER, short_description="Laptop question"))
    desk.tickets.escalate(ticket.number, "End User Computing", "Wants a person", author="test")
    return DeskReply("c1", "device", "device_compliance",
                     "Which laptop, NW-L-0338 or NW-L-0288? HR and the First Aiders list can wait.",
                     citations=[_BYOD], ticket=ticket_card(desk.tickets.get(ticket.number)))  # fmt: skip


def test_conversation_expectations_pass_when_the_conversation_meets_them(tmp_path: Path) -> None:
    first = DeskReply("c1", "triage", "", "Hello, what can I help with?")
    assert _play(tmp_path, _EXPECT, [lambda desk: first, _open_and_escalate]) == []


def test_conversation_expectations_say_what_went_wrong(tmp_path: Path) -> None:
    sticky = "Ask the user to try again. Did that fix it? (through three steps)"

    def first(desk: _ScriptedDesk) -> DeskReply:
        desk.tickets.create(NewTicket(requester=_REQUESTER, short_description="Laptop question"))
        return DeskReply("c1", "triage", "", "")

    said: list[DeskReply] = []

    def second(desk: _ScriptedDesk) -> DeskReply:
        mine, setup = desk.ticket("Laptop question"), desk.ticket("Setup ticket")
        for number in (mine.number, setup.number):
            desk.tickets.update(number, TicketUpdate(state=TicketState.RESOLVED, resolution_note="x"), author="t")
        desk.directory.set_device_status(desk.directory.device("NW-L-0288").id, "lost")
        card = ticket_card(desk.tickets.get(mine.number))
        said.append(
            DeskReply("c1", "triage", "lost_device", f"{sticky} {setup.number}", citations=[_DISK], ticket=card)
        )
        return said[-1]

    def third(desk: _ScriptedDesk) -> DeskReply:
        return said[-1]

    failures = _play(tmp_path, _EXPECT, [first, second, third])
    text = "\n".join(failures)
    assert "agent_not: the last turn is with 'triage'" in text
    assert "intent_not: the last turn's intent is 'lost_device'" in text
    assert "reply_says: the last reply does not say 'NW-L-0338'" in text
    assert "reply_says: the last reply does not say \"any of ['first-aiders', 'First Aiders']\"" in text
    assert "reply_matches: /\\bHR\\b/ does not match" in text  # "through three" has no whole word HR
    assert "reply_excludes: 'did that fix it' is in the last reply" in text
    assert "reply_excludes: 'INC" in text  # {ticket:T1} became the setup ticket's number
    assert "replies_exclude: 'ask the user' is in reply 2" in text
    assert "replies_exclude: 'ask the user' is in reply 3" in text
    assert "replies_exclude: 'mark_resolved'" not in text
    assert "replies_nonempty: reply 1 (status done) is empty" in text
    assert "replies_distinct: reply 3 repeats reply 2" in text
    assert "escalated: expected True, but INC" in text and "was never handed to a person" in text
    assert "ticket_states_not.T1: INC" in text and "is resolved, which it must not be" in text
    assert "ticket_states_not.current: INC" in text
    assert "citation_mentions: no citation of the last reply names 'bring your own device'" in text
    assert "citation_excludes: the last reply cites ['Disk almost full']" in text
    assert "device.status of NW-L-0288: expected 'in_use', got 'lost'" in text
    assert "NW-L-0338" not in " ".join(f for f in failures if f.startswith("device"))


def test_escalated_false_and_no_ticket(tmp_path: Path) -> None:
    reply = DeskReply("c1", "lookup", "policy_question", "Here is the policy.")
    assert _play(tmp_path, {"escalated": False}, [lambda desk: reply]) == []
    failures = _play(tmp_path, {"escalated": True, "ticket_states_not": {"current": ["closed"]}}, [lambda desk: reply])
    assert failures == [
        "escalated: expected a hand-over to a person, but the conversation has no ticket",
        "ticket_states_not.current: the conversation has no ticket",
    ]
    assert _play(tmp_path, {"escalated": False}, [_open_and_escalate]) == [
        "escalated: expected False, but INC0000002 (in_progress) was handed over 1 time(s)"
    ]


@pytest.mark.parametrize(
    ("expect", "problem"),
    [
        ({"reply_excludes": "did that fix it"}, "reply_excludes must be a non-empty list of non-empty strings"),
        ({"replies_exclude": []}, "replies_exclude must be a non-empty list"),
        ({"citation_mentions": ["BYOD", ""]}, "citation_mentions must be a non-empty list"),
        ({"intent_not": [3]}, "intent_not must be a non-empty list"),
        ({"replies_distinct": "yes"}, "replies_distinct must be true or false"),
        ({"replies_nonempty": False}, "replies_nonempty: false checks nothing"),
        ({"escalated": 1}, "escalated must be true or false"),
        ({"ticket_states_not": {"T9": ["closed"]}}, "'T9' is neither a setup ticket ref"),
        ({"ticket_states_not": {"current": ["gone"]}}, "ticket_states_not.current must be a non-empty list of"),
        ({"ticket_states_not": ["closed"]}, "ticket_states_not must map a setup ticket ref"),
        ({"reply_says": [[]]}, "reply_says must list strings or lists of alternative strings"),
        ({"reply_says": "NW-L-0338"}, "reply_says must list strings"),
        ({"reply_matches": ["(unclosed"]}, "reply_matches: '(unclosed' is not a regular expression"),
        ({"reply_excludes": ["{ticket:T9}"]}, "reply_excludes: {ticket:T9} names no setup ticket"),
        ({"device": [{"status": "lost"}]}, "device must be a mapping with a key, or a list of them"),
        ({"reply_exclude": ["x"]}, "unknown expectations ['reply_exclude']"),
    ],
)
def test_malformed_expectations_are_refused_on_load(tmp_path: Path, expect: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load_scenarios(_write(tmp_path, expect))
