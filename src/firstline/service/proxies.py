"""Who the client is behind a reverse proxy: ``X-Forwarded-For`` / ``-Proto`` believed from trusted peers only.

``ProxyHeaders`` rewrites ``scope["client"]`` and ``scope["scheme"]`` when, and only when, the
direct peer is in ``service.trusted_proxies`` (IPs or CIDRs; empty by default). Anyone else's
forwarding headers are ignored, so a client cannot pick the address that the per-IP rate limits
count. ``firstline serve`` turns uvicorn's own proxy handling off (``proxy_headers=False``;
uvicorn would otherwise believe these headers from 127.0.0.1): this middleware is the one place
that reads them, under uvicorn, another ASGI server or the test client alike.

Of ``X-Forwarded-For: client, proxy1, proxy2`` the client is the right-most address that is not a
trusted proxy: each trusted proxy appends the peer it saw, and only those entries can be believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ProxyHeaders", "TrustedNetworks"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedNetworks:
    """A set of IP networks; ``"10.0.0.5"`` or ``"10.0.0.0/24"`` (IPv4-mapped IPv6 peers count as IPv4)."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, host: object) -> bool:
        address = _address(host)
        return address is not None and any(address in network for network in self.networks)


def _address(host: object) -> Address | None:
    if not isinstance(host, str):
        return None
    try:
        address = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """The comma-separated values of every ``name`` header, in order (repeated headers joined)."""
    values = [v.decode("latin-1") for k, v in headers if k == name]
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


class ProxyHeaders:
    """Take the client address and scheme from trusted proxies' headers; see the module docstring."""

    def __init__(self, app: ASGIApp, trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted = TrustedNetworks(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted:
            peer = scope.get("client")
            if peer and peer[0] in self.trusted:
                headers = list(scope.get("headers") or [])
                client = self._client(_values(headers, b"x-forwarded-for"))
                if client is not None:
                    scope["client"] = (client, 0)
                protos = _values(headers, b"x-forwarded-proto")
                if protos and protos[-1].lower() in ("http", "https"):
                    secure = protos[-1].lower() == "https"
                    if scope["type"] == "websocket":
                        scope["scheme"] = "wss" if secure else "ws"
                    else:
                        scope["scheme"] = "https" if secure else "http"
        await self.app(scope, receive, send)

    def _client(self, forwarded: list[str]) -> str | None:
        """The right-most address that is not a trusted proxy (the left-most if all are trusted).

        None (the peer stays the client) when that entry is not an IP address: no trusted proxy wrote it.
        """
        address: Address | None = None
        for item in reversed(forwarded):
            address = _address(item)
            if address is None or str(address) not in self.trusted:
                break
        return None if address is None else str(address)
