"""A fake Anthropic Messages API on 127.0.0.1 for tests: scripted replies and faults over real HTTP/1.1.

Each ``POST /v1/messages`` takes the next :class:`Turn` of the script: a reply (thinking, text and/or
``tool_use`` blocks, with usage including cache reads and writes), as one JSON message or, when the
request asks for ``stream``, as Server-Sent Events in the documented order (``message_start``,
``content_block_start``, ``ping``, ``content_block_delta``..., ``content_block_stop``, ``message_delta``,
``message_stop``) over a chunked keep-alive response; an error status with headers (429 + Retry-After,
500, 529) and the API's error body; a delay; a stream cut after N events; or an ``error`` event mid-stream.

Each request is checked for what the real API rejects: the key (``x-api-key``, or the SDK's
``Authorization: Bearer``) and a known ``anthropic-version``; a ``model`` and ``max_tokens``; fields the
version does not know (``temperature`` since 2026-10-21); messages that are empty, do not start with the
user or do not alternate; a ``tool_result`` that answers no ``tool_use`` of the message before, a
``tool_use`` left unanswered, results after text; a ``system`` that is not a string or text blocks; bad
tools, ``tool_choice`` and ``cache_control`` (at most four); images and the computer tool
(:mod:`firstline.testing.vision_checks`). A violation is answered like the API (400
``invalid_request_error``, 401 ``authentication_error``) and kept in ``violations``; every request body is
kept in ``requests`` and its lower-cased headers in ``headers``; ``connections`` counts TCP connections.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from firstline.testing.vision_checks import check_anthropic_vision

__all__ = ["API_VERSIONS", "FakeAnthropicServer", "Turn"]

API_VERSIONS = ("2023-06-01", "2026-10-21")
SAMPLING = frozenset({"temperature", "top_p", "top_k"})  # removed in 2026-10-21
FIELDS = frozenset({
    "model", "messages", "max_tokens", "system", "tools", "tool_choice", "stream", "metadata", "stop_sequences",
    "thinking", "output_config", "cache_control", "service_tier", "container", "inference_geo", "speed",
    "diagnostics", "user_profile_id", "workspace_id", "mcp_servers", "context_management",
})  # fmt: skip
ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
    413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error",
}  # fmt: skip
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_BLOCKS = {"user": {"text", "image", "document", "tool_result"}, "assistant": {"text", "tool_use", "thinking"}}


@dataclass
class Turn:
    """One scripted answer. ``tool_calls`` are ``(name, input)``: a dict, or a string sent as the raw JSON
    text (streamed as is, to script malformed JSON; a non-streamed message carries it as ``input``, which
    the real API never does). ``usage`` is ``(input, output, cache_read, cache_creation)`` tokens;
    ``stop_reason`` defaults to ``tool_use`` or ``end_turn``. ``error_event`` (e.g. ``overloaded_error``)
    sends an ``event: error`` after ``error_after_events`` events and ends the stream."""

    text: str = ""
    tool_calls: list[tuple[str, Any]] = field(default_factory=list)
    thinking: str = ""
    stop_reason: str | None = None
    usage: tuple[int, int, int, int] = (12, 5, 0, 0)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str | None = None
    delay_s: float = 0.0
    cut_after_events: int | None = None
    error_event: str | None = None
    error_after_events: int = 3


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAnthropicServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; streams are chunked
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no delayed-ACK stall
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.fake._lock:
            self.server.fake.connections += 1

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        fake.requests.append(body if isinstance(body, dict) else {})
        fake.headers.append(headers)
        status, problem = fake.check(self.path, headers, body)
        if problem:
            fake.violations.append(problem)
            return self._error(status, problem)
        assert isinstance(body, dict)
        turn, number = fake.next_turn()
        if turn.delay_s:
            fake.stopping.wait(turn.delay_s)
        if turn.status != 200:
            return self._error(turn.status, f"scripted {turn.status}", turn.error_type, turn.headers)
        if body.get("stream"):
            return self._stream(body, turn, number)
        return self._send(200, json.dumps(fake.message(body, turn, number)).encode())

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("request-id", "req_fake")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _error(self, status: int, message: str, kind: str | None = None, headers: dict[str, str] | None = None) -> None:
        kind = kind or ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        error = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}
        self._send(status, json.dumps(error).encode(), headers)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _stream(self, body: dict[str, Any], turn: Turn, number: int) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("request-id", "req_fake")
            self.end_headers()
            for count, (event, data) in enumerate(self.server.fake.events(body, turn, number)):
                if turn.cut_after_events is not None and count >= turn.cut_after_events:
                    self.wfile.flush()
                    self.close_connection = True
                    return  # the connection drops: no last chunk, no message_stop
                if turn.error_event is not None and count >= turn.error_after_events:
                    error = {"type": "error", "error": {"type": turn.error_event, "message": "scripted error"}}
                    self._chunk(f"event: error\ndata: {json.dumps(error)}\n\n".encode())
                    break
                self._chunk(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
                time.sleep(0.001)
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _bearer(value: str | None) -> str:
    return value[7:].strip() if value and value.lower().startswith("bearer ") else ""


def _cache_controls(blocks: Any) -> tuple[int, str]:
    """How many blocks carry ``cache_control``, and the first malformed one."""
    count = 0
    for block in blocks if isinstance(blocks, list) else ():
        control = block.get("cache_control") if isinstance(block, dict) else None
        if control is None:
            continue
        count += 1
        valid = isinstance(control, dict) and control.get("type") == "ephemeral"
        if not valid or control.get("ttl", "5m") not in ("5m", "1h"):
            return count, f"cache_control must be {{'type': 'ephemeral'}} (ttl 5m or 1h), got {control}"
    return count, ""


@dataclass
class FakeAnthropicServer:
    """Serve a script of :class:`Turn` on a free port; ``url`` is the API root (the SDK adds ``/v1/messages``).
    ``api_key``, when set, is the only key accepted. When the script runs out, ``default`` answers."""

    script: list[Turn] = field(default_factory=list)
    default: Turn = field(default_factory=lambda: Turn(text="OK"))
    api_key: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    served: int = 0  # requests answered from the script
    connections: int = 0  # TCP connections accepted (keep-alive reuses them)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_turn(self) -> tuple[Turn, int]:
        with self._lock:
            self.served += 1
            return (self.script.pop(0) if self.script else self.default), self.served

    # -- what the API rejects ------------------------------------------------------------------------

    def check(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, str]:
        """``(status, problem)`` for a request the real API would reject; ``(200, "")`` otherwise."""
        if path.split("?")[0] != "/v1/messages":
            return 404, f"unknown path {path}"
        key = headers.get("x-api-key") or _bearer(headers.get("authorization"))  # x-api-key wins when both
        if not key:
            return 401, "x-api-key header is required"
        if self.api_key is not None and key != self.api_key:
            return 401, "invalid x-api-key"
        version = headers.get("anthropic-version")
        if version not in API_VERSIONS:
            return 400, f"anthropic-version header must be one of {API_VERSIONS}, got {version!r}"
        if not headers.get("content-type", "").startswith("application/json"):
            return 400, f"content-type must be application/json, got {headers.get('content-type')!r}"
        if not isinstance(body, dict):
            return 400, "the body must be a JSON object"
        problem = self.check_body(body, version) or check_anthropic_vision(headers, body)
        return (400, problem) if problem else (200, "")

    def check_body(self, body: dict[str, Any], version: str) -> str:
        allowed = FIELDS | (SAMPLING if version == "2023-06-01" else frozenset())
        unknown = sorted(set(body) - allowed)
        if unknown:
            return f"{', '.join(unknown)}: Extra inputs are not permitted"
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "model: Field required"
        if not isinstance(body.get("max_tokens"), int) or isinstance(body["max_tokens"], bool):
            return "max_tokens: Field required"
        if body["max_tokens"] < 1:
            return "max_tokens: must be at least 1"
        if "stream" in body and not isinstance(body["stream"], bool):
            return "stream: must be a boolean"
        problem = self._check_tools(body)
        if problem:
            return problem
        system = body.get("system")
        texts = isinstance(system, list) and all(
            isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str) and b["text"]
            for b in system
        )
        if system is not None and not isinstance(system, str) and not texts:
            return "system: must be a string or a list of non-empty text blocks"
        problem = self._check_messages(body.get("messages"))
        if problem:
            return problem
        blocks = [*(body.get("tools") or []), *(system if isinstance(system, list) else [])]
        blocks += [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]]
        count, problem = _cache_controls(blocks)
        if problem:
            return problem
        if count > 4:
            return f"A maximum of 4 blocks with cache_control may be provided. Found {count}."
        output = body.get("output_config")
        if output is not None:
            fmt = output.get("format") if isinstance(output, dict) else None
            if fmt is not None and (
                not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict)
            ):
                return f"output_config.format must be {{'type': 'json_schema', 'schema': {{...}}}}, got {fmt}"
        return ""

    @staticmethod
    def _check_tools(body: dict[str, Any]) -> str:
        tools = body.get("tools")
        names: set[str] = set()
        if tools is not None:
            if not isinstance(tools, list):
                return "tools: must be a list"
            for tool in tools:
                name = tool.get("name") if isinstance(tool, dict) else None
                if not isinstance(name, str) or not TOOL_NAME.match(name):
                    return f"tools: bad tool name {name!r}"
                if name in names:
                    return f"tools: tool names must be unique ({name})"
                names.add(name)
                if tool.get("type", "custom") != "custom":
                    continue  # a tool the API defines (computer use): check_anthropic_vision checks it
                schema = tool.get("input_schema")
                if not isinstance(schema, dict) or schema.get("type") != "object":
                    return f"tools.{name}.input_schema: must be a JSON schema of type object"
        choice = body.get("tool_choice")
        if choice is not None:
            if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
                return f"tool_choice: unknown {choice}"
            if choice["type"] == "tool" and choice.get("name") not in names:
                return f"tool_choice: no tool named {choice.get('name')!r}"
        return ""

    @staticmethod
    def _check_messages(messages: Any) -> str:
        if not isinstance(messages, list) or not messages:
            return "messages: at least one message is required"
        asked: list[str] = []
        for n, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("user", "assistant"):
                return f"messages.{n}.role: must be 'user' or 'assistant', got {role!r}"
            if n == 0 and role != "user":
                return "messages: the first message must use the user role"
            if n > 0 and messages[n - 1]["role"] == role:
                return f"messages.{n}: roles must alternate between 'user' and 'assistant'"
            content = message.get("content")
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            if not isinstance(content, list) or not content:
                return f"messages.{n}.content: must be a non-empty string or list of blocks"
            answered: list[str] = []
            for i, block in enumerate(content):
                kind = block.get("type") if isinstance(block, dict) else None
                where = f"messages.{n}.content.{i}"
                if kind not in _BLOCKS[role]:
                    return f"{where}: a {role} message cannot hold a {kind!r} block"
                if kind == "text" and not (isinstance(block.get("text"), str) and block["text"]):
                    return f"{where}: text content blocks must be non-empty"
                if kind == "tool_use" and not (
                    isinstance(block.get("id"), str)
                    and isinstance(block.get("name"), str)
                    and isinstance(block.get("input"), dict)
                ):
                    return f"{where}: a tool_use block needs an id, a name and an input object"
                if kind == "tool_result":
                    if block.get("tool_use_id") not in asked:
                        return (
                            f"{where}: unexpected tool_use_id found in tool_result blocks: {block.get('tool_use_id')}."
                            " Each tool_result block must have a corresponding tool_use block in the previous message."
                        )
                    if i > len(answered):
                        return f"{where}: tool_result blocks must come first in the message content"
                    result = block.get("content", "")
                    if not isinstance(result, (str, list)) or not isinstance(block.get("is_error", False), bool):
                        return f"{where}: tool_result content must be a string or a list of blocks"
                    answered.append(block["tool_use_id"])
            missing = [i for i in asked if i not in answered]
            if missing:
                return f"messages.{n}: tool_use ids were found without tool_result blocks immediately after: {missing}"
            asked = [b["id"] for b in content if b.get("type") == "tool_use"] if role == "assistant" else []
        if asked:
            return f"messages: the last message has tool_use blocks {asked} with no tool_result after them"
        return ""

    # -- what it answers ---------------------------------------------------------------------------

    @staticmethod
    def _input(arguments: Any) -> str:
        return arguments if isinstance(arguments, str) else json.dumps(arguments)

    def message(self, body: dict[str, Any], turn: Turn, number: int) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if turn.thinking:
            content.append({"type": "thinking", "thinking": turn.thinking, "signature": "fake-signature"})
        if turn.text:
            content.append({"type": "text", "text": turn.text})
        for i, (name, arguments) in enumerate(turn.tool_calls):
            content.append({"type": "tool_use", "id": f"toolu_{number}_{i}", "name": name, "input": arguments})
        fresh, output, read, written = turn.usage
        return {
            "id": f"msg_fake_{number}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "fake"),
            "content": content,
            "stop_reason": turn.stop_reason or ("tool_use" if turn.tool_calls else "end_turn"),
            "stop_sequence": None,
            "usage": {"input_tokens": fresh, "output_tokens": output,
                      "cache_read_input_tokens": read, "cache_creation_input_tokens": written},
        }  # fmt: skip

    def events(self, body: dict[str, Any], turn: Turn, number: int) -> Iterator[tuple[str, dict[str, Any]]]:
        whole = self.message(body, turn, number)
        usage = {**whole["usage"], "output_tokens": 1}
        yield "message_start", {"type": "message_start", "message": {**whole, "content": [], "stop_reason": None,
                                                                       "usage": usage}}  # fmt: skip
        if not whole["content"]:
            yield "ping", {"type": "ping"}
        for index, block in enumerate(whole["content"]):
            kind = block["type"]
            start = {"text": {"type": "text", "text": ""}, "thinking": {"type": "thinking", "thinking": ""}}.get(
                kind, {"type": "tool_use", "id": block.get("id"), "name": block.get("name"), "input": {}}
            )
            yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
            if index == 0:
                yield "ping", {"type": "ping"}
            for delta in self._deltas(block):
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
            yield "content_block_stop", {"type": "content_block_stop", "index": index}
        delta = {"stop_reason": whole["stop_reason"], "stop_sequence": None}
        yield (
            "message_delta",
            {"type": "message_delta", "delta": delta, "usage": {"output_tokens": whole["usage"]["output_tokens"]}},
        )
        yield "message_stop", {"type": "message_stop"}

    def _deltas(self, block: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if block["type"] == "text":
            words = block["text"].split(" ")
            for i, word in enumerate(words):
                yield {"type": "text_delta", "text": word + (" " if i < len(words) - 1 else "")}
        elif block["type"] == "thinking":
            yield {"type": "thinking_delta", "thinking": block["thinking"]}
            yield {"type": "signature_delta", "signature": block["signature"]}
        else:  # tool_use: the input's JSON text in pieces, the first one empty, as the API sends it
            text = self._input(block["input"])
            half = len(text) // 2
            for piece in ("", text[:half], text[half:]):
                yield {"type": "input_json_delta", "partial_json": piece}

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeAnthropicServer:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAnthropicServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
