"""CPU time per offline turn, in-process, against an older commit in the same run, with a profile of each.

The shipped scenarios' user turns (as ``bench/helpdesk.py`` plays them) run through ``Helpdesk.ask`` on the
default runtime (SQLite, embedded Chroma, the demo runbooks) after a warm-up; the process's CPU time (every
thread: ONNX Runtime's too) over the timed turns, divided by the turns, is the figure. ``--baseline REV``
checks REV out into a temporary git worktree and plays the same turns with that source tree
(``PYTHONPATH``), alternating baseline and current ``--rounds`` times in fresh processes so that a noisy
machine slows both alike; the ratio of the medians is the result to trust, not the absolute numbers.

``--profile`` adds one more profiled round of each (cProfile, on the turn's thread) and reports where the
time went: the top functions by own time, and own time summed by area (SQLAlchemy, the sqlite3 driver,
redaction, ONNX Runtime, Chroma, directory records, ...).

Usage: .venv/bin/python bench/turn_cpu.py [--baseline a4cb890] [--rounds 3] [--repeats 2] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, save

AREAS = {  # own time of functions whose file path contains the key
    "sqlalchemy": "sqlalchemy",
    "sqlite3 driver": "method 'execute' of 'sqlite3",
    "sqlite3 commit": "method 'commit' of 'sqlite3",
    "redaction": "firstline/redaction",
    "onnxruntime": "onnxruntime",
    "chromadb": "chromadb",
    "directory records": "firstline/directory/records",
    "regular expressions": "re.Pattern",
    "json": "json/",
}


async def play(repeats: int, profile: bool) -> dict[str, Any]:
    """One round in this process (with whichever ``firstline`` is on the path)."""
    from firstline.evals.scenarios import load_scenarios
    from firstline.runtime import Runtime, demo_runbooks
    from firstline.settings import load_settings

    scenarios = load_scenarios()
    with tempfile.TemporaryDirectory() as data_dir, Runtime(load_settings(data_dir=Path(data_dir))) as runtime:
        runtime.knowledge.ingest([demo_runbooks()])
        desk = runtime.helpdesk
        sent: dict[str, str] = {}
        desk.deps.codes._deliver = lambda who, code, channel: sent.__setitem__(who.lower(), code)
        for text in ("hello", "my vpn keeps dropping", "printer LON-F3-HP-01 is offline"):
            await desk.ask(text, requester="tomasz.nowicki@nwmeridian.co.uk")
        profiler = cProfile.Profile() if profile else None
        turns = 0
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        for _ in range(repeats):
            for scenario in scenarios:
                conversation = None
                for turn in scenario.turns:
                    if "user" not in turn:
                        break
                    text = str(turn["user"]).replace("{code}", sent.get((scenario.requester or "").lower(), "0"))
                    if "{ticket:" in text:
                        break
                    reply = await desk.ask(text, requester=scenario.requester, conversation_id=conversation)
                    conversation = reply.conversation_id
                    turns += 1
        if profiler is not None:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    result: dict[str, Any] = {
        "turns": turns,
        "cpu_ms_per_turn": round(cpu / turns * 1000, 2),
        "wall_ms_per_turn": round(wall / turns * 1000, 2),
    }
    if profiler is not None:
        result["profile"] = summarise(profiler, turns)
    return result


def summarise(profiler: cProfile.Profile, turns: int) -> dict[str, Any]:
    stats = pstats.Stats(profiler)
    rows = stats.stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in rows.values())
    areas = dict.fromkeys(AREAS, 0.0)
    for (path, line, name), row in rows.items():
        where = f"{path}:{line}({name})" if path != "~" else name
        for area, key in AREAS.items():
            if key in where:
                areas[area] += row[2]
                break
    top = sorted(rows.items(), key=lambda item: item[1][2], reverse=True)[:15]
    return {
        "profiled_ms_per_turn": round(total / turns * 1000, 2),
        "own_ms_per_turn_by_area": {k: round(v / turns * 1000, 2) for k, v in areas.items()},
        "top_own_time": [
            {
                "function": f"{Path(p).name}:{line}({name})" if p != "~" else name,
                "ms_per_turn": round(r[2] / turns * 1000, 3),
                "calls_per_turn": round(r[1] / turns, 1),
            }
            for (p, line, name), r in top
        ],
    }


def round_in_child(source: Path, repeats: int, profile: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(source)}
    command = [sys.executable, __file__, "--child", "--repeats", str(repeats), *(["--profile"] if profile else [])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=ROOT / "bench")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="", help="a git revision to compare with (worktree in a temp dir)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="passes over the scenarios per round")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(play(args.repeats, args.profile))))
        return
    trees = {"current": ROOT / "src"}
    with tempfile.TemporaryDirectory() as scratch:
        if args.baseline:
            worktree = Path(scratch) / "baseline"
            subprocess.run(
                ["git", "worktree", "add", "--detach", "-q", str(worktree), args.baseline], cwd=ROOT, check=True
            )
            trees = {"baseline": worktree / "src", **trees}
        try:
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
            for i in range(args.rounds):
                for name, source in trees.items():
                    rounds[name].append(round_in_child(source, args.repeats, profile=False))
                    print(f"round {i + 1} {name}: {rounds[name][-1]}", flush=True)
            profiles = (
                {name: round_in_child(source, 1, profile=True) for name, source in trees.items()}
                if args.profile
                else {}
            )
        finally:
            if args.baseline:
                subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
    result: dict[str, Any] = {"baseline_rev": args.baseline or None, "rounds": args.rounds, "repeats": args.repeats}
    for name, runs in rounds.items():
        result[name] = {
            "turns": runs[0]["turns"],
            "cpu_ms_per_turn_median": statistics.median(r["cpu_ms_per_turn"] for r in runs),
            "wall_ms_per_turn_median": statistics.median(r["wall_ms_per_turn"] for r in runs),
            "runs": runs,
            **({"profile": profiles[name]["profile"]} if name in profiles else {}),
        }
    if args.baseline:
        result["cpu_ratio_current_to_baseline"] = round(
            result["current"]["cpu_ms_per_turn_median"] / result["baseline"]["cpu_ms_per_turn_median"], 3
        )
    path = save("turn_cpu", result)
    print(json.dumps({k: v for k, v in result.items() if k in ("baseline_rev", "cpu_ratio_current_to_baseline")}))
    for name in trees:
        r = result[name]
        print(f"{name}: cpu {r['cpu_ms_per_turn_median']} ms/turn, wall {r['wall_ms_per_turn_median']} ms/turn")
        if "profile" in r:
            print(f"  by area (own ms/turn, profiled): {r['profile']['own_ms_per_turn_by_area']}")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
