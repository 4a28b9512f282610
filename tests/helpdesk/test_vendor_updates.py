"""What IT staff do in the vendor's service desk reaches the employee's conversation; work notes never do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from firstline.conversations import SqlConversations
from firstline.helpdesk.vendor_updates import TellRequester
from firstline.localdb import open_database
from firstline.sqlstore.transactions import Transactions
from firstline.testing.memory_connector import InMemoryConnector
from firstline.testing.ticketing import new_ticket
from firstline.ticketing import SqlTicketing, TicketState
from firstline.ticketing.sync import Syncer
from firstline.ticketing.synced import SyncedTicketing

RUBY = "ruby.chen@nwmeridian.co.uk"


@pytest.fixture
def database() -> Iterator[Transactions]:
    database = open_database("sqlite://")
    yield database
    database.close()


def test_staff_updates_are_told_in_the_tickets_conversation(database: Transactions) -> None:
    vendor = InMemoryConnector()
    conversations = SqlConversations(database)
    tickets = SyncedTicketing(SqlTicketing(database), vendor, push_now=True)
    syncer = Syncer(tickets, on_remote_change=TellRequester(conversations))
    talked = tickets.create(new_ticket(requester=RUBY, short_description="Laptop will not charge"))
    silent = tickets.create(new_ticket(requester=RUBY, short_description="Opened by phone"))  # no conversation
    conversation = conversations.create(RUBY, channel="web")
    conversations.save(conversation.id, ticket_number=talked.number)
    for ticket in (talked, silent):
        ref = tickets.remote(ticket.number)
        assert ref is not None
        vendor.staff_change(ref.number, state=TicketState.IN_PROGRESS, assigned_to="tomasz.nowicki@nwmeridian.co.uk")
        vendor.staff_comment(ref.number, "A new charger is on its way to your desk.")
        vendor.staff_comment(ref.number, "Charger stock low; ordered two.", public=False)
    events = syncer.pull()
    assert len(events) == 4  # both tickets: a state change and a public comment each; the work notes are not news
    told = [e.data["text"] for e in conversations.events(conversation.id, kinds=("assistant_message",))]
    ref = tickets.remote(talked.number)
    assert ref is not None
    assert told == [
        f"Update on {talked.number} ({ref.number} at the service desk): it is being worked on; "
        "Tomasz Nowicki is looking after it.",
        f"Update on {talked.number} ({ref.number} at the service desk) from Tomasz Nowicki:\n"
        "A new charger is on its way to your desk.",
    ]
    kinds = [e.kind for e in conversations.events(conversation.id)]
    assert kinds.count("ticket_update") == 2
    assert "ordered two" not in " ".join(told)
    assert syncer.pull() == [] and len(conversations.events(conversation.id)) == len(kinds)  # told once
