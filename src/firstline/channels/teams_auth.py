"""Who may call ``/api/messages``, and how the bot proves itself when it writes back.

**Inbound** (:class:`BotAuthenticator`): every request from the Bot Connector carries
``Authorization: Bearer <JWT>``. The token is accepted only when all of these hold (Microsoft's
"Authenticate requests from the Bot Connector service to your bot"):

* it is signed with RS256 by a key published at the ``jwks_uri`` of the OpenID metadata document
  (``openid_metadata_url``); keys are cached and fetched again when a token names a ``kid`` we do not
  hold (at most once per ``refresh_every_s``, so random ``kid`` values cannot make us hammer the
  metadata server), and every ``keys_max_age_s`` anyway;
* ``iss`` is the configured issuer and ``aud`` is the bot's App ID;
* ``exp`` has not passed and ``nbf`` has come, with five minutes' tolerance for clock skew;
* the signing key's ``endorsements`` include the activity's ``channelId`` (when it has one);
* the token's ``serviceUrl`` claim equals the activity's ``serviceUrl``: the bot later sends its own
  token to that URL, so a token minted for one service URL cannot point the bot at another.

Any failure raises :class:`TokenRejected` (the route answers 401 and runs nothing); keys that
cannot be fetched raise :class:`KeysUnavailable` (503: we could not check, the caller is not wrong).

**Outbound** (:class:`BotTokens`): the bot's own access token for the Connector API, from
``token_url`` with the client-credentials grant (App ID and password, scope
``https://api.botframework.com/.default``), cached until shortly before it expires.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

__all__ = ["CONNECTOR_SCOPE", "BotAuthenticator", "BotTokens", "KeysUnavailable", "TokenRejected"]

CONNECTOR_SCOPE = "https://api.botframework.com/.default"
CLOCK_SKEW_S = 300  # five minutes either side, as the Bot Framework asks


class TokenRejected(Exception):
    """The request's bearer token is missing, malformed, or fails one of the checks."""


class KeysUnavailable(Exception):
    """The OpenID metadata or its keys could not be fetched: the token cannot be checked now."""


@dataclass(frozen=True, slots=True)
class _Key:
    public: Any  # an RSA public key object from cryptography
    endorsements: frozenset[str]


class BotAuthenticator:
    """Checks the Bot Connector's JWTs against the keys named by the OpenID metadata document."""

    def __init__(
        self,
        metadata_url: str,
        issuer: str,
        app_id: str,
        *,
        http: httpx.Client | None = None,
        refresh_every_s: float = 60.0,
        keys_max_age_s: float = 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metadata_url = metadata_url
        self.issuer = issuer
        self.app_id = app_id
        self.refresh_every_s = refresh_every_s
        self.keys_max_age_s = keys_max_age_s
        self._http = http or httpx.Client(timeout=10.0)
        self._clock = clock
        self._keys: dict[str, _Key] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def verify(self, authorization: str | None, activity: dict[str, Any]) -> dict[str, Any]:
        """The token's claims when ``authorization`` may deliver ``activity``; :class:`TokenRejected` if not."""
        token = _bearer(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"the bearer token is not a JWT ({exc})") from None
        if header.get("alg") != "RS256":
            raise TokenRejected(f"the token is signed with {header.get('alg')!r}; only RS256 is accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("the token names no signing key (kid)")
        key = self._key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public,
                algorithms=["RS256"],
                audience=self.app_id,
                issuer=self.issuer,
                leeway=CLOCK_SKEW_S,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"the token is not valid: {exc}") from None
        channel = activity.get("channelId")
        if channel and channel not in key.endorsements:
            raise TokenRejected(f"the signing key is not endorsed for channel {channel!r}")
        service_url = activity.get("serviceUrl")
        if not isinstance(service_url, str) or not service_url or claims.get("serviceUrl") != service_url:
            raise TokenRejected("the token's serviceUrl claim does not match the activity's serviceUrl")
        return claims

    # -- keys ---------------------------------------------------------------------------------------

    def _key(self, kid: str) -> _Key:
        with self._lock:
            now = self._clock()
            stale = now - self._fetched_at > self.keys_max_age_s
            unknown = kid not in self._keys and now - self._fetched_at >= self.refresh_every_s
            if stale or unknown:
                self._keys = self._fetch()
                self._fetched_at = now
            key = self._keys.get(kid)
        if key is None:
            raise TokenRejected(f"the token's signing key {kid!r} is not among the published keys")
        return key

    def _fetch(self) -> dict[str, _Key]:
        try:
            metadata = self._get_json(self.metadata_url)
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri:
                raise KeysUnavailable(f"the OpenID metadata at {self.metadata_url} has no jwks_uri")
            document = self._get_json(jwks_uri)
        except httpx.HTTPError as exc:
            raise KeysUnavailable(f"the Bot Framework signing keys could not be fetched: {exc}") from None
        keys: dict[str, _Key] = {}
        for entry in document.get("keys") or []:
            if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not entry.get("kid"):
                continue
            try:
                public = RSAAlgorithm.from_jwk(json.dumps(entry))
            except (jwt.PyJWTError, ValueError, KeyError):
                continue  # a key we cannot read signs nothing we accept
            endorsements = frozenset(str(e) for e in entry.get("endorsements") or [])
            keys[str(entry["kid"])] = _Key(public, endorsements)
        return keys

    def close(self) -> None:
        self._http.close()

    def _get_json(self, url: str) -> dict[str, Any]:
        response = self._http.get(url)
        response.raise_for_status()
        try:
            body = response.json()
        except ValueError:
            raise KeysUnavailable(f"{url} did not answer JSON") from None
        if not isinstance(body, dict):
            raise KeysUnavailable(f"{url} did not answer a JSON object")
        return body


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise TokenRejected("the request has no Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRejected("the Authorization header is not 'Bearer <token>'")
    return token.strip()


class BotTokens:
    """The bot's access token for the Connector API (client credentials), reused until near expiry."""

    def __init__(
        self,
        token_url: str,
        app_id: str,
        app_password: str,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.app_id = app_id
        self._password = app_password
        self._http = http or httpx.Client(timeout=10.0)
        self._clock = clock
        self._token: str | None = None
        self._until = 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            if self._token is not None and self._clock() < self._until:
                return self._token
            response = self._http.post(
                self.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.app_id,
                    "client_secret": self._password,
                    "scope": CONNECTOR_SCOPE,
                },
            )
            response.raise_for_status()
            body = response.json()
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise httpx.HTTPError(f"{self.token_url} answered no access_token")
            lifetime = float(body.get("expires_in") or 3600)
            self._token, self._until = token, self._clock() + max(lifetime - 60.0, lifetime / 2)
            return token

    def close(self) -> None:
        self._http.close()

    def forget(self) -> None:
        """Drop the cached token (the Connector refused it): the next call gets a new one."""
        with self._lock:
            self._token = None
