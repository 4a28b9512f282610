"""The job queue on SQLite and on a real redis-server: retries with a growing delay, dead letters (redacted),
retry from the dead, deduplicated triggers, and two consumers that never run one job twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from firstline.errors import InputError
from firstline.jobs import Consumer, Jobs
from firstline.jobs_settings import JobsSettings

MakeJobs = Callable[..., Jobs]
Drain = Callable[[Jobs, Callable[[], bool]], None]


def test_a_job_runs_with_its_payload(make_jobs: MakeJobs, drain: Drain) -> None:
    jobs = make_jobs()
    seen: list[dict[str, Any]] = []
    jobs.register("note", seen.append)
    job_id = jobs.enqueue("note", {"n": 1})
    assert jobs.counts().queued == 1
    drain(jobs, lambda: bool(seen))
    assert seen == [{"n": 1}] and job_id
    assert jobs.counts().queued == 0 and jobs.counts().running == 0


def test_failures_are_retried_with_growing_delays_then_recorded_dead_and_redacted(
    make_jobs: MakeJobs, drain: Drain, fast: JobsSettings
) -> None:
    jobs = make_jobs()
    tried: list[float] = []

    def broken(payload: dict[str, Any]) -> None:
        tried.append(time.monotonic())
        raise ConnectionError("vendor down")

    jobs.register("push", broken)
    job_id = jobs.enqueue("push", {"ticket": "INC0001", "password": "hunter2-secret"})
    drain(jobs, lambda: jobs.dead.count() == 1)
    assert len(tried) == fast.retries + 1
    first_wait, second_wait = tried[1] - tried[0], tried[2] - tried[1]
    assert first_wait >= fast.retry_delay_s * 0.9 and second_wait >= fast.retry_delay_s * fast.retry_backoff * 0.9
    (dead,) = jobs.dead.list()
    assert dead.id == job_id and dead.kind == "push" and dead.attempts == 3
    assert "ConnectionError: vendor down" in dead.error
    assert dead.payload["ticket"] == "INC0001" and "hunter2" not in str(dead.payload)
    assert dead.first_tried_at <= dead.last_tried_at
    counts = jobs.counts()
    assert (counts.queued, counts.scheduled, counts.dead) == (0, 0, 1)


def test_a_dead_job_retried_runs_again_and_leaves_the_dead_list(make_jobs: MakeJobs, drain: Drain) -> None:
    jobs = make_jobs()
    healthy = threading.Event()
    ran: list[dict[str, Any]] = []

    def flaky(payload: dict[str, Any]) -> None:
        if not healthy.is_set():
            raise RuntimeError("not yet")
        ran.append(payload)

    jobs.register("flaky", flaky, retries=0)
    job_id = jobs.enqueue("flaky", {"path": "/srv/runbooks/vpn.md"})
    drain(jobs, lambda: jobs.dead.count() == 1)
    healthy.set()
    assert jobs.retry_dead("no-such-job") is None
    new_id = jobs.retry_dead(job_id)
    assert new_id and jobs.dead.count() == 0
    assert jobs.retry_dead(job_id) is None  # taken once
    drain(jobs, lambda: bool(ran))
    assert ran == [{"path": "/srv/runbooks/vpn.md"}]


def test_discarding_a_dead_job_removes_it(make_jobs: MakeJobs, drain: Drain) -> None:
    jobs = make_jobs()

    def fail(payload: dict[str, Any]) -> None:
        raise ValueError("bad")

    jobs.register("bad", fail, retries=0)
    job_id = jobs.enqueue("bad")
    drain(jobs, lambda: jobs.dead.count() == 1)
    assert jobs.discard_dead(job_id) is True
    assert jobs.discard_dead(job_id) is False and jobs.dead.count() == 0


def test_a_burst_of_triggers_queues_one_round_and_a_trigger_during_a_run_queues_the_next(make_jobs: MakeJobs) -> None:
    jobs = make_jobs()
    rounds: list[int] = []
    triggered_inside: list[str] = []

    def send(payload: dict[str, Any]) -> None:
        rounds.append(1)
        if len(rounds) == 1:
            triggered_inside.append(jobs.enqueue("send_mail"))

    jobs.register("send_mail", send, dedupe=True)
    ids = {jobs.enqueue("send_mail") for _ in range(50)}
    assert len(ids) == 1 and jobs.counts().queued == 1
    assert jobs.run_one() and len(rounds) == 1
    assert triggered_inside[0] not in ids and jobs.counts().queued == 1  # the mail that came during the run
    assert jobs.run_one() and len(rounds) == 2
    assert not jobs.run_one()


def test_unknown_kinds_and_payloads_that_are_not_json_are_refused(make_jobs: MakeJobs) -> None:
    jobs = make_jobs()
    jobs.register("note", lambda payload: None)
    with pytest.raises(InputError, match="known kinds: note"):
        jobs.enqueue("nope")
    with pytest.raises(InputError, match="must be JSON"):
        jobs.enqueue("note", {"when": object()})
    assert jobs.counts().queued == 0


def test_two_consumers_never_run_one_job_twice(make_jobs: MakeJobs) -> None:
    first, second = make_jobs(), make_jobs()
    ran: list[int] = []
    lock = threading.Lock()

    def count(payload: dict[str, Any]) -> None:
        time.sleep(0.002)
        with lock:
            ran.append(int(payload["n"]))

    for jobs in (first, second):
        jobs.register("count", count)
    for n in range(40):
        first.enqueue("count", {"n": n})
    consumers = [Consumer(first, 2, periodic=False).start(), Consumer(second, 2, periodic=False).start()]
    try:
        deadline = time.monotonic() + 15
        while len(ran) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        for consumer in consumers:
            consumer.stop()
    assert sorted(ran) == list(range(40))


def test_periodic_kinds_are_queued_once_by_every_consumer_clock(make_jobs: MakeJobs) -> None:
    first, second = make_jobs(), make_jobs()
    for jobs in (first, second):
        jobs.register("sync", lambda payload: None, dedupe=True, periodic=True)
        jobs.register("other", lambda payload: None)
    assert len(set(first.enqueue_periodic() + second.enqueue_periodic())) == 1
    assert first.counts().queued == 1
