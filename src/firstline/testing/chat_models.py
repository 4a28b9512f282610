"""The contract every language-model :class:`~firstline.llm.messages.ChatModel` adapter must pass.

Each adapter is tested over real HTTP against a fake of its API that it can script. Subclass
:class:`ChatModelContract` in a ``Test*`` class and say how to start that server, point the adapter at
it, and turn a neutral :class:`Reply` into one of the server's scripted turns::

    class TestOpenAICompat(ChatModelContract):
        def serve(self) -> FakeOpenAIServer:
            return FakeOpenAIServer()

        def make_model(self, url: str | None, server: Any, **options: Any) -> ChatModel:
            return OpenAICompatModel("m", base_url=(url or server.url) + "/v1", **options)
        ...

``make_model`` gets ``timeout_s``, ``pricing``, ``io`` and ``name``. Every test uses a fresh
:class:`~firstline.llm.pool.ModelIO`, closed afterwards, and fails if the server saw a request its real
counterpart would reject (``violations``).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import pytest

from firstline.agents import Agent, RunContext, Runner, tool
from firstline.errors import ModelCallError
from firstline.llm.catalog import ModelInfo
from firstline.llm.fallback import Budget, FallbackChain
from firstline.llm.messages import ChatModel, ChatRequest, Message, ModelResponse, StreamItem, ToolSpec, Usage
from firstline.llm.openai_compat import MALFORMED_ARGUMENTS
from firstline.llm.pool import ModelIO

__all__ = ["PRICING", "SYSTEM", "UNLOCK", "ChatModelContract", "Reply", "collect", "request"]

SYSTEM = "You are the IT helpdesk of Example Corp."
UNLOCK = ToolSpec(
    "unlock_account",
    "Unlock the requester's account.",
    {"type": "object", "properties": {"username": {"type": "string"}}, "required": ["username"]},
)
PRICING = ModelInfo(
    id="contract-model", name="Contract model", vendor="test", license="proprietary", open_weights=False,
    params_total_b=None, params_active_b=None, context_tokens=None, price_in=3.0, price_out=15.0,
    price_cached_in=0.3, residency=(),
)  # fmt: skip


@dataclass(frozen=True)
class Reply:
    """What the server answers, in no API's words. ``tool_calls`` are ``(name, arguments)``, the arguments
    a dict or a raw JSON text (to script malformed JSON). ``usage`` is ``(prompt, completion, cached)``
    with the cached tokens counted in the prompt. ``cut_after`` drops the connection after that many
    stream events (or chunks)."""

    text: str = ""
    tool_calls: tuple[tuple[str, Any], ...] = ()
    usage: tuple[int, int, int] = (12, 5, 0)
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    cut_after: int | None = None


def request(*texts: str, tools: tuple[ToolSpec, ...] = ()) -> ChatRequest:
    """A system prompt and user messages (and tools)."""
    return ChatRequest((Message("system", SYSTEM), *[Message("user", t) for t in texts]), tools)


def collect(model: ChatModel, req: ChatRequest) -> tuple[list[StreamItem], ModelResponse]:
    """Everything ``model.stream(req)`` yields before its final response, and that response (which must
    be the last item), on a new event loop."""

    async def run() -> tuple[list[StreamItem], ModelResponse]:
        items = [item async for item in model.stream(req)]
        assert items and isinstance(items[-1], ModelResponse), items
        assert not any(isinstance(item, ModelResponse) for item in items[:-1]), items
        return items[:-1], items[-1]

    return asyncio.run(run())


def dead_url() -> str:
    """The URL of a port on 127.0.0.1 that nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


class ChatModelContract:
    """Tests every model adapter must pass; subclass it and implement the methods below."""

    # -- what a subclass provides ------------------------------------------------------------------

    def serve(self) -> AbstractContextManager[Any]:
        """A fake of the adapter's API, not started: a context manager that starts and stops it."""
        pytest.fail("implement serve() in your ChatModelContract subclass")

    def make_model(self, url: str | None, server: Any, **options: Any) -> ChatModel:
        """The adapter, pointed at ``server`` (or at the root ``url`` of another server, when given)."""
        pytest.fail("implement make_model() in your ChatModelContract subclass")

    def script(self, server: Any, *replies: Reply) -> None:
        """Make ``replies`` the server's next answers, in the server's own terms."""
        pytest.fail("implement script() in your ChatModelContract subclass")

    def violations(self, server: Any) -> list[str]:
        return list(server.violations)

    def sent(self, server: Any) -> list[dict[str, Any]]:
        """The bodies of the requests the server received."""
        return list(server.requests)

    def system_text(self, body: dict[str, Any]) -> str:
        """The system prompt a request body carries."""
        pytest.fail("implement system_text() in your ChatModelContract subclass")

    def tool_results(self, body: dict[str, Any]) -> dict[str, str]:
        """The tool results a request body carries: call id -> content."""
        pytest.fail("implement tool_results() in your ChatModelContract subclass")

    # -- fixtures ----------------------------------------------------------------------------------

    @pytest.fixture
    def server(self) -> Iterator[Any]:
        with self.serve() as server:
            yield server
        assert self.violations(server) == []

    @pytest.fixture
    def io(self) -> Iterator[ModelIO]:
        io = ModelIO("contract-model-io")
        yield io
        io.close()

    def model(self, server: Any, io: ModelIO, *, url: str | None = None, **options: Any) -> ChatModel:
        options.setdefault("timeout_s", 5.0)
        options.setdefault("name", "contract-model")
        return self.make_model(url, server, pricing=PRICING, io=io, **options)

    # -- replies -----------------------------------------------------------------------------------

    def test_is_a_chat_model(self, server: Any, io: ModelIO) -> None:
        assert isinstance(self.model(server, io), ChatModel)

    def test_a_text_reply_has_usage_cost_and_latency(self, server: Any, io: ModelIO) -> None:
        self.script(server, Reply("Your account is unlocked.", usage=(120, 9, 0)))
        response = asyncio.run(self.model(server, io).complete(request("unlock me")))
        assert (response.text, response.tool_calls, response.model) == (
            "Your account is unlocked.",
            (),
            "contract-model",
        )
        assert response.usage == Usage(120, 9, 0)
        assert response.cost_usd == pytest.approx(PRICING.cost(120, 9, 0))
        assert response.latency_ms > 0 and response.fallbacks == ()
        assert SYSTEM in self.system_text(self.sent(server)[0])

    def test_cached_tokens_are_reported_and_priced(self, server: Any, io: ModelIO) -> None:
        self.script(server, Reply("Hello.", usage=(2000, 10, 1500)))
        response = asyncio.run(self.model(server, io).complete(request("hi")))
        assert response.usage == Usage(2000, 10, 1500)
        assert response.cost_usd == pytest.approx(PRICING.cost(2000, 10, 1500))
        assert response.cost_usd < PRICING.cost(2000, 10, 0)  # type: ignore[operator]

    def test_a_tool_call_is_parsed_with_its_arguments(self, server: Any, io: ModelIO) -> None:
        self.script(server, Reply(tool_calls=(("unlock_account", {"username": "r.chen"}),)))
        response = asyncio.run(self.model(server, io).complete(request("unlock r.chen", tools=(UNLOCK,))))
        assert [(c.name, c.arguments) for c in response.tool_calls] == [("unlock_account", {"username": "r.chen"})]
        assert response.tool_calls[0].id and response.text == ""

    def test_a_tool_round_trip_is_accepted(self, server: Any, io: ModelIO) -> None:
        self.script(server, Reply(tool_calls=(("unlock_account", {"username": "r.chen"}),)), Reply("Done."))
        model, first = self.model(server, io), request("unlock r.chen", tools=(UNLOCK,))
        call = asyncio.run(model.complete(first)).tool_calls[0]
        history = (
            *first.messages,
            Message("assistant", "", (call,)),
            Message("tool", "r.chen is unlocked", tool_call_id=call.id, name=call.name),
        )
        response = asyncio.run(model.complete(ChatRequest(history, (UNLOCK,))))
        assert response.text == "Done."
        assert self.tool_results(self.sent(server)[-1]) == {call.id: "r.chen is unlocked"}

    def test_an_agent_runs_a_tool_and_answers(self, server: Any, io: ModelIO) -> None:
        @tool
        def account_status(ctx: RunContext, username: str) -> str:
            """Look an account up.

            Args:
                username: the account name.
            """
            return f"{username} is locked"

        self.script(
            server, Reply(tool_calls=(("account_status", {"username": "r.chen"}),)), Reply("Your account is locked.")
        )
        agent = Agent("security", "Help.", tools=(account_status,))
        runner = Runner({"security": agent}, self.model(server, io))
        result = asyncio.run(runner.run("security", "is my account locked?", RunContext("a@example.com")))
        assert result.reply == "Your account is locked."
        assert list(self.tool_results(self.sent(server)[-1]).values()) == ["r.chen is locked"]

    # -- streaming ---------------------------------------------------------------------------------

    def test_streaming_yields_text_deltas_before_the_final_response(self, server: Any, io: ModelIO) -> None:
        self.script(server, Reply("Checking your account now", usage=(50, 7, 0)))
        deltas, final = collect(self.model(server, io), request("hi"))
        texts = [d for d in deltas if isinstance(d, str) and d]
        assert len(texts) > 1 and "".join(texts) == final.text
        assert final.text.strip() == "Checking your account now" and final.usage == Usage(50, 7, 0)
        assert final.first_token_ms is not None and 0 < final.first_token_ms <= final.latency_ms

    def test_a_streamed_tool_call_is_assembled(self, server: Any, io: ModelIO) -> None:
        calls = (("unlock_account", {"username": "r.chen"}), ("unlock_account", {"username": "j.doe"}))
        self.script(server, Reply(tool_calls=calls))
        deltas, final = collect(self.model(server, io), request("unlock both", tools=(UNLOCK,)))
        assert [(c.name, c.arguments) for c in final.tool_calls] == [(n, a) for n, a in calls]
        assert len({c.id for c in final.tool_calls}) == 2
        assert deltas[0] == "" and final.first_token_ms is not None  # a heartbeat when the tool call started

    def test_malformed_tool_json_is_kept_for_correction(self, server: Any, io: ModelIO) -> None:
        self.script(server, Reply(tool_calls=(("unlock_account", '{"username": "r.ch'),)))
        _, final = collect(self.model(server, io), request("unlock", tools=(UNLOCK,)))
        assert final.tool_calls[0].arguments == {MALFORMED_ARGUMENTS: '{"username": "r.ch'}

    # -- faults ------------------------------------------------------------------------------------

    def fail(self, model: ChatModel, streaming: bool) -> ModelCallError:
        with pytest.raises(ModelCallError) as caught:
            if streaming:
                collect(model, request("hi"))
            else:
                asyncio.run(model.complete(request("hi")))
        return caught.value

    @pytest.mark.parametrize("streaming", [False, True])
    def test_429_is_rate_limited_with_retry_after(self, server: Any, io: ModelIO, streaming: bool) -> None:
        self.script(server, Reply(status=429, headers={"Retry-After": "7"}))
        error = self.fail(self.model(server, io), streaming)
        assert (error.kind, error.retry_after_s) == ("rate_limited", 7.0)

    @pytest.mark.parametrize("streaming", [False, True])
    def test_500_is_a_server_error(self, server: Any, io: ModelIO, streaming: bool) -> None:
        self.script(server, Reply(status=500))
        assert self.fail(self.model(server, io), streaming).kind == "server_error"

    @pytest.mark.parametrize("streaming", [False, True])
    def test_a_slow_server_times_out(self, server: Any, io: ModelIO, streaming: bool) -> None:
        self.script(server, Reply("too late", delay_s=1.0))
        assert self.fail(self.model(server, io, timeout_s=0.3), streaming).kind == "timeout"

    @pytest.mark.parametrize("streaming", [False, True])
    def test_a_refused_connection(self, server: Any, io: ModelIO, streaming: bool) -> None:
        assert self.fail(self.model(server, io, url=dead_url()), streaming).kind == "connection"

    def test_a_stream_cut_midway_is_broken(self, server: Any, io: ModelIO) -> None:
        self.script(server, Reply("half of a long answer that never ends", cut_after=4))
        assert self.fail(self.model(server, io), streaming=True).kind == "broken_stream"

    # -- with the rest of the system ----------------------------------------------------------------

    def test_a_fallback_chain_moves_on_to_the_next_model(self, server: Any, io: ModelIO) -> None:
        with self.serve() as backup:
            self.script(server, Reply(status=500), Reply(status=500))
            self.script(backup, Reply("from the backup"), Reply("from the backup"))
            primary = self.model(server, io, name="primary")
            chain = FallbackChain([primary, self.model(backup, io, name="backup")], budget=Budget(2.0, 5.0))
            response = asyncio.run(chain.complete(request("hi")))
            assert (response.model, response.text, response.fallbacks) == (
                "backup",
                "from the backup",
                ("primary: server_error",),
            )
            deltas, final = collect(chain, request("again"))
            assert "".join(d for d in deltas if isinstance(d, str)) == final.text == "from the backup"
            assert self.violations(backup) == []

    def test_threads_with_their_own_loops_share_one_pooled_client(self, server: Any, io: ModelIO) -> None:
        self.script(server, *[Reply("Hello from the pool")] * 8)
        model, replies = self.model(server, io), []

        def turn() -> None:  # what the service does: a worker thread, a fresh event loop per turn
            async def go() -> None:
                replies.append((await model.complete(request("hi"))).text)
                replies.append("".join([x async for x in model.stream(request("hi")) if isinstance(x, str)]))

            asyncio.run(go())

        threads = [threading.Thread(target=turn) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(replies) == 8 and {r.strip() for r in replies} == {"Hello from the pool"}
        assert io.created == 1 and io.clients == 1
