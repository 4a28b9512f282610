"""The helpdesk on the offline engine: turn latency, and the memory of an idle `firstline serve`.

Turn latency: builds the default runtime in a temporary data folder (SQLite tickets and directory,
embedded Chroma, the demo runbooks), warms it up, then plays the user turns of every shipped
scenario (``--repeats`` times, each scenario in a new conversation) and times each ``ask`` —
triage, tools, retrieval, ticket writes and the conversation log included. Approval turns are
decided too (they are turns the requester waits for).

Memory: starts ``firstline serve`` on a free port with its own data folder, waits for ``/ready``,
idles 10 s, and reads the resident set size (VmRSS) of the process; then sends 50 ``/v1/ask``
requests and reads it again.

Usage: .venv/bin/python bench/helpdesk.py [--repeats 3] [--skip-memory]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import ROOT, save, summary
from firstline.evals.scenarios import load_scenarios
from firstline.runtime import Runtime, demo_runbooks
from firstline.settings import load_settings

FIRSTLINE = str(ROOT / ".venv" / "bin" / "firstline")


async def turns(repeats: int) -> dict[str, Any]:
    scenarios = load_scenarios()
    with tempfile.TemporaryDirectory() as data_dir, Runtime(load_settings(data_dir=Path(data_dir))) as runtime:
        runtime.knowledge.ingest([demo_runbooks()])
        desk = runtime.helpdesk
        sent: dict[str, str] = {}
        desk.deps.codes._deliver = lambda who, code, channel: sent.__setitem__(who.lower(), code)
        for text in ("hello", "my vpn keeps dropping", "printer LON-F3-HP-01 is offline"):  # warm-up
            await desk.ask(text, requester="tomasz.nowicki@nwmeridian.co.uk")
        samples: list[float] = []
        by_agent: dict[str, list[float]] = {}
        for _ in range(repeats):
            for scenario in scenarios:
                conversation = None
                requester = scenario.requester
                for turn in scenario.turns:
                    started = time.perf_counter()
                    if "user" in turn:
                        text = str(turn["user"]).replace("{code}", sent.get((requester or "").lower(), "000000"))
                        if "{ticket:" in text:
                            break  # needs the scenario's setup tickets; not part of the latency sample
                        reply = await desk.ask(text, requester=requester, conversation_id=conversation)
                        conversation = reply.conversation_id
                    else:
                        pending = runtime.conversations.approvals("pending", conversation)
                        if not pending:
                            break
                        decision = turn.get("approve") or turn.get("deny") or {}
                        try:
                            reply = await desk.decide(
                                pending[0].id, approved="approve" in turn, decided_by=str(decision.get("by"))
                            )
                        except Exception:  # an approver check that depends on scenario setup
                            break
                    elapsed = (time.perf_counter() - started) * 1000
                    samples.append(elapsed)
                    by_agent.setdefault(reply.agent or "desk", []).append(elapsed)
        stored = runtime.conversations.count()
    return {
        "turns": summary(samples),
        "by_agent": {agent: summary(values) for agent, values in sorted(by_agent.items())},
        "scenarios": len(scenarios),
        "repeats": repeats,
        "stored": stored,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


def memory() -> dict[str, Any]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "FIRSTLINE_DATA_DIR": data_dir}
        server = subprocess.Popen(
            [FIRSTLINE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            started = time.perf_counter()
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if time.perf_counter() - started > 300:
                    raise RuntimeError("serve did not become ready in 300 s")
                time.sleep(0.5)
            ready_s = time.perf_counter() - started
            # The API needs an identity: an agent-role key that speaks for the demo employee.
            made = subprocess.run([FIRSTLINE, "keys", "create", "--name", "bench", "--role", "agent"], env=env,
                                  capture_output=True, text=True, check=True)  # fmt: skip
            key = made.stdout.strip().splitlines()[-1]
            time.sleep(10)
            idle = _rss_mb(server.pid)
            for i in range(50):
                body = json.dumps({"text": f"my vpn keeps dropping ({i})", "user": "kwame.mensah@nwmeridian.co.uk"})
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/v1/ask",
                    body.encode(),
                    {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    json.load(response)
            after = _rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"ready_s": round(ready_s, 1), "idle_rss_mb": idle, "rss_after_50_asks_mb": after}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"offline_engine": asyncio.run(turns(args.repeats))}
    if not args.skip_memory:
        result["serve_memory"] = memory()
    path = save("helpdesk", result)
    print(json.dumps(result, indent=2))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
