"""Conversations, their event log, approvals, and the unit of work shared with ticket changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from firstline.conversations import ApprovalRecord, SqlConversations
from firstline.errors import ConversationNotFoundError, InputError
from firstline.localdb import open_database
from firstline.sqlstore.transactions import Transactions
from firstline.testing.ticketing import new_ticket, run_concurrently
from firstline.ticketing import SqlTicketing, TicketQuery, TicketState, TicketUpdate


@dataclass
class Stores:
    """Conversations and the built-in ticket store over one database, as the runtime builds them."""

    database: Transactions
    conversations: SqlConversations
    tickets: SqlTicketing


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Stores]:
    database = open_database(f"sqlite:///{tmp_path / 'tickets.db'}")
    yield Stores(database, SqlConversations(database), SqlTicketing(database))
    database.close()


def test_events_are_numbered_and_state_resumes(store: Stores) -> None:
    conversations = store.conversations
    conversation = conversations.create("Ana.Silva@nwmeridian.co.uk", channel="cli")
    assert conversation.requester == "ana.silva@nwmeridian.co.uk" and conversation.status == "active"
    for text in ("hello", "my vpn drops"):
        conversations.append(conversation.id, "user_message", "desk", {"text": text})
    conversations.save(conversation.id, state={"run": {"agent": "network"}}, agent="network", intent="vpn_drops")
    again = conversations.get(conversation.id)
    assert (again.agent, again.intent, again.state, again.event_count) == (
        "network",
        "vpn_drops",
        {"run": {"agent": "network"}},
        2,
    )
    events = conversations.events(conversation.id)
    assert [(e.seq, e.data["text"]) for e in events] == [(1, "hello"), (2, "my vpn drops")]
    assert [e.seq for e in conversations.events(conversation.id, after=1)] == [2]
    assert [c.id for c in conversations.recent("ana.silva@nwmeridian.co.uk")] == [conversation.id]
    assert conversations.recent("someone.else@nwmeridian.co.uk") == []


def test_unknown_ids_are_clear_errors(store: Stores) -> None:
    with pytest.raises(ConversationNotFoundError, match="no conversation 'nope'"):
        store.conversations.get("nope")
    with pytest.raises(ConversationNotFoundError):
        store.conversations.append("nope", "user_message", "desk", {})
    with pytest.raises(ConversationNotFoundError, match="approval request"):
        store.conversations.approval("nope")


def test_approvals_are_decided_once(store: Stores) -> None:
    conversation = store.conversations.create("a@example.com")
    record = ApprovalRecord("ap1", conversation.id, "reset_mfa", {}, "a@example.com", ("owner@example.com",))
    assert store.conversations.add_approval(record).status == "pending"
    assert [a.id for a in store.conversations.approvals()] == ["ap1"]
    decided = store.conversations.decide("ap1", False, "lead@example.com", "call the user first")
    assert (decided.status, decided.decided_by, decided.reason) == ("denied", "lead@example.com", "call the user first")
    assert store.conversations.approvals() == []
    with pytest.raises(InputError, match="already denied"):
        store.conversations.decide("ap1", True, "other@example.com")


def test_a_unit_of_work_commits_ticket_changes_and_events_together(store: Stores) -> None:
    conversation = store.conversations.create("a@example.com")
    ticket = store.tickets.create(new_ticket(requester="a@example.com"))
    with pytest.raises(RuntimeError), store.conversations.unit_of_work():
        store.tickets.update(ticket.number, TicketUpdate(state=TicketState.IN_PROGRESS), author="firstline")
        store.conversations.append(conversation.id, "ticket_change", "desk", {"state": "in_progress"})
        raise RuntimeError("the process dies before the turn is acknowledged")
    assert store.tickets.get(ticket.number).state == TicketState.NEW
    assert store.conversations.events(conversation.id) == []
    with store.conversations.unit_of_work():
        store.tickets.update(ticket.number, TicketUpdate(state=TicketState.IN_PROGRESS), author="firstline")
        with store.conversations.unit_of_work():  # nested: joins the outer transaction
            store.conversations.append(conversation.id, "ticket_change", "desk", {"state": "in_progress"})
        created = store.tickets.create(new_ticket(requester="a@example.com", correlation_id="c-1"))
    assert store.tickets.get(ticket.number).state == TicketState.IN_PROGRESS
    assert [e.kind for e in store.conversations.events(conversation.id)] == ["ticket_change"]
    assert store.tickets.get(created.number).correlation_id == "c-1"


def test_concurrent_appends_never_reuse_a_number(store: Stores) -> None:
    conversation = store.conversations.create(None)
    calls = [partial(store.conversations.append, conversation.id, "user_message", "desk", {"i": i}) for i in range(40)]
    run_concurrently(calls)
    events = store.conversations.events(conversation.id)
    assert sorted(e.seq for e in events) == list(range(1, 41))
    assert sorted(e.data["i"] for e in events) == list(range(40))
    assert store.conversations.count() == {"conversations": 1, "events": 40}
    assert store.tickets.search(TicketQuery(requester="a@example.com")) == []


def test_several_events_appended_at_once_keep_their_order_and_interleave_with_single_ones(store: Stores) -> None:
    conversation = store.conversations.create(None)
    heard: list[int] = []
    store.conversations.hub.subscribe(lambda notice: heard.append(notice.seq))
    batch = [("tool_started", "lookup", {"n": n}) for n in range(3)]
    singles = [
        partial(store.conversations.append, conversation.id, "user_message", "desk", {"i": i}) for i in range(10)
    ]
    batches = [partial(store.conversations.append_many, conversation.id, batch) for _ in range(10)]
    run_concurrently([call for pair in zip(singles, batches, strict=True) for call in pair])
    events = store.conversations.events(conversation.id)
    assert [e.seq for e in events] == list(range(1, 41))
    runs = [events[i : i + 3] for i, e in enumerate(events) if e.kind == "tool_started" and e.data["n"] == 0]
    assert len(runs) == 10 and all([e.data["n"] for e in run] == [0, 1, 2] for run in runs)  # a batch is never split
    assert sorted(heard) == list(range(1, 41))
    with pytest.raises(ConversationNotFoundError):
        store.conversations.append_many("no-such-conversation", batch)
    assert store.conversations.append_many(conversation.id, []) == []


def test_one_time_codes_survive_a_restart_and_are_stored_hashed(store: Stores) -> None:
    from firstline.helpdesk.tools.deps import OneTimeCodes

    sent: list[str] = []
    key = b"the deployment's secret key"
    OneTimeCodes(deliver=lambda who, code, channel: sent.append(code), store=store.conversations, secret=key).issue(
        "A@x.com", "sms"
    )
    digest, _, attempts = store.conversations.load_code("a@x.com") or ("", 0.0, -1)
    assert sent[0] not in digest and attempts == 0
    other_process = OneTimeCodes(store=store.conversations, secret=key)  # every process has the same key
    wrong = "000000" if sent[0] != "000000" else "111111"
    assert other_process.check("a@x.com", wrong) is False
    assert store.conversations.load_code("a@x.com") is not None
    assert other_process.check("a@x.com", sent[0]) is True
    assert store.conversations.load_code("a@x.com") is None  # a code works once


def test_a_state_saved_again_keeps_no_secret_that_came_with_it(store: Stores) -> None:
    """The second save redacts only what changed since the first (the store remembers what it saved): what
    changed is still redacted, and what is read back is what was saved."""
    conversations = store.conversations
    cid = conversations.create("ana.silva@nwmeridian.co.uk").id
    first = {"dialogue": {"topics": [{"text": "outlook keeps asking for my password", "run": {"turns": 1}}]}}
    conversations.save(cid, state=first)
    second = {"dialogue": {"topics": [*first["dialogue"]["topics"], {"text": "my password is Hunter2!Blue"}]}}
    conversations.save(cid, state=second)
    stored = conversations.get(cid).state
    assert "Hunter2!Blue" not in str(stored) and "[password]" in str(stored)
    assert stored["dialogue"]["topics"][0] == first["dialogue"]["topics"][0]
    assert conversations.requester_of(cid) == "ana.silva@nwmeridian.co.uk"
    with pytest.raises(ConversationNotFoundError):
        conversations.requester_of("nope")
