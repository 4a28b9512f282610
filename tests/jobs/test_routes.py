"""The job-queue admin routes over HTTP, and knowledge ingest running as a job: the consumer the service
starts in its lifespan runs the upload's ingest and a retried dead job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from huey.signals import SIGNAL_COMPLETE

from firstline.jobs import DeadLetters
from firstline.runtime import Runtime
from firstline.service.app import create_app
from firstline.settings import Settings, load_settings
from firstline.testing.live import UNLIMITED


@dataclass
class Service:
    client: TestClient
    settings: Settings
    keys: dict[str, str]
    completed: list[str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def bury(self, kind: str, payload: dict[str, Any]) -> str:
        """A job that already died (as a failed round leaves it), straight into the dead letters."""
        job_id = f"dead-{kind}-{time.monotonic_ns()}"
        with Runtime(self.settings) as runtime:
            DeadLetters(runtime.database).record(job_id, kind, payload, "OSError: disk full", 6, datetime.now(UTC))
        return job_id


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = load_settings(
        data_dir=Path(tmp_path_factory.mktemp("jobs-routes")),
        service=UNLIMITED,
        knowledge={"ingest_demo_runbooks": False},
        jobs={"poll_s": 0.02, "retry_delay_s": 0.05, "ingest_wait_s": 30.0},
    )
    with Runtime(settings) as runtime:
        keys = {
            "admin": runtime.accounts.create_key("ops", "admin")[0],
            "agent": runtime.accounts.create_key("desk-bot", "agent")[0],
        }
    completed: list[str] = []
    with TestClient(create_app(settings)) as client:
        jobs = client.app.state.runtime.jobs  # type: ignore[attr-defined]
        jobs.huey.signal(SIGNAL_COMPLETE)(lambda signal, task, *a: completed.append(str(task.kwargs["kind"])))
        yield Service(client, settings, keys, completed)


def test_only_admins_see_and_change_the_queue(svc: Service) -> None:
    client = svc.client
    assert client.get("/v1/admin/jobs").status_code == 401
    assert client.get("/v1/admin/jobs", headers=svc.auth("agent")).status_code == 403
    job_id = svc.bury("reingest", {})
    for method, path in (("POST", f"/v1/admin/jobs/dead/{job_id}/retry"), ("DELETE", f"/v1/admin/jobs/dead/{job_id}")):
        assert client.request(method, path).status_code == 401
        assert client.request(method, path, headers=svc.auth("agent")).status_code == 403
    assert client.delete(f"/v1/admin/jobs/dead/{job_id}", headers=svc.auth("admin")).status_code == 204


def test_the_overview_lists_dead_jobs_with_their_error_and_redacted_payload(svc: Service) -> None:
    job_id = svc.bury("ingest", {"paths": ["/srv/x.md"], "api_key": "sk-live-0123456789abcdef"})
    body = svc.client.get("/v1/admin/jobs", headers=svc.auth("admin")).json()
    assert body["dead"] >= 1 and {"ingest", "reingest", "send_mail", "ticket_sync"} <= set(body["kinds"])
    (shown,) = [d for d in body["recent_dead"] if d["id"] == job_id]
    assert shown["error"] == "OSError: disk full" and shown["attempts"] == 6
    assert shown["payload"]["paths"] == ["/srv/x.md"] and "0123456789abcdef" not in str(shown)
    assert svc.client.delete(f"/v1/admin/jobs/dead/{job_id}", headers=svc.auth("admin")).status_code == 204


def test_retrying_a_dead_job_runs_it_on_the_service_consumer(svc: Service) -> None:
    admin = svc.auth("admin")
    job_id = svc.bury("reingest", {})
    retried = svc.client.post(f"/v1/admin/jobs/dead/{job_id}/retry", headers=admin)
    assert retried.status_code == 200 and retried.json()["id"] == job_id
    deadline = time.monotonic() + 10
    while "reingest" not in svc.completed:
        assert time.monotonic() < deadline, "the retried job did not run"
        time.sleep(0.02)
    body = svc.client.get("/v1/admin/jobs", headers=admin).json()
    assert job_id not in {d["id"] for d in body["recent_dead"]}
    assert svc.client.post(f"/v1/admin/jobs/dead/{job_id}/retry", headers=admin).status_code == 404


def test_unknown_dead_jobs_are_404(svc: Service) -> None:
    admin = svc.auth("admin")
    for method, path in (("POST", "/v1/admin/jobs/dead/nope/retry"), ("DELETE", "/v1/admin/jobs/dead/nope")):
        response = svc.client.request(method, path, headers=admin)
        assert response.status_code == 404 and "No dead job nope" in response.json()["detail"]


def test_an_upload_is_ingested_by_an_ingest_job_and_answers_with_its_report(svc: Service) -> None:
    before = svc.completed.count("ingest")
    runbook = b"# Door badge\n\n## Badge does not open the door\n\nHold the badge flat on the reader for 2 s.\n"
    files = {"file": ("Door Badge.md", runbook)}
    response = svc.client.post("/v1/knowledge/documents", files=files, headers=svc.auth("admin"))
    assert response.status_code == 201, response.text
    assert [Path(p).name for p in response.json()["added"]] == ["Door-Badge.md"]
    assert svc.completed.count("ingest") == before + 1


def test_an_ingest_that_takes_longer_than_the_wait_answers_202_and_finishes_in_the_background(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        service=UNLIMITED,
        knowledge={"ingest_demo_runbooks": False},
        jobs={"poll_s": 0.02, "ingest_wait_s": 0.0},  # no wait at all: every ingest "takes longer"
    )
    with Runtime(settings) as runtime:
        key = runtime.accounts.create_key("ops", "admin")[0]
    admin = {"Authorization": f"Bearer {key}"}
    runbook = b"# Printer\n\n## Paper jam\n\nOpen tray 2 and pull the sheet out gently.\n"
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/knowledge/documents", files={"file": ("Printer.md", runbook)}, headers=admin)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued" and response.json()["job_id"]
        deadline = time.monotonic() + 20
        while "Printer.md" not in {f["name"] for f in client.get("/v1/knowledge/stats", headers=admin).json()["files"]}:
            assert time.monotonic() < deadline, "the queued ingest did not finish"
            time.sleep(0.05)
