"""An Okta org in memory on 127.0.0.1, for :class:`~firstline.directory.okta.OktaDirectory` tests.

:class:`OktaFake` serves the parts of the Management API that Firstline uses (users and their
``search``, groups, factors, admin roles, lifecycle operations, sessions, the System Log) and the
Authentication API's ``POST /api/v1/authn``, over a :class:`~firstline.testing.okta_fake_org.FakeOktaOrg`.
:meth:`OktaFake.from_org` fills it from a demo organisation: one user per person (ids ``00u...``,
``login`` = e-mail, ``samAccountName`` = username, ``employeeNumber`` = person id, ``city`` London /
Leeds / Remote), a status per account (a leaver's disabled account is DEPROVISIONED, any other
disabled one SUSPENDED, then LOCKED_OUT, PASSWORD_EXPIRED, ACTIVE), factors (authenticator_app is Okta
Verify push, fido2_key webauthn), groups (and the built-in Everyone), a Help Desk Administrator role for
each holder of an ``adm-`` account, and a System Log from ``org.sign_ins`` (``user.session.start``; the
app in an ``AppInstance`` target, a browser as ``userAgent.browser``, the hostname as Identity
Engine's ``device.name``, countries by name). An account whose seeded failure count exceeds its
logged failures gets the missing ones as browser sign-ins after its last logged event, so the log and
the counts agree.

Like Okta: wrong passwords at ``/api/v1/authn`` are logged and lock the user after
``lockout_threshold`` failures since the last success or unlock (``user.account.lock``); unlocks,
reset links, password changes, factor removals and session revocations are logged too. Lists page
with ``Link: <...>; rel="next"``. Every answer carries ``X-Okta-Request-Id`` and
``X-Rate-Limit-Limit/-Remaining/-Reset`` (more than ``rate_limit`` requests a minute get 429).

With ``../shared/specs`` present, every request (except ``/api/v1/authn``, which the Management spec
lacks) is checked against Okta's OpenAPI file: one it does not allow is answered 422 and recorded in
``violations``, as is an expression Okta would refuse. So is every answer the spec describes (not the
``content: {}`` ones, which no body can match). Faults: :meth:`~OktaFake.fail_next`, ``scopes`` (what
the API token's admin or an access token may do; 403 otherwise) and ``down`` (503 for everything).
"""

from __future__ import annotations

import base64
import functools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from openapi_core import Config, OpenAPI

from firstline.directory.models import OrgData
from firstline.testing.loopback import LoopbackServer, Reply, Request, ShapeViolation
from firstline.testing.okta_fake_org import (
    FakeOktaOrg,
    OktaError,
    actor,
    holds,
    now_text,
    parse,
    path_values,
    role,
    user_values,
)
from firstline.testing.openapi_check import SpecCheck, spec_path, specs_available

__all__ = ["ALL_SCOPES", "OktaFake"]

SPEC = ("okta", "okta-management-minimal.yaml")
READ, MANAGE, LOGS, ROLES = "okta.users.read", "okta.users.manage", "okta.logs.read", "okta.roles.read"
ALL_SCOPES = frozenset({READ, MANAGE, LOGS, ROLES})
_U = r"/api/v1/users/(?P<id>[^/]+)"
ROUTES = [
    (method, re.compile(pattern), scope, name)
    for method, pattern, scope, name in (
        ("GET", r"/api/v1/users", READ, "list_users"),
        ("GET", _U, READ, "get_user"),
        ("POST", _U, MANAGE, "update_user"),
        ("GET", _U + "/groups", READ, "groups"),
        ("GET", _U + "/factors", READ, "factors"),
        ("DELETE", _U + "/factors/(?P<factor>[^/]+)", MANAGE, "delete_factor"),
        ("POST", _U + "/lifecycle/(?P<op>unlock|reset_password)", MANAGE, "lifecycle"),
        ("GET", _U + "/roles", ROLES, "roles"),
        ("DELETE", _U + "/sessions", MANAGE, "clear_sessions"),
        ("GET", r"/api/v1/logs", LOGS, "logs"),
    )
]
_CODES = {
    400: ("E0000001", "Api validation failed"),
    401: ("E0000011", "Invalid token provided"),
    403: ("E0000006", "You do not have permission to perform the requested action"),
    404: ("E0000007", "Not found: Resource not found"),
    429: ("E0000047", "API call exceeded rate limit due to too many requests."),
    500: ("E0000009", "Internal Server Error"),
    503: ("E0000010", "Service is temporarily unavailable"),
}
_DEFAULTS = {"7 days prior to until", "current time"}  # the spec's prose defaults of since / until
Answer = tuple[int, Any, dict[str, str]]


def _iso(value: object) -> bool:
    try:
        return value in _DEFAULTS or datetime.fromisoformat(str(value)).tzinfo is not None
    except ValueError:
        return False


@functools.cache
def _okta_api() -> OpenAPI:
    """The spec with validators for the System Log's own formats (openapi-core refuses unknown ones)."""
    keywords = "URL encoded string. Max length is 40 characters per keyword, with a maximum of 10 keyword filters per "
    formats: dict[str, Callable[[Any], bool]] = {
        "ISO 8601 compliant timestamp": _iso,
        "Opaque token": lambda v: True,
        "SCIM Filter expression": lambda v: True,
        "Integer between 0 and 1000": lambda v: isinstance(v, int) and 0 <= v <= 1000,
        keywords + "query (before encoding)": lambda v: True,
    }
    return OpenAPI.from_file_path(
        str(spec_path(*SPEC)), config=Config(spec_validator_cls=None, extra_format_validators=formats)
    )


class _OktaSpec(SpecCheck):
    def __init__(self) -> None:  # a SpecCheck over _okta_api(), loaded once per process (about 2.5 s)
        self.api, self.host_url, self.strip, self.checked = _okta_api(), "https://subdomain.okta.com", "", 0


def _error(status: int, headers: dict[str, str] | None = None) -> OktaError:
    code, summary = _CODES.get(status, ("E0000009", f"HTTP {status}"))
    return OktaError(status, code, summary, headers=headers)


class OktaFake:
    """An in-memory Okta org on 127.0.0.1 (see the module docstring); ``api_token`` is the SSWS token it accepts.

    ``org`` is the state; ``integration_roles`` are the admin roles of the API token's own admin user
    (``/api/v1/users/me``); ``answered`` lists each answer: method, path, status and request id.
    """

    api_token = "00fake-okta-api-token"

    def __init__(
        self, *, lockout_threshold: int = 5, page_size: int = 200, rate_limit: int = 600, spec_checks: bool = True
    ) -> None:
        self.org = FakeOktaOrg(lockout_threshold)
        self.page_size, self.rate_limit = page_size, rate_limit
        self.scopes: set[str] = set(ALL_SCOPES)
        self.integration_roles = ["SUPER_ADMIN"]
        self.down, self.url = False, ""
        self.answered: list[tuple[str, str, int, str]] = []
        self._lock = threading.RLock()
        self._failures: list[tuple[str, str, int, dict[str, str]]] = []
        self._tokens: dict[str, frozenset[str]] = {}
        self._window = (0.0, 0)
        self._spec = _OktaSpec() if spec_checks and specs_available() else None
        self._server = LoopbackServer(self._handle, require_json=False)
        self.seen, self.violations = self._server.seen, self._server.violations

    @classmethod
    def from_org(cls, org: OrgData, *, password: str = "Demo-Pass-1", **options: Any) -> OktaFake:
        """A fake holding ``org``'s people and accounts, every password ``password``."""
        fake = cls(**options)
        fake.org.seed(org, password)
        return fake

    def start(self) -> OktaFake:
        self._server.start()
        self.url = self._server.url
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> OktaFake:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # --- for tests

    def user(self, key: str) -> dict[str, Any]:
        """A copy of the user whose id, login, samAccountName or employeeNumber is ``key``."""
        with self._lock:
            copied: dict[str, Any] = json.loads(json.dumps(self.org.find(key)))
        return copied

    def set_status(self, key: str, status: str) -> None:
        with self._lock:
            self.org.set_status(self.org.find(key), status)

    def set_profile(self, key: str, **values: Any) -> None:
        with self._lock:
            self.org.find(key)["profile"].update(values)

    def factor_ids(self, key: str) -> list[str]:
        with self._lock:
            return [str(f["id"]) for f in self.org.factors.get(self.org.find(key)["id"], [])]

    def events(self, event_type: str = "") -> list[dict[str, Any]]:
        """The System Log, oldest first (only ``event_type`` when given)."""
        with self._lock:
            return [e for e in self.org.events if not event_type or e["eventType"] == event_type]

    def add_sign_in(
        self,
        key: str,
        at: datetime,
        *,
        success: bool,
        ip: str = "198.51.100.23",
        country: str = "United Kingdom",
        city: str = "London",
        client: str = "Browser",
        device: str = "",
        reason: str = "",
    ) -> dict[str, Any]:
        """Log a sign-in of ``key`` (``country`` is a name, as Okta gives it); the event."""
        with self._lock:
            return self.org.sign_in(
                self.org.find(key),
                at,
                success=success,
                ip=ip,
                country=country,
                city=city,
                client=client,
                device=device,
                reason=reason,
            )

    def access_token(self, scopes: Iterable[str] | None = None) -> str:
        """An OAuth access token (a JWT, unsigned) granting ``scopes`` (default: ``self.scopes``)."""
        granted = frozenset(self.scopes if scopes is None else scopes)
        claims = {
            "ver": 1,
            "jti": "AT." + secrets.token_urlsafe(12),
            "iss": self.url,
            "iat": int(time.time()),
            "exp": int(time.time()) + 3600,
            "cid": "0oafirstline",
            "scp": sorted(granted),
            "sub": "0oafirstline",
        }
        encoded = [
            base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=") for p in ({"alg": "RS256"}, claims)
        ]
        token = ".".join([*encoded, secrets.token_urlsafe(16)])
        with self._lock:
            self._tokens[token] = granted
        return token

    def fail_next(
        self, status: int, times: int = 1, headers: dict[str, str] | None = None, *, method: str = "", path: str = ""
    ) -> None:
        """Answer the next ``times`` requests (of ``method``, whose path contains ``path``) with ``status``."""
        with self._lock:
            self._failures += [(method.upper(), path, status, dict(headers or {}))] * times

    # --- serving

    def _handle(self, request: Request) -> Reply:
        status, body, headers = self._answer(request)
        with self._lock:
            self.answered.append((request.method, request.path, status, headers["X-Okta-Request-Id"]))
        return status, b"" if body is None else json.dumps(body).encode(), headers

    def _answer(self, request: Request) -> Answer:
        parts = urlsplit(request.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {"X-Okta-Request-Id": secrets.token_urlsafe(20)[:27]}
        route = next(((r, m) for r in ROUTES if r[0] == request.method and (m := r[1].fullmatch(parts.path))), None)
        authn = parts.path == "/api/v1/authn"  # the Authentication API: not in the Management spec
        if self._spec is not None and not authn:
            self._spec.request(request)
        no_content = False
        try:
            with self._lock:
                headers |= self._rate(request)
            if authn:
                return self._authn(request, headers)
            with self._lock:
                allowed = self._authenticate(request)
                if route is None:
                    raise ShapeViolation(f"{request.method} {parts.path}: the fake does not serve it")
                (_, _, scope, name), match = route
                if scope not in allowed:
                    raise OktaError(403, *_CODES[403], headers=_scope_header(scope, parts.path, request))
                if (
                    request.method == "POST"
                    and request.headers.get("content-type", "").split(";")[0] != "application/json"
                ):
                    raise ShapeViolation(f"POST {parts.path}: Content-Type must be application/json")
                status, body, more = getattr(self, "_" + name)(request, query, **match.groupdict())
                headers |= more
                no_content = body is None or (name == "lifecycle" and match["op"] == "unlock")
        except OktaError as error:
            status, body, headers = error.status, error.body, headers | error.headers
        self._check_answer(request, status, body, no_content or authn)
        return status, body, headers

    def _check_answer(self, request: Request, status: int, body: Any, no_content: bool) -> None:
        if self._spec is None or no_content or status not in (200, 201, 400, 403, 404, 429):
            return
        try:
            self._spec.response(request, status, body)
        except AssertionError as exc:
            if "Unknown response http status" not in str(exc):  # an error the operation does not document
                self.violations.append(str(exc))

    def _rate(self, request: Request) -> dict[str, str]:
        """The rate-limit headers; 429 past the limit, then injected faults (``down``, :meth:`fail_next`)."""
        start, used = self._window
        if time.time() - start >= 60:
            start, used = time.time(), 0
        self._window = (start, used + 1)
        headers = {
            "X-Rate-Limit-Limit": str(self.rate_limit),
            "X-Rate-Limit-Remaining": str(max(0, self.rate_limit - used - 1)),
            "X-Rate-Limit-Reset": str(int(start + 60)),
        }
        if used >= self.rate_limit:
            raise _error(429, headers)
        if self.down:
            raise _error(503, headers)
        path = urlsplit(request.path).path
        for i, (method, part, status, extra) in enumerate(self._failures):
            if method in ("", request.method) and part in path:
                del self._failures[i]
                raise _error(status, headers | extra)
        return headers

    def _authenticate(self, request: Request) -> frozenset[str]:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme == "SSWS" and value == self.api_token:
            return frozenset(self.scopes)
        if scheme == "Bearer" and value in self._tokens:
            return self._tokens[value]
        raise _error(401)

    def _authn(self, request: Request, headers: dict[str, str]) -> Answer:
        body = request.json()
        if not isinstance(body, dict) or not {"username", "password"} <= set(body):
            raise ShapeViolation("POST /api/v1/authn needs a JSON body with username and password")
        with self._lock:
            ok = self.org.authenticate(
                str(body["username"]), str(body["password"]), request.headers.get("user-agent", "")
            )
        if ok:
            return 200, {"status": "SUCCESS", "sessionToken": secrets.token_urlsafe(20)}, headers
        return 401, OktaError(401, "E0000004", "Authentication failed").body, headers

    def _user(self, request: Request, key: str) -> dict[str, Any]:
        """The user in a path: an id, a login or its short name, or ``me`` (the API token's admin)."""
        if key == "me" and request.headers.get("authorization", "").startswith("SSWS "):
            return self.org.users[self.org.admin_id]
        found = self.org.users.get(key) or self.org.by_login(key)
        if found is None:
            raise OktaError(404, "E0000007", f"Not found: Resource not found: {key} (User)")
        return found

    def _render(self, user: dict[str, Any], request: Request) -> dict[str, Any]:
        return {**user, "_links": {"self": {"href": f"http://{request.headers.get('host')}/api/v1/users/{user['id']}"}}}

    def _by_admin(self, kind: str, user: dict[str, Any]) -> None:
        self.org.log(kind, actor(self.org.users[self.org.admin_id]), targets=[actor(user)])

    def _list_users(self, request: Request, query: dict[str, str]) -> Answer:
        if set(query) - {"search", "limit", "after"}:
            raise ShapeViolation(f"GET /api/v1/users with {sorted(query)}: the fake serves search, limit and after")
        users = sorted(self.org.users.values(), key=lambda u: u["id"])
        if "search" in query:  # a search also finds DEPROVISIONED users; a plain list does not
            node = parse(query["search"], users=True)
            users = [u for u in users if holds(node, functools.partial(user_values, u))]
        else:
            users = [u for u in users if u["status"] != "DEPROVISIONED"]
        users = [u for u in users if u["id"] != self.org.admin_id and u["id"] > query.get("after", "")]
        page = users[: min(int(query.get("limit", "200")), self.page_size)]
        more = {"after": page[-1]["id"]} if len(users) > len(page) else None
        return 200, [self._render(u, request) for u in page], _links(request, "/api/v1/users", query, more)

    def _get_user(self, request: Request, query: dict[str, str], id: str) -> Answer:
        return 200, self._render(self._user(request, id), request), {}

    def _update_user(self, request: Request, query: dict[str, str], id: str) -> Answer:
        user, body = self._user(request, id), request.json()
        password = (
            ((body.get("credentials") or {}).get("password") or {}).get("value") if isinstance(body, dict) else None
        )
        if (
            not isinstance(body, dict)
            or set(body) - {"credentials", "profile"}
            or (body.get("credentials") and password is None)
        ):
            raise ShapeViolation(f"POST /api/v1/users/{id}: the fake updates profile and credentials.password.value")
        if password is not None:
            self.org.check_password(user, str(password))
            self.org.passwords[user["id"]], user["passwordChanged"] = str(password), now_text()
            if user["status"] in ("RECOVERY", "PASSWORD_EXPIRED"):
                self.org.set_status(user, "ACTIVE")
            self._by_admin("user.account.update_password", user)
        user["profile"].update(body.get("profile") or {})
        user["lastUpdated"] = now_text()
        return 200, self._render(user, request), {}

    def _groups(self, request: Request, query: dict[str, str], id: str) -> Answer:
        return 200, [self.org.groups[g] for g in self.org.members.get(self._user(request, id)["id"], [])], {}

    def _factors(self, request: Request, query: dict[str, str], id: str) -> Answer:
        return 200, list(self.org.factors.get(self._user(request, id)["id"], [])), {}

    def _delete_factor(self, request: Request, query: dict[str, str], id: str, factor: str) -> Answer:
        user = self._user(request, id)
        kept = [f for f in self.org.factors.get(user["id"], []) if f["id"] != factor]
        if len(kept) == len(self.org.factors.get(user["id"], [])):
            raise OktaError(404, "E0000007", f"Not found: Resource not found: {factor} (UserFactor)")
        self.org.factors[user["id"]] = kept
        self._by_admin("user.mfa.factor.deactivate", user)
        return 204, None, {}

    def _lifecycle(self, request: Request, query: dict[str, str], id: str, op: str) -> Answer:
        user = self._user(request, id)
        if op == "unlock":
            if user["status"] != "LOCKED_OUT":
                raise OktaError(403, "E0000032", "Unlock is not allowed for this user.")
            self.org.set_status(user, "ACTIVE")
            self._by_admin("user.account.unlock_by_admin", user)
            return 200, {}, {}
        if user["status"] not in ("ACTIVE", "LOCKED_OUT", "PASSWORD_EXPIRED", "RECOVERY"):
            raise OktaError(403, "E0000038", "This operation is not allowed in the user's current status.")
        self.org.set_status(user, "RECOVERY")
        self._by_admin("user.account.reset_password", user)
        if query.get("sendEmail") == "true":  # Okta e-mails the link
            return 200, {}, {}
        return 200, {"resetPasswordUrl": f"{self.url}/signin/reset-password/{secrets.token_urlsafe(15)}"}, {}

    def _roles(self, request: Request, query: dict[str, str], id: str) -> Answer:
        user = self._user(request, id)
        if user["id"] == self.org.admin_id:
            return 200, [role(kind, kind.replace("_", " ").title()) for kind in self.integration_roles], {}
        return 200, list(self.org.roles.get(user["id"], [])), {}

    def _clear_sessions(self, request: Request, query: dict[str, str], id: str) -> Answer:
        self._by_admin("user.session.clear", self._user(request, id))
        return 204, None, {}

    def _logs(self, request: Request, query: dict[str, str]) -> Answer:
        since = datetime.fromisoformat(query["since"]) if "since" in query else None
        until = datetime.fromisoformat(query["until"]) if "until" in query else None
        node = parse(query["filter"], users=False) if query.get("filter") else None
        events = [
            e
            for e in self.org.events
            if (since is None or e["_at"] >= since)
            and (until is None or e["_at"] <= until)
            and (node is None or holds(node, functools.partial(path_values, e)))
        ]
        events.sort(key=lambda e: e["_at"], reverse=query.get("sortOrder") == "DESCENDING")
        start, limit = int(query.get("after", "0")), min(int(query.get("limit", "100")), self.page_size)
        page = events[start : start + limit]
        more = start + limit < len(events) or until is None  # polling queries always get a next link
        links = _links(request, "/api/v1/logs", query, {"after": str(start + len(page))} if more else None)
        return 200, [{k: v for k, v in e.items() if k != "_at"} for e in page], links


def _links(request: Request, path: str, query: dict[str, str], more: dict[str, str] | None) -> dict[str, str]:
    base = f"http://{request.headers.get('host', '127.0.0.1')}{path}"
    links = [f'<{base}?{urlencode(query)}>; rel="self"']
    if more is not None:
        links.append(f'<{base}?{urlencode({**query, **more})}>; rel="next"')
    return {"Link": ", ".join(links)}


def _scope_header(scope: str, path: str, request: Request) -> dict[str, str]:
    if not request.headers.get("authorization", "").startswith("Bearer "):
        return {}
    said = "The access token provided does not contain the required scopes."
    return {
        "WWW-Authenticate": f'Bearer error="insufficient_scope", error_description="{said}", scope="{scope}", '
        f'resource="{path}"'
    }
