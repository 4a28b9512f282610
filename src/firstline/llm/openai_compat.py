"""``OpenAICompatModel``: any OpenAI-compatible chat endpoint, through the official ``openai`` SDK (async).

Self-hosted (vLLM, SGLang, TGI, Ollama, llama.cpp) and hosted (Together, Fireworks, DeepInfra,
Groq, OpenRouter, OpenAI) servers differ in small ways; a :class:`~firstline.llm.profiles.ModelProfile`
decides what each request contains. Calls run on the process's model-I/O loop
(:class:`~firstline.llm.pool.ModelIO`) with one pooled client per endpoint, whichever thread asks.
Streaming assembles tool-call deltas by their ``index`` and reads usage from the final chunk
(``stream_options.include_usage``). Every failure becomes a :class:`~firstline.errors.ModelCallError`
whose ``kind`` the fallback chain acts on; the SDK's own retries are off, because moving to the next
model is faster than retrying a sick one.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from firstline.errors import ModelCallError
from firstline.llm.catalog import ModelInfo
from firstline.llm.messages import ChatRequest, Message, ModelResponse, StreamItem, ToolCall, Usage
from firstline.llm.pool import ModelIO, PooledCalls, http_options
from firstline.llm.profiles import ModelProfile, profile
from firstline.llm.vision import openai_computer_tool, openai_image_message, openai_user_content

__all__ = ["MALFORMED_ARGUMENTS", "OpenAICompatModel", "to_openai_messages"]

# A tool call whose arguments were not valid JSON keeps the raw text under this key; the tool's
# argument validation then rejects it and the runner sends the model a correction message.
MALFORMED_ARGUMENTS = "_malformed_arguments"


def to_openai_messages(
    messages: tuple[Message, ...] | list[Message], null_content: bool = True
) -> list[dict[str, Any]]:
    """Our messages in the OpenAI wire format (tool arguments as JSON strings; images: ``firstline.llm.vision``)."""
    out: list[dict[str, Any]] = []
    pictured: list[Message] = []  # tool messages with images, shown in a user message after their run
    for n, m in enumerate(messages):
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content})
            pictured += [m] if m.images else []
            if pictured and (n + 1 == len(messages) or messages[n + 1].role != "tool"):
                out.append(openai_image_message(pictured))
                pictured = []
        elif m.role == "assistant" and m.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    "content": m.content or (None if null_content else ""),
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                        }
                        for c in m.tool_calls
                    ],
                }
            )
        elif m.images and m.role == "user":
            out.append({"role": "user", "content": openai_user_content(m.content, m.images)})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def parse_arguments(raw: Any) -> dict[str, Any]:
    """Tool arguments as a dict, whether the server sent a JSON string or an object."""
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {MALFORMED_ARGUMENTS: str(raw)[:2000]}
    return value if isinstance(value, dict) else {MALFORMED_ARGUMENTS: str(raw)[:2000]}


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: str = ""
    object_arguments: dict[str, Any] | None = None


@dataclass
class _Assembly:
    """Stream deltas put back together."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: dict[int, _PartialCall] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    finished: bool = False
    model: str = ""

    def tool_calls(self) -> tuple[ToolCall, ...]:
        out = []
        for index in sorted(self.calls):
            part = self.calls[index]
            arguments = part.object_arguments if part.object_arguments is not None else parse_arguments(part.arguments)
            out.append(ToolCall(part.id or f"call_{index}", part.name, arguments))
        return tuple(out)


class OpenAICompatModel(PooledCalls):
    """A :class:`~firstline.llm.messages.ChatModel` over an OpenAI-compatible ``/v1/chat/completions``."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        preset: str | ModelProfile = "vllm",
        name: str | None = None,
        timeout_s: float = 30.0,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        extra: dict[str, Any] | None = None,
        client: openai.AsyncOpenAI | None = None,
        clock: Callable[[], float] = time.perf_counter,
        pricing: ModelInfo | None = None,
        io: ModelIO | None = None,
    ) -> None:
        """``pricing`` (a catalog entry) turns each call's usage into ``ModelResponse.cost_usd``. Calls go
        through ``io`` (the runtime's, else the process default); an injected ``client`` is used as is, on
        the caller's loop."""
        self.model = model
        self.profile = preset if isinstance(preset, ModelProfile) else profile(preset)
        self.name = name or model
        self.base_url = base_url or self.profile.base_url
        if self.base_url is None:
            raise ModelCallError(self.name, "bad_response", f"the {self.profile.name} preset needs a base_url")
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.extra = dict(extra or {})
        self.pricing = pricing
        self._clock = clock
        self._shared = client
        self._api_key = api_key or "not-needed"
        self._timeout_s = timeout_s
        self.io = io or ModelIO.default()

    def __repr__(self) -> str:
        return f"OpenAICompatModel({self.model!r}, {self.profile.name}, {self.base_url})"

    # -- the request -----------------------------------------------------------------------------

    def body(self, request: ChatRequest, stream: bool = False) -> dict[str, Any]:
        """The JSON body this model sends for ``request`` (also what the spec tests check)."""
        p = self.profile
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(request.messages, p.null_assistant_content),
            "temperature": self.temperature,
            p.max_tokens_field: self.max_tokens,
        }
        if request.tools or request.computer:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ] + ([openai_computer_tool(request.computer)] if request.computer else [])
            body["tool_choice"] = request.tool_choice
            if p.parallel_tool_calls:
                body["parallel_tool_calls"] = True
        if request.json_schema is not None and p.structured_output != "none":
            body["response_format"] = {
                "json_schema": {
                    "type": "json_schema",
                    "json_schema": {"name": "reply", "schema": request.json_schema, "strict": True},
                },
                "tgi_json": {"type": "json", "value": request.json_schema},
                "json_object": {"type": "json_object", "schema": request.json_schema},
            }[p.structured_output]
        if stream:
            body["stream"] = True
            if p.stream_usage:
                body["stream_options"] = {"include_usage": True}
        for key, value in self.extra.items():
            if (key in ("logprobs", "top_logprobs") and not p.accepts_logprobs) or (
                key == "logit_bias" and not p.accepts_logit_bias
            ):
                continue
            if key == "n" and not p.accepts_n:
                continue
            body[key] = value
        body.update(p.extra_body)
        return body

    async def _post(self, body: dict[str, Any], stream: bool, chunk: type = ChatCompletionChunk) -> Any:
        """POST the body as built, through the SDK's client (auth, errors, SSE decoding, typed chunks). Not through
        ``create()``: its typed transform of the same dict costs about as much as the HTTP round trip on loopback,
        and ``body()`` is already what the server's profile accepts (spec-tested)."""
        return await self._client().post(
            "/chat/completions",
            body=body,
            cast_to=ChatCompletion,
            stream=stream,
            stream_cls=openai.AsyncStream[chunk],  # type: ignore[valid-type]
        )

    # -- ChatModel -------------------------------------------------------------------------------

    async def _complete(self, request: ChatRequest) -> ModelResponse:
        started = self._clock()
        try:
            response = await self._post(self.body(request), stream=False)
        except openai.APIError as exc:
            raise self._error(exc) from exc
        elapsed = (self._clock() - started) * 1000
        try:
            choice = response.choices[0]
            message = choice.message
        except (IndexError, AttributeError, TypeError) as exc:
            raise ModelCallError(self.name, "bad_response", "no choices in the response") from exc
        calls = tuple(
            ToolCall(c.id or f"call_{i}", c.function.name, parse_arguments(c.function.arguments))
            for i, c in enumerate(message.tool_calls or ())
        )
        usage = _usage(getattr(response, "usage", None))
        return ModelResponse(
            text=message.content or "",
            tool_calls=calls,
            usage=usage,
            latency_ms=elapsed,
            model=self.name,
            reasoning=self._reasoning(message),
            cost_usd=self._cost(usage),
        )

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        if (request.tools or request.computer) and not self.profile.stream_with_tools:
            response = await self._complete(request)
            if response.text:
                yield response.text
            yield replace(response, first_token_ms=response.latency_ms)
            return
        started = self._clock()
        first: float | None = None
        got = _Assembly()
        try:
            chunks = await self._post(self.body(request, stream=True), stream=True, chunk=object)
            async with chunks:
                async for chunk in chunks:  # plain dicts: typed chunk objects cost more than the HTTP on loopback
                    if _get(chunk, "usage"):
                        got.usage = _usage(_get(chunk, "usage"))
                    for choice in _get(chunk, "choices") or ():
                        delta = _get(choice, "delta")
                        if delta is None:
                            continue
                        content = _get(delta, "content")
                        if content:
                            first = first if first is not None else self._clock()
                            got.text.append(content)
                            yield content
                        reasoning = self._reasoning(delta)
                        if reasoning:
                            got.reasoning.append(reasoning)
                        for part in _get(delta, "tool_calls") or ():
                            if first is None:
                                first = self._clock()
                                yield ""  # a heartbeat: the model has started answering (with a tool call)
                            self._merge(got, part)
                        if _get(choice, "finish_reason"):
                            got.finished = True
        except openai.APIError as exc:
            raise self._error(exc) from exc
        if not got.finished:
            raise ModelCallError(self.name, "broken_stream", "the stream ended before a finish_reason")
        now = self._clock()
        yield ModelResponse(
            text="".join(got.text),
            tool_calls=got.tool_calls(),
            usage=got.usage,
            latency_ms=(now - started) * 1000,
            model=self.name,
            first_token_ms=None if first is None else (first - started) * 1000,
            reasoning="".join(got.reasoning),
            cost_usd=self._cost(got.usage),
        )

    # -- helpers ---------------------------------------------------------------------------------

    def _client(self) -> openai.AsyncOpenAI:
        """The endpoint's pooled client (on the I/O loop), or the injected one."""
        shared: openai.AsyncOpenAI | None = self._shared
        if shared is not None:
            return shared
        key = ("openai", self.base_url, self._api_key, self._timeout_s)
        return self.io.client(key, self._new_client, _close_client)

    def _new_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._api_key,
            timeout=self._timeout_s,
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(**http_options(self._timeout_s)),
        )

    def _cost(self, usage: Usage) -> float:
        if self.pricing is None:
            return 0.0
        return self.pricing.cost(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) or 0.0

    @staticmethod
    def _merge(got: _Assembly, part: Any) -> None:
        index = int(_get(part, "index") or 0)
        current = got.calls.setdefault(index, _PartialCall())
        if _get(part, "id"):
            current.id = _get(part, "id")
        function = _get(part, "function")
        if function is None:
            return
        if _get(function, "name") and not current.name:
            current.name = _get(function, "name")
        arguments = _get(function, "arguments")
        if isinstance(arguments, dict):
            current.object_arguments = {**(current.object_arguments or {}), **arguments}
        elif arguments:
            current.arguments += arguments

    def _reasoning(self, message: Any) -> str:
        extra = message if isinstance(message, dict) else (getattr(message, "model_extra", None) or {})
        for name in self.profile.reasoning_fields:
            value = _get(message, name) or extra.get(name)
            if isinstance(value, str) and value:
                return value
        return ""

    def _error(self, exc: openai.APIError) -> ModelCallError:
        if isinstance(exc, openai.APITimeoutError):
            return ModelCallError(self.name, "timeout", str(exc))
        if isinstance(exc, openai.APIConnectionError):
            return ModelCallError(self.name, "connection", str(exc))
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status == 429:
                return ModelCallError(self.name, "rate_limited", "HTTP 429", _retry_after(exc.response.headers))
            if status >= 500:
                return ModelCallError(self.name, "server_error", f"HTTP {status}")
            return ModelCallError(self.name, "bad_response", f"HTTP {status}: {str(exc)[:300]}")
        return ModelCallError(self.name, "bad_response", str(exc)[:300])


async def _close_client(client: openai.AsyncOpenAI) -> None:
    await client.close()


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: treat as unknown


def _get(item: Any, name: str) -> Any:
    """A field of a response part, whether the SDK made it an object or left it a dict."""
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    details = _get(raw, "prompt_tokens_details")
    cached = _get(details, "cached_tokens") if details is not None else None
    return Usage(int(_get(raw, "prompt_tokens") or 0), int(_get(raw, "completion_tokens") or 0), int(cached or 0))
