"""``firstline serve --workers 2`` on PostgreSQL, a Chroma server and Redis, as a deployment runs it.

One deployment for the module (a subprocess, its workers found through ``GET /health``): live notices
reach a stream whichever worker stored the turn, one rate budget across workers, the demo phone shared,
and a worker killed with SIGKILL comes back while the other keeps answering. Each HTTP client below holds
one connection, so every request it makes is served by the worker that accepted that connection.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from firstline.cli.main import app as cli
from firstline.testing.chroma import chroma_server
from firstline.testing.live import free_port
from firstline.testing.postgres import PostgresCluster
from firstline.testing.redis import RedisServer

pytestmark = [pytest.mark.live, pytest.mark.slow]

START_TIMEOUT_S = 240.0
CREDENTIAL_PER_MINUTE = 20
RUBY = "ruby.chen@nwmeridian.co.uk"
MARCUS = "marcus.bell@nwmeridian.co.uk"
CSRF = {"X-Requested-With": "firstline"}


def _wait_for(check: Callable[[], bool], timeout_s: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
            raise AssertionError(f"{what} within {timeout_s:.0f} s\n{tail}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``chroma run`` on a free port, for this module."""
    with chroma_server(tmp_path_factory.mktemp("chroma")) as url:
        yield url


@dataclass
class Deployment:
    base: str
    process: subprocess.Popen[bytes]
    log: Path
    passwords: dict[str, str] = field(default_factory=dict)

    def health(self) -> int:
        """The pid of the worker that accepts a new connection."""
        with httpx.Client(base_url=self.base, timeout=10) as client:
            answer = client.get("/health")
            answer.raise_for_status()
            return int(answer.json()["worker"])

    def cookie(self, email: str) -> str:
        """A fresh session of ``email`` (a new credential, so a new rate budget)."""
        answer = httpx.post(f"{self.base}/v1/auth/login", json={"email": email, "password": self.passwords[email]})
        answer.raise_for_status()
        return answer.cookies["firstline_session"]

    def client_on(self, worker: int | None, cookie: str, avoid: int | None = None, tries: int = 60) -> httpx.Client:
        """A signed-in client whose one connection is served by ``worker`` (or by any worker but ``avoid``)."""
        for _ in range(tries):
            client = httpx.Client(
                base_url=self.base,
                headers={**CSRF, "Cookie": f"firstline_session={cookie}"},
                timeout=60,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )
            pid = int(client.get("/health").json()["worker"])
            if (worker is None or pid == worker) and pid != avoid:
                client.headers["X-Test-Worker"] = str(pid)
                return client
            client.close()
            time.sleep(0.01)
        raise AssertionError(f"no connection reached worker {worker} (avoiding {avoid}) in {tries} tries")


def _workers_seen(deployment: Deployment, tries: int = 40) -> set[int]:
    return {deployment.health() for _ in range(tries)}


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresCluster,
    redis: RedisServer,
    chroma: str,
    _session_cache: Path,
) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("workers")
    database = postgres.fresh_url()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env |= {
        "XDG_CACHE_HOME": str(_session_cache),
        "HF_HUB_OFFLINE": "1",
        "FIRSTLINE_DATA_DIR": str(folder / "data"),
        "FIRSTLINE_TICKETING__DATABASE_URL": database,
        "FIRSTLINE_DIRECTORY__DATABASE_URL": database,
        "FIRSTLINE_KNOWLEDGE__STORE": "chroma-server",
        "FIRSTLINE_KNOWLEDGE__EMBEDDER__ENGINE": "onnx",  # no torch: the ONNX export is cached per session
        "FIRSTLINE_KNOWLEDGE__CHROMA_URL": chroma,
        "FIRSTLINE_KNOWLEDGE__COLLECTION": f"w{uuid.uuid4().hex[:12]}",
        "FIRSTLINE_SCALE__REDIS_URL": redis.url,
        "FIRSTLINE_SCALE__KEY_PREFIX": f"w{uuid.uuid4().hex[:8]}",
        "FIRSTLINE_SECURITY__SECRET_KEY": uuid.uuid4().hex * 2,
        "FIRSTLINE_SERVICE__RATE_LIMIT_PER_MINUTE": str(CREDENTIAL_PER_MINUTE),
        "FIRSTLINE_SERVICE__IP_RATE_LIMIT_PER_MINUTE": "1000000",
        "FIRSTLINE_SERVICE__LOGIN_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    port = free_port()
    executable = Path(sys.executable).parent / "firstline"
    command = [str(executable), "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)]
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    made = Deployment(f"http://127.0.0.1:{port}", process, log)

    def both_ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"firstline serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            return len(_workers_seen(made, 10)) == 2
        except httpx.HTTPError:
            return False

    try:
        _wait_for(both_ready, START_TIMEOUT_S, "two workers did not answer", log)
        accounts = (folder / "data" / "demo-accounts.txt").read_text().splitlines()[1:]
        made.passwords = {line.split()[1]: line.split()[2] for line in accounts}
        yield made
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # uvicorn's parent stops its workers
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_the_demo_accounts_were_seeded_once(deployment: Deployment) -> None:
    assert len(deployment.passwords) == 6 and RUBY in deployment.passwords
    log = deployment.log.read_text(errors="replace")
    assert log.count("Demo accounts (sign in at /login") == 1  # one worker seeded them, under the lock


def _events(client: httpx.Client, until: Callable[[list[dict[str, Any]]], bool], ready: threading.Event,
            found: list[dict[str, Any]]) -> None:  # fmt: skip
    with client.stream("GET", "/v1/events", params={"max_s": 30}) as response:
        assert response.status_code == 200
        event = ""
        for line in response.iter_lines():
            if line.startswith(": listening"):
                ready.set()
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "conversation":
                found.append(json.loads(line[6:]))
                if until(found):
                    return


def test_a_stream_hears_turns_whichever_worker_ran_them(deployment: Deployment) -> None:
    cookie = deployment.cookie(RUBY)
    streams = [deployment.client_on(None, cookie)]
    first = int(streams[0].headers["X-Test-Worker"])
    streams.append(deployment.client_on(None, cookie, avoid=first))  # a stream on each worker
    for stream in streams:
        stream_worker = int(stream.headers["X-Test-Worker"])
        poster = deployment.client_on(None, cookie, avoid=stream_worker)  # the turn runs on the other worker
        try:
            conversation = poster.post("/v1/conversations", json={}).json()["conversation_id"]
            ready, found = threading.Event(), []
            listener = threading.Thread(
                target=_events,
                args=(stream, lambda f: any(e["kind"] == "assistant_message" for e in f), ready, found),
            )
            listener.start()
            assert ready.wait(20), "the event stream did not open"
            reply = poster.post(f"/v1/conversations/{conversation}/messages", json={"text": "my printer is jammed"})
            assert reply.status_code == 200
            listener.join(40)
            mine = [e for e in found if e["conversation_id"] == conversation]
            assert {"user_message", "assistant_message"} <= {e["kind"] for e in mine}, found
        finally:
            poster.close()
            stream.close()


def test_the_rate_limit_is_one_budget_across_workers(deployment: Deployment) -> None:
    cookie = deployment.cookie(MARCUS)  # one credential, a fresh budget
    answers: list[tuple[int, int]] = []
    last: int | None = None
    for _ in range(2 * CREDENTIAL_PER_MINUTE):  # each request on the other worker than the one before
        client = deployment.client_on(None, cookie, avoid=last)
        try:
            last = int(client.headers["X-Test-Worker"])
            answers.append((last, client.get("/v1/me/links").status_code))
        finally:
            client.close()
    served = [status for _, status in answers]
    assert set(served) <= {200, 429}
    per_worker = [sum(1 for w, _ in answers if w == worker) for worker in {w for w, _ in answers}]
    # Budgets per worker would let through min(n, 20) on each: 40 here, with 20 requests on each worker.
    assert len(per_worker) == 2 and min(per_worker) >= 3, answers
    assert CREDENTIAL_PER_MINUTE <= served.count(200) <= CREDENTIAL_PER_MINUTE + 2, answers  # +refill meanwhile


def test_the_demo_phone_shows_a_code_sent_on_the_other_worker(deployment: Deployment) -> None:
    cookie = deployment.cookie(RUBY)
    turn = deployment.client_on(None, cookie)
    phone = deployment.client_on(None, cookie, avoid=int(turn.headers["X-Test-Worker"]))
    try:
        conversation = turn.post("/v1/conversations", json={}).json()["conversation_id"]
        reply = turn.post(f"/v1/conversations/{conversation}/messages", json={"text": "I'm locked out of my account"})
        assert reply.status_code == 200
        messages = phone.get("/v1/demo/outbox").json()["messages"]
        assert messages and messages[0]["code"].isdigit() and len(messages[0]["code"]) == 6
        done = phone.post(f"/v1/conversations/{conversation}/messages", json={"text": messages[0]["code"]}).json()
        assert "unlocked" in done["reply"]  # the code from one worker verified on the other
    finally:
        turn.close()
        phone.close()


def test_a_killed_worker_comes_back_and_the_other_keeps_answering(deployment: Deployment) -> None:
    before = _workers_seen(deployment)
    assert len(before) == 2
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    survivor = (before - {victim}).pop()
    answered = []
    for _ in range(10):  # right away: every new connection is answered (by the survivor, until the restart)
        answered.append(deployment.health())
    assert victim not in answered and survivor in answered
    _wait_for(lambda: len(_workers_seen(deployment, 10) - before) == 1, 180, "no new worker", deployment.log)
    assert deployment.process.poll() is None


def test_two_workers_on_embedded_stores_are_refused() -> None:
    result = CliRunner().invoke(cli, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "scale.workers = 2 needs shared stores" in text and "knowledge.store = 'chroma'" in text
