"""Security issue 11: sign-in guessing per account, trusted proxies only, header and body limits,
private data files, and a token for /metrics — through TestClient and through a real uvicorn server."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from firstline.errors import ConfigError
from firstline.runtime import Runtime, build_knowledge
from firstline.service.app import create_app
from firstline.service.proxies import ProxyHeaders
from firstline.service.server import uvicorn_options
from firstline.service.signins import SignInThrottle, account_key
from firstline.settings import Settings, load_settings
from firstline.testing.embedders import HashingEmbedder
from firstline.testing.live import free_port

RUBY = "ruby.chen@nwmeridian.co.uk"
BEN = "ben.carter@nwmeridian.co.uk"
PASSWORD = "correct horse battery staple"
WRONG = "wrong-password-1"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., tuple[FastAPI, Settings]]]:
    """The real app over a fresh data folder, without the lifespan (no models load): enough for sign-ins."""
    runtimes: list[Runtime] = []

    def make(**service: Any) -> tuple[FastAPI, Settings]:
        service = {"seed_demo_accounts": False, **service}
        settings = load_settings(data_dir=tmp_path / f"data{len(runtimes)}", service=service)
        runtime = Runtime(settings)
        runtimes.append(runtime)
        for email, name in ((RUBY, "Ruby Chen"), (BEN, "Ben Carter")):
            runtime.accounts.add(email, name, "requester", PASSWORD)
        app = create_app(settings)
        app.state.runtime = runtime
        return app, settings

    yield make
    for runtime in runtimes:
        runtime.close()


def _login(client: TestClient, email: str, password: str, forwarded_for: str | None = None) -> Any:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/v1/auth/login", json={"email": email, "password": password}, headers=headers)


# -- (a) sign-in guessing is limited per account ---------------------------------------------------


def test_waits_grow_after_the_allowed_failures_and_a_success_forgets_them() -> None:
    clock = FakeClock()
    throttle = SignInThrottle(allowed=3, delay_s=2, max_delay_s=10, window_s=60, clock=clock)
    assert [throttle.claim("a@x") for _ in range(3)] == [0, 0, 0]
    assert throttle.claim("a@x") == 2 and throttle.claim("b@x") == 0  # accounts are independent
    clock.now += 2
    assert throttle.claim("a@x") == 0 and throttle.wait("a@x") == 4  # the 4th failure: twice as long
    clock.now += 4
    assert throttle.claim("a@x") == 0 and throttle.wait("a@x") == 8
    clock.now += 8
    assert throttle.claim("a@x") == 0 and throttle.wait("a@x") == 10  # capped at max_delay_s
    throttle.succeeded("a@x")
    assert throttle.failures("a@x") == 0 and throttle.claim("a@x") == 0
    clock.now += 1000
    assert throttle.failures("b@x") == 0  # forgotten after the window


def test_an_attempt_that_got_no_answer_is_refunded() -> None:
    throttle = SignInThrottle(allowed=1, delay_s=30, clock=FakeClock())
    assert throttle.claim("a@x") == 0
    throttle.refund("a@x")
    assert throttle.failures("a@x") == 0 and throttle.claim("a@x") == 0


def test_the_account_key_is_the_normalised_address() -> None:
    assert account_key("  Ruby.Chen@NWMeridian.co.uk ") == account_key(RUBY)
    assert account_key("ｒｕｂｙ.chen@nwmeridian.co.uk") == account_key(RUBY)  # full-width letters (NFKC)


def test_guessing_one_accounts_password_from_many_addresses_is_stopped(make_app: Callable[..., Any]) -> None:
    app, _ = make_app(login_failures_allowed=5, login_delay_s=60, login_rate_limit_per_minute=1000)
    client = TestClient(app)
    plain = {"error": "Unauthenticated", "detail": "Wrong e-mail address or password."}
    for n in range(4):  # a new address each time, and the address in another case: the same account
        response = _login(client, RUBY.upper() if n % 2 else RUBY, WRONG, forwarded_for=f"198.51.100.{n}")
        assert response.status_code == 401 and response.json() == plain
    fifth = _login(client, RUBY, WRONG, forwarded_for="198.51.100.77")
    assert fifth.status_code == 401 and fifth.headers["retry-after"] == "60"
    assert "Too many failed sign-ins for this account: the next attempt must wait 60 s." in fifth.json()["detail"]
    refused = _login(client, RUBY, PASSWORD, forwarded_for="203.0.113.9")  # the right password, during the wait
    assert refused.status_code == 429 and "firstline_session" not in refused.cookies
    assert refused.headers["retry-after"] == "60"
    assert refused.json() == {
        "error": "RateLimited",
        "detail": "Too many failed sign-ins for this account, try again in 60 s.",
    }
    assert _login(client, BEN, PASSWORD).status_code == 200  # someone else's account is not affected
    assert 'firstline_logins_total{outcome="throttled"} 1.0' in client.get("/metrics").text


def test_after_the_wait_the_right_password_signs_in_and_resets_the_count(make_app: Callable[..., Any]) -> None:
    app, _ = make_app(login_rate_limit_per_minute=1000)
    clock = FakeClock()
    app.state.signins = SignInThrottle(allowed=2, delay_s=5, clock=clock)
    client = TestClient(app)
    assert [_login(client, RUBY, WRONG).status_code for _ in range(3)] == [401, 401, 429]
    clock.now += 5
    assert _login(client, RUBY, PASSWORD).status_code == 200
    assert [_login(client, RUBY, WRONG).status_code for _ in range(2)] == [401, 401]  # counting from zero again


def test_the_per_ip_sign_in_limit_still_applies(make_app: Callable[..., Any]) -> None:
    app, _ = make_app(login_rate_limit_per_minute=2)
    client = TestClient(app)
    assert [_login(client, f"nobody{n}@example.org", WRONG).status_code for n in range(3)] == [401, 401, 429]


# -- (b) X-Forwarded-For / -Proto from trusted proxies only ----------------------------------------


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    body = f"{scope['client'][0]} {scope['scheme']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize(
    ("peer", "headers", "seen"),
    [
        ("10.0.0.9", {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"}, "203.0.113.5 https"),
        ("10.0.0.9", {"X-Forwarded-For": "6.6.6.6, 203.0.113.5"}, "203.0.113.5 http"),  # the client's own entry
        ("10.0.0.9", {"X-Forwarded-For": "203.0.113.5, 10.0.0.7"}, "203.0.113.5 http"),  # two trusted hops
        ("::ffff:10.0.0.9", {"X-Forwarded-For": "2001:db8::1"}, "2001:db8::1 http"),
        ("10.0.0.9", {"X-Forwarded-For": "not-an-address"}, "10.0.0.9 http"),
        ("198.51.100.1", {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"}, "198.51.100.1 http"),
    ],
    ids=["trusted", "spoofed-left-entry", "two-proxies", "mapped-ipv6-peer", "malformed", "untrusted-peer"],
)
def test_forwarding_headers_count_only_from_trusted_proxies(peer: str, headers: dict[str, str], seen: str) -> None:
    client = TestClient(ProxyHeaders(_echo, trusted=["10.0.0.0/24"]), client=(peer, 40000))
    assert client.get("/", headers=headers).text == seen


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert load_settings(service={"trusted_proxies": [" 10.0.0.5", "10.1.2.3/16"]}).service.trusted_proxies == [
        "10.0.0.5/32",
        "10.1.0.0/16",
    ]
    with pytest.raises(ConfigError, match="trusted_proxies"):
        load_settings(service={"trusted_proxies": ["proxy.internal"]})


@contextmanager
def real_server(app: FastAPI, settings: Settings) -> Iterator[tuple[str, int]]:
    """``app`` under uvicorn with the options ``firstline serve`` uses, on a free 127.0.0.1 port."""
    port = free_port()
    options = {**uvicorn_options(settings, host="127.0.0.1", port=port), "lifespan": "off"}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, name="hardening-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped during start-up"
        assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.mark.live
def test_a_rotating_forwarded_for_does_not_escape_the_ip_limit_under_uvicorn(make_app: Callable[..., Any]) -> None:
    app, settings = make_app(ip_rate_limit_per_minute=3)
    with real_server(app, settings) as (base, _):
        codes = [httpx.get(f"{base}/v1/me", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
                 for n in range(4)]  # fmt: skip
    assert codes == [401, 401, 401, 429]


@pytest.mark.live
def test_a_trusted_proxys_forwarded_for_is_honoured_under_uvicorn(make_app: Callable[..., Any]) -> None:
    app, settings = make_app(ip_rate_limit_per_minute=3, trusted_proxies=["127.0.0.1"])
    with real_server(app, settings) as (base, _):
        rotating = [httpx.get(f"{base}/v1/me", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
                    for n in range(4)]  # fmt: skip
        same = [httpx.get(f"{base}/v1/me", headers={"X-Forwarded-For": "203.0.113.7"}).status_code for _ in range(4)]
    assert rotating == [401, 401, 401, 401] and same == [401, 401, 401, 429]


# -- (c) request headers are bounded ---------------------------------------------------------------


def test_headers_over_the_limit_get_431_before_authentication(make_app: Callable[..., Any]) -> None:
    app, _ = make_app(max_header_bytes=4096)
    client = TestClient(app)
    assert client.get("/v1/me", headers={"X-Fill": "a" * 3000}).status_code == 401
    refused = client.get("/v1/me", headers={"X-Fill": "a" * 2000, "X-More": "b" * 2100})
    assert refused.status_code == 431 and refused.json()["error"] == "HeadersTooLarge"
    assert "limit of 4,096" in refused.json()["detail"]


def _send_huge_head(port: int, mib: int = 64) -> tuple[int, bytes, float]:
    """Send a request head with ``mib`` MiB of header; (bytes the server took, its first reply bytes, seconds)."""
    started = time.monotonic()
    line = b"X-Fill: " + b"a" * (1 << 20) + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(b"GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for _ in range(mib):
                sock.sendall(line)
                sent += len(line)
            sock.sendall(b"\r\n")
        except OSError:  # the server closed the connection: what we were still sending is refused
            pass
        try:
            reply = sock.recv(64)
        except OSError:
            reply = b""
    return sent, reply, time.monotonic() - started


@pytest.mark.live
def test_a_64_mib_header_is_refused_without_being_buffered_under_uvicorn(make_app: Callable[..., Any]) -> None:
    app, settings = make_app()
    with real_server(app, settings) as (base, port):
        sent, reply, seconds = _send_huge_head(port)
        between = httpx.get(f"{base}/v1/me", headers={"X-Fill": "a" * 20_000})  # over 16 KiB, under h11's cap
    # uvicorn's default parser (httptools) took all 64 MiB and passed it on; h11 stops at the cap and closes.
    assert sent < 32 << 20, f"the server read {sent:,} bytes of headers"
    assert reply == b"" or reply.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431")), reply
    assert seconds < 10
    assert between.status_code == 431 and between.json()["error"] == "HeadersTooLarge"


@pytest.mark.live
def test_the_head_cap_counts_heads_only_on_a_kept_alive_connection(make_app: Callable[..., Any]) -> None:
    """The cap is on each request's head: bodies larger than it, pipelined requests and a head sent a few bytes
    at a time are served; a head over it is refused with 431 even when it trickles in."""
    app, settings = make_app(max_header_bytes=4096)  # cap: 4 KiB + 8 KiB for the request line
    with real_server(app, settings) as (base, port):
        with httpx.Client(base_url=base) as client:  # one connection, kept alive
            body = {"email": RUBY, "password": "p" * 30_000}  # 30 KB body, over the head cap
            codes = [client.get("/v1/me").status_code, client.post("/v1/auth/login", json=body).status_code,
                     client.get("/v1/me", headers={"X-Fill": "a" * 3000}).status_code]  # fmt: skip
        assert codes[0] == codes[2] == 401 and codes[1] in (401, 422)  # the app's answers, not the cap's 431
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            one = b"GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fill: " + b"a" * 3000 + b"\r\n\r\n"
            sock.sendall(one * 6)  # six pipelined heads in one write: 18 KB, each under the cap
            replies = b""
            while replies.count(b"HTTP/1.1 401") < 6:
                chunk = sock.recv(65536)
                assert chunk, replies
                replies += chunk
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            head = b"GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fill: " + b"a" * 20_000 + b"\r\n\r\n"
            refused = b""
            try:
                for at in range(0, len(head), 500):  # trickled in 500-byte pieces
                    sock.sendall(head[at : at + 500])
                    time.sleep(0.002)
            except OSError:
                pass
            with suppress(OSError):
                refused = sock.recv(64)
        assert refused.startswith(b"HTTP/1.1 431"), refused


# -- (d) bodies over the limit get 413, with Content-Length or chunked ----------------------------


def _chunks(total: int, size: int = 1024) -> Iterator[bytes]:
    yield b'{"email": "ruby.chen@nwmeridian.co.uk", "password": "'
    for _ in range(total // size):
        yield b"p" * size
    yield b'"}'


def test_a_chunked_body_over_the_limit_gets_413_not_422(make_app: Callable[..., Any]) -> None:
    app, _ = make_app(max_body_bytes=4096)
    client = TestClient(app)
    json_header = {"Content-Type": "application/json"}
    declared = client.post("/v1/auth/login", content=b"".join(_chunks(8192)), headers=json_header)
    streamed = client.post("/v1/auth/login", content=_chunks(8192), headers=json_header)
    assert declared.status_code == 413 and declared.json()["error"] == "TooLarge"
    assert streamed.status_code == 413 and streamed.json()["error"] == "TooLarge", streamed.text
    small = client.post("/v1/auth/login", content=_chunks(1024), headers=json_header)
    assert small.status_code == 401  # under the limit, streamed bodies still reach the route


@pytest.mark.live
def test_a_chunked_body_over_the_limit_gets_413_under_uvicorn(make_app: Callable[..., Any]) -> None:
    app, settings = make_app(max_body_bytes=4096)
    json_header = {"Content-Type": "application/json"}
    with real_server(app, settings) as (base, _):
        streamed = httpx.post(f"{base}/v1/auth/login", content=_chunks(8192), headers=json_header)
        declared = httpx.post(f"{base}/v1/auth/login", content=b"".join(_chunks(8192)), headers=json_header)
    assert streamed.status_code == 413 and streamed.json()["error"] == "TooLarge"
    assert declared.status_code == 413


# -- (e) data files 0600, folders 0700 -------------------------------------------------------------


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(root: Path) -> dict[str, str]:
    found = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def test_data_files_are_0600_and_folders_0700(tmp_path: Path) -> None:
    data = tmp_path / "var" / "firstline"
    settings = load_settings(data_dir=data, directory={"seed_demo_org": False})
    with umask(0o022), Runtime(settings) as runtime:
        runtime.accounts.add(RUBY, "Ruby Chen", "requester", PASSWORD)  # a write: -wal and -shm exist
        assert runtime.directory is not None
        knowledge = build_knowledge(settings, HashingEmbedder())  # the catalog and the embedded Chroma store
        try:
            modes = _modes(tmp_path / "var")
        finally:
            knowledge.close()
    assert {"firstline/tickets.db-wal", "firstline/tickets.db-shm", "firstline/directory.db"} <= set(modes)
    assert {"firstline/index/chroma", "firstline/index/catalog.sqlite3"} <= set(modes)
    wrong = {
        name: mode
        for name, mode in modes.items()
        if mode != ("0o700" if (tmp_path / "var" / name).is_dir() else "0o600")
    }
    assert wrong == {}


def test_an_existing_database_readable_by_others_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    with umask(0o022):
        sqlite3.connect(data / "tickets.db").close()
        (data / "tickets.db-wal").write_bytes(b"")
    assert stat.S_IMODE((data / "tickets.db").stat().st_mode) == 0o644
    with Runtime(load_settings(data_dir=data)) as runtime:
        runtime.accounts.count()
        assert stat.S_IMODE((data / "tickets.db").stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "tickets.db-wal").stat().st_mode) == 0o600


# -- (f) /metrics behind a bearer token ------------------------------------------------------------


def test_metrics_need_the_token_when_one_is_set(make_app: Callable[..., Any]) -> None:
    app, _ = make_app(metrics_token="scrape-me-please")
    client = TestClient(app)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-me-please"}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401 and refused.json()["error"] == "Unauthenticated"
        assert refused.headers["www-authenticate"].startswith("Bearer")
    allowed = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
    assert allowed.status_code == 200 and "firstline_http_requests_total" in allowed.text


def test_metrics_are_open_without_a_token(make_app: Callable[..., Any]) -> None:
    app, _ = make_app()
    assert TestClient(app).get("/metrics").status_code == 200
