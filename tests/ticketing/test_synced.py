"""A vendor backend: the mirror keeps the ticketing contract, the outbox sends once, staff changes come back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from firstline.errors import AuthenticationError, InputError, TicketNotFoundError
from firstline.testing.connectwise_fake import FakeConnectWise
from firstline.testing.jira_fake import FakeJira
from firstline.testing.memory_connector import InMemoryConnector, WorkerKilled
from firstline.testing.postgres import PostgresCluster
from firstline.testing.servicenow_fake import FakeServiceNow
from firstline.testing.ticketing import TicketingContract, new_ticket
from firstline.ticketing import SqlTicketing, TicketingBackend, TicketQuery, TicketState, TicketUpdate
from firstline.ticketing.connectors.connectwise import ConnectWiseConnector, ConnectWiseOptions
from firstline.ticketing.connectors.jira import JiraConnector, JiraOptions
from firstline.ticketing.connectors.servicenow import ServiceNowConnector, ServiceNowOptions
from firstline.ticketing.remote import FieldMap, TicketConnector
from firstline.ticketing.sync import RemoteChangeEvent, Syncer
from firstline.ticketing.synced import SyncedTicketing

S = TicketState
AGENT = "firstline"


def synced_on(url: str, vendor: InMemoryConnector, *, push_now: bool = True) -> tuple[SyncedTicketing, Syncer]:
    tickets = SyncedTicketing(SqlTicketing(url), vendor, push_now=push_now)
    return tickets, Syncer(tickets)


def synced(path: Path, vendor: InMemoryConnector, *, push_now: bool = True) -> tuple[SyncedTicketing, Syncer]:
    return synced_on(f"sqlite:///{path}", vendor, push_now=push_now)


class TestSyncedOnPostgres(TicketingContract):
    """The mirror and the outbox on PostgreSQL (claims under row locks, not SQLite's single writer)."""

    @pytest.fixture
    def backend(self, postgres: PostgresCluster) -> Iterator[TicketingBackend]:
        self.vendor = InMemoryConnector()
        self.url = postgres.fresh_url()
        tickets, _ = synced_on(self.url, self.vendor)
        yield tickets
        tickets.close()

    def open_again(self, backend: TicketingBackend) -> TicketingBackend:
        return synced_on(self.url, self.vendor)[0]


def test_parallel_workers_on_postgres_send_each_change_once(postgres: PostgresCluster) -> None:
    vendor = InMemoryConnector()
    tickets, _ = synced_on(postgres.fresh_url(), vendor, push_now=False)
    try:
        numbers = [tickets.create(new_ticket(short_description=f"issue {i}")).number for i in range(10)]
        for number in numbers:
            tickets.comment(number, f"note on {number}", AGENT)
        workers = [threading.Thread(target=Syncer(tickets).push) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        Syncer(tickets).push()
        assert vendor.calls["create"] == 10 and vendor.calls["comment"] == 10
        assert tickets.outbox.counts() == {"done": 20}
    finally:
        tickets.close()


class TestSyncedContract(TicketingContract):
    """Everything the built-in store promises holds with a vendor behind it (the vendor up, changes pushed at once)."""

    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[TicketingBackend]:
        self.vendor = InMemoryConnector()
        self.path = tmp_path / "tickets.db"
        tickets, _ = synced(self.path, self.vendor)
        yield tickets
        tickets.close()

    def open_again(self, backend: TicketingBackend) -> TicketingBackend:
        tickets, _ = synced(self.path, self.vendor)
        return tickets


@pytest.fixture
def vendor() -> InMemoryConnector:
    return InMemoryConnector()


@pytest.fixture
def pair(tmp_path: Path, vendor: InMemoryConnector) -> Iterator[tuple[SyncedTicketing, Syncer]]:
    tickets, syncer = synced(tmp_path / "tickets.db", vendor, push_now=False)
    yield tickets, syncer
    tickets.close()


def test_changes_reach_the_vendor_in_order(pair: tuple[SyncedTicketing, Syncer], vendor: InMemoryConnector) -> None:
    tickets, syncer = pair
    number = tickets.create(new_ticket(category="network")).number
    tickets.comment(number, "Please restart the VPN client.", AGENT)
    tickets.comment(number, "Client 4.2 is the known bad one.", AGENT, internal=True)
    tickets.escalate(number, "Network Operations", "Drops every 5 min since 4.2", AGENT)
    tickets.update(number, TicketUpdate(state=S.RESOLVED, resolution_note="Rolled back to 4.1"), AGENT)
    tickets.update(number, TicketUpdate(state=S.RESOLVED, resolution_note="Rolled back to 4.1."), AGENT)
    # in order: create, comment, work note, fields + note of the escalation, fields (the second one overwrote the first)
    assert vendor.count() == 0 and tickets.outbox.counts() == {"pending": 6}
    report = syncer.push()
    assert (report.sent, report.deferred, report.failed) == (6, 0, 0)
    ref = tickets.remote(number)
    assert ref is not None
    remote = vendor.get(ref.number)
    assert (remote.state, remote.assignment_group, remote.resolution_note) == (
        S.RESOLVED, "Network Operations", "Rolled back to 4.1."
    )  # fmt: skip
    bodies = [(c.body.splitlines()[0], c.public) for c in vendor.comments(ref)]
    assert bodies == [
        ("Please restart the VPN client.", True),
        ("Client 4.2 is the known bad one.", False),
        ("Escalated to Network Operations by Firstline:", False),
    ]
    assert tickets.get(ref.number) == tickets.get(number)  # the vendor's number works too
    assert syncer.push().sent == 0 and vendor.count() == 1


def test_a_vendor_that_is_down_loses_nothing_and_duplicates_nothing(
    pair: tuple[SyncedTicketing, Syncer], vendor: InMemoryConnector
) -> None:
    tickets, syncer = pair
    vendor.down = True
    numbers = [tickets.create(new_ticket(short_description=f"issue {i}")).number for i in range(5)]
    tickets.comment(numbers[0], "hello", AGENT)
    report = syncer.push()
    assert report.deferred == 1 and report.sent == 0 and vendor.count() == 0  # stops at the first failure
    assert all(tickets.get(n).number == n for n in numbers)  # the employee's numbers work meanwhile
    waiting = tickets.outbox.items()
    assert waiting[0].next_attempt_at > waiting[0].created_at and "down" in waiting[0].last_error
    vendor.down = False
    assert syncer.push().sent == 0  # paused until the wait is over: the vendor is not hammered
    assert syncer.resume() == 1  # `firstline tickets sync`: try now
    assert syncer.push().sent == 6
    assert vendor.count() == 5 and {r.ticket.firstline_number for r in vendor.records.values()} == set(numbers)
    ref = tickets.remote(numbers[0])
    assert ref is not None and [c.body for c in vendor.comments(ref)] == ["hello"]


@pytest.mark.parametrize("crash", ["create", "comment", "update"])
def test_a_worker_killed_mid_sync_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, vendor: InMemoryConnector, crash: str
) -> None:
    tickets, syncer = synced(tmp_path / "tickets.db", vendor, push_now=False)
    number = tickets.create(new_ticket()).number
    syncer.push() if crash != "create" else None
    tickets.comment(number, "Restart the client, please.", AGENT)
    tickets.update(number, TicketUpdate(state=S.IN_PROGRESS), AGENT)
    vendor.crash_after = crash
    with pytest.raises(WorkerKilled):  # the write reached the vendor; the worker died before recording it
        syncer.push()
    tickets.close()

    restarted, again = synced(tmp_path / "tickets.db", vendor, push_now=False)
    try:
        assert again.push().sent == 0  # the dead worker's claim still holds until its lease ends...
        report = again.push(reclaim=True)  # ...or an operator says it is gone (`firstline tickets sync --reclaim`)
        assert report.failed == 0 and restarted.outbox.counts() == {"done": 3}
        assert vendor.count() == 1
        ref = restarted.remote(number)
        assert ref is not None
        assert [c.body for c in vendor.comments(ref)] == ["Restart the client, please."]
        assert vendor.get(ref.number).state is S.IN_PROGRESS
    finally:
        restarted.close()


def test_a_refused_change_fails_for_an_admin_and_holds_the_ticket_back(
    pair: tuple[SyncedTicketing, Syncer], vendor: InMemoryConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    tickets, syncer = pair
    first = tickets.create(new_ticket()).number
    other = tickets.create(new_ticket()).number

    def refuse(*args: object, **kwargs: object) -> None:
        raise AuthenticationError("memvendor refused user 'firstline' (FIRSTLINE_TICKETING__MEMVENDOR__PASSWORD)")

    real_create = vendor.create
    monkeypatch.setattr(vendor, "create", refuse)
    tickets.comment(first, "later change", AGENT)
    report = syncer.push()
    assert report.failed == 2 and "PASSWORD" in report.errors[0]
    assert tickets.outbox.counts() == {"failed": 2, "pending": 1}
    monkeypatch.setattr(vendor, "create", real_create)
    assert syncer.push().sent == 0  # the comment waits behind its ticket's failed create
    assert tickets.outbox.retry_failed() == 2
    assert syncer.push().sent == 3 and vendor.count() == 2
    assert tickets.remote(other) is not None


def test_parallel_workers_send_each_change_once(
    pair: tuple[SyncedTicketing, Syncer], vendor: InMemoryConnector
) -> None:
    tickets, _ = pair
    numbers = [tickets.create(new_ticket(short_description=f"issue {i}")).number for i in range(12)]
    for number in numbers:
        tickets.comment(number, f"note on {number}", AGENT)
    workers = [Syncer(tickets) for _ in range(4)]
    threads = [threading.Thread(target=w.push) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    Syncer(tickets).push()
    assert vendor.count() == 12 and vendor.calls["create"] == 12 and vendor.calls["comment"] == 12
    assert tickets.outbox.counts() == {"done": 24}


def test_staff_changes_and_comments_come_back_once_and_ours_are_not_echoed(
    pair: tuple[SyncedTicketing, Syncer], vendor: InMemoryConnector
) -> None:
    tickets, syncer = pair
    heard: list[RemoteChangeEvent] = []
    syncer.on_remote_change = heard.append
    number = tickets.create(new_ticket()).number
    tickets.comment(number, "We are looking into it.", AGENT)
    syncer.push()
    assert syncer.pull() == [] and heard == []  # our own ticket and comment are not news
    ref = tickets.remote(number)
    assert ref is not None
    vendor.staff_change(ref.number, state=S.IN_PROGRESS, assigned_to="tomasz.nowicki@example.com")
    vendor.staff_comment(ref.number, "I have reset the VPN profile on the concentrator; please try now.")
    vendor.staff_comment(ref.number, "Concentrator log attached.", public=False)
    events = syncer.pull()
    assert [e.changes for e in events if e.changes] == [
        {"state": "in_progress", "assigned_to": "tomasz.nowicki@example.com"}
    ]
    assert [e.comment.body for e in events if e.comment] == [
        "I have reset the VPN profile on the concentrator; please try now."
    ]
    assert heard == events
    ticket = tickets.get(number)
    assert (ticket.state, ticket.assigned_to) == (S.IN_PROGRESS, "tomasz.nowicki@example.com")
    public = [e.body for e in tickets.history(number, public_only=True) if e.kind == "comment"]
    assert public[-1].startswith("I have reset the VPN profile")
    assert tickets.outbox.counts() == {"done": 2}  # nothing was queued back to the vendor
    assert syncer.pull() == [] and len(heard) == 2  # and nothing comes back twice
    vendor_comments = vendor.comments(ref)
    assert len(vendor_comments) == 3


def test_webhooks_are_verified_then_fetched(pair: tuple[SyncedTicketing, Syncer], vendor: InMemoryConnector) -> None:
    tickets, syncer = pair
    number = tickets.create(new_ticket()).number
    syncer.push()
    ref = tickets.remote(number)
    assert ref is not None
    vendor.staff_comment(ref.number, "Fixed on our side.")
    headers, body = vendor.webhook(ref.number)
    with pytest.raises(AuthenticationError):
        syncer.webhook({"x-firstline-signature": "sha256=forged"}, body)
    events = syncer.webhook(headers, body)
    assert [e.comment.body for e in events if e.comment] == ["Fixed on our side."]


def test_a_lifecycle_the_vendor_allows_but_firstline_does_not_becomes_a_work_note(
    pair: tuple[SyncedTicketing, Syncer], vendor: InMemoryConnector, caplog: pytest.LogCaptureFixture
) -> None:
    tickets, syncer = pair
    resolved = tickets.create(new_ticket()).number
    tickets.update(resolved, TicketUpdate(state=S.RESOLVED, resolution_note="Reinstalled"), AGENT)
    canceled = tickets.create(new_ticket()).number
    tickets.update(canceled, TicketUpdate(state=S.CANCELED), AGENT)
    syncer.push()
    for number in (resolved, canceled):
        ref = tickets.remote(number)
        assert ref is not None
        vendor.staff_change(ref.number, state=S.ON_HOLD)
    with caplog.at_level("WARNING"):
        syncer.pull()
    assert tickets.get(resolved).state is S.RESOLVED and tickets.get(canceled).state is S.CANCELED
    note = tickets.history(resolved)[-1]
    assert note.kind == "work_note" and "does not allow" in note.body
    assert tickets.history(canceled)[-1].kind == "state_change"  # a final ticket takes no note
    assert sum("does not allow" in r.message for r in caplog.records) == 2
    assert syncer.pull() == []  # told once, not on every poll


def test_bad_input_is_refused_before_anything_is_queued(pair: tuple[SyncedTicketing, Syncer]) -> None:
    tickets, _ = pair
    number = tickets.create(new_ticket()).number
    with pytest.raises(InputError):
        tickets.comment(number, "   ", AGENT)
    assert tickets.outbox.counts() == {"pending": 1}
    assert tickets.search(TicketQuery()) == [tickets.get(number)]


class _VendorContract(TicketingContract):
    """The contract again with a vendor's HTTP fake behind the mirror; afterwards nothing may be left unsent or
    refused, apart from ``refusals``: what the vendor rightly refuses (the contract assigns tickets to "bob", who
    has no account there; the outbox keeps such a change failed for an admin) or its API cannot do."""

    refusals: tuple[str, ...] = ()

    def fake(self) -> Any:
        raise NotImplementedError

    def connector(self, fake: Any) -> TicketConnector:
        raise NotImplementedError

    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[TicketingBackend]:
        with self.fake() as fake:
            tickets = SyncedTicketing(
                SqlTicketing(f"sqlite:///{tmp_path / 'tickets.db'}"), self.connector(fake), push_now=True
            )
            Syncer(tickets)
            yield tickets
            items = tickets.outbox.items()
            refused = {i.ticket_number for i in items if any(r in i.last_error for r in self.refusals)}
            left = [i for i in items if i.ticket_number not in refused]  # a refused change holds its ticket back
            tickets.close()
            assert left == [], left
            assert fake.violations == []


CONTRACT_GROUPS = {"Network": "Network Operations"}  # the contract's group names, as an admin would map them


class TestServiceNowBehindTheMirror(_VendorContract):
    refusals = ("no active user with the e-mail 'bob",)

    def fake(self) -> Any:
        return FakeServiceNow(spec_checks=False)

    def connector(self, fake: Any) -> TicketConnector:
        options = ServiceNowOptions(
            url=fake.url, user=fake.user, password=fake.password, fields=FieldMap(groups=CONTRACT_GROUPS)
        )
        return ServiceNowConnector(options, transport=httpx.HTTPTransport())


class TestJiraBehindTheMirror(_VendorContract):
    refusals = ("No Jira user has the address 'bob",)

    def fake(self) -> Any:
        teams = ("Service Desk", "Network Operations", "Desktop Support")
        return FakeJira(spec_checks=False, page_size=50, teams=teams)

    def connector(self, fake: Any) -> TicketConnector:
        options = JiraOptions(
            url=fake.url, email=fake.email, api_token=fake.api_token, project_key="HELP", service_desk_id="1",
            request_type_id="10", fields=FieldMap(groups=CONTRACT_GROUPS),
        )  # fmt: skip
        return JiraConnector(options, transport=httpx.HTTPTransport())


class TestConnectWiseBehindTheMirror(_VendorContract):
    # ConnectWise documents no call that detaches a child ticket; bob is no member there
    refusals = ("no API call to detach", "No ConnectWise member has the e-mail address 'bob", "{'identifier': 'bob'}")

    def fake(self) -> Any:
        return FakeConnectWise()

    def connector(self, fake: Any) -> TicketConnector:
        options = ConnectWiseOptions(
            url=fake.url, company=fake.company, public_key=fake.public_key, private_key=fake.private_key,
            client_id=fake.client_id, board=fake.board, company_identifier=fake.customer, member=fake.member,
            fields=FieldMap(groups={"Network Operations": "Network Ops", "Network": "Network Ops"},
                            categories={"network": "Network"}),
        )  # fmt: skip
        return ConnectWiseConnector(options)


def test_a_ticket_staff_opened_at_the_vendor_is_found_by_its_number(
    pair: tuple[SyncedTicketing, Syncer], vendor: InMemoryConnector
) -> None:
    tickets, syncer = pair
    phoned = vendor.staff_open("ruby.chen@nwmeridian.co.uk", "Laptop charger broken", state=S.CLOSED)
    ticket = tickets.get(phoned.lower())
    assert (ticket.requester, ticket.state, ticket.resolution_note) == (
        "ruby.chen@nwmeridian.co.uk", S.CLOSED, "Replaced the charger."
    )  # fmt: skip
    assert tickets.get(phoned) == tickets.get(ticket.number) == ticket  # adopted once
    assert tickets.remote(ticket.number) == vendor.get(phoned).ref
    assert tickets.outbox.counts() == {} and vendor.calls.get("update", 0) == 0  # nothing sent back
    assert len(tickets.search(TicketQuery())) == 1
    open_one = vendor.staff_open("ruby.chen@nwmeridian.co.uk", "Monitor flickers", state=S.IN_PROGRESS)
    adopted = tickets.get(open_one)
    vendor.staff_comment(open_one, "Swapping the cable this afternoon.")
    assert [e.comment.body for e in syncer.pull() if e.comment and e.ticket.number == adopted.number] == [
        "Swapping the cable this afternoon."
    ]
    with pytest.raises(TicketNotFoundError, match="MV99999"):
        tickets.get("MV99999")


def test_a_merge_reaches_the_vendor_duplicate_and_children_alike(
    pair: tuple[SyncedTicketing, Syncer], vendor: InMemoryConnector
) -> None:
    tickets, syncer = pair
    keep = tickets.create(new_ticket(short_description="Wi-Fi down on floor 4", tags=["major_incident"])).number
    duplicate = tickets.create(new_ticket(short_description="Wi-Fi down, 4th floor", tags=["major_incident"])).number
    child = tickets.create(new_ticket(short_description="No Wi-Fi at my desk")).number
    tickets.link_to_parent(child, duplicate, AGENT)
    tickets.merge(duplicate, keep, AGENT)
    assert syncer.push().failed == 0
    remote = {n: tickets.remote(n) for n in (keep, duplicate, child)}
    assert all(remote.values())
    assert vendor.get(remote[duplicate].number).state is S.CLOSED  # type: ignore[union-attr]
    assert vendor.get(remote[child].number).parent_number == remote[keep].number  # type: ignore[union-attr]
    notes = [c.body for c in vendor.comments(remote[duplicate])]  # type: ignore[arg-type]
    assert any(f"duplicate of {keep}" in n for n in notes)
