"""SqlTicketing on SQLite (a file, and in memory) against the conformance suite, plus migrations,
atomic writes, time zones and configuration errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import pytest

from firstline.errors import BackendUnavailableError, ConfigError
from firstline.localdb.database import display_url, parse_url
from firstline.localdb.migrations import current_revision, head_revision, schema_drift, upgrade
from firstline.testing.ticketing import TicketingContract, new_ticket, run_concurrently
from firstline.ticketing import SqlTicketing, TicketingBackend, TicketState, TicketUpdate, Urgency
from firstline.ticketing import sql as sql_module


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'tickets.db'}"


class TestSqliteFileTicketing(TicketingContract):
    @pytest.fixture
    def backend(self, db_url: str) -> Iterator[TicketingBackend]:
        self.url = db_url
        backend = SqlTicketing(db_url)
        yield backend
        backend.close()

    def open_again(self, backend: TicketingBackend) -> TicketingBackend:
        return SqlTicketing(self.url)


class TestSqliteMemoryTicketing(TicketingContract):
    @pytest.fixture
    def backend(self) -> Iterator[TicketingBackend]:
        backend = SqlTicketing("sqlite://")
        yield backend
        backend.close()


def test_opening_creates_the_folder_and_migrates(db_url: str, tmp_path: Path) -> None:
    assert current_revision(db_url) is None
    SqlTicketing(db_url).close()
    assert (tmp_path / "data" / "tickets.db").is_file()
    assert current_revision(db_url) == head_revision() == "0008"


def test_migration_is_idempotent_and_matches_the_schema_module(db_url: str) -> None:
    for _ in range(2):
        upgrade(db_url)
    tickets = SqlTicketing(db_url)  # migrates again on open: a no-op
    number = tickets.create(new_ticket()).number
    tickets.close()
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()
    assert schema_drift(db_url) == []
    reopened = SqlTicketing(db_url)
    assert reopened.get(number).number == number
    reopened.close()


def test_concurrent_first_opens_migrate_once(db_url: str) -> None:
    backends = run_concurrently([partial(SqlTicketing, db_url) for _ in range(6)])
    try:
        tickets = run_concurrently([partial(b.create, new_ticket()) for b in backends])
        assert len({t.number for t in tickets}) == 6
    finally:
        for backend in backends:
            backend.close()
    assert current_revision(db_url) == head_revision()


def test_an_update_and_its_history_commit_together(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    tickets = SqlTicketing(db_url)
    number = tickets.create(new_ticket()).number
    before = tickets.get(number)

    def broken(*args: object) -> dict[str, object]:
        raise RuntimeError("disk pulled out while writing the history")

    monkeypatch.setattr(sql_module, "_entry_columns", broken)
    with pytest.raises(RuntimeError, match="disk pulled out"):
        tickets.update(number, TicketUpdate(state=TicketState.IN_PROGRESS, urgency=Urgency.HIGH), "firstline")
    with pytest.raises(RuntimeError, match="disk pulled out"):
        tickets.escalate(number, "Network", "hand over", "firstline")
    assert tickets.get(number) == before
    assert tickets.history(number) == []
    tickets.close()


def test_times_are_stored_as_utc_whatever_the_clock_zone(db_url: str) -> None:
    local = datetime(2025, 3, 30, 9, 15, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    tickets = SqlTicketing(db_url, clock=lambda: local)
    ticket = tickets.create(new_ticket(urgency=Urgency.HIGH))
    assert ticket.opened_at == local and ticket.opened_at.tzinfo is UTC
    stored = tickets.get(ticket.number)
    assert stored == ticket
    assert stored.due_at == datetime(2025, 3, 30, 15, 15, 0, 123456, tzinfo=UTC)  # P3: 72 h
    updated = tickets.update(ticket.number, TicketUpdate(category="network"), "firstline")
    assert updated.updated_at == local + timedelta(microseconds=1)  # a frozen clock still moves updated_at on
    tickets.close()


def test_unreachable_sqlite_file_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("a file where a folder should be")
    url = f"sqlite:///{tmp_path / 'not-a-folder' / 'tickets.db'}"
    with pytest.raises(BackendUnavailableError, match=r"ticketing\.database_url") as caught:
        SqlTicketing(url)
    assert caught.value.url == url and "FIRSTLINE_TICKETING__DATABASE_URL" in str(caught.value)


def test_bad_urls_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match=r"ticketing.database_url.*sqlite:///"):
        SqlTicketing("mysql://root@localhost/firstline")
    with pytest.raises(ConfigError, match="not a database URL"):
        SqlTicketing("tickets.db")


def test_postgres_urls_use_psycopg_and_hide_the_password() -> None:
    for url in ("postgresql://app:s3cret@db:5432/firstline", "postgres://app:s3cret@db:5432/firstline"):
        parsed = parse_url(url)
        assert parsed.drivername == "postgresql+psycopg"
        assert display_url(parsed) == "postgresql+psycopg://app:***@db:5432/firstline"


def test_prepared_searches_find_what_the_built_statement_finds(tmp_path: Path) -> None:
    """``search`` runs one prepared statement per set of filters; over random filter sets it returns exactly
    the tickets, in the order, of the statement built from the query each time."""
    import random

    from sqlalchemy import select

    from firstline.localdb.schema import tickets
    from firstline.ticketing import Impact, Priority, TicketQuery

    clock = [datetime(2026, 12, 1, 9, 0, tzinfo=UTC)]
    backend = SqlTicketing(f"sqlite:///{tmp_path / 'tickets.db'}", clock=lambda: clock[0])
    rng = random.Random(7)
    people = ["ada@example.com", "bo@example.com", "cy@example.com"]
    groups, specialists, intents = ["Service Desk", "Network", ""], ["network", "email", "printer"], ["vpn", "jam", ""]
    numbers = []
    for i in range(40):
        clock[0] += timedelta(minutes=rng.randint(1, 90))
        ticket = backend.create(new_ticket(
            requester=rng.choice(people), short_description=f"problem {i}", assignment_group=rng.choice(groups),
            specialist=rng.choice(specialists), intent=rng.choice(intents),
            impact=rng.choice(list(Impact)), urgency=rng.choice(list(Urgency))))  # fmt: skip
        numbers.append(ticket.number)
        if rng.random() < 0.4:
            state = rng.choice([TicketState.IN_PROGRESS, TicketState.ON_HOLD])
            backend.update(ticket.number, TicketUpdate(state=state), "agent@example.com")
    for child in numbers[5:9]:
        backend.link_to_parent(child, numbers[0], "agent@example.com")

    def reference(query: TicketQuery) -> list[str]:
        statement = (
            select(tickets.c.number)
            .where(*sql_module._conditions(query))
            .order_by(tickets.c.seq.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        with backend._db.read() as conn:
            return [row.number for row in conn.execute(statement)]

    shapes_seen = set()
    for _ in range(300):
        filters: dict[str, object] = {}
        if rng.random() < 0.5:
            filters["requester"] = rng.choice([*people, "nobody@example.com"]).upper()
        if rng.random() < 0.4:
            filters["state"] = rng.sample(list(TicketState), rng.randint(1, 3))
        if rng.random() < 0.3:
            filters["priority"] = rng.choice([rng.choice(list(Priority)), rng.sample(list(Priority), 2)])
        for name, values in (("assignment_group", groups), ("specialist", specialists), ("intent", intents)):
            if rng.random() < 0.25:
                filters[name] = rng.choice(values)
        if rng.random() < 0.15:
            filters["parent"] = numbers[0].lower()
        if rng.random() < 0.3:
            filters["opened_after"] = datetime(2026, 12, 1, 9, 0, tzinfo=UTC) + timedelta(hours=rng.randint(0, 30))
        query = TicketQuery(**filters, limit=rng.choice([1, 5, 50]), offset=rng.choice([0, 0, 3]))  # type: ignore[arg-type]
        shapes_seen.add(tuple(sorted(filters)))
        assert [t.number for t in backend.search(query)] == reference(query), filters
    assert len(shapes_seen) > 50
    backend.close()
