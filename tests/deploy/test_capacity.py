"""``bench/capacity.py`` and the capacity model in ``docs/deploy.md``.

The docs show the tables the script printed; these tests keep the two from drifting apart (the tables
in the docs are the ones in ``bench/results/capacity.json``, and those follow from the measured inputs
and the assumptions saved beside them). The measuring parts run for real on a small scale: the
statement counter on a SQLite engine, and the vector-store measurement on a ``chroma run`` server.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from firstline.testing.live import cannot_start


@pytest.fixture(scope="module")
def capacity(repo: Path) -> Iterator[ModuleType]:
    """bench/capacity.py as a module (bench/ is not a package); registered while the tests use it."""
    name = "firstline_bench_capacity"
    spec = importlib.util.spec_from_file_location(name, repo / "bench" / "capacity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def saved(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / "bench" / "results" / "capacity.json").read_text())
    return data


def test_the_docs_show_the_tables_the_script_printed(repo: Path, saved: dict[str, Any]) -> None:
    docs = (repo / "docs" / "deploy.md").read_text()
    assert saved["table_markdown"] in docs
    assert saved["table_incident_markdown"] in docs
    assert saved["machine"]["date"][:10] in docs


def test_the_saved_plan_follows_from_the_saved_inputs(capacity: ModuleType, saved: dict[str, Any]) -> None:
    assumptions = capacity.Assumptions(**saved["assumptions"])
    measured = saved["measured"]
    for key, share in (("plan", assumptions.peak_share), ("plan_incident", assumptions.incident_share)):
        again = [
            capacity.plan(size, measured["cpu"], measured["database"], measured["vectors"], assumptions, share)
            for size in capacity.SIZES
        ]
        assert again == saved[key]
    assert capacity.markdown(saved["plan"]) == saved["table_markdown"]


def test_the_model_scales_with_its_inputs(capacity: ModuleType, saved: dict[str, Any]) -> None:
    """Twice the CPU per turn, twice the cores; twice the share of writers, twice the commits."""
    measured = saved["measured"]
    base = capacity.Assumptions(**saved["assumptions"])
    one = capacity.plan(100_000, measured["cpu"], measured["database"], measured["vectors"], base, 0.3)
    slower = {**measured["cpu"], "cpu_ms_per_turn": measured["cpu"]["cpu_ms_per_turn"] * 2}
    two = capacity.plan(100_000, slower, measured["database"], measured["vectors"], base, 0.3)
    assert two["cpu_cores"] == pytest.approx(one["cpu_cores"] * 2, rel=0.01)
    busier = capacity.plan(100_000, measured["cpu"], measured["database"], measured["vectors"], base, 0.6)
    assert busier["db_commits_per_s"] == pytest.approx(one["db_commits_per_s"] * 2, rel=0.01)
    assert one["pods"] * base.cores_per_pod >= one["cpu_cores"]


def test_the_statement_counter_counts_statements_writes_and_commits(capacity: ModuleType) -> None:
    engine = create_engine("sqlite://")
    counter = capacity.StatementCounter()
    try:
        with engine.begin() as conn:  # not counted: the counter is off
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with counter.listening():
            counter.on = True
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))
                conn.execute(text("UPDATE t SET x = 2"))
                conn.execute(text("SELECT x FROM t")).all()
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM t"))
        with engine.begin() as conn:  # after listening(): not counted
            conn.execute(text("INSERT INTO t VALUES (3)"))
    finally:
        engine.dispose()
    per_turn = counter.per_turn(2)
    assert per_turn["statements"] == 2.0  # 4 statements over 2 turns
    assert per_turn["writes"] == 1.5
    assert per_turn["commits"] == 1.0
    assert per_turn["by_verb"]["SELECT"] == 0.5


@pytest.mark.live
def test_vectors_per_gb_is_measured_on_a_chroma_server(capacity: ModuleType) -> None:
    if not (Path(sys.executable).parent / "chroma").exists():
        cannot_start("the `chroma` executable is missing; install chromadb in this environment")
    found = capacity.measure_vectors(300)
    layout, documents = found["firstline_layout"], found["with_documents"]
    assert layout["vectors"] == documents["vectors"] == 300
    assert layout["bytes_per_vector"] >= 384 * 4  # at least the float32 vector itself
    assert documents["bytes_per_vector"] > layout["bytes_per_vector"]  # the documents take room too
    assert layout["vectors_per_gb"] == round(300 / (layout["bytes"] / 1e9))
