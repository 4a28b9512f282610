"""``firstline jobs``: list, dead, retry, discard, enqueue and a one-off ``work --until-idle`` run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from firstline.cli.main import app
from firstline.jobs import DeadLetters
from firstline.localdb import open_database

runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), terminal_width=200)


@pytest.fixture
def buried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A reingest job that died (the data folder is the one the isolated environment points at)."""
    monkeypatch.setenv("FIRSTLINE_KNOWLEDGE__INGEST_DEMO_RUNBOOKS", "false")  # a re-ingest of nothing: quick
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'tickets.db'}")
    try:
        DeadLetters(db).record("job-1", "reingest", {}, "TimeoutError: store did not answer", 6, datetime.now(UTC))
    finally:
        db.close()
    return "job-1"


def test_dead_jobs_are_listed_retried_and_run_by_a_one_off_worker(buried: str) -> None:
    shown = cli("jobs", "dead", "--json")
    assert shown.exit_code == 0, shown.output
    (dead,) = json.loads(shown.output)
    assert dead["id"] == buried and dead["error"] == "TimeoutError: store did not answer"
    retried = cli("jobs", "retry", buried)
    assert retried.exit_code == 0 and "Queued again as job" in retried.output
    listing = json.loads(cli("jobs", "list", "--json").output)
    assert (listing["queued"], listing["dead"]) == (1, 0) and listing["waiting"][0]["kind"] == "reingest"
    worked = cli("jobs", "work", "--until-idle")
    assert worked.exit_code == 0 and "1 job(s) run" in worked.output, worked.output
    assert json.loads(cli("jobs", "list", "--json").output)["queued"] == 0


def test_unknown_ids_kinds_and_bad_payloads_are_refused(buried: str) -> None:
    assert cli("jobs", "retry", "nope").exit_code == 1
    assert cli("jobs", "discard", "nope").exit_code == 1
    unknown = cli("jobs", "enqueue", "mop_floor")
    assert unknown.exit_code == 2 and "known kinds" in unknown.output
    assert cli("jobs", "enqueue", "ingest", "--payload", "[1]").exit_code == 2
    assert cli("jobs", "discard", buried).exit_code == 0
    assert json.loads(cli("jobs", "dead", "--json").output) == []
