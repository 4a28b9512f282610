"""The conversation hub (notices after commit, never after a rollback) and the channel store (verified
identities, link codes, threads, handled deliveries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from firstline.conversations import Notice, SqlConversations
from firstline.conversations.channels import LINK_ALPHABET, SqlChannels
from firstline.conversations.hub import TICKET, Hub
from firstline.errors import InputError
from firstline.sqlstore.transactions import Transactions
from firstline.testing.clock import FixedClock

RUBY = "ruby.chen@nwmeridian.co.uk"


@pytest.fixture
def database(both_databases: Transactions) -> Transactions:
    return both_databases


def test_every_stored_event_is_published_once_committed(database: Transactions) -> None:
    conversations = SqlConversations(database)
    heard: list[Notice] = []
    stop = conversations.hub.subscribe(heard.append)
    conversation = conversations.create(RUBY, channel="web")
    conversations.append(conversation.id, "user_message", "user", {"text": "my vpn drops"})
    assert [(n.seq, n.kind, n.requester) for n in heard] == [(1, "user_message", RUBY)]
    with conversations.unit_of_work():
        conversations.append(conversation.id, "assistant_message", "network", {"text": "Try this"})
        assert len(heard) == 1, "published before the commit"
    assert heard[-1].kind == "assistant_message" and heard[-1].data == {"text": "Try this"}
    with pytest.raises(RuntimeError), conversations.unit_of_work():
        conversations.append(conversation.id, "assistant_message", "network", {"text": "rolled back"})
        raise RuntimeError("the turn failed")
    assert len(heard) == 2, "an event that was rolled back was published"
    stop()
    conversations.append(conversation.id, "user_message", "user", {"text": "thanks"})
    assert len(heard) == 2


def test_a_failing_listener_does_not_stop_the_others_or_the_writer(database: Transactions) -> None:
    conversations = SqlConversations(database)
    heard: list[str] = []

    def broken(_: Notice) -> None:
        raise ValueError("listener bug")

    conversations.hub.subscribe(broken)
    conversations.hub.subscribe(lambda n: heard.append(n.kind))
    conversation = conversations.create(None)
    conversations.append(conversation.id, "user_message", "user", {"text": "hello"})
    assert heard == ["user_message"] and conversations.hub.listeners == 2


def test_ticket_notices_carry_the_number_and_no_conversation() -> None:
    hub = Hub()
    heard: list[Notice] = []
    hub.subscribe(heard.append)
    hub.ticket_changed("INC0000042", "sarah.lindqvist@nwmeridian.co.uk")
    assert heard[0].kind == TICKET and heard[0].conversation_id == "" and heard[0].data == {"ticket": "INC0000042"}


def test_conversation_titles_are_the_first_message_shortened(database: Transactions) -> None:
    conversations = SqlConversations(database)
    first = conversations.create(RUBY)
    conversations.append(first.id, "user_message", "user", {"text": "my  account\nis locked " + "x" * 100})
    conversations.append(first.id, "user_message", "user", {"text": "second message"})
    silent = conversations.create(RUBY)
    titles = conversations.titles([first.id, silent.id], length=30)
    assert titles == {first.id: "my account is locked " + "x" * 8 + "…"}


START = datetime(2026, 12, 5, 14, 30, tzinfo=UTC)


def test_a_link_code_ties_a_channel_user_to_the_person_who_brings_it(database: Transactions) -> None:
    clock = FixedClock(START)
    channels = SqlChannels(database, clock)
    assert channels.person("slack", "U123") is None
    code = channels.start_link("slack", "U123")
    assert len(code) == 9 and code[4] == "-" and set(code.replace("-", "")) <= set(LINK_ALPHABET)
    identity = channels.confirm_link(code.lower().replace("-", " "), "Ruby.Chen@nwmeridian.co.uk")
    assert (identity.email, identity.verified_via) == (RUBY, "link code")
    assert channels.person("slack", "U123") == RUBY
    with pytest.raises(InputError, match="unknown or has expired"):
        channels.confirm_link(code, "mallory@example.com")  # used up
    late = channels.start_link("teams", "aad-1")
    clock.now += timedelta(minutes=16)
    with pytest.raises(InputError, match="unknown or has expired"):
        channels.confirm_link(late, RUBY)
    with pytest.raises(InputError):
        channels.confirm_link("ZZZZ-ZZZZ", RUBY)
    assert channels.person("teams", "aad-1") is None
    assert [i.channel for i in channels.identities(RUBY)] == ["slack"]
    assert channels.unlink("slack", "U123") and channels.person("slack", "U123") is None


def test_a_new_link_replaces_the_old_person_and_needs_how_it_was_verified(database: Transactions) -> None:
    channels = SqlChannels(database)
    channels.link("email", "ruby@home.example", RUBY, "link code")
    channels.link("email", "ruby@home.example", "ben.carter@nwmeridian.co.uk", "admin")
    assert channels.person("email", "ruby@home.example") == "ben.carter@nwmeridian.co.uk"
    with pytest.raises(InputError):
        channels.link("email", "x@y", RUBY, " ")


def test_threads_map_channel_keys_to_conversations(database: Transactions) -> None:
    conversations = SqlConversations(database)
    channels = SqlChannels(database)
    conversation = conversations.create(RUBY)
    channels.bind("slack", "D1:1700000000.1", conversation.id, {"channel": "D1", "thread_ts": "1700000000.1"})
    channels.bind("email", "<a@x>", conversation.id, {"to": RUBY})
    channels.bind("email", "<a@x>", conversation.id, {"to": RUBY, "subject": "Re: VPN"})  # updated, not doubled
    found = channels.thread("slack", "D1:1700000000.1")
    assert found is not None and found.conversation_id == conversation.id and found.reference["channel"] == "D1"
    assert channels.thread("slack", "D1:other") is None
    assert {(t.channel, t.external_key) for t in channels.threads_of(conversation.id)} == {
        ("slack", "D1:1700000000.1"),
        ("email", "<a@x>"),
    }
    assert channels.threads_of(conversation.id, "email")[0].reference["subject"] == "Re: VPN"


def test_a_retried_delivery_is_handled_once(database: Transactions) -> None:
    channels = SqlChannels(database)
    assert channels.first_delivery("slack", "Ev01") is True
    assert channels.first_delivery("slack", "Ev01") is False
    assert channels.first_delivery("teams", "Ev01") is True
