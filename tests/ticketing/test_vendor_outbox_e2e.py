"""The outbox end to end, over a vendor's HTTP fake and the real CLI: a worker process killed mid-sync and a vendor
that goes down and comes back lose nothing and duplicate nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firstline.cli.main import app
from firstline.runtime import Runtime
from firstline.settings import load_settings
from firstline.testing.servicenow_fake import FakeServiceNow
from firstline.testing.ticketing import new_ticket
from firstline.ticketing import TicketState, TicketUpdate
from firstline.ticketing.synced import SyncedTicketing

FIRSTLINE = Path(sys.executable).with_name("firstline")


@pytest.fixture
def vendor() -> Iterator[FakeServiceNow]:
    with FakeServiceNow(page_size=50) as fake:
        yield fake
    assert fake.violations == []


@pytest.fixture
def configured(tmp_path: Path, vendor: FakeServiceNow, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """firstline.toml naming the ServiceNow fake, credentials in the environment (as in production)."""
    config = tmp_path / "firstline.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n\n[ticketing]\nbackend = "servicenow"\n\n'
        f'[ticketing.servicenow]\nurl = "{vendor.url}"\n\n[ticketing.servicenow.map.groups]\n'
        '"Network Operations" = "Network Operations"\n'
    )
    env = {
        "FIRSTLINE_CONFIG": str(config),
        "FIRSTLINE_TICKETING__SERVICENOW__USER": vendor.user,
        "FIRSTLINE_TICKETING__SERVICENOW__PASSWORD": vendor.password,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def file_tickets(count: int) -> list[str]:
    """Open ``count`` tickets the way the service does (the worker is not running: they wait in the outbox)."""
    with Runtime(load_settings()) as runtime:
        tickets = runtime.tickets
        assert isinstance(tickets, SyncedTicketing)
        numbers = []
        for i in range(count):
            number = tickets.create(new_ticket(short_description=f"VPN drops, report {i}")).number
            tickets.comment(number, f"Tried a restart ({i}).", "firstline")
            tickets.update(number, TicketUpdate(state=TicketState.IN_PROGRESS), "firstline")
            numbers.append(number)
        return numbers


def outbox_counts() -> dict[str, int]:
    with Runtime(load_settings()) as runtime:
        assert runtime.syncer is not None
        return runtime.syncer.outbox.counts()


def sync_cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(FIRSTLINE), "tickets", "sync", "--no-pull", *args],
        env=os.environ | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def assert_each_once(vendor: FakeServiceNow, numbers: list[str]) -> None:
    filed = Counter(vendor.incident_correlations())
    assert filed == Counter(numbers), filed  # every ticket there, none twice
    for number in numbers:
        comments = [c for c in vendor.journal(number) if c.startswith("Tried a restart")]
        assert len(comments) == 1, (number, comments)


def test_check_says_what_is_missing(configured: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["tickets", "check"])
    assert ok.exit_code == 0, ok.output
    assert "servicenow" in ok.output
    monkeypatch.setenv("FIRSTLINE_TICKETING__SERVICENOW__PASSWORD", "wrong")
    refused = runner.invoke(app, ["tickets", "check"])
    assert refused.exit_code == 1 and "FIRSTLINE_TICKETING__SERVICENOW__PASSWORD" in refused.output


def test_a_worker_process_killed_mid_sync_loses_and_duplicates_nothing(
    configured: dict[str, str], vendor: FakeServiceNow
) -> None:
    numbers = file_tickets(8)
    assert outbox_counts() == {"pending": 24} and vendor.count() == 0
    vendor.delay = 0.15  # every answer takes a while, so the kill lands mid-sync
    worker = sync_cli(configured)
    deadline = time.monotonic() + 60
    while vendor.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.communicate()
    assert 3 <= vendor.count() < 8, vendor.count()
    counts = outbox_counts()
    assert counts.get("pending", 0) > 0 and sum(counts.values()) == 24
    vendor.delay = 0.0
    again = sync_cli(configured)  # a new worker: the dead one's claim is taken over at once (its pid is gone)
    output, _ = again.communicate(timeout=120)
    assert again.returncode == 0, output
    assert outbox_counts() == {"done": 24}
    assert_each_once(vendor, numbers)


def test_a_vendor_that_goes_down_and_comes_back(configured: dict[str, str], vendor: FakeServiceNow) -> None:
    numbers = file_tickets(4)
    vendor.fail_next(503, times=1000)
    down = sync_cli(configured)
    output, _ = down.communicate(timeout=120)
    assert down.returncode == 1 and "waiting 1" in output, output  # stops at the first refusal, keeps everything
    assert vendor.count() == 0 and outbox_counts() == {"pending": 12}
    vendor.fail_next(503, times=0)
    up = sync_cli(configured)
    output, _ = up.communicate(timeout=120)
    assert up.returncode == 0, output
    assert outbox_counts() == {"done": 12}
    assert_each_once(vendor, numbers)
    status = CliRunner().invoke(app, ["tickets", "sync", "--status"])
    assert status.exit_code == 0 and "'done': 12" in status.output
