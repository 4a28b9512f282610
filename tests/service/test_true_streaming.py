"""Tokens go from the model to the HTTP client as the model writes them: over a real uvicorn server and a
real HTTP client, the first token arrives while the (slow) model is still writing the rest; a model that
dies mid-answer is withdrawn with ``token_reset`` and the fallback answers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from firstline.runtime import Runtime
from firstline.service.app import create_app
from firstline.service.server import uvicorn_options
from firstline.settings import Settings, load_settings
from firstline.testing.live import free_port
from firstline.testing.openai_server import FakeOpenAIServer, Turn

RUBY = "ruby.chen@nwmeridian.co.uk"
ANSWER = " ".join(["Reconnect", "GlobalProtect", "and", "pick", "the", "Best", "Available", "gateway."] * 3)
SLOW = Turn(text=ANSWER, ttft_s=0.15, token_s=0.05)  # 24 words: about 1.3 s to write them all


def settings_for(data_dir: Path, urls: list[str]) -> Settings:
    endpoints = {f"m{i}": {"preset": "vllm", "base_url": url, "model": "fake"} for i, url in enumerate(urls)}
    return load_settings(
        data_dir=data_dir,
        service={"rate_limit_per_minute": 10_000, "ip_rate_limit_per_minute": 10_000},
        llm={"engine": "llm", "endpoints": endpoints, "triage": list(endpoints), "specialist": list(endpoints),
             "first_token_s": 5.0, "turn_s": 10.0, "turn_budget_s": {"default": 10.0}},
    )  # fmt: skip


@contextmanager
def serve(settings: Settings) -> Iterator[tuple[str, str]]:
    with Runtime(settings) as runtime:
        key = runtime.accounts.create_key("kiosk", "requester", RUBY)[0]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), **uvicorn_options(settings, "127.0.0.1", port)))
    thread = threading.Thread(target=server.run, name="streaming-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", key
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def converse(base: str, key: str, text: str) -> list[tuple[float, str, dict[str, Any]]]:
    """Post ``text`` with ``stream: true``; every SSE event with the time it was read."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        cid = client.post("/v1/conversations", json={}).json()["conversation_id"]
        events: list[tuple[float, str, dict[str, Any]]] = []
        body = {"text": text, "stream": True}
        with client.stream("POST", f"/v1/conversations/{cid}/messages", json=body) as response:
            assert response.status_code == 200
            kind = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind is not None:
                    events.append((time.perf_counter(), kind, json.loads(line.removeprefix("data: "))))
        return events


@pytest.fixture(scope="module")
def slow_model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(default=SLOW) as fake:
        yield fake


def test_the_first_token_reaches_the_client_before_the_model_has_finished(
    tmp_path_factory: pytest.TempPathFactory, slow_model: FakeOpenAIServer
) -> None:
    data = Path(tmp_path_factory.mktemp("streaming"))
    with serve(settings_for(data, [slow_model.url])) as (base, key):
        events = converse(base, key, "My VPN keeps dropping every few minutes")
    tokens = [(at, data["text"]) for at, kind, data in events if kind == "token"]
    done = next(at for at, kind, _ in events if kind == "done")
    assert len(tokens) >= 20 and "".join(t for _, t in tokens).strip() == ANSWER
    answered = len(slow_model.requests) - 1  # the request that wrote the answer
    model_first = slow_model.first_text_at(answered)
    model_last = max(s.at for s in slow_model.sent if s.request == answered)
    assert model_first is not None
    assert tokens[0][0] < model_last - 0.5  # the client drew the first words a good second before the model ended
    assert tokens[0][0] - model_first < 0.25  # and soon after the model wrote them (generous for a busy CI)
    assert done >= model_last and events[-1][1] == "done"
    assert events[-1][2]["reply"].startswith("Reconnect GlobalProtect")


def test_a_model_dying_mid_answer_is_withdrawn_and_the_next_answers(tmp_path_factory: pytest.TempPathFactory) -> None:
    dying = Turn(text="Your account has been unlocked and your password", cut_after_chunks=6)
    backup = Turn(text="I can help with that VPN problem: reconnect GlobalProtect.")
    with FakeOpenAIServer(default=dying) as first, FakeOpenAIServer(default=backup) as second:
        data = Path(tmp_path_factory.mktemp("streaming-fallback"))
        with serve(settings_for(data, [first.url, second.url])) as (base, key):
            events = converse(base, key, "My VPN keeps dropping every few minutes")
    kinds = [kind for _, kind, _ in events]
    reset = kinds.index("token_reset")
    before = "".join(d["text"] for _, k, d in events[:reset] if k == "token")
    after = "".join(d["text"] for _, k, d in events[reset:] if k == "token")
    assert before and "unlocked" in before  # half an answer went out...
    assert "unlocked" not in after and after.strip() == backup.text  # ...was withdrawn, and the backup's replaced it
    reply = events[-1][2]["reply"]
    assert kinds[-1] == "done" and "unlocked" not in reply and reply.startswith("I can help with that VPN problem")
