"""The multi-worker stack for the scale benchmarks, on 127.0.0.1 with free ports and temporary folders.

``Stack`` holds one PostgreSQL cluster for a whole benchmark run (``firstline.testing.postgres``); each
scenario asks it for a ``Deployment``: a fresh database in that cluster, its own ``redis-server``
(``--save '' --appendonly no``, nothing on disk), its own ``chroma run`` with an empty folder, and
``firstline serve --workers N`` as a subprocess reading a generated ``firstline.toml`` (PostgreSQL for
tickets and the directory, ``knowledge.store = "chroma-server"``, ``scale.redis_url``, rate limits lifted
as in ``load.py``, a fixed ``FIRSTLINE_SECURITY__SECRET_KEY`` in its environment). Before the server
starts, ``firstline keys create`` (same config, so it also runs the migrations) makes the agent-role API
key the load client speaks with: no sign-in, no demo account passwords to fish out of a log.

``Deployment`` knows its processes (the ``serve`` supervisor and its workers, through ``_procs``), counts
the connections the workers keep (``pg_stat_activity`` for its database, Redis ``INFO clients``) and how
many worker start-ups ``serve.log`` shows (uvicorn logs one per worker, restarts included). The integrity
check (``count_database``) is ``load.py``'s SQLite check rewritten for PostgreSQL: acknowledged messages
against stored ``user_message`` events, returned ticket numbers against the ``tickets`` table (names
from ``firstline.localdb.schema``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from _procs import children, cmdline, cpu_seconds, tree
from firstline.testing.live import free_port
from firstline.testing.postgres import PostgresCluster, find_bindir, postgres_cluster
from load import compare_stored

SECRET_KEY = "scale-load-bench-" + "k" * 40  # one deployment, one key: every worker must share it
START_TIMEOUT_S = 300.0
BIN = Path(sys.executable).parent


def missing_binaries() -> list[str]:
    """What this machine lacks to start the stack (empty when everything is there)."""
    missing = []
    if find_bindir() is None:
        missing.append("PostgreSQL (initdb/pg_ctl): apt-get install postgresql")
    if shutil.which("redis-server") is None:
        missing.append("redis-server: apt-get install redis-server")
    if not (BIN / "chroma").exists():
        missing.append(f"chroma (pip install chromadb) at {BIN / 'chroma'}")
    if not (BIN / "firstline").exists():
        missing.append(f"firstline at {BIN / 'firstline'} (pip install -e .)")
    return missing


def serve_has_workers_flag() -> bool:
    """Whether ``firstline serve`` accepts ``--workers`` (issue 16 adds it)."""
    done = subprocess.run([str(BIN / "firstline"), "serve", "--help"], capture_output=True, text=True, timeout=120)
    return "--workers" in done.stdout


# -- the stack ---------------------------------------------------------------------------------------


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{what} did not answer {url} within {timeout_s:.0f} s (exit {process.poll()}):\n{tail}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """SIGTERM, wait, then SIGKILL; the process's own children are its business (uvicorn stops its workers)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@dataclass
class Deployment:
    """One running deployment: its database, Redis, Chroma and the ``serve`` supervisor."""

    workers: int
    folder: Path
    database: str
    database_url: str
    redis_port: int
    chroma_url: str
    base_url: str
    api_key: str
    cluster: PostgresCluster
    server: subprocess.Popen[bytes]
    redis_process: subprocess.Popen[bytes]
    chroma_process: subprocess.Popen[bytes]
    ready_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def supervisor(self) -> int:
        return self.server.pid

    def worker_pids(self) -> list[int]:
        """The supervisor's children that serve requests (not multiprocessing's resource tracker)."""
        return [pid for pid in children(self.supervisor) if "resource_tracker" not in cmdline(pid)]

    def started_workers(self) -> int:
        """How many worker start-ups finished so far (uvicorn logs one line per worker, restarts included)."""
        log = self.folder / "serve.log"
        return log.read_text(errors="replace").count("Application startup complete") if log.exists() else 0

    def server_pids(self) -> list[int]:
        return tree(self.supervisor)

    def pg_connections(self, monitor: psycopg.Connection[Any]) -> int:
        row = monitor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (self.database,)
        ).fetchone()
        return int(row[0]) if row else 0

    def redis_clients(self, client: redis.Redis) -> int:
        return int(client.info("clients")["connected_clients"]) - 1  # not counting this monitor's own

    def component_cpu(self) -> dict[str, float]:
        """CPU seconds so far of Redis and Chroma (whole trees); PostgreSQL is shared by the run's deployments."""
        return {
            "redis_cpu_s": round(sum(cpu_seconds(p) for p in tree(self.redis_process.pid)), 1),
            "chroma_cpu_s": round(sum(cpu_seconds(p) for p in tree(self.chroma_process.pid)), 1),
        }

    def count_database(self, tally: Any) -> dict[str, Any]:
        """What PostgreSQL holds against what the clients were told (``load.Tally``); after the server stopped."""
        with psycopg.connect(f"host=127.0.0.1 port={self.cluster.port} user=postgres dbname={self.database}") as conn:
            return compare_stored(conn, tally)

    def stop_server(self) -> None:
        """Stop ``serve`` (uvicorn drains running requests and stops its workers); the rest stays up."""
        _stop(self.server, timeout_s=120)


def _config(folder: Path, database_url: str, chroma_url: str, redis_port: int, workers: int) -> Path:
    path = folder / "firstline.toml"
    path.write_text(
        f"""# generated by bench/scale_load.py
[ticketing]
database_url = "{database_url}"

[directory]
database_url = "{database_url}"

[knowledge]
store = "chroma-server"
chroma_url = "{chroma_url}"

[scale]
workers = {workers}
redis_url = "redis://127.0.0.1:{redis_port}/0"

[service]
rate_limit_per_minute = 1000000
ip_rate_limit_per_minute = 1000000
login_rate_limit_per_minute = 1000000
seed_demo_accounts = false
log_format = "text"
"""
    )
    return path


def _environment(folder: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(
        FIRSTLINE_CONFIG=str(config),
        FIRSTLINE_DATA_DIR=str(folder / "data"),
        FIRSTLINE_SECURITY__SECRET_KEY=SECRET_KEY,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    return env


class Stack:
    """One PostgreSQL cluster for a benchmark run; ``deployment(workers)`` starts the rest per scenario."""

    def __init__(self, cluster: PostgresCluster, workers_flag: bool) -> None:
        self.cluster = cluster
        self.workers_flag = workers_flag

    @contextmanager
    def deployment(self, workers: int) -> Iterator[Deployment]:
        if workers > 1 and not self.workers_flag:
            raise SystemExit("`firstline serve` has no --workers option yet (issue 16): only --workers 1 can run")
        folder = Path(tempfile.mkdtemp(prefix=f"firstline-scale-{workers}w-"))
        database = f"bench_{uuid.uuid4().hex[:10]}"
        with self.cluster.admin() as admin:
            admin.execute(f"CREATE DATABASE {database}")
        url = f"postgresql+psycopg://postgres@127.0.0.1:{self.cluster.port}/{database}"
        with ExitStack() as stack:
            stack.callback(shutil.rmtree, folder, True)
            stack.callback(self._drop, database)
            redis_port, chroma_port, port = free_port(), free_port(), free_port()
            redis_log, chroma_log, server_log = folder / "redis.log", folder / "chroma.log", folder / "serve.log"
            with redis_log.open("wb") as log:
                redis_process = subprocess.Popen(
                    ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                     "no", "--dir", str(folder), "--maxclients", "10000"],
                    stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            stack.callback(_stop, redis_process)
            chroma_url = f"http://127.0.0.1:{chroma_port}"
            with chroma_log.open("wb") as log:
                chroma_process = subprocess.Popen(
                    [str(BIN / "chroma"), "run", "--path", str(folder / "chroma"), "--host", "127.0.0.1", "--port",
                     str(chroma_port)],
                    stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            stack.callback(_stop, chroma_process)
            _wait_http(f"{chroma_url}/api/v2/heartbeat", chroma_process, chroma_log, "chroma run", 60)
            self._wait_redis(redis_port, redis_process, redis_log)

            config = _config(folder, url, chroma_url, redis_port, workers)
            env = _environment(folder, config)
            made = subprocess.run(
                [str(BIN / "firstline"), "keys", "create", "--name", "scale-bench", "--role", "agent"],
                env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S, cwd=folder,
            )  # fmt: skip
            if made.returncode != 0:
                raise RuntimeError(f"`firstline keys create` failed:\n{made.stdout[-2000:]}\n{made.stderr[-2000:]}")
            api_key = made.stdout.strip().splitlines()[-1].strip()

            command = [str(BIN / "firstline"), "serve", "--host", "127.0.0.1", "--port", str(port)]
            if self.workers_flag:
                command += ["--workers", str(workers)]
            started = time.perf_counter()
            with server_log.open("wb") as log:
                server = subprocess.Popen(command, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
            stack.callback(_stop, server, 120)
            base_url = f"http://127.0.0.1:{port}"
            _wait_http(f"{base_url}/ready", server, server_log, "firstline serve", START_TIMEOUT_S)
            deployment = Deployment(
                workers, folder, database, url, redis_port, chroma_url, base_url, api_key, self.cluster, server,
                redis_process, chroma_process, ready_s=time.perf_counter() - started,
            )  # fmt: skip
            self._wait_workers(deployment)
            yield deployment

    @staticmethod
    def _wait_workers(deployment: Deployment, timeout_s: float = START_TIMEOUT_S) -> None:
        """``/ready`` answers as soon as one worker is up: wait until every worker has finished its start-up."""
        deadline = time.monotonic() + timeout_s
        while deployment.started_workers() < deployment.workers:
            if deployment.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{deployment.workers} workers were not all started within {timeout_s:.0f} s")
            time.sleep(0.2)

    @staticmethod
    def _wait_redis(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
        deadline = time.monotonic() + 30
        client = redis.Redis(host="127.0.0.1", port=port)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer on {port}:\n{log.read_text(errors='replace')}")
                time.sleep(0.1)
        finally:
            client.close()

    def _drop(self, database: str) -> None:
        with self.cluster.admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@contextmanager
def stack() -> Iterator[Stack]:
    """The PostgreSQL cluster for a run (started and removed here) and whether ``serve`` takes ``--workers``."""
    missing = missing_binaries()
    if missing:
        raise SystemExit("cannot start the stack: " + "; ".join(missing))
    workers_flag = serve_has_workers_flag()
    with postgres_cluster() as cluster:
        yield Stack(cluster, workers_flag)


__all__ = ["Deployment", "Stack", "missing_binaries", "stack"]
