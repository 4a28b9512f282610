"""Start-up: wall time from launching `firstline kb search` to its answer, on a warm install.

Ingests the demo runbooks into a temporary data folder once, then launches the command N times
(default 7) and reports median and p95. The ONNX export of the model is cached before timing.

Usage: .venv/bin/python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

from _common import ROOT, save, summary

FIRSTLINE = str(ROOT / ".venv" / "bin" / "firstline")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "FIRSTLINE_DATA_DIR": data_dir}
        subprocess.run([FIRSTLINE, "kb", "ingest"], env=env, check=True, capture_output=True)
        samples = []
        for _ in range(args.runs):
            started = time.perf_counter()
            done = subprocess.run(
                [FIRSTLINE, "kb", "search", "my vpn keeps dropping", "-k", "3"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            samples.append((time.perf_counter() - started) * 1000)
            assert "VPN" in done.stdout, done.stdout
    result = {"command": "firstline kb search 'my vpn keeps dropping' -k 3", "latency": summary(samples)}
    print(result)
    path = save("startup", result)
    print(f"saved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
