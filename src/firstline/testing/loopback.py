"""A tiny HTTP server on 127.0.0.1 for tests that fake a vendor's API (rerankers, embedders, LLMs).

The ``app`` sees each request (path, lower-cased headers, raw body) and returns ``(status, body)``.
It raises :class:`ShapeViolation` for a request the real vendor would reject: the server answers
422 and records the violation, so a test fixture can assert that none happened. Requests are kept
in ``seen``; ``delay`` holds every answer back (to exercise client timeouts).

    with LoopbackServer(lambda req: (200, b'{"ok": true}')) as server:
        httpx.post(server.url + "/rerank", json={...})
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["App", "LoopbackServer", "Reply", "Request", "ShapeViolation"]


class ShapeViolation(Exception):
    """The client sent something the real server would reject."""


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        """The body parsed as JSON (a :class:`ShapeViolation` when it is not JSON)."""
        try:
            return json.loads(self.raw)
        except ValueError as exc:
            raise ShapeViolation(f"body is not JSON: {exc}") from exc


Reply = tuple[int, bytes] | tuple[int, bytes, dict[str, str]]
"""``(status, body)``, or ``(status, body, headers)`` to add headers (``Retry-After``, a content type)."""
App = Callable[[Request], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads
    loopback: LoopbackServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _handle(self) -> None:
        loop = self.server.loopback
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
        loop.seen.append(request)
        try:
            if (
                loop.require_json
                and self.command == "POST"
                and request.headers.get("content-type") != "application/json"
            ):
                raise ShapeViolation(f"Content-Type is {request.headers.get('content-type')!r}")
            reply = loop.app(request)
        except ShapeViolation as exc:
            loop.violations.append(str(exc))
            reply = 422, json.dumps({"detail": str(exc)}).encode()
        status, body = reply[0], reply[1]
        headers = {"Content-Type": "application/json", **(reply[2] if len(reply) > 2 else {})}
        if loop.delay:
            loop.stopping.wait(loop.delay)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class LoopbackServer:
    """Serve ``app`` on a free port of 127.0.0.1 in a background thread."""

    app: App
    delay: float = 0.0
    require_json: bool = True
    seen: list[Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> LoopbackServer:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.loopback = self
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
        self._thread.join()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
