"""POST /v1/webhooks/tickets: the vendor's signature is the only credential; a verified call brings changes back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from firstline.conversations import SqlConversations
from firstline.helpdesk.vendor_updates import TellRequester
from firstline.service.app import create_app
from firstline.settings import load_settings
from firstline.testing.live import UNLIMITED
from firstline.testing.memory_connector import InMemoryConnector
from firstline.testing.ticketing import new_ticket
from firstline.ticketing import SqlTicketing
from firstline.ticketing.sync import Syncer
from firstline.ticketing.synced import SyncedTicketing


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, SyncedTicketing, InMemoryConnector, SqlConversations]]:
    """The real app and route over a vendor backend (no models: the lifespan is not run)."""
    vendor = InMemoryConnector()
    tickets = SyncedTicketing(SqlTicketing("sqlite://"), vendor, push_now=True)
    conversations = SqlConversations(tickets.mirror.database)
    syncer = Syncer(tickets, on_remote_change=TellRequester(conversations))
    app = create_app(load_settings(data_dir=tmp_path / "data", service=UNLIMITED))
    app.state.runtime = SimpleNamespace(tickets=tickets, syncer=syncer, conversations=conversations)
    yield TestClient(app), tickets, vendor, conversations
    tickets.close()


def test_a_signed_call_brings_the_staff_comment_back(
    served: tuple[TestClient, SyncedTicketing, InMemoryConnector, SqlConversations],
) -> None:
    client, tickets, vendor, conversations = served
    ticket = tickets.create(new_ticket(requester="ruby.chen@nwmeridian.co.uk"))
    conversation = conversations.create(ticket.requester, channel="web")
    conversations.save(conversation.id, ticket_number=ticket.number)
    ref = tickets.remote(ticket.number)
    assert ref is not None
    vendor.staff_comment(ref.number, "Fixed the mailbox quota; please try again.")
    headers, body = vendor.webhook(ref.number)
    forged = client.post("/v1/webhooks/tickets", content=body, headers={"x-firstline-signature": "sha256=00"})
    assert forged.status_code == 401 and "signature" in forged.json()["detail"]
    assert conversations.events(conversation.id) == []  # nothing taken from an unverified call
    answer = client.post("/v1/webhooks/tickets", content=body, headers=headers)
    assert answer.status_code == 202 and answer.json() == {"changes": 1, "tickets": [ticket.number]}
    told = conversations.events(conversation.id, kinds=("assistant_message",))
    assert told[-1].data["text"].endswith("Fixed the mailbox quota; please try again.")
    again = client.post("/v1/webhooks/tickets", content=body, headers=headers)  # vendors retry deliveries
    assert again.json() == {"changes": 0, "tickets": []}


def test_the_built_in_store_has_no_webhooks(tmp_path: Path) -> None:
    app = create_app(load_settings(data_dir=tmp_path / "data", service=UNLIMITED))
    app.state.runtime = SimpleNamespace(syncer=None)
    answer = TestClient(app).post("/v1/webhooks/tickets", content=b"{}")
    assert answer.status_code == 404 and "sql" in answer.json()["detail"]
