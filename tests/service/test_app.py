from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from firstline.service.app import create_app
from firstline.settings import load_settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("service-data")
    settings = load_settings(data_dir=Path(data))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    ready = client.get("/ready").json()
    assert ready["status"] == "ready" and ready["chunks"] > 300


def test_search_answers_from_the_demo_runbooks_with_citations(client: TestClient) -> None:
    response = client.get("/v1/kb/search", params={"q": "outlook keeps asking for my password", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "hybrid" and len(body["hits"]) == 3
    assert body["hits"][0]["citation"]["title"] == "Outlook keeps asking for a password"


def test_search_filters(client: TestClient) -> None:
    body = client.get("/v1/kb/search", params={"q": "password", "category": "security", "k": 10}).json()
    assert body["hits"] and {h["category"] for h in body["hits"]} == {"security"}


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({"q": "  "}, 422, "empty"),
        ({"q": "x" * 2001}, 413, "limit is 2000"),
        ({"q": "vpn", "mode": "magic"}, 422, "Unknown search mode"),
        ({"q": "vpn", "k": 0}, 422, "greater than or equal"),
        ({}, 422, "q"),
    ],
)
def test_bad_queries(client: TestClient, params: dict[str, object], status: int, fragment: str) -> None:
    response = client.get("/v1/kb/search", params=params)
    assert response.status_code == status
    assert fragment in response.text


def test_openapi_documents_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    responses = spec["paths"]["/v1/kb/search"]["get"]["responses"]
    assert {"200", "413", "422", "503"} <= set(responses)


RUBY = "ruby.chen@nwmeridian.co.uk"  # p019: locked out in the demo organisation


def test_ask_opens_a_ticket_and_continues_the_conversation(client: TestClient) -> None:
    first = client.post("/v1/ask", json={"text": "I'm locked out of my account", "user": RUBY})
    assert first.status_code == 200
    body = first.json()
    assert set(body) >= {"conversation_id", "agent", "intent", "reply", "citations", "ticket", "actions"}
    assert (body["agent"], body["intent"], body["status"]) == ("security", "account_unlock", "done")
    assert body["ticket"]["number"].startswith("INC") and body["ticket"]["state"] == "new"
    assert [a["tool"] for a in body["actions"]] == ["account_status", "send_verification_code"]
    again = client.post("/v1/ask", json={"text": "000000", "conversation_id": body["conversation_id"], "user": RUBY})
    assert again.status_code == 200 and again.json()["conversation_id"] == body["conversation_id"]
    assert [a["outcome"] for a in again.json()["actions"]] == ["failed"]  # a wrong code changes nothing


def test_ask_bad_input(client: TestClient) -> None:
    empty = client.post("/v1/ask", json={"text": "   ", "user": RUBY})
    assert empty.status_code == 422 and empty.json()["status"] == "rejected" and "empty" in empty.json()["reply"]
    long = client.post("/v1/ask", json={"text": "a" * 8001, "user": RUBY})
    assert long.status_code == 413 and "8,001 characters" in long.json()["reply"]
    unknown = client.post("/v1/ask", json={"text": "hello", "conversation_id": "does-not-exist"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "ConversationNotFoundError"
    mine = client.post("/v1/ask", json={"text": "hello", "user": RUBY}).json()["conversation_id"]
    stolen = client.post(
        "/v1/ask", json={"text": "hello", "conversation_id": mine, "user": "marcus.bell@nwmeridian.co.uk"}
    )
    assert stolen.status_code == 404
    assert client.post("/v1/ask", json={"user": RUBY}).status_code == 422


def _sse_events(body: str) -> list[tuple[str, dict[str, object]]]:
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_conversations_stream_events_and_keep_everything(client: TestClient) -> None:
    created = client.post("/v1/conversations", json={"user": RUBY})
    assert created.status_code == 201
    cid = created.json()["conversation_id"]
    with client.stream(
        "POST",
        f"/v1/conversations/{cid}/messages",
        json={"text": "I'm locked out of my account", "user": RUBY, "stream": True},
    ) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = _sse_events(response.read().decode())
    kinds = [kind for kind, _ in events if kind != "model_call"]
    assert kinds[0] == "routed" and kinds[-1] == "reply" and "tool_finished" in kinds and "message" in kinds
    assert kinds.index("tool_started") < kinds.index("tool_finished") < kinds.index("message") < kinds.index("done")
    reply = events[-1][1]
    assert reply["conversation_id"] == cid and reply["agent"] == "security"
    plain = client.post(f"/v1/conversations/{cid}/messages", json={"text": "123456", "user": RUBY})
    assert plain.status_code == 200 and plain.json()["conversation_id"] == cid
    stored = client.get(f"/v1/conversations/{cid}", params={"user": RUBY}).json()
    assert [e["kind"] for e in stored["events"]].count("user_message") == 2 and stored["ticket_number"]
    assert client.get(f"/v1/conversations/{cid}", params={"user": "marcus.bell@nwmeridian.co.uk"}).status_code == 404
    assert client.get(f"/v1/conversations/{cid}").status_code == 404
    other = client.post(
        f"/v1/conversations/{cid}/messages", json={"text": "hi", "user": "marcus.bell@nwmeridian.co.uk"}
    )
    assert other.status_code == 404
    assert client.post("/v1/conversations/nope/messages", json={"text": "hi", "stream": True}).status_code == 404


def test_a_client_that_disconnects_does_not_cancel_the_turn(client: TestClient) -> None:
    cid = client.post("/v1/conversations", json={"user": RUBY}).json()["conversation_id"]
    with client.stream(
        "POST",
        f"/v1/conversations/{cid}/messages",
        json={"text": "my print job is stuck on LON-F3-HP-01", "user": RUBY, "stream": True},
    ) as response:
        next(response.iter_lines())  # read the first event, then hang up
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        kinds = [e["kind"] for e in client.get(f"/v1/conversations/{cid}", params={"user": RUBY}).json()["events"]]
        if "assistant_message" in kinds:
            break
        time.sleep(0.2)
    assert "assistant_message" in kinds and kinds[0] == "user_message"
