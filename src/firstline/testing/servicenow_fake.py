"""A ServiceNow instance in memory on 127.0.0.1, for connector tests: the Table API and ``/oauth_token.do``.

:class:`FakeServiceNow` serves ``/api/now/table/{table}[/{sys_id}]`` (GET; POST, PATCH and PUT on
``incident``) over ``incident``, ``sys_user``, ``sys_user_group``, ``sys_user_role``, ``sys_user_has_role``
and ``sys_journal_field``, as an instance does: incident numbers ``INC0010001``.., 32-hex ``sys_id``s,
UTC times ``YYYY-MM-DD HH:MM:SS``, the priority of the default impact x urgency lookup (one sent is
overwritten); Resolved (6) or Closed (7) without ``close_code`` and ``close_notes`` is refused 403 with
the data-policy error body, closed and canceled incidents are read-only, writing incidents needs
``itil``, ``sn_incident_write`` or ``admin``; ``comments`` / ``work_notes`` become ``sys_journal_field``
entries. Answers honour ``sysparm_fields`` (dot-walked too: ``caller_id.email``),
``sysparm_display_value`` (false / true / all) and ``sysparm_exclude_reference_link``; lists hold at
most ``page_size`` records and carry ``X-Total-Count`` and ``Link`` (first, prev, next, last). Every
incident also carries :attr:`FakeServiceNow.extra_fields`, fields a customised or newer instance adds.

``sysparm_query`` understands ``= != > >= < <= LIKE NOT LIKE STARTSWITH ENDSWITH IN NOT IN ISEMPTY
ISNOTEMPTY``, ``^`` (and), ``^OR`` (or, with the condition before it), ``^^`` (a literal caret),
``ORDERBY`` / ``ORDERBYDESC``, dot-walked fields and the value ``javascript:gs.getUserID()``; ``=``
ignores case, as the instance's database does. Credentials: basic auth, or a bearer token from
``POST /oauth_token.do`` (client credentials, form-encoded; it stands for the integration user). Wrong
ones get 401 with the Table API error body ``{"error": {"message", "detail"}, "status": "failure"}``.

Stricter than an instance, to catch connector bugs: an unknown field (in a body, a query or
``sysparm_fields``), a reference that is no ``sys_id`` of its table, a value outside a choice list, or
a query part outside the subset above is a :class:`ShapeViolation` (answered 422 and recorded in
``violations``) where an instance would ignore or store it. With ``../shared/specs`` present, each
Table API request is checked against the community OpenAPI file (its global security names bearer
tokens only, so it sees basic-auth requests, once checked here, as bearer ones), and each success
answer too; an answer that breaks it is recorded in ``violations``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from firstline.testing.loopback import LoopbackServer, Reply, Request, ShapeViolation
from firstline.testing.openapi_check import SpecCheck, spec_path, specs_available
from firstline.ticketing.models import TicketState
from firstline.ticketing.sla import Impact, Urgency, priority_for

__all__ = ["FakeServiceNow"]

Record = dict[str, str]
SPEC = ("servicenow", "servicenow-rest-ballerina.openapi.yaml")
SYS = ("sys_id", "sys_created_on", "sys_created_by", "sys_updated_on", "sys_updated_by", "sys_mod_count")
INCIDENT_WRITABLE = (
    "short_description", "description", "caller_id", "category", "state", "hold_reason", "impact", "urgency",
    "priority", "assignment_group", "assigned_to", "close_code", "close_notes", "correlation_id",
    "correlation_display", "parent_incident", "comments", "work_notes",
)  # fmt: skip
TABLES: dict[str, tuple[str, ...]] = {
    "incident": (*SYS, "number", "active", "opened_at", "opened_by", "resolved_at", "closed_at", *INCIDENT_WRITABLE),
    "sys_user": (*SYS, "user_name", "name", "email", "active"),
    "sys_user_group": (*SYS, "name", "description", "active"),
    "sys_user_role": (*SYS, "name"),
    "sys_user_has_role": (*SYS, "user", "role"),
    "sys_journal_field": (*SYS, "name", "element", "element_id", "value"),
}
REFERENCES = {("incident", name): "sys_user" for name in ("caller_id", "opened_by", "assigned_to")} | {
    ("incident", "assignment_group"): "sys_user_group",
    ("incident", "parent_incident"): "incident",
    ("sys_user_has_role", "user"): "sys_user",
    ("sys_user_has_role", "role"): "sys_user_role",
}
DISPLAY = {"incident": "number", "sys_user": "name", "sys_user_group": "name", "sys_user_role": "name"}
LEVELS = {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"}
CHOICES = {
    "state": {"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed", "8": "Canceled"},
    "impact": LEVELS,
    "urgency": LEVELS,
    "priority": {"1": "1 - Critical", "2": "2 - High", "3": "3 - Moderate", "4": "4 - Low", "5": "5 - Planning"},
    "hold_reason": {"1": "Awaiting Caller", "3": "Awaiting Problem", "4": "Awaiting Vendor", "5": "Awaiting Change"},
}
STATE_CODES = {"new": "1", "in_progress": "2", "on_hold": "3", "resolved": "6", "closed": "7", "canceled": "8"}
USERS = (  # user_name, name, e-mail, roles
    ("firstline.integration", "Firstline Integration", "firstline.integration@example.com", ("itil",)),
    ("helena.marsh", "Helena Marsh", "helena.marsh@example.com", ()),
    ("tomasz.nowicki", "Tomasz Nowicki", "tomasz.nowicki@example.com", ("itil",)),
    ("ana.lopez", "Ana Lopez", "ana.lopez@example.com", ("itil",)),
)
GROUPS = (
    "Service Desk", "Network Operations", "Desktop Support", "Identity & Access Management", "Security Operations",
    "End User Computing", "Messaging", "Print Services", "Telephony",
)  # fmt: skip
OPERATORS = "!=|>=|<=|=|>|<|NOT LIKE|LIKE|STARTSWITH|ENDSWITH|NOT IN|IN|ISEMPTY|ISNOTEMPTY"
_CONDITION = re.compile(rf"([a-z0-9_.]+)({OPERATORS})(.*)", re.S)
_TABLE_PATH = re.compile(r"/api/now/table/([a-z0-9_]+)(?:/([^/]+))?")
Condition = tuple[str, str, str]


class _Refusal(Exception):
    """An error the instance answers with its Table API error body."""

    def __init__(self, status: int, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _error_body(message: str, detail: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


def _split(query: str) -> list[str]:
    """An encoded query's parts, split at ``^`` (``^^`` is a literal caret)."""
    return [part.replace("\0", "^") for part in query.replace("^^", "\0").split("^")]


def _compare(op: str, have: str, want: str) -> bool:
    folded, wanted = have.casefold(), want.casefold()
    if op in ("=", "!="):
        return (folded == wanted) == (op == "=")
    if op in ("LIKE", "NOT LIKE"):
        return (wanted in folded) == (op == "LIKE")
    if op in ("IN", "NOT IN"):
        return (have in want.split(",")) == (op == "IN")
    if op in ("ISEMPTY", "ISNOTEMPTY"):
        return (not have) == (op == "ISEMPTY")
    if op in ("STARTSWITH", "ENDSWITH"):
        return folded.startswith(wanted) if op == "STARTSWITH" else folded.endswith(wanted)
    a, b = (int(have), int(want)) if have.isdigit() and want.isdigit() else (have, want)
    return bool(have) and {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]  # type: ignore[operator]


class FakeServiceNow:
    """An in-memory ServiceNow instance serving the Table API on 127.0.0.1 (a :class:`VendorFake`).

    The integration user ``user`` signs in with ``password`` (basic auth) or through the OAuth client
    ``client_id`` / ``client_secret``; ``token_requests`` counts calls to ``/oauth_token.do``.
    """

    user = "firstline.integration"
    password = "integration-password"
    client_id = "firstline-client"
    client_secret = "firstline-client-secret"
    webhook_secret = "webhook-secret"

    def __init__(self, *, page_size: int = 3, token_ttl_s: int = 1799, spec_checks: bool = True) -> None:
        self.page_size, self.token_ttl_s = page_size, token_ttl_s
        self.url, self.token_requests = "", 0
        self.extra_fields: dict[str, Any] = {"x_acme_cost_center": {"value": "CC-1042", "display_value": "CC-1042"}}
        self.drop_fields: set[str] = set()
        """Fields left out of every incident in answers (a required one missing)."""
        self.links = True
        """Whether lists carry a ``Link`` header (``False``: an instance behind a proxy that drops it)."""
        self._lock = threading.RLock()
        self._tables: dict[str, dict[str, Record]] = {table: {} for table in TABLES}
        self._numbers = iter(range(10001, 10_000_000))
        self._failures: list[tuple[str, int, float | None, str, str | None]] = []
        self._lose_next = False
        self._tokens: dict[str, tuple[str, float]] = {}
        # Each request and answer checked against the published spec (about 20 ms each); the scenario suite, which
        # runs hundreds of conversations through the fake, leaves that to the connector's own tests.
        checked = spec_checks and specs_available()
        self._spec = SpecCheck(spec_path(*SPEC), "https://instance.service-now.com") if checked else None
        self._server = LoopbackServer(self._handle, require_json=False)
        self.seen = self._server.seen
        self.violations = self._server.violations
        self._seed()

    def start(self) -> FakeServiceNow:
        self._server.start()
        self.url = self._server.url
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeServiceNow:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def count(self) -> int:
        return len(self._tables["incident"])

    def incident(self, number: str) -> Record:
        """The stored incident (database values) with this number; ``KeyError`` when there is none."""
        with self._lock:
            return dict(self._find("incident", "number", number))

    @property
    def delay(self) -> float:
        """Seconds every answer is held back (a slow instance)."""
        return self._server.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self._server.delay = seconds

    def incident_correlations(self) -> list[str]:
        """The correlation id (the Firstline number) of every incident, one entry per incident."""
        with self._lock:
            return [str(row.get("correlation_id", "")) for row in self._tables["incident"].values()]

    def journal(self, correlation_id: str) -> list[str]:
        """Comments and work notes on the incident filed as ``correlation_id`` (a Firstline number), oldest first."""
        with self._lock:
            sys_id = self._find("incident", "correlation_id", correlation_id)["sys_id"]
            rows = [r for r in self._tables["sys_journal_field"].values() if r["element_id"] == sys_id]
            return [str(r["value"]) for r in sorted(rows, key=lambda r: str(r["sys_created_on"]))]

    def staff_change(self, number: str, *, state: TicketState | None = None, assigned_to: str | None = None) -> None:
        body: dict[str, str] = {}
        if state is not None:
            body["state"] = STATE_CODES[state.value]
            if body["state"] in ("6", "7"):
                body |= {"close_code": "Solved (Permanently)", "close_notes": "Fixed by the service desk."}
        if assigned_to is not None:
            body["assigned_to"] = self._find("sys_user", "email", assigned_to)["sys_id"] if assigned_to else ""
        self._as_staff(number, body)

    def staff_open(self, caller: str, short_description: str, *, state: TicketState | None = None) -> str:
        """Open an incident as the service desk would from a phone call (no correlation id); its number."""
        with self._lock:
            staff = self._find("sys_user", "user_name", "ana.lopez")
            try:
                person = self._find("sys_user", "email", caller)
            except KeyError:
                name = caller.split("@")[0]
                person = self._insert("sys_user", {"user_name": name, "name": name.replace(".", " ").title(),
                                                   "email": caller, "active": "true"})  # fmt: skip
            body = {"short_description": short_description, "description": "Logged from a phone call.",
                    "caller_id": person["sys_id"]}  # fmt: skip
            if state is not None:
                body["state"] = STATE_CODES[state.value]
            return str(self._save(self._new_incident(staff), body, staff)["number"])

    def staff_comment(self, number: str, body: str, *, public: bool = True) -> None:
        self._as_staff(number, {"comments" if public else "work_notes": body})

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        message: str = "",
        detail: str = "",
        method: str = "",
    ) -> None:
        """Answer the next ``times`` Table API requests (of ``method``, when given) with ``status``.

        The body is the Table API error body with ``message`` and ``detail``; the token endpoint is left alone.
        """
        failure = (method.upper(), status, retry_after, message or f"HTTP {status} from the fake", detail or None)
        with self._lock:
            self._failures = self._failures + [failure] * times if times else []  # 0 times: the outage is over

    def lose_next_answer(self) -> None:
        with self._lock:
            self._lose_next = True

    def webhook(self, number: str, *, good_signature: bool = True) -> tuple[dict[str, str], bytes]:
        body = json.dumps({"number": number, "sys_id": self.incident(number)["sys_id"]}).encode()
        secret = self.webhook_secret if good_signature else f"forged-{self.webhook_secret}"
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"Content-Type": "application/json", "X-Firstline-Signature": signature}, body

    def revoke_tokens(self) -> None:
        """Forget every OAuth token handed out (the next request with one is answered 401)."""
        with self._lock:
            self._tokens.clear()

    def set_roles(self, user_name: str, roles: tuple[str, ...]) -> None:
        """Give ``user_name`` exactly these roles: ``itil``, ``admin``, ``sn_incident_write``, ``snc_read_only``."""
        with self._lock:
            user = self._find("sys_user", "user_name", user_name)["sys_id"]
            grants = self._tables["sys_user_has_role"]
            for key in [k for k, row in grants.items() if row["user"] == user]:
                del grants[key]
            for role in (self._find("sys_user_role", "name", name)["sys_id"] for name in roles):
                self._insert("sys_user_has_role", {"user": user, "role": role})

    def _handle(self, request: Request) -> Reply:
        parts = urlsplit(request.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if parts.path == "/oauth_token.do":
            return self._token(request)
        with self._lock:
            try:
                if self._failures and self._failures[0][0] in ("", request.method):
                    _, status, retry_after, message, detail = self._failures.pop(0)
                    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
                    return status, json.dumps(_error_body(message, detail)).encode(), headers
                user = self._authenticate(request)
                if self._spec is not None:
                    self._spec.request(self._as_bearer(request))
                status, body, headers = self._route(request, parts.path, query, user)
                if self._lose_next and request.method != "GET" and status < 300:
                    self._lose_next = False
                    raise _Refusal(503, "Service Unavailable", "The answer was lost on the way back.")
            except _Refusal as refusal:
                return refusal.status, json.dumps(_error_body(refusal.message, refusal.detail)).encode()
        if self._spec is not None:  # only success answers: the spec describes no error bodies
            try:
                self._spec.response(self._as_bearer(request), status, body)
            except AssertionError as exc:
                self.violations.append(str(exc))
        return status, json.dumps(body).encode(), headers

    def _as_bearer(self, request: Request) -> Request:
        return Request(request.method, request.path, {**request.headers, "authorization": "Bearer fake"}, request.raw)

    def _token(self, request: Request) -> Reply:
        form_post = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        if request.method != "POST" or not form_post:
            raise ShapeViolation(f"{request.method} /oauth_token.do must be a form-encoded POST")
        form = dict(parse_qsl(request.raw.decode()))
        with self._lock:
            self.token_requests += 1
            if form.get("grant_type") != "client_credentials":
                answer: dict[str, Any] = {"error": "unsupported_grant_type", "error_description": "access_denied"}
                return 400, json.dumps(answer).encode()
            if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
                return 401, json.dumps({"error": "server_error", "error_description": "access_denied"}).encode()
            token = secrets.token_urlsafe(24)
            user = self._find("sys_user", "user_name", self.user)["sys_id"]
            self._tokens[token] = (user, time.monotonic() + self.token_ttl_s)
        answer = {"access_token": token, "scope": "useraccount", "token_type": "Bearer", "expires_in": self.token_ttl_s}
        return 200, json.dumps(answer).encode()

    def _authenticate(self, request: Request) -> Record:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            name, _, password = base64.b64decode(credential.encode()).decode(errors="replace").partition(":")
            if (name, password) == (self.user, self.password):
                return self._find("sys_user", "user_name", name)
        elif (
            scheme.lower() == "bearer"
            and (held := self._tokens.get(credential.strip(), ("", 0.0)))[1] > time.monotonic()
        ):
            return self._tables["sys_user"][held[0]]
        raise _Refusal(401, "User Not Authenticated", "Required to provide Auth information")

    def _route(
        self, request: Request, path: str, query: dict[str, str], user: Record
    ) -> tuple[int, Any, dict[str, str]]:
        match = _TABLE_PATH.fullmatch(path)
        if match is None:
            raise _Refusal(400, "Requested URI does not represent any resource", path)
        table, sys_id = match.groups()
        if table not in TABLES:
            raise _Refusal(400, f"Invalid table {table}")
        base = f"http://{request.headers.get('host', '127.0.0.1')}"
        if request.method == "GET" and sys_id is None:
            return self._list(table, query, user, base, path)
        if request.method == "GET":
            return 200, {"result": self._render(table, self._record(table, sys_id), query, base)}, {}
        if table != "incident" or request.method == "DELETE" or (request.method == "POST") != (sys_id is None):
            raise ShapeViolation(f"{request.method} {path}: this fake POSTs incidents and PATCHes or PUTs one")
        if not self._has_role(user, ("itil", "admin", "sn_incident_write")):
            verb = "Insert" if request.method == "POST" else "Update"
            raise _Refusal(403, "Operation Failed", f"ACL Exception {verb} Failed due to security constraints")
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            raise ShapeViolation(f"{request.method} {path}: Content-Type is {request.headers.get('content-type')!r}")
        body = request.json()
        if not isinstance(body, dict):
            raise ShapeViolation(f"{request.method} {path}: the body must be a JSON object")
        current = self._new_incident(user) if request.method == "POST" else self._record(table, sys_id)
        saved = self._render(table, self._save(current, body, user), query, base)
        return 201 if request.method == "POST" else 200, {"result": saved}, {}

    def _list(
        self, table: str, query: dict[str, str], user: Record, base: str, path: str
    ) -> tuple[int, Any, dict[str, str]]:
        groups, order = self._parse(table, query.get("sysparm_query", ""), user)
        rows = [
            row
            for row in self._tables[table].values()
            if all(any(self._test(table, row, c) for c in g) for g in groups)
        ]
        for name, descending in reversed(order):
            rows.sort(key=functools.partial(self._sort_key, table, name), reverse=descending)
        limit = min(int(float(query.get("sysparm_limit", "10000"))), self.page_size)
        offset = int(float(query.get("sysparm_offset", "0")))
        if offset < 0 or limit < 1:
            raise ShapeViolation(f"sysparm_offset {offset} / sysparm_limit {limit}: pass 0 or more / 1 or more")
        headers = {"X-Total-Count": str(len(rows))}
        if self.links and query.get("sysparm_suppress_pagination_header", "false").lower() != "true":
            links = [("first", 0), ("prev", max(0, offset - limit)) if offset else None]
            links += [("next", offset + limit) if offset + limit < len(rows) else None]
            links.append(("last", max(0, (len(rows) - 1) // limit * limit)))
            headers["Link"] = ",".join(
                f'<{base}{path}?{urlencode({**query, "sysparm_offset": at, "sysparm_limit": limit})}>;rel="{rel}"'
                for rel, at in filter(None, links)
            )
        page = rows[offset : offset + limit]
        return 200, {"result": [self._render(table, row, query, base) for row in page]}, headers

    def _record(self, table: str, sys_id: str) -> Record:
        if (found := self._tables[table].get(sys_id)) is None:
            raise _Refusal(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
        return found

    def _resolve(self, table: str, row: Record, name: str) -> tuple[str, str, str | None]:
        """``name``'s (value, display value, referenced table), dot-walking; a violation for unknown fields."""
        *hops, last = name.split(".")
        for hop in hops:
            target = REFERENCES.get((table, hop))
            if target is None:
                raise ShapeViolation(f"{table}.{hop} is not a reference field (in {name!r})")
            table, row = target, self._tables[target].get(row.get(hop, ""), {})
        if last not in TABLES[table]:
            raise ShapeViolation(f"table {table} has no field {last!r}")
        value = row.get(last, "")
        ref = REFERENCES.get((table, last))
        if ref is not None:
            return value, self._tables[ref].get(value, {}).get(DISPLAY[ref], ""), ref
        return value, CHOICES.get(last, {}).get(value, value) if table == "incident" else value, None

    def _render(self, table: str, row: Record, query: dict[str, str], base: str) -> dict[str, Any]:
        mode = query.get("sysparm_display_value", "false").lower()
        links = query.get("sysparm_exclude_reference_link", "false").lower() != "true"
        names = [n for n in query.get("sysparm_fields", "").split(",") if n.strip()]
        out: dict[str, Any] = {}
        for name in names or [n for n in TABLES[table] if n not in ("comments", "work_notes")]:
            value, shown, ref = self._resolve(table, row, name.strip())
            link = {"link": f"{base}/api/now/table/{ref}/{value}"} if ref and value and links else {}
            if mode == "all":
                out[name] = {"display_value": shown, "value": value, **link}
            elif mode == "true":
                out[name] = {"display_value": shown, **link} if link else shown
            else:
                out[name] = {"value": value, **link} if link else value
        if table == "incident":
            out |= self.extra_fields
            for name in self.drop_fields:
                out.pop(name, None)
        return out

    def _parse(self, table: str, text: str, user: Record) -> tuple[list[list[Condition]], list[tuple[str, bool]]]:
        groups: list[list[Condition]] = []
        order: list[tuple[str, bool]] = []
        for part in filter(None, _split(text)):
            if part.startswith("ORDERBY"):
                descending = part.startswith("ORDERBYDESC")
                order.append((part.removeprefix("ORDERBYDESC" if descending else "ORDERBY"), descending))
                self._resolve(table, {}, order[-1][0])
                continue
            alternative = part.startswith("OR")
            match = _CONDITION.fullmatch(part[2:] if alternative else part)
            if match is None or (alternative and not groups):
                raise ShapeViolation(f"encoded query part {part!r} is outside what this fake understands")
            name, op, want = match.groups()
            self._resolve(table, {}, name)
            if want.startswith("javascript:"):
                if want != "javascript:gs.getUserID()":
                    raise ShapeViolation(f"encoded query value {want!r}: only javascript:gs.getUserID() is understood")
                want = user["sys_id"]
            if alternative:
                groups[-1].append((name, op, want))
            else:
                groups.append([(name, op, want)])
        return groups, order

    def _sort_key(self, table: str, name: str, row: Record) -> str:
        return self._resolve(table, row, name)[0]

    def _test(self, table: str, row: Record, condition: Condition) -> bool:
        name, op, want = condition
        return _compare(op, self._resolve(table, row, name)[0], want)

    def _save(self, current: Record, body: dict[str, Any], user: Record) -> Record:
        """Apply ``body`` to an incident as ``user`` would through the API: checked, then stored whole or not at all."""
        if current.get("state") in ("7", "8") and current["sys_id"] in self._tables["incident"]:
            raise _Refusal(403, "Operation Failed", "ACL Exception Update Failed due to security constraints")
        row, journal = dict(current), []
        for name, given in body.items():
            if name not in INCIDENT_WRITABLE:
                raise ShapeViolation(f"incident has no writable field {name!r}")
            if not isinstance(given, str | int) and given is not None:
                raise ShapeViolation(f"incident.{name} must be a string, not {given!r}")
            value = "" if given is None else str(given)
            ref = REFERENCES.get(("incident", name))
            if ref is not None and value and value not in self._tables[ref]:
                raise ShapeViolation(f"incident.{name} = {value!r} is no sys_id of {ref}")
            if name in CHOICES and value not in CHOICES[name] and (value or name != "hold_reason"):
                raise ShapeViolation(f"incident.{name} = {value!r} is not one of {sorted(CHOICES[name])}")
            if name in ("comments", "work_notes"):
                journal += [(name, value)] if value.strip() else []
            else:
                row[name] = value
        row["priority"] = str(priority_for(Impact(int(row["impact"])), Urgency(int(row["urgency"]))).value)
        if row["state"] in ("6", "7"):
            labels = (("close_code", "Resolution code"), ("close_notes", "Resolution notes"))
            missing = [label for key, label in labels if not row[key].strip()]
            if missing:
                detail = f"Data Policy Exception: \n The following fields are mandatory: {', '.join(missing)}"
                raise _Refusal(403, "Operation Failed", detail)
        now = _now()
        if row["state"] != current.get("state"):
            row["resolved_at"] = now if row["state"] == "6" else row["resolved_at"]
            row["closed_at"] = now if row["state"] == "7" else row["closed_at"]
        row["active"] = "false" if row["state"] in ("7", "8") else "true"
        row |= {"sys_updated_on": now, "sys_updated_by": user["user_name"]}
        row["sys_mod_count"] = str(int(row["sys_mod_count"]) + 1)
        self._tables["incident"][row["sys_id"]] = row
        for element, text in journal:
            entry = {"name": "incident", "element": element, "element_id": row["sys_id"], "value": text}
            self._insert("sys_journal_field", entry, by=user["user_name"])
        return row

    def _new_incident(self, user: Record) -> Record:
        row = dict.fromkeys(TABLES["incident"], "")
        row |= {"sys_id": secrets.token_hex(16), "number": f"INC{next(self._numbers):07d}", "state": "1"}
        row |= {"impact": "3", "urgency": "3", "opened_at": _now(), "opened_by": user["sys_id"], "sys_mod_count": "-1"}
        row |= {"sys_created_on": _now(), "sys_created_by": user["user_name"]}
        return row

    def _insert(self, table: str, values: Record, *, by: str = "system") -> Record:
        now = _now()
        row = dict.fromkeys(TABLES[table], "") | values
        row |= {"sys_id": secrets.token_hex(16), "sys_created_on": now, "sys_created_by": by}
        row |= {"sys_updated_on": now, "sys_updated_by": by, "sys_mod_count": "0"}
        self._tables[table][row["sys_id"]] = row
        return row

    def _find(self, table: str, name: str, value: str) -> Record:
        found = next((r for r in self._tables[table].values() if r[name].casefold() == value.casefold()), None)
        if found is None:
            raise KeyError(f"{table} has no record with {name} {value!r}")
        return found

    def _has_role(self, user: Record, roles: tuple[str, ...]) -> bool:
        grants = [r["role"] for r in self._tables["sys_user_has_role"].values() if r["user"] == user["sys_id"]]
        return any(self._tables["sys_user_role"][role]["name"] in roles for role in grants)

    def _as_staff(self, number: str, body: dict[str, str]) -> None:
        with self._lock:
            self._save(self.incident(number), body, self._find("sys_user", "user_name", "ana.lopez"))

    def _seed(self) -> None:
        for role in ("itil", "admin", "sn_incident_write", "snc_read_only"):
            self._insert("sys_user_role", {"name": role})
        for user_name, name, email, roles in USERS:
            self._insert("sys_user", {"user_name": user_name, "name": name, "email": email, "active": "true"})
            self.set_roles(user_name, roles)
        for group in GROUPS:
            self._insert("sys_user_group", {"name": group, "description": f"{group} team", "active": "true"})
