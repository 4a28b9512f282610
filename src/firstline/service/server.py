"""How ``firstline serve`` runs uvicorn: :func:`uvicorn_options`, with what a client may make it hold bounded.

* ``http="h11"``: uvicorn's faster ``httptools`` parser (picked by default when installed) keeps a
  request head of any size in memory — a 64 MiB header was read whole and passed to the app, the
  server growing by ~67 MB per such request. h11 stops buffering at ``h11_max_incomplete_event_size``
  and answers 400 with the connection closed.
* ``h11_max_incomplete_event_size`` = ``service.max_header_bytes`` + 8 KiB for the request line:
  larger request heads never reach the app; smaller ones over ``max_header_bytes`` get the app's
  431 JSON answer (:class:`~firstline.service.limits.HeaderLimit`).
* ``proxy_headers=False``: uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 by default, which lets
  anyone who reaches the port through a local proxy pick the address the per-IP limits count.
  :class:`~firstline.service.proxies.ProxyHeaders` reads those headers instead, from
  ``service.trusted_proxies`` only.
"""

from __future__ import annotations

from typing import Any

from firstline.settings import Settings

__all__ = ["REQUEST_LINE_BYTES", "uvicorn_options"]

REQUEST_LINE_BYTES = 8192  # room for the method, the path with its query and the version


def uvicorn_options(settings: Settings, host: str | None = None, port: int | None = None) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run(app, ...)`` / ``uvicorn.Config(app, ...)``; see the module docstring."""
    service = settings.service
    return {
        "host": host or service.host,
        "port": port or service.port,
        "http": "h11",
        "h11_max_incomplete_event_size": service.max_header_bytes + REQUEST_LINE_BYTES,
        "proxy_headers": False,
        "ws": "none",  # the service has no WebSocket routes
        "log_config": None,
        "access_log": False,
    }
