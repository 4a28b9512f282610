"""SqlTicketing on a real PostgreSQL server: the conformance suite, concurrency and migrations.

One throw-away cluster per test session (:mod:`firstline.testing.postgres`, the ``postgres`` fixture of
``tests/conftest.py``) and a fresh schema per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from firstline.conversations import SqlConversations
from firstline.errors import BackendUnavailableError
from firstline.localdb.migrations import current_revision, head_revision, schema_drift, upgrade
from firstline.testing.postgres import PostgresCluster, free_port
from firstline.testing.ticketing import TicketingContract, new_ticket, run_concurrently
from firstline.ticketing import SqlTicketing, TicketingBackend

pytestmark = pytest.mark.live


class TestPostgresTicketing(TicketingContract):
    @pytest.fixture
    def backend(self, postgres: PostgresCluster) -> Iterator[TicketingBackend]:
        self.url = postgres.fresh_url()
        backend = SqlTicketing(self.url)
        yield backend
        backend.close()

    def open_again(self, backend: TicketingBackend) -> TicketingBackend:
        return SqlTicketing(self.url)


def test_migrations_are_idempotent_concurrent_and_match_the_schema(postgres: PostgresCluster) -> None:
    url = postgres.fresh_url()
    assert current_revision(url) is None
    run_concurrently([partial(upgrade, url) for _ in range(4)])
    upgrade(url)
    assert current_revision(url) == head_revision()
    assert schema_drift(url) == []


def test_first_opens_from_many_threads_share_one_counter(postgres: PostgresCluster) -> None:
    url = postgres.fresh_url()
    backends = run_concurrently([partial(SqlTicketing, url) for _ in range(4)])
    try:
        calls = [partial(backends[i % 4].create, new_ticket(short_description=f"issue {i}")) for i in range(16)]
        numbers = sorted(t.number for t in run_concurrently(calls))
        assert numbers == [f"INC{i:07d}" for i in range(1, 17)]  # no collisions and no gaps
    finally:
        for backend in backends:
            backend.close()


def test_unreachable_postgres_names_url_and_setting_without_the_password() -> None:
    url = f"postgresql+psycopg://firstline:s3cret@127.0.0.1:{free_port()}/tickets"
    with pytest.raises(BackendUnavailableError) as caught:
        SqlTicketing(url)
    message = str(caught.value)
    assert "s3cret" not in message and "s3cret" not in caught.value.url
    assert f"firstline:***@127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}/tickets" in message
    assert "ticketing.database_url" in message and "FIRSTLINE_TICKETING__DATABASE_URL" in message
    assert caught.value.setting == "ticketing.database_url"


def test_unit_of_work_and_conversations_on_postgres(postgres: PostgresCluster) -> None:
    store = SqlTicketing(postgres.fresh_url())
    conversations = SqlConversations(store.database)
    try:
        conversation = conversations.create("a@example.com")
        ticket = store.create(new_ticket())
        with pytest.raises(RuntimeError), store.unit_of_work():
            store.comment(ticket.number, "tried a restart", author="firstline")
            conversations.append(conversation.id, "ticket_change", "desk", {"comment": True})
            raise RuntimeError("crash before the acknowledgement")
        assert store.history(ticket.number) == [] and conversations.events(conversation.id) == []
        calls = [partial(conversations.append, conversation.id, "user_message", "desk", {"i": i}) for i in range(20)]
        run_concurrently(calls)
        assert [e.seq for e in conversations.events(conversation.id)] == list(range(1, 21))
    finally:
        store.close()
