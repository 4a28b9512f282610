"""A throw-away PostgreSQL cluster for tests: ``initdb`` + ``pg_ctl`` on 127.0.0.1, a free port, a temporary folder.

Run as the ``postgres`` user when the tests run as root. :meth:`PostgresCluster.fresh_url` gives a fresh
schema (selected through ``search_path`` in the URL, as a deployment sharing a database would). Without
PostgreSQL binaries the fixture skips, except in CI (``CI`` set), where it fails. ``PG_BINDIR`` points at
binaries outside ``PATH`` and ``/usr/lib/postgresql/*/bin``. Use it through the ``postgres`` fixture of
``tests/conftest.py`` (one cluster per test session).
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from firstline.testing.live import cannot_start, free_port

__all__ = ["PostgresCluster", "free_port", "postgres_cluster"]


START_TIMEOUT_S = 60


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


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """Start a cluster, yield it, stop it and remove its folder."""
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
