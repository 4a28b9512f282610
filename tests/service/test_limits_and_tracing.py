"""Rate limits, body limits and OpenTelemetry spans, on small apps and the helpdesk itself."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from firstline.service.app import RequestContext
from firstline.service.limits import BodyLimit, RateLimit, TokenBuckets
from firstline.service.observability import Metrics
from firstline.testing.helpdesk import HelpdeskWorld


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_buckets_refill_at_the_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(60, clock=clock)  # one a second, bursts of 60
    assert all(buckets.take("a") == 0 for _ in range(60))
    assert buckets.take("a") == pytest.approx(1.0)
    assert buckets.take("b") == 0  # keys are independent
    clock.now += 2.5
    assert buckets.take("a") == 0 and buckets.take("a") == 0 and buckets.take("a") > 0


def _small_app(per_credential: int, per_ip: int, logins: int, body: int) -> tuple[TestClient, FakeClock]:
    clock = FakeClock()
    app = FastAPI()

    @app.post("/v1/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/v1/auth/login")
    async def login() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    limited: list[str] = []
    app.add_middleware(
        RateLimit,
        per_credential=TokenBuckets(per_credential, clock=clock),
        per_ip=TokenBuckets(per_ip, clock=clock),
        logins=TokenBuckets(logins, clock=clock),
        on_limited=limited.append,
    )
    app.add_middleware(BodyLimit, limit_for=lambda path: body)
    app.state.limited = limited
    return TestClient(app), clock


def test_rate_limits_per_key_per_ip_and_for_sign_ins() -> None:
    client, clock = _small_app(per_credential=3, per_ip=5, logins=2, body=1024)
    key = {"Authorization": "Bearer fl_one"}
    assert [client.post("/v1/echo", headers=key).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = client.post("/v1/echo", headers=key)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"] == "RateLimited" and "this account or key" in refused.json()["detail"]
    assert client.post("/v1/echo", headers={"Authorization": "Bearer fl_two"}).status_code == 429  # the IP is spent
    assert client.get("/health").status_code == 200  # health checks are never limited
    clock.now += 60
    assert client.post("/v1/auth/login").status_code == 200
    assert client.post("/v1/auth/login").status_code == 200
    third = client.post("/v1/auth/login")
    assert third.status_code == 429 and "sign-in attempts" in third.json()["detail"]
    assert set(client.app.state.limited) == {"credential", "ip", "login"}  # type: ignore[attr-defined]


def test_body_limit_by_header_and_by_stream() -> None:
    client, _ = _small_app(1000, 1000, 1000, body=100)
    assert client.post("/v1/echo", content=b"x" * 100).json() == {"bytes": 100}
    declared = client.post("/v1/echo", content=b"x" * 101)
    assert declared.status_code == 413 and declared.json()["error"] == "TooLarge"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b"x" * 60
        yield b"x" * 60

    streamed = client.post("/v1/echo", content=chunks())
    assert streamed.status_code == 413


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # once per process: no other test installs a provider
    yield exporter


def test_spans_for_turns_runs_tools_and_model_calls(spans: InMemorySpanExporter, helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    app = FastAPI()

    @app.post("/turn")
    async def handle() -> dict[str, str]:
        reply = await asyncio.to_thread(
            lambda: asyncio.run(
                desk.ask("my print job is stuck on LON-F3-HP-01", requester="ruby.chen@nwmeridian.co.uk")
            )
        )
        return {"agent": reply.agent}

    app.add_middleware(RequestContext, metrics=Metrics())
    spans.clear()
    assert TestClient(app).post("/turn").json() == {"agent": "printer"}
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert {"HTTP POST", "firstline.turn", "firstline.run", "firstline.tool", "firstline.model_call"} <= set(finished)
    http, turn, run = finished["HTTP POST"], finished["firstline.turn"], finished["firstline.run"]
    # One trace from the HTTP request through the worker thread to the agent run.
    assert turn.parent is not None and turn.context.trace_id == http.context.trace_id
    assert run.parent is not None and run.context.trace_id == http.context.trace_id
    assert turn.attributes is not None and turn.attributes["firstline.agent"] == "printer"
    tools = [s for s in spans.get_finished_spans() if s.name == "firstline.tool"]
    assert all(s.attributes and s.attributes["firstline.outcome"] in {"ok", "failed", "retry"} for s in tools)
    assert {s.attributes["firstline.tool"] for s in tools if s.attributes} >= {"printer_status"}


def test_console_exporter_prints_spans() -> None:
    script = (
        "from firstline.settings import TelemetrySettings\n"
        "from firstline.service.observability import configure_tracing\n"
        "from opentelemetry import trace\n"
        "assert not configure_tracing(TelemetrySettings())\n"
        "assert configure_tracing(TelemetrySettings(exporter='console', service_name='fl-test'))\n"
        "with trace.get_tracer('t').start_as_current_span('firstline.turn'): pass\n"
        "trace.get_tracer_provider().shutdown()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"name": "firstline.turn"' in done.stdout and "fl-test" in done.stdout
