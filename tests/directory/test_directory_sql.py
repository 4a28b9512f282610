"""SqlDirectory on SQLite (a file, and in memory) and PostgreSQL against the conformance suite, plus
migrations (upgrading a seeded 0001 database, downgrading), idempotent seeding, concurrent writers,
sharing a database with the ticket store, and errors.

PostgreSQL runs in one throw-away cluster per test session (the ``postgres`` fixture of
``tests/conftest.py``), a fresh schema per test; those tests are marked ``live``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, event, func, insert, inspect, select

from firstline.directory import InMemoryDirectory, SqlDirectory, upgrade
from firstline.directory import sql as sql_directory
from firstline.directory.migrations import alembic_config, current_revision, head_revision, schema_drift
from firstline.directory.models import Account, Device, Mailbox, OrgData
from firstline.directory.records import to_row
from firstline.directory.schema import (
    accounts,
    devices,
    distribution_lists,
    incidents,
    mailboxes,
    metadata,
    people,
    phones,
    printers,
    shared_mailboxes,
)
from firstline.directory.signins import moved_sign_ins
from firstline.errors import BackendUnavailableError, ConfigError, InputError, PersonNotFoundError
from firstline.localdb.migrations import schema_drift as ticketing_schema_drift
from firstline.sqlstore.prepared import Prepared
from firstline.testing.directory import DirectoryContract, demo_org, run_concurrently
from firstline.testing.postgres import PostgresCluster
from firstline.ticketing import SqlTicketing

# 72 people + 72 accounts + 111 devices + 16 printers + 70 phones + 88 mailboxes + 4 incidents + 107 sign-ins
SEEDED_RECORDS = 540


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


class TestSqliteFileDirectoryRemembering(DirectoryContract):
    """The contract holds with people remembered (as ``firstline serve`` runs it)."""

    @pytest.fixture
    def directory(self, seeded_url: str) -> Iterator[SqlDirectory]:
        self.url = seeded_url
        directory = SqlDirectory(seeded_url, remember_s=60.0)
        yield directory
        directory.close()

    def open_again(self, directory: object) -> SqlDirectory:
        return SqlDirectory(self.url, remember_s=60.0)


class TestSqliteMemoryDirectory(DirectoryContract):
    @pytest.fixture
    def directory(self) -> Iterator[SqlDirectory]:
        directory = SqlDirectory("sqlite://")
        directory.seed(demo_org())
        yield directory
        directory.close()


@pytest.mark.live
class TestPostgresDirectory(DirectoryContract):
    @pytest.fixture
    def directory(self, postgres: PostgresCluster) -> Iterator[SqlDirectory]:
        self.url = postgres.fresh_url()
        directory = SqlDirectory(self.url)
        directory.seed(demo_org())
        yield directory
        directory.close()

    def open_again(self, directory: object) -> SqlDirectory:
        return SqlDirectory(self.url)


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
    assert current_revision(db_url) == head_revision() == "0003"


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
        logs = [sql.sign_ins(p.id, days=365) for p in org.people]
        assert logs == [memory.sign_ins(p.id, days=365) for p in org.people]
        assert sorted((entry for log in logs for entry in log), key=org.sign_ins.index) == list(org.sign_ins)
        for text in ("leeds", "finance", "adm-", "o'brien", "100%", "r_chen", "r.chen", "p00_", "/", "rajesh kulkarni",
                     "Kulkarni RAJESH", "a e i o u n r s t"):  # fmt: skip
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
    later = moved_sign_ins(demo_org(), datetime.now(UTC) + timedelta(days=3))  # a restart days later
    assert directory.seed(later) == 0  # the log is there already: not loaded twice
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
    assert current_revision(db_url) == "0003"


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


# --- migration 0002 on a database that already holds data (SQLite here, PostgreSQL below)

ADDED_IN_0002: dict[type[Any], dict[str, Any]] = {
    Account: {"service": False, "privileged": False, "sessions_revoked_at": None},
    Device: {"sync_requested_at": None, "retire_requested_at": None, "wipe_requested_at": None},
    Mailbox: {"automatic_replies": None, "delegates": ()},
}


def seed_at_0001(url: str, org: OrgData) -> None:
    """Migrate ``url`` to revision 0001 and insert ``org`` as that schema holds it: no sign-ins, no 0002 columns."""
    upgrade(url, "0001")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for table, records in (
                (people, org.people),
                (accounts, org.accounts),
                (devices, org.devices),
                (printers, org.printers),
                (phones, org.phones),
                (mailboxes, org.mailboxes),
                (shared_mailboxes, org.shared_mailboxes),
                (distribution_lists, org.distribution_lists),
                (incidents, org.incidents),
            ):
                present = {column["name"] for column in inspect(conn).get_columns(table.name)}
                rows = [{k: v for k, v in to_row(record).items() if k in present} for record in records]
                conn.execute(insert(table), rows)
    finally:
        engine.dispose()
    assert current_revision(url) == "0001"


def check_upgrade_from_0001_keeps_the_data(url: str) -> None:
    org = demo_org()
    seed_at_0001(url, org)
    directory = SqlDirectory(url)  # opening migrates to the newest revision
    try:
        assert current_revision(url) == "0003" and schema_drift(url) == []
        assert [directory.person(p.id) for p in org.people] == list(org.people)
        assert [directory.account(a.person) for a in org.accounts] == [
            replace(a, **ADDED_IN_0002[Account]) for a in org.accounts
        ]
        assert [directory.device(d.id) for d in org.devices] == [
            replace(d, **ADDED_IN_0002[Device]) for d in org.devices
        ]
        assert [directory.mailbox(m.address) for m in org.mailboxes] == [
            replace(m, **ADDED_IN_0002[Mailbox]) for m in org.mailboxes
        ]
        assert [directory.printer(p.id) for p in org.printers] == list(org.printers)
        assert [directory.phone(p.extension) for p in org.phones] == list(org.phones)
        assert directory.incidents(active_only=False) == sorted(org.incidents, key=lambda i: i.id)
        assert directory.sign_ins("r.chen") == []  # 0001 had no log
        assert directory.seed(org) == len(org.sign_ins)  # seeding loads the log, and nothing else is missing
        assert len([s for s in directory.sign_ins("r.chen") if not s.success]) == 10
        assert directory.revoke_sessions("r.chen").sessions_revoked_at is not None
        assert directory.wipe_device("NW-M-0101").wipe_requested_at is not None
        assert directory.set_automatic_replies("m.bell", "Away").automatic_replies == "Away"
    finally:
        directory.close()


def check_downgrade_removes_what_0002_added(url: str, fresh_url: str) -> None:
    directory = SqlDirectory(url)
    directory.seed(demo_org())
    directory.close()
    before = count_rows(url)
    command.downgrade(alembic_config(url), "0001")
    upgrade(fresh_url, "0001")
    assert current_revision(url) == "0001"
    assert table_columns(url) == table_columns(fresh_url)  # exactly the 0001 tables and columns again
    assert "directory_sign_ins" not in table_columns(url)
    assert "service" not in table_columns(url)["directory_accounts"]
    kept = {name: count for name, count in before.items() if name != "directory_sign_ins"}
    upgrade(url)
    assert schema_drift(url) == [] and count_rows(url) == {**kept, "directory_sign_ins": 0}


def table_columns(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            return {
                name: [column["name"] for column in found.get_columns(name)]
                for name in sorted(found.get_table_names())
                if name.startswith("directory_") and name != "directory_alembic_version"
            }
    finally:
        engine.dispose()


def test_upgrading_a_seeded_0001_database_keeps_its_data(db_url: str) -> None:
    check_upgrade_from_0001_keeps_the_data(db_url)


def test_downgrading_to_0001_removes_the_table_and_columns(seeded_url: str, tmp_path: Path) -> None:
    check_downgrade_removes_what_0002_added(seeded_url, f"sqlite:///{tmp_path / 'fresh.db'}")


def test_new_fields_round_trip() -> None:
    """Values the demo organisation leaves at their defaults still read back as written."""
    org = demo_org()
    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    account = replace(org.accounts[0], service=True, privileged=True, sessions_revoked_at=at)
    device = replace(org.devices[0], sync_requested_at=at, retire_requested_at=at, wipe_requested_at=at)
    mailbox = replace(org.mailboxes[0], automatic_replies="Back Monday", delegates=("p002", "p003"))
    directory = SqlDirectory("sqlite://")
    try:
        directory.seed(OrgData(people=org.people, accounts=(account,), devices=(device,), mailboxes=(mailbox,)))
        assert directory.account(account.person) == account
        assert directory.device(device.id) == device
        assert directory.mailbox(mailbox.address) == mailbox
    finally:
        directory.close()


def test_writes_and_the_log_window_use_the_store_clock(seeded_url: str) -> None:
    newest = max(s.at for s in demo_org().sign_ins if s.person == "p072")
    now = newest + timedelta(days=2)
    directory = SqlDirectory(seeded_url, clock=lambda: now)
    try:
        assert directory.revoke_sessions("t.nowicki").sessions_revoked_at == now
        assert directory.account("t.nowicki").sessions_revoked_at == now
        assert directory.sync_device("NW-L-0301").sync_requested_at == now
        assert directory.retire_device("NW-M-0119").retire_requested_at == now
        assert directory.device("NW-M-0119").retire_requested_at == now
        assert directory.sign_ins("d.ogunleye", days=1) == []  # the newest entry is two days before the clock
        assert directory.sign_ins("d.ogunleye", days=3)[0].at == newest
        with pytest.raises(InputError, match="admin account"):
            directory.revoke_sessions("adm-r.kulkarni")
        assert directory.account("p009").sessions_revoked_at is None
    finally:
        directory.close()


# --- PostgreSQL: the same migration checks, and concurrent seeding of the log


@pytest.mark.live
def test_upgrading_a_seeded_0001_postgres_database_keeps_its_data(postgres: PostgresCluster) -> None:
    check_upgrade_from_0001_keeps_the_data(postgres.fresh_url())


@pytest.mark.live
def test_downgrading_postgres_to_0001_removes_the_table_and_columns(postgres: PostgresCluster) -> None:
    check_downgrade_removes_what_0002_added(postgres.fresh_url(), postgres.fresh_url())


@pytest.mark.live
def test_concurrent_seeds_on_postgres_load_the_log_once(postgres: PostgresCluster) -> None:
    """Every other record is there already (upgraded from 0001), so no key conflict keeps the seeders apart:
    only the store's lock stops two of them both finding the log empty and both loading it."""
    url = postgres.fresh_url()
    seed_at_0001(url, demo_org())
    directories = run_concurrently([partial(SqlDirectory, url) for _ in range(4)])
    try:
        inserted = run_concurrently([partial(d.seed, demo_org()) for d in directories])
        assert sorted(inserted) == [0, 0, 0, len(demo_org().sign_ins)]
    finally:
        for directory in directories:
            directory.close()
    assert current_revision(url) == head_revision() and schema_drift(url) == []
    assert count_rows(url)["directory_sign_ins"] == len(demo_org().sign_ins)


# --- lookups by a typed name are index reads (a 10,000-person directory made each one a table scan)


def lookup_plans(directory: SqlDirectory) -> dict[str, str]:
    """The query plan of every statement the lookups by a typed name run, keyed by the statement."""
    org = demo_org()
    engine = directory._db.engine
    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    run = Prepared._run

    def keep_prepared(self: Prepared, conn: Any, plan: Any, rows: Any, *, many: bool) -> Any:
        statements.append((plan.sql, Prepared._arguments(plan, rows[0])))  # these bypass SQLAlchemy's events
        return run(self, conn, plan, rows, many=many)

    event.listen(engine, "before_cursor_execute", keep)
    Prepared._run = keep_prepared  # type: ignore[method-assign]
    try:
        person = org.people[3]
        directory.person(person.email.upper())
        directory.person(person.id)
        directory.person(org.accounts[3].username.upper())  # a username: found through the accounts table
        directory.person(next(a.admin_account for a in org.accounts if a.admin_account) or "")
        directory.has_current_reports(directory.person(org.people[0].id))
        directory.device(org.devices[0].hostname.lower())
        directory.printer(org.printers[0].name.lower())
        directory.mailbox(org.mailboxes[0].address.upper())
        directory.distribution_list(org.distribution_lists[0].address.upper())
    finally:
        event.remove(engine, "before_cursor_execute", keep)
        Prepared._run = run  # type: ignore[method-assign]
    plans = {}
    with engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: make the planner show what it could use
        for statement, params in statements:
            rows = conn.exec_driver_sql(("EXPLAIN " if postgres else "EXPLAIN QUERY PLAN ") + statement, params)
            plans[" ".join(statement.split())] = " | ".join(str(row[-1]) for row in rows)
    return plans


def check_lookups_use_indexes(directory: SqlDirectory) -> None:
    plans = lookup_plans(directory)
    assert len(plans) >= 8, plans
    assert any("lower(directory_people.email)" in statement for statement in plans), "the person lookup was not seen"
    scans = {statement: plan for statement, plan in plans.items() if re.search(r"\bSCAN directory_|Seq Scan", plan)}
    assert scans == {}, "these lookups read a whole table:\n" + "\n".join(f"{s}\n  -> {p}" for s, p in scans.items())


def test_lookups_by_a_typed_name_read_an_index_on_sqlite(seeded_url: str) -> None:
    directory = SqlDirectory(seeded_url)
    try:
        check_lookups_use_indexes(directory)
    finally:
        directory.close()


@pytest.mark.live
def test_lookups_by_a_typed_name_read_an_index_on_postgres(postgres: PostgresCluster) -> None:
    directory = SqlDirectory(postgres.fresh_url())
    try:
        directory.seed(demo_org())
        check_lookups_use_indexes(directory)
    finally:
        directory.close()


def test_people_are_remembered_for_a_while_and_forgotten_on_seeding(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person found is kept ``remember_s`` (several lookups a turn cost one); a change made elsewhere (another
    process's sync) shows after that, a seed in this process at once; a person not found is never remembered."""
    clock = [1000.0]
    monkeypatch.setattr("firstline.sqlstore.remembered.time.monotonic", lambda: clock[0])
    lookups: list[object] = []
    real = sql_directory.PERSON_BY_KEY

    class Counted:
        def first(self, conn: Any, params: Any) -> Any:
            lookups.append(params)
            return real.first(conn, params)

    monkeypatch.setattr(sql_directory, "PERSON_BY_KEY", Counted())
    directory = SqlDirectory(seeded_url, remember_s=10.0)
    engine = create_engine(seeded_url)
    with engine.connect() as conn:
        person_id, email, title = conn.execute(select(people.c.id, people.c.email, people.c.title).limit(1)).one()
    assert directory.person(email.upper()).title == title
    assert directory.person(f" {email} ").id == person_id and directory.account(email).person == person_id
    assert len(lookups) == 1  # one lookup; the others remembered
    assert directory.person(person_id).email == email and len(lookups) == 2  # another key: looked up once
    with engine.begin() as conn:
        conn.execute(people.update().where(people.c.id == person_id).values(title="Changed elsewhere"))
    clock[0] += 9.0
    assert directory.person(email).title == title
    clock[0] += 2.0
    assert directory.person(email).title == "Changed elsewhere"
    with engine.begin() as conn:
        conn.execute(people.update().where(people.c.id == person_id).values(title="Again"))
    directory.seed(demo_org())  # seeding here forgets at once
    assert directory.person(email).title == "Again"
    for _ in range(2):
        with pytest.raises(PersonNotFoundError):
            directory.person("nobody@nwmeridian.co.uk")
    assert lookups[-2:] == [{"key": "nobody@nwmeridian.co.uk"}] * 2  # not found: asked again each time
    engine.dispose()
    directory.close()


def _count_reads(directory: SqlDirectory, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that gets "read" for every read transaction ``directory`` opens from now on."""
    reads: list[str] = []
    real_read = directory._db.read

    def counted() -> Any:
        reads.append("read")
        return real_read()

    monkeypatch.setattr(directory._db, "read", counted)
    return reads


def test_whether_someone_manages_anyone_is_remembered_like_people(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked on every turn (who may read the conversation's events): read once per ``remember_s``, then again;
    a seed in this process forgets at once."""
    clock = [1000.0]
    monkeypatch.setattr("firstline.sqlstore.remembered.time.monotonic", lambda: clock[0])
    directory = SqlDirectory(seeded_url, remember_s=10.0)
    engine = create_engine(seeded_url)
    with engine.connect() as conn:
        manager_id, report_id = conn.execute(
            select(people.c.manager, people.c.id).where(people.c.manager.is_not(None), people.c.employment != "leaver")
        ).first()
    manager = directory.person(manager_id)
    assert directory.has_current_reports(manager) is True
    reads = _count_reads(directory, monkeypatch)
    with engine.begin() as conn:  # their reports leave, in another process
        conn.execute(people.update().where(people.c.manager == manager_id).values(manager=None))
    assert directory.has_current_reports(manager) is True and reads == []  # remembered
    clock[0] += 11.0
    assert directory.has_current_reports(manager) is False and reads == ["read"]  # read again after the window
    with engine.begin() as conn:
        conn.execute(people.update().where(people.c.id == report_id).values(manager=manager_id))
    directory.seed(demo_org())  # seeding here forgets at once
    assert directory.has_current_reports(manager) is True
    engine.dispose()
    directory.close()


def test_people_searches_are_remembered_like_people(seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each message's possible names are searched (who a request is for), most finding nobody: the same words are
    read once per ``remember_s``, then again; a seed in this process forgets at once; the caller's list is its own."""
    clock = [1000.0]
    monkeypatch.setattr("firstline.sqlstore.remembered.time.monotonic", lambda: clock[0])
    directory = SqlDirectory(seeded_url, remember_s=10.0)
    engine = create_engine(seeded_url)
    with engine.connect() as conn:
        person_id, name = conn.execute(select(people.c.id, people.c.name).limit(1)).one()
    found = directory.find_people(name)
    assert [p.id for p in found] == [person_id]
    found.clear()  # the caller's list: what is remembered does not change through it
    assert [p.id for p in directory.find_people(name)] == [person_id]
    assert directory.find_people("Quinn Zephyrine") == []
    reads = _count_reads(directory, monkeypatch)
    with engine.begin() as conn:  # renamed in another process
        conn.execute(people.update().where(people.c.id == person_id).values(name="Quinn Zephyrine"))
    assert directory.find_people("  quinn ZEPHYRINE ") == [] and reads == []  # the same words: remembered
    clock[0] += 11.0
    assert [p.id for p in directory.find_people("quinn zephyrine")] == [person_id] and reads == ["read"]
    with engine.begin() as conn:
        conn.execute(people.update().where(people.c.id == person_id).values(name=name))
    directory.seed(demo_org())  # seeding here forgets at once
    assert directory.find_people("quinn zephyrine") == []
    engine.dispose()
    directory.close()
