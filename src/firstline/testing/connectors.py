"""The conformance suite every :class:`~firstline.ticketing.remote.TicketConnector` passes against its vendor fake.

Subclass :class:`ConnectorContract` and override two fixtures: ``vendor`` (a started
:class:`VendorFake`, stopped afterwards) and ``connector`` (built with :meth:`ConnectorContract.connect`).
Each fake answers as the vendor documents (ServiceNow and Jira: checked against the OpenAPI files in
``../shared/specs``) and lets a test act as IT staff in the vendor's UI and break the vendor on purpose::

    class TestServiceNow(ConnectorContract):
        @pytest.fixture
        def vendor(self) -> Iterator[VendorFake]:
            with FakeServiceNow() as fake:
                yield fake

        def connect(self, vendor: VendorFake, *, good_credentials: bool = True) -> TicketConnector:
            return ServiceNowConnector(...)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest

from firstline.errors import AuthenticationError, BackendUnavailableError, PermissionDeniedError, TicketNotFoundError
from firstline.testing.loopback import Request
from firstline.ticketing import Impact, InMemoryTicketing, NewTicket, Ticket, TicketQuery, TicketState, Urgency
from firstline.ticketing.remote import RemoteChange, RemoteTicket, TicketConnector
from firstline.ticketing.synced import SyncedTicketing

__all__ = ["ConnectorContract", "VendorFake", "assert_filed_as_mirrored", "firstline_ticket"]

S = TicketState


class VendorFake(Protocol):
    """What the contract needs of a vendor fake besides serving the vendor's API on ``url``."""

    url: str
    violations: list[str]
    """Requests the real vendor would have refused (each answered 422)."""
    seen: list[Request]
    page_size: int
    """The most records one list / search answer returns (small, so pagination is exercised)."""

    def count(self) -> int:
        """How many tickets the vendor holds."""
        ...

    def staff_change(self, number: str, *, state: TicketState | None = None, assigned_to: str | None = None) -> None:
        """Change a ticket as a person in the vendor's UI would (not as the integration user)."""
        ...

    def staff_comment(self, number: str, body: str, *, public: bool = True) -> None:
        """Comment (``public``) or add a work note as a person in the vendor's UI."""
        ...

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (a ``Retry-After`` header when given)."""
        ...

    def lose_next_answer(self) -> None:
        """Carry out the next write, then answer it 503 as if the reply got lost on the way."""
        ...

    def webhook(self, number: str, *, good_signature: bool = True) -> tuple[dict[str, str], bytes]:
        """Headers and body of the call the vendor makes when ``number`` changes (signed, or forged)."""
        ...


def firstline_ticket(**overrides: Any) -> Ticket:
    """A Firstline ticket as the mirror holds it (number, dates and priority filled in)."""
    values: dict[str, Any] = {
        "requester": "helena.marsh@example.com",
        "short_description": "VPN drops every few minutes",
        "description": "Since the client update this morning; home broadband is fine.",
        "urgency": Urgency.HIGH,
        "impact": Impact.MEDIUM,
        "category": "network",
        "assignment_group": "Service Desk",
    }
    ticket = InMemoryTicketing().create(NewTicket(**(values | overrides)))
    return replace(ticket, number=f"FL{datetime.now(UTC).strftime('%H%M%S%f')}")


def assert_filed_as_mirrored(tickets: SyncedTicketing) -> list[str]:
    """Every change left the outbox, and every mirror ticket is filed at the vendor in the state the mirror holds;
    the numbers checked."""
    assert tickets.outbox.counts().keys() <= {"done"}, tickets.outbox.items()
    checked = []
    for ticket in tickets.search(TicketQuery(limit=500)):
        ref = tickets.remote(ticket.number)
        assert ref is not None, ticket.number
        assert tickets.connector.get(ref.number).state is ticket.state, ticket.number
        checked.append(ticket.number)
    return checked


class ConnectorContract:
    """Tests every vendor connector must pass; subclasses provide ``vendor`` and :meth:`connect`."""

    missing_number = "INC9999999"
    """A vendor number no ticket has, in the vendor's format."""

    @pytest.fixture
    def vendor(self) -> Iterator[VendorFake]:
        pytest.fail("override the `vendor` fixture in your ConnectorContract subclass")

    def connect(self, vendor: VendorFake, *, good_credentials: bool = True) -> TicketConnector:
        """A connector for ``vendor``, with credentials the fake refuses when ``good_credentials`` is false."""
        pytest.fail("override connect() in your ConnectorContract subclass")

    @pytest.fixture
    def connector(self, vendor: VendorFake) -> Iterator[TicketConnector]:
        connector = self.connect(vendor)
        yield connector
        connector.close()
        assert vendor.violations == [], vendor.violations

    def test_is_a_connector(self, connector: TicketConnector) -> None:
        assert isinstance(connector, TicketConnector) and connector.system

    def test_create_maps_the_ticket_and_reads_back_the_vendor_priority(
        self, connector: TicketConnector, vendor: VendorFake
    ) -> None:
        ticket = firstline_ticket()
        remote = connector.create(ticket)
        assert remote.firstline_number == ticket.number and remote.ref.number and remote.ref.key
        assert (remote.short_description, remote.requester) == (ticket.short_description, ticket.requester)
        assert ticket.description in remote.description
        assert (remote.impact, remote.urgency, remote.state) == (Impact.MEDIUM, Urgency.HIGH, S.NEW)
        assert remote.priority == ticket.priority  # what the vendor computed or was given
        again = connector.get(remote.ref.number)
        assert again.ref == remote.ref and again.firstline_number == ticket.number
        assert connector.find(ticket.number) == again
        assert vendor.count() == 1

    def test_create_is_idempotent_by_firstline_number(self, connector: TicketConnector, vendor: VendorFake) -> None:
        ticket = firstline_ticket()
        first = connector.create(ticket)
        assert connector.create(ticket).ref == first.ref
        vendor.lose_next_answer()  # the next create is carried out, but its answer never arrives
        other = firstline_ticket(short_description="Printer on floor 3 jams")
        created = connector.create(other)
        assert created.firstline_number == other.number
        assert vendor.count() == 2

    def test_unknown_tickets(self, connector: TicketConnector) -> None:
        connector.create(firstline_ticket())
        assert connector.find("FL0000000404") is None
        with pytest.raises(TicketNotFoundError):
            connector.get(self.missing_number)

    def test_lifecycle_moves_the_vendor_ticket(self, connector: TicketConnector) -> None:
        ref = connector.create(firstline_ticket()).ref
        for state in (S.IN_PROGRESS, S.ON_HOLD, S.IN_PROGRESS):
            assert connector.update(ref, RemoteChange(state=state)).state is state
        done = connector.update(ref, RemoteChange(state=S.RESOLVED, resolution_note="Reinstalled the VPN client"))
        assert done.state is S.RESOLVED and "Reinstalled the VPN client" in done.resolution_note
        assert connector.update(ref, RemoteChange(state=S.RESOLVED)).state is S.RESOLVED  # a retry is harmless
        assert connector.update(ref, RemoteChange(state=S.CLOSED)).state is S.CLOSED

    def test_fields_and_assignment(self, connector: TicketConnector) -> None:
        ref = connector.create(firstline_ticket()).ref
        changed = connector.update(
            ref, RemoteChange(urgency=Urgency.LOW, impact=Impact.LOW, assignment_group="Network Operations")
        )
        assert (changed.urgency, changed.impact, changed.assignment_group) == (
            Urgency.LOW, Impact.LOW, "Network Operations"
        )  # fmt: skip
        assert connector.get(ref.number).assignment_group == "Network Operations"

    def test_comments_and_work_notes(self, connector: TicketConnector, vendor: VendorFake) -> None:
        ref = connector.create(firstline_ticket()).ref
        public = connector.comment(ref, "Please restart the VPN client and try again.", public=True)
        note = connector.comment(ref, "Client 4.2 known bad; see KB0012.", public=False)
        vendor.staff_comment(ref.number, "Rolled the client back to 4.1 for you.", public=True)
        vendor.staff_comment(ref.number, "Checked the concentrator logs.", public=False)
        seen = connector.comments(ref)
        assert [(c.body, c.public, c.ours) for c in seen] == [
            ("Please restart the VPN client and try again.", True, True),
            ("Client 4.2 known bad; see KB0012.", False, True),
            ("Rolled the client back to 4.1 for you.", True, False),
            ("Checked the concentrator logs.", False, False),
        ]
        assert {public.id, note.id} <= {c.id for c in seen} and public.id != note.id
        assert [c.created_at for c in seen] == sorted(c.created_at for c in seen)

    def test_changed_since_follows_pagination_and_sees_staff_changes(
        self, connector: TicketConnector, vendor: VendorFake
    ) -> None:
        before = datetime.now(UTC) - timedelta(seconds=2)
        refs = [
            connector.create(firstline_ticket(short_description=f"issue {i}")).ref
            for i in range(vendor.page_size * 2 + 1)
        ]
        changed = connector.changed_since(before)
        assert {t.ref.number for t in changed} == {r.number for r in refs}
        vendor.staff_change(refs[0].number, state=S.IN_PROGRESS, assigned_to="tomasz.nowicki@example.com")
        latest = connector.get(refs[0].number)
        assert latest.state is S.IN_PROGRESS and latest.assigned_to
        assert latest.ref.number in {t.ref.number for t in connector.changed_since(before)}

    def test_rate_limits_are_waited_out(self, connector: TicketConnector, vendor: VendorFake) -> None:
        vendor.fail_next(429, times=2, retry_after=0.01)
        assert connector.create(firstline_ticket()).ref.number
        assert vendor.count() == 1

    def test_a_vendor_that_stays_down_is_unavailable(self, connector: TicketConnector, vendor: VendorFake) -> None:
        vendor.fail_next(503, times=50)
        with pytest.raises(BackendUnavailableError):
            connector.create(firstline_ticket())

    def test_refused_credentials_and_roles_name_what_to_fix(self, vendor: VendorFake) -> None:
        bad = self.connect(vendor, good_credentials=False)
        try:
            with pytest.raises(AuthenticationError) as caught:
                bad.create(firstline_ticket())
            assert "credential" in str(caught.value).lower() or "FIRSTLINE_" in str(caught.value)
            checks = bad.check()
            assert not all(c.ok for c in checks) and any(c.detail for c in checks if not c.ok)
        finally:
            bad.close()
        good = self.connect(vendor)
        try:
            vendor.fail_next(403)
            with pytest.raises(PermissionDeniedError):
                good.create(firstline_ticket())
            assert all(c.ok for c in good.check()), good.check()
        finally:
            good.close()

    def test_webhooks_are_verified(self, connector: TicketConnector, vendor: VendorFake) -> None:
        remote: RemoteTicket = connector.create(firstline_ticket())
        headers, body = vendor.webhook(remote.ref.number)
        assert connector.parse_webhook(headers, body) == [remote.ref.number]
        forged_headers, forged_body = vendor.webhook(remote.ref.number, good_signature=False)
        with pytest.raises(AuthenticationError):
            connector.parse_webhook(forged_headers, forged_body)
