"""Single sign-on: an OpenID Connect relying party for any standard provider (Entra ID, Okta, Google, Keycloak).

The browser flow, as :mod:`firstline.service.routes.sso` drives it::

    client = OidcClient(settings.sso)
    url, flow = client.begin(redirect_uri, next_path="/console")   # state, nonce, PKCE verifier
    cookie = seal_flow(flow, key)                                   # HttpOnly, ~10 minutes
    # ... the browser goes to `url`, the person signs in, the provider sends it back with ?code&state
    flow = open_flow(cookie, key, state)                            # same browser, same sign-in
    tokens = client.exchange(code, flow.verifier, redirect_uri)
    claims = IdTokenVerifier(client).verify(tokens["id_token"], flow.nonce)   # see sso_tokens.py

* **Discovery**: ``{issuer}/.well-known/openid-configuration`` is read once and kept for
  ``sso.discovery_ttl_s``; its ``issuer`` must equal the configured one exactly (so a multi-tenant
  "common" endpoint, whose issuer is a template, is refused). The signing keys (``jwks_uri``) are
  kept as long, and read again at once when a token names a key id we do not have (key rotation),
  at most once a minute. An unreachable provider is a :class:`ProviderUnavailableError` that names it.
* **Authorization code flow with PKCE** (S256): ``state`` ties the callback to this browser,
  ``nonce`` ties the ID token to this sign-in, the ``code_verifier`` ties the code to this client.
  The three travel in a :class:`Flow` sealed (HMAC-SHA256 with a key derived from the deployment's
  secret) into a short-lived HttpOnly cookie: nothing is kept on the server between the two
  requests, so any process of a deployment can take the callback.
* **Token exchange** over httpx with ``client_secret_basic`` or ``client_secret_post`` (the setting
  ``sso.token_endpoint_auth``, or the first the provider lists; basic when it lists none, as the
  discovery spec says), or no secret at all for a public client.
* **The ID token** is checked by :class:`firstline.service.sso_tokens.IdTokenVerifier` (signature
  against the provider's keys, RS256/ES256 only, iss, aud, azp, times, nonce) and turned into an
  :class:`~firstline.service.sso_tokens.SsoIdentity` (verified e-mail, allowed domain, role from groups).

Every refusal is an :class:`SsoError` with a short ``code`` (what the sign-in page shows, see
:data:`MESSAGES`) and a ``reason`` for the log; nothing from the provider reaches the person unfiltered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from firstline.channel_settings import SsoSettings
from firstline.errors import AuthenticationError

__all__ = [
    "MESSAGES",
    "Flow",
    "OidcClient",
    "ProviderMetadata",
    "ProviderUnavailableError",
    "SsoError",
    "open_flow",
    "seal_flow",
]

log = logging.getLogger(__name__)

# What the sign-in page says for each refusal (the log has the details). ``{provider}`` is sso.display_name.
MESSAGES: dict[str, str] = {
    "not_enabled": "Single sign-on is not turned on for this help desk: sign in with your e-mail and password.",
    "provider_unreachable": "The company sign-in ({provider}) cannot be reached right now. Try again in a few "
    "minutes; if it keeps failing, tell IT.",
    "provider_refused": "The sign-in at {provider} was cancelled or refused, so you are not signed in. Try again.",
    "flow_expired": "This sign-in attempt expired or was started in another browser tab or window. Start again.",
    "token_invalid": "The company sign-in answered with a token Firstline cannot trust, so you are not signed in. "
    "Tell IT: the reason is in the help desk's log.",
    "token_expired": "The company sign-in answered with a token that had already expired. Check that this "
    "computer's clock is right, then try again.",
    "email_missing": "Your company account did not share an e-mail address with Firstline. Tell IT: the app "
    "registration must release the e-mail claim.",
    "email_unverified": "Your company account's e-mail address is not verified, so Firstline cannot tell who you "
    "are. Verify it at {provider}, or tell IT.",
    "domain_not_allowed": "Accounts with that e-mail domain may not sign in to this help desk.",
    "account_conflict": "This e-mail address already belongs to a Firstline account tied to a different company "
    "sign-in. Ask IT to check your account.",
    "account_disabled": "Your Firstline account is disabled. Ask IT to enable it.",
    "password_sign_in_off": "Sign in with {provider}: password sign-in is turned off here.",
    "unexpected": "Something broke on our side while signing you in. Try again; if it keeps failing, tell IT.",
}


class SsoError(AuthenticationError):
    """A sign-in through the identity provider was refused: ``code`` for the page, ``reason`` for the log."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(MESSAGES.get(code, MESSAGES["token_invalid"]).replace("{provider}", "the company sign-in"))
        self.code = code if code in MESSAGES else "token_invalid"
        self.reason = reason


class ProviderUnavailableError(SsoError):
    """The provider (discovery, keys or token endpoint) could not be reached or answered nonsense."""

    def __init__(self, reason: str) -> None:
        super().__init__("provider_unreachable", reason)


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What discovery told us about the provider (OpenID Connect Discovery 1.0, section 3)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    token_auth_methods: tuple[str, ...]
    signing_algorithms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Flow:
    """One sign-in in progress: kept (sealed) in the browser between the redirect and the callback."""

    state: str
    nonce: str
    verifier: str
    next_path: str
    started: float

    def as_dict(self) -> dict[str, Any]:
        return {"s": self.state, "n": self.nonce, "v": self.verifier, "p": self.next_path, "t": self.started}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Flow:
        return cls(str(data["s"]), str(data["n"]), str(data["v"]), str(data["p"]), float(data["t"]))


FLOW_TTL_S = 600  # a sign-in must come back from the provider within 10 minutes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal_flow(flow: Flow, key: bytes) -> str:
    """``flow`` as a cookie value: base64url JSON and its HMAC, so the browser carries it but cannot change it."""
    body = _b64(json.dumps(flow.as_dict(), separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def open_flow(value: str | None, key: bytes, state: str | None, now: float | None = None) -> Flow:
    """The :class:`Flow` sealed in ``value`` when it is ours, fresh and its ``state`` is the callback's."""
    if not value or "." not in value:
        raise SsoError("flow_expired", "the callback came without the sign-in cookie (other browser, or expired)")
    body, _, signature = value.partition(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise SsoError("flow_expired", "the sign-in cookie's seal does not verify")
    try:
        flow = Flow.from_dict(json.loads(_unb64(body)))
    except (ValueError, KeyError, TypeError) as exc:
        raise SsoError("flow_expired", f"the sign-in cookie cannot be read: {exc!r}") from exc
    age = (time.time() if now is None else now) - flow.started
    if not 0 <= age <= FLOW_TTL_S:
        raise SsoError("flow_expired", f"the sign-in started {age:.0f} s ago (at most {FLOW_TTL_S} s)")
    if not state or not hmac.compare_digest(state.encode(), flow.state.encode()):
        raise SsoError("flow_expired", "the callback's state is not the one this browser's sign-in started with")
    return flow


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcClient:
    """The relying party: discovery and keys (cached), the authorization URL, the code exchange."""

    def __init__(
        self,
        settings: SsoSettings,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.issuer = settings.issuer.strip().rstrip("/")
        self._http = http
        self.clock = clock
        self._lock = threading.Lock()
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._keys: tuple[float, list[dict[str, Any]]] | None = None
        self._keys_refreshed = 0.0

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request to the provider (a client per request unless one was given: they are few, and cached)."""
        if self._http is not None:
            return self._http.request(method, url, **kwargs)
        with httpx.Client(timeout=self.settings.timeout_s, follow_redirects=False) as http:
            return http.request(method, url, **kwargs)

    # -- discovery and keys -----------------------------------------------------------------------

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = self._send("GET", url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(f"{what} at {url} cannot be reached: {exc!r}") from exc
        if response.status_code != 200:
            raise ProviderUnavailableError(f"{what} at {url} answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise ProviderUnavailableError(f"{what} at {url} did not answer JSON") from exc
        if not isinstance(data, dict):
            raise ProviderUnavailableError(f"{what} at {url} did not answer a JSON object")
        return data

    def metadata(self) -> ProviderMetadata:
        """The provider's discovery document, read at most once per ``sso.discovery_ttl_s``."""
        now = self.clock()
        with self._lock:
            if self._metadata is not None and now - self._metadata[0] < self.settings.discovery_ttl_s:
                return self._metadata[1]
        url = f"{self.issuer}/.well-known/openid-configuration"
        data = self._get_json(url, "the provider's discovery document")
        if data.get("issuer") != self.issuer:
            raise SsoError(
                "token_invalid",
                f"discovery at {url} names the issuer {data.get('issuer')!r}, not the configured {self.issuer!r}: "
                "set sso.issuer to exactly the provider's issuer (a tenant-specific one, not 'common')",
            )
        missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not data.get(k)]
        if missing:
            raise ProviderUnavailableError(f"discovery at {url} lacks {', '.join(missing)}")
        metadata = ProviderMetadata(
            issuer=self.issuer,
            authorization_endpoint=str(data["authorization_endpoint"]),
            token_endpoint=str(data["token_endpoint"]),
            jwks_uri=str(data["jwks_uri"]),
            end_session_endpoint=str(data["end_session_endpoint"]) if data.get("end_session_endpoint") else None,
            token_auth_methods=tuple(str(m) for m in data.get("token_endpoint_auth_methods_supported") or ()),
            signing_algorithms=tuple(str(a) for a in data.get("id_token_signing_alg_values_supported") or ()),
        )
        with self._lock:
            self._metadata = (now, metadata)
        return metadata

    def signing_keys(self, refresh: bool = False) -> list[dict[str, Any]]:
        """The provider's public keys (JWKS); ``refresh`` reads them again unless that happened in the last minute."""
        now = self.clock()
        with self._lock:
            cached = self._keys
            fresh = cached is not None and now - cached[0] < self.settings.discovery_ttl_s
            if cached is not None and fresh and not (refresh and now - self._keys_refreshed >= 60):
                return cached[1]
        data = self._get_json(self.metadata().jwks_uri, "the provider's signing keys")
        keys = data.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
            raise ProviderUnavailableError("the provider's signing keys (JWKS) have no 'keys' list")
        with self._lock:
            self._keys = (now, keys)
            self._keys_refreshed = now
        return keys

    # -- the flow ---------------------------------------------------------------------------------

    def begin(self, redirect_uri: str, next_path: str) -> tuple[str, Flow]:
        """The provider's authorization URL for a new sign-in, and the :class:`Flow` to keep until the callback."""
        metadata = self.metadata()
        flow = Flow(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),  # 64 characters, within RFC 7636's 43-128
            next_path=next_path,
            started=self.clock(),
        )
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.settings.scopes),
            "state": flow.state,
            "nonce": flow.nonce,
            "code_challenge": _challenge(flow.verifier),
            "code_challenge_method": "S256",
        }
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return f"{metadata.authorization_endpoint}{separator}{urlencode(query)}", flow

    def token_auth_method(self) -> str:
        """How the client authenticates at the token endpoint (see the module docstring)."""
        if self.settings.client_secret is None:
            return "none"
        if self.settings.token_endpoint_auth != "auto":
            return self.settings.token_endpoint_auth
        for method in self.metadata().token_auth_methods or ("client_secret_basic",):
            if method in ("client_secret_basic", "client_secret_post"):
                return method
        return "client_secret_basic"

    def exchange(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        """Trade the authorization code for tokens; the answer must carry an ``id_token``."""
        metadata = self.metadata()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier}  # fmt: skip
        headers = {"Accept": "application/json"}
        method = self.token_auth_method()
        secret = self.settings.client_secret.get_secret_value() if self.settings.client_secret else ""
        if method == "client_secret_basic":
            # RFC 6749 section 2.3.1: both parts form-encoded before the Basic encoding.
            pair = f"{urlencode({'': self.settings.client_id})[1:]}:{urlencode({'': secret})[1:]}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        else:
            form["client_id"] = self.settings.client_id
            if method == "client_secret_post":
                form["client_secret"] = secret
        try:
            response = self._send("POST", metadata.token_endpoint, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(f"the token endpoint {metadata.token_endpoint} cannot be reached: "
                                           f"{exc!r}") from exc  # fmt: skip
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200 or not isinstance(data, dict):
            error = data.get("error") if isinstance(data, dict) else None
            if response.status_code >= 500 or error is None:
                raise ProviderUnavailableError(f"the token endpoint answered HTTP {response.status_code}")
            raise SsoError("provider_refused", f"the token endpoint refused the code: {error!r} "
                                               f"({data.get('error_description', '')!r})")  # fmt: skip
        if not isinstance(data.get("id_token"), str):
            raise SsoError("token_invalid", "the token endpoint's answer has no id_token (is 'openid' in sso.scopes?)")
        return data
