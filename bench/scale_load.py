"""Load across workers: 1 vs 2 workers, a soak, and a worker killed mid-run (issue 16, load tests b-d).

Each scenario gets a fresh deployment from ``_stack``: a new database in one PostgreSQL cluster for the
run, its own ``redis-server`` and ``chroma run``, and ``firstline serve --workers N`` as a subprocess on a
free loopback port. The clients are ``load.py``'s (imported, not copied): each of ``--conversations``
asyncio workers speaks for a demo employee with an agent API key, opens conversations and plays the
scripted Tier-1 dialogues, a share of the turns over SSE; a turn's latency is client-side, send to whole
reply. Scenarios (``--scenario``, all by default):

* ``workers`` (b): the same closed loop (50 clients, no think time, ``--seconds``) against 1 worker, then
  against 2 (a fresh deployment each), in one run: turns/s, p50/p95/max, errors, CPU of the server's
  processes (supervisor and workers) and of Redis, Chroma and PostgreSQL, and the ratio 2w/1w. The load
  generator runs on the same machine and takes its share of the cores, which bounds the ratio.
* ``soak`` (c): 200 conversations with 1-3 s think time for ``--soak-seconds`` on 2 workers; every
  ``--sample-every`` seconds the RSS and open sockets of each server process, PostgreSQL connections to the
  deployment's database (``pg_stat_activity``) and Redis clients (``INFO clients``); each series is
  reported as first/last/max and a least-squares slope per minute, over the whole run and its second half
  (start-up caches fill in the first minutes; growth that persists shows in the second half).
* ``kill`` (d): 2 workers, 50 closed-loop clients; after a third of the run one worker (a child of the
  supervisor) gets SIGKILL. A message whose request failed with a connection error (connect, reset, closed
  mid-reply) was never acknowledged, so the client sends it again, up to ``RETRIES`` times; those
  retries are counted, not hidden. Reported: errors, retries, when the supervisor had a new worker process
  and when it finished its start-up, and the storage check.

Before the timed part, 5 clients per worker play untimed turns for ``--warmup`` seconds: a worker loads
some models on its first turns, which takes seconds, and with one warm-up client (as in ``load.py``) only
one worker of two would be warm. The clients keep idle connections 4 s, under uvicorn's 5 s keep-alive,
so they never reuse a connection the server is closing. Outside the kill scenario a connection error is
an error, as in ``load.py``.

Every scenario ends like ``load.py``: the conversations are read back through the API, the server is
stopped (it drains running turns), and PostgreSQL is counted: every acknowledged message must be a stored
``user_message`` event and every ticket number a reply carried must be in ``tickets``. Messages carry an
``Idempotency-Key`` that their retries repeat: a message whose reply was lost is answered once (the
retry gets the stored reply), except when its worker was killed mid-turn, before the reply was stored:
the retry then runs the turn again once the claim's 30 s lease has passed, and the message is stored
twice (``stored_not_acknowledged``), never lost.

Usage: .venv/bin/python bench/scale_load.py [--scenario workers,soak,kill] [--seconds 60] [--soak-seconds 300]
       [--conversations 50] [--soak-conversations 200] [--compare 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import httpx

import load
from _common import save
from _procs import cmdline
from _stack import Deployment, Stack, missing_binaries, stack
from _watch import Watch, soak_summary

RETRIES = 5
RUNNING_WAIT_S = 45  # a retry may wait out the 30 s lease of a claim whose worker was killed
CONNECTION_ERRORS = ("ConnectError", "RemoteProtocolError", "ReadError", "WriteError", "ConnectTimeout")
Send = Callable[
    ..., Coroutine[Any, Any, str | None]
]  # load._send_json / _send_stream (client, tally, id, body, headers)


# -- retrying a message that was never acknowledged ---------------------------------------------------


def is_connection_error(kind: str) -> bool:
    """An error kind from ``load.Tally`` that means the connection failed, not that the server said no."""
    return kind.startswith("exception") and any(name in kind for name in CONNECTION_ERRORS)


def merge(into: load.Tally, part: load.Tally) -> None:
    into.json_ms += part.json_ms
    into.stream_done_ms += part.stream_done_ms
    into.stream_first_token_ms += part.stream_first_token_ms
    into.errors.update(part.errors)
    for kind, example in part.error_examples.items():
        into.error_examples.setdefault(kind, example)
    into.statuses.update(part.statuses)
    into.agents.update(part.agents)
    into.acknowledged.update(part.acknowledged)
    into.tickets |= part.tickets


def retrying(send: Send, retried: Counter[str]) -> Send:
    """``send`` again while it fails with a connection error: the message was not acknowledged.

    Each message carries an ``Idempotency-Key`` that its retries repeat, so a message whose reply was lost
    is answered once: a retry gets the stored reply, or 409 while the first try still runs (wait and ask
    again), or — when the first try's worker was killed before it stored a reply — a new turn once the
    claim's 30-second lease has passed."""

    async def wrapped(
        client: httpx.AsyncClient, tally: load.Tally, conversation: str, body: dict[str, Any]
    ) -> str | None:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        deadline = time.monotonic() + RUNNING_WAIT_S
        attempt = 0
        while True:
            part = load.Tally()
            ticket = await send(client, part, conversation, body, headers)
            failed = [kind for kind in part.errors if is_connection_error(kind) or kind.startswith("HTTP 409")]
            if not failed or attempt >= RETRIES + RUNNING_WAIT_S or time.monotonic() > deadline:
                merge(tally, part)
                return ticket
            retried.update(failed)
            attempt += 1
            await asyncio.sleep(1.0 if any(k.startswith("HTTP 409") for k in failed) else 0.05 * attempt)

    return wrapped


@contextmanager
def retries(retried: Counter[str]) -> Iterator[None]:
    """Make ``load.worker`` retry messages on connection errors (it looks its senders up in ``load``)."""
    saved = load._send_json, load._send_stream
    load._send_json = retrying(saved[0], retried)  # type: ignore[assignment]
    load._send_stream = retrying(saved[1], retried)  # type: ignore[assignment]
    try:
        yield
    finally:
        load._send_json, load._send_stream = saved


# -- one load run against a deployment ------------------------------------------------------------------


async def run_load(
    deployment: Deployment,
    args: argparse.Namespace,
    conversations: int,
    seconds: float,
    think: tuple[float, float],
    during: Callable[[Watch, float], Coroutine[Any, Any, dict[str, Any]]] | None = None,
    retry: bool = False,
) -> dict[str, Any]:
    """``conversations`` clients for ``seconds``; ``during(watch, started)`` runs beside them (sampling, a kill).

    With ``retry`` a message that failed with a connection error is sent again (the kill scenario);
    without it such a failure is an error, as in ``load.py``.
    """
    # keep-alive shorter than uvicorn's 5 s, so the client never reuses a connection the server is closing
    limits = httpx.Limits(
        max_connections=conversations + 10, max_keepalive_connections=conversations + 10, keepalive_expiry=4.0
    )
    headers = {"Authorization": f"Bearer {deployment.api_key}"}
    people = load.employees()
    random.Random(args.seed).shuffle(people)
    retried: Counter[str] = Counter()
    watch = Watch(deployment)
    components_before = deployment.component_cpu()
    try:
        with retries(retried) if retry else nullcontext():
            async with httpx.AsyncClient(
                base_url=deployment.base_url, timeout=120, limits=limits, headers=headers
            ) as client:
                # Warm every worker first (its first turns load models lazily, which takes seconds): enough
                # concurrent clients that each worker accepts some. Stored and checked, not timed.
                warm = load.Tally()
                warm_until = time.monotonic() + args.warmup
                await asyncio.gather(
                    *(
                        load.worker(client, people[i], warm_until, (0, 0), 0.5, random.Random(-1 - i), warm)
                        for i in range(min(len(people), 5 * deployment.workers))
                    )
                )
                tally = load.Tally()
                watch.cpu()
                cpu_client, load_before = time.process_time(), os.getloadavg()[0]
                started = time.monotonic()
                deadline = started + seconds
                clients = [
                    load.worker(
                        client,
                        people[i % len(people)],
                        deadline,
                        think,
                        args.stream_share,
                        random.Random(args.seed * 1000 + i),
                        tally,
                    )
                    for i in range(conversations)
                ]
                side = asyncio.create_task(during(watch, started)) if during else None
                await asyncio.gather(*clients)
                elapsed = time.monotonic() - started
                watch.cpu()
                cpu_client = time.process_time() - cpu_client
                extra = await side if side else {}
        components = {k: round(v - components_before[k], 1) for k, v in deployment.component_cpu().items()}
        api_check = await load.read_back(deployment.base_url, headers, tally)
        for c, person in warm.conversations.items():
            tally.conversations.setdefault(c, person)
        tally.acknowledged.update(warm.acknowledged)
        tally.sent.update(warm.sent)
        tally.tickets |= warm.tickets
        deployment.stop_server()
        storage = deployment.count_database(tally)
        server_cpu = watch.server_cpu.seconds()
        pg_cpu = watch.pg_cpu.seconds() if watch.pg_cpu else 0.0
    finally:
        watch.close()

    done_turns = len(tally.json_ms) + len(tally.stream_done_ms)
    return {
        "workers": deployment.workers,
        "conversations": conversations,
        "seconds": seconds,
        "think_s": list(think),
        "elapsed_s": round(elapsed, 1),
        "server_ready_s": round(deployment.ready_s, 1),
        "warmup": {"seconds": args.warmup, "turns": sum(warm.acknowledged.values()), "errors": dict(warm.errors)},
        "turns_attempted": tally.attempted_turns,
        "turns_answered": done_turns,
        "turns_per_s": round(done_turns / elapsed, 1),
        "latency": {
            "all_turns": load.dist(tally.json_ms + tally.stream_done_ms),
            "stream_to_first_token": load.dist(tally.stream_first_token_ms),
            "create_conversation": load.dist(tally.create_ms),
        },
        "errors": sum(tally.errors.values()),
        "errors_by_kind": dict(tally.errors),
        "error_examples": tally.error_examples,
        "connection_errors_retried": dict(retried),
        "reply_status": dict(tally.statuses.most_common()),
        "cpu": {
            "server_cpu_s": round(server_cpu, 1),
            "server_cores_busy": round(server_cpu / elapsed, 2),
            "server_cpu_ms_per_turn": round(server_cpu / max(done_turns, 1) * 1000, 1),
            "postgres_cores_busy": round(pg_cpu / elapsed, 2),
            "postgres_sessions_opened": watch.sessions_opened(),
            "redis_cores_busy": round(components["redis_cpu_s"] / elapsed, 2),
            "chroma_cores_busy": round(components["chroma_cpu_s"] / elapsed, 2),
            "client_cores_busy": round(cpu_client / elapsed, 2),
            "load_avg_1m_before": round(load_before, 2),
            "load_avg_1m_after": round(os.getloadavg()[0], 2),
        },
        "api_read_back": api_check,
        "storage": storage,
        **extra,
    }


def verdict(result: dict[str, Any], kill: bool = False) -> dict[str, bool]:
    """Zero errors (for the kill: zero besides the connection errors the kill itself causes), nothing lost."""
    storage = result["storage"]
    counted = {k: n for k, n in result["errors_by_kind"].items() if not (kill and is_connection_error(k))}
    return {
        ("zero_errors_besides_connection_errors_at_the_kill" if kill else "zero_errors"): not counted,
        "all_acknowledged_stored": storage["conversations_missing_acknowledged_messages"] == 0
        and storage["stored_user_message_events"] >= storage["acknowledged_messages"],
        "all_tickets_stored": storage["tickets_returned_stored"] == storage["tickets_returned_distinct"],
    }


def show(label: str, result: dict[str, Any]) -> None:
    lat, storage, cpu = result["latency"]["all_turns"], result["storage"], result["cpu"]
    print(
        f"{label}: {result['workers']} worker(s), {result['turns_answered']} turns in {result['elapsed_s']} s = "
        f"{result['turns_per_s']} turns/s; p50 {lat.get('p50_ms')} ms, p95 {lat.get('p95_ms')} ms, max "
        f"{lat.get('max_ms')} ms; errors {result['errors']} {result['errors_by_kind']}; retried "
        f"{result['connection_errors_retried']}\n  cores busy: server {cpu['server_cores_busy']}, postgres "
        f"{cpu['postgres_cores_busy']} ({cpu['postgres_sessions_opened']} sessions opened), redis "
        f"{cpu['redis_cores_busy']}, chroma {cpu['chroma_cores_busy']}, client {cpu['client_cores_busy']}\n"
        f"  stored: {storage['stored_user_message_events']} user messages for "
        f"{storage['acknowledged_messages']} acknowledged ({storage['sent_messages']} sent, "
        f"{storage['stored_not_acknowledged']} stored but not acknowledged); tickets "
        f"{storage['tickets_returned_stored']}/{storage['tickets_returned_distinct']}; verdict {result['verdict']}",
        flush=True,
    )


# -- the scenarios --------------------------------------------------------------------------------------


def workers_scenario(st: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """(b) The same closed loop against each worker count in ``--compare``, a fresh deployment each."""
    out: dict[str, Any] = {}
    for n in args.compare:
        with st.deployment(n) as deployment:
            result = asyncio.run(run_load(deployment, args, args.conversations, args.seconds, (0, 0)))
        result["verdict"] = verdict(result)
        show(f"workers={n}", result)
        out[f"{n}_workers"] = result
    first, last = out[f"{args.compare[0]}_workers"], out[f"{args.compare[-1]}_workers"]
    out["ratio"] = {
        "of": f"{args.compare[-1]} workers / {args.compare[0]} worker(s)",
        "turns_per_s": round(last["turns_per_s"] / max(first["turns_per_s"], 1e-9), 2),
        "p95": round(last["latency"]["all_turns"]["p95_ms"] / max(first["latency"]["all_turns"]["p95_ms"], 1e-9), 2),
    }
    print(f"ratio {out['ratio']}", flush=True)
    return out


def soak_scenario(st: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """(c) Many people at a human pace for minutes; is anything growing?"""

    async def sampler(watch: Watch, started: float) -> dict[str, Any]:
        deadline = started + args.soak_seconds
        while True:
            now = time.monotonic()
            await asyncio.to_thread(watch.sample, now - started)
            if now >= deadline:
                break
            await asyncio.sleep(min(args.sample_every, max(0.0, deadline - time.monotonic())))
        return {"samples": watch.rows, "trends": soak_summary(watch.rows)}

    with st.deployment(args.soak_workers) as deployment:
        result = asyncio.run(
            run_load(deployment, args, args.soak_conversations, args.soak_seconds, (1.0, 3.0), during=sampler)
        )
    result["verdict"] = verdict(result)
    show("soak", result)
    for name in ("rss_mb_all_server_processes", "sockets_all_server_processes", "pg_connections", "redis_clients"):
        print(f"  {name}: {result['trends'].get(name)}", flush=True)
    return result


def kill_scenario(st: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """(d) SIGKILL one worker a third of the way in; clients retry what was never acknowledged."""

    async def killer(watch: Watch, started: float) -> dict[str, Any]:
        deployment = watch.deployment
        await asyncio.sleep(args.seconds / 3)
        before = set(deployment.worker_pids())
        startups = deployment.started_workers()
        if not before:
            return {"kill": {"error": "no worker process found under the supervisor"}}
        victim = sorted(before)[0]
        victim_cmd = cmdline(victim)
        watch.cpu()  # keep the victim's CPU so far
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        spawned_s = ready_s = None
        deadline = killed_at + max(60.0, args.seconds)
        while time.monotonic() < deadline and ready_s is None:
            now = time.monotonic()
            if spawned_s is None and set(deployment.worker_pids()) - before:
                spawned_s = now - killed_at
            if spawned_s is not None and deployment.started_workers() > startups:
                ready_s = now - killed_at
            await asyncio.sleep(0.05)
        return {
            "kill": {
                "at_s": round(killed_at - started, 1),
                "victim_pid": victim,
                "victim_cmdline": victim_cmd[:200],
                "workers_before": sorted(before),
                "workers_after": deployment.worker_pids(),
                "new_worker_process_after_s": round(spawned_s, 2) if spawned_s is not None else None,
                "new_worker_started_up_after_s": round(ready_s, 2) if ready_s is not None else None,
            }
        }

    with st.deployment(args.kill_workers) as deployment:
        result = asyncio.run(run_load(deployment, args, args.conversations, args.seconds, (0, 0), killer, retry=True))
    result["verdict"] = verdict(result, kill=True)
    show("kill", result)
    print(f"  {result['kill']}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="workers,soak,kill", help="any of workers, soak, kill (comma list)")
    parser.add_argument("--conversations", type=int, default=50, help="closed-loop clients for workers and kill")
    parser.add_argument("--seconds", type=float, default=60, help="length of the workers and kill runs")
    parser.add_argument("--compare", default="1,2", help="worker counts for the workers scenario")
    parser.add_argument("--soak-conversations", type=int, default=200)
    parser.add_argument("--soak-seconds", type=float, default=300)
    parser.add_argument("--soak-workers", type=int, default=2)
    parser.add_argument("--sample-every", type=float, default=10.0, help="soak sampling interval, seconds")
    parser.add_argument("--kill-workers", type=int, default=2)
    parser.add_argument("--stream-share", type=float, default=0.2, help="share of turns sent with stream: true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds of untimed turns from 5 clients per worker")
    parser.add_argument("--out", default="scale_load", help="bench/results/<out>.json")
    args = parser.parse_args()
    args.compare = [int(n) for n in args.compare.split(",")]
    chosen = [s.strip() for s in args.scenario.split(",") if s.strip()]
    unknown = set(chosen) - {"workers", "soak", "kill"}
    if unknown:
        parser.error(f"unknown scenario(s) {sorted(unknown)}: choose from workers, soak, kill")

    missing = missing_binaries()
    if missing:  # a benchmark, not a test: say so and leave, so `make bench` goes on with the others
        print("scale_load.py skipped, this machine lacks: " + "; ".join(missing), flush=True)
        return
    runners = {"workers": workers_scenario, "soak": soak_scenario, "kill": kill_scenario}
    results: dict[str, Any] = {}
    with stack() as st:
        print(f"PostgreSQL on port {st.cluster.port}; serve --workers supported: {st.workers_flag}", flush=True)
        for name in chosen:
            print(f"== {name}", flush=True)
            results[name] = runners[name](st, args)
    stack_note = "PostgreSQL 15 (fsync off, as the test cluster), chroma run, redis-server; all on this machine"
    path = save(args.out, {"stack": stack_note, "options": {k: v for k, v in vars(args).items()}, **results})
    print(f"saved {path}")


if __name__ == "__main__":
    main()
