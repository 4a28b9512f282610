"""The capacity model: what an organisation of 1k / 10k / 100k employees needs at its peak hour.

Every figure the model multiplies comes from a measurement on this machine, and every guess about the
organisation is a named parameter printed with the table:

* **CPU per turn** (ms of server CPU for one offline turn, HTTP and everything included) and so **turns/s
  per core**: read from a load-test result (default ``bench/results/load.json``, the 50-client closed
  loop: server CPU seconds / turns answered). ``--load FILE --cpu-path dotted.key`` reads another.
* **Database work per turn**: measured here. The scripted conversations of ``firstline.evals`` are played
  in-process (as ``bench/helpdesk.py`` does) on SQLite and on a throw-away PostgreSQL cluster, with a
  SQLAlchemy event counter on every engine (statements by verb, commits) and, on PostgreSQL, the
  server's own counters (``pg_stat_database``: transactions, rows written; WAL bytes; database growth).
* **Vectors per GB**: measured here. 10,000 384-d vectors are written to a ``chroma run`` server the way
  Firstline writes them (:class:`firstline.knowledge.stores.chroma.ChromaStore`, ids + vectors + metadata),
  and 10,000 more with a 160-word document each; the server is stopped (so everything is flushed) and
  its folder measured.

The model, per organisation size N (see :class:`Assumptions`):

    conversations in the peak hour  = N x peak_share
    turns/s, hour average           = conversations x turns_per_conversation / 3600
    turns/s, busiest minute         = hour average x peak_to_average
    CPU cores                       = busiest-minute turns/s x CPU ms per turn / 1000 / target_utilisation
    workers (one per core), pods    = cores, cores / cores_per_pod (rounded up, at least 2 for availability)
    PostgreSQL commits/s, rows/s    = busiest-minute turns/s x measured per-turn figures
    open event streams              = conversations in the hour x minutes_open / 60 x peak_to_average
    vectors, vector-store disk      = knowledge-base chunks (named per size) / measured vectors per GB
    database growth per year        = N x contacts_per_employee_year x turns_per_conversation x bytes per turn

Usage: .venv/bin/python bench/capacity.py [--skip-db] [--skip-vectors] [--peak-share 0.05 ...]
Without --skip-*, the measurements take about three minutes on 2 cores; with them, the last measured values in
bench/results/capacity.json are reused. Results: bench/results/capacity.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import event
from sqlalchemy.engine import Engine

from firstline.evals.scenarios import load_scenarios
from firstline.knowledge.stores import VectorRecord
from firstline.knowledge.stores.chroma import ChromaStore
from firstline.runtime import Runtime, demo_runbooks
from firstline.settings import load_settings
from firstline.testing.live import free_port
from firstline.testing.postgres import find_bindir, postgres_cluster

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SIZES = (1_000, 10_000, 100_000)
PG_IDLE_FLUSH_S = 11.0  # PostgreSQL 15 backends flush their statistics after 10 s idle


@dataclass
class Assumptions:
    """What the model assumes about an organisation; each one a command-line option of the same name."""

    peak_share: float = 0.05  # employees who open a conversation in the peak hour (Monday 9-10)
    incident_share: float = 0.30  # the same on a morning with an outage everyone hits (VPN, e-mail, SSO)
    turns_per_conversation: float = 4.0  # messages an employee sends in one conversation
    peak_to_average: float = 3.0  # busiest minute of the peak hour / the hour's average rate
    target_utilisation: float = 0.6  # CPU share the workers may use before latency climbs (HPA target)
    cores_per_pod: int = 2  # workers (= cores) per pod or replica, as in deploy/k8s and compose.yaml
    minutes_open: float = 10.0  # how long a chat page (and its event stream) stays open per conversation
    contacts_per_employee_year: float = 12.0  # conversations per employee per year, for storage
    kb_chunks: dict[str, int] = field(
        default_factory=lambda: {"1000": 20_000, "10000": 100_000, "100000": 500_000}
    )  # knowledge-base chunks (about 160 words each) an organisation of that size keeps


class StatementCounter:
    """Counts what every SQLAlchemy engine in this process sends while :attr:`on` (all threads)."""

    WRITES = ("INSERT", "UPDATE", "DELETE")
    CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")

    def __init__(self) -> None:
        self.on = False
        self.verbs: Counter[str] = Counter()
        self.commits = 0
        self._lock = threading.Lock()

    def _statement(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if self.on:
            verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
            with self._lock:
                self.verbs[verb] += 1

    def _commit(self, conn: Any) -> None:
        if self.on:
            with self._lock:
                self.commits += 1

    @contextmanager
    def listening(self) -> Iterator[StatementCounter]:
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "commit", self._commit)
        try:
            yield self
        finally:
            event.remove(Engine, "before_cursor_execute", self._statement)
            event.remove(Engine, "commit", self._commit)

    def per_turn(self, turns: int) -> dict[str, Any]:
        """Per turn: statements (transaction control such as SQLite's BEGIN not counted), writes, commits."""
        writes = sum(self.verbs[v] for v in self.WRITES)
        statements = sum(n for verb, n in self.verbs.items() if verb not in self.CONTROL)
        return {
            "statements": round(statements / turns, 2),
            "writes": round(writes / turns, 2),
            "commits": round(self.commits / turns, 2),
            "by_verb": {verb: round(n / turns, 2) for verb, n in self.verbs.most_common()},
        }


async def _play(runtime: Runtime, repeats: int, counter: StatementCounter, ready: Callable[[], None]) -> int:
    """Play every scripted conversation ``repeats`` times with the counter on; the number of turns.

    ``ready`` runs after the warm-up, just before the counted turns."""
    desk = runtime.helpdesk
    sent: dict[str, str] = {}
    desk.deps.codes._deliver = lambda who, code, channel: sent.__setitem__(who.lower(), code)
    for text in ("hello", "my vpn keeps dropping", "printer LON-F3-HP-01 is offline"):  # warm-up, not counted
        await desk.ask(text, requester="tomasz.nowicki@nwmeridian.co.uk")
    await asyncio.to_thread(ready)
    turns = 0
    counter.on = True
    for _ in range(repeats):
        for scenario in load_scenarios():
            conversation = None
            for turn in scenario.turns:
                if "user" not in turn:
                    pending = runtime.conversations.approvals("pending", conversation)
                    if not pending:
                        break
                    try:
                        by = str((turn.get("approve") or turn.get("deny") or {}).get("by"))
                        await desk.decide(pending[0].id, approved="approve" in turn, decided_by=by)
                    except Exception:  # an approver check that needs the scenario's setup
                        break
                else:
                    text = str(turn["user"]).replace("{code}", sent.get((scenario.requester or "").lower(), "0"))
                    if "{ticket:" in text:
                        break  # needs the scenario's setup tickets
                    reply = await desk.ask(text, requester=scenario.requester, conversation_id=conversation)
                    conversation = reply.conversation_id
                turns += 1
    counter.on = False
    return turns


def _pg_stats(cluster: Any) -> dict[str, int]:
    with cluster.admin(cluster.database) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, pg_database_size(datname),"
            " pg_current_wal_lsn() - '0/0'::pg_lsn FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    keys = ("transactions", "rows_inserted", "rows_updated", "rows_deleted", "database_bytes", "wal_bytes")
    return dict(zip(keys, (int(str(v)) for v in row), strict=True))


def _run_turns(
    database_url: str | None, repeats: int, ready: Callable[[], None] = lambda: None
) -> tuple[int, StatementCounter, float]:
    """Build a runtime (SQLite in a temporary folder, or ``database_url``), ingest the demo runbooks,
    play the scripts; (turns, counter, bytes the SQLite tickets database grew by per turn)."""
    counter = StatementCounter()
    with tempfile.TemporaryDirectory() as data_dir:
        urls: dict[str, Any] = {
            "ticketing": {"database_url": database_url},
            "directory": {"database_url": database_url},
        }
        settings = load_settings(data_dir=Path(data_dir), **(urls if database_url else {}))
        tickets_db = Path(data_dir) / "tickets.db"
        sizes: list[int] = []

        def before() -> None:
            sizes.append(tickets_db.stat().st_size if tickets_db.exists() else 0)
            ready()

        with Runtime(settings) as runtime, counter.listening():
            runtime.knowledge.ingest([demo_runbooks()])
            turns = asyncio.run(_play(runtime, repeats, counter, before))
        growth = (tickets_db.stat().st_size - sizes[0]) / turns if tickets_db.exists() else 0.0
    return turns, counter, growth


def measure_database(repeats: int) -> dict[str, Any]:
    """Statements, writes and commits per turn on SQLite and (where installed) PostgreSQL."""
    turns, counter, growth = _run_turns(None, repeats)
    found: dict[str, Any] = {
        "sqlite": {"turns": turns, "per_turn": counter.per_turn(turns), "database_bytes_per_turn": round(growth)}
    }
    if find_bindir() is None:
        print("PostgreSQL is not installed: database figures from SQLite only", file=sys.stderr)
        return found
    with postgres_cluster() as cluster:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/{cluster.database}"
        before: dict[str, int] = {}

        def snapshot() -> None:
            # Backends report their counters once idle for 10 s (or when they exit): wait for the
            # migrations, ingest and warm-up to be counted before the measured turns start.
            time.sleep(PG_IDLE_FLUSH_S)
            before.update(_pg_stats(cluster))

        turns, counter, _ = _run_turns(url, repeats, snapshot)
        after = _pg_stats(cluster)  # the runtime closed its connections: every backend has reported
    server = {f"{key}_per_turn": round((after[key] - before[key]) / turns, 2) for key in before}
    found["postgresql"] = {"turns": turns, "per_turn": counter.per_turn(turns), "server": server}
    return found


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@contextmanager
def chroma_server(folder: Path) -> Iterator[str]:
    """``chroma run`` on a free port of 127.0.0.1 with its data in ``folder``; its URL. Stopped on exit."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(folder), "--port", str(port)]
    with (folder.parent / "chroma.log").open("wb") as log:
        process = subprocess.Popen([*command, "--host", "127.0.0.1"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"http://127.0.0.1:{port}/api/v2/heartbeat"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"chroma run did not start: {(folder.parent / 'chroma.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def _vectors_case(count: int, with_documents: bool) -> dict[str, Any]:
    rng = np.random.default_rng(16)
    words = " ".join(p.read_text() for p in sorted(demo_runbooks().glob("*.md"))).split()
    with tempfile.TemporaryDirectory() as root:
        data = Path(root) / "data"
        data.mkdir()
        with chroma_server(data) as url:
            empty = _folder_bytes(data)
            started = time.perf_counter()
            store = ChromaStore.server(url)
            for start in range(0, count, 500):
                vectors = rng.standard_normal((min(500, count - start), 384)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                ids = [f"doc-{start + i:07d}#{i % 7}" for i in range(len(vectors))]
                if with_documents:  # a 160-word chunk and the same metadata, through chromadb directly
                    docs = [" ".join(words[(start + i) * 37 % len(words) :][:160]) for i in range(len(vectors))]
                    metas: list[Any] = [{"category": "network", "audience": "all", "tag:vpn": True}] * len(ids)
                    store._collection.add(ids=ids, embeddings=vectors, metadatas=metas, documents=docs)
                else:  # exactly what Firstline writes
                    records = [
                        VectorRecord(i, v, "network", "all", ("vpn",)) for i, v in zip(ids, vectors, strict=True)
                    ]
                    store.upsert(records)
            seconds = time.perf_counter() - started
        used = _folder_bytes(data) - empty  # measured after the server stopped: everything is on disk
    return {
        "vectors": count,
        "dimensions": 384,
        "write_seconds": round(seconds, 1),
        "bytes": used,
        "bytes_per_vector": round(used / count),
        "vectors_per_gb": round(count / (used / 1e9)),
    }


def measure_vectors(count: int) -> dict[str, Any]:
    """Disk use of a Chroma server per vector: Firstline's layout, and with 160-word documents stored too."""
    return {"firstline_layout": _vectors_case(count, False), "with_documents": _vectors_case(count, True)}


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def read_cpu(load: Path, cpu_path: str) -> dict[str, Any]:
    """CPU ms per turn from a load-test result, by dotted key; turns/s per core follows from it."""
    node: Any = json.loads(load.read_text())
    for key in cpu_path.split("."):
        node = node[key]
    cpu_ms = float(node)
    return {
        "cpu_ms_per_turn": cpu_ms,
        "turns_per_s_per_core": round(1000.0 / cpu_ms, 1),
        "source": f"{load.relative_to(ROOT) if load.is_relative_to(ROOT) else load}:{cpu_path}",
        "measured_on": json.loads(load.read_text()).get("machine", {}),
    }


def plan(
    employees: int, cpu: dict[str, Any], db: dict[str, Any], vectors: dict[str, Any], a: Assumptions, share: float
) -> Any:
    """What an organisation of ``employees`` needs at its peak hour when ``share`` of them write (one row)."""
    conversations = employees * share
    average = conversations * a.turns_per_conversation / 3600.0
    peak = average * a.peak_to_average
    cores = peak * cpu["cpu_ms_per_turn"] / 1000.0 / a.target_utilisation
    pods = max(2, math.ceil(cores / a.cores_per_pod))
    pg = db.get("postgresql") or db["sqlite"]
    per_turn = pg["per_turn"]
    chunks = a.kb_chunks[str(employees)]
    bytes_per_turn = pg.get("server", {}).get("database_bytes_per_turn") or db["sqlite"]["database_bytes_per_turn"]
    yearly_turns = employees * a.contacts_per_employee_year * a.turns_per_conversation
    return {
        "employees": employees,
        "conversations_peak_hour": round(conversations),
        "turns_per_s_hour_average": round(average, 2),
        "turns_per_s_busiest_minute": round(peak, 2),
        "cpu_cores": round(cores, 2),
        "pods": pods,
        "workers": pods * a.cores_per_pod,
        "db_commits_per_s": round(peak * per_turn["commits"], 1),
        "db_statements_per_s": round(peak * per_turn["statements"], 1),
        "db_writes_per_s": round(peak * per_turn["writes"], 1),
        "wal_mb_per_s": round(peak * pg.get("server", {}).get("wal_bytes_per_turn", 0) / 1e6, 3),
        "open_event_streams": math.ceil(conversations * a.minutes_open / 60.0 * a.peak_to_average),
        "kb_chunks": chunks,
        "vector_store_gb": round(chunks / vectors["firstline_layout"]["vectors_per_gb"], 2),
        "db_growth_gb_per_year": round(yearly_turns * bytes_per_turn / 1e9, 2),
    }


COLUMNS = (
    ("employees", "employees"),
    ("conv/peak h", "conversations_peak_hour"),
    ("turns/s avg", "turns_per_s_hour_average"),
    ("turns/s peak", "turns_per_s_busiest_minute"),
    ("cores", "cpu_cores"),
    ("pods", "pods"),
    ("commits/s", "db_commits_per_s"),
    ("writes/s", "db_writes_per_s"),
    ("WAL MB/s", "wal_mb_per_s"),
    ("streams", "open_event_streams"),
    ("KB chunks", "kb_chunks"),
    ("vectors GB", "vector_store_gb"),
    ("DB GB/yr", "db_growth_gb_per_year"),
)


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(title for title, _ in COLUMNS) + " |", "|" + "---:|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(f"{row[key]:,}" for _, key in COLUMNS) + " |")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--load", type=Path, default=RESULTS / "load.json", help="a load-test result")
    parser.add_argument("--cpu-path", default="closed_loop.cpu.server_cpu_ms_per_turn", help="its CPU ms per turn")
    parser.add_argument("--skip-db", action="store_true", help="reuse the database figures in capacity.json")
    parser.add_argument("--skip-vectors", action="store_true", help="reuse the vector figures in capacity.json")
    parser.add_argument("--repeats", type=int, default=2, help="times each scripted conversation is played")
    parser.add_argument("--vectors", type=int, default=10_000, help="vectors written to the Chroma server")
    for item in fields(Assumptions):
        if item.name != "kb_chunks":
            kind = int if item.type in ("int", int) else float
            parser.add_argument(f"--{item.name.replace('_', '-')}", type=kind, default=None)
    parser.add_argument("--kb-chunks", default=None, help="chunks for 1k,10k,100k employees, e.g. 20000,100000,500000")
    return parser


def main() -> None:
    args = _parser().parse_args()
    assumptions = Assumptions()
    for item in fields(Assumptions):
        value = getattr(args, item.name)
        if value is not None and item.name != "kb_chunks":
            setattr(assumptions, item.name, value)
    if args.kb_chunks:
        counts = [int(n) for n in args.kb_chunks.split(",")]
        assumptions.kb_chunks = {str(size): count for size, count in zip(SIZES, counts, strict=True)}
    previous = json.loads((RESULTS / "capacity.json").read_text()) if (RESULTS / "capacity.json").exists() else {}
    cpu = read_cpu(args.load, args.cpu_path)
    started = time.perf_counter()
    db = previous["measured"]["database"] if args.skip_db else measure_database(args.repeats)
    vectors = previous["measured"]["vectors"] if args.skip_vectors else measure_vectors(args.vectors)
    rows = [plan(size, cpu, db, vectors, assumptions, assumptions.peak_share) for size in SIZES]
    incident = [plan(size, cpu, db, vectors, assumptions, assumptions.incident_share) for size in SIZES]
    result = {
        "machine": machine(),
        "measure_seconds": round(time.perf_counter() - started, 1),
        "assumptions": asdict(assumptions),
        "measured": {"cpu": cpu, "database": db, "vectors": vectors},
        "plan": rows,
        "plan_incident": incident,
        "table_markdown": markdown(rows),
        "table_incident_markdown": markdown(incident),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "capacity.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"assumptions": result["assumptions"], "measured": result["measured"]}, indent=2))
    print()
    print(f"Peak hour, {assumptions.peak_share:.0%} of employees write:")
    print(result["table_markdown"])
    print(f"\nIncident morning, {assumptions.incident_share:.0%} of employees write:")
    print(result["table_incident_markdown"])


if __name__ == "__main__":
    main()
