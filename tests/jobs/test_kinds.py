"""Firstline's job kinds against real components: a stored mail queues a ``send_mail`` job that hands it to an
SMTP server (aiosmtpd), and a ticket change queues a ``ticket_sync`` job that files it in a ServiceNow fake."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from firstline.channels.smtp import shared_worker
from firstline.jobs import Jobs
from firstline.runtime import Runtime
from firstline.settings import load_settings
from firstline.testing.servicenow_fake import FakeServiceNow
from firstline.testing.smtp_server import CapturingSmtp
from firstline.testing.ticketing import new_ticket

FAST = {"retries": 1, "retry_delay_s": 0.05, "lease_s": 1.0, "poll_s": 0.02}
Drain = Callable[[Jobs, Callable[[], bool]], None]


@pytest.fixture
def smtp() -> Iterator[CapturingSmtp]:
    with CapturingSmtp() as server:
        yield server


def _runtime(tmp_path: Path, **overrides: Any) -> Runtime:
    settings = load_settings(
        data_dir=tmp_path / "data", jobs=FAST, knowledge={"ingest_demo_runbooks": False}, **overrides
    )
    return Runtime(settings)


def test_a_stored_mail_queues_a_send_mail_job_that_sends_it(tmp_path: Path, smtp: CapturingSmtp, drain: Drain) -> None:
    smtp_settings = {"host": smtp.host, "port": smtp.port, "sender": "IT <it@example.com>"}
    with _runtime(tmp_path, notifications={"smtp": smtp_settings}) as runtime:
        outbox = shared_worker(runtime).outbox  # the mail thread is not started: only the job can send
        for n in range(5):
            outbox.enqueue("reply", "ruby@example.com", f"Your ticket {n}", "We are on it.")
        jobs = runtime.jobs
        assert jobs.counts().queued == 1  # five stored mails, one deduplicated round
        drain(jobs, lambda: len(smtp.received) == 5)
        assert sorted(str(m.message["Subject"]) for m in smtp.received) == [f"Your ticket {n}" for n in range(5)]
        assert outbox.list("pending") == [] and jobs.counts().dead == 0


def test_a_ticket_change_queues_a_ticket_sync_job_that_pushes_it(
    tmp_path: Path, drain: Drain, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeServiceNow(page_size=50) as vendor:
        monkeypatch.setenv("FIRSTLINE_TICKETING__SERVICENOW__USER", vendor.user)
        monkeypatch.setenv("FIRSTLINE_TICKETING__SERVICENOW__PASSWORD", vendor.password)
        ticketing = {"backend": "servicenow", "servicenow": {"url": vendor.url}}
        with _runtime(tmp_path, ticketing=ticketing) as runtime:
            ticket = runtime.tickets.create(new_ticket(short_description="VPN drops every hour"))
            jobs = runtime.jobs
            assert vendor.count() == 0 and jobs.counts().queued == 1
            drain(jobs, lambda: vendor.count() == 1)
            assert runtime.syncer is not None
            assert runtime.syncer.outbox.counts() == {"done": 1}, ticket.number
        assert vendor.violations == []
