"""``AnthropicModel``: Claude through Anthropic's native Messages API, with the official ``anthropic`` SDK (async).

Built like :class:`~firstline.llm.openai_compat.OpenAICompatModel`: calls run on the model-I/O loop with one
pooled client per endpoint, the SDK's retries are off, and every failure is a ``ModelCallError`` whose
``kind`` the fallback chain acts on: timeout; connection (a connection lost mid-stream, or a stream without
``message_stop``: broken_stream); 429 + ``retry-after``: rate_limited; 529 overloaded and 5xx: server_error;
other 4xx: bad_response with the API's error type and message. An ``error`` event mid-stream maps alike.

* System messages become the top-level ``system`` blocks, in order; tool calls are ``tool_use`` blocks and
  ``tool`` messages ``tool_result`` blocks of a user message (``is_error`` for a failed, retried or unknown
  tool). Consecutive messages of one role merge, so roles alternate and the user speaks first. A result
  that answers no ``tool_use`` of the message before is sent as text, and a call left unanswered gets an
  ``is_error`` result, so a trimmed or paused history is still accepted.
* ``cache=True`` marks the last tool (every conversation of an agent) and the last system block (the
  turns of one conversation) ``cache_control: ephemeral``; cached reads cost a tenth of the input price.
* ``request.json_schema``: by default a forced tool, ``structured_reply``, takes the reply as its input,
  returned as JSON text (streamed as one delta). Beside other tools it is offered with ``tool_choice: any``:
  a tool call or a JSON reply. ``structured="output_config"`` uses the API's ``output_config.format``
  instead (needed with extended thinking, which forbids forced tools).
* ``request.computer`` adds Anthropic's computer-use tool (``computer_tool``, by default ``computer_20250124``)
  and its ``anthropic-beta`` header; images are ``image`` blocks (``firstline.llm.vision``).
* ``AnthropicResponse.stop_reason`` keeps why Claude stopped. ``max_tokens``, ``refusal``, ``pause_turn`` or
  ``model_context_window_exceeded`` with no text and no tool call is a bad_response; truncation is logged.
* The SDK speaks API version 2026-10-21, which removed ``temperature``, ``top_p`` and ``top_k``: temperature is
  sent only with ``anthropic_version="2023-06-01"``.
* Usage: prompt = input + cache reads + cache writes, cached = cache reads; the cost adds the 25 % surcharge
  on (5-minute) cache writes to the catalog's prices. Thinking blocks become ``reasoning``, not sent back.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anthropic

from firstline.errors import ModelCallError
from firstline.llm.anthropic_wire import to_anthropic_messages, tool_choice
from firstline.llm.catalog import ModelInfo
from firstline.llm.messages import ChatRequest, ModelResponse, StreamItem, StreamReset, ToolCall, Usage
from firstline.llm.openai_compat import MALFORMED_ARGUMENTS, parse_arguments
from firstline.llm.pool import ModelIO, PooledCalls, http_options
from firstline.llm.vision import ANTHROPIC_COMPUTER_BETAS, anthropic_computer_tool

__all__ = ["LEGACY_API_VERSION", "REPLY_TOOL", "AnthropicModel", "AnthropicResponse", "to_anthropic_messages"]

log = logging.getLogger(__name__)

REPLY_TOOL = "structured_reply"  # the forced tool whose input is a structured reply
LEGACY_API_VERSION = "2023-06-01"  # the last API version that takes `temperature`
DEFAULT_BASE_URL = "https://api.anthropic.com"
CACHE_WRITE_SURCHARGE = 0.25  # a 5-minute cache write costs 1.25 x the input price
_EMPTY_STOPS = {"max_tokens", "model_context_window_exceeded", "refusal", "pause_turn"}
_SERVER_ERRORS = {"api_error", "overloaded_error", "timeout_error"}
_SDK_FIELDS = {
    "model", "max_tokens", "messages", "system", "tools", "tool_choice", "stream", "output_config", "metadata",
    "stop_sequences", "thinking", "service_tier", "cache_control", "inference_geo", "speed",
}  # fmt: skip
_USAGE_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")


@dataclass(frozen=True, slots=True)
class AnthropicResponse(ModelResponse):
    """A :class:`ModelResponse` that also says why Claude stopped: ``end_turn``, ``tool_use``,
    ``max_tokens``, ``stop_sequence``, ``refusal``, ``pause_turn`` or ``model_context_window_exceeded``."""

    stop_reason: str = ""


@dataclass
class _Block:
    kind: str
    id: str = ""
    name: str = ""
    text: str = ""  # a text block's text, a thinking block's thinking
    json: str = ""  # a tool_use block's input, as streamed
    start_input: Any = None  # a tool_use block's input, as the block came (whole, or ``{}`` when streamed)

    @classmethod
    def of(cls, b: Any) -> _Block:
        text = getattr(b, "text", None) or getattr(b, "thinking", None) or ""
        return cls(
            getattr(b, "type", ""), getattr(b, "id", ""), getattr(b, "name", ""), text, "", getattr(b, "input", None)
        )


@dataclass
class _Assembly:
    """Stream events put back together."""

    blocks: dict[int, _Block] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    stop_reason: str | None = None
    finished: bool = False

    def read_usage(self, raw: Any) -> None:  # message_delta's counts are cumulative: the latest wins
        for name in _USAGE_FIELDS:
            value = getattr(raw, name, None)
            if value is not None:
                self.usage[name] = int(value)

    def parts(self) -> tuple[str, list[ToolCall], str]:
        text, calls, reasoning = [], [], []
        for index in sorted(self.blocks):
            b = self.blocks[index]
            if b.kind == "text":
                text.append(b.text)
            elif b.kind == "thinking":
                reasoning.append(b.text)
            elif b.kind == "tool_use":
                arguments = parse_arguments(b.json) if b.json else parse_arguments(b.start_input)
                calls.append(ToolCall(b.id or f"toolu_{index}", b.name, arguments))
        return "".join(text), calls, "".join(reasoning)


class AnthropicModel(PooledCalls):
    """A :class:`~firstline.llm.messages.ChatModel` over Anthropic's ``/v1/messages`` (see the module docstring)."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        name: str | None = None,
        timeout_s: float = 30.0,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        pricing: ModelInfo | None = None,
        io: ModelIO | None = None,
        cache: bool = True,
        structured: Literal["tool", "output_config"] = "tool",
        anthropic_version: str | None = None,
        computer_tool: str = "computer_20250124",
        extra: dict[str, Any] | None = None,
        client: anthropic.AsyncAnthropic | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """``base_url`` is the API root (a trailing ``/v1`` is dropped); ``anthropic_version`` overrides the
        SDK's API version header; ``computer_tool`` is the computer-use tool version a request with
        ``computer`` gets (a key of ``ANTHROPIC_COMPUTER_BETAS``); ``extra`` adds body fields (``thinking``,
        ``stop_sequences``, ...). An injected ``client`` is used as is, on the caller's loop; otherwise calls go
        through ``io``."""
        self.model = model
        self.name = name or model
        root = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.base_url = root[: -len("/v1")] if root.endswith("/v1") else root
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.pricing = pricing
        self.cache = cache
        self.structured = structured
        self.anthropic_version = anthropic_version
        if computer_tool not in ANTHROPIC_COMPUTER_BETAS:
            raise ValueError(f"computer_tool must be one of {sorted(ANTHROPIC_COMPUTER_BETAS)}, got {computer_tool!r}")
        self.computer_tool = computer_tool
        self.extra = dict(extra or {})
        self.io = io or ModelIO.default()
        self._shared = client
        self._clock = clock
        self._api_key = api_key or "not-needed"
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"AnthropicModel({self.model!r}, {self.base_url})"

    # -- the request -----------------------------------------------------------------------------

    def body(self, request: ChatRequest, stream: bool = False) -> dict[str, Any]:
        """The JSON body this model sends for ``request``."""
        system, messages = to_anthropic_messages(request.messages)
        if not messages:
            raise ModelCallError(self.name, "bad_response", "the request has no user or assistant message")
        body: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens, "messages": messages}
        if self.anthropic_version == LEGACY_API_VERSION:
            body["temperature"] = self.temperature
        if system:
            if self.cache:
                system[-1]["cache_control"] = {"type": "ephemeral"}
            body["system"] = system
        tools: list[dict[str, Any]] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters or {"type": "object"}}
            for t in request.tools
        ]
        if request.computer is not None:
            tools.insert(0, anthropic_computer_tool(request.computer, self.computer_tool))
        if tools and self.cache:
            tools[-1]["cache_control"] = {"type": "ephemeral"}
        choice = tool_choice(request.tool_choice) if tools else None
        if request.json_schema is not None and self.structured == "output_config":
            body["output_config"] = {"format": {"type": "json_schema", "schema": request.json_schema}}
        elif request.json_schema is not None:
            schema = request.json_schema
            if schema.get("type") != "object":  # a tool's input is an object: wrap anything else
                schema = {"type": "object", "properties": {"reply": schema}, "required": ["reply"]}
            tools.append({"name": REPLY_TOOL, "description": "Give your reply in this form.", "input_schema": schema})
            if choice is None or choice["type"] == "none":
                choice = {"type": "tool", "name": REPLY_TOOL}
            elif choice["type"] == "auto":
                choice = {"type": "any"}
        if tools:
            body["tools"], body["tool_choice"] = tools, choice
        if stream:
            body["stream"] = True
        body.update(self.extra)
        return body

    def headers(self, request: ChatRequest) -> dict[str, str]:
        """The headers this request needs beyond the client's: the computer-use beta, when it offers the tool."""
        return {"anthropic-beta": ANTHROPIC_COMPUTER_BETAS[self.computer_tool]} if request.computer else {}

    def _call_kwargs(self, request: ChatRequest, stream: bool = False) -> dict[str, Any]:
        body, headers = self.body(request, stream), self.headers(request)
        extra = {k: v for k, v in body.items() if k not in _SDK_FIELDS}
        kwargs = {k: v for k, v in body.items() if k in _SDK_FIELDS} | ({"extra_body": extra} if extra else {})
        return kwargs | ({"extra_headers": headers} if headers else {})

    # -- ChatModel -------------------------------------------------------------------------------

    async def _complete(self, request: ChatRequest) -> AnthropicResponse:
        started = self._clock()
        try:
            message = await self._client().messages.create(**self._call_kwargs(request))
        except anthropic.AnthropicError as exc:
            raise self._error(exc) from exc
        got = _Assembly(stop_reason=getattr(message, "stop_reason", None), finished=True)
        got.read_usage(getattr(message, "usage", None))
        got.blocks = dict(enumerate(_Block.of(b) for b in getattr(message, "content", None) or ()))
        return self._response(request, got, started, None)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        started = self._clock()
        first: float | None = None
        got = _Assembly()
        opened = False
        try:
            events = await self._client().messages.create(**self._call_kwargs(request, stream=True))
            opened = True
            async with events:
                async for event in events:
                    kind = getattr(event, "type", "")
                    if kind == "message_start":
                        got.read_usage(getattr(event.message, "usage", None))
                    elif kind == "content_block_start":
                        got.blocks[event.index] = block = _Block.of(event.content_block)
                        if block.kind == "tool_use" and first is None:
                            first = self._clock()
                            yield ""  # a heartbeat: the model has started answering (with a tool call)
                    elif kind == "content_block_delta":
                        block = got.blocks.setdefault(event.index, _Block("text"))
                        delta = event.delta
                        if delta.type == "text_delta" and delta.text:
                            first = first if first is not None else self._clock()
                            block.text += delta.text
                            yield delta.text
                        elif delta.type == "input_json_delta":
                            block.json += delta.partial_json
                        elif delta.type == "thinking_delta":
                            block.text += delta.thinking
                    elif kind == "message_delta":
                        got.stop_reason = getattr(event.delta, "stop_reason", None) or got.stop_reason
                        got.read_usage(getattr(event, "usage", None))
                    elif kind == "message_stop":
                        got.finished = True
        except anthropic.AnthropicError as exc:
            raise self._error(exc, streaming=opened) from exc
        if not got.finished:
            raise ModelCallError(self.name, "broken_stream", "the stream ended before message_stop")
        streamed = got.parts()[0]
        response = self._response(request, got, started, first)
        if response.text != streamed:  # a structured reply: its JSON replaces any text streamed before it
            if streamed:
                yield StreamReset(self.name, "structured_reply")
            yield response.text
        yield response

    def _response(self, request: ChatRequest, got: _Assembly, started: float, first: float | None) -> AnthropicResponse:
        now = self._clock()
        text, calls, reasoning = got.parts()
        if request.json_schema is not None and self.structured == "tool":
            reply = next((c for c in calls if c.name == REPLY_TOOL), None)
            if reply is not None:
                calls.remove(reply)
                text = _replytext_blocks(reply.arguments, wrapped=request.json_schema.get("type") != "object")
        stop = got.stop_reason or ""
        if stop in _EMPTY_STOPS and not text.strip() and not calls:
            raise ModelCallError(self.name, "bad_response", f"stop_reason {stop} with no text and no tool call")
        if stop in ("max_tokens", "model_context_window_exceeded"):
            log.warning("model %s stopped on %s: the reply is cut short", self.name, stop)
        u = got.usage
        read, written = u.get("cache_read_input_tokens", 0), u.get("cache_creation_input_tokens", 0)
        usage = Usage(u.get("input_tokens", 0) + read + written, u.get("output_tokens", 0), read)
        return AnthropicResponse(
            text=text,
            tool_calls=tuple(calls),
            usage=usage,
            latency_ms=(now - started) * 1000,
            model=self.name,
            first_token_ms=None if first is None else (first - started) * 1000,
            reasoning=reasoning,
            cost_usd=self._cost(usage, written),
            stop_reason=stop,
        )

    # -- helpers ---------------------------------------------------------------------------------

    def _client(self) -> anthropic.AsyncAnthropic:
        """The endpoint's pooled client (on the I/O loop), or the injected one."""
        shared: anthropic.AsyncAnthropic | None = self._shared
        if shared is not None:
            return shared
        key = ("anthropic", self.base_url, self._api_key, self._timeout_s, self.anthropic_version)
        return self.io.client(key, self._new_client, _close_client)

    def _new_client(self) -> anthropic.AsyncAnthropic:
        # The SDK authenticates with `Authorization: Bearer`; `x-api-key` (the API reference's header) is sent
        # too, for gateways that read only that one. The API reads x-api-key when both are present.
        headers = {"x-api-key": self._api_key}
        if self.anthropic_version:
            headers["anthropic-version"] = self.anthropic_version
        return anthropic.AsyncAnthropic(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self._timeout_s,
            max_retries=0,
            default_headers=headers,
            http_client=anthropic.DefaultAsyncHttpxClient(**http_options(self._timeout_s)),
        )

    def _cost(self, usage: Usage, written: int) -> float:
        if self.pricing is None or self.pricing.price_in is None or not self.pricing.priced:
            return 0.0
        base = self.pricing.cost(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) or 0.0
        return base + written * self.pricing.price_in * CACHE_WRITE_SURCHARGE / 1_000_000

    def _error(self, exc: anthropic.AnthropicError, streaming: bool = False) -> ModelCallError:
        if isinstance(exc, anthropic.APITimeoutError):
            return ModelCallError(self.name, "timeout", str(exc)[:300])
        if isinstance(exc, anthropic.APIConnectionError):
            if streaming:  # the connection dropped after the answer had started
                return ModelCallError(self.name, "broken_stream", str(exc)[:300])
            return ModelCallError(self.name, "connection", str(exc)[:300])
        if isinstance(exc, anthropic.APIStatusError):
            status, kind = exc.status_code, str(getattr(exc, "type", None) or "")
            message = str(getattr(exc, "api_message", None) or exc)[:300]
            detail = f"HTTP {status} {kind}: {message}" if status >= 400 else f"{kind} mid-stream: {message}"
            if status == 429 or kind == "rate_limit_error":
                retry = _retry_after(exc.response.headers) if status == 429 else None
                return ModelCallError(self.name, "rate_limited", detail, retry)
            if status >= 500 or kind in _SERVER_ERRORS:
                return ModelCallError(self.name, "server_error", detail)
            return ModelCallError(self.name, "bad_response", detail)
        return ModelCallError(self.name, "bad_response", str(exc)[:300])


def _replytext_blocks(arguments: dict[str, Any], wrapped: bool) -> str:
    if MALFORMED_ARGUMENTS in arguments:
        return str(arguments[MALFORMED_ARGUMENTS])
    return json.dumps(arguments.get("reply") if wrapped else arguments, ensure_ascii=False)


async def _close_client(client: anthropic.AsyncAnthropic) -> None:
    await client.close()


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (an HTTP date counts as unknown)."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        if value is not None:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                continue
    return None
