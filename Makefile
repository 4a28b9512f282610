# One command per job. `make run` installs and starts Firstline; `make check` runs every check CI runs.
.PHONY: install run check format lint types layers test bench

VENV := .venv/bin

install:
	@scripts/install.sh

run: install
	$(VENV)/firstline serve

check: install
	@scripts/services.sh
	$(VENV)/ruff format --check src tests bench
	$(VENV)/ruff check src tests bench
	$(VENV)/mypy
	$(VENV)/lint-imports
	$(VENV)/python -m pytest

format: install
	$(VENV)/ruff format src tests bench
	$(VENV)/ruff check --fix src tests bench

test: install
	$(VENV)/python -m pytest

bench: install
	$(VENV)/python bench/run_all.py
