"""OpenAICompatModel and FallbackChain through the real openai SDK, over real HTTP, against scripted faults."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firstline.agents import Agent, RunContext, Runner, tool
from firstline.errors import ModelCallError
from firstline.llm.fallback import Budget, CircuitBreaker, FallbackChain
from firstline.llm.messages import ChatRequest, Message, ModelResponse, ToolSpec
from firstline.llm.openai_compat import MALFORMED_ARGUMENTS, OpenAICompatModel
from firstline.llm.profiles import PRESETS, profile
from firstline.llm.testing import ScriptedModel, say
from firstline.testing.openai_server import FakeOpenAIServer, Turn

TGI_SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "tgi" / "tgi.openapi.json"
UNLOCK = ToolSpec(
    "unlock_account",
    "Unlock the requester's account.",
    {"type": "object", "properties": {"username": {"type": "string"}}, "required": ["username"]},
)


def request(*texts: str, tools: tuple[ToolSpec, ...] = (), schema: dict[str, Any] | None = None) -> ChatRequest:
    return ChatRequest(
        (Message("system", "You are the helpdesk."), *[Message("user", t) for t in texts]), tools, json_schema=schema
    )


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server
    assert server.violations == []


def model(server: FakeOpenAIServer, **options: Any) -> OpenAICompatModel:
    return OpenAICompatModel("fake-model", base_url=server.url, preset=options.pop("preset", "vllm"), **options)


def collect(chat: Any, req: ChatRequest) -> tuple[list[str], ModelResponse]:
    async def run() -> tuple[list[str], ModelResponse]:
        deltas: list[str] = []
        final = None
        async for item in chat.stream(req):
            if isinstance(item, ModelResponse):
                final = item
            else:
                deltas.append(item)
        assert final is not None
        return deltas, final

    return asyncio.run(run())


def test_chat_with_usage_and_reasoning(fake: FakeOpenAIServer) -> None:
    fake.script = [Turn(text="Your account is unlocked.", usage=(120, 9, 64), reasoning="The user is verified.")]
    response = asyncio.run(model(fake).complete(request("unlock me")))
    assert response.text == "Your account is unlocked." and response.tool_calls == ()
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.cached_tokens) == (
        120,
        9,
        64,
    )
    assert response.reasoning == "The user is verified." and response.model == "fake-model"
    sent = fake.requests[0]
    assert sent["model"] == "fake-model" and sent["messages"][0] == {
        "role": "system",
        "content": "You are the helpdesk.",
    }
    assert "stream" not in sent


@pytest.mark.parametrize("object_arguments", [False, True])
def test_tool_calls_parse_from_strings_and_objects(fake: FakeOpenAIServer, object_arguments: bool) -> None:
    fake.script = [Turn(tool_calls=[("unlock_account", {"username": "r.chen"})], object_arguments=object_arguments)]
    response = asyncio.run(model(fake).complete(request("unlock r.chen", tools=(UNLOCK,))))
    assert [(c.name, c.arguments) for c in response.tool_calls] == [("unlock_account", {"username": "r.chen"})]
    sent = fake.requests[0]
    assert sent["tools"][0]["function"]["name"] == "unlock_account" and sent["tool_choice"] == "auto"
    assert sent["parallel_tool_calls"] is True


def test_streaming_assembles_text_tool_deltas_and_usage(fake: FakeOpenAIServer) -> None:
    fake.script = [
        Turn(text="Checking your account now", usage=(50, 7, 0)),
        Turn(tool_calls=[("unlock_account", {"username": "r.chen"}), ("unlock_account", {"username": "x"})]),
    ]
    deltas, final = collect(model(fake), request("hi"))
    assert "".join(deltas).strip() == "Checking your account now" == final.text.strip()
    assert final.usage.prompt_tokens == 50 and final.first_token_ms is not None
    assert fake.requests[0]["stream"] is True and fake.requests[0]["stream_options"] == {"include_usage": True}
    _, calls = collect(model(fake), request("unlock", tools=(UNLOCK,)))
    assert [c.arguments for c in calls.tool_calls] == [{"username": "r.chen"}, {"username": "x"}]
    assert [c.id for c in calls.tool_calls] == ["call_0", "call_1"]


def test_malformed_tool_json_is_kept_for_the_validation_message(fake: FakeOpenAIServer) -> None:
    fake.script = [Turn(tool_calls=[("unlock_account", '{"username": "r.ch')])]
    response = asyncio.run(model(fake).complete(request("unlock", tools=(UNLOCK,))))
    assert response.tool_calls[0].arguments == {MALFORMED_ARGUMENTS: '{"username": "r.ch'}


@pytest.mark.parametrize(
    ("turn", "kind", "retry_after"),
    [
        (Turn(status=429, headers={"Retry-After": "7"}), "rate_limited", 7.0),
        (Turn(status=500), "server_error", None),
        (Turn(status=400), "bad_response", None),
        (Turn(delay_s=1.5), "timeout", None),
        (Turn(text="half of a long answer that never", cut_after_chunks=3), "broken_stream", None),
    ],
)
def test_faults_become_model_call_errors(
    fake: FakeOpenAIServer, turn: Turn, kind: str, retry_after: float | None
) -> None:
    fake.script = [turn]
    with pytest.raises(ModelCallError) as caught:
        collect(model(fake, timeout_s=0.5), request("hi"))
    assert caught.value.kind == kind and caught.value.retry_after_s == retry_after


def test_unreachable_endpoint() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = OpenAICompatModel("m", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=2)
    with pytest.raises(ModelCallError) as caught:
        asyncio.run(dead.complete(request("hi")))
    assert caught.value.kind == "connection"


def test_presets_shape_structured_output_and_tgi_requests_match_the_spec() -> None:
    schema = {"type": "object", "properties": {"agent": {"type": "string"}}, "required": ["agent"]}
    tools_and_schema = request("route this", tools=(UNLOCK,), schema=schema)
    vllm = OpenAICompatModel("m", base_url="http://127.0.0.1:1/v1", preset="vllm").body(tools_and_schema, stream=True)
    assert (
        vllm["response_format"]["type"] == "json_schema" and vllm["response_format"]["json_schema"]["schema"] == schema
    )
    assert not [k for k in vllm if k.startswith("guided_")]
    tgi = OpenAICompatModel("m", base_url="http://127.0.0.1:1/v1", preset="tgi").body(tools_and_schema, stream=True)
    assert tgi["response_format"] == {"type": "json", "value": schema} and "parallel_tool_calls" not in tgi
    groq = OpenAICompatModel("m", preset="groq", api_key="k", extra={"logprobs": True, "n": 2, "seed": 1})
    assert set(groq.body(request("x"))) >= {"seed"} and not {"logprobs", "n"} & set(groq.body(request("x")))
    assert OpenAICompatModel("m", preset="openai", api_key="k").body(request("x"))["max_completion_tokens"] == 1024
    assert profile("vllm", parallel_tool_calls=False).parallel_tool_calls is False
    assert set(PRESETS) == {"vllm", "sglang", "tgi", "llamacpp", "ollama", "openai", "together", "fireworks",
                            "deepinfra", "groq", "openrouter"}  # fmt: skip
    if not TGI_SPEC.exists():
        pytest.skip(f"TGI spec not found at {TGI_SPEC}")
    spec = json.loads(TGI_SPEC.read_text())["components"]["schemas"]["ChatRequest"]["properties"]
    assert set(tgi) <= set(spec), set(tgi) - set(spec)


def test_tgi_dialect_over_http() -> None:
    if not TGI_SPEC.exists():
        pytest.skip(f"TGI spec not found at {TGI_SPEC}")
    fields = frozenset(json.loads(TGI_SPEC.read_text())["components"]["schemas"]["ChatRequest"]["properties"])
    with FakeOpenAIServer(
        [Turn(tool_calls=[("unlock_account", {"username": "a"})])], dialect="tgi", tgi_fields=fields
    ) as server:
        tgi = OpenAICompatModel("tgi-model", base_url=server.url, preset="tgi")
        _, final = collect(tgi, request("unlock", tools=(UNLOCK,), schema={"type": "object"}))
        assert final.tool_calls[0].arguments == {"username": "a"} and server.violations == []


def test_fallback_chain_moves_on_and_remembers(fake: FakeOpenAIServer) -> None:
    with FakeOpenAIServer([Turn(text="from the backup")] * 5) as backup:
        fake.script = [Turn(status=429, headers={"Retry-After": "60"})]
        primary, secondary = model(fake, name="primary"), model(backup, name="backup")
        chain = FallbackChain([primary, secondary], budget=Budget(first_token_s=2, turn_s=5))
        first = asyncio.run(chain.complete(request("hi")))
        assert (first.model, first.text.strip(), first.fallbacks) == (
            "backup",
            "from the backup",
            ("primary: rate_limited",),
        )
        second = asyncio.run(chain.complete(request("again")))
        assert second.fallbacks == ("primary: circuit_open",) and len(fake.requests) == 1  # Retry-After honoured


def test_slow_first_token_and_dead_models_end_at_the_offline_engine(fake: FakeOpenAIServer) -> None:
    fake.script = [Turn(text="too late", delay_s=1.0), Turn(status=503), Turn(status=503)]
    offline = ScriptedModel([say("offline answer"), say("offline again")])
    chain = FallbackChain([model(fake, name="slow")], last_resort=offline, budget=Budget(first_token_s=0.3, turn_s=2))
    assert asyncio.run(chain.complete(request("hi"))).text == "offline answer"
    response = asyncio.run(chain.complete(request("hi")))
    assert response.model == "scripted" and response.fallbacks == ("slow: server_error",)


def test_circuit_breaker_opens_and_half_opens() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown_s=10, clock=lambda: now[0])
    breaker.failure()
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 10.5
    assert breaker.state == "half_open" and breaker.allow()
    breaker.success()
    assert breaker.state == "closed"


def test_the_runner_sends_malformed_arguments_back_and_the_policy_still_rules(fake: FakeOpenAIServer) -> None:
    @tool
    def account_status(ctx: RunContext, username: str) -> str:
        """Look an account up.

        Args:
            username: the account name.
        """
        return f"{username} is locked"

    @tool(risk="write")
    def unlock_account(ctx: RunContext, username: str) -> str:
        """Unlock an account.

        Args:
            username: the account name.
        """
        return f"{username} unlocked"

    fake.script = [
        Turn(tool_calls=[("account_status", '{"username": ')]),
        Turn(tool_calls=[("account_status", {"username": "r.chen"})]),
        Turn(tool_calls=[("unlock_account", {"username": "r.chen"})]),
        Turn(text="I need to verify you first."),
    ]
    agent = Agent("security", "Help.", tools=(account_status, unlock_account))
    result = asyncio.run(Runner({"security": agent}, model(fake)).run("security", "unlock me", RunContext("a@b.c")))

    def last_tool_message(index: int) -> str:
        return str([m for m in fake.requests[index]["messages"] if m["role"] == "tool"][-1]["content"])

    assert "Invalid arguments for account_status" in last_tool_message(1)
    assert last_tool_message(2) == "r.chen is locked"
    assert last_tool_message(3).startswith("REFUSED")
    assert result.reply == "I need to verify you first."
