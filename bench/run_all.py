"""Run every benchmark in turn (about 50-60 minutes on 2 cores); results land in bench/results/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script, extra in (
    ("startup.py", []),
    ("retrieval_quality.py", []),
    ("retrieval_speed.py", ["--chunks", "20000", "--words", "40"]),
    ("triage.py", []),
    ("helpdesk.py", []),
    ("turn_cpu.py", []),
    ("load.py", ["--think", "0,1-3"]),
    ("scale_load.py", []),
    ("webchat_load.py", []),
    ("redaction.py", []),
    ("llm_turn.py", []),
    ("service_ttft.py", []),
    ("turn_budget.py", []),
    ("prompt_tokens.py", []),
    ("ticket_sync.py", []),
    ("live_notices.py", []),
):
    print(f"== {script} {' '.join(extra)}", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *extra], check=True, cwd=HERE)
