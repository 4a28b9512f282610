"""SqlTicketing on a real PostgreSQL server: the conformance suite, concurrency and migrations.

One throw-away cluster per test session (``initdb`` + ``pg_ctl`` on 127.0.0.1, a free port, a
temporary folder; run as the ``postgres`` user when the tests run as root), and a fresh schema per
test (selected through ``search_path`` in the URL, as a deployment sharing a database would).
Without PostgreSQL binaries the tests skip, except in CI (``CI`` set), where they fail.
Set ``PG_BINDIR`` to use binaries outside ``PATH`` and ``/usr/lib/postgresql/*/bin``.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest

from firstline.conversations import SqlConversations
from firstline.errors import BackendUnavailableError
from firstline.localdb.migrations import current_revision, head_revision, schema_drift, upgrade
from firstline.testing.ticketing import TicketingContract, new_ticket, run_concurrently
from firstline.ticketing import SqlTicketing, TicketingBackend

pytestmark = pytest.mark.live

START_TIMEOUT_S = 60


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cannot_start(reason: str) -> NoReturn:
    """Skip outside CI, fail in CI: integration tests must run there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: PG_BINDIR, PATH, then the newest /usr/lib/postgresql/N/bin."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).parent))
    debian = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    candidates += [str(p) for p in sorted(debian, key=lambda p: int(p.parent.name), reverse=True)]
    for candidate in filter(None, candidates):
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


def as_user(user: str) -> Callable[[Sequence[str]], list[str]]:
    """Wrap a command so it runs as ``user`` (PostgreSQL refuses to run as root)."""
    if shutil.which("runuser"):
        return lambda command: ["runuser", "-u", user, "--", *command]
    if shutil.which("su"):
        return lambda command: ["su", "-s", "/bin/sh", user, "-c", shlex.join(command)]
    cannot_start(f"running as root, and neither runuser nor su is there to run PostgreSQL as {user!r}")


@dataclass(frozen=True)
class PostgresCluster:
    port: int
    start_seconds: float
    database: str = "firstline"

    def admin(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname={database}", autocommit=True)

    def fresh_url(self) -> str:
        """The URL of a new, empty schema (a CREATE SCHEMA costs far less than a CREATE DATABASE)."""
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin(self.database) as connection:
            connection.execute(f"CREATE SCHEMA {schema}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.database}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    bindir = find_bindir()
    if bindir is None:
        cannot_start("PostgreSQL is not installed (no initdb/pg_ctl): apt-get install postgresql")
    wrap: Callable[[Sequence[str]], list[str]] = list
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            cannot_start("running as root and there is no `postgres` user to run PostgreSQL as")
        wrap = as_user("postgres")
    root = Path(tempfile.mkdtemp(prefix="firstline-pg-"))  # not under pytest's tmp: the postgres user must reach it
    if os.geteuid() == 0:
        os.chown(root, user.pw_uid, user.pw_gid)
    data, log, port, pg_ctl = root / "data", root / "server.log", free_port(), str(bindir / "pg_ctl")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"

    def run(*command: str) -> None:
        done = subprocess.run(wrap(command), capture_output=True, text=True, timeout=START_TIMEOUT_S)
        if done.returncode != 0:
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            cannot_start(f"`{' '.join(command)}` failed: {done.stderr.strip() or done.stdout.strip()} {server_log}")

    try:
        started = time.perf_counter()
        run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        run(pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", str(START_TIMEOUT_S), "-o", options, "start")
        cluster = PostgresCluster(port, time.perf_counter() - started)
        with cluster.admin() as connection:
            connection.execute(f"CREATE DATABASE {cluster.database}")
        yield cluster
    finally:
        if (data / "postmaster.pid").exists():
            stop = wrap([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
            subprocess.run(stop, capture_output=True, timeout=START_TIMEOUT_S)
        shutil.rmtree(root, ignore_errors=True)


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
