"""How Okta's users, factors, groups, admin roles and System Log events become Firstline records.

Pure functions over the JSON the Okta Management API returns; :mod:`firstline.directory.okta` calls
them and its docstring describes the whole mapping. Also here: the search and filter expressions
(Okta's SCIM-like syntax, values in double quotes with ``\\`` escapes), the table that turns the
country *names* of the System Log into ISO 3166 alpha-2 codes, the failure count read from the log,
what each OAuth scope is for (the scopes of a JWT access token, the admin roles that carry them), and
two pieces of HTTP plumbing: the ``SSWS`` credential and the transport that keeps ``Link`` headers.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx

from firstline.directory.backend import DirectoryCheck
from firstline.directory.models import Account, MfaFactor, Person, SignIn

__all__ = [
    "DISABLED_STATUSES",
    "LOGS_READ",
    "ROLES_READ",
    "SIGN_IN_FILTER",
    "USERS_MANAGE",
    "USERS_READ",
    "WRITE_CHECK",
    "WRITE_ROLES",
    "HeaderTap",
    "SswsToken",
    "account_from_user",
    "cleared_filter",
    "count_failures",
    "country_code",
    "describe_factors",
    "grant_hint",
    "mfa_factor",
    "okta_time",
    "parse_time",
    "people_search",
    "person_from_user",
    "quoted",
    "sign_in_from_event",
    "token_scopes",
    "tries_filter",
    "user_search",
    "username_of",
    "write_check",
]

USERS_READ, USERS_MANAGE, LOGS_READ, ROLES_READ = (
    "okta.users.read",
    "okta.users.manage",
    "okta.logs.read",
    "okta.roles.read",
)
ROLE_HINTS = {
    USERS_READ: "any admin role, e.g. Read-Only Administrator",
    USERS_MANAGE: "Help Desk Administrator, or Group, Organization or Super Administrator",
    LOGS_READ: "Read-Only, Report or Help Desk Administrator",
    ROLES_READ: "Super Administrator, the role that may list other users' admin roles",
}
WRITE_ROLES = frozenset({"SUPER_ADMIN", "ORG_ADMIN", "USER_ADMIN", "HELP_DESK_ADMIN"})
"""Admin roles that may unlock, send reset links, reset factors and clear sessions."""
WRITE_CHECK = "Okta: change accounts (unlock, reset link, MFA reset, sign-out)"

DISABLED_STATUSES = {
    "SUSPENDED": "suspended in Okta",
    "DEPROVISIONED": "deactivated in Okta",
    "STAGED": "staged in Okta and never activated",
}
SIGN_IN_FILTER = '(eventType eq "user.session.start" or eventType sw "user.authentication.")'
"""The System Log events that are sign-in attempts: Okta sign-ins and the authentication steps after them."""

FACTOR_TYPES = {
    "push": "authenticator_app",  # Okta Verify
    "signed_nonce": "authenticator_app",  # Okta Verify FastPass
    "token:software:totp": "authenticator_app",  # Okta Verify or Google Authenticator codes
    "sms": "sms",
    "call": "phone_call",
    "webauthn": "fido2_key",
    "u2f": "fido2_key",
    "token:hardware": "hardware_token",
    "token:hotp": "hardware_token",
    "token": "hardware_token",
    "email": "email",
    "question": "security_question",
}
COUNTRIES = {
    "united kingdom": "GB", "great britain": "GB", "russia": "RU", "russian federation": "RU", "viet nam": "VN",
    "vietnam": "VN", "brazil": "BR", "nigeria": "NG", "china": "CN", "netherlands": "NL", "the netherlands": "NL",
    "ireland": "IE", "united states": "US", "france": "FR", "germany": "DE", "spain": "ES", "poland": "PL",
    "india": "IN", "canada": "CA",
}  # fmt: skip
REASONS = {"INVALID_CREDENTIALS": "bad_password", "LOCKED_OUT": "locked_out", "VERIFICATION_ERROR": "mfa_denied"}


def quoted(value: str) -> str:
    """``value`` as a string literal of an Okta search or filter expression."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def user_search(key: str, username_attribute: str) -> str:
    """The ``search`` for the user whose employee number, e-mail, login or username is ``key``."""
    names = dict.fromkeys(("employeeNumber", "email", "login", username_attribute))
    return " or ".join(f"profile.{name} eq {quoted(key)}" for name in names)


def people_search(terms: Iterable[str], username_attribute: str) -> str:
    """The ``search`` for users matching every term: ``co`` on names, e-mail and login (the only attributes Okta
    allows it on), ``sw`` on the employee number, department, title, display name and username."""
    starts = dict.fromkeys(("employeeNumber", "department", "title", "displayName", username_attribute))
    clauses = [
        " or ".join(
            [f"profile.{a} co {quoted(t)}" for a in ("firstName", "lastName", "email", "login")]
            + [f"profile.{a} sw {quoted(t)}" for a in starts]
        )
        for t in terms
    ]
    return " and ".join(f"({c})" for c in clauses)


def tries_filter(user_id: str) -> str:
    """The System Log ``filter`` for the sign-ins of a user and the unlocks of their account."""
    who = quoted(user_id)
    return f'(actor.id eq {who} or target.id eq {who}) and ({SIGN_IN_FILTER} or eventType sw "user.account.unlock")'


def cleared_filter(user_id: str) -> str:
    """The System Log ``filter`` for an admin signing a user out everywhere."""
    return f'target.id eq {quoted(user_id)} and eventType eq "user.session.clear"'


def okta_time(when: datetime) -> str:
    """An aware time as Okta writes it: ``2026-11-27T16:24:00.000Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_time(text: Any) -> datetime | None:
    """An Okta timestamp as an aware datetime (``None`` for a missing one)."""
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


def country_code(name: str) -> str:
    """The ISO alpha-2 code of a System Log country name; a name not in the table is kept as given."""
    clean = name.strip()
    if len(clean) == 2 and clean.isalpha():
        return clean.upper()
    return COUNTRIES.get(clean.lower(), clean)


def username_of(user: Mapping[str, Any], attribute: str) -> str:
    """The short username (``r.chen``) from the profile attribute, else the part of the login before ``@``."""
    profile = user.get("profile") or {}
    return _text(profile.get(attribute)) or _text(profile.get("login")).split("@")[0]


def person_from_user(user: Mapping[str, Any]) -> Person:
    """A :class:`Person` from an Okta user (the profile mapping in :mod:`firstline.directory.okta`)."""
    p = user.get("profile") or {}
    name = _text(p.get("displayName")) or " ".join(filter(None, (_text(p.get("firstName")), _text(p.get("lastName")))))
    floor = p.get("floor")
    employment = _text(p.get("employment")) or ("leaver" if user.get("status") == "DEPROVISIONED" else "active")
    return Person(
        id=_text(p.get("employeeNumber")) or str(user["id"]),
        name=name,
        email=_text(p.get("email")),
        department=_text(p.get("department")),
        title=_text(p.get("title")),
        manager=_text(p.get("managerId")) or None,
        location=_text(p.get("city")).lower(),
        floor=int(floor) if isinstance(floor, int | str) and str(floor).isdigit() else None,
        phone_mobile=_text(p.get("mobilePhone")),
        vip=p.get("vip") is True or _text(p.get("vip")).lower() == "true",
        employment=employment,
        start_date=_date(p.get("startDate")),
        leaving_date=_date(p.get("leavingDate")),
    )


def mfa_factor(factor: Mapping[str, Any]) -> MfaFactor:
    """An enrolled Okta factor as an :class:`MfaFactor` (the device is the phone, key or number it is on)."""
    kind = str(factor.get("factorType", ""))
    profile = factor.get("profile") or {}
    device = profile.get("name") or profile.get("authenticatorName") or profile.get("phoneNumber") or ""
    created = parse_time(factor.get("created"))
    return MfaFactor(FACTOR_TYPES.get(kind, kind), created.date() if created else None, str(device))


def account_from_user(
    user: Mapping[str, Any],
    *,
    username_attribute: str,
    factors: Iterable[Mapping[str, Any]],
    groups: Iterable[Mapping[str, Any]],
    roles: Iterable[Mapping[str, Any]],
    failed_attempts: int,
    sessions_revoked_at: datetime | None,
) -> Account:
    """An :class:`Account` from an Okta user and what was read about it (see :mod:`firstline.directory.okta`)."""
    status = str(user.get("status", ""))
    profile = user.get("profile") or {}
    changed = parse_time(user.get("passwordChanged"))
    return Account(
        person=person_from_user(user).id,
        username=username_of(user, username_attribute),
        enabled=status not in DISABLED_STATUSES,
        locked=status == "LOCKED_OUT",
        failed_attempts=failed_attempts,
        password_last_set=changed.date() if changed else None,
        password_expired=status == "PASSWORD_EXPIRED",
        mfa_factors=tuple(mfa_factor(f) for f in factors if f.get("status") == "ACTIVE"),
        groups=tuple(str((g.get("profile") or {}).get("name", "")) for g in groups if g.get("type") != "BUILT_IN"),
        password_reset_pending=status == "RECOVERY",
        service=_text(profile.get("userType")).lower() == "service",
        privileged=any(True for _ in roles),
        sessions_revoked_at=sessions_revoked_at,
    )


def sign_in_from_event(event: Mapping[str, Any], person: str) -> SignIn:
    """A :class:`SignIn` of ``person`` from a System Log event (``user.session.start``, ``user.authentication.*``)."""
    outcome = event.get("outcome") or {}
    client = event.get("client") or {}
    place = client.get("geographicalContext") or {}
    success = outcome.get("result") == "SUCCESS"
    reason = ""
    if not success:
        given = str(outcome.get("reason") or "")
        mfa = "mfa" in str(event.get("eventType", "")) or "factor" in str(event.get("eventType", ""))
        reason = "mfa_denied" if mfa and given != "LOCKED_OUT" else REASONS.get(given, given.lower())
    at = parse_time(event.get("published"))
    assert at is not None, "every System Log event has a published time"
    return SignIn(
        person=person,
        at=at,
        success=success,
        ip=str(client.get("ipAddress") or ""),
        country=country_code(str(place.get("country") or "")),
        city=str(place.get("city") or ""),
        device=str((event.get("device") or {}).get("name") or ""),
        client=_client(event),
        reason=reason,
        event_id=str(event.get("uuid") or ""),
    )


def _client(event: Mapping[str, Any]) -> str:
    """The app signed in to (an ``AppInstance`` target), else ``Browser`` for a browser, else the raw user agent."""
    for target in event.get("target") or ():
        if target.get("type") == "AppInstance" and target.get("displayName"):
            return str(target["displayName"])
    agent = (event.get("client") or {}).get("userAgent") or {}
    if agent.get("browser") and agent["browser"] != "UNKNOWN":
        return "Browser"
    return str(agent.get("rawUserAgent") or "")


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def count_failures(events: Iterable[Mapping[str, Any]], user_id: str, after: datetime | None) -> int:
    """Failed sign-ins of ``user_id`` in ``events`` (newest first) before the first success, unlock, or event
    older than ``after``: Okta's lockout count, which its API does not show."""
    failed = 0
    for event in events:
        published = parse_time(event.get("published"))
        if str(event.get("eventType", "")).startswith("user.account.unlock"):
            break
        if after is not None and published is not None and published < after:
            break
        if (event.get("actor") or {}).get("id") != user_id:
            continue
        result = (event.get("outcome") or {}).get("result")
        if result == "SUCCESS":
            break
        failed += result == "FAILURE"
    return failed


def describe_factors(factors: Iterable[Mapping[str, Any]]) -> str:
    """``authenticator_app (iPhone 15), sms (+447700900571)``, or ``none``."""
    described = [f"{m.type} ({m.device})" if m.device else m.type for m in map(mfa_factor, factors)]
    return ", ".join(described) or "none"


def grant_hint(scope: str, token_kind: str) -> str:
    """What an Okta admin grants so that an ``SSWS`` or ``Bearer`` token may use ``scope``."""
    if token_kind == "Bearer":
        return (
            f"Grant the Firstline service app the OAuth scope {scope} (Okta Admin Console: Applications > the app > "
            f"Okta API Scopes); its admin role must allow it too ({ROLE_HINTS[scope]})."
        )
    return (
        f"Give the admin who created the API token a role that carries {scope} ({ROLE_HINTS[scope]}), or use an "
        f"OAuth token with the scope {scope}."
    )


def token_scopes(token: str) -> set[str] | None:
    """The ``scp`` claim of a JWT access token (read, not verified: Okta verifies it), or ``None``."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    scopes = claims.get("scp") if isinstance(claims, dict) else None
    return {str(s) for s in scopes} if isinstance(scopes, list) else None


def write_check(token_kind: str, token: str, roles: Iterable[Mapping[str, Any]], who: str) -> DirectoryCheck:
    """Whether a token may change accounts: an access token's scopes, or the admin roles of an API token's admin."""
    if token_kind == "Bearer":
        scopes = token_scopes(token)
        if scopes is None:
            detail = f"The access token's scopes cannot be read (it is no JWT); make sure it carries {USERS_MANAGE}."
            return DirectoryCheck(WRITE_CHECK, False, detail, ("Security",))
        has = ", ".join(sorted(scopes)) or "none"
        detail = f"The access token lacks the scope {USERS_MANAGE} (it has {has}). {grant_hint(USERS_MANAGE, 'Bearer')}"
        return DirectoryCheck(
            WRITE_CHECK, USERS_MANAGE in scopes, "" if USERS_MANAGE in scopes else detail, ("Security",)
        )
    kinds = sorted({str(r.get("type")) for r in roles})
    ok = bool(WRITE_ROLES & set(kinds))
    detail = f"The token's admin {who} has {', '.join(kinds) or 'no admin role'}; {grant_hint(USERS_MANAGE, 'SSWS')}"
    return DirectoryCheck(WRITE_CHECK, ok, "" if ok else detail, ("Security",))


@dataclass(frozen=True)
class SswsToken:
    """An Okta API token, sent as ``Authorization: SSWS ...``; ``names`` says where it is configured."""

    token: str
    names: str

    def headers(self, client: httpx.Client) -> dict[str, str]:
        return {"Authorization": f"SSWS {self.token}"}

    def describe(self) -> str:
        return f"the API token in {self.names}"

    def forget(self) -> None:
        pass


class HeaderTap(httpx.BaseTransport):
    """Passes requests on and keeps the headers of the last answer on each thread (for ``Link``)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner, self._last, self._closed = inner, threading.local(), False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        self._last.headers = response.headers
        return response

    def link(self) -> str:
        return str(getattr(self._last, "headers", httpx.Headers()).get("link", ""))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._inner.close()
