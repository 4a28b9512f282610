#!/usr/bin/env bash
# Create .venv and install Firstline with its dev tools. Idempotent: a second run with an
# unchanged pyproject.toml does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
STAMP=.venv/.firstline-installed
if [[ -f $STAMP && $STAMP -nt pyproject.toml && -x .venv/bin/firstline ]]; then
    exit 0
fi
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned to the CPU build: otherwise sentence-transformers pulls a CUDA build (GBs).
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[dev]"
touch "$STAMP"
echo "Firstline installed in .venv"
