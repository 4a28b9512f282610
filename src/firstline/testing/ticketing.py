"""The conformance suite every :class:`~firstline.ticketing.TicketingBackend` must pass.

Subclass :class:`TicketingContract` in a ``Test*`` class and override the ``backend`` fixture so it
returns (or yields, then closes) a fresh, empty backend::

    class TestInMemoryTicketing(TicketingContract):
        @pytest.fixture
        def backend(self) -> TicketingBackend:
            return InMemoryTicketing()

Backends that must not be called from several threads at once set ``thread_safe = False``; the
concurrency tests then skip. Persistent backends also override :meth:`TicketingContract.open_again`
so the suite can check that a restart keeps everything and that two instances (two processes)
over the same storage never hand out the same number.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from itertools import pairwise
from typing import Any, TypeVar

import pytest

from firstline.errors import InputError, InvalidTransitionError, TicketNotFoundError
from firstline.testing.ticket_links import LinkContract
from firstline.ticketing import (
    SLA_TARGETS,
    EntryKind,
    Impact,
    NewTicket,
    Priority,
    Ticket,
    TicketingBackend,
    TicketQuery,
    TicketState,
    TicketUpdate,
    Urgency,
    priority_for,
)

__all__ = ["TicketingContract", "new_ticket", "run_concurrently"]

AGENT = "firstline"
THREADS = 8
T = TypeVar("T")
# ServiceNow's default priority lookup: (impact, urgency) -> priority.
SERVICENOW_PRIORITIES = {
    (1, 1): 1,
    (1, 2): 2,
    (1, 3): 3,
    (2, 1): 2,
    (2, 2): 3,
    (2, 3): 4,
    (3, 1): 3,
    (3, 2): 4,
    (3, 3): 5,
}
S = TicketState


def new_ticket(**overrides: Any) -> NewTicket:
    """A valid create request; keyword arguments replace the defaults."""
    values: dict[str, Any] = {"requester": "alice@example.com", "short_description": "VPN keeps disconnecting"}
    return NewTicket(**(values | overrides))


def run_concurrently(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run ``calls`` on as many threads, released together by a barrier; results in call order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def resolve(backend: TicketingBackend, number: str) -> Ticket:
    return backend.update(number, TicketUpdate(state=S.RESOLVED, resolution_note="Reinstalled the client"), AGENT)


class TicketingContract(LinkContract):
    """Tests every ticketing backend must pass; subclass it and override the ``backend`` fixture.

    The tests of parent links, unlinking and merging are inherited from :class:`LinkContract`.
    """

    thread_safe = True

    @pytest.fixture
    def backend(self) -> TicketingBackend:
        """A fresh, empty backend; subclasses must override this fixture."""
        pytest.fail("override the `backend` fixture in your TicketingContract subclass")

    def open_again(self, backend: TicketingBackend) -> TicketingBackend:
        """A second backend over the same storage as ``backend``; persistent backends override this."""
        pytest.skip("not persistent")

    def require_threads(self) -> None:
        if not self.thread_safe:
            pytest.skip("backend is not thread-safe")

    def test_is_a_ticketing_backend(self, backend: TicketingBackend) -> None:
        assert isinstance(backend, TicketingBackend)

    def test_create_assigns_increasing_inc_numbers(self, backend: TicketingBackend) -> None:
        numbers = [backend.create(new_ticket(short_description=f"issue {i}")).number for i in range(5)]
        assert all(re.fullmatch(r"INC\d{7,}", n) for n in numbers), numbers
        assert [int(n[3:]) for n in numbers] == sorted({int(n[3:]) for n in numbers})

    def test_create_fills_in_the_ticket(self, backend: TicketingBackend) -> None:
        request = new_ticket(
            requester=" Alice@Example.COM ",
            category="network",
            specialist="network",
            intent="vpn_drops",
            description="Since this morning",
            tags=["VPN", "windows", "vpn"],
            assignment_group="Service Desk",
        )
        ticket = backend.create(request)
        assert ticket.state is S.NEW and ticket.requester == "alice@example.com"
        assert (ticket.category, ticket.specialist, ticket.intent) == ("network", "network", "vpn_drops")
        assert (ticket.description, ticket.assignment_group) == ("Since this morning", "Service Desk")
        assert ticket.assigned_to == "" and ticket.short_description == "VPN keeps disconnecting"
        assert ticket.tags == ("vpn", "windows")
        assert ticket.opened_at.utcoffset() == timedelta(0) and ticket.updated_at == ticket.opened_at
        assert ticket.resolved_at is None and ticket.closed_at is None and ticket.parent_number is None
        assert ticket.id and ticket.correlation_id is None
        assert backend.get(ticket.number) == ticket
        assert backend.get(ticket.number.lower()) == ticket
        assert backend.history(ticket.number) == []

    def test_priority_from_impact_and_urgency(self, backend: TicketingBackend) -> None:
        for (impact, urgency), priority in SERVICENOW_PRIORITIES.items():
            ticket = backend.create(new_ticket(impact=impact, urgency=urgency))
            assert (ticket.impact, ticket.urgency, ticket.priority) == (impact, urgency, priority)
            assert priority_for(Impact(impact), Urgency(urgency)) is Priority(priority)
            assert ticket.due_at - ticket.opened_at == SLA_TARGETS[ticket.priority].resolution
            assert ticket.respond_by - ticket.opened_at == SLA_TARGETS[ticket.priority].response

    def test_sla_hours(self, backend: TicketingBackend) -> None:
        critical = backend.create(new_ticket(impact=Impact.HIGH, urgency=Urgency.HIGH))
        planning = backend.create(new_ticket(impact=Impact.LOW, urgency=Urgency.LOW))
        assert (critical.priority, critical.due_at - critical.opened_at) == (Priority.CRITICAL, timedelta(hours=4))
        assert (planning.priority, planning.due_at - planning.opened_at) == (Priority.PLANNING, timedelta(hours=240))
        assert critical.is_overdue(critical.due_at + timedelta(seconds=1))
        assert not critical.is_overdue(critical.due_at)

    def test_unknown_number_raises_not_found(self, backend: TicketingBackend) -> None:
        backend.create(new_ticket())
        calls: list[Callable[[], object]] = [
            lambda: backend.get("INC9999999"),
            lambda: backend.update("INC9999999", TicketUpdate(category="network"), AGENT),
            lambda: backend.comment("INC9999999", "hello", AGENT),
            lambda: backend.escalate("INC9999999", "Network", "summary", AGENT),
            lambda: backend.history("INC9999999"),
            lambda: backend.link_to_parent("INC9999999", None, AGENT),
        ]
        for call in calls:
            with pytest.raises(TicketNotFoundError, match="INC9999999") as caught:
                call()
            assert caught.value.number == "INC9999999"
            assert "search" in str(caught.value)

    def test_create_is_idempotent_by_correlation_id(self, backend: TicketingBackend) -> None:
        first = backend.create(new_ticket(correlation_id="conv-1"))
        again = backend.create(new_ticket(correlation_id="conv-1", short_description="something else"))
        other = backend.create(new_ticket(correlation_id="conv-2"))
        plain = [backend.create(new_ticket()), backend.create(new_ticket())]
        assert again == first and first.correlation_id == "conv-1"
        assert len({first.number, other.number, *(t.number for t in plain)}) == 4
        assert len(backend.search(TicketQuery(requester="alice@example.com"))) == 4

    def test_concurrent_creates_get_distinct_numbers(self, backend: TicketingBackend) -> None:
        self.require_threads()
        calls = [partial(backend.create, new_ticket(short_description=f"issue {i}")) for i in range(THREADS * 3)]
        tickets = run_concurrently(calls)
        assert len({t.number for t in tickets}) == len(tickets)
        assert len(backend.search(TicketQuery(limit=100))) == len(tickets)

    def test_concurrent_creates_with_one_correlation_id_make_one_ticket(self, backend: TicketingBackend) -> None:
        self.require_threads()
        tickets = run_concurrently([lambda: backend.create(new_ticket(correlation_id="conv-9"))] * THREADS)
        assert len({t.number for t in tickets}) == 1
        assert [t.number for t in backend.search(TicketQuery())] == [tickets[0].number]

    def test_concurrent_changes_to_one_ticket_are_all_kept(self, backend: TicketingBackend) -> None:
        self.require_threads()
        number = backend.create(new_ticket()).number
        calls: list[Callable[[], object]] = [
            lambda: backend.update(number, TicketUpdate(category="network"), AGENT),
            lambda: backend.update(number, TicketUpdate(urgency=Urgency.HIGH), AGENT),
            lambda: backend.update(number, TicketUpdate(state=S.IN_PROGRESS), AGENT),
            *[partial(backend.comment, number, f"note {i}", AGENT, internal=True) for i in range(THREADS - 3)],
        ]
        run_concurrently(calls)
        ticket = backend.get(number)
        assert (ticket.category, ticket.urgency, ticket.state) == ("network", Urgency.HIGH, S.IN_PROGRESS)
        kinds = [e.kind for e in backend.history(number)]
        assert kinds.count(EntryKind.WORK_NOTE) == THREADS - 3 and kinds.count(EntryKind.STATE_CHANGE) == 1

    def test_legal_lifecycle_with_reopen(self, backend: TicketingBackend) -> None:
        number = backend.create(new_ticket()).number
        with pytest.raises(InputError, match="needs a resolution note"):
            backend.update(number, TicketUpdate(state=S.RESOLVED), AGENT)
        for state in (S.IN_PROGRESS, S.ON_HOLD, S.IN_PROGRESS):
            assert backend.update(number, TicketUpdate(state=state), AGENT).state is state
        resolved = resolve(backend, number)
        assert resolved.state is S.RESOLVED and resolved.resolved_at == resolved.updated_at
        reopened = backend.update(number, TicketUpdate(state=S.IN_PROGRESS), AGENT)
        assert reopened.resolved_at is None and reopened.resolution_note == "Reinstalled the client"
        resolve(backend, number)
        closed = backend.update(number, TicketUpdate(state=S.CLOSED), AGENT)
        assert closed.state is S.CLOSED and closed.closed_at == closed.updated_at and closed.resolved_at
        changes = [(e.old_value, e.new_value) for e in backend.history(number) if e.kind is EntryKind.STATE_CHANGE]
        walk = ["new", "in_progress", "on_hold", "in_progress", "resolved", "in_progress", "resolved", "closed"]
        assert changes == list(pairwise(walk))
        assert {type(value) for change in changes for value in change} == {str}  # plain text, not enum members

    @pytest.mark.parametrize(
        ("path", "wanted"),
        [((), S.CLOSED), ((S.IN_PROGRESS,), S.NEW), ((S.ON_HOLD,), S.CLOSED), ((S.RESOLVED,), S.ON_HOLD)],
    )
    def test_illegal_transition_says_what_is_allowed(
        self, backend: TicketingBackend, path: tuple[TicketState, ...], wanted: TicketState
    ) -> None:
        number = backend.create(new_ticket()).number
        for state in path:
            if state is S.RESOLVED:
                resolve(backend, number)
            else:
                backend.update(number, TicketUpdate(state=state), AGENT)
        before, entries = backend.get(number), backend.history(number)
        with pytest.raises(InvalidTransitionError) as caught:
            backend.update(number, TicketUpdate(state=wanted, category="changed too"), AGENT)
        message = str(caught.value)
        assert number in message and str(wanted) in message
        assert all(str(allowed) in message for allowed in before.state.allowed_next)
        assert (caught.value.current, caught.value.wanted) == (before.state, wanted)
        assert backend.get(number) == before and backend.history(number) == entries  # nothing half-written

    @pytest.mark.parametrize("final", [S.CLOSED, S.CANCELED])
    def test_final_tickets_cannot_change(self, backend: TicketingBackend, final: TicketState) -> None:
        number = backend.create(new_ticket()).number
        if final is S.CLOSED:
            resolve(backend, number)
        ticket = backend.update(number, TicketUpdate(state=final), AGENT)
        assert ticket.closed_at is not None
        for call in (
            lambda: backend.update(number, TicketUpdate(state=S.IN_PROGRESS), AGENT),
            lambda: backend.update(number, TicketUpdate(category="network"), AGENT),
            lambda: backend.comment(number, "still broken", "alice@example.com"),
            lambda: backend.escalate(number, "Network", "summary", AGENT),
        ):
            with pytest.raises(InvalidTransitionError, match="final: open a new ticket"):
                call()
        assert backend.update(number, TicketUpdate(state=final), AGENT) == ticket  # a no-op is fine

    def test_comments_work_notes_and_what_the_requester_sees(self, backend: TicketingBackend) -> None:
        number = backend.create(new_ticket()).number
        comment = backend.comment(number, "  Please restart the client.  ", AGENT)
        note = backend.comment(number, "User is on the old client version", AGENT, internal=True)
        backend.update(number, TicketUpdate(state=S.IN_PROGRESS, assigned_to="bob@example.com"), AGENT)
        backend.add_transcript(number, [("alice@example.com", "my vpn drops"), (AGENT, "Let me check.")])
        assert (comment.kind, comment.body, comment.author, comment.public) == (
            EntryKind.COMMENT, "Please restart the client.", AGENT, True
        )  # fmt: skip
        assert (note.kind, note.public, note.ticket_number) == (EntryKind.WORK_NOTE, False, number)
        kinds = [e.kind for e in backend.history(number)]
        assert kinds == [EntryKind.COMMENT, EntryKind.WORK_NOTE, EntryKind.FIELD_CHANGE, EntryKind.STATE_CHANGE,
                         EntryKind.TRANSCRIPT, EntryKind.TRANSCRIPT]  # fmt: skip
        public = backend.history(number, public_only=True)
        assert [e.kind for e in public] == [EntryKind.COMMENT, EntryKind.STATE_CHANGE]
        with pytest.raises(InputError, match="comment is empty"):
            backend.comment(number, "   ", AGENT)

    def test_update_records_each_changed_field_in_order(self, backend: TicketingBackend) -> None:
        ticket = backend.create(new_ticket(category="network", tags=["vpn"]))
        update = TicketUpdate(category="network", description="Drops at 09:00", tags=["vpn", "wifi"], assigned_to="bob")
        updated = backend.update(ticket.number, update, "carol@example.com")
        assert (updated.description, updated.tags, updated.assigned_to) == ("Drops at 09:00", ("vpn", "wifi"), "bob")
        entries = backend.history(ticket.number)
        assert [(e.field, e.old_value, e.new_value) for e in entries] == [
            ("description", "", "Drops at 09:00"), ("assigned_to", "", "bob"), ("tags", "vpn", "vpn, wifi")
        ]  # fmt: skip
        assert {e.kind for e in entries} == {EntryKind.FIELD_CHANGE}
        assert {e.author for e in entries} == {"carol@example.com"}
        assert {e.created_at for e in entries} == {updated.updated_at}
        assert backend.update(ticket.number, TicketUpdate(category="network"), AGENT) == updated  # no-op
        assert backend.history(ticket.number) == entries

    def test_impact_or_urgency_change_recomputes_priority_and_due(self, backend: TicketingBackend) -> None:
        ticket = backend.create(new_ticket())
        assert ticket.priority is Priority.MODERATE
        raised = backend.update(ticket.number, TicketUpdate(impact=Impact.HIGH, urgency=Urgency.HIGH), AGENT)
        assert raised.priority is Priority.CRITICAL and raised.due_at == raised.opened_at + timedelta(hours=4)
        fields = [e.field for e in backend.history(ticket.number)]
        assert fields == ["impact", "urgency", "priority", "due_at"]

    def test_updated_at_moves_on_with_every_change(self, backend: TicketingBackend) -> None:
        ticket = backend.create(new_ticket())
        seen = [ticket.updated_at]
        seen.append(backend.update(ticket.number, TicketUpdate(category="network"), AGENT).updated_at)
        seen.append(backend.get(ticket.number).updated_at)
        backend.comment(ticket.number, "hello", AGENT)
        seen.append(backend.get(ticket.number).updated_at)
        seen.append(backend.escalate(ticket.number, "Network", "VPN drops; logs attached", AGENT).updated_at)
        assert seen[0] < seen[1] == seen[2] < seen[3] < seen[4]
        assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in seen)
        assert backend.get(ticket.number).opened_at == ticket.opened_at

    def test_escalate_records_summary_and_group(self, backend: TicketingBackend) -> None:
        number = backend.create(new_ticket(assignment_group="Service Desk")).number
        backend.update(number, TicketUpdate(assigned_to="bob@example.com"), AGENT)
        summary = "VPN drops every 5 min since the 4.2 client update; reinstall did not help."
        ticket = backend.escalate(number, "Network Operations", summary, AGENT)
        assert (ticket.assignment_group, ticket.assigned_to, ticket.state) == ("Network Operations", "", S.IN_PROGRESS)
        entries = backend.history(number)[1:]
        escalation = entries[0]
        assert (escalation.kind, escalation.body, escalation.new_value) == (
            EntryKind.ESCALATION, summary, "Network Operations"
        )  # fmt: skip
        assert escalation.old_value == "Service Desk" and not escalation.public
        assert [e.kind for e in entries[1:]] == [EntryKind.FIELD_CHANGE] * 2 + [EntryKind.STATE_CHANGE]
        on_hold = backend.update(number, TicketUpdate(state=S.ON_HOLD), AGENT)
        again = backend.escalate(number, "Network Operations", "Vendor case opened", AGENT)
        assert again.state is S.ON_HOLD and again.assignment_group == on_hold.assignment_group
        assert backend.history(number)[-1].kind is EntryKind.ESCALATION
        with pytest.raises(InputError, match="summary"):
            backend.escalate(number, "Network Operations", " ", AGENT)

    def test_search_filters(self, backend: TicketingBackend) -> None:
        vpn = backend.create(
            new_ticket(short_description="VPN drops", specialist="network", intent="vpn_drops", urgency=Urgency.HIGH)
        )
        disk = backend.create(new_ticket(short_description="Disk 100% full", requester="bob@example.com"))
        near = backend.create(new_ticket(short_description="Disk 1000 GB", description="needs a_b"))
        backend.escalate(disk.number, "Desktop Support", "Disk full", AGENT)
        resolve(backend, near.number)

        def found(**filters: Any) -> list[str]:
            return [t.number for t in backend.search(TicketQuery(**filters))]

        assert found() == [near.number, disk.number, vpn.number]
        assert found(requester="BOB@example.com") == [disk.number]
        assert found(state=S.IN_PROGRESS) == [disk.number]
        assert found(state=[S.NEW, S.RESOLVED]) == [near.number, vpn.number]
        assert found(priority=Priority.HIGH) == [vpn.number]
        assert found(priority=[Priority.HIGH, Priority.MODERATE], state=S.NEW) == [vpn.number]
        assert found(assignment_group="Desktop Support") == [disk.number]
        assert found(specialist="network") == [vpn.number]
        assert found(intent="vpn_drops") == [vpn.number] and found(intent="vpn") == []
        assert found(text="vpn") == [vpn.number]
        assert found(text="100%") == [disk.number]
        assert found(text="A_B") == [near.number]
        assert found(text=disk.number.lower()) == [disk.number]
        assert found(opened_after=vpn.opened_at - timedelta(seconds=1)) == [near.number, disk.number, vpn.number]
        assert found(opened_after=near.opened_at) == []
        assert found(requester="nobody@example.com") == []

    def test_search_pages_newest_first(self, backend: TicketingBackend) -> None:
        numbers = [backend.create(new_ticket(short_description=f"issue {i}")).number for i in range(7)]
        newest_first = numbers[::-1]
        assert [t.number for t in backend.search(TicketQuery(limit=3))] == newest_first[:3]
        assert [t.number for t in backend.search(TicketQuery(limit=3, offset=3))] == newest_first[3:6]
        assert [t.number for t in backend.search(TicketQuery(limit=3, offset=6))] == newest_first[6:]
        assert backend.search(TicketQuery(offset=7)) == []
        with pytest.raises(InputError, match="limit"):
            TicketQuery(limit=0)

    def test_every_operation_leaves_history_in_order(self, backend: TicketingBackend) -> None:
        major = backend.create(new_ticket()).number
        number = backend.create(new_ticket()).number
        backend.comment(number, "first", AGENT)
        backend.update(number, TicketUpdate(state=S.IN_PROGRESS), AGENT)
        backend.comment(number, "second", AGENT, internal=True)
        backend.escalate(number, "Network", "hand over", AGENT)
        backend.link_to_parent(number, major, AGENT)
        resolve(backend, number)
        entries = backend.history(number)
        assert [e.body for e in entries][:2] == ["first", "State changed from new to in_progress"]
        assert [e.kind for e in entries] == [
            EntryKind.COMMENT, EntryKind.STATE_CHANGE, EntryKind.WORK_NOTE, EntryKind.ESCALATION,
            EntryKind.FIELD_CHANGE, EntryKind.FIELD_CHANGE, EntryKind.FIELD_CHANGE, EntryKind.STATE_CHANGE,
        ]  # fmt: skip
        assert [e.created_at for e in entries] == sorted(e.created_at for e in entries)
        assert {e.ticket_number for e in entries} == {number}
        assert backend.history(major) == []

    def test_bad_input_says_what_to_do(self, backend: TicketingBackend) -> None:
        naive = backend.create(new_ticket()).opened_at.replace(tzinfo=None)
        for build, match in (
            (lambda: new_ticket(short_description="  "), "short_description"),
            (lambda: new_ticket(short_description="x" * 161), "limit is 160"),
            (lambda: new_ticket(requester="alice"), "alice@example.com"),
            (lambda: new_ticket(impact=7), "use one of: 1, 2, 3"),
            (lambda: TicketQuery(state="pending"), "use one of: new"),  # type: ignore[arg-type]
            (lambda: TicketQuery(opened_after=naive), "UTC"),
        ):
            with pytest.raises(InputError, match=match):
                build()
        number = backend.create(new_ticket()).number
        with pytest.raises(InputError, match="author"):
            backend.update(number, TicketUpdate(category="network"), " ")
        assert backend.get(number).category == ""
        assert backend.history(number) == []

    def test_close_twice_is_harmless(self, backend: TicketingBackend) -> None:
        backend.create(new_ticket())
        backend.close()
        backend.close()

    def test_reopen_keeps_everything(self, backend: TicketingBackend) -> None:
        first = backend.create(new_ticket(correlation_id="conv-1", tags=["vpn"]))
        backend.comment(first.number, "hello", AGENT)
        escalated = backend.escalate(first.number, "Network", "hand over", AGENT)
        history = backend.history(first.number)
        reopened = self.open_again(backend)
        backend.close()
        try:
            assert reopened.get(first.number) == escalated
            assert reopened.history(first.number) == history
            assert reopened.create(new_ticket(correlation_id="conv-1")) == escalated
            assert int(reopened.create(new_ticket()).number[3:]) > int(first.number[3:])
        finally:
            reopened.close()

    def test_two_instances_never_share_a_number(self, backend: TicketingBackend) -> None:
        self.require_threads()
        other = self.open_again(backend)
        try:
            calls = [
                partial((backend, other)[i % 2].create, new_ticket(short_description=f"issue {i}"))
                for i in range(THREADS * 2)
            ]
            tickets = run_concurrently(calls)
            assert len({t.number for t in tickets}) == len(tickets)
            same = new_ticket(correlation_id="conv-7")
            numbers = {t.number for t in run_concurrently([partial(b.create, same) for b in (backend, other) * 4])}
            assert len(numbers) == 1
            assert len(other.search(TicketQuery(limit=100))) == len(tickets) + 1
        finally:
            other.close()
