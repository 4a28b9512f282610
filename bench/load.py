"""Load on the HTTP service with the offline engine: concurrent conversations from a loopback client.

The issue's target: on 2 cores, 50 concurrent conversations for 60 s, p95 turn latency <= 500 ms, zero
errors, and afterwards every acknowledged message and every ticket is in the database.

The server is the real thing (``firstline.testing.live.live_service``: uvicorn on a free loopback port,
SQLite tickets and directory, embedded Chroma, the demo runbooks) with the rate limits lifted. It runs
in a child process (multiprocessing, spawn) so the load generator does not share its GIL; the child
sends back its base URL and accounts through a pipe and waits for "stop". The two processes still share
the machine's cores: the client's CPU time is reported next to the server's.

The client (httpx.AsyncClient, HTTP/1.1 keep-alive) signs in as the seeded admin, makes one agent-role
API key and speaks for the demo organisation's current employees through ``user`` in the body: each
worker has a person of its own (a pending one-time code is per person). Each worker loops until the
time is up: POST /v1/conversations, then a scripted 2-4 message Tier-1 conversation (VPN drops, a
printer jam, Outlook password prompts, "what's the status of my ticket", how-to and policy questions
answered from the runbooks, "yes it works now thanks" follow-ups), each message a
POST /v1/conversations/{id}/messages. A share of the turns (``--stream-share``) ask for SSE and are
timed to the first token and to ``done``. ``--think 0`` is a closed loop with no think time (the
next message goes as soon as the reply is in); ``--think 1-3`` waits a uniform 1-3 s before each
message, like a person reading and typing. Several scenarios may be given: ``--think 0,1-3``; each
gets a fresh server and data folder.

Afterwards: every conversation is read back through the API (GET /v1/conversations/{id} with the
agent key), the server is stopped (it drains running turns), and the SQLite database is counted:
stored ``user_message`` events per conversation against the acknowledged (200 / ``done``) messages,
and every ticket number a reply carried against the tickets table. The server's /metrics histograms
(turn time on the worker thread vs. HTTP time of the message route) are read before and after.
``--profile`` runs the first scenario once more with a wall-clock stack sampler (20 Hz, every thread,
``sys._current_frames``) inside the server process, reported as ``<scenario>_profiled`` so the other
numbers are not disturbed by it.

Usage: .venv/bin/python bench/load.py [--conversations 50] [--seconds 60] [--think 0] [--stream-share 0.2]
       [--profile] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import yaml

from _common import ROOT, save

PEOPLE = ROOT / "src" / "firstline" / "helpdesk" / "seed" / "org" / "people.yaml"
LIMITS = {"rate_limit_per_minute": 1_000_000, "ip_rate_limit_per_minute": 1_000_000}
MESSAGES_ROUTE = "/v1/conversations/{conversation_id}/messages"

# Scripted Tier-1 conversations: 2-4 messages each. "{ticket}" is the worker's last ticket number.
SCRIPTS: dict[str, list[str]] = {
    "vpn-drops": [
        "My VPN keeps disconnecting every 15 minutes when I work from home",
        "GlobalProtect keeps saying connection to gateway lost, reconnecting, every few minutes",
        "yes it works now, thanks",
    ],
    "vpn-wont-connect": [
        "GlobalProtect VPN won't connect, it just spins on connecting",
        "yes it works now",
    ],
    "printer-jam": [
        "LON-F4-HP-01 keeps jamming in tray 2 even after I clear it",
        "no, still broken",
        "thanks, I'll use the other printer meanwhile",
    ],
    "printer-offline": [
        "Hi there, good morning!",
        "The colour printer LON-F5-LX-01 is showing as offline and nothing prints",
        "yes it works now thanks",
    ],
    "outlook-password-prompt": [
        "Outlook keeps asking for my password over and over again since this morning",
        "I typed it in again and it still keeps prompting me",
        "ok it stopped now, thanks",
    ],
    "mailbox-full": [
        "Outlook says my mailbox is full and I can't send any emails",
        "no, still can't send anything",
    ],
    "ticket-status": [
        "Hi, what's the latest on my ticket {ticket}?",
        "Can you check on the status of my open tickets?",
        "thanks",
    ],
    "howto-intune": [
        "How do I enrol my new Android phone in Intune with Company Portal?",
        "How do I connect to the VPN from home?",
    ],
    "policy-questions": [
        "Am I allowed to read my work email on my personal iPhone? What does the BYOD policy say?",
        "What are the IT service desk opening hours at the weekend?",
        "Is it ok to work from a cafe on public wifi according to the remote working policy?",
    ],
    "disk-full": [
        "My MacBook says the disk is almost full and the macOS update won't install",
        "yes that worked, thanks",
    ],
    "wifi-drops": [
        "My laptop keeps dropping off the NW-Corp wifi in the office",
        "no, still broken",
        "it is on the third floor by the kitchen",
        "yes it works now thanks",
    ],
    "slow-laptop": [
        "My laptop has become really slow, apps take minutes to open",
        "yes it works now, thanks",
    ],
    "phishing": [
        "I received a phishing email from payroll-update@nwmeridian-pay.com asking me to confirm my bank "
        "details, I didn't click anything",
        "thanks",
    ],
}


# -- the server in a child process -------------------------------------------------------------------


class StackSampler:
    """A wall-clock sampler of every thread's Python stack (``sys._current_frames``) in this process."""

    IDLE = ("threading.py", "queue.py", "selectors.py", "concurrent/futures/thread.py")

    def __init__(self, hz: float = 20.0) -> None:
        self.interval = 1.0 / hz
        self.stop_event = threading.Event()
        self.samples: Counter[str] = Counter()
        self.inclusive: dict[str, Counter[str]] = defaultdict(Counter)
        self.exclusive: dict[str, Counter[str]] = defaultdict(Counter)
        self.folded: dict[str, Counter[str]] = defaultdict(Counter)
        self.thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    @staticmethod
    def _where(frame: Any) -> str:
        code = frame.f_code
        path = code.co_filename
        for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
            if marker in path:
                path = path.split(marker, 1)[1]
                break
        return f"{path}:{code.co_name}"

    def _run(self) -> None:
        me = threading.get_ident()
        while not self.stop_event.wait(self.interval):
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                name = names.get(ident, "?")
                group = re.sub(r"[_-]?\d+$", "", name.split("(")[0]) or name
                stack = []
                while frame is not None:
                    stack.append(self._where(frame))
                    frame = frame.f_back
                top = stack[0]
                if any(part in top for part in self.IDLE) or top.endswith(("select", "_worker", "wait")):
                    group += " (idle)"
                self.samples[group] += 1
                self.exclusive[group][top] += 1
                for where in set(stack):
                    self.inclusive[group][where] += 1
                # root -> leaf, Firstline's own frames (and the DB's transaction scopes) plus the leaf
                path = [w for w in reversed(stack[1:]) if w.startswith("firstline/") or "transaction" in w]
                self.folded[group][";".join([*path, top])] += 1

    def start(self) -> None:
        self.thread.start()

    def stop(self, top: int = 30) -> dict[str, Any]:
        self.stop_event.set()
        self.thread.join()
        return {
            "interval_ms": round(self.interval * 1000, 1),
            "samples_by_thread_group": dict(self.samples.most_common()),
            "groups": {
                group: {
                    "samples": count,
                    "inclusive_top": dict(self.inclusive[group].most_common(top)),
                    "self_top": dict(self.exclusive[group].most_common(top)),
                    "folded_top": dict(self.folded[group].most_common(top)),
                }
                for group, count in self.samples.most_common()
                if "(idle)" not in group
            },
        }


def _serve(data_dir: str, conn: Connection) -> None:
    """Child process: run the live service until told to stop; optionally sample its stacks."""
    from firstline.testing.live import live_service

    sampler: StackSampler | None = None
    with live_service(Path(data_dir), service=LIMITS) as service:
        conn.send({"base_url": service.base_url, "accounts": service.accounts, "pid": os.getpid()})
        while True:
            message = conn.recv()
            if message == "profile-start":
                sampler = StackSampler()
                sampler.start()
            elif message == "profile-stop":
                conn.send(sampler.stop() if sampler else {})
                sampler = None
            elif message == "stop":
                break
    conn.send("stopped")


class ServerProcess:
    """``live_service`` in a child process: ``with ServerProcess(data_dir) as server: server.base_url``."""

    def __init__(self, data_dir: Path, startup_s: float = 300.0) -> None:
        self.data_dir = data_dir
        self.startup_s = startup_s
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(str(data_dir), child), name="firstline-server")
        self.base_url = ""
        self.accounts: dict[str, tuple[str, str]] = {}
        self.pid = 0
        self.ready_s = 0.0

    def __enter__(self) -> ServerProcess:
        started = time.perf_counter()
        self.process.start()
        if not self.conn.poll(self.startup_s):
            self.process.kill()
            raise TimeoutError(f"the server was not ready within {self.startup_s:.0f} s")
        info = self.conn.recv()
        self.base_url, self.pid = info["base_url"], info["pid"]
        self.accounts = {k: tuple(v) for k, v in info["accounts"].items()}  # type: ignore[misc]
        self.ready_s = time.perf_counter() - started
        return self

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (from /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def profile_start(self) -> None:
        self.conn.send("profile-start")

    def profile_stop(self) -> dict[str, Any]:
        self.conn.send("profile-stop")
        result: dict[str, Any] = self.conn.recv()
        return result

    def stop(self) -> None:
        if self.process.is_alive():
            self.conn.send("stop")
            if self.conn.poll(120):
                self.conn.recv()
        self.process.join(timeout=60)
        if self.process.is_alive():
            self.process.kill()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- numbers -----------------------------------------------------------------------------------------


def dist(samples_ms: Sequence[float]) -> dict[str, float]:
    """n, mean, p50, p95, p99, max (nearest rank) of latencies in ms."""
    if not samples_ms:
        return {"n": 0}
    ordered = sorted(samples_ms)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)

    return {
        "n": len(ordered),
        "mean_ms": round(statistics.fmean(ordered), 1),
        "p50_ms": rank(0.50),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "max_ms": round(ordered[-1], 1),
    }


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match:
            out.append((match[1], dict(_LABEL.findall(match[2] or "")), float(match[3])))
    return out


def histogram(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> dict[str, Any]:
    """Buckets (le -> cumulative count), count and sum of one histogram series."""
    buckets: dict[float, float] = {}
    total = count = 0.0
    for metric, found, value in samples:
        if any(found.get(k) != v for k, v in labels.items()):
            continue
        if metric == f"{name}_bucket":
            buckets[float(found["le"])] = buckets.get(float(found["le"]), 0.0) + value
        elif metric == f"{name}_count":
            count += value
        elif metric == f"{name}_sum":
            total += value
    return {"buckets": buckets, "count": count, "sum": total}


def histogram_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The observations between two scrapes: count, mean, and the bucket bound holding p50/p95/p99."""
    count = after["count"] - before["count"]
    if count <= 0:
        return {"count": 0}
    buckets = {le: after["buckets"][le] - before["buckets"].get(le, 0.0) for le in sorted(after["buckets"])}

    def bound(q: float) -> str:
        for le, cumulative in buckets.items():
            if cumulative >= q * count:
                return f"<= {le:g} s"
        return "> last bucket"

    return {
        "count": int(count),
        "mean_ms": round((after["sum"] - before["sum"]) / count * 1000, 1),
        "p50": bound(0.50),
        "p95": bound(0.95),
        "p99": bound(0.99),
        "share_over_0.5s": round(1 - buckets.get(0.5, 0.0) / count, 3),
    }


def gauge(samples: list[tuple[str, dict[str, str], float]], name: str) -> float:
    return sum(value for metric, _, value in samples if metric == name)


# -- the load ----------------------------------------------------------------------------------------


def employees() -> list[str]:
    people = yaml.safe_load(PEOPLE.read_text())
    return [p["email"] for p in people if p.get("employment") != "leaver"]


@dataclass
class Tally:
    """Everything the workers saw, for the report and the storage check."""

    json_ms: list[float] = field(default_factory=list)
    stream_done_ms: list[float] = field(default_factory=list)
    stream_first_token_ms: list[float] = field(default_factory=list)
    create_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    agents: Counter[str] = field(default_factory=Counter)
    scripts: Counter[str] = field(default_factory=Counter)
    acknowledged: Counter[str] = field(default_factory=Counter)  # conversation id -> messages answered
    sent: Counter[str] = field(default_factory=Counter)  # conversation id -> messages sent (answered or not)
    conversations: dict[str, str] = field(default_factory=dict)  # id -> requester
    tickets: set[str] = field(default_factory=set)
    attempted_turns: int = 0

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.error_examples.setdefault(kind, detail[:300])


def _record_reply(tally: Tally, conversation: str, reply: dict[str, Any]) -> str | None:
    tally.acknowledged[conversation] += 1
    tally.statuses[str(reply.get("status"))] += 1
    tally.agents[str(reply.get("agent") or "desk")] += 1
    ticket = (reply.get("ticket") or {}).get("number")
    if ticket:
        tally.tickets.add(ticket)
    return ticket


async def _send_json(
    client: httpx.AsyncClient,
    tally: Tally,
    conversation: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> str | None:
    started = time.perf_counter()
    try:
        response = await client.post(f"/v1/conversations/{conversation}/messages", json=body, headers=headers)
    except httpx.HTTPError as exc:
        tally.error(f"exception {type(exc).__name__}", repr(exc))
        return None
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        kind = response.json().get("error", "?") if "json" in response.headers.get("content-type", "") else "?"
        tally.error(f"HTTP {response.status_code} {kind}", response.text)
        return None
    tally.json_ms.append(elapsed)
    return _record_reply(tally, conversation, response.json()) or ""


async def _send_stream(
    client: httpx.AsyncClient,
    tally: Tally,
    conversation: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> str | None:
    started = time.perf_counter()
    first_token: float | None = None
    reply: dict[str, Any] | None = None
    try:
        async with client.stream(
            "POST", f"/v1/conversations/{conversation}/messages", json={**body, "stream": True}, headers=headers
        ) as response:
            if response.status_code != 200:
                text = (await response.aread()).decode(errors="replace")
                tally.error(f"HTTP {response.status_code} (stream)", text)
                return None
            event, data = "message", ""
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif not line:
                    if event == "token" and first_token is None:
                        first_token = time.perf_counter()
                    elif event == "done":
                        reply = httpx.Response(200, content=data).json()
                    elif event == "error":
                        tally.error("SSE error event", data)
                        return None
                    event, data = "message", ""
    except httpx.HTTPError as exc:
        tally.error(f"exception {type(exc).__name__} (stream)", repr(exc))
        return None
    if reply is None:
        tally.error("SSE ended without done", "")
        return None
    done = time.perf_counter()
    tally.stream_done_ms.append((done - started) * 1000)
    if first_token is not None:
        tally.stream_first_token_ms.append((first_token - started) * 1000)
    return _record_reply(tally, conversation, reply) or ""


# Each conversation opens with its own words: a real desk rarely sees the same first message twice, and a
# repeated text is served from the caches (its embedding, its redaction) at a fraction of the cost. Follow-ups
# ("yes it works now, thanks") repeat, as they do. ``--repeat-texts`` sends the scripts word for word.
VARY_FIRST = True
_OPENERS = ("", "Hi, ", "Hello, ", "Morning! ", "Sorry to bother you, ", "Quick one: ", "Hey IT, ", "Hi team - ")
_CLOSERS = (
    "", " Can you help?", " Any ideas?", " It's quite urgent.", " Thanks in advance.",
    " This started about {n} minutes ago.", " I'm in the {site} office today.", " It's been like this since {day}.",
    " I have a meeting in {n} minutes.", " Tried restarting, no change.",
)  # fmt: skip
_SITES = ("London", "Manchester", "Leeds", "Bristol", "Edinburgh")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "this morning", "yesterday afternoon", "lunchtime")


def first_message(text: str, rng: random.Random) -> str:
    """``text`` as one employee would open with it: a greeting and a closing remark of their own."""
    if not VARY_FIRST:
        return text
    closer = rng.choice(_CLOSERS).format(n=rng.randint(2, 300), site=rng.choice(_SITES), day=rng.choice(_DAYS))
    opener = rng.choice(_OPENERS)
    return f"{opener}{text[0].lower() + text[1:] if opener else text}{closer}"


async def worker(
    client: httpx.AsyncClient,
    person: str,
    deadline: float,
    think: tuple[float, float],
    stream_share: float,
    rng: random.Random,
    tally: Tally,
) -> None:
    last_ticket: str | None = None
    names = list(SCRIPTS)
    while time.monotonic() < deadline:
        name = rng.choice(names)
        script = SCRIPTS[name]
        if name == "ticket-status" and not last_ticket:
            script = script[1:]  # no ticket number yet: ask for the open tickets instead
        if think[1] > 0:
            await asyncio.sleep(rng.uniform(*think))
        started = time.perf_counter()
        try:
            response = await client.post("/v1/conversations", json={"user": person})
        except httpx.HTTPError as exc:
            tally.error(f"exception {type(exc).__name__} (create)", repr(exc))
            await asyncio.sleep(0.1)
            continue
        if response.status_code != 201:
            tally.error(f"HTTP {response.status_code} (create)", response.text)
            await asyncio.sleep(0.1)
            continue
        tally.create_ms.append((time.perf_counter() - started) * 1000)
        conversation = response.json()["conversation_id"]
        tally.conversations[conversation] = person
        tally.scripts[name] += 1
        for i, text in enumerate(script):
            if time.monotonic() >= deadline:
                break
            if i and think[1] > 0:
                await asyncio.sleep(rng.uniform(*think))
            said = text.replace("{ticket}", last_ticket or "")
            body = {"text": first_message(said, rng) if i == 0 else said, "user": person}
            tally.attempted_turns += 1
            tally.sent[conversation] += 1
            send = _send_stream if rng.random() < stream_share else _send_json
            ticket = await send(client, tally, conversation, body)
            if ticket:
                last_ticket = ticket


async def read_back(base_url: str, headers: dict[str, str], tally: Tally, concurrency: int = 8) -> dict[str, Any]:
    """Every conversation through the API: stored user messages against the acknowledged ones.

    A fresh client: the load client's idle keep-alive connections may be closed by the server (uvicorn's
    5 s keep-alive timeout) just as they are reused; one retry on a transport error is counted.
    """
    gate = asyncio.Semaphore(concurrency)
    counts: dict[str, int] = {}
    failures: Counter[str] = Counter()

    async def one(client: httpx.AsyncClient, conversation: str) -> None:
        async with gate:
            for attempt in range(2):
                try:
                    response = await client.get(f"/v1/conversations/{conversation}")
                    break
                except httpx.TransportError as exc:
                    failures[f"{type(exc).__name__} (attempt {attempt + 1})"] += 1
            else:
                return
        if response.status_code != 200:
            failures[f"HTTP {response.status_code}"] += 1
            return
        counts[conversation] = sum(1 for e in response.json()["events"] if e["kind"] == "user_message")

    async with httpx.AsyncClient(base_url=base_url, timeout=120, headers=headers) as client:
        await asyncio.gather(*(one(client, c) for c in tally.conversations))
    return {
        "conversations_read": len(counts),
        "read_failures": dict(failures),
        "user_messages": sum(counts.values()),
        "acknowledged_messages": sum(tally.acknowledged.values()),
        "conversations_missing_acknowledged": sum(1 for c, n in tally.acknowledged.items() if counts.get(c, 0) < n),
    }


def count_database(db: Path, tally: Tally) -> dict[str, Any]:
    """The SQLite database after the server stopped, against what the client was told."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return compare_stored(conn, tally)


def compare_stored(conn: Any, tally: Tally) -> dict[str, Any]:
    """What a database holds (a DB-API connection with ``execute``: sqlite3 or psycopg) against ``tally``."""
    stored_conversations = {row[0] for row in conn.execute("SELECT id FROM conversations")}
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for conversation, kind, n in conn.execute(
        "SELECT conversation_id, kind, count(*) FROM conversation_events GROUP BY conversation_id, kind"
    ):
        by_kind[kind][conversation] = n
    ticket_numbers = {row[0] for row in conn.execute("SELECT number FROM tickets")}
    user_messages = by_kind["user_message"]
    ours = set(tally.conversations)
    short = {c: (n, user_messages.get(c, 0)) for c, n in tally.acknowledged.items() if user_messages.get(c, 0) < n}
    return {
        "conversations_created": len(ours),
        "conversations_stored": len(ours & stored_conversations),
        "acknowledged_messages": sum(tally.acknowledged.values()),
        "sent_messages": sum(tally.sent.values()),
        "stored_user_message_events": sum(user_messages[c] for c in ours),
        # a message stored by a worker that died before answering, then sent again: at least once
        "stored_not_acknowledged": sum(max(0, user_messages.get(c, 0) - tally.acknowledged.get(c, 0)) for c in ours),
        "stored_assistant_message_events": sum(by_kind["assistant_message"][c] for c in ours),
        "stored_rejected_message_events": sum(by_kind["rejected_message"][c] for c in ours),
        "conversations_missing_acknowledged_messages": len(short),
        "missing_examples": dict(list(short.items())[:5]),
        "tickets_returned_distinct": len(tally.tickets),
        "tickets_returned_stored": len(tally.tickets & ticket_numbers),
        "tickets_returned_missing": sorted(tally.tickets - ticket_numbers)[:20],
        "tickets_in_database": len(ticket_numbers),
        "event_kinds_stored": {kind: sum(c[x] for x in ours) for kind, c in sorted(by_kind.items())},
    }


def parse_think(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return float(low), float(high or low)


async def scenario(server: ServerProcess, args: argparse.Namespace, think: tuple[float, float]) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.conversations + 10, max_keepalive_connections=args.conversations + 10)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=120, limits=limits) as admin:
        email, password = server.accounts["admin"]
        admin.headers["X-Requested-With"] = "firstline"
        (await admin.post("/v1/auth/login", json={"email": email, "password": password})).raise_for_status()
        made = await admin.post("/v1/admin/api-keys", json={"name": "load-bench", "role": "agent"})
        made.raise_for_status()
        key = made.json()["key"]

    people = employees()
    if len(people) < args.conversations:
        print(f"note: {len(people)} current employees for {args.conversations} workers; some share a person")
    rng = random.Random(args.seed)
    rng.shuffle(people)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=120, limits=limits, headers=headers) as client:
        warm = Tally()  # a few turns first; they count for the storage check, not for the latency
        await worker(client, people[0], time.monotonic() + 3, (0, 0), 0.5, random.Random(1), warm)

        scrape_before = parse_metrics((await client.get("/metrics")).text)
        tally = Tally()
        if args.sampling:
            server.profile_start()
        cpu_server, cpu_client = server.cpu_seconds(), time.process_time()
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        deadline = started + args.seconds
        await asyncio.gather(
            *(
                worker(
                    client,
                    people[i % len(people)],
                    deadline,
                    think,
                    args.stream_share,
                    random.Random(args.seed * 1000 + i),
                    tally,
                )
                for i in range(args.conversations)
            )
        )
        elapsed = time.monotonic() - started
        cpu_server = server.cpu_seconds() - cpu_server
        cpu_client = time.process_time() - cpu_client
        profile = server.profile_stop() if args.sampling else None
    async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as fresh:
        scrape_after = parse_metrics((await fresh.get("/metrics")).text)
    api_check = await read_back(server.base_url, headers, tally)

    for source in (warm,):
        for c, person in source.conversations.items():
            tally.conversations.setdefault(c, person)
        tally.acknowledged.update(source.acknowledged)
        tally.sent.update(source.sent)
        tally.tickets |= source.tickets

    server.stop()  # drains running turns; then count the database
    storage = count_database(server.data_dir / "tickets.db", tally)

    done_turns = len(tally.json_ms) + len(tally.stream_done_ms)
    route = {"method": "POST", "route": MESSAGES_ROUTE}
    return {
        "conversations": args.conversations,
        "seconds": args.seconds,
        "think_s": list(think),
        "closed_loop": think[1] == 0,
        "stream_share": args.stream_share,
        "first_messages_varied": VARY_FIRST,
        "elapsed_s": round(elapsed, 1),
        "server_ready_s": round(server.ready_s, 1),
        "turns_attempted": tally.attempted_turns,
        "turns_answered": done_turns,
        "turns_per_s": round(done_turns / elapsed, 1),
        "conversations_per_s": round(len(tally.create_ms) / elapsed, 2),
        "latency": {
            "all_turns": dist(tally.json_ms + tally.stream_done_ms),
            "json_turns": dist(tally.json_ms),
            "stream_to_done": dist(tally.stream_done_ms),
            "stream_to_first_token": dist(tally.stream_first_token_ms),
            "create_conversation": dist(tally.create_ms),
        },
        "errors": sum(tally.errors.values()),
        "errors_by_kind": dict(tally.errors),
        "error_examples": tally.error_examples,
        "reply_status": dict(tally.statuses.most_common()),
        "reply_agent": dict(tally.agents.most_common()),
        "scripts_started": dict(tally.scripts.most_common()),
        "server_metrics": {
            "turn_duration_on_worker_thread": histogram_delta(
                histogram(scrape_before, "firstline_turn_duration_seconds"),
                histogram(scrape_after, "firstline_turn_duration_seconds"),
            ),
            "http_duration_message_route": histogram_delta(
                histogram(scrape_before, "firstline_http_request_duration_seconds", **route),
                histogram(scrape_after, "firstline_http_request_duration_seconds", **route),
            ),
            "http_duration_create_conversation": histogram_delta(
                histogram(
                    scrape_before, "firstline_http_request_duration_seconds", method="POST", route="/v1/conversations"
                ),
                histogram(
                    scrape_after, "firstline_http_request_duration_seconds", method="POST", route="/v1/conversations"
                ),
            ),
            "turns_in_flight_after": gauge(scrape_after, "firstline_turns_in_flight"),
        },
        "cpu": {
            "server_cpu_s": round(cpu_server, 1),
            "server_cores_busy": round(cpu_server / elapsed, 2),
            "server_cpu_ms_per_turn": round(cpu_server / max(done_turns, 1) * 1000, 1),
            "client_cpu_s": round(cpu_client, 1),
            "client_cores_busy": round(cpu_client / elapsed, 2),
            "load_avg_1m_before": round(load_before, 2),
            "load_avg_1m_after": round(os.getloadavg()[0], 2),
        },
        "api_read_back": api_check,
        "storage": storage,
        **({"server_profile": profile} if profile else {}),
    }


def verdict(result: dict[str, Any]) -> dict[str, bool]:
    storage = result["storage"]
    return {
        "p95_le_500ms": result["latency"]["all_turns"].get("p95_ms", 1e9) <= 500,
        "zero_errors": result["errors"] == 0,
        "all_acknowledged_stored": storage["conversations_missing_acknowledged_messages"] == 0
        and storage["stored_user_message_events"] >= storage["acknowledged_messages"],
        "all_tickets_stored": storage["tickets_returned_stored"] == storage["tickets_returned_distinct"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=50, help="concurrent conversations (workers)")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--think", default="0", help="think time before each message: 0, 2 or 1-3; a,b = scenarios")
    parser.add_argument("--stream-share", type=float, default=0.2, help="share of turns sent with stream: true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile", action="store_true", help="also run the first scenario again with a stack sampler in the server"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folders (printed)")
    parser.add_argument(
        "--repeat-texts", action="store_true", help="send every script word for word (first messages not varied)"
    )
    parser.add_argument("--out", default="load", help="bench/results/<out>.json")
    args = parser.parse_args()
    global VARY_FIRST
    VARY_FIRST = not args.repeat_texts

    results: dict[str, Any] = {}
    runs = [(spec.strip(), False) for spec in args.think.split(",")]
    if args.profile:  # one more run of the first scenario with the sampler on, so the others stay clean
        runs.append((runs[0][0], True))
    for spec, profiled in runs:
        think = parse_think(spec)
        label = ("closed_loop" if think[1] == 0 else f"think_{spec}s") + ("_profiled" if profiled else "")
        args.sampling = profiled
        data_dir = Path(tempfile.mkdtemp(prefix="firstline-load-"))
        print(f"== {label}: {args.conversations} conversations, {args.seconds:g} s, data in {data_dir}", flush=True)
        with ServerProcess(data_dir) as server:
            result = asyncio.run(scenario(server, args, think))
        result["verdict"] = verdict(result)
        results[label] = result
        if not args.keep:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)
        lat, storage = result["latency"]["all_turns"], result["storage"]
        print(
            f"{label}: {result['turns_answered']} turns in {result['elapsed_s']} s = {result['turns_per_s']} turns/s; "
            f"p50 {lat.get('p50_ms')} ms, p95 {lat.get('p95_ms')} ms, p99 {lat.get('p99_ms')} ms; "
            f"errors {result['errors']} {result['errors_by_kind']}\n"
            f"  stream: first token p50 {result['latency']['stream_to_first_token'].get('p50_ms')} ms, done p95 "
            f"{result['latency']['stream_to_done'].get('p95_ms')} ms; server {result['cpu']['server_cores_busy']} "
            f"cores, client {result['cpu']['client_cores_busy']} cores\n"
            f"  stored: {storage['stored_user_message_events']} user messages for "
            f"{storage['acknowledged_messages']} acknowledged ({storage['sent_messages']} sent); "
            f"tickets {storage['tickets_returned_stored']}/{storage['tickets_returned_distinct']} returned found; "
            f"verdict {result['verdict']}",
            flush=True,
        )
    path = save(args.out, {"target": "50 conversations, 60 s, p95 <= 500 ms, 0 errors, all stored", **results})
    print(f"saved {path}")


if __name__ == "__main__":
    main()
