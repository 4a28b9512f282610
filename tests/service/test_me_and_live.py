"""My requests, channel links, and live notices (``GET /v1/events``) over a real uvicorn server: an IT
agent's public comment reaches the employee's conversation and their open stream, and nobody else's."""

from __future__ import annotations

import json
import queue
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from firstline.runtime import Runtime
from firstline.testing.live import UNLIMITED, live_service

RUBY = "ruby.chen@nwmeridian.co.uk"
MARCUS = "marcus.bell@nwmeridian.co.uk"
SARAH = "sarah.lindqvist@nwmeridian.co.uk"


@dataclass
class Server:
    base: str
    app: FastAPI
    keys: dict[str, str]
    passwords: dict[str, tuple[str, str]]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with live_service(Path(tmp_path_factory.mktemp("live-notices")), service=UNLIMITED) as live:
        app: FastAPI = live.server.config.app
        accounts = app.state.runtime.accounts
        keys = {
            "ruby": accounts.create_key("ruby-kiosk", "requester", RUBY)[0],
            "marcus": accounts.create_key("marcus-kiosk", "requester", MARCUS)[0],
            "sarah": accounts.create_key("sarah-console", "agent", SARAH)[0],
        }
        yield Server(live.base_url, app, keys, live.accounts)


class Stream:
    """An open ``GET /v1/events`` read on a thread; frames land in ``frames`` as (event, data, arrival)."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.frames: queue.Queue[tuple[str, dict[str, Any], float]] = queue.Queue()
        self.opened = threading.Event()
        self._client = httpx.Client(base_url=base, headers=headers, timeout=httpx.Timeout(5.0, read=None))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.opened.wait(10), "the stream did not open"

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "/v1/events") as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                event = ""
                for line in response.iter_lines():
                    if line.startswith("retry:"):
                        self.opened.set()
                    elif line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        self.frames.put((event, json.loads(line[6:]), time.perf_counter()))
        except (httpx.HTTPError, RuntimeError):
            return

    def next(self, wanted: str, timeout: float = 5.0, **match: Any) -> tuple[dict[str, Any], float]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event, data, at = self.frames.get(timeout=left)
            except queue.Empty:
                break
            if event == wanted and all(data.get(k) == v for k, v in match.items()):
                return data, at
        raise AssertionError(f"no {wanted} event matching {match} within {timeout} s")

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        while not self.frames.empty():
            event, data, _ = self.frames.get_nowait()
            out.append((event, data))
        return out

    def close(self) -> None:
        self._client.close()


def _lost_phone_ticket(server: Server) -> tuple[str, str]:
    reply = httpx.post(
        f"{server.base}/v1/ask",
        json={"text": "I lost my work iPhone on the train home last night"},
        headers=server.auth("ruby"),
        timeout=60,
    ).json()
    assert reply["ticket"], reply
    return reply["conversation_id"], reply["ticket"]["number"]


def test_an_agents_public_comment_reaches_the_employee_live_and_in_my_requests(server: Server) -> None:
    conversation_id, number = _lost_phone_ticket(server)
    ruby, marcus = Stream(server.base, server.auth("ruby")), Stream(server.base, server.auth("marcus"))
    try:
        posted = httpx.post(
            f"{server.base}/v1/tickets/{number}/comments",
            json={"body": "We have blocked the phone; a loan phone is at the front desk."},
            headers=server.auth("sarah"),
        )
        assert posted.status_code == 201
        data, _ = ruby.next("conversation", conversation_id=conversation_id, kind="assistant_message")
        assert data["seq"] > 0
        view = httpx.get(
            f"{server.base}/v1/conversations/{conversation_id}", params={"after": data["seq"] - 1},
            headers=server.auth("ruby"),
        ).json()  # fmt: skip
        told = view["events"][-1]
        assert told["agent"] == "service desk" and "loan phone is at the front desk" in told["data"]["text"]
        assert "Sarah Lindqvist" in told["data"]["text"]
        httpx.post(
            f"{server.base}/v1/tickets/{number}/comments",
            json={"body": "internal: IMEI on the blocklist", "internal": True},
            headers=server.auth("sarah"),
        )
        time.sleep(0.5)
        assert not any("IMEI" in json.dumps(d) for _, d in ruby.drain())
        assert not any(d.get("conversation_id") == conversation_id for _, d in marcus.drain())
    finally:
        ruby.close()
        marcus.close()
    mine = httpx.get(f"{server.base}/v1/me/tickets", headers=server.auth("ruby")).json()["tickets"]
    ticket = next(t for t in mine if t["number"] == number)
    assert ticket["conversation_id"] == conversation_id and ticket["state"] in {"new", "in_progress"}
    assert [c["author_name"] for c in ticket["comments"]] == ["Sarah Lindqvist"]
    assert "IMEI" not in json.dumps(mine)
    assert not httpx.get(f"{server.base}/v1/me/tickets", headers=server.auth("marcus")).json()["tickets"]
    listed = httpx.get(f"{server.base}/v1/conversations", headers=server.auth("ruby")).json()["conversations"]
    row = next(c for c in listed if c["conversation_id"] == conversation_id)
    assert row["title"] == "I lost my work iPhone on the train home last night" and row["ticket_state"]


def test_agents_hear_of_every_ticket_and_requesters_never_of_tool_calls(server: Server) -> None:
    sarah, ruby = Stream(server.base, server.auth("sarah")), Stream(server.base, server.auth("ruby"))
    try:
        conversation_id, number = _lost_phone_ticket(server)
        sarah.next("ticket", number=number)
        kinds = {d["kind"] for e, d in sarah.drain() if e == "conversation"} | {"?"}
        time.sleep(0.3)
        seen = [d["kind"] for e, d in ruby.drain() if e == "conversation" and d["conversation_id"] == conversation_id]
        assert "user_message" in seen and "assistant_message" in seen
        assert not {k for k in seen if k.startswith("tool") or k == "model_call"}
        assert kinds  # the agent's stream carried the conversation too
        httpx.post(f"{server.base}/v1/tickets/{number}/close", json={"note": "Phone blocked and replaced."},
                   headers=server.auth("sarah"))  # fmt: skip
        data, _ = ruby.next("conversation", conversation_id=conversation_id, kind="assistant_message")
        view = httpx.get(f"{server.base}/v1/conversations/{conversation_id}", params={"after": data["seq"] - 1},
                         headers=server.auth("ruby")).json()  # fmt: skip
        assert "it is closed: Phone blocked and replaced." in view["events"][-1]["data"]["text"]
    finally:
        sarah.close()
        ruby.close()


def test_time_from_an_agents_comment_to_the_employees_stream(server: Server) -> None:
    conversation_id, number = _lost_phone_ticket(server)
    ruby = Stream(server.base, server.auth("ruby"))
    waits = []
    try:
        with httpx.Client(base_url=server.base, headers=server.auth("sarah")) as sarah:
            for i in range(20):
                started = time.perf_counter()
                assert sarah.post(f"/v1/tickets/{number}/comments", json={"body": f"update {i}"}).status_code == 201
                _, arrived = ruby.next("conversation", conversation_id=conversation_id, kind="assistant_message")
                waits.append((arrived - started) * 1000)
    finally:
        ruby.close()
    waits.sort()
    p50, p95 = statistics.median(waits), waits[int(0.95 * len(waits)) - 1]
    print(f"agent comment -> employee's SSE stream: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    assert p95 < 2000


def test_a_link_code_is_confirmed_only_by_the_signed_in_person(server: Server) -> None:
    email, password = server.passwords["requester"]
    code = server.runtime.channels.start_link("slack", "U0RUBY")
    assert httpx.post(f"{server.base}/v1/me/links", json={"code": code}, headers=server.auth("ruby")).status_code == 403
    with httpx.Client(base_url=server.base, headers={"X-Requested-With": "firstline"}) as browser:
        assert browser.post("/v1/auth/login", json={"email": email, "password": password}).status_code == 200
        wrong = browser.post("/v1/me/links", json={"code": "ABCD-EFGH"})
        assert wrong.status_code == 422 and "unknown or has expired" in wrong.json()["detail"]
        linked = browser.post("/v1/me/links", json={"code": code})
        assert linked.status_code == 201 and linked.json()["email"] == email == RUBY
        assert server.runtime.channels.person("slack", "U0RUBY") == RUBY
        assert [x["external_id"] for x in browser.get("/v1/me/links").json()["links"]] == ["U0RUBY"]
        assert browser.delete("/v1/me/links/slack/U0RUBY").status_code == 204
        assert browser.delete("/v1/me/links/slack/U0RUBY").status_code == 422
    assert server.runtime.channels.person("slack", "U0RUBY") is None
