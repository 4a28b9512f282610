"""AnthropicModel's own behaviour: the Messages-API wire format, caching, stop reasons, structured replies,
prices, the runtime wiring, and the fake server's checks (the shared contract is in test_model_contract)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from firstline.errors import ModelCallError
from firstline.llm.anthropic import REPLY_TOOL, AnthropicModel
from firstline.llm.anthropic_wire import NOT_RUN, OPENING, to_anthropic_messages
from firstline.llm.catalog import load_catalog
from firstline.llm.messages import ChatRequest, Message, ModelResponse, StreamReset, ToolCall, ToolSpec
from firstline.llm.openai_compat import MALFORMED_ARGUMENTS
from firstline.llm.pool import ModelIO
from firstline.runtime import build_model
from firstline.settings import EndpointSettings
from firstline.testing.anthropic_server import FakeAnthropicServer, Turn
from firstline.testing.chat_models import UNLOCK, collect

KEY = "sk-ant-test"
STATUS = ToolSpec("account_status", "Look an account up.", {"type": "object", "properties": {}})
ROUTE = {"type": "object", "properties": {"agent": {"type": "string"}}, "required": ["agent"]}


@pytest.fixture
def fake() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(api_key=KEY) as server:
        yield server
    assert server.violations == []


@pytest.fixture
def io() -> Iterator[ModelIO]:
    io = ModelIO()
    yield io
    io.close()


def claude(server: FakeAnthropicServer, io: ModelIO, **options: Any) -> AnthropicModel:
    return AnthropicModel("claude-sonnet-4-5", base_url=server.url, api_key=KEY, io=io, **options)


def ask(*messages: Message, tools: tuple[ToolSpec, ...] = (), **fields: Any) -> ChatRequest:
    return ChatRequest((Message("system", "You are the helpdesk."), *messages), tools, **fields)


def offline(**options: Any) -> AnthropicModel:
    return AnthropicModel("claude-sonnet-4-5", base_url="http://127.0.0.1:1", api_key=KEY, **options)


# -- the wire format ---------------------------------------------------------------------------------


def test_messages_become_system_blocks_merged_turns_and_tool_results() -> None:
    calls = (ToolCall("toolu_a", "account_status", {"username": "r.chen"}), ToolCall("toolu_b", "unlock", {}))
    system, messages = to_anthropic_messages(
        [
            Message("system", "You are the helpdesk."),
            Message("user", "my account"),
            Message("system", "Facts: verified."),
            Message("user", "is locked"),
            Message("assistant", "Let me check.", calls),
            Message("tool", "r.chen is locked", tool_call_id="toolu_a", result={"outcome": "ok"}),
            Message("tool", "FAILED: directory down", tool_call_id="toolu_b", result={"outcome": "failed"}),
            Message("user", "thanks"),
            Message("assistant", "You're welcome."),
        ]
    )
    assert system == [{"type": "text", "text": "You are the helpdesk."}, {"type": "text", "text": "Facts: verified."}]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == [{"type": "text", "text": "my account"}, {"type": "text", "text": "is locked"}]
    assert messages[1]["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_a", "name": "account_status", "input": {"username": "r.chen"}},
        {"type": "tool_use", "id": "toolu_b", "name": "unlock", "input": {}},
    ]
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "r.chen is locked"},
        {"type": "tool_result", "tool_use_id": "toolu_b", "content": "FAILED: directory down", "is_error": True},
        {"type": "text", "text": "thanks"},
    ]
    assert FakeAnthropicServer._check_messages(messages) == ""


def test_histories_the_api_would_reject_are_repaired() -> None:
    call = ToolCall("toolu_x", "account_status", {})
    _, messages = to_anthropic_messages(
        [
            Message("assistant", "Hello, how can I help?"),  # the history starts with the assistant
            Message("tool", "stale result", tool_call_id="toolu_gone"),  # its call was trimmed away
            Message("assistant", "", (call,)),  # a call whose result never came (a paused run)
            Message("user", "anything new?"),
            Message("user", ""),  # empty text is dropped
        ]
    )
    assert messages[0] == {"role": "user", "content": [{"type": "text", "text": OPENING}]}
    assert messages[2]["content"] == [{"type": "text", "text": "Result of tool call toolu_gone: stale result"}]
    assert messages[4]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_x", "content": NOT_RUN, "is_error": True},
        {"type": "text", "text": "anything new?"},
    ]
    assert FakeAnthropicServer._check_messages(messages) == ""
    _, ending = to_anthropic_messages([Message("user", "go"), Message("assistant", "", (call,))])
    assert ending[-1]["content"][0]["tool_use_id"] == "toolu_x" and FakeAnthropicServer._check_messages(ending) == ""


def test_cache_control_marks_the_last_tool_and_the_last_system_block() -> None:
    request = ChatRequest(
        (Message("system", "Instructions."), Message("system", "Briefing."), Message("user", "hi")), (STATUS, UNLOCK)
    )
    body = offline().body(request)
    assert [t.get("cache_control") for t in body["tools"]] == [None, {"type": "ephemeral"}]
    assert [b.get("cache_control") for b in body["system"]] == [None, {"type": "ephemeral"}]
    assert "cache_control" not in json.dumps(body["messages"])
    assert "cache_control" not in json.dumps(offline(cache=False).body(request))


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "unlock_account"}}, {"type": "tool", "name": "unlock_account"}),
    ],
)
def test_tool_choice_mapping(choice: Any, expected: dict[str, Any]) -> None:
    body = offline().body(ask(Message("user", "hi"), tools=(UNLOCK,), tool_choice=choice))
    assert body["tool_choice"] == expected
    assert body["tools"][0]["input_schema"] == UNLOCK.parameters
    assert "tool_choice" not in offline().body(ask(Message("user", "hi"), tool_choice=choice))


def test_temperature_is_sent_only_to_the_api_version_that_takes_it(fake: FakeAnthropicServer, io: ModelIO) -> None:
    assert "temperature" not in offline().body(ask(Message("user", "hi")))
    assert "temperature: Extra inputs" in fake.check_body({"temperature": 0.0}, "2026-10-21")
    asyncio.run(claude(fake, io).complete(ask(Message("user", "hi"))))
    legacy = claude(fake, io, anthropic_version="2023-06-01", temperature=0.2)
    asyncio.run(legacy.complete(ask(Message("user", "hi"))))
    assert [h["anthropic-version"] for h in fake.headers] == ["2026-10-21", "2023-06-01"]
    assert fake.requests[1]["temperature"] == 0.2 and all(h["x-api-key"] == KEY for h in fake.headers)


# -- replies -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [False, True])
def test_thinking_becomes_reasoning_and_usage_counts_the_cache(
    fake: FakeAnthropicServer, io: ModelIO, streaming: bool
) -> None:
    fake.script = [Turn(text="Unlocked.", thinking="The user is verified.", usage=(100, 20, 4000, 2000))]
    model, request = claude(fake, io), ask(Message("user", "unlock me"))
    response = collect(model, request)[1] if streaming else asyncio.run(model.complete(request))
    assert (response.text, response.reasoning) == ("Unlocked.", "The user is verified.")
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.cached_tokens) == (
        6100,
        20,
        4000,
    )
    assert getattr(response, "stop_reason", None) == "end_turn"


def test_prices_come_from_the_catalog_with_cache_reads_and_writes(fake: FakeAnthropicServer, io: ModelIO) -> None:
    sonnet = next(m for m in load_catalog() if m.id == "claude-sonnet-4.5")
    assert (sonnet.price_in, sonnet.price_cached_in, sonnet.price_out) == (3.0, 0.30, 15.0)
    fake.script = [Turn(text="Hi.", usage=(1000, 200, 4000, 2000))]
    response = asyncio.run(claude(fake, io, pricing=sonnet).complete(ask(Message("user", "hi"))))
    reads, writes, fresh = 4000 * 0.30, 2000 * 3.0 * 1.25, 1000 * 3.0
    assert response.cost_usd == pytest.approx((fresh + reads + writes + 200 * 15.0) / 1_000_000)


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(
    ("turn", "outcome"),
    [
        (Turn(stop_reason="max_tokens"), "bad_response"),
        (Turn(stop_reason="refusal"), "bad_response"),
        (Turn(stop_reason="pause_turn"), "bad_response"),
        (Turn(text="The steps are: first", stop_reason="max_tokens"), "max_tokens"),
        (Turn(text="I can't help with that.", stop_reason="refusal"), "refusal"),
        (Turn(text="Done.", stop_reason="stop_sequence"), "stop_sequence"),
    ],
)
def test_stop_reasons(fake: FakeAnthropicServer, io: ModelIO, turn: Turn, outcome: str, streaming: bool) -> None:
    fake.script = [turn]
    model, request = claude(fake, io), ask(Message("user", "hi"))
    if outcome == "bad_response":
        with pytest.raises(ModelCallError) as caught:
            collect(model, request) if streaming else asyncio.run(model.complete(request))
        assert caught.value.kind == "bad_response" and str(turn.stop_reason) in str(caught.value)
        return
    response = collect(model, request)[1] if streaming else asyncio.run(model.complete(request))
    assert response.text == turn.text and getattr(response, "stop_reason", None) == outcome


@pytest.mark.parametrize("streaming", [False, True])
def test_a_structured_reply_is_a_forced_tool_returned_as_json(
    fake: FakeAnthropicServer, io: ModelIO, streaming: bool
) -> None:
    fake.script = [Turn(tool_calls=[(REPLY_TOOL, {"agent": "security"})])]
    model, request = claude(fake, io), ask(Message("user", "route this"), json_schema=ROUTE)
    if streaming:
        deltas, response = collect(model, request)
        assert "".join(d for d in deltas if isinstance(d, str)) == response.text
    else:
        response = asyncio.run(model.complete(request))
    assert json.loads(response.text) == {"agent": "security"} and response.tool_calls == ()
    sent = fake.requests[0]
    assert sent["tools"] == [
        {"name": REPLY_TOOL, "description": "Give your reply in this form.", "input_schema": ROUTE}
    ]
    assert sent["tool_choice"] == {"type": "tool", "name": REPLY_TOOL}


def test_structured_replies_beside_tools_wrapped_schemas_and_output_config(
    fake: FakeAnthropicServer, io: ModelIO
) -> None:
    with_tools = offline().body(ask(Message("user", "x"), tools=(UNLOCK,), json_schema=ROUTE))
    assert [t["name"] for t in with_tools["tools"]] == ["unlock_account", REPLY_TOOL]
    assert with_tools["tool_choice"] == {"type": "any"}
    fake.script = [Turn(text="Before.", tool_calls=[(REPLY_TOOL, {"reply": ["a", "b"]})])]
    items = [*collect(claude(fake, io), ask(Message("user", "x"), json_schema={"type": "array"}))[0]]
    assert items[-2:] == [StreamReset("claude-sonnet-4-5", "structured_reply"), '["a", "b"]']
    assert fake.requests[0]["tools"][0]["input_schema"]["properties"]["reply"] == {"type": "array"}
    fake.script = [Turn(text='{"agent": "network"}')]
    native = claude(fake, io, structured="output_config")
    response = asyncio.run(native.complete(ask(Message("user", "x"), json_schema=ROUTE)))
    assert json.loads(response.text) == {"agent": "network"}
    assert fake.requests[1]["output_config"] == {"format": {"type": "json_schema", "schema": ROUTE}}
    assert "tools" not in fake.requests[1]


def test_malformed_tool_input_in_a_whole_message_is_kept(fake: FakeAnthropicServer, io: ModelIO) -> None:
    fake.script = [Turn(tool_calls=[("unlock_account", '{"username": ')])]
    response = asyncio.run(claude(fake, io).complete(ask(Message("user", "x"), tools=(UNLOCK,))))
    assert response.tool_calls[0].arguments == {MALFORMED_ARGUMENTS: '{"username": '}


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", "server_error"),
        ("rate_limit_error", "rate_limited"),
        ("invalid_request_error", "bad_response"),
    ],
)
def test_an_error_event_mid_stream(fake: FakeAnthropicServer, io: ModelIO, error_type: str, kind: str) -> None:
    fake.script = [Turn(text="a long answer", error_event=error_type, error_after_events=4)]
    with pytest.raises(ModelCallError) as caught:
        collect(claude(fake, io), ask(Message("user", "hi")))
    assert caught.value.kind == kind and error_type in str(caught.value)


@pytest.mark.parametrize(
    ("turn", "kind", "detail"),
    [
        (Turn(status=529), "server_error", "overloaded_error"),
        (Turn(status=503, error_type="api_error"), "server_error", "HTTP 503"),
        (Turn(status=429, headers={"retry-after-ms": "1500"}), "rate_limited", "rate_limit_error"),
        (Turn(status=400), "bad_response", "invalid_request_error: scripted 400"),
        (Turn(status=401), "bad_response", "authentication_error"),
    ],
)
def test_http_errors(fake: FakeAnthropicServer, io: ModelIO, turn: Turn, kind: str, detail: str) -> None:
    fake.script = [turn]
    with pytest.raises(ModelCallError) as caught:
        asyncio.run(claude(fake, io).complete(ask(Message("user", "hi"))))
    assert caught.value.kind == kind and detail in str(caught.value)
    assert caught.value.retry_after_s == (1.5 if turn.status == 429 else None)


def test_nothing_to_send_fails_before_any_call(fake: FakeAnthropicServer, io: ModelIO) -> None:
    with pytest.raises(ModelCallError) as caught:
        asyncio.run(claude(fake, io).complete(ChatRequest((Message("system", "only a system prompt"),))))
    assert caught.value.kind == "bad_response" and fake.requests == []


# -- wiring ------------------------------------------------------------------------------------------


def test_build_model_makes_a_working_anthropic_model(fake: FakeAnthropicServer, io: ModelIO) -> None:
    endpoint = EndpointSettings(
        preset="anthropic",
        base_url=fake.url + "/v1",  # a trailing /v1 is forgiven
        model="claude-sonnet-4-5",
        api_key=KEY,
        catalog_id="claude-sonnet-4.5",
        max_tokens=512,
        overrides={"cache": False},
    )
    model = build_model("claude", endpoint, {m.id: m for m in load_catalog()}, io)
    assert isinstance(model, AnthropicModel) and model.name == "claude"
    fake.script = [Turn(text="Hello from Claude.", usage=(10, 5, 0, 0))]
    response = asyncio.run(model.complete(ask(Message("user", "hi"), tools=(UNLOCK,))))
    assert response.text == "Hello from Claude." and response.cost_usd == pytest.approx((10 * 3 + 5 * 15) / 1e6)
    assert fake.requests[0]["max_tokens"] == 512 and "cache_control" not in json.dumps(fake.requests[0])
    assert fake.headers[0]["x-api-key"] == KEY and io.created == 1
    fake.script = [Turn(text="Streamed over the same connection.")]
    assert collect(model, ask(Message("user", "again")))[1].text == "Streamed over the same connection."
    assert fake.connections == 1  # the pooled client keeps its HTTP/1.1 connection alive


def test_an_injected_client_is_used_on_the_callers_loop(fake: FakeAnthropicServer, io: ModelIO) -> None:
    async def run() -> ModelResponse:
        async with anthropic.AsyncAnthropic(api_key=KEY, base_url=fake.url, max_retries=0) as client:
            return await claude(fake, io, client=client).complete(ask(Message("user", "hi")))

    assert asyncio.run(run()).text == "OK" and io.created == 0


# -- the fake server itself --------------------------------------------------------------------------


def test_the_fake_server_rejects_what_the_api_rejects() -> None:
    good = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    use = {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "x", "input": {}}]}
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}
    five = [{"type": "text", "text": f"s{i}", "cache_control": {"type": "ephemeral"}} for i in range(5)]
    headers = {"x-api-key": KEY, "anthropic-version": "2026-10-21"}
    cases: list[tuple[dict[str, Any], dict[str, str], int, str]] = [
        (good, {"anthropic-version": "2026-10-21"}, 401, "x-api-key"),
        (good, {"x-api-key": KEY}, 400, "anthropic-version"),
        ({**good, "max_tokens": None}, headers, 400, "max_tokens"),
        ({**good, "messages": []}, headers, 400, "at least one message"),
        ({**good, "messages": [use, result]}, headers, 400, "first message"),
        ({**good, "messages": [good["messages"][0], good["messages"][0]]}, headers, 400, "alternate"),
        ({**good, "messages": [*good["messages"], use]}, headers, 400, "no tool_result"),
        ({**good, "messages": [*good["messages"], use, {"role": "user", "content": "hi"}]}, headers, 400, "without"),
        (
            {**good, "messages": [*good["messages"], {**use, "content": [{"type": "text", "text": "a"}]}, result]},
            headers,
            400,
            "unexpected tool_use_id",
        ),
        ({**good, "system": {"text": "x"}}, headers, 400, "system"),
        ({**good, "system": five}, headers, 400, "maximum of 4"),
        ({**good, "tools": [{"name": "x", "input_schema": {"type": "string"}}]}, headers, 400, "input_schema"),
        ({**good, "top_k": 5}, headers, 400, "Extra inputs"),
    ]
    with FakeAnthropicServer(api_key=KEY) as server, httpx.Client(base_url=server.url) as http:
        assert http.post("/v1/messages", json={**good, "messages": [*good["messages"], use, result]}, headers=headers)
        for body, sent, status, words in cases:
            answer = http.post("/v1/messages", json=body, headers=sent)
            error = answer.json()
            assert (answer.status_code, error["type"]) == (status, "error"), (body, answer.text)
            assert words in error["error"]["message"], (words, error)
        assert len(server.violations) == len(cases)
        stream = http.post("/v1/messages", json={**good, "stream": True}, headers=headers)
        events = [line[7:] for line in stream.text.splitlines() if line.startswith("event: ")]
        assert events == ["message_start", "content_block_start", "ping", "content_block_delta",
                          "content_block_stop", "message_delta", "message_stop"]  # fmt: skip
        assert stream.headers["transfer-encoding"] == "chunked"
