"""The fake OpenAI-compatible server: HTTP/1.1 keep-alive, pacing like a model, send times, answers by request."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from firstline.errors import ModelCallError
from firstline.llm.messages import ChatModel, ChatRequest, Message, ModelResponse, ToolSpec
from firstline.llm.openai_compat import OpenAICompatModel
from firstline.llm.pool import ModelIO
from firstline.llm.testing import ScriptedModel, call
from firstline.testing.openai_server import FakeOpenAIServer, Turn
from firstline.testing.paced import PacedModel

HELLO = ChatRequest((Message("user", "hello"),))
LOOKUP = ToolSpec("account_status", "Look an account up.", {"type": "object", "properties": {}})


@pytest.fixture
def io() -> Iterator[ModelIO]:
    model_io = ModelIO()
    yield model_io
    model_io.close()


def timed_stream(model: ChatModel, request: ChatRequest) -> tuple[list[tuple[float, str]], ModelResponse]:
    """The text deltas with the perf_counter() at which each reached the caller, and the final response."""

    async def go() -> tuple[list[tuple[float, str]], ModelResponse]:
        seen: list[tuple[float, str]] = []
        final = None
        async for item in model.stream(request):
            if isinstance(item, ModelResponse):
                final = item
            elif isinstance(item, str) and item:
                seen.append((time.perf_counter(), item))
        assert final is not None
        return seen, final

    return asyncio.run(go())


def test_a_pooled_client_sends_every_call_over_one_connection(io: ModelIO) -> None:
    with FakeOpenAIServer(default=Turn(text="hi there")) as server:
        model = OpenAICompatModel("m", base_url=server.url, io=io)
        replies: list[str] = []

        def turn(n: int) -> None:  # what the service does: a worker thread, a fresh event loop per turn
            if n % 2:
                replies.append((asyncio.run(model.complete(HELLO))).text)
            else:
                replies.append(timed_stream(model, HELLO)[1].text)

        for n in range(6):  # one after the other, each on a thread of its own
            worker = threading.Thread(target=turn, args=(n,))
            worker.start()
            worker.join()
        assert replies == ["hi there"] * 6 and len(server.requests) == 6
        assert server.connections == 1  # JSON and streamed answers alike kept the connection open


def test_http_framing_content_length_chunked_and_connection_close() -> None:
    script = [Turn(text="one"), Turn(text="two words"), Turn(text="cut short here", cut_after_chunks=2), Turn()]
    with FakeOpenAIServer(script) as server, httpx.Client(base_url=server.url) as client:
        body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        plain = client.post("/chat/completions", json=body)
        assert plain.http_version == "HTTP/1.1" and int(plain.headers["content-length"]) == len(plain.content)
        assert plain.json()["choices"][0]["message"]["content"] == "one"
        with client.stream("POST", "/chat/completions", json={**body, "stream": True}) as streamed:
            assert streamed.headers["transfer-encoding"] == "chunked" and "content-length" not in streamed.headers
            events = [line for line in streamed.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "data: [DONE]" and server.connections == 1
        with client.stream("POST", "/chat/completions", json={**body, "stream": True}) as cut:
            events = [line for line in cut.iter_lines() if line.startswith("data: ")]
        assert len(events) == 2 and "[DONE]" not in events[-1]  # ended early, and the connection with it
        last = client.post("/chat/completions", json=body, headers={"Connection": "close"})
        assert last.status_code == 200 and last.headers["connection"] == "close"
        assert server.connections == 2  # a new one after the cut
        assert client.get("/models").status_code == 405


def test_streams_are_paced_like_a_model_and_send_times_are_recorded(io: ModelIO) -> None:
    text = "Restart the VPN client and sign in again."  # 8 words: 8 deltas
    ttft, per_token = 0.15, 0.04
    with FakeOpenAIServer(default=Turn(text=text, ttft_s=ttft, token_s=per_token)) as server:
        model = OpenAICompatModel("m", base_url=server.url, io=io)
        started = time.perf_counter()
        seen, final = timed_stream(model, HELLO)
        elapsed = time.perf_counter() - started
    assert final.text == text and "".join(t for _, t in seen) == text
    assert ttft * 0.9 <= seen[0][0] - started < ttft + 1.0  # generous: a shared, noisy machine
    assert ttft + 7 * per_token * 0.9 <= elapsed < ttft + 7 * per_token + 2.0
    assert final.first_token_ms is not None and final.first_token_ms >= ttft * 900
    sent = server.sent
    assert [s.text for s in sent] == [t for _, t in seen] and {s.request for s in sent} == {0}
    gaps = [b.at - a.at for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= per_token * 0.8
    assert sent[0].at - server.received[0] >= ttft * 0.9
    assert server.first_text_at(0) == sent[0].at and server.first_text_at(1) is None
    for (received, _), written in zip(seen, sent, strict=True):
        assert 0 <= received - written.at < 0.5  # the caller saw each delta after the server wrote it


def test_a_reply_that_is_not_streamed_waits_for_its_last_token(io: ModelIO) -> None:
    with FakeOpenAIServer(default=Turn(text="a b c d e", ttft_s=0.1, token_s=0.05)) as server:
        model = OpenAICompatModel("m", base_url=server.url, io=io)
        started = time.perf_counter()
        reply = asyncio.run(model.complete(HELLO))
        elapsed = time.perf_counter() - started
    assert reply.text == "a b c d e" and server.sent == []  # only streamed text has send times
    assert 0.1 + 4 * 0.05 * 0.9 <= elapsed < 2.0


def test_tool_call_arguments_stream_token_by_token_when_paced(io: ModelIO) -> None:
    turn = Turn(tool_calls=[("account_status", {"username": "r.chen"})], ttft_s=0.02, token_s=0.01)
    with FakeOpenAIServer([turn]) as server:
        chunks = list(server.chunks({"model": "m"}, turn))
        model = OpenAICompatModel("m", base_url=server.url, io=io)
        _, final = timed_stream(model, ChatRequest((Message("user", "status?"),), (LOOKUP,)))
    deltas = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]
    assert len(deltas) == 6  # '{"username": "r.chen"}' in pieces of four characters
    assert final.tool_calls[0].name == "account_status" and final.tool_calls[0].arguments == {"username": "r.chen"}


def test_default_can_answer_by_request(io: ModelIO) -> None:
    def by_tools(body: dict[str, Any]) -> Turn:
        if body.get("tools"):
            return Turn(tool_calls=[("account_status", {})])
        return Turn(text=f"you said {body['messages'][-1]['content']}")

    with FakeOpenAIServer(default=by_tools) as server:
        model = OpenAICompatModel("m", base_url=server.url, io=io)
        assert asyncio.run(model.complete(HELLO)).text == "you said hello"
        with_tools = asyncio.run(model.complete(ChatRequest((Message("user", "x"),), (LOOKUP,))))
        assert with_tools.tool_calls[0].name == "account_status"
    assert server.violations == []


def test_a_dropped_connection_mid_stream_is_a_connection_error(io: ModelIO) -> None:
    turn = Turn(text="half of a long answer that never", cut_after_chunks=3, drop_connection=True)
    with FakeOpenAIServer([turn]) as server:
        model = OpenAICompatModel("m", base_url=server.url, io=io)
        with pytest.raises(ModelCallError) as caught:
            timed_stream(model, HELLO)
    assert caught.value.kind == "connection"


def test_a_paced_model_delivers_the_inner_decision_at_a_models_pace(io: ModelIO) -> None:
    answer = ModelResponse(text="Your printer is back online now.", model="scripted", expects="confirmation")
    inner = ScriptedModel([call("printer_status", printer="LON-F3-HP-01"), answer])
    with FakeOpenAIServer(default=Turn(text="not for a paced call")) as server:
        paced = PacedModel(inner, server, ttft_s=0.1, token_s=0.02, io=io)
        asking = ChatRequest((Message("user", "my printer is offline"),), (LOOKUP,))
        _, first = timed_stream(paced, asking)
        seen, second = timed_stream(paced, asking)
        paced_connections = server.connections
        assert (
            asyncio.run(OpenAICompatModel("m", base_url=server.url, io=io).complete(HELLO)).text
            == "not for a paced call"
        )
    assert len(first.tool_calls) == 1 and first.tool_calls[0].arguments == {"printer": "LON-F3-HP-01"}
    assert "".join(t for _, t in seen) == answer.text and second.text == answer.text
    assert (second.expects, second.model) == ("confirmation", "paced-scripted")  # the inner decision, kept
    assert second.first_token_ms is not None and second.first_token_ms >= 90
    assert second.latency_ms >= 100 + 4 * 20 * 0.9  # five words: the last one 4 deltas after the first
    assert server.requests[0]["messages"][0]["content"] == "my printer is offline" and server.requests[0]["tools"]
    assert server.violations == [] and paced_connections == 1
