"""Checking an OpenID Connect ID token, and who it says the person is.

:class:`IdTokenVerifier` accepts an ID token only when all of these hold (OpenID Connect Core 1.0,
section 3.1.3.7), and raises :class:`~firstline.service.sso.SsoError` naming the first that fails:

* the header's ``alg`` is RS256 or ES256 (and one the provider says it signs with): ``none`` and the
  HMAC algorithms are refused before any key is looked at, so a public key can never be used as an
  HMAC secret;
* the signature verifies with the provider's key of that ``kid`` (from its JWKS, read again once
  when the ``kid`` is unknown), and the key's type fits the algorithm;
* ``iss`` is the configured issuer exactly (for Google also its documented legacy form
  ``accounts.google.com``); ``aud`` is or contains ``sso.client_id``; when ``aud``
  names several audiences, ``azp`` is present, and when ``azp`` is present it is ``sso.client_id``;
* ``exp`` is in the future, ``iat`` and ``nbf`` (when present) not in the future, each with
  ``sso.clock_skew_s`` of tolerance (the clock is injectable, for tests);
* ``nonce`` equals the one this browser's sign-in started with; ``sub`` is present.

:func:`identity_of` then turns the claims into an :class:`SsoIdentity`:

* **E-mail**: the claim ``sso.email_claim`` (``email`` by default; ``preferred_username`` suits Entra ID
  UPNs). When the token has ``email_verified`` it must be true; a token without that claim (Entra ID
  never sends it) is accepted, so limit such providers with ``sso.allowed_domains``. ``verified`` on
  the identity records which case it was (an existing password account is only tied to an explicitly
  verified address, or to one in an allowed domain: see :mod:`firstline.service.routes.sso`).
* **Domain**: when ``sso.allowed_domains`` is set, the address's domain must be one of them; when
  ``sso.hosted_domain`` is set (Google Workspace), the token's ``hd`` claim must equal it.
* **Role**: from the groups claim (``sso.groups_claim``, a list or a single string): admin when any
  group is in ``sso.admin_groups``, agent when any is in ``sso.agent_groups``, else requester.
  Groups compare case-insensitively and a leading ``/`` is ignored (Keycloak's full group paths).
  An Entra ID "groups overage" (``_claim_names`` instead of the list) is logged and gives requester.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.exceptions import InvalidTokenError, PyJWKError

from firstline.accounts.store import Role
from firstline.channel_settings import SsoSettings
from firstline.service.sso import OidcClient, SsoError

__all__ = ["ALGORITHMS", "IdTokenVerifier", "SsoIdentity", "identity_of", "role_from_groups"]

log = logging.getLogger(__name__)

ALGORITHMS: dict[str, str] = {"RS256": "RSA", "ES256": "EC"}  # the signing algorithms accepted, and their key type


@dataclass(frozen=True, slots=True)
class SsoIdentity:
    """A person the identity provider vouched for, as Firstline will treat them."""

    subject: str  # "{issuer}|{sub}": the stable key of this person at this provider
    email: str
    name: str
    role: Role
    verified: bool  # the token said email_verified = true (not merely left it out)
    groups: tuple[str, ...]


class IdTokenVerifier:
    """Checks ID tokens against the provider's keys and this sign-in (see the module docstring)."""

    def __init__(self, client: OidcClient, clock: Callable[[], float] | None = None) -> None:
        self.client = client
        self.settings = client.settings
        self.clock = clock or client.clock

    def _key(self, kid: str | None, alg: str) -> Any:
        for refresh in (False, True):
            keys = self.client.signing_keys(refresh=refresh)
            usable = [
                k for k in keys
                if k.get("kty") == ALGORITHMS[alg] and k.get("use", "sig") == "sig" and k.get("alg", alg) == alg
            ]  # fmt: skip
            found = [k for k in usable if k.get("kid") == kid] if kid else (usable if len(usable) == 1 else [])
            if found:
                try:
                    return jwt.PyJWK(found[0], algorithm=alg).key
                except PyJWKError as exc:
                    raise SsoError("token_invalid", f"the provider's key {kid!r} cannot be read: {exc}") from exc
        raise SsoError("token_invalid", f"no {alg} signing key with kid {kid!r} in the provider's JWKS")

    def verify(self, token: str, nonce: str) -> dict[str, Any]:
        """The token's claims once every check has passed; :class:`SsoError` otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except InvalidTokenError as exc:
            raise SsoError("token_invalid", f"the ID token is not a JWT: {exc}") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise SsoError("token_invalid", f"the ID token is signed with {alg!r}; only RS256 and ES256 are accepted")
        offered = self.client.metadata().signing_algorithms
        if offered and alg not in offered:
            raise SsoError("token_invalid", f"the ID token uses {alg}, which the provider does not list")
        kid = header.get("kid")
        key = self._key(kid if isinstance(kid, str) else None, alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.settings.client_id,
                issuer=_issuers(self.client.issuer),
                options={
                    "require": ["iss", "sub", "aud", "exp", "iat"],
                    # The times are checked below against the injectable clock.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidAudienceError as exc:
            raise SsoError("token_invalid", f"the ID token is for another client (aud): {exc}") from exc
        except jwt.InvalidIssuerError as exc:
            raise SsoError("token_invalid", f"the ID token is from another issuer: {exc}") from exc
        except jwt.InvalidSignatureError as exc:
            raise SsoError("token_invalid", "the ID token's signature does not verify with the provider's key") from exc
        except InvalidTokenError as exc:
            raise SsoError("token_invalid", f"the ID token is malformed: {exc}") from exc
        self._check_times(claims)
        self._check_party(claims)
        presented = claims.get("nonce")
        if not isinstance(presented, str) or not hmac.compare_digest(presented.encode(), nonce.encode()):
            raise SsoError("token_invalid", "the ID token's nonce is not the one this sign-in started with (replay?)")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise SsoError("token_invalid", "the ID token has no subject (sub)")
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self.clock()
        skew = self.settings.clock_skew_s
        times = {name: claims.get(name) for name in ("exp", "iat", "nbf")}
        for name, value in times.items():
            if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
                raise SsoError("token_invalid", f"the ID token's {name} is not a number")
        exp, iat, nbf = times["exp"], times["iat"], times["nbf"]
        assert isinstance(exp, int | float) and isinstance(iat, int | float)
        if now > exp + skew:
            raise SsoError("token_expired", f"the ID token expired {now - exp:.0f} s ago (skew allowed {skew} s)")
        if iat > now + skew:
            raise SsoError("token_invalid", f"the ID token was issued {iat - now:.0f} s in the future")
        if nbf is not None and nbf > now + skew:
            raise SsoError("token_invalid", f"the ID token is not valid for another {nbf - now:.0f} s (nbf)")

    def _check_party(self, claims: dict[str, Any]) -> None:
        audience = claims.get("aud")
        azp = claims.get("azp")
        several = isinstance(audience, list) and len(audience) > 1
        if several and azp is None:
            raise SsoError("token_invalid", "the ID token names several audiences but no authorized party (azp)")
        if azp is not None and azp != self.settings.client_id:
            raise SsoError("token_invalid", f"the ID token was issued to {azp!r} (azp), not to this client")


def _issuers(issuer: str) -> list[str]:
    """The ``iss`` values accepted: the configured issuer, plus the scheme-less form Google documents as legacy."""
    if issuer == "https://accounts.google.com":
        return [issuer, "accounts.google.com"]
    return [issuer]


def _group_key(name: str) -> str:
    return name.strip().lstrip("/").casefold()


def role_from_groups(groups: tuple[str, ...], settings: SsoSettings) -> Role:
    """admin, agent or requester, from the person's groups and ``sso.admin_groups`` / ``sso.agent_groups``."""
    have = {_group_key(g) for g in groups}
    if have & {_group_key(g) for g in settings.admin_groups}:
        return "admin"
    if have & {_group_key(g) for g in settings.agent_groups}:
        return "agent"
    return "requester"


def _groups(claims: dict[str, Any], settings: SsoSettings) -> tuple[str, ...]:
    value = claims.get(settings.groups_claim)
    if value is None:
        names = claims.get("_claim_names")
        if isinstance(names, dict) and settings.groups_claim in names:
            log.warning(
                "sso groups overage: the provider left the groups out of the ID token (too many groups); "
                "limit the token to the groups assigned to the application (see docs/sso.md)",
                extra={"sub": claims.get("sub")},
            )
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, str | int))
    return ()


def identity_of(claims: dict[str, Any], settings: SsoSettings, issuer: str) -> SsoIdentity:
    """Who verified ``claims`` say the person is; :class:`SsoError` when the e-mail or its domain will not do."""
    raw = claims.get(settings.email_claim)
    if not isinstance(raw, str) or "@" not in raw.strip():
        raise SsoError("email_missing", f"the ID token has no e-mail address in the {settings.email_claim!r} claim")
    email = raw.strip().lower()
    local, _, domain = email.rpartition("@")
    if not local or not domain or any(c.isspace() for c in email) or len(email) > 254:
        raise SsoError("email_missing", f"the {settings.email_claim!r} claim {raw!r} is not an e-mail address")
    verified_claim = claims.get("email_verified")
    if verified_claim is not None and verified_claim is not True and verified_claim != "true":
        raise SsoError("email_unverified", f"email_verified is {verified_claim!r} for {email}")
    if settings.allowed_domains and domain not in settings.allowed_domains:
        raise SsoError("domain_not_allowed", f"{email}: the domain {domain} is not in sso.allowed_domains")
    hosted = settings.hosted_domain.strip().lower()
    if hosted and str(claims.get("hd", "")).lower() != hosted:
        raise SsoError("domain_not_allowed", f"{email}: the hd claim is {claims.get('hd')!r}, not {hosted!r}")
    groups = _groups(claims, settings)
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return SsoIdentity(
        subject=f"{issuer}|{claims['sub']}",
        email=email,
        name=name.strip()[:200] or email,
        role=role_from_groups(groups, settings),
        verified=verified_claim is True or verified_claim == "true",
        groups=groups,
    )
