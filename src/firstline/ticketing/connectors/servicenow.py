"""ServiceNow incidents through the Table API (``/api/now/table/...``), as a :class:`TicketConnector`.

Credentials are basic auth (``user`` + ``password``) or OAuth 2.0 client credentials (``client_id`` +
``client_secret``, token from ``{url}/oauth_token.do``); the integration user needs the ``itil``
role (or ``sn_incident_write``) and read access to ``sys_user``, ``sys_user_group`` and
``sys_journal_field``. What the connector does on the instance:

- create: looks for an incident with ``correlation_id`` = the Firstline number (and
  ``correlation_display`` = "Firstline") before it posts; the caller is the ``sys_user`` with the
  requester's e-mail, and when nobody has it the incident goes in without a caller and the description
  starts with a line naming the requester (read back as ``requester``). The assignment group is looked
  up by name after ``[ticketing.servicenow.map.groups]``; an unknown one is an ``InputError``. Both
  lookups are cached for the connector's life. The priority is the one the instance computed.
- update: reads the incident, then PATCHes only what differs (a retried change sends nothing);
  resolving sets ``close_code`` (``close_code`` option) and ``close_notes``; on hold sets
  ``hold_reason`` 1 (Awaiting Caller).
- comment: PATCHes ``comments`` (public) or ``work_notes``, then reads the new ``sys_journal_field``
  entry for its id; comments lists those entries, ``ours`` when the integration user wrote them.
- changed_since: ``sys_updated_on>=<since, whole seconds>^ORDERBYsys_updated_on`` (the second
  ``since`` falls in comes again; the mirror ignores what it has), ``limit`` records a page, every page
  followed (``Link: rel="next"`` when the instance sends it, else until a short page).
- webhooks: a business rule POSTs ``{"number": ..., "sys_id": ...}`` with
  ``X-Firstline-Signature: sha256=<hex HMAC-SHA256 of the body>`` keyed with ``webhook_secret``.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from firstline.errors import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigError,
    FirstlineError,
    InputError,
    InvalidTransitionError,
    PermissionDeniedError,
    TicketNotFoundError,
)
from firstline.ticketing.connectors import servicenow_wire as wire
from firstline.ticketing.models import Ticket
from firstline.ticketing.remote import Check, FieldMap, RemoteChange, RemoteComment, RemoteRef, RemoteTicket
from firstline.vendors.http import Auth, BasicAuth, ClientCredentials, VendorHttp, VendorUnavailableError

__all__ = ["ServiceNowConnector", "ServiceNowOptions"]

CREDENTIAL_NAMES: Mapping[str, str] = {
    "user": "FIRSTLINE_TICKETING__SERVICENOW__USER",
    "password": "FIRSTLINE_TICKETING__SERVICENOW__PASSWORD",
    "client_id": "FIRSTLINE_TICKETING__SERVICENOW__CLIENT_ID",
    "client_secret": "FIRSTLINE_TICKETING__SERVICENOW__CLIENT_SECRET",
}
TABLE = "/api/now/table"
ROLES = "the itil role (or sn_incident_write) and read access to sys_user, sys_user_group and sys_journal_field"
MAX_WAIT_S = 30.0
WRITE_ROLES = frozenset({"itil", "sn_incident_write", "admin"})
_ID = {"sysparm_fields": "sys_id"}
_NEXT = re.compile(r'<[^>]*>\s*;\s*rel="?next"?')


@dataclass(frozen=True, slots=True)
class ServiceNowOptions:
    """``[ticketing.servicenow]``: the instance, one pair of credentials, the value map and the close code."""

    url: str
    user: str = ""
    password: str = field(default="", repr=False)
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    fields: FieldMap = field(default_factory=FieldMap)
    close_code: str = "Solved (Permanently)"
    webhook_secret: str = field(default="", repr=False)
    timeout_s: float = 10.0
    retries: int = 3
    credential_names: Mapping[str, str] = field(default_factory=lambda: dict(CREDENTIAL_NAMES))

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ConfigError(
                f"`ticketing.servicenow.url` is {self.url!r}: set it to the instance, e.g. "
                "https://acme.service-now.com (env FIRSTLINE_TICKETING__SERVICENOW__URL)."
            )
        names = {**CREDENTIAL_NAMES, **self.credential_names}
        for first, second in (("user", "password"), ("client_id", "client_secret")):
            if bool(getattr(self, first)) != bool(getattr(self, second)):
                missing = second if getattr(self, first) else first
                raise ConfigError(f"ServiceNow {first} and {second} go together: set {names[missing]} as well.")
        if not (self.user or self.client_id):
            raise ConfigError(
                f"No ServiceNow credentials: set {names['user']} and {names['password']} (basic auth), or "
                f"{names['client_id']} and {names['client_secret']} (OAuth client credentials)."
            )

    def auth(self, clock: Callable[[], float]) -> Auth:
        """OAuth client credentials when a client id is set, else basic auth."""
        names = {**CREDENTIAL_NAMES, **self.credential_names}
        if self.client_id:
            described = f"{names['client_id']} / {names['client_secret']}"
            token_url = f"{self.url.rstrip('/')}/oauth_token.do"
            return ClientCredentials(token_url, self.client_id, self.client_secret, described, clock=clock)
        return BasicAuth(self.user, self.password, f"{names['user']} / {names['password']}")


class _HeaderTap(httpx.BaseTransport):
    """Passes requests on and keeps the headers of the last answer on each thread (for ``Link``)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner
        self._last = threading.local()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        self._last.headers = response.headers
        return response

    def last_headers(self) -> httpx.Headers:
        headers: httpx.Headers = getattr(self._last, "headers", httpx.Headers())
        return headers

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._inner.close()


class ServiceNowConnector:
    """ServiceNow incidents as a :class:`~firstline.ticketing.remote.TicketConnector`; ``transport``,
    ``sleep`` and ``clock`` (the OAuth token's expiry) are for tests."""

    system = "servicenow"

    def __init__(
        self,
        options: ServiceNowOptions,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._options = options
        self._base = options.url.rstrip("/")
        self._sleep = sleep
        self._tap = _HeaderTap(transport or httpx.HTTPTransport())
        auth = options.auth(clock)
        common: dict[str, Any] = {
            "system": "ServiceNow",
            "base_url": self._base,
            "auth": auth,
            "setting": "ticketing.servicenow.url",
            "roles": ROLES,
            "timeout_s": options.timeout_s,
            "transport": self._tap,
            "sleep": sleep,
        }
        self._http = VendorHttp(**common, retries=options.retries)
        self._once = VendorHttp(**common, retries=0)  # non-idempotent writes: the caller looks before it retries
        self._lock = threading.Lock()
        self._users: dict[str, str | None] = {}
        self._groups: dict[str, str] = {}
        self._me: dict[str, Any] | None = None

    # --- reading ------------------------------------------------------------------------------------

    def find(self, firstline_number: str) -> RemoteTicket | None:
        query = f"correlation_id={wire.encoded(firstline_number)}^correlation_display={wire.CORRELATION_DISPLAY}"
        rows = self._page("incident", query, wire.READ_PARAMS, limit=1)
        return self._remote(rows[0]) if rows else None

    def get(self, number: str) -> RemoteTicket:
        rows = self._page("incident", f"number={wire.encoded(number.strip().upper())}", wire.READ_PARAMS, limit=1)
        if not rows:
            raise TicketNotFoundError(number)
        return self._remote(rows[0])

    def comments(self, ref: RemoteRef) -> list[RemoteComment]:
        query = f"element_id={ref.key}^elementINcomments,work_notes^ORDERBYsys_created_on"
        me = self._user_name()
        return [
            wire.to_comment(row, me) for row in self._all("sys_journal_field", query, wire.JOURNAL_PARAMS, limit=100)
        ]

    def changed_since(self, since: datetime, *, limit: int = 200) -> list[RemoteTicket]:
        query = f"sys_updated_on>={wire.sn_time(since)}^ORDERBYsys_updated_on"
        return [self._remote(row) for row in self._all("incident", query, wire.READ_PARAMS, limit=limit)]

    # --- writing ------------------------------------------------------------------------------------

    def create(self, ticket: Ticket) -> RemoteTicket:
        attempt = 0
        while True:
            if (found := self.find(ticket.number)) is not None:
                return found
            body = wire.create_body(
                ticket,
                caller=self._user_id(ticket.requester),
                group=self._group_id(ticket.assignment_group) if ticket.assignment_group else None,
                categories=self._options.fields.categories,
            )
            try:
                answer = self._once.request("POST", f"{TABLE}/incident", params=wire.READ_PARAMS, json_body=body)
                return self._remote(wire.record(answer))
            except VendorUnavailableError as exc:  # maybe carried out: look again before posting again
                attempt = self._wait_or_raise(exc, attempt)

    def update(self, ref: RemoteRef, change: RemoteChange) -> RemoteTicket:
        path = f"{TABLE}/incident/{ref.key}"
        current = wire.record(self._http.request("GET", path, params=wire.READ_PARAMS, not_found=ref.number))
        wanted = self._change_body(ref, current, change)
        body = {name: new for name, new in wanted.items() if new != wire.value(current, name)}
        if not body:
            return self._remote(current)
        if (now := wire.STATES.get(wire.value(current, "state"))) is not None and now.is_final:
            wanted_state = change.state.value if change.state is not None else None
            raise InvalidTransitionError(ref.number, now.value, wanted_state, ())
        answer = self._http.request("PATCH", path, params=wire.READ_PARAMS, json_body=body, not_found=ref.number)
        return self._remote(wire.record(answer))

    def comment(self, ref: RemoteRef, body: str, *, public: bool) -> RemoteComment:
        element = "comments" if public else "work_notes"
        if not body.strip():
            raise InputError("The comment is empty: write what the requester or the team should read.")
        attempt = 0
        while True:
            try:
                params = _ID
                path = f"{TABLE}/incident/{ref.key}"
                self._once.request("PATCH", path, params=params, json_body={element: body}, not_found=ref.number)
                break
            except VendorUnavailableError as exc:  # maybe carried out: a second PATCH would add it twice
                if self._latest_entry(ref, element, body) is not None:
                    break
                attempt = self._wait_or_raise(exc, attempt)
        entry = self._latest_entry(ref, element, body)
        if entry is None:
            raise PermissionDeniedError(
                f"ServiceNow took the {element.replace('_', ' ')} on {ref.number} but the integration user cannot read "
                "it back from sys_journal_field: give it read access to sys_journal_field."
            )
        return wire.to_comment(entry, self._user_name())

    # --- webhooks, checks ---------------------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[str]:
        return wire.webhook_numbers(self._options.webhook_secret, headers, body)

    def check(self) -> Sequence[Check]:
        checks: list[Check] = []
        try:
            self._page("incident", "", _ID, limit=1)
        except BackendUnavailableError as exc:
            return [Check("connection", False, str(exc))]
        except AuthenticationError as exc:
            return [Check("connection", True, self._base), Check("credentials", False, str(exc))]
        except PermissionDeniedError as exc:
            checks += [Check("connection", True, self._base), Check("credentials", True)]
            checks.append(Check("read incident", False, str(exc)))
        except FirstlineError as exc:
            return [Check("connection", False, str(exc))]
        else:
            checks += [Check("connection", True, self._base), Check("credentials", True), Check("read incident", True)]
        me = self._probe(checks, "read sys_user", self._whoami)
        if me is not None:
            checks[-1] = Check("read sys_user", True, f"signed in as {wire.value(me, 'user_name')}")
        for table in ("sys_user_group", "sys_journal_field"):
            self._probe(checks, f"read {table}", functools.partial(self._page, table, "", _ID, limit=1))
        for ours in self._options.fields.groups:
            self._probe(checks, f"group {ours}", functools.partial(self._group_id, ours))
        checks.append(self._write_check(me))
        return checks

    def close(self) -> None:
        self._http.close()
        self._once.close()

    # --- helpers ------------------------------------------------------------------------------------

    def _remote(self, row: Mapping[str, Any]) -> RemoteTicket:
        return wire.to_remote(row, base_url=self._base, groups=self._options.fields.groups)

    def _page(self, table: str, query: str, params: Mapping[str, str], *, limit: int, offset: int = 0) -> list[Any]:
        asked = {**params, "sysparm_limit": str(limit), "sysparm_offset": str(offset)}
        if query:
            asked["sysparm_query"] = query
        return wire.records(self._http.request("GET", f"{TABLE}/{table}", params=asked))

    def _all(self, table: str, query: str, params: Mapping[str, str], *, limit: int) -> list[Any]:
        """Every page: on while ``Link`` says ``rel="next"`` (without a ``Link`` header, while pages are full)."""
        rows: list[Any] = []
        while True:
            page = self._page(table, query, params, limit=limit, offset=len(rows))
            rows += page
            link = self._tap.last_headers().get("link")
            more = _NEXT.search(link) is not None if link is not None else len(page) >= limit
            if not page or not more:
                return rows

    def _wait_or_raise(self, exc: VendorUnavailableError, attempt: int) -> int:
        """Back off as :class:`VendorHttp` does (``Retry-After`` when given, up to 30 s), or give up."""
        wait = exc.retry_after_s if exc.retry_after_s is not None else 0.5 * 2**attempt
        if attempt >= self._options.retries or wait > MAX_WAIT_S:
            raise exc
        self._sleep(wait)
        return attempt + 1

    def _change_body(self, ref: RemoteRef, current: Mapping[str, Any], change: RemoteChange) -> dict[str, str]:
        body: dict[str, str] = {}
        for name in ("short_description", "description"):
            if (text := getattr(change, name)) is not None:
                body[name] = text
        if change.category is not None:
            body["category"] = FieldMap.out(self._options.fields.categories, change.category)
        if change.impact is not None:
            body["impact"] = str(int(change.impact))
        if change.urgency is not None:
            body["urgency"] = str(int(change.urgency))
        if change.assignment_group is not None:
            body["assignment_group"] = self._group_id(change.assignment_group) if change.assignment_group else ""
        if change.assigned_to is not None:
            body["assigned_to"] = self._assignee_id(change.assigned_to) if change.assigned_to else ""
        if change.parent is not None:
            body["parent_incident"] = self._incident_id(change.parent) if change.parent else ""
        if change.resolution_note is not None:
            body["close_notes"] = change.resolution_note
        if change.state is not None:
            body |= wire.state_body(current, change.state, change.resolution_note, self._options.close_code)
        return body

    def _incident_id(self, number: str) -> str:
        query = f"number={wire.encoded(number.strip().upper())}"
        rows = self._page("incident", query, _ID, limit=1)
        if not rows:
            raise TicketNotFoundError(number)
        return wire.value(rows[0], "sys_id")

    def _user_id(self, email: str) -> str | None:
        """The ``sys_id`` of the ``sys_user`` with this e-mail, or ``None`` (cached, misses too)."""
        key = email.strip().lower()
        with self._lock:
            if key in self._users:
                return self._users[key]
        rows = self._page("sys_user", f"email={wire.encoded(key)}^active=true", _ID, limit=1)
        found = wire.value(rows[0], "sys_id") if rows else None
        with self._lock:
            self._users[key] = found
        return found

    def _assignee_id(self, email: str) -> str:
        if (found := self._user_id(email)) is None:
            raise InputError(f"ServiceNow has no active user with the e-mail {email!r} to assign the incident to.")
        return found

    def _group_id(self, name: str) -> str:
        """The ``sys_id`` of the group Firstline calls ``name``, mapped by ``[ticketing.servicenow.map.groups]``."""
        theirs = FieldMap.out(self._options.fields.groups, name)
        with self._lock:
            if theirs in self._groups:
                return self._groups[theirs]
        rows = self._page("sys_user_group", f"name={wire.encoded(theirs)}", _ID, limit=1)
        if not rows:
            mapped = f" (mapped from {name!r})" if theirs != name else ""
            raise InputError(
                f"ServiceNow has no assignment group {theirs!r}{mapped}. Create it there, or map Firstline's "
                f'group to an existing one under [ticketing.servicenow.map.groups] in firstline.toml, e.g. "{name}" = '
                '"Service Desk".'
            )
        with self._lock:
            self._groups[theirs] = wire.value(rows[0], "sys_id")
            return self._groups[theirs]

    def _whoami(self) -> dict[str, Any]:
        """The integration user's ``sys_user`` record (``javascript:gs.getUserID()``: whoever the credentials are)."""
        if self._me is None:
            fields = {"sysparm_fields": "sys_id,user_name"}
            rows = self._page("sys_user", "sys_id=javascript:gs.getUserID()", fields, limit=1)
            if not rows:
                raise PermissionDeniedError(
                    "The ServiceNow integration user cannot read its own sys_user record: "
                    "give it read access to sys_user."
                )
            self._me = rows[0]
        return self._me

    def _user_name(self) -> str:
        return self._options.user if not self._options.client_id else wire.value(self._whoami(), "user_name")

    def _latest_entry(self, ref: RemoteRef, element: str, body: str) -> dict[str, Any] | None:
        # sys_created_on has whole seconds: several notes written in one second come back in any order, so look
        # through every page of the last minutes (with room for clocks that disagree), and compare as the
        # instance stores it (trimmed).
        since = wire.sn_time(datetime.now(UTC) - timedelta(minutes=10))
        query = f"element_id={ref.key}^element={element}^sys_created_on>={since}^ORDERBYDESCsys_created_on"
        rows = self._all("sys_journal_field", query, wire.JOURNAL_PARAMS, limit=50)
        return next((row for row in rows if wire.value(row, "value").strip() == body.strip()), None)

    def _probe(self, checks: list[Check], name: str, call: Callable[[], Any]) -> Any:
        try:
            result = call()
        except FirstlineError as exc:
            checks.append(Check(name, False, str(exc)))
            return None
        checks.append(Check(name, True))
        return result

    def _write_check(self, me: Mapping[str, Any] | None) -> Check:
        unverified = (
            "cannot read the integration user's roles (sys_user_has_role), so write access shows at the first "
            "create: a refusal there names the role to grant"
        )
        if me is None:
            return Check("write incident", True, unverified)
        try:
            query = f"user={wire.value(me, 'sys_id')}"
            rows = self._page("sys_user_has_role", query, {"sysparm_fields": "role.name"}, limit=100)
        except FirstlineError:
            return Check("write incident", True, unverified)
        roles = {wire.value(row, "role.name") for row in rows}
        if roles & WRITE_ROLES:
            return Check("write incident", True, f"has the role {sorted(roles & WRITE_ROLES)[0]}")
        if not roles:
            return Check("write incident", True, unverified)
        return Check(
            "write incident",
            False,
            f"{wire.value(me, 'user_name')} has the roles {', '.join(sorted(roles))} but none that may write "
            "incidents: grant it itil (or sn_incident_write).",
        )
