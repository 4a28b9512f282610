# One command per job. `make run` installs and starts Firstline; `make check` runs every check CI runs.
.PHONY: install run check format lint types layers test bench

VENV := .venv/bin
# The suite runs in two processes, a test file at a time on each (pytest-xdist): its servers, browsers and
# generated conversations keep one core busy at most, so two halve the wall time left idle. Schemathesis's
# tests give every API operation the same node id, which xdist cannot schedule: that module runs on its own.
ONE_PROCESS := tests/service/test_schemathesis.py
PYTEST := $(VENV)/python -m pytest -n 2 --dist loadfile --ignore=$(ONE_PROCESS) && $(VENV)/python -m pytest $(ONE_PROCESS)

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
	$(PYTEST)

format: install
	$(VENV)/ruff format src tests bench
	$(VENV)/ruff check --fix src tests bench

test: install
	$(PYTEST)

bench: install
	$(VENV)/python bench/run_all.py
