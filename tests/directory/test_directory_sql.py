"""SqlDirectory on SQLite (a file, and in memory) against the conformance suite, plus migrations,
idempotent seeding, concurrent writers, sharing a database with the ticket store, and errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from firstline.directory import InMemoryDirectory, SqlDirectory, upgrade
from firstline.directory.migrations import current_revision, head_revision, schema_drift
from firstline.directory.schema import metadata
from firstline.errors import BackendUnavailableError, ConfigError
from firstline.localdb.migrations import schema_drift as ticketing_schema_drift
from firstline.testing.directory import DirectoryContract, demo_org, run_concurrently
from firstline.ticketing import SqlTicketing

SEEDED_RECORDS = 433  # 72 people + 72 accounts + 111 devices + 16 printers + 70 phones + 88 mailboxes + 4 incidents


@pytest.fixture(scope="session")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file holding the demo organisation, made once; tests work on copies."""
    path = tmp_path_factory.mktemp("seeded") / "directory.db"
    directory = SqlDirectory(f"sqlite:///{path}")
    assert directory.seed(demo_org()) == SEEDED_RECORDS
    directory.close()
    return path


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'directory.db'}"


@pytest.fixture
def seeded_url(seeded_file: Path, tmp_path: Path) -> str:
    shutil.copy(seeded_file, tmp_path / "directory.db")
    return f"sqlite:///{tmp_path / 'directory.db'}"


class TestSqliteFileDirectory(DirectoryContract):
    @pytest.fixture
    def directory(self, seeded_url: str) -> Iterator[SqlDirectory]:
        self.url = seeded_url
        directory = SqlDirectory(seeded_url)
        yield directory
        directory.close()

    def open_again(self, directory: object) -> SqlDirectory:
        return SqlDirectory(self.url)


class TestSqliteMemoryDirectory(DirectoryContract):
    @pytest.fixture
    def directory(self) -> Iterator[SqlDirectory]:
        directory = SqlDirectory("sqlite://")
        directory.seed(demo_org())
        yield directory
        directory.close()


def count_rows(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for name, t in metadata.tables.items()
            }
    finally:
        engine.dispose()


def test_opening_creates_the_folder_and_migrates(db_url: str, tmp_path: Path) -> None:
    assert current_revision(db_url) is None
    SqlDirectory(db_url).close()
    assert (tmp_path / "data" / "directory.db").is_file()
    assert current_revision(db_url) == head_revision() == "0001"


def test_migration_is_idempotent_and_matches_the_schema_module(db_url: str) -> None:
    for _ in range(2):
        upgrade(db_url)
    SqlDirectory(db_url).close()  # migrates again on open: a no-op
    assert current_revision(db_url) == head_revision()
    assert schema_drift(db_url) == []


def test_seeded_records_read_back_exactly_as_loaded(seeded_url: str) -> None:
    org, sql, memory = demo_org(), SqlDirectory(seeded_url), InMemoryDirectory(demo_org())
    try:
        assert [sql.person(p.id) for p in org.people] == list(org.people)
        assert [sql.account(p.id) for p in org.people] == [memory.account(p.id) for p in org.people]
        assert [sql.device(d.id) for d in org.devices] == list(org.devices)
        assert [sql.printer(p.id) for p in org.printers] == list(org.printers)
        assert [sql.phone(p.extension) for p in org.phones] == list(org.phones)
        assert [sql.mailbox(m.address) for m in org.mailboxes] == list(org.mailboxes)
        assert [sql.mailbox(m.address) for m in org.shared_mailboxes] == list(org.shared_mailboxes)
        assert [sql.distribution_list(d.address) for d in org.distribution_lists] == list(org.distribution_lists)
        assert sql.incidents(active_only=False) == memory.incidents(active_only=False)
        for text in ("leeds", "finance", "adm-", "o'brien", "100%"):
            assert sql.find_people(text) == memory.find_people(text), text
    finally:
        sql.close()


def test_seeding_again_changes_nothing(seeded_url: str) -> None:
    before = count_rows(seeded_url)
    directory = SqlDirectory(seeded_url)
    unlocked = directory.unlock_account("r.chen")
    cleared = directory.clear_print_queue("LON-F4-HP-02")
    trimmed = directory.remove_from_distribution_list("project-harbour@nwmeridian.co.uk", "p019")
    assert directory.seed(demo_org()) == 0
    assert directory.account("r.chen") == unlocked and directory.printer("LON-F4-HP-02") == cleared
    assert directory.distribution_list("project-harbour@nwmeridian.co.uk") == trimmed
    directory.close()
    assert count_rows(seeded_url) == before


def test_concurrent_first_opens_and_seeds_insert_everything_once(db_url: str) -> None:
    directories = run_concurrently([partial(SqlDirectory, db_url) for _ in range(4)])
    try:
        inserted = run_concurrently([partial(d.seed, demo_org()) for d in directories])
        assert sorted(inserted) == [0, 0, 0, SEEDED_RECORDS]
    finally:
        for directory in directories:
            directory.close()
    assert sum(count_rows(db_url).values()) == SEEDED_RECORDS


def test_writers_in_two_stores_over_one_file_lose_no_update(seeded_url: str) -> None:
    """Two SqlDirectory instances stand for two processes sharing the database file."""
    first, second = SqlDirectory(seeded_url), SqlDirectory(seeded_url)
    try:
        calls = [partial((first if i % 2 else second).record_failed_login, "o.pemberton") for i in range(10)]
        calls += [partial(first.unlock_account, "r.chen"), partial(second.record_failed_login, "r.chen")]
        run_concurrently(calls)
        assert first.account("o.pemberton").failed_attempts == second.account("o.pemberton").failed_attempts == 10
        ruby = second.account("r.chen")
        assert (ruby.locked, ruby.failed_attempts) in {(False, 0), (False, 1)}  # unlock last, or the failure last
    finally:
        first.close()
        second.close()


def test_shares_one_database_with_the_ticket_store(db_url: str) -> None:
    tickets, directory = SqlTicketing(db_url), SqlDirectory(db_url)
    try:
        directory.seed(demo_org())
        assert directory.person("r.chen").name == "Ruby Chen"
    finally:
        tickets.close()
        directory.close()
    assert schema_drift(db_url) == [] and ticketing_schema_drift(db_url) == []
    assert current_revision(db_url) == "0001"


def test_unreachable_sqlite_file_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("a file where a folder should be")
    url = f"sqlite:///{tmp_path / 'not-a-folder' / 'directory.db'}"
    with pytest.raises(BackendUnavailableError, match=r"directory\.database_url") as caught:
        SqlDirectory(url)
    assert caught.value.url == url and "FIRSTLINE_DIRECTORY__DATABASE_URL" in str(caught.value)


def test_bad_urls_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match=r"directory\.database_url.*sqlite:///"):
        SqlDirectory("mysql://root@localhost/firstline")
    with pytest.raises(ConfigError, match="not a database URL"):
        SqlDirectory("directory.db")
