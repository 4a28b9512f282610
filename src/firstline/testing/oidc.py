"""A real OpenID Connect provider for tests: oidc-provider-mock (Flask + Authlib) in its own process on 127.0.0.1.

It signs real ID tokens with its own keys, serves discovery and JWKS, shows a sign-in form a browser can
fill, and takes users and their claims over ``PUT /users/{sub}``. Its own process, not a thread: its
libraries warn about their own deprecations, and the test session turns every warning into an error.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from firstline.testing.live import cannot_start, free_port

__all__ = ["CALLBACK", "OidcProvider"]

CALLBACK = "http://testserver/v1/auth/sso/callback"  # TestClient's base URL


class OidcProvider:
    """oidc-provider-mock in its own process on a 127.0.0.1 port; can be stopped and started (provider down).

    Its own process, not a thread here: the provider's libraries warn about their own deprecations, and
    this test session turns every warning into an error.
    """

    def __init__(self, log: Path, callback: str = CALLBACK) -> None:
        if importlib.util.find_spec("oidc_provider_mock") is None:
            cannot_start("oidc-provider-mock is not installed (pip install oidc-provider-mock)")
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.callback = callback
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> OidcProvider:
        command = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(self.port),
                   "--require-nonce"]  # fmt: skip
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                cannot_start(f"oidc-provider-mock did not start on {self.issuer}; see {self.log}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)

    def user(self, sub: str, **claims: Any) -> str:
        httpx.put(f"{self.issuer}/users/{sub}", json=claims).raise_for_status()
        return sub

    def register(self, method: str = "client_secret_basic") -> tuple[str, str]:
        """A client the provider knows: its secret and redirect URI are checked for real."""
        answer = httpx.post(f"{self.issuer}/oauth2/clients",
                            json={"redirect_uris": [self.callback], "token_endpoint_auth_method": method})  # fmt: skip
        answer.raise_for_status()
        return answer.json()["client_id"], answer.json()["client_secret"]

    def id_token(self, client_id: str, sub: str, nonce: str, host: str | None = None) -> str:
        """An ID token the provider issues to ``client_id`` (any unregistered id is accepted) for ``sub``."""
        headers = {"Host": host} if host else {}
        query = {"response_type": "code", "client_id": client_id, "redirect_uri": self.callback,
                 "scope": "openid email profile", "state": "x", "nonce": nonce}  # fmt: skip
        answer = httpx.post(f"{self.issuer}/oauth2/authorize?{urlencode(query)}", data={"sub": sub}, headers=headers)
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.callback}
        tokens = httpx.post(f"{self.issuer}/oauth2/token", auth=(client_id, "any"), headers=headers, data=form)
        return str(tokens.json()["id_token"])
