"""``deploy/Caddyfile``: the TLS-terminating proxy of compose.yaml, checked by Caddy itself.

``caddy validate`` loads the file the way the proxy will (placeholders from the environment, every
module provisioned) and ``caddy adapt`` turns it into Caddy's JSON, which the tests read for what
Server-Sent Events need: no buffering (``flush_interval -1``), a read timeout far above the 15 s pings
of an idle ``/v1/events`` stream, forwarded scheme and client address, and an upstream that is the
compose service Firstline runs as, on the port it listens on. Caddy comes from Debian (``caddy``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from firstline.settings import ServiceSettings
from firstline.testing.live import cannot_start

SSE_PING_S = 15  # firstline.service.routes.events sends ": ping" this often on an idle stream


def _caddy(repo: Path, folder: Path, verb: str, env: dict[str, str], config: Path | None = None) -> Any:
    caddy = shutil.which("caddy")
    if caddy is None:
        cannot_start("caddy is not installed (Debian: apt-get install caddy)")
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder), "XDG_DATA_HOME": str(folder)}
    command = [caddy, verb, "--adapter", "caddyfile", "--config", str(config or repo / "deploy" / "Caddyfile")]
    return subprocess.run(command, capture_output=True, text=True, env={**clean, **env}, timeout=60, check=False)


@pytest.mark.parametrize("issuer", ["internal", "helpdesk-admins@corp.example"])
def test_caddy_accepts_the_file(repo: Path, tmp_path: Path, issuer: str) -> None:
    done = _caddy(repo, tmp_path, "validate", {"SITE_ADDRESS": "helpdesk.corp.example", "TLS_ISSUER": issuer})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Valid configuration" in done.stdout + done.stderr


def test_caddy_refuses_a_broken_file(repo: Path, tmp_path: Path) -> None:
    """The check above means something: Caddy refuses a directive it does not know."""
    broken = tmp_path / "Caddyfile"
    broken.write_text((repo / "deploy" / "Caddyfile").read_text().replace("flush_interval -1", "flush_everything"))
    assert _caddy(repo, tmp_path, "validate", {}, broken).returncode != 0


@pytest.fixture(scope="module")
def adapted(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("caddy")
    done = _caddy(repo, folder, "adapt", {"SITE_ADDRESS": "helpdesk.corp.example", "TLS_ISSUER": "ops@corp.example"})
    assert done.returncode == 0, done.stderr[-2000:]
    config: dict[str, Any] = json.loads(done.stdout)
    return config


def _handlers(node: Any) -> list[dict[str, Any]]:
    """Every handler in the adapted config, subroutes included."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "handler" in node:
            found.append(node)
        for value in node.values():
            found += _handlers(value)
    elif isinstance(node, list):
        for value in node:
            found += _handlers(value)
    return found


def test_the_proxy_suits_server_sent_events(adapted: dict[str, Any], repo: Path) -> None:
    [proxy] = [h for h in _handlers(adapted) if h["handler"] == "reverse_proxy"]
    assert proxy["flush_interval"] == -1
    assert proxy["transport"]["read_timeout"] >= 60 * SSE_PING_S * 1e9
    forwarded = proxy["headers"]["request"]["set"]
    assert forwarded["X-Forwarded-Proto"] == ["{http.request.scheme}"]
    # The upstream is the compose service, on the port Firstline listens on by default.
    compose = yaml.safe_load((repo / "compose.yaml").read_text())
    upstream = proxy["dynamic_upstreams"]
    assert upstream["source"] == "a"
    assert upstream["name"] == compose["services"]["proxy"]["environment"]["UPSTREAM_HOST"] == "firstline"
    assert int(upstream["port"]) == ServiceSettings().port
    # The largest upload Firstline takes gets through the proxy.
    [body] = [h for h in _handlers(adapted) if h["handler"] == "request_body"]
    assert body["max_size"] >= ServiceSettings().max_upload_bytes


def test_tls_is_terminated_for_the_site(adapted: dict[str, Any]) -> None:
    server = adapted["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [":443"]
    assert server["routes"][0]["match"][0]["host"] == ["helpdesk.corp.example"]
    [policy] = adapted["apps"]["tls"]["automation"]["policies"]
    assert policy["subjects"] == ["helpdesk.corp.example"]
    assert policy["issuers"][0] == {"email": "ops@corp.example", "module": "acme"}
