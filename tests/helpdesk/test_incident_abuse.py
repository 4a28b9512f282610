"""One employee cannot mute everyone else's reports (security issue 11, finding 1).

Only outage intents cluster, and only from several different people; Firstline's own tickets never count;
a personal request always gets its own ticket, whatever major incident claims its intent; one person's
new tickets are rate-limited; agents can unlink a child and merge a duplicate (over HTTP, agents only).
The routing hook runs here on its own (no engine, no models), over a real SQLite ticket store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from firstline.accounts import SqlAccounts
from firstline.conversations import SqlConversations
from firstline.directory import InMemoryDirectory, load_org
from firstline.directory.models import Person
from firstline.helpdesk.incidents import OUTAGE, PERSONAL, SYSTEM_REQUESTER, IncidentLinker, site_of
from firstline.helpdesk.priority import Assessment
from firstline.helpdesk.routing import Routed, TicketOnRouting
from firstline.helpdesk.services import DeskServices
from firstline.helpdesk.taxonomy import load_taxonomy
from firstline.helpdesk.tools.deps import HelpdeskDeps
from firstline.helpdesk.triage import Triage, TriageResult
from firstline.runtime import demo_org
from firstline.service.app import create_app
from firstline.settings import load_settings
from firstline.testing.live import UNLIMITED
from firstline.ticketing import EntryKind, NewTicket, SqlTicketing, Ticket, TicketQuery, TicketState, TicketUpdate

TAXONOMY = load_taxonomy()
ORG = load_org(demo_org())
# Four people on the same London floor: no directory incident covers VPN, Wi-Fi or lockouts there.
TOMASZ, ARJUN, KATIE, YUKI = (
    f"{name}@nwmeridian.co.uk" for name in ("tomasz.nowicki", "arjun.mehta", "katie.sullivan", "yuki.tanaka")
)
TEXT = {
    "vpn_drops": "My VPN keeps dropping every few minutes",
    "wifi": "The office wifi keeps dropping on my laptop",
    "account_unlock": "I'm locked out of my account",
    "voicemail_pin": "I forgot my voicemail PIN",
    "app_crash": "Excel crashes when I open a file",
    "paper_jam": "There's a paper jam in the printer",
    "monitor_dock": "My second monitor stays black on the dock",
    "peripherals": "My USB headset is not recognised",
    "os_update": "Windows updates keep failing",
    "slow_computer": "My laptop takes ages to start up",
    "toner": "The printer toner is empty",
}
OWN = ("monitor_dock", "peripherals", "os_update", "slow_computer", "app_crash")  # five never-clustering intents


@dataclass
class Desk:
    """The routing hook over a real ticket store, the demo directory and a clock the test moves."""

    tickets: SqlTicketing
    directory: InMemoryDirectory
    linker: IncidentLinker
    now: list[datetime] = field(default_factory=lambda: [datetime.now(UTC)])

    @property
    def services(self) -> DeskServices:
        triage = cast(Triage, SimpleNamespace(taxonomy=TAXONOMY))  # the hook only reads the registry
        deps = cast(HelpdeskDeps, None)
        conversations = SqlConversations(self.tickets.database)
        return DeskServices(
            self.directory, self.tickets, conversations, triage, self.linker, self.clock, "offline", deps
        )

    def clock(self) -> datetime:
        return self.now[0]

    def person(self, email: str) -> Person:
        return self.directory.person(email)

    def report(self, email: str, intent: str, text: str | None = None) -> Routed:
        """``email`` tells Firstline about a problem of ``intent``: what the routing hook decided."""
        person = self.person(email)
        cid = SqlConversations(self.tickets.database).create(person.email).id
        agent = TAXONOMY.intents[intent].specialist
        result = TriageResult(agent, intent, 0.99, Assessment(2, 2, 3, ()), ())
        with self.tickets.database.unit_of_work():
            return TicketOnRouting(self.services, cid, person, False)(agent, result, text or TEXT[intent])

    def own(self, email: str) -> list[Ticket]:
        return self.tickets.search(TicketQuery(requester=email, limit=100))

    def majors(self) -> list[Ticket]:
        return [t for t in self.tickets.search(TicketQuery(limit=500)) if "major_incident" in t.tags]


@pytest.fixture
def make_desk() -> Iterator[Callable[..., Desk]]:
    made: list[SqlTicketing] = []

    def make(**limits: Any) -> Desk:
        now = [datetime.now(UTC)]
        tickets = SqlTicketing("sqlite://", clock=lambda: now[0])
        made.append(tickets)
        return Desk(tickets, InMemoryDirectory(ORG), IncidentLinker(tickets, **limits), now)

    yield make
    for tickets in made:
        tickets.close()


@pytest.fixture
def desk(make_desk: Callable[..., Desk]) -> Desk:
    return make_desk()


def test_the_four_reporters_work_on_one_floor(desk: Desk) -> None:
    assert len({site_of(desk.person(e)).tag for e in (TOMASZ, ARJUN, KATIE, YUKI)}) == 1


def test_the_outage_allowlist_names_shared_services_from_the_taxonomy() -> None:
    assert {"vpn_drops", "vpn_cannot_connect", "wifi", "network_share", "slow_internet"} <= OUTAGE
    assert {"printer_offline", "print_queue_stuck", "desk_phone_down"} <= OUTAGE
    assert not OUTAGE & PERSONAL
    assert set(TAXONOMY.intents) >= PERSONAL
    for name in OUTAGE:
        intent = TAXONOMY.intents[name]  # a KeyError names an intent the registry lost
        assert (intent.ticket, intent.acts_on) == ("open", "none"), name
    assert len(OUTAGE) < len(set(TAXONOMY.intents) - PERSONAL) / 2  # an allowlist, not "everything not personal"


# -- clusters need different people ------------------------------------------------------------------------


def test_one_persons_reports_never_open_a_major_incident(desk: Desk) -> None:
    routed = [desk.report(TOMASZ, "vpn_drops") for _ in range(4)]
    assert [r.known for r in routed] == [None] * 4
    assert desk.majors() == []
    mine = desk.own(TOMASZ)
    assert len(mine) == 4 and all(t.parent_number is None for t in mine)
    assert desk.report(ARJUN, "vpn_drops").known is None  # two people are not yet three
    assert desk.majors() == []


def test_three_different_people_open_one_major_incident(desk: Desk) -> None:
    desk.report(TOMASZ, "vpn_drops")
    desk.report(TOMASZ, "vpn_drops")
    assert desk.report(ARJUN, "vpn_drops").known is None
    third = desk.report(KATIE, "vpn_drops")
    assert third.known is not None
    (parent,) = desk.majors()
    assert parent.requester == SYSTEM_REQUESTER and "3 people" in parent.short_description
    children = desk.tickets.search(TicketQuery(parent=parent.number))
    assert sorted(t.requester for t in children) == sorted([TOMASZ, TOMASZ, ARJUN, KATIE])
    later = desk.report(YUKI, "vpn_drops")
    assert later.ticket == parent.number and desk.own(YUKI) == []  # linked, told it is known


def test_firstlines_own_tickets_never_count(desk: Desk) -> None:
    site = site_of(desk.person(TOMASZ))
    for i in range(2):
        desk.tickets.create(
            NewTicket(
                requester=SYSTEM_REQUESTER,
                short_description=f"Monitoring: VPN gateway flapping ({i})",
                specialist="network",
                intent="vpn_drops",
                tags=[site.tag, "intent:vpn_drops"],
            )
        )
    assert desk.report(TOMASZ, "vpn_drops").known is None
    assert desk.majors() == []


@pytest.mark.parametrize("intent", ["app_crash", "paper_jam", "toner", "slow_computer", "account_unlock"])
def test_intents_outside_the_allowlist_never_cluster(desk: Desk, intent: str) -> None:
    routed = [desk.report(email, intent) for email in (TOMASZ, ARJUN, KATIE, YUKI)]
    assert [r.known for r in routed] == [None] * 4
    assert desk.majors() == []
    assert all(len(desk.own(email)) == 1 for email in (TOMASZ, ARJUN, KATIE, YUKI))


def test_the_linker_itself_refuses_to_cluster_personal_requests(desk: Desk) -> None:
    site = site_of(desk.person(TOMASZ))
    tickets = [
        desk.tickets.create(
            NewTicket(
                requester=email,
                short_description="Locked out",
                specialist="security",
                intent="account_unlock",
                tags=[site.tag],
            )
        )
        for email in (TOMASZ, ARJUN, KATIE)
    ]
    assert desk.linker.cluster(tickets[-1], site, desk.clock()) is None
    assert desk.majors() == []


# -- a personal problem always gets its own flow ------------------------------------------------------------


def _forge(desk: Desk, intent: str, correlation_id: str | None = None) -> Ticket:
    """A major incident carrying ``intent`` at the reporters' site, as an agent or an import could make one."""
    return desk.tickets.create(
        NewTicket(
            requester="sarah.lindqvist@nwmeridian.co.uk",
            short_description=f"Major incident: {intent.replace('_', ' ')}",
            specialist=TAXONOMY.intents[intent].specialist,
            intent=intent,
            correlation_id=correlation_id,
            tags=["major_incident", site_of(desk.person(TOMASZ)).tag],
        )
    )


def test_a_personal_intent_is_never_linked_to_a_major_incident(desk: Desk) -> None:
    site = site_of(desk.person(TOMASZ))
    for intent in sorted(PERSONAL):
        _forge(desk, intent)
        assert desk.linker.existing_parent(intent, site) is None, intent


def test_a_second_persons_lockout_still_gets_a_ticket_of_its_own(desk: Desk) -> None:
    forged = _forge(desk, "account_unlock")
    for email in (TOMASZ, ARJUN, KATIE):
        routed = desk.report(email, "account_unlock")
        (mine,) = desk.own(email)
        assert routed.ticket == mine.number != forged.number and routed.known is None
        assert mine.parent_number is None and mine.intent == "account_unlock"
    voicemail = desk.report(YUKI, "voicemail_pin")
    assert voicemail.ticket == desk.own(YUKI)[0].number and voicemail.known is None
    assert desk.tickets.search(TicketQuery(parent=forged.number)) == []
    assert "Also affected" not in " ".join(e.body for e in desk.tickets.history(forged.number))


def test_a_cluster_one_person_opened_links_nobody_else(desk: Desk) -> None:
    site = site_of(desk.person(TOMASZ))
    bogus = _forge(desk, "vpn_drops", correlation_id=f"cluster:vpn_drops:{site.tag}:INC0000001")
    for _ in range(3):
        child = desk.report(TOMASZ, "vpn_drops").ticket
        assert child is not None
        desk.tickets.link_to_parent(child, bogus.number, author="firstline")
    routed = desk.report(ARJUN, "vpn_drops")
    assert routed.ticket == desk.own(ARJUN)[0].number and routed.known is None


def test_an_outage_an_agent_declared_still_links_reporters(desk: Desk) -> None:
    declared = _forge(desk, "wifi")
    routed = desk.report(TOMASZ, "wifi")
    assert routed.ticket == declared.number and routed.known is not None and desk.own(TOMASZ) == []


# -- one person's new tickets are rate-limited ---------------------------------------------------------------


def test_the_sixth_request_in_an_hour_lands_as_a_comment(desk: Desk) -> None:
    opened = [desk.report(TOMASZ, intent) for intent in OWN]
    assert all(r.rate_limited is None and r.ticket for r in opened)
    latest = opened[-1].ticket
    sixth = desk.report(TOMASZ, "vpn_drops", "And now the VPN drops too")
    assert sixth.rate_limited == {"ticket": latest, "limit": 5, "window_minutes": 60}
    assert sixth.ticket == latest
    assert len(desk.own(TOMASZ)) == 5
    assert latest is not None
    comment = desk.tickets.history(latest, public_only=True)[-1]
    assert comment.kind is EntryKind.COMMENT and "And now the VPN drops too" in comment.body
    assert "5 new tickets in 60 minutes" in comment.body


def test_rate_limited_requests_never_count_towards_a_cluster(desk: Desk) -> None:
    for intent in OWN:
        desk.report(TOMASZ, intent)
    assert desk.report(TOMASZ, "vpn_drops").rate_limited is not None
    assert desk.report(ARJUN, "vpn_drops").known is None
    assert desk.report(KATIE, "vpn_drops").known is None  # Tomasz's report opened nothing: two people so far
    assert desk.majors() == []
    assert desk.report(YUKI, "vpn_drops").known is not None  # a third person's own ticket does


def test_the_limit_is_configurable_and_closed_tickets_count(make_desk: Callable[..., Desk]) -> None:
    desk = make_desk(max_new_tickets=2, new_ticket_window=timedelta(minutes=30))
    for intent in OWN[:2]:
        number = desk.report(TOMASZ, intent).ticket
        assert number is not None
        desk.tickets.update(number, TicketUpdate(state=TicketState.CANCELED), author="firstline")
    limited = desk.report(TOMASZ, "vpn_drops")
    assert limited.rate_limited == {"ticket": None, "limit": 2, "window_minutes": 30}
    assert limited.ticket is None and len(desk.own(TOMASZ)) == 2
    assert desk.report(ARJUN, "vpn_drops").rate_limited is None  # per requester


def test_the_limit_is_per_window(desk: Desk) -> None:
    for intent in OWN:
        desk.report(TOMASZ, intent)
    assert desk.report(TOMASZ, "wifi").rate_limited is not None
    desk.now[0] += timedelta(minutes=61)
    later = desk.report(TOMASZ, "wifi")
    assert later.rate_limited is None and len(desk.own(TOMASZ)) == 6


# -- agents unlink and merge over HTTP; requesters may not ----------------------------------------------------

AGENT_EMAIL = "sarah.lindqvist@nwmeridian.co.uk"
RUBY = "ruby.chen@nwmeridian.co.uk"


@pytest.fixture
def http(tmp_path: Path) -> Iterator[tuple[TestClient, SqlTicketing, dict[str, dict[str, str]]]]:
    """The real app and its routes, over a bare ticket store (no models: the lifespan is not run)."""
    tickets = SqlTicketing("sqlite://")
    app = create_app(load_settings(data_dir=tmp_path / "data", service=UNLIMITED))
    accounts = SqlAccounts(tickets.database)
    app.state.runtime = SimpleNamespace(
        tickets=tickets, accounts=accounts, conversations=SqlConversations(tickets.database)
    )
    keys = {
        "agent": accounts.create_key("console", "agent", AGENT_EMAIL)[0],
        "requester": accounts.create_key("kiosk", "requester", RUBY)[0],
    }
    headers = {who: {"Authorization": f"Bearer {key}"} for who, key in keys.items()}
    yield TestClient(app), tickets, headers
    tickets.close()


def test_agents_unlink_a_child_over_http_and_requesters_get_403(
    http: tuple[TestClient, SqlTicketing, dict[str, dict[str, str]]],
) -> None:
    client, tickets, headers = http
    major = tickets.create(NewTicket(requester=SYSTEM_REQUESTER, short_description="VPN down", tags=["major_incident"]))
    child = tickets.create(NewTicket(requester=RUBY, short_description="VPN drops"))
    tickets.link_to_parent(child.number, major.number, author="firstline")
    refused = client.post(f"/v1/tickets/{child.number}/unlink", headers=headers["requester"])
    assert refused.status_code == 403 and "agent" in refused.json()["detail"]
    assert tickets.get(child.number).parent_number == major.number
    done = client.post(f"/v1/tickets/{child.number.lower()}/unlink", headers=headers["agent"])
    assert done.status_code == 200, done.text
    assert done.json()["parent"] is None and tickets.get(child.number).parent_number is None
    entry = tickets.history(child.number)[-1]
    assert (entry.field, entry.old_value, entry.author) == ("parent_number", major.number, AGENT_EMAIL)
    assert tickets.history(major.number)[-1].author == AGENT_EMAIL
    again = client.post(f"/v1/tickets/{child.number}/unlink", headers=headers["agent"])
    assert again.status_code == 422 and "not linked" in again.json()["detail"]
    assert client.post("/v1/tickets/INC9999999/unlink", headers=headers["agent"]).status_code == 404


def test_agents_merge_a_duplicate_over_http_and_requesters_get_403(
    http: tuple[TestClient, SqlTicketing, dict[str, dict[str, str]]],
) -> None:
    client, tickets, headers = http
    survivor = tickets.create(NewTicket(requester=RUBY, short_description="Printer offline"))
    duplicate = tickets.create(NewTicket(requester=RUBY, short_description="Printer offline again"))
    closed = tickets.create(NewTicket(requester=RUBY, short_description="Old one"))
    tickets.update(closed.number, TicketUpdate(state=TicketState.CANCELED), author="firstline")
    path = f"/v1/tickets/{duplicate.number}/merge"
    refused = client.post(path, json={"into": survivor.number}, headers=headers["requester"])
    assert refused.status_code == 403 and "agent" in refused.json()["detail"]
    assert tickets.get(duplicate.number).state is TicketState.NEW
    for body, status, words in (
        ({"into": duplicate.number}, 422, "into itself"),
        ({"into": closed.number}, 422, "is canceled"),
        ({"into": "INC9999999"}, 404, "INC9999999"),
        ({}, 422, "into"),
    ):
        response = client.post(path, json=body, headers=headers["agent"])
        assert response.status_code == status and words in response.text, response.text
    merged = client.post(path, json={"into": survivor.number.lower()}, headers=headers["agent"])
    assert merged.status_code == 200, merged.text
    out = merged.json()
    assert out["state"] == "closed" and "close_code:duplicate" in out["tags"]
    assert out["resolution_note"].startswith(f"Duplicate of {survivor.number}")
    public = tickets.history(duplicate.number, public_only=True)
    assert survivor.number in public[0].body and public[0].author == AGENT_EMAIL
    note = tickets.history(survivor.number)[-1]
    assert note.kind is EntryKind.WORK_NOTE and duplicate.number in note.body and note.author == AGENT_EMAIL
    twice = client.post(path, json={"into": survivor.number}, headers=headers["agent"])
    assert twice.status_code == 409
