"""Queues for the job tests: SQLite in a tmp folder, or the session's redis-server under a fresh prefix."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from firstline.jobs import DeadLetters, Jobs
from firstline.jobs_settings import JobsSettings
from firstline.localdb import open_database
from firstline.sqlstore.transactions import Transactions
from firstline.testing.redis import RedisServer

FAST = JobsSettings(retries=2, retry_delay_s=0.05, retry_backoff=2.0, lease_s=1.0, poll_s=0.02, periodic_s=0.2)

MakeJobs = Callable[..., Jobs]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Transactions]:
    db = open_database(f"sqlite:///{tmp_path / 'tickets.db'}")
    yield db
    db.close()


@pytest.fixture(params=["sqlite", "redis"])
def make_jobs(request: pytest.FixtureRequest, tmp_path: Path, database: Transactions) -> Iterator[MakeJobs]:
    """Build queues on one backend; every queue a test builds shares the same storage (several workers)."""
    made: list[Jobs] = []
    prefix = f"t{uuid.uuid4().hex[:10]}"

    def make(settings: JobsSettings = FAST) -> Jobs:
        dead = DeadLetters(database)
        if request.param == "sqlite":
            jobs = Jobs.sqlite(tmp_path / "jobs.db", dead, settings)
        else:
            server: RedisServer = request.getfixturevalue("redis")
            jobs = Jobs.redis(server.url, dead, settings, prefix=prefix)
        made.append(jobs)
        return jobs

    yield make
    for jobs in made:
        jobs.close()


@pytest.fixture
def fast() -> JobsSettings:
    """Short retries, leases and rounds, so the tests take milliseconds."""
    return FAST


Drain = Callable[[Jobs, Callable[[], bool]], None]


@pytest.fixture
def drain() -> Drain:
    return run_until


def run_until(jobs: Jobs, done: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Run jobs, due retries and lease checks until ``done()`` (fails after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "the jobs did not finish in time"
        jobs.tick()
        if not jobs.run_one():
            time.sleep(0.01)
