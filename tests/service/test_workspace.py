"""The agent workspace over HTTP: assign, the queue's sorting, filters on the names shown and requester search,
approvals someone else decided first, and knowledge files that fail to ingest (why, remembered, removable)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from firstline.runtime import Runtime
from firstline.service.app import create_app
from firstline.settings import Settings, load_settings
from firstline.testing.live import UNLIMITED, seed_accounts
from firstline.ticketing import Impact, NewTicket, Urgency

RUBY = "ruby.chen@nwmeridian.co.uk"
MARCUS = "marcus.bell@nwmeridian.co.uk"
SARAH = "sarah.lindqvist@nwmeridian.co.uk"
RAVI = "ravi.chandran@nwmeridian.co.uk"


@dataclass
class Desk:
    client: TestClient
    settings: Settings
    keys: dict[str, str]
    sessions: dict[str, TestClient]

    def key(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        return runtime


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    settings = load_settings(data_dir=Path(tmp_path_factory.mktemp("workspace-data")), service=UNLIMITED)
    accounts = seed_accounts(settings)
    with Runtime(settings) as runtime:
        keys = {
            "ruby": runtime.accounts.create_key("ruby-kiosk", "requester", RUBY)[0],
            "marcus": runtime.accounts.create_key("marcus-kiosk", "requester", MARCUS)[0],
            "admin": runtime.accounts.create_key("ops", "admin")[0],
        }
    with TestClient(create_app(settings)) as client:
        sessions = {}
        for who in ("agent", "agent2"):
            session = TestClient(client.app, headers={"X-Requested-With": "firstline"})  # own cookies, same app
            email, password = accounts[who]
            assert session.post("/v1/auth/login", json={"email": email, "password": password}).status_code == 200
            sessions[who] = session
        yield Desk(client, settings, keys, sessions)


def _open_ticket(desk: Desk, key: str, text: str) -> tuple[str, str]:
    """Ask as ``key``'s requester; the reply opens a ticket: (conversation id, ticket number)."""
    reply = desk.client.post("/v1/ask", json={"text": text}, headers=desk.key(key))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["ticket"], body
    return body["conversation_id"], body["ticket"]["number"]


def _queue(desk: Desk, **params: Any) -> list[dict[str, Any]]:
    response = desk.sessions["agent"].get("/v1/tickets", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    tickets: list[dict[str, Any]] = response.json()["tickets"]
    return tickets


# -- assign ----------------------------------------------------------------------------------------------


def test_assign_to_me_then_to_a_colleague_and_the_requester_is_told(desk: Desk) -> None:
    conversation, number = _open_ticket(desk, "ruby", "My monitor flickers")
    sarah, ravi = desk.sessions["agent"], desk.sessions["agent2"]

    mine = sarah.post(f"/v1/tickets/{number}/assign", json={"assignee": SARAH})
    assert mine.status_code == 200, mine.text
    assert mine.json()["assigned_to"] == SARAH and mine.json()["assignee_name"] == "Sarah Lindqvist"
    assert mine.json()["state"] == "in_progress"  # a new ticket someone takes is being worked on
    row = next(t for t in _queue(desk, q=number) if t["number"] == number)
    assert (row["assigned_to"], row["assignee_name"], row["requester_name"]) == (SARAH, "Sarah Lindqvist", "Ruby Chen")

    handed = sarah.post(f"/v1/tickets/{number}/assign", json={"assignee": RAVI, "group": "Desktop Support"})
    assert handed.status_code == 200, handed.text
    assert (handed.json()["assigned_to"], handed.json()["assignment_group"]) == (RAVI, "Desktop Support")
    history = ravi.get(f"/v1/tickets/{number}").json()["history"]
    assert [(e["old_value"], e["new_value"]) for e in history if e["field"] == "assigned_to"][-2:] == [
        ("", SARAH),
        (SARAH, RAVI),
    ]
    told = desk.client.get(f"/v1/conversations/{conversation}", headers=desk.key("ruby")).json()["events"]
    updates = [e["data"].get("text", "") for e in told if e["kind"] == "assistant_message"]
    assert any(RAVI in text or "Ravi" in text for text in updates), updates

    unassigned = ravi.post(f"/v1/tickets/{number}/assign", json={"assignee": None})
    assert unassigned.status_code == 200 and unassigned.json()["assigned_to"] == ""


def test_only_staff_accounts_can_be_assigned_and_only_agents_assign(desk: Desk) -> None:
    _, number = _open_ticket(desk, "marcus", "My laptop won't turn on")
    sarah = desk.sessions["agent"]
    for who in (RUBY, "nobody@nwmeridian.co.uk"):
        refused = sarah.post(f"/v1/tickets/{number}/assign", json={"assignee": who})
        assert refused.status_code == 422 and "not an active IT agent" in refused.json()["detail"], refused.text
    assert desk.runtime.tickets.get(number).assigned_to == ""  # nothing changed
    by_requester = desk.client.post(
        f"/v1/tickets/{number}/assign", json={"assignee": SARAH}, headers=desk.key("marcus")
    )
    assert by_requester.status_code == 403
    missing = sarah.post("/v1/tickets/INC9999999/assign", json={"assignee": SARAH})
    assert missing.status_code == 404


# -- the queue -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spread(desk: Desk) -> list[str]:
    """Tickets of every priority, specialists and groups as stored (lower-case, title case)."""
    made = []
    for impact, urgency, specialist, group in [
        (Impact.LOW, Urgency.LOW, "network", "Service Desk"),
        (Impact.HIGH, Urgency.HIGH, "network", "Network Support"),
        (Impact.MEDIUM, Urgency.MEDIUM, "device", "Service Desk"),
        (Impact.HIGH, Urgency.MEDIUM, "access", "Identity Team"),
    ]:
        ticket = desk.runtime.tickets.create(
            NewTicket(
                requester=MARCUS,
                short_description=f"spread {specialist} {int(impact)}{int(urgency)}",
                impact=impact,
                urgency=urgency,
                specialist=specialist,
                assignment_group=group,
            )
        )
        made.append(ticket.number)
    return made


def test_sorting_follows_the_allow_list(desk: Desk, spread: list[str]) -> None:
    by_priority = [t["priority"] for t in _queue(desk, sort="priority")]
    assert by_priority == sorted(by_priority) and by_priority[0] < by_priority[-1]
    assert [t["priority"] for t in _queue(desk, sort="priority", order="desc")] == sorted(by_priority, reverse=True)
    due = [t["due_at"] for t in _queue(desk, sort="due")]
    assert due == sorted(due)
    numbers = [t["number"] for t in _queue(desk, sort="number", order="asc")]
    assert numbers == sorted(numbers)
    states = [t["state"] for t in _queue(desk, sort="state")]
    order = ["new", "in_progress", "on_hold", "resolved", "closed", "canceled"]
    assert [order.index(s) for s in states] == sorted(order.index(s) for s in states)
    for bad in ({"sort": "requester; drop table tickets"}, {"sort": "priority", "order": "sideways"}):
        refused = desk.sessions["agent"].get("/v1/tickets", params=bad)
        assert refused.status_code == 422, refused.text


def test_specialist_and_group_filters_match_the_names_shown_in_any_case(desk: Desk, spread: list[str]) -> None:
    network = {t["number"] for t in _queue(desk, specialist="Network")}
    assert set(spread[:2]) <= network and spread[2] not in network
    assert {t["specialist_name"] for t in _queue(desk, specialist="NETWORK")} == {"Network"}
    devices = {t["number"] for t in _queue(desk, specialist="Devices")}  # shown name of `device`
    assert spread[2] in devices and spread[0] not in devices
    desk_group = {t["number"] for t in _queue(desk, assignment_group="service desk")}
    assert {spread[0], spread[2]} <= desk_group and spread[1] not in desk_group
    both = _queue(desk, specialist="network", assignment_group="SERVICE DESK")
    assert spread[0] in {t["number"] for t in both} and spread[1] not in {t["number"] for t in both}


def test_text_search_matches_the_requester_by_address_and_name(desk: Desk, spread: list[str]) -> None:
    by_name = _queue(desk, q="marcus bell")
    assert set(spread) <= {t["number"] for t in by_name}
    assert {t["requester"] for t in by_name} == {MARCUS}
    by_address = _queue(desk, q="MARCUS.BELL@")
    assert {t["number"] for t in by_address} == {t["number"] for t in by_name}
    assert _queue(desk, q="ruby")  # Ruby's monitor ticket from the assign test, or her own ones
    assert all(t["requester"] == RUBY or "ruby" in t["short_description"].lower() for t in _queue(desk, q="ruby"))
    assert _queue(desk, q="no such person or words zzz") == []


def test_counts_for_the_tabs(desk: Desk, spread: list[str]) -> None:
    counts = desk.sessions["agent"].get("/v1/tickets/counts").json()
    open_now = _queue(desk, state=["new", "in_progress", "on_hold"])
    assert counts["open"] == len(open_now)
    assert counts["unassigned"] == sum(1 for t in open_now if not t["assigned_to"])
    assert counts["pending_approvals"] == len(desk.sessions["agent"].get("/v1/approvals").json()["approvals"])
    desk.runtime.tickets.create(NewTicket(requester=MARCUS, short_description="one more for the badge"))
    assert desk.sessions["agent"].get("/v1/tickets/counts").json()["open"] == counts["open"] + 1
    assert desk.client.get("/v1/tickets/counts", headers=desk.key("marcus")).status_code == 403


# -- approvals -------------------------------------------------------------------------------------------


def test_an_approval_a_colleague_denied_says_who_when_and_why(desk: Desk) -> None:
    created = desk.client.post("/v1/conversations", json={}, headers=desk.key("marcus")).json()
    cid = created["conversation_id"]
    first = desk.client.post(
        f"/v1/conversations/{cid}/messages",
        json={"text": "I lost my work iPhone on the train home last night"},
        headers=desk.key("marcus"),
    )
    assert first.status_code == 200, first.text
    code = desk.client.get("/v1/demo/outbox", headers=desk.key("marcus")).json()["messages"][-1]["code"]
    reply = desk.client.post(f"/v1/conversations/{cid}/messages", json={"text": code}, headers=desk.key("marcus"))
    approval = reply.json()["approval"]["id"]

    denied = desk.sessions["agent"].post(f"/v1/approvals/{approval}/deny", json={"reason": "found in the office"})
    assert denied.status_code == 200, denied.text
    late = desk.sessions["agent2"].post(f"/v1/approvals/{approval}/approve", json={"reason": ""})
    assert late.status_code == 409
    detail = late.json()["detail"]
    assert detail.startswith("Sarah Lindqvist already denied this at ") and " UTC" in detail, detail
    assert detail.endswith(": found in the office"), detail
    decided = desk.sessions["agent2"].get("/v1/approvals", params={"status": "denied"}).json()["approvals"]
    mine = next(a for a in decided if a["id"] == approval)
    assert (mine["decided_by_name"], mine["requester_name"]) == ("Sarah Lindqvist", "Marcus Bell")


# -- knowledge uploads -----------------------------------------------------------------------------------


def test_a_failed_upload_says_why_is_not_retried_until_it_changes_and_can_be_removed(desk: Desk) -> None:
    admin = desk.key("admin")
    data_dir = str(desk.settings.data_dir)
    broken = desk.client.post(
        "/v1/knowledge/documents", files={"file": ("Broken Guide.pdf", b"%PDF-1.4 not really a pdf")}, headers=admin
    )
    assert broken.status_code == 201, broken.text
    [failure] = broken.json()["failed"]
    assert failure["name"] == "Broken-Guide.pdf" and failure["kind"] == "parse_error"
    assert "PDF" in failure["reason"] and data_dir not in broken.text and "/uploads" not in broken.text
    assert all(data_dir not in name for name in broken.json()["added"] + broken.json()["updated"])

    again = desk.client.post("/v1/knowledge/reingest", headers=admin).json()
    assert again["failed"] == []  # not tried again while the bytes are the same
    assert [f["name"] for f in again["still_failing"]] == ["Broken-Guide.pdf"]
    stats = desk.client.get("/v1/knowledge/stats", headers=admin).json()
    listed = [f for f in stats["failed"] if f["name"] == "Broken-Guide.pdf"]
    assert listed and listed[0]["removable"] and listed[0]["reason"] == failure["reason"]
    assert data_dir not in str(stats)

    changed = desk.client.post(
        "/v1/knowledge/documents", files={"file": ("Broken Guide.pdf", b"%PDF-1.4 still broken")}, headers=admin
    )
    assert [f["name"] for f in changed.json()["failed"]] == ["Broken-Guide.pdf"]  # new bytes: tried again

    assert desk.client.delete("/v1/knowledge/documents/Broken-Guide.pdf", headers=desk.key("ruby")).status_code == 403
    removed = desk.client.delete("/v1/knowledge/documents/Broken-Guide.pdf", headers=admin)
    assert removed.status_code == 200, removed.text
    assert removed.json()["still_failing"] == []
    assert not (desk.settings.data_dir / "uploads" / "Broken-Guide.pdf").exists()
    after = desk.client.get("/v1/knowledge/stats", headers=admin).json()
    assert "Broken-Guide.pdf" not in {f["name"] for f in after["failed"]}
    assert desk.client.post("/v1/knowledge/reingest", headers=admin).json()["still_failing"] == []
    gone = desk.client.delete("/v1/knowledge/documents/Broken-Guide.pdf", headers=admin)
    assert gone.status_code == 404
    assert desk.client.delete("/v1/knowledge/documents/..%2Fcatalog.sqlite3", headers=admin).status_code == 404


def test_a_good_upload_can_be_removed_with_its_chunks(desk: Desk) -> None:
    admin = desk.key("admin")
    runbook = b"# Lobby kiosk\n\n## Reset\n\nHold the blue kiosk reset key for ten seconds.\n"
    added = desk.client.post("/v1/knowledge/documents", files={"file": ("kiosk.md", runbook)}, headers=admin)
    assert added.json()["added"] == ["kiosk.md"]
    hits = desk.client.get("/v1/knowledge/search", params={"q": "blue kiosk reset key", "k": 1}, headers=admin)
    assert hits.json()["hits"][0]["citation"]["title"] == "Lobby kiosk"
    files = desk.client.get("/v1/knowledge/stats", headers=admin).json()["files"]
    assert next(f for f in files if f["name"] == "kiosk.md")["removable"] is True
    assert not any(f["removable"] for f in files if f["name"] != "kiosk.md")  # the demo runbooks stay
    removed = desk.client.delete("/v1/knowledge/documents/kiosk.md", headers=admin)
    assert removed.json()["removed"] == ["kiosk.md"] and removed.json()["chunks_deleted"] >= 1
    files = desk.client.get("/v1/knowledge/stats", headers=admin).json()["files"]
    assert "kiosk.md" not in {f["name"] for f in files}
