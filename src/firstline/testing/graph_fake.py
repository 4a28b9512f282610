"""A Microsoft Graph tenant on 127.0.0.1 for :class:`~firstline.directory.graph.GraphDirectory`'s tests.

:class:`GraphFake` serves the Microsoft identity platform's token endpoint
(``POST /{tenant}/oauth2/v2.0/token``, client credentials, form-encoded) and, under ``/v1.0``, the Graph
calls Firstline makes: users (``$filter``, ``$select``, ``$expand=manager``), ``memberOf``, authentication
methods (list, delete, Temporary Access Pass), ``revokeSignInSessions``, ``passwordProfile`` updates,
``/auditLogs/signIns``, Intune ``managedDevices`` and their actions, ``mailboxSettings`` and mail-enabled
groups with their owners and members (``members/$ref``). :meth:`GraphFake.from_org` builds the tenant
from an organisation (:mod:`firstline.testing.graph_fake_tenant`); pages hold ``page_size`` items and
end in ``@odata.nextLink`` while more follow.

Written from Microsoft's Graph v1.0 documentation, and stricter than Graph where that catches client
bugs: every request body and every answer is checked against the JSON Schemas in
``tests/directory/graph_schemas`` (a bad request is a :class:`ShapeViolation`, answered 422 and
recorded in ``violations``; a bad answer is recorded too), an unknown ``$select`` property, an
unsupported query option or ``$filter`` is 400, and user filters with ``or`` or on
``onPremisesSamAccountName`` need ``ConsistencyLevel: eventual`` and ``$count=true`` (advanced queries).
Every answer carries ``request-id`` and ``client-request-id`` (but the loopback server's own 422 for a
ShapeViolation), and ``answered`` keeps each one's status and request id. Faults: :meth:`GraphFake.fail_next`
(429 with ``Retry-After``, 503), :attr:`GraphFake.permissions` (a missing one is 403 with Graph's
``Authorization_RequestDenied`` body), :meth:`GraphFake.expire_tokens`.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from jsonschema import Draft202012Validator

from firstline.directory.models import OrgData, SignIn
from firstline.testing.graph_fake_query import FilterError
from firstline.testing.graph_fake_routes import ALL_PERMISSIONS, ROUTES, GraphError, Route, TenantRoutes
from firstline.testing.graph_fake_tenant import Tenant, add_sign_in, tenant_from_org
from firstline.testing.loopback import LoopbackServer, Reply, Request, ShapeViolation

__all__ = ["ALL_PERMISSIONS", "SCHEMAS", "GraphFake"]

SCHEMAS = Path(__file__).resolve().parents[3] / "tests" / "directory" / "graph_schemas"
_TOKEN_PATH = re.compile(r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token")
Json = dict[str, Any]


class GraphFake(TenantRoutes):
    """An in-memory Microsoft 365 tenant serving Graph on 127.0.0.1; the app registration is
    ``client_id`` / ``client_secret`` in ``tenant_id``. ``token_requests`` counts token requests."""

    tenant_id = "4f1d7c2e-9b3a-4e55-8d61-0c2a7e9b5f10"
    client_id = "7a3e1f90-firstline-directory"
    client_secret = "graph-client-secret"

    def __init__(
        self,
        tenant: Tenant | None = None,
        *,
        page_size: int = 5,
        token_ttl_s: int = 3599,
        schemas: Path | None = SCHEMAS,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(tenant or Tenant(), clock or (lambda: datetime.now(UTC)), page_size)
        self.token_ttl_s = token_ttl_s
        self.permissions: set[str] = set(ALL_PERMISSIONS)
        """The application permissions granted to the app (all that Firstline uses, at first)."""
        self.token_requests = 0
        self._lock = threading.RLock()
        self._tokens: dict[str, float] = {}
        self._failures: list[tuple[int, dict[str, str]]] = []
        self._validators = _load(schemas) if schemas is not None and schemas.is_dir() else {}
        self._server = LoopbackServer(self._handle, require_json=False)
        self.seen = self._server.seen
        self.answered: list[tuple[str, str, int, str]] = []
        """(method, path, status, request-id) of every answer, in order."""
        self.violations = self._server.violations
        self.url = ""

    @classmethod
    def from_org(
        cls,
        org: OrgData,
        *,
        synced: Iterable[str] = (),
        classic_lists: Iterable[str] = (),
        as_of: date | None = None,
        **kwargs: Any,
    ) -> GraphFake:
        """A fake holding ``org`` (see :func:`~firstline.testing.graph_fake_tenant.tenant_from_org`)."""
        return cls(tenant_from_org(org, synced=synced, classic_lists=classic_lists, as_of=as_of), **kwargs)

    @property
    def validating(self) -> bool:
        """Whether the JSON Schemas were found (they are in the source tree, not in an installed package)."""
        return bool(self._validators)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1.0"

    @property
    def token_url(self) -> str:
        return f"{self.url}/{self.tenant_id}/oauth2/v2.0/token"

    def start(self) -> GraphFake:
        self._server.start()
        self.url = self._server.url
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> GraphFake:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def sign_in_failed(self, person: str, *, locked: bool = False, ip: str = "127.0.0.1") -> None:
        """Someone typed a wrong password for ``person`` (a person id) at Entra ID, from ``ip``; ``locked``: this
        attempt tripped smart lockout (error 50053). Entra counts failures itself, so tests add them here."""
        entry = SignIn(person, self.clock(), False, ip, "GB", "London", client="Browser",
                       reason="locked_out" if locked else "bad_password")  # fmt: skip
        with self._lock:
            add_sign_in(self.tenant, entry)

    # --- faults

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``times`` Graph requests with ``status`` (429, 503, ...) and ``headers``."""
        with self._lock:
            self._failures += [(status, dict(headers or {}))] * times

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (the next request with one gets 401)."""
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, 0.0)

    def requests(self, method: str, path: str) -> list[Request]:
        """The requests seen with ``method`` whose path (without query) is ``/v1.0`` + ``path``."""
        return [r for r in self.seen if r.method == method and unquote(urlsplit(r.path).path) == f"/v1.0{path}"]

    # --- serving

    def _handle(self, request: Request) -> Reply:
        reply = self._answer(request)
        headers = reply[2] if len(reply) > 2 else {}
        self.answered.append(
            (request.method, unquote(urlsplit(request.path).path), reply[0], headers.get("request-id", ""))
        )
        return reply

    def _answer(self, request: Request) -> Reply:
        ids = {
            "request-id": str(uuid.uuid4()),
            "client-request-id": request.headers.get("client-request-id") or str(uuid.uuid4()),
        }
        parts = urlsplit(request.path)
        path, query = unquote(parts.path), dict(parse_qsl(parts.query, keep_blank_values=True))
        token = _TOKEN_PATH.fullmatch(path)
        if token is not None and request.method == "POST":
            return self._token(request, token.group("tenant"), ids)
        with self._lock:
            if self._failures:
                status, headers = self._failures.pop(0)
                code = {429: "TooManyRequests", 503: "ServiceUnavailable"}.get(status, "InternalServerError")
                return self._error(GraphError(status, code, f"The fake was told to answer {status}."), ids, headers)
            try:
                self._authorize(request)
                route, found = _route(request.method, path)
                if route is None:
                    raise GraphError(400, "BadRequest", f"Resource not found for the segment in {path!r}.")
                for name in query:
                    if name.startswith("$") and name not in route.options:
                        raise GraphError(400, "BadRequest", f"Query option {name!r} is not supported here.")
                self._check_permission(route, query)
                body = self._body(request, route)
                status, answer = getattr(self, route.handler)(found, query, body, request, self._base(request))
            except GraphError as refusal:
                return self._error(refusal, ids, {})
            except FilterError as bad:
                return self._error(GraphError(400, "BadRequest", str(bad)), ids, {})
            self._check_answer(route, status, answer)
        return status, b"" if answer is None else json.dumps(answer).encode(), ids

    def _token(self, request: Request, tenant: str, ids: dict[str, str]) -> Reply:
        form = dict(parse_qsl(request.raw.decode()))
        with self._lock:
            self.token_requests += 1
        if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            raise ShapeViolation("the token request must be form-encoded")
        if tenant != self.tenant_id:
            return 400, _aad("invalid_request", f"AADSTS90002: Tenant '{tenant}' not found."), ids
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("scope") != "https://graph.microsoft.com/.default"
        ):
            raise ShapeViolation(f"token request: grant_type {form.get('grant_type')!r}, scope {form.get('scope')!r}")
        if form.get("client_id") != self.client_id:
            return (
                400,
                _aad("unauthorized_client", f"AADSTS700016: Application '{form.get('client_id')}' not found."),
                ids,
            )
        if form.get("client_secret") != self.client_secret:
            return 401, _aad("invalid_client", "AADSTS7000215: Invalid client secret provided."), ids
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl_s
        answer = {
            "token_type": "Bearer",
            "expires_in": self.token_ttl_s,
            "ext_expires_in": self.token_ttl_s,
            "access_token": token,
        }
        self._validate("token.json", answer, "token answer")
        return 200, json.dumps(answer).encode(), ids

    def _authorize(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or self._tokens.get(token.strip(), 0.0) <= time.monotonic():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")

    def _check_permission(self, route: Route, query: dict[str, str]) -> None:
        needed = [route.permissions]
        if "employeeLeaveDateTime" in query.get("$select", ""):
            needed.append(("User-LifeCycleInfo.Read.All", "User-LifeCycleInfo.ReadWrite.All"))
        for any_of in needed:
            if any_of and not self.permissions & set(any_of):
                raise GraphError(
                    403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
                )

    def _body(self, request: Request, route: Route) -> Any:
        if not request.raw:
            if route.body_schema and route.body_required:
                raise ShapeViolation(f"{request.method} {route.pattern.pattern}: a JSON body is required")
            return None
        if route.body_schema is None:
            raise ShapeViolation(f"{request.method} {route.pattern.pattern} takes no body")
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            raise ShapeViolation(f"Content-Type is {request.headers.get('content-type')!r}")
        body = request.json()
        problem = self._problem(route.body_schema, body)
        if problem:
            raise ShapeViolation(f"{request.method} body breaks {route.body_schema}: {problem}")
        return body

    def _check_answer(self, route: Route, status: int, answer: Any) -> None:
        if answer is None or status >= 300:
            return
        if route.item_schema:
            self._validate("collection.json", answer, f"{route.handler} page")
            for item in answer.get("value", []):
                self._validate(route.item_schema, item, f"{route.handler} item")
        elif route.answer_schema:
            self._validate(route.answer_schema, answer, f"{route.handler} answer")

    def _error(self, refusal: GraphError, ids: dict[str, str], headers: dict[str, str]) -> Reply:
        inner = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), **ids}
        body = {"error": {"code": refusal.code, "message": refusal.message, "innerError": inner}}
        self._validate("error.json", body, "error body")
        return refusal.status, json.dumps(body).encode(), {**ids, **headers}

    def _validate(self, schema: str, value: Any, what: str) -> None:
        problem = self._problem(schema, value)
        if problem:
            self.violations.append(f"{what} breaks {schema}: {problem}")

    def _problem(self, schema: str, value: Any) -> str:
        validator = self._validators.get(schema)
        if validator is None:
            return ""
        error = next(iter(validator.iter_errors(value)), None)
        return "" if error is None else f"{'/'.join(map(str, error.absolute_path))}: {error.message}"

    def _base(self, request: Request) -> str:
        return f"http://{request.headers.get('host', '127.0.0.1')}/v1.0"


def _route(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if found is not None and route.method == method:
            return route, found.groupdict()
    return None, {}


def _aad(code: str, description: str) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    body = {"error": code, "error_description": f"{description} Trace ID: {uuid.uuid4()} Timestamp: {now}",
            "error_codes": [int(description[6:].split(":")[0])], "timestamp": now}  # fmt: skip
    return json.dumps(body).encode()


def _load(folder: Path) -> dict[str, Draft202012Validator]:
    return {path.name: Draft202012Validator(json.loads(path.read_text())) for path in sorted(folder.glob("*.json"))}
