"""What the server processes cost and hold, read from ``/proc`` (Linux): for the scale benchmarks.

The ``serve`` supervisor's process tree (uvicorn's workers are its children; a killed worker's
replacement is a new child), CPU seconds per process (``utime + stime`` of ``/proc/<pid>/stat``), RSS
(``VmRSS``), open sockets (``/proc/<pid>/fd`` links to ``socket:[...]``), and the PostgreSQL postmaster
by its port. ``CpuMeter`` sums a tree's CPU between two reads, counting processes that appear or die in
between (a dead child's time through its parent's ``cutime``); ``trend`` fits a least-squares line
through samples for the soak's "flat or growing" verdict.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from "state" on: state=0, ppid=1, utime=11, stime=12


def parents() -> dict[int, int]:
    """pid -> parent pid of every process now."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            found[int(entry.name)] = int(fields[1])
    return found


def alive(pid: int) -> bool:
    """Running or sleeping: not gone and not a zombie waiting for its parent."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def children(pid: int) -> list[int]:
    """Live children of ``pid`` (zombies left out)."""
    return sorted(child for child, parent in parents().items() if parent == pid and alive(child))


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants that are alive now."""
    by_parent: dict[int, list[int]] = defaultdict(list)
    for child, parent in parents().items():
        by_parent[parent].append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        if _stat(current) is not None:
            found.append(current)
        todo.extend(by_parent.get(current, []))
    return sorted(found)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (0 when it is gone)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def reaped_cpu_seconds(pid: int) -> float:
    """CPU of the children ``pid`` has waited for (``cutime + cstime``), their own reaped children included."""
    fields = _stat(pid)
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def open_sockets(pid: int) -> int:
    """File descriptors of ``pid`` that are sockets (TCP, Unix, listening or connected)."""
    count = 0
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd).startswith("socket:"):
                    count += 1
            except OSError:
                continue
    except OSError:
        pass
    return count


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def postmaster(port: int) -> int | None:
    """The PostgreSQL server process listening on ``port`` (its backends are its children)."""
    for entry in Path("/proc").iterdir():
        line = cmdline(int(entry.name)) if entry.name.isdigit() else ""
        if f" -p {port} " in f"{line} " and "postgres" in line.split(" ", 1)[0]:
            return int(entry.name)
    return None


class CpuMeter:
    """CPU seconds of a process tree between the first and the last ``sample()``, counting processes that
    appear or die in between.

    A child that dies and is reaped by the root (a killed uvicorn worker; a PostgreSQL backend whose
    connection closed) takes its CPU time into the root's ``cutime + cstime``; the meter adds the root's
    growth there and takes off what the dead children had already used at the first sample. Children
    born after the first sample count from zero. Grandchildren reaped by a child are not seen until
    that child goes; the trees measured here (uvicorn, PostgreSQL) have their workers as direct children.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.base: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.alive: set[int] = set()
        self.reaped_first: float | None = None
        self.reaped_last = 0.0

    def sample(self) -> None:
        first = self.reaped_first is None
        pids = tree(self.root)
        for pid in pids:
            seconds = cpu_seconds(pid)
            self.base.setdefault(pid, seconds if first else 0.0)
            self.last[pid] = seconds
        self.alive = set(pids)
        self.reaped_last = reaped_cpu_seconds(self.root)
        if first:
            self.reaped_first = self.reaped_last

    def seconds(self) -> float:
        live = sum(self.last[pid] - self.base[pid] for pid in self.alive)
        dead_before = sum(self.base[pid] for pid in self.base if pid not in self.alive)
        return live + self.reaped_last - (self.reaped_first or 0.0) - dead_before


def trend(times_s: Sequence[float], values: Sequence[float]) -> dict[str, float]:
    """first, last, max, and the least-squares slope per minute of a sampled series."""
    n = len(values)
    if n == 0:
        return {}
    mean_t, mean_v = sum(times_s) / n, sum(values) / n
    spread = sum((t - mean_t) ** 2 for t in times_s)
    slope_s = sum((t - mean_t) * (v - mean_v) for t, v in zip(times_s, values, strict=True)) / spread if spread else 0.0
    return {
        "first": round(values[0], 1),
        "last": round(values[-1], 1),
        "max": round(max(values), 1),
        "slope_per_min": round(slope_s * 60, 2),
    }
