"""People and accounts from Okta (the Management API), everything else delegated: :class:`OktaDirectory`.

**People** are Okta users. Standard profile attributes: ``employeeNumber`` is the Firstline person id
(``p019``), ``displayName`` (else ``firstName lastName``) the name, ``email``, ``department``,
``title``, ``mobilePhone``, ``city`` (lower-cased: the location) and ``managerId`` (the manager's
employee number, as HR-mastered orgs fill it). Custom attributes read when present: the username
attribute (default ``samAccountName``, holding ``r.chen``), ``floor``, ``vip``, ``employment``,
``startDate`` and ``leavingDate``; without ``employment``, a DEPROVISIONED user is a leaver.
:meth:`~OktaDirectory.person` finds a user with one ``search`` expression over ``employeeNumber``,
``email``, ``login`` and the username attribute; :meth:`~OktaDirectory.find_people` asks Okta for
users matching every word (``co`` on names, email and login, ``sw`` on the rest, the only operators
Okta allows there) and keeps those that pass :func:`~firstline.directory.rules.matches_text`.

**Accounts.** ``status`` ACTIVE is enabled; LOCKED_OUT is locked; SUSPENDED, DEPROVISIONED and STAGED
are disabled (never unlocked: :class:`~firstline.errors.AccountDisabledError` before any write);
PASSWORD_EXPIRED is ``password_expired`` and RECOVERY (a reset link is out) ``password_reset_pending``.
``passwordChanged`` is ``password_last_set``. Active factors (``/factors``) are the MFA methods: push,
FastPass and TOTP are authenticator_app, sms, call phone_call, webauthn and u2f fido2_key. Groups are
``/groups`` names except Okta's built-in ``Everyone``. ``profile.userType == "Service"`` marks a
service account; any admin role (``/roles``) a privileged one. Okta keeps no failure counter, so
``failed_attempts`` counts the failed ``user.session.start`` and ``user.authentication.*`` events of
the System Log since the last successful one or the last unlock (``user.account.unlock*``), and, for
an ACTIVE account, since its status last changed (an unlock or a new password the log does not show yet).
``sessions_revoked_at`` is the newest ``user.session.clear`` event (the log keeps 90 days).

**Changes.** An unlock posts ``lifecycle/unlock`` only when the user is LOCKED_OUT. A required reset
is ``lifecycle/reset_password?sendEmail=true``: Okta e-mails the user a one-time reset link and holds
the account in RECOVERY until they choose a password; ``expire_password`` only helps someone who still
knows the old password, and its temporary-password variant hands a password to Firstline, which never
handles one. :meth:`~OktaDirectory.reset_password` (the self-service link flow and tests) sets the
password through the Users API (``credentials.password.value``). An MFA reset deletes each factor, so
each removal leaves a receipt and a failure part-way says which methods are gone and which remain.
Sign-out everywhere is ``DELETE /sessions?oauthTokens=true``. A failed sign-in is a real one: a
primary authentication (``POST /api/v1/authn``, the Authentication API, which is not part of the
Management API spec) with a random password, so Okta's own policy counts it and locks the account.
Admin accounts (an ``adm-`` username, or a user holding an admin role) are never changed.

Errors: 401 is :class:`~firstline.errors.AuthenticationError` naming ``directory.okta.token``; 403
:class:`~firstline.errors.PermissionDeniedError` naming the OAuth scope (``okta.users.read``,
``okta.users.manage``, ``okta.logs.read``, ``okta.roles.read``) and an admin role that carries it;
an unknown user :class:`~firstline.errors.PersonNotFoundError`; 429 (waiting for ``X-Rate-Limit-Reset``)
and 5xx are retried, then :class:`~firstline.vendors.http.VendorUnavailableError`. Devices, printers,
phones, mailboxes, lists and incidents go to ``others``
(:class:`~firstline.directory.delegated.Delegating`).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from firstline.directory import okta_records as records
from firstline.directory import rules
from firstline.directory.backend import DirectoryBackend, DirectoryCheck, PersonRef
from firstline.directory.delegated import Delegating
from firstline.directory.models import Account, Person, SignIn
from firstline.errors import (
    AccountDisabledError,
    AuthenticationError,
    BackendResponseError,
    BackendUnavailableError,
    ConfigError,
    DirectoryError,
    FirstlineError,
    InputError,
    PermissionDeniedError,
    PersonNotFoundError,
)
from firstline.vendors.http import RETRY_STATUSES, BearerToken, VendorHttp, VendorUnavailableError, vendor_message
from firstline.vendors.receipts import Receipt, record

__all__ = ["OktaDirectory"]

log = logging.getLogger(__name__)
ORG_URL_SETTING = "directory.okta.org_url"
TOKEN_NAMES = "`directory.okta.token` (env FIRSTLINE_DIRECTORY__OKTA__TOKEN)"
REQUEST_ID = "X-Okta-Request-Id"
LOG_WINDOW = timedelta(days=90)  # the System Log keeps 90 days
LOG_SLACK = timedelta(minutes=1)  # `until` a minute ahead: events written this instant are included
MAX_PAGES = 50
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
User = dict[str, Any]


class _FactorGone(DirectoryError):
    """A factor deleted meanwhile (404): for an MFA reset, as good as removed."""


class OktaDirectory(Delegating):
    """A :class:`~firstline.directory.backend.DirectoryBackend` whose people and accounts live in Okta at ``org_url``.

    ``token`` is an API token (``token_kind="SSWS"``) or an OAuth 2.0 access token (``"Bearer"``) with the
    scopes okta.users.read, okta.users.manage, okta.logs.read and okta.roles.read. ``lockout_threshold``
    is the failed sign-ins after which Okta's password policy locks an account (Okta applies it; Firstline
    reports it). ``others`` answers everything that is not a person or an account. ``transport``,
    ``sleep`` and ``clock`` are for tests.
    """

    system = "Okta"

    def __init__(
        self,
        org_url: str,
        token: str,
        *,
        token_kind: str = "SSWS",
        others: DirectoryBackend | None = None,
        username_attribute: str = "samAccountName",
        lockout_threshold: int = rules.LOCKOUT_THRESHOLD,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = rules.utc_now,
        timeout_s: float = 10,
    ) -> None:
        parts = urlsplit(org_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError(f"`{ORG_URL_SETTING}` must look like https://your-org.okta.com, not {org_url!r}.")
        if token_kind not in ("SSWS", "Bearer"):
            raise ConfigError(
                "`directory.okta.token_kind` must be SSWS (an API token) or Bearer (an OAuth 2.0 access token), "
                f"not {token_kind!r}."
            )
        if not token.strip():
            raise ConfigError(f"The Okta token is empty: set {TOKEN_NAMES}.")
        if not _ATTRIBUTE.fullmatch(username_attribute):
            raise ConfigError(
                f"`directory.okta.username_attribute` must be a profile attribute, not {username_attribute!r}."
            )
        self.org_url, self.token_kind, self.others = org_url.rstrip("/"), token_kind, others
        self.username_attribute, self.lockout_threshold = username_attribute, lockout_threshold
        self._token, self._clock = token, clock
        self._tap = records.HeaderTap(transport or httpx.HTTPTransport())
        auth = records.SswsToken(token, TOKEN_NAMES) if token_kind == "SSWS" else BearerToken(token, TOKEN_NAMES)
        self._http = VendorHttp(
            "Okta",
            self.org_url,
            auth,
            ORG_URL_SETTING,
            timeout_s=timeout_s,
            request_id_header=REQUEST_ID,
            rate_limit_reset_header="X-Rate-Limit-Reset",
            transport=self._tap,
            sleep=sleep,
            epoch_clock=lambda: clock().timestamp(),
        )
        self._authn = httpx.Client(timeout=timeout_s, transport=self._tap, headers={"Accept": "application/json"})

    def __repr__(self) -> str:
        return f"OktaDirectory({self.org_url})"

    # --- people and accounts, from Okta

    def person(self, key: str) -> Person:
        return records.person_from_user(self._find_user(key))

    def find_people(self, text: str) -> list[Person]:
        terms = rules.search_terms(text)
        search = {"search": records.people_search(terms, self.username_attribute), "limit": "200"}
        found: dict[str, Person] = {}
        for user in self._pages("/api/v1/users", records.USERS_READ, search):
            person = records.person_from_user(user)
            stub = Account(person=person.id, username=records.username_of(user, self.username_attribute))
            if rules.matches_text(terms, person, stub):
                found.setdefault(person.id, person)
        return sorted(found.values(), key=lambda p: p.id)

    def account(self, person: PersonRef) -> Account:
        return self._account(self._find_user(_key(person)))

    def sign_ins(self, person: PersonRef, days: int = 14) -> list[SignIn]:
        user = self._find_user(_key(person))
        if days <= 0:
            return []
        since = self._clock() - timedelta(days=days)
        flt = f"actor.id eq {records.quoted(user['id'])} and {records.SIGN_IN_FILTER}"
        owner = records.person_from_user(user).id
        found = [
            records.sign_in_from_event(e, owner)
            for e in self._pages("/api/v1/logs", records.LOGS_READ, self._window(flt, since))
        ]
        return sorted((s for s in found if s.at >= since), key=lambda s: s.at, reverse=True)

    def unlock_account(self, username: str) -> Account:
        user = self._for_change(username)
        self._refuse_disabled(user)
        if user.get("status") == "LOCKED_OUT":
            self._call("POST", f"{_path(user)}/lifecycle/unlock", records.USERS_MANAGE, not_found=_gone(username))
        return self._reread(user, username)

    def record_failed_login(self, username: str) -> Account:
        user = self._for_change(username)
        self._failed_sign_in(user)
        return self._reread(user, username)

    def set_password_reset_required(self, username: str) -> Account:
        user = self._for_change(username)
        self._refuse_disabled(user)
        params = {"sendEmail": "true"}  # Okta e-mails the one-time link; the account waits in RECOVERY
        self._call(
            "POST",
            f"{_path(user)}/lifecycle/reset_password",
            records.USERS_MANAGE,
            params=params,
            not_found=_gone(username),
        )
        return self._reread(user, username)

    def reset_password(self, username: str, new_password: str) -> Account:
        rules.check_new_password(new_password)
        user = self._for_change(username)
        body = {"credentials": {"password": {"value": new_password}}}
        self._call("POST", _path(user), records.USERS_MANAGE, json_body=body, not_found=_gone(username))
        return self._reread(user, username)

    def reset_mfa(self, username: str) -> Account:
        user = self._for_change(username)
        factors = list(self._call("GET", f"{_path(user)}/factors", records.USERS_READ, not_found=_gone(username)) or [])
        removed: list[dict[str, Any]] = []
        for factor in factors:
            fid = str(factor["id"])
            try:
                self._call(
                    "DELETE",
                    f"{_path(user)}/factors/{quote(fid, safe='')}",
                    records.USERS_MANAGE,
                    not_found=lambda fid=fid: _FactorGone(fid),
                )
            except _FactorGone:
                pass
            except FirstlineError as exc:
                if not removed:
                    raise
                left = records.describe_factors(f for f in factors if f not in removed)
                raise DirectoryError(
                    f"Removed {len(removed)} of {len(factors)} MFA methods of {username!r} in Okta "
                    f"({records.describe_factors(removed)}), but these remain: {left}. Okta refused the next removal: "
                    f"{exc} Run the MFA reset again, or reset the rest in the Okta Admin Console (Directory > People > "
                    "the user > Reset Multifactor)."
                ) from exc
            removed.append(factor)
        return self._reread(user, username)

    def revoke_sessions(self, username: str) -> Account:
        user = self._for_change(username)
        started = self._clock()
        params = {"oauthTokens": "true"}  # refresh and access tokens too, not only Okta sessions
        self._call("DELETE", f"{_path(user)}/sessions", records.USERS_MANAGE, params=params, not_found=_gone(username))
        account = self._reread(user, username)
        if account.sessions_revoked_at is None or account.sessions_revoked_at < started:
            account = replace(account, sessions_revoked_at=started)  # the System Log does not show it yet
        return account

    def check(self) -> list[DirectoryCheck]:
        """Read users, the System Log and admin roles, and see whether the token may change accounts."""
        checks: list[DirectoryCheck] = []
        now = self._clock()
        window = {
            "since": records.okta_time(now - timedelta(hours=1)),
            "until": records.okta_time(now + LOG_SLACK),
            "limit": "1",
        }
        try:
            users = self._probe(
                checks, "read users", records.USERS_READ, ("Security", "Lookup"), "/api/v1/users", {"limit": "1"}
            )
            self._probe(
                checks,
                "read the System Log (sign-in history)",
                records.LOGS_READ,
                ("Security",),
                "/api/v1/logs",
                window,
            )
            if users:
                self._probe(
                    checks,
                    "read admin roles (privileged accounts)",
                    records.ROLES_READ,
                    ("Security",),
                    f"{_path(users[0])}/roles",
                )
            checks.append(self._write_check())
        except (AuthenticationError, BackendUnavailableError) as exc:
            checks.append(DirectoryCheck("Okta: connection and token", False, str(exc), ("Security", "Lookup")))
        return checks

    def close(self) -> None:
        """Close the HTTP clients and ``others``; harmless to call twice."""
        self._http.close()
        self._authn.close()
        super().close()

    # --- plumbing

    def _call(self, method: str, path: str, scope: str, **kwargs: Any) -> Any:
        """One Management API request; a 403 names the scope (OAuth) or admin role (API token) it needs."""
        if method == "POST" and "json_body" not in kwargs:
            kwargs["headers"] = {"Content-Type": "application/json"}  # Okta wants it even on POSTs without a body
        try:
            return self._http.request(method, path, **kwargs)
        except PermissionDeniedError as exc:
            raise PermissionDeniedError(f"{exc} {records.grant_hint(scope, self.token_kind)}") from exc

    def _pages(self, path: str, scope: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """Every item of a list, following ``Link: <...>; rel="next"`` (at most :data:`MAX_PAGES` pages)."""
        url, query = path, dict(params)
        for _ in range(MAX_PAGES):
            page = self._call("GET", url, scope, params=query or None) or []
            link = _NEXT.search(self._tap.link())
            yield from page
            if link is None or not page:
                return
            url, query = link.group(1), {}
            if not url.startswith(self.org_url):
                raise BackendResponseError(f"Okta sent a next-page link outside {self.org_url}: {url}")
        log.warning("Okta: stopped after %d pages of %s", MAX_PAGES, path)

    def _find_user(self, key: str) -> User:
        wanted = key.strip()
        if not wanted:
            raise PersonNotFoundError(key)
        search = {"search": records.user_search(wanted, self.username_attribute), "limit": "10"}
        users = self._call("GET", "/api/v1/users", records.USERS_READ, params=search) or []
        if not users:
            raise PersonNotFoundError(key)
        return dict(min(users, key=lambda u: (u.get("status") == "DEPROVISIONED", str(u.get("id")))))

    def _for_change(self, key: str) -> User:
        """The user to change; admin accounts (``adm-...``, or holding an admin role) are refused."""
        if key.strip().lower().startswith("adm-"):
            raise rules.admin_account_refused(key)
        user = self._find_user(key)
        roles = self._call("GET", f"{_path(user)}/roles", records.ROLES_READ, not_found=_gone(key)) or []
        if roles:
            kinds = ", ".join(sorted({str(r.get("label") or r.get("type")) for r in roles}))
            raise InputError(
                f"{records.username_of(user, self.username_attribute)!r} holds Okta admin roles ({kinds}); Firstline "
                "does not unlock or reset admin accounts. Escalate to Identity & Access Management."
            )
        return user

    def _refuse_disabled(self, user: User) -> None:
        status = str(user.get("status", ""))
        if status in records.DISABLED_STATUSES:
            raise AccountDisabledError(
                records.username_of(user, self.username_attribute), records.DISABLED_STATUSES[status]
            )

    def _reread(self, user: User, key: str) -> Account:
        return self._account(self._call("GET", _path(user), records.USERS_READ, not_found=_gone(key)))

    def _account(self, user: User) -> Account:
        path, gone, uid = _path(user), _gone(records.username_of(user, self.username_attribute)), str(user["id"])
        after = records.parse_time(user.get("statusChanged")) if user.get("status") == "ACTIVE" else None
        tries = self._pages("/api/v1/logs", records.LOGS_READ, self._window(records.tries_filter(uid), after))
        cleared = self._call(
            "GET", "/api/v1/logs", records.LOGS_READ, params=self._window(records.cleared_filter(uid), limit=1)
        )
        return records.account_from_user(
            user,
            username_attribute=self.username_attribute,
            factors=self._call("GET", f"{path}/factors", records.USERS_READ, not_found=gone) or [],
            groups=self._call("GET", f"{path}/groups", records.USERS_READ, not_found=gone) or [],
            roles=self._call("GET", f"{path}/roles", records.ROLES_READ, not_found=gone) or [],
            failed_attempts=records.count_failures(tries, uid, after),
            sessions_revoked_at=records.parse_time(cleared[0].get("published")) if cleared else None,
        )

    def _window(self, flt: str, since: datetime | None = None, limit: int = 100) -> dict[str, str]:
        """System Log parameters: newest first, from ``since`` (at most :data:`LOG_WINDOW` back) until now."""
        now = self._clock()
        start = max(now - LOG_WINDOW, since) if since is not None else now - LOG_WINDOW
        return {
            "since": records.okta_time(start),
            "until": records.okta_time(now + LOG_SLACK),
            "filter": flt,
            "sortOrder": "DESCENDING",
            "limit": str(limit),
        }

    def _failed_sign_in(self, user: User) -> None:
        """A primary authentication with a random password (the Authentication API, outside the Management spec)."""
        login = str((user.get("profile") or {}).get("login", ""))
        try:
            answer = self._authn.post(
                f"{self.org_url}/api/v1/authn", json={"username": login, "password": secrets.token_urlsafe(24)}
            )
        except httpx.HTTPError as exc:
            raise VendorUnavailableError("Okta", self.org_url, ORG_URL_SETTING, f"{type(exc).__name__}: {exc}") from exc
        record(Receipt("Okta", "POST", "/api/v1/authn", answer.status_code, answer.headers.get(REQUEST_ID, "")))
        status = answer.status_code
        if status == 401 or (status == 200 and '"LOCKED_OUT"' in answer.text):
            return  # refused, and counted by Okta's lockout policy
        if status in RETRY_STATUSES:
            raise VendorUnavailableError("Okta", self.org_url, ORG_URL_SETTING, f"HTTP {status} from /api/v1/authn")
        raise BackendResponseError(
            f"Okta answered a sign-in as {login} with a random password with HTTP {status}: {vendor_message(answer)}"
        )

    def _probe(
        self,
        checks: list[DirectoryCheck],
        what: str,
        scope: str,
        needed_by: tuple[str, ...],
        path: str,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """One read for :meth:`check`; a failed token or connection ends the check (raised)."""
        try:
            result = self._call("GET", path, scope, params=params)
        except (AuthenticationError, BackendUnavailableError):
            raise
        except FirstlineError as exc:
            missing = f"Missing {scope}: " if isinstance(exc, PermissionDeniedError) else ""
            checks.append(DirectoryCheck(f"Okta: {what}", False, f"{missing}{exc}", needed_by))
            return None
        checks.append(DirectoryCheck(f"Okta: {what}", True, "", needed_by))
        return result

    def _write_check(self) -> DirectoryCheck:
        """Whether the token may unlock, send reset links, reset MFA and sign users out, changing nothing."""
        if self.token_kind == "Bearer":
            return records.write_check("Bearer", self._token, (), "")
        try:  # an API token acts as the admin who created it: read that admin's roles
            me = self._call("GET", "/api/v1/users/me", records.USERS_READ)
            roles = self._call("GET", f"{_path(me)}/roles", records.ROLES_READ) or []
        except FirstlineError as exc:
            detail = f"Could not read the admin roles of the token's admin: {exc}"
            return DirectoryCheck(records.WRITE_CHECK, False, detail, ("Security",))
        return records.write_check(
            "SSWS", self._token, roles, str((me.get("profile") or {}).get("login", me.get("id")))
        )


def _key(person: PersonRef) -> str:
    return person.id if isinstance(person, Person) else person


def _path(user: Mapping[str, Any]) -> str:
    return f"/api/v1/users/{quote(str(user['id']), safe='')}"


def _gone(key: str) -> Callable[[], PersonNotFoundError]:
    return lambda: PersonNotFoundError(key)
