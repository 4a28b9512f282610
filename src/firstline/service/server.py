"""How ``firstline serve`` runs uvicorn: :func:`uvicorn_options`, with what a client may make it hold bounded.

* ``http=BoundedHttpTools``: uvicorn's ``httptools`` parser (C, llhttp) with a cap on the request head.
  Uvicorn's own httptools protocol keeps a head of any size in memory — a 64 MiB header was read whole
  and passed to the app, the server growing by ~67 MB per such request; its ``h11`` protocol stops at a
  cap but parses in Python, which cost ~9 % of the service's throughput under load (``bench/load.py``:
  86 against 95 turns/s). :class:`BoundedHttpTools` counts what arrives before a request's headers are
  complete and, past the cap, answers 431 and closes the connection (what it holds is bounded by the cap
  plus one read).
* The cap (``h11_max_incomplete_event_size``, read by both protocols) = ``service.max_header_bytes`` + 8 KiB
  for the request line: larger request heads never reach the app; smaller ones over ``max_header_bytes``
  get the app's 431 JSON answer (:class:`~firstline.service.limits.HeaderLimit`).
* ``proxy_headers=False``: uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 by default, which lets
  anyone who reaches the port through a local proxy pick the address the per-IP limits count.
  :class:`~firstline.service.proxies.ProxyHeaders` reads those headers instead, from
  ``service.trusted_proxies`` only.
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from firstline.settings import Settings

__all__ = ["REQUEST_LINE_BYTES", "BoundedHttpTools", "uvicorn_options"]
log = logging.getLogger(__name__)

REQUEST_LINE_BYTES = 8192  # room for the method, the path with its query and the version


def uvicorn_options(settings: Settings, host: str | None = None, port: int | None = None) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run(app, ...)`` / ``uvicorn.Config(app, ...)``; see the module docstring."""
    service = settings.service
    return {
        "host": host or service.host,
        "port": port or service.port,
        "http": BoundedHttpTools,
        "h11_max_incomplete_event_size": service.max_header_bytes + REQUEST_LINE_BYTES,
        "proxy_headers": False,
        "ws": "none",  # the service has no WebSocket routes
        "log_config": None,
        "access_log": False,
    }


class BoundedHttpTools(HttpToolsProtocol):
    """Uvicorn's httptools protocol, refusing a request head longer than ``h11_max_incomplete_event_size``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_cap: int = self.config.h11_max_incomplete_event_size or 16 * 1024
        self._in_head = True  # a connection starts with a request head
        self._head_bytes = 0
        self._ended = False  # a request ended inside the data being parsed

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True  # what follows is the next request's head
        self._head_bytes = 0
        self._ended = True
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        self._ended = False
        super().data_received(data)
        # A read in which a request ended is not counted for the next head (the part after the end is not
        # known): a head may so get one read (at most 256 KiB) past the cap before it is refused.
        if self._in_head and not self._ended and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self._head_cap:
                log.warning("a request head over %d bytes was refused", self._head_cap)
                self._refuse()

    def _refuse(self) -> None:
        body = b"Request header fields too large."
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()
