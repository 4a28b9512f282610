"""A fake OpenAI-compatible server on 127.0.0.1 for tests: scripted replies and faults over real HTTP.

Each request to ``/v1/chat/completions`` takes the next :class:`Turn` of the script: a reply (text
and/or tool calls, streamed as Server-Sent Events when the request asks for ``stream``), an error
status with headers (429 + Retry-After, 500), a delay, a stream cut after N chunks, or malformed
tool-call JSON. Requests are checked for what real servers reject (no messages, the removed
``guided_*`` fields of vLLM, fields a TGI server does not accept) and kept in ``requests``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["FakeOpenAIServer", "Turn"]


@dataclass
class Turn:
    """One scripted answer. ``tool_calls`` are ``(name, arguments)`` with arguments a dict, or a raw
    string sent as is (to script malformed JSON); ``object_arguments`` sends them as JSON objects."""

    text: str = ""
    tool_calls: list[tuple[str, Any]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    cut_after_chunks: int | None = None
    usage: tuple[int, int, int] = (12, 5, 0)
    object_arguments: bool = False
    reasoning: str = ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAIServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            return self._json(400, {"error": {"message": "body is not JSON"}})
        fake.requests.append(body)
        problem = fake.check(self.path, body)
        if problem:
            fake.violations.append(problem)
            return self._json(422, {"error": {"message": problem}})
        turn = fake.next_turn()
        if turn.delay_s:
            fake.stopping.wait(turn.delay_s)
        if turn.status != 200:
            return self._json(turn.status, {"error": {"message": f"scripted {turn.status}"}}, turn.headers)
        if body.get("stream"):
            return self._stream(body, turn)
        return self._json(200, fake.completion(body, turn))

    def _json(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _stream(self, body: dict[str, Any], turn: Turn) -> None:
        fake = self.server.fake
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            for count, chunk in enumerate(fake.chunks(body, turn)):
                if turn.cut_after_chunks is not None and count >= turn.cut_after_chunks:
                    self.wfile.flush()
                    self.close_connection = True
                    return  # the connection drops mid-stream: no finish_reason, no [DONE]
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.001)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class FakeOpenAIServer:
    """Serve a script of :class:`Turn` on a free port; ``url`` ends in ``/v1``.

    ``dialect`` is ``"openai"`` (default), ``"tgi"`` (requests must only use fields of TGI's
    ChatRequest) or ``"vllm"`` (no ``guided_*`` fields). When the script runs out, ``default``
    answers.
    """

    script: list[Turn] = field(default_factory=list)
    dialect: str = "openai"
    default: Turn = field(default_factory=lambda: Turn(text="OK"))
    tgi_fields: frozenset[str] = frozenset()
    requests: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def next_turn(self) -> Turn:
        return self.script.pop(0) if self.script else self.default

    def check(self, path: str, body: dict[str, Any]) -> str:
        if not path.endswith("/chat/completions"):
            return f"unknown path {path}"
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return "messages must be a non-empty list"
        for message in body["messages"]:
            if message.get("role") not in ("system", "user", "assistant", "tool"):
                return f"bad role {message.get('role')!r}"
            if message["role"] == "tool" and not message.get("tool_call_id"):
                return "a tool message needs tool_call_id"
        guided = [k for k in body if k.startswith("guided_")]
        if guided:
            return f"{guided} are ignored by vLLM since v0.12: use response_format"
        if self.dialect == "tgi" and self.tgi_fields:
            unknown = sorted(set(body) - self.tgi_fields)
            if unknown:
                return f"TGI's ChatRequest has no field(s) {unknown}"
            grammar = body.get("response_format")
            if grammar is not None and (grammar.get("type") != "json" or "value" not in grammar):
                return f"TGI wants response_format {{'type': 'json', 'value': schema}}, got {grammar}"
        for tool in body.get("tools") or ():
            if tool.get("type") != "function" or "name" not in tool.get("function", {}):
                return f"malformed tool {tool}"
        return ""

    def _calls(self, turn: Turn) -> list[dict[str, Any]]:
        calls = []
        for index, (name, arguments) in enumerate(turn.tool_calls):
            if isinstance(arguments, str) or not turn.object_arguments:
                arguments = arguments if isinstance(arguments, str) else json.dumps(arguments)
            calls.append({"index": index, "id": f"call_{index}", "type": "function",
                          "function": {"name": name, "arguments": arguments}})  # fmt: skip
        return calls

    def completion(self, body: dict[str, Any], turn: Turn) -> dict[str, Any]:
        calls = [{k: v for k, v in c.items() if k != "index"} for c in self._calls(turn)]
        message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
        if calls:
            message["tool_calls"] = calls
        if turn.reasoning:
            message["reasoning_content"] = turn.reasoning
        prompt, completion, cached = turn.usage
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        }

    def chunks(self, body: dict[str, Any], turn: Turn) -> Iterator[dict[str, Any]]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        yield chunk({"role": "assistant"})
        if turn.reasoning:
            yield chunk({"reasoning_content": turn.reasoning})
        for word in turn.text.split(" ") if turn.text else []:
            yield chunk({"content": word + " "})
        for call in self._calls(turn):
            arguments = call["function"]["arguments"]
            if isinstance(arguments, str):  # split the JSON text across two deltas, as servers do
                half = len(arguments) // 2
                yield chunk(
                    {
                        "tool_calls": [
                            {**call, "function": {"name": call["function"]["name"], "arguments": arguments[:half]}}
                        ]
                    }
                )
                yield chunk({"tool_calls": [{"index": call["index"], "function": {"arguments": arguments[half:]}}]})
            else:
                yield chunk({"tool_calls": [call]})
        yield chunk({}, "tool_calls" if turn.tool_calls else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt, completion, cached = turn.usage
            yield {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion, "prompt_tokens_details": {"cached_tokens": cached}},
            }  # fmt: skip

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
