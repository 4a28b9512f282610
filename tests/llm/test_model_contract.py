"""Both model adapters pass the same contract, each over real HTTP against a fake of its API."""

from __future__ import annotations

from typing import Any

from firstline.llm.anthropic import AnthropicModel
from firstline.llm.messages import ChatModel
from firstline.llm.openai_compat import OpenAICompatModel
from firstline.testing.anthropic_server import FakeAnthropicServer
from firstline.testing.anthropic_server import Turn as AnthropicTurn
from firstline.testing.chat_models import ChatModelContract, Reply
from firstline.testing.openai_server import FakeOpenAIServer
from firstline.testing.openai_server import Turn as OpenAITurn

KEY = "sk-ant-contract"


class TestOpenAICompatModel(ChatModelContract):
    def serve(self) -> FakeOpenAIServer:
        return FakeOpenAIServer()

    def make_model(self, url: str | None, server: Any, **options: Any) -> ChatModel:
        base = f"{url}/v1" if url else server.url
        return OpenAICompatModel("contract-model", base_url=base, preset="vllm", **options)

    def script(self, server: Any, *replies: Reply) -> None:
        server.script.extend(
            OpenAITurn(
                text=r.text,
                tool_calls=list(r.tool_calls),
                status=r.status,
                headers=dict(r.headers),
                delay_s=r.delay_s,
                cut_after_chunks=r.cut_after,
                usage=r.usage,
            )
            for r in replies
        )

    def system_text(self, body: dict[str, Any]) -> str:
        return "\n".join(m["content"] for m in body["messages"] if m["role"] == "system")

    def tool_results(self, body: dict[str, Any]) -> dict[str, str]:
        return {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}


class TestAnthropicModel(ChatModelContract):
    def serve(self) -> FakeAnthropicServer:
        return FakeAnthropicServer(api_key=KEY)

    def make_model(self, url: str | None, server: Any, **options: Any) -> ChatModel:
        return AnthropicModel("claude-sonnet-4-5", base_url=url or server.url, api_key=KEY, **options)

    def script(self, server: Any, *replies: Reply) -> None:
        for r in replies:
            prompt, completion, cached = r.usage
            server.script.append(
                AnthropicTurn(
                    text=r.text,
                    tool_calls=list(r.tool_calls),
                    status=r.status,
                    headers=dict(r.headers),
                    delay_s=r.delay_s,
                    cut_after_events=r.cut_after,
                    usage=(prompt - cached, completion, cached, 0),
                )
            )

    def system_text(self, body: dict[str, Any]) -> str:
        system = body.get("system") or []
        return system if isinstance(system, str) else "\n".join(b["text"] for b in system)

    def tool_results(self, body: dict[str, Any]) -> dict[str, str]:
        return {
            b["tool_use_id"]: b.get("content", "")
            for m in body["messages"]
            if m["role"] == "user" and isinstance(m["content"], list)
            for b in m["content"]
            if b["type"] == "tool_result"
        }


def test_both_adapters_run_every_contract_case_unchanged() -> None:
    cases = {name for name in dir(ChatModelContract) if name.startswith("test_")}
    assert len(cases) >= 15  # 16 cases (some parametrised) when this was written
    for adapter in (TestOpenAICompatModel, TestAnthropicModel):
        overridden = {name for name in cases if name in vars(adapter)}
        assert not overridden, f"{adapter.__name__} replaces contract cases {overridden}"
