"""A real Firstline server on 127.0.0.1 for browser tests and benchmarks: uvicorn in a background thread.

    with live_service(tmp_path) as service:
        email, password = service.accounts["requester"]
        httpx.post(f"{service.base_url}/v1/auth/login", json={"email": email, "password": password})

The accounts are created before the server starts, with fresh random passwords: ``requester``
(ruby.chen, whose account is locked in the demo organisation), ``requester2`` (marcus.bell),
``requester3`` (ben.carter), ``agent`` (sarah.lindqvist), ``agent2`` (ravi.chandran) and ``admin``
(emily.watson).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
import uvicorn

from firstline.settings import Settings, load_settings

__all__ = [
    "LIVE_ACCOUNTS",
    "UNLIMITED",
    "LiveService",
    "cannot_start",
    "clean_environment",
    "free_port",
    "live_service",
    "seed_accounts",
]

# Service settings for tests that make many requests from 127.0.0.1 with accounts they seed themselves.
UNLIMITED: dict[str, Any] = {
    "seed_demo_accounts": False,
    "rate_limit_per_minute": 1_000_000,
    "ip_rate_limit_per_minute": 1_000_000,
    "login_rate_limit_per_minute": 1_000_000,
}


@contextmanager
def clean_environment(cache_dir: Path) -> Iterator[None]:
    """No ``FIRSTLINE_*`` variables from the caller, models from ``cache_dir``, no model hub downloads.

    For fixtures wider than one test, which start before the per-test environment isolation does.
    """
    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.startswith("FIRSTLINE_")]:
            del os.environ[name]
        os.environ["XDG_CACHE_HOME"] = str(cache_dir)
        os.environ["HF_HUB_OFFLINE"] = "1"
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


LIVE_ACCOUNTS: dict[str, tuple[str, str]] = {
    "requester": ("requester", "ruby.chen@nwmeridian.co.uk"),
    "requester2": ("requester", "marcus.bell@nwmeridian.co.uk"),
    "requester3": ("requester", "ben.carter@nwmeridian.co.uk"),
    "agent": ("agent", "sarah.lindqvist@nwmeridian.co.uk"),
    "agent2": ("agent", "ravi.chandran@nwmeridian.co.uk"),
    "admin": ("admin", "emily.watson@nwmeridian.co.uk"),
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cannot_start(reason: str) -> NoReturn:
    """A server a test needs cannot start: skip outside CI, fail in CI (integration tests must run there)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


@dataclass
class LiveService:
    base_url: str
    settings: Settings
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (email, password)
    server: Any = None

    def login(self, who: str, client: httpx.Client | None = None) -> httpx.Client:
        """A client signed in as ``who`` (a key of :attr:`accounts`), sending the CSRF header."""
        email, password = self.accounts[who]
        client = client or httpx.Client(base_url=self.base_url, headers={"X-Requested-With": "firstline"}, timeout=60)
        response = client.post("/v1/auth/login", json={"email": email, "password": password})
        response.raise_for_status()
        return client


def seed_accounts(settings: Settings) -> dict[str, tuple[str, str]]:
    """Create the :data:`LIVE_ACCOUNTS` (in an empty account table) with fresh random passwords; key -> (e-mail,
    password)."""
    from firstline.runtime import Runtime
    from firstline.service.app import seed_demo_accounts

    with Runtime(settings) as runtime:
        created = seed_demo_accounts(runtime, LIVE_ACCOUNTS.values())
    if not created:
        raise RuntimeError(f"{settings.data_dir} already has accounts: give each live service a fresh data folder")
    return {key: (a["email"], a["password"]) for key, a in zip(LIVE_ACCOUNTS, created, strict=True)}


@contextmanager
def live_service(data_dir: Path, startup_s: float = 180.0, **overrides: Any) -> Iterator[LiveService]:
    """Start the service on a free loopback port with its data in ``data_dir``; stop it on exit."""
    service_overrides = {"seed_demo_accounts": False, **overrides.pop("service", {})}
    settings = load_settings(data_dir=data_dir, service=service_overrides, **overrides)
    accounts = seed_accounts(settings)
    from firstline.service.app import create_app
    from firstline.service.server import uvicorn_options

    port = free_port()
    options = {**uvicorn_options(settings, host="127.0.0.1", port=port), "log_level": "warning", "lifespan": "on"}
    config = uvicorn.Config(create_app(settings), **options)  # the protocol and limits `firstline serve` runs
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="firstline-live", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_s
    try:
        while True:
            if not thread.is_alive():
                raise RuntimeError("the Firstline server stopped during start-up; see the log above")
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Firstline server was not ready within {startup_s:.0f} s")
            time.sleep(0.2)
        yield LiveService(base, settings, accounts, server)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
