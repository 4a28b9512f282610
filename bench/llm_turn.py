"""One helpdesk turn of three model calls over HTTP: Firstline's runtime-built model against the raw SDK floor.

The turn: triage hands off to a specialist (``transfer_to_security``), the specialist calls one read tool
(``account_status``), then answers. A :class:`~firstline.testing.openai_server.FakeOpenAIServer` with zero
latency answers by request (the tools offered and the calls already made), in this process on 127.0.0.1,
so every row pays for the same server and what differs is the client side: SDK, pooling, event-loop hops,
the runner. Rows, all in the same run, interleaved in blocks so that drift on a noisy machine hits each
alike, ``--turns`` timed turns each after ``--warmup``:

* ``raw SDK floor``: one ``openai.AsyncOpenAI``, the same three request bodies Firstline sent (captured
  from the server during the warm-up), one after the other, with no agent logic: JSON answers, and
  streamed (``stream=True``, chunks read to the end).
* ``Firstline, worker thread``: ``Settings`` with ``llm.engine = "llm"`` and one endpoint at the fake server,
  ``build_engine(settings, None, io)`` (per-role fallback chains over the pooled ``OpenAICompatModel``) and
  ``firstline.agents.Runner`` over two agents, run the way the service runs a turn: on a worker thread,
  ``asyncio.run`` per turn (timed around ``asyncio.run``), the model calls hopping to the model-I/O loop.
* ``Firstline, LoopThreads worker``: the same on ``firstline.llm.pool.LoopThreads`` (a worker thread that keeps
  one event loop for its life: how ``TurnRunner`` runs turns once that change is in; skipped where it is not).
* ``Firstline, caller's loop``: the same runner awaited in the benchmark's own event loop.
* ``Firstline, on the I/O loop``: the whole turn run on the model-I/O loop, so its calls need no hop.
* ``Agents SDK``: the OpenAI Agents SDK (if installed: ``.venv/bin/pip install openai-agents``; it is not a
  Firstline dependency) with the same two agents, handoff and tool, tracing off, ``Runner.run`` and
  ``Runner.run_streamed``, on one ``AsyncOpenAI`` client.

Each row's median is divided by the floor's median (JSON and streamed) of the same table. ``connections`` is
how many TCP connections the server accepted during the row's timed turns: a pooled client opens none.

The whole set runs twice (``--server both``): with the fake server on a thread of this process, where its
work shares the GIL with the client being measured (every row pays the same, but the server's share
compresses the ratios), and with it in a child process, beside the client as a real server would be.

Usage: .venv/bin/python bench/llm_turn.py [--turns 200] [--warmup 20] [--block 10] [--server both|thread|process]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import openai

from _common import save, summary
from firstline.agents import Agent, Handoff, RunContext, Runner, tool
from firstline.llm.pool import ModelIO
from firstline.runtime import build_engine
from firstline.settings import load_settings
from firstline.testing.openai_server import FakeOpenAIServer, Turn

ASK = "I'm locked out of my account"
ANSWER = "Your account r.chen is active and not locked: sign in again, and tell me if it fails."
RUBY = "ruby.chen@nwmeridian.co.uk"
TRIAGE = "You route an employee's IT request to the right specialist. Hand off; do not answer yourself."
SECURITY = "You are the accounts and security specialist. Check the account before you answer."
SDK_FIELDS = {"messages", "model", "temperature", "max_tokens", "max_completion_tokens", "tools", "tool_choice",
              "parallel_tool_calls", "stream", "stream_options", "response_format"}  # fmt: skip

Timed = Callable[[], Awaitable[float]]  # runs one turn, returns its milliseconds


def answer(body: dict[str, Any]) -> Turn:
    """The model's side of the turn, by request: hand off, call the tool, then answer."""
    offered = [t["function"]["name"] for t in body.get("tools") or ()]
    called = {
        c["function"]["name"]
        for m in body["messages"]
        if m.get("role") == "assistant"
        for c in m.get("tool_calls") or ()
    }
    if "account_status" in called:
        return Turn(text=ANSWER)
    if "account_status" in offered:
        return Turn(tool_calls=[("account_status", {"username": "r.chen"})])
    handoff = next((name for name in offered if name.startswith("transfer_to_")), None)
    if handoff is not None:
        return Turn(tool_calls=[(handoff, {"reason": "locked out"})])
    return Turn(text=ANSWER)


def status_of(username: str) -> dict[str, Any]:
    return {"username": username, "locked": False, "disabled": False, "last_failed_login": None}


# -- Firstline ------------------------------------------------------------------------------------


def firstline_runner(url: str, data_dir: Path, io: ModelIO) -> Runner:
    settings = load_settings(
        data_dir=data_dir,
        llm={
            "engine": "llm",
            "endpoints": {"fake": {"preset": "vllm", "base_url": url, "model": "fake-model"}},
            "triage": ["fake"],
            "specialist": ["fake"],
        },
    )

    @tool
    def account_status(username: str) -> dict[str, Any]:
        """Look up a directory account: whether it is locked or disabled.

        Args:
            username: the account's username, e.g. "r.chen".
        """
        return status_of(username)

    security = Agent("security", SECURITY, tools=[account_status])
    triage = Agent("triage", TRIAGE, handoffs=[Handoff("security", "Accounts, passwords, MFA.")], model_role="triage")
    engine = build_engine(settings, cast(Any, None), io)  # no triage classifier: the offline last resort needs none
    return Runner({"triage": triage, "security": security}, engine)


async def firstline_turn(runner: Runner) -> str:
    result = await runner.run("triage", ASK, RunContext(requester=RUBY))
    return result.reply


def _loop_threads() -> Any:
    """``firstline.llm.pool.LoopThreads`` (worker threads that keep one event loop each), where this version has it."""
    try:
        from firstline.llm.pool import LoopThreads
    except ImportError:
        return None
    return LoopThreads(1, "bench-turn")


# -- the Agents SDK -------------------------------------------------------------------------------


def agents_sdk(url: str) -> tuple[Any, Any] | str:
    """(Runner, triage agent) of the OpenAI Agents SDK, or why it is missing."""
    try:
        import agents as sdk
    except ImportError:
        return "openai-agents is not installed (.venv/bin/pip install openai-agents)"
    sdk.set_tracing_disabled(True)
    client = openai.AsyncOpenAI(base_url=url, api_key="not-needed", max_retries=0)
    model = sdk.OpenAIChatCompletionsModel(model="fake-model", openai_client=client)

    @sdk.function_tool
    def account_status(username: str) -> dict[str, Any]:
        """Look up a directory account: whether it is locked or disabled.

        Args:
            username: the account's username, e.g. "r.chen".
        """
        return status_of(username)

    security = sdk.Agent(name="security", instructions=SECURITY, tools=[account_status], model=model)
    triage = sdk.Agent(name="triage", instructions=TRIAGE, handoffs=[security], model=model)
    return sdk.Runner, triage


# -- the floor ------------------------------------------------------------------------------------


def sdk_kwargs(body: dict[str, Any], stream: bool) -> dict[str, Any]:
    body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    kwargs = {k: v for k, v in body.items() if k in SDK_FIELDS}
    extra = {k: v for k, v in body.items() if k not in SDK_FIELDS}
    return kwargs | ({"extra_body": extra} if extra else {})


async def floor_turn(client: openai.AsyncOpenAI, bodies: list[dict[str, Any]], stream: bool) -> None:
    for body in bodies:
        if stream:
            chunks = await client.chat.completions.create(**sdk_kwargs(body, True))
            async with chunks:
                async for _ in chunks:
                    pass
        else:
            await client.chat.completions.create(**sdk_kwargs(body, False))


# -- the run --------------------------------------------------------------------------------------


def timer(turn: Callable[[], Awaitable[Any]]) -> Timed:
    async def timed() -> float:
        started = time.perf_counter()
        await turn()
        return (time.perf_counter() - started) * 1000

    return timed


def serve_in_child(pipe: Connection) -> None:
    """The fake server in a process of its own: sends its URL, then its connection count when asked."""
    with FakeOpenAIServer(default=answer, unique_call_ids=True) as server:
        pipe.send(server.url)
        while pipe.recv() != "stop":
            pipe.send(server.connections)


@contextmanager
def placed_server(where: str) -> Iterator[tuple[str, Callable[[], int]]]:
    """(URL, connections accepted so far) of a fake server in this process (``thread``) or a child one."""
    if where == "thread":
        with FakeOpenAIServer(default=answer, unique_call_ids=True) as server:
            yield server.url, lambda: server.connections
        return
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    child = multiprocessing.get_context("spawn").Process(target=serve_in_child, args=(theirs,), daemon=True)
    child.start()
    try:

        def count() -> int:
            ours.send("count")
            return int(ours.recv())

        yield str(ours.recv()), count
    finally:
        ours.send("stop")
        child.join(10)


async def capture_bodies(notes: list[str]) -> list[dict[str, Any]]:
    """The three request bodies Firstline's runner sends for the turn (the floor replays them)."""
    io = ModelIO("bench-capture")
    with FakeOpenAIServer(default=answer, unique_call_ids=True) as server, tempfile.TemporaryDirectory() as data:
        assert await firstline_turn(firstline_runner(server.url, Path(data), io)) == ANSWER
        bodies = list(server.requests)
    io.close()
    streamed = [bool(b.get("stream")) for b in bodies]
    assert len(bodies) == 3, f"expected three model calls, the server saw {len(bodies)}"
    notes.append(f"Firstline's runner sent its three calls {'streamed' if all(streamed) else 'as JSON'}"
                 f" (stream flags {streamed})")  # fmt: skip
    return bodies


async def measure(
    where: str, bodies: list[dict[str, Any]], turns: int, warmup: int, block: int, notes: list[str]
) -> list[dict[str, Any]]:
    io = ModelIO("bench-model-io")
    with placed_server(where) as (url, connections_so_far), tempfile.TemporaryDirectory() as data_dir:
        runner = firstline_runner(url, Path(data_dir), io)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="firstline-turn")
        loop = asyncio.get_running_loop()

        def on_worker() -> float:  # what TurnRunner does for each turn
            started = time.perf_counter()
            reply = asyncio.run(firstline_turn(runner))
            elapsed = (time.perf_counter() - started) * 1000
            assert reply == ANSWER, reply
            return elapsed

        async def worker_row() -> float:
            return await loop.run_in_executor(pool, on_worker)

        loop_threads = _loop_threads()

        client = openai.AsyncOpenAI(base_url=url, api_key="not-needed", max_retries=0)
        rows: dict[str, Timed] = {
            "raw SDK floor (JSON)": timer(lambda: floor_turn(client, bodies, False)),
            "raw SDK floor (streamed)": timer(lambda: floor_turn(client, bodies, True)),
            "Firstline, worker thread + asyncio.run per turn": worker_row,
            "Firstline, caller's loop": timer(lambda: firstline_turn(runner)),
            "Firstline, on the model-I/O loop (no hops)": timer(lambda: io.call(lambda: firstline_turn(runner))),
        }
        if loop_threads is not None:
            threads = loop_threads

            def on_loop_thread() -> float:  # what TurnRunner does since it keeps one loop per worker
                started = time.perf_counter()
                reply = threads.run(lambda: firstline_turn(runner))
                elapsed = (time.perf_counter() - started) * 1000
                assert reply == ANSWER, reply
                return elapsed

            async def loop_thread_row() -> float:
                return await loop.run_in_executor(threads.executor, on_loop_thread)

            rows["Firstline, LoopThreads worker (one loop per thread)"] = loop_thread_row
        sdk = agents_sdk(url)
        if isinstance(sdk, str):
            if where == "thread":
                notes.append(f"Agents SDK rows skipped: {sdk}")
        else:
            sdk_runner, sdk_triage = sdk

            async def sdk_streamed() -> None:
                result = sdk_runner.run_streamed(sdk_triage, ASK)
                async for _ in result.stream_events():
                    pass

            rows["Agents SDK Runner.run"] = timer(lambda: sdk_runner.run(sdk_triage, ASK))
            rows["Agents SDK Runner.run_streamed"] = timer(sdk_streamed)
            result = await sdk_runner.run(sdk_triage, ASK)
            assert result.final_output == ANSWER, result.final_output
        for row in rows.values():  # warm-up: connections, code paths, caches
            for _ in range(warmup):
                await row()
        samples: dict[str, list[float]] = {name: [] for name in rows}
        connections = dict.fromkeys(rows, 0)
        while any(len(s) < turns for s in samples.values()):
            for name, row in rows.items():
                before = connections_so_far()
                for _ in range(min(block, turns - len(samples[name]))):
                    samples[name].append(await row())
                connections[name] += connections_so_far() - before
        pool.shutdown()
        if loop_threads is not None:
            loop_threads.shutdown()
        await client.close()
    io.close()
    floor_json = summary(samples["raw SDK floor (JSON)"])["median_ms"]
    floor_stream = summary(samples["raw SDK floor (streamed)"])["median_ms"]
    results = []
    for name, values in samples.items():
        stats = summary(values)
        results.append({"row": name, **stats, "x_floor_json": round(stats["median_ms"] / floor_json, 2),
                        "x_floor_streamed": round(stats["median_ms"] / floor_stream, 2),
                        "connections": connections[name]})  # fmt: skip
    return results


async def main(placements: list[str], turns: int, warmup: int, block: int) -> dict[str, Any]:
    notes: list[str] = []
    try:
        import agents

        notes.append(f"OpenAI Agents SDK {agents.__version__}, tracing disabled")
    except ImportError:
        pass
    bodies = await capture_bodies(notes)
    runs = {where: await measure(where, bodies, turns, warmup, block, notes) for where in placements}
    return {"turns": turns, "warmup": warmup, "block": block, "openai": openai.__version__, "notes": notes,
            "servers": runs}  # fmt: skip


PLACES = {
    "thread": "fake server on a thread of this process (its work shares the GIL with the client's)",
    "process": "fake server in a child process (its work runs beside the client's, as a real server's would)",
}


def show(data: dict[str, Any]) -> None:
    for where, rows in data["servers"].items():
        print(f"\n{PLACES[where]}; {data['turns']} turns per row")
        print(f"{'row':<52} {'p50 ms':>8} {'p95 ms':>8} {'x floor':>8} {'x strm':>8} {'conns':>6}")
        for r in rows:
            print(f"{r['row']:<52} {r['median_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['x_floor_json']:>8.2f}"
                  f" {r['x_floor_streamed']:>8.2f} {r['connections']:>6}")  # fmt: skip
    print("x floor / x strm: the row's median over the raw SDK floor's (JSON / streamed) in the same table")
    for note in data["notes"]:
        print(f"note: {note}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--block", type=int, default=10, help="turns of one row before the next row's")
    parser.add_argument("--server", choices=["both", *PLACES], default="both", help="where the fake server runs")
    args = parser.parse_args()
    places = list(PLACES) if args.server == "both" else [args.server]
    data = asyncio.run(main(places, args.turns, args.warmup, args.block))
    show(data)
    print(f"wrote {save('llm_turn', data)}")
