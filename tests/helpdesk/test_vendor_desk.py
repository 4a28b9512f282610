"""The helpdesk over ServiceNow: an employee asks about a ticket the service desk opened from a phone call, by the
number they were given there, and closes it; the incident in ServiceNow follows."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from firstline.conversations import SqlConversations
from firstline.helpdesk.desk import Helpdesk
from firstline.localdb import open_database
from firstline.testing.helpdesk import HelpdeskWorld
from firstline.testing.servicenow_fake import FakeServiceNow
from firstline.ticketing import SqlTicketing, TicketState
from firstline.ticketing.connectors.servicenow import ServiceNowConnector, ServiceNowOptions
from firstline.ticketing.sync import Syncer
from firstline.ticketing.synced import SyncedTicketing

RUBY = "ruby.chen@nwmeridian.co.uk"


@pytest.fixture
def over_servicenow(helpdesk_world: HelpdeskWorld) -> Iterator[tuple[Helpdesk, dict[str, str], FakeServiceNow]]:
    with FakeServiceNow(spec_checks=False) as fake:
        database = open_database("sqlite://")
        options = ServiceNowOptions(url=fake.url, user=fake.user, password=fake.password)
        tickets = SyncedTicketing(SqlTicketing(database), ServiceNowConnector(options, transport=httpx.HTTPTransport()),
                                  push_now=True)  # fmt: skip
        Syncer(tickets)
        desk, sent = helpdesk_world.desk(tickets=tickets, conversations=SqlConversations(database))
        yield desk, sent, fake
        tickets.close()
        database.close()
        assert fake.violations == []


def test_a_ticket_opened_by_phone_is_followed_and_closed_by_its_servicenow_number(
    over_servicenow: tuple[Helpdesk, dict[str, str], FakeServiceNow],
) -> None:
    desk, sent, fake = over_servicenow
    phoned = fake.staff_open(RUBY, "Laptop will not charge", state=TicketState.IN_PROGRESS)
    fake.staff_comment(phoned, "Ordered a new charger; it arrives on Monday.")
    status = asyncio.run(desk.ask(f"hi, what's the status of {phoned}?", requester=RUBY))
    assert status.intent == "ticket_status" and status.status == "done"
    assert phoned in status.reply and "in progress" in status.reply
    assert "Ordered a new charger" in status.reply  # what the service desk wrote there
    first = asyncio.run(desk.ask(f"please close {phoned}, it charges again", requester=RUBY))
    closed = asyncio.run(desk.ask(sent[RUBY], requester=RUBY, conversation_id=first.conversation_id))
    assert "is closed" in closed.reply
    incident = fake.incident(phoned)
    assert incident["state"] == "7" and "charges again" in incident["close_notes"]
