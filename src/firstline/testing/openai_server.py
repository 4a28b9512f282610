"""A fake OpenAI-compatible server on 127.0.0.1 for tests and benchmarks: scripted replies and faults over real HTTP.

Each request to ``/v1/chat/completions`` takes the next :class:`Turn` of the script (then ``default``, a
``Turn`` or a function of the request body): a reply (text and/or tool calls, streamed as Server-Sent
Events when the request asks for ``stream``), an error status with headers (429 + Retry-After, 500), a
delay, a stream cut after N chunks, or malformed tool-call JSON. Requests are checked for what real
servers reject (no messages, the removed ``guided_*`` fields of vLLM, fields a TGI server does not
accept, malformed image parts: :mod:`firstline.testing.vision_checks`) and kept in ``requests``.

It speaks HTTP/1.1 with keep-alive, as model servers do: ``Content-Length`` for JSON, chunked transfer
encoding for streams, request after request on one connection until the client closes it (``connections``
counts those accepted, so a test can show that a client pools them); a cut stream closes its connection.
Pacing makes it behave like a model: ``ttft_s`` before a reply's first delta (content, reasoning or tool
call), ``token_s`` between deltas (one word of text, or four characters of tool-call JSON); a reply that is
not streamed goes out when its stream's last delta would have. ``sent`` records ``time.perf_counter()``
as each text delta is written, for benchmarks that compare it with when a client saw the token.
It runs on an event loop in a daemon thread of its own, so paced streams cost no threads.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, NamedTuple

from firstline.testing.vision_checks import check_openai_vision

__all__ = ["FakeOpenAIServer", "Sent", "Turn"]

_MAX_HEAD = 64 * 1024
_WORDS = re.compile(r"\s*\S+\s*|\s+")


@dataclass
class Turn:
    """One scripted answer. ``tool_calls`` are ``(name, arguments)`` with arguments a dict, or a raw
    string sent as is (to script malformed JSON); ``object_arguments`` sends them as JSON objects.

    ``delay_s`` passes before the response starts (headers included); ``ttft_s`` before the first delta
    and ``token_s`` between deltas (see the module docstring). ``cut_after_chunks`` ends a stream after
    that many chunks, without a finish reason or ``[DONE]``, and closes the connection; with
    ``drop_connection`` the socket is closed mid-body instead, which the client sees as a transport error.
    """

    text: str = ""
    tool_calls: list[tuple[str, Any]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    cut_after_chunks: int | None = None
    usage: tuple[int, int, int] = (12, 5, 0)
    object_arguments: bool = False
    reasoning: str = ""
    ttft_s: float = 0.0
    token_s: float = 0.0
    drop_connection: bool = False


class Sent(NamedTuple):
    """One text delta as the server wrote it: ``at`` is ``time.perf_counter()`` as it was written,
    ``request`` the index of its request in ``FakeOpenAIServer.requests``."""

    at: float
    text: str
    request: int


class _Chunk(NamedTuple):
    data: dict[str, Any]
    paced: bool  # a content, reasoning or tool-call delta: ttft / token_s pass before it
    text: str  # the content it carries, if any


@dataclass
class FakeOpenAIServer:
    """Serve a script of :class:`Turn` on a free port; ``url`` ends in ``/v1``.

    ``dialect`` is ``"openai"`` (default), ``"tgi"`` (requests must only use fields of TGI's
    ChatRequest) or ``"vllm"`` (no ``guided_*`` fields). When the script runs out, ``default`` answers:
    a ``Turn``, or a function from the request body to a ``Turn`` (e.g. by the tools offered or the
    last message), so a long-running server can answer by request. ``unique_call_ids`` numbers tool calls
    by request as well (``call_<request>_<n>``), for clients that refuse a reused id (the Agents SDK).
    """

    script: list[Turn] = field(default_factory=list)
    dialect: str = "openai"
    default: Turn | Callable[[dict[str, Any]], Turn] = field(default_factory=lambda: Turn(text="OK"))
    tgi_fields: frozenset[str] = frozenset()
    requests: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    unique_call_ids: bool = False  # tool-call ids call_<request>_<n>, as real servers make them (else call_<n>)
    connections: int = 0  # TCP connections accepted
    received: list[float] = field(default_factory=list)  # perf_counter() when each request was read
    sent: list[Sent] = field(default_factory=list)

    def next_turn(self, body: dict[str, Any] | None = None) -> Turn:
        if self.script:
            return self.script.pop(0)
        return self.default(body or {}) if callable(self.default) else self.default

    def first_text_at(self, request: int) -> float | None:
        """When the first text delta of request number ``request`` was written (None: it sent none)."""
        return next((s.at for s in self.sent if s.request == request), None)

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
        return check_openai_vision(body)

    # -- what a turn sends -------------------------------------------------------------------------

    def _calls(self, turn: Turn, request: int | None) -> list[dict[str, Any]]:
        prefix = f"call_{request}_" if self.unique_call_ids and request is not None else "call_"
        calls = []
        for index, (name, arguments) in enumerate(turn.tool_calls):
            if isinstance(arguments, str) or not turn.object_arguments:
                arguments = arguments if isinstance(arguments, str) else json.dumps(arguments)
            calls.append({"index": index, "id": f"{prefix}{index}", "type": "function",
                          "function": {"name": name, "arguments": arguments}})  # fmt: skip
        return calls

    def completion(self, body: dict[str, Any], turn: Turn, request: int | None = None) -> dict[str, Any]:
        calls = [{k: v for k, v in c.items() if k != "index"} for c in self._calls(turn, request)]
        message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
        if calls:
            message["tool_calls"] = calls
        if turn.reasoning:
            message["reasoning_content"] = turn.reasoning
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": _usage(turn),
        }

    def chunks(self, body: dict[str, Any], turn: Turn, request: int | None = None) -> Iterator[dict[str, Any]]:
        return (c.data for c in self._chunks(body, turn, request))  # the stream's chunks, unpaced

    def _chunks(self, body: dict[str, Any], turn: Turn, request: int | None = None) -> Iterator[_Chunk]:
        def chunk(delta: dict[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
            choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
            return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body.get("model", "fake"), "choices": choices}  # fmt: skip

        yield _Chunk(chunk({"role": "assistant"}), False, "")
        if turn.reasoning:
            yield _Chunk(chunk({"reasoning_content": turn.reasoning}), True, "")
        for word in _WORDS.findall(turn.text):  # a word and the space after it: the deltas join to the text
            yield _Chunk(chunk({"content": word}), True, word)
        for call in self._calls(turn, request):
            arguments = call["function"]["arguments"]
            if isinstance(arguments, str):  # the JSON text across deltas (two halves unless paced), as servers do
                size = 4 if turn.token_s > 0 else max(1, (len(arguments) + 1) // 2)
                pieces = [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]
                head = {**call, "function": {"name": call["function"]["name"], "arguments": pieces[0]}}
                yield _Chunk(chunk({"tool_calls": [head]}), True, "")
                for piece in pieces[1:]:
                    part = {"index": call["index"], "function": {"arguments": piece}}
                    yield _Chunk(chunk({"tool_calls": [part]}), True, "")
            else:
                yield _Chunk(chunk({"tool_calls": [call]}), True, "")
        yield _Chunk(chunk({}, "tool_calls" if turn.tool_calls else "stop"), False, "")
        if (body.get("stream_options") or {}).get("include_usage"):
            yield _Chunk({**chunk(None), "usage": _usage(turn)}, False, "")

    def _deltas(self, body: dict[str, Any], turn: Turn) -> int:
        return sum(c.paced for c in self._chunks(body, turn))

    # -- HTTP/1.1 --------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            keep_alive = True
            while keep_alive and not self.stopping.is_set():
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return  # the client closed the connection between requests
                method, path, version, headers = _parse_head(head)
                body = await _read_body(reader, headers)
                keep_alive = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
                keep_alive = await self._respond(writer, method, path, body, keep_alive)
        # A client gone, a malformed request, or stop() (ended quietly: asyncio logs a cancelled handler as an error).
        except (
            ConnectionError,
            asyncio.LimitOverrunError,
            ValueError,
            asyncio.IncompleteReadError,
            asyncio.CancelledError,
        ):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, method: str, path: str, raw: bytes, keep: bool) -> bool:
        """Answer one request; False when the connection must close afterwards."""
        if method != "POST":
            return await _send_json(writer, 405, {"error": {"message": f"{method} is not served"}}, {}, keep)
        try:
            body = json.loads(raw)
        except ValueError:
            return await _send_json(writer, 400, {"error": {"message": "body is not JSON"}}, {}, keep)
        index = len(self.requests)
        self.requests.append(body)
        self.received.append(time.perf_counter())
        problem = self.check(path, body)
        if problem:
            self.violations.append(problem)
            return await _send_json(writer, 422, {"error": {"message": problem}}, {}, keep)
        try:
            turn = self.next_turn(body)
        except Exception as exc:  # a broken `default` function: say so in the test's violations
            self.violations.append(f"default turn failed: {exc!r}")
            return await _send_json(writer, 500, {"error": {"message": "the fake's default failed"}}, {}, keep)
        if turn.delay_s:
            await asyncio.sleep(turn.delay_s)
        if turn.status != 200:
            return await _send_json(writer, turn.status, {"error": {"message": f"scripted {turn.status}"}},
                                    turn.headers, keep)  # fmt: skip
        if body.get("stream"):
            return await self._stream(writer, body, turn, index, keep)
        deltas = self._deltas(body, turn)
        if deltas:
            await asyncio.sleep(turn.ttft_s + (deltas - 1) * turn.token_s)
        return await _send_json(writer, 200, self.completion(body, turn, index), turn.headers, keep)

    async def _stream(
        self, writer: asyncio.StreamWriter, body: dict[str, Any], turn: Turn, index: int, keep: bool
    ) -> bool:
        keep = keep and turn.cut_after_chunks is None  # a client must not reuse a connection about to drop
        head = _head(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                           "Transfer-Encoding": "chunked", **turn.headers}, keep)  # fmt: skip
        writer.write(head)
        await writer.drain()
        first = True
        for count, chunk in enumerate(self._chunks(body, turn, index)):
            if turn.cut_after_chunks is not None and count >= turn.cut_after_chunks:
                if turn.drop_connection:
                    writer.transport.abort()  # mid-body: the client's read fails
                else:
                    writer.write(b"0\r\n\r\n")  # the body ends early: no finish_reason, no [DONE]
                    await writer.drain()
                return False
            if chunk.paced:
                pause = turn.ttft_s if first else turn.token_s
                first = False
                if pause > 0:
                    await asyncio.sleep(pause)
            frame = _frame(f"data: {json.dumps(chunk.data)}\n\n".encode())
            if chunk.text:  # stamped before the write: a client (on another thread) cannot see it any earlier
                self.sent.append(Sent(time.perf_counter(), chunk.text, index))
            writer.write(frame)
            await writer.drain()
        writer.write(_frame(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()
        return keep

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        failed: list[BaseException] = []

        async def main() -> None:
            self._done = asyncio.Event()
            try:
                self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0, limit=_MAX_HEAD)
            except OSError as exc:  # pragma: no cover - no free port on loopback
                failed.append(exc)
                return
            finally:
                ready.set()
            await self._done.wait()
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(main())
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            raise failed[0]
        return self

    @property
    def url(self) -> str:
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host!s}:{port}/v1"

    def stop(self) -> None:
        self.stopping.set()
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._done.set)
            self._thread.join(10)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _usage(turn: Turn) -> dict[str, Any]:
    prompt, completion, cached = turn.usage
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}  # fmt: skip


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, path, version.strip(), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the blank line
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


def _head(status: int, headers: dict[str, str], keep: bool) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Status"
    lines = [f"HTTP/1.1 {status} {reason}", "Server: firstline-fake-openai"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if not keep:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _frame(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _send_json(
    writer: asyncio.StreamWriter, status: int, data: dict[str, Any], headers: dict[str, str], keep: bool
) -> bool:
    payload = json.dumps(data).encode()
    head = _head(status, {"Content-Type": "application/json", "Content-Length": str(len(payload)), **headers}, keep)
    writer.write(head + payload)
    await writer.drain()
    return keep
