"""What a deployment holds while the load runs: the soak's samples and their trends, and CPU meters.

``Watch`` keeps a monitoring connection to PostgreSQL and one to Redis for the whole run (so the
monitor itself is one steady connection in each count, excluded where the server allows) and
``sample(t)`` records, per server process (the ``serve`` supervisor, each worker), RSS and open sockets,
plus ``pg_stat_activity`` for the deployment's database, Redis ``connected_clients``, and the sessions opened
to the database so far (``pg_stat_database.sessions``: a pool that opens and closes connections shows there).
``soak_summary`` turns the rows into series (totals, and per process) with first/last/max and a
least-squares slope per minute over the whole run and over its second half; the totals get a ``flat``
verdict: the second half's fitted growth is within 5 % of its level or ``FLAT_TOLERANCE`` units,
whichever is larger. The second half is the honest window: start-up caches, connection pools and the
first keep-alive connections fill in the first minutes and then should stop growing.
"""

from __future__ import annotations

from typing import Any

import redis

from _procs import CpuMeter, open_sockets, postmaster, rss_mb, trend
from _stack import Deployment

# soak: absolute growth over the second half still called flat (MB, sockets, connections)
FLAT_TOLERANCE = {
    "rss_mb_all_server_processes": 20.0,
    "sockets_all_server_processes": 10.0,
    "pg_connections": 3.0,
    "redis_clients": 3.0,
}


class Watch:
    """Reads the deployment's processes and connections; ``sample()`` is one row of the soak's table."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.server_cpu = CpuMeter(deployment.supervisor)
        pg = postmaster(deployment.cluster.port)
        self.pg_cpu = CpuMeter(pg) if pg else None
        self.monitor = deployment.cluster.admin()
        self.redis = redis.Redis(host="127.0.0.1", port=deployment.redis_port)
        self.rows: list[dict[str, Any]] = []
        self.sessions_first: int | None = None
        self.sessions_last = 0

    def pg_sessions(self) -> int:
        """Sessions ever opened to the deployment's database (``pg_stat_database.sessions``): connection churn."""
        row = self.monitor.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = %s", (self.deployment.database,)
        ).fetchone()
        value = row[0] if row else None
        return value if isinstance(value, int) else 0

    def cpu(self) -> None:
        """Read the CPU meters and the session count (the first call is the baseline)."""
        self.server_cpu.sample()
        if self.pg_cpu:
            self.pg_cpu.sample()
        self.sessions_last = self.pg_sessions()
        if self.sessions_first is None:
            self.sessions_first = self.sessions_last

    def sessions_opened(self) -> int:
        return self.sessions_last - (self.sessions_first or 0)

    def sample(self, t: float) -> dict[str, Any]:
        self.cpu()
        supervisor = self.deployment.supervisor
        processes = {
            pid: ("supervisor" if pid == supervisor else "worker" if pid in self.deployment.worker_pids() else "other")
            for pid in self.deployment.server_pids()
        }
        row = {
            "t_s": round(t, 1),
            "rss_mb": {str(pid): rss_mb(pid) for pid in processes},
            "sockets": {str(pid): open_sockets(pid) for pid in processes},
            "role": {str(pid): role for pid, role in processes.items()},
            "pg_connections": self.deployment.pg_connections(self.monitor),
            "redis_clients": self.deployment.redis_clients(self.redis),
            "pg_sessions_opened": self.sessions_opened(),
        }
        self.rows.append(row)
        return row

    def close(self) -> None:
        self.monitor.close()
        self.redis.close()


def soak_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per series: first/last/max and slope per minute, over all samples and over the second half."""
    series: dict[str, list[tuple[float, float]]] = {}

    def add(name: str, t: float, value: float) -> None:
        series.setdefault(name, []).append((t, value))

    for row in rows:
        t = row["t_s"]
        add("rss_mb_all_server_processes", t, sum(row["rss_mb"].values()))
        add("sockets_all_server_processes", t, sum(row["sockets"].values()))
        add("pg_connections", t, row["pg_connections"])
        add("redis_clients", t, row["redis_clients"])
        for pid, role in row["role"].items():
            add(f"rss_mb_{role}_{pid}", t, row["rss_mb"][pid])
            add(f"sockets_{role}_{pid}", t, row["sockets"][pid])
    out: dict[str, Any] = {}
    for name, points in series.items():
        times, values = [p[0] for p in points], [p[1] for p in points]
        half = len(points) // 2
        late = trend(times[half:], values[half:])
        out[name] = {
            "samples": len(points),
            **trend(times, values),
            "second_half_slope_per_min": late.get("slope_per_min", 0.0),
        }
        if name in FLAT_TOLERANCE and len(points) >= 4:
            # flat: the second half's fitted growth stays within 5 % of its level (or a few units)
            growth = late["slope_per_min"] * (times[-1] - times[half]) / 60
            out[name]["second_half_growth"] = round(growth, 1)
            out[name]["flat"] = growth <= max(0.05 * late["first"], FLAT_TOLERANCE[name])
    return out
