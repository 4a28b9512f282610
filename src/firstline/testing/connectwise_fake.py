"""An in-memory ConnectWise PSA (Manage) REST API on 127.0.0.1, for the ConnectWise connector's tests.

No OpenAPI spec for ConnectWise is stored (``../shared/specs/README.md``: ``All.json`` not obtainable).
The shapes follow the vendor documentation, for facts only: the PSA OpenAPI 2025.1 as rendered by the
generated client docs at github.com/Jetbuilt/connect_wise (``docs/Ticket.md``: ``summary`` required and
at most 100 characters, ``company`` required, ``impact`` / ``severity`` Low/Medium/High; ``ServiceNote.md``,
``PatchOperation.md``, ``ErrorResponseMessage.md`` + ``ValidationError.md``, ``BoardStatus.md``,
``Priority.md``, ``TicketBundle.md``; ``TicketsApi.md``: the ``clientId`` header and ``Accept:
application/vnd.connectwise.com+json; version=2025.1``); developer.connectwise.com "ClientID", "PSA API
Requests" (429 with ``Retry-After`` seconds), "PSA Pagination" (``page`` / ``pageSize`` up to 1000, the
navigable ``Link`` header), "Developer Guide" (Basic ``company+publicKey:privateKey``; ``conditions``
with quoted strings and bracketed dates) and "PSA Callbacks", read in the copies under
gitea.resolutionflow.com/chihlasm/resolutionflow/docs/connectwise/; callback signing from the developer
guide's Webhooks section as NangoHQ/nango PR #4950 and connectwise-rest implement it: ``x-content-signature`` is the
base64 HMAC-SHA256 of the body keyed with SHA-256 of a rotating key served (without credentials) at the
payload's ``Metadata.key_url``. Priorities are ConnectWise's defaults ("Priority 1 - Emergency Response").
Requests the API refuses outright (no ``clientId``, a malformed ``Authorization``, an unknown field, a
JSON Patch op it does not take, ``conditions`` this fake cannot read) are recorded in ``violations``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from firstline.testing.loopback import LoopbackServer, Reply, Request, ShapeViolation
from firstline.ticketing.models import TicketState

__all__ = ["API_PATH", "FakeConnectWise"]

API_PATH = "/v4_6_release/apis/3.0"
KEY_PATH = "/v4_6_release/system/callbackkey/index.rails"
STAFF_STATUS = {"new": "New", "in_progress": "In Progress", "on_hold": "Waiting Customer", "resolved": "Resolved",
                "closed": "Closed", "canceled": "Cancelled"}  # fmt: skip
LEVELS = ("Low", "Medium", "High")
TICKET_FIELDS = {
    "summary", "company", "board", "status", "priority", "impact", "severity", "contactEmailAddress", "contact",
    "team", "type", "subType", "item", "owner", "externalXRef", "initialDescription", "initialInternalAnalysis",
    "initialResolution", "recordType", "processNotifications", "skipCallback", "site", "source", "requiredDate",
}  # fmt: skip
PATCHABLE = {"summary", "status", "priority", "impact", "severity", "team", "type", "owner", "contactEmailAddress",
             "externalXRef"}  # fmt: skip
NOTE_FIELDS = {"text", "detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag", "issueFlag",
               "processNotifications", "customerUpdatedFlag", "member", "contact"}  # fmt: skip
LIST_PARAMS = {"conditions", "childConditions", "customFieldConditions", "orderBy", "fields", "columns", "page",
               "pageSize", "pageId"}  # fmt: skip
DATE_FIELDS = {"_info/lastUpdated", "_info/dateEntered", "dateCreated", "dateResolved", "closedDate"}
ALIASES = {"lastUpdated": "_info/lastUpdated", "dateEntered": "_info/dateEntered"}
_CLAUSE = re.compile(
    r"\s*(?P<field>[A-Za-z_][\w/]*)\s*(?P<op><=|>=|!=|=|<|>|\s(?:contains|like|in)\s)\s*"
    r'(?P<value>"(?:[^"\\]|\\.)*"|\[[^\]]*\]|-?\d+(?:\.\d+)?|true|false|null|\((?:[^()"]|"(?:[^"\\]|\\.)*")*\))'
    r"\s*(?:(?P<join>and|or)\s|$)",
    re.IGNORECASE,
)


class _Refused(Exception):
    """An answer ConnectWise gives with its error body (400 validation, 404, ...)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def signature(key: str, body: bytes) -> str:
    """What ConnectWise puts in ``x-content-signature``: base64 HMAC-SHA256 keyed with SHA-256(key)."""
    digest = hmac.new(hashlib.sha256(key.encode()).digest(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def conditions(text: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate for ``conditions`` clauses joined by ``and`` / ``or`` (``and`` first; no parentheses here)."""
    groups: list[list[Callable[[dict[str, Any]], bool]]] = [[]]
    pos, join = 0, None
    while pos < len(text.rstrip()):
        if not (match := _CLAUSE.match(text, pos)):
            raise ShapeViolation(f'conditions {text!r}: cannot read {text[pos:]!r} (strings in "", dates in [])')
        path, op = ALIASES.get(match["field"], match["field"]), match["op"].strip().lower()
        value = _value(match["value"], text)
        if path in DATE_FIELDS and not isinstance(value, datetime) and value is not None:
            raise ShapeViolation(f"conditions {text!r}: dates go in square brackets, e.g. [2026-12-05T08:00:00Z]")
        groups[-1].append(partial(_compare, path=path, op=op, value=value))
        if (join := (match["join"] or "").lower()) == "or":
            groups.append([])
        pos = match.end()
    if join or not groups[-1]:
        raise ShapeViolation(f"conditions {text!r} end with and/or, or are empty")
    return lambda record: any(all(clause(record) for clause in group) for group in groups)


def _value(text: str, conditions: str) -> Any:
    if text.startswith('"'):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if text.startswith("("):
        return [_value(part.strip(), conditions) for part in re.findall(r'"(?:[^"\\]|\\.)*"|[^,()\s]+', text)]
    if text.startswith("["):
        try:
            return _when(text[1:-1])
        except ValueError:
            raise ShapeViolation(f"conditions {conditions!r}: {text} is not a date") from None
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text) if "." in text else int(text)
    return {"true": True, "false": False, "null": None}[text.lower()]


def _lookup(record: dict[str, Any], path: str) -> Any:
    head, *rest = path.split("/")
    if head not in record:
        raise ShapeViolation(f"conditions name {path!r}, which these records do not have")
    value = record[head]
    for part in rest:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _compare(record: dict[str, Any], *, path: str, op: str, value: Any) -> bool:
    field = _lookup(record, path)
    if isinstance(value, datetime):
        field = _when(field) if isinstance(field, str) else None
    field = field.casefold() if isinstance(field, str) else field
    if op == "in":
        return field in [v.casefold() if isinstance(v, str) else v for v in value]
    value = value.casefold() if isinstance(value, str) else value
    if op == "contains":
        return isinstance(field, str) and isinstance(value, str) and value in field
    if op == "like":
        pattern = re.escape(str(value)).replace(r"\*", ".*").replace("%", ".*")
        return isinstance(field, str) and re.fullmatch(pattern, field) is not None
    if op in ("=", "!="):
        return (field == value) is (op == "=")
    if field is None or value is None:
        return False
    return bool({"<": field < value, "<=": field <= value, ">": field > value, ">=": field >= value}[op])


EXTRA_TEAMS = (
    "End User Computing", "Messaging", "Print Services", "Telephony", "Security Operations", "Desktop Support",
    "Identity & Access Management",
)  # fmt: skip


class FakeConnectWise:
    """ConnectWise PSA with one customer company, a "Help Desk" board and the integration's API member."""

    company = "firstlinemsp"
    public_key = "pUbl1cKey4Firstl"
    private_key = "Pr1vat3Key4Firstl1ne"
    client_id = "9a1f3c2e-5b7d-4e8f-a0b1-c2d3e4f5a6b7"
    member = "firstline"
    staff = "TNowicki"
    customer = "Fabrikam"
    board = "Help Desk"

    def __init__(self, *, page_size: int = 3) -> None:
        self.page_size = page_size
        self._server = LoopbackServer(self._app)
        self.violations, self.seen, self.url = self._server.violations, self._server.seen, ""
        self._lock = threading.Lock()
        self._fail: tuple[int, int, float | None] = (0, 0, None)
        self._lose_next = False
        self._keys: dict[str, str] = {}
        self._tickets: dict[int, dict[str, Any]] = {}
        self._notes: dict[int, list[dict[str, Any]]] = {}
        self._ids = iter(range(48210, 10**9))
        Rows = list[dict[str, Any]]
        active = {"id": 1, "name": "Active"}
        self.companies: Rows = [{"id": 250, "identifier": self.customer, "name": "Fabrikam, Inc.", "status": active},
                                {"id": 251, "identifier": "Contoso", "name": "Contoso", "status": active}]  # fmt: skip
        people = (
            (141, self.staff, "Tomasz", "Nowicki"),
            (142, "AOkafor", "Ada", "Okafor"),
            (143, "", "Helena", "Marsh"),
        )
        self.contacts: Rows = [
            {"id": i - 40, "firstName": first, "lastName": last, "company": {"id": 250, "identifier": self.customer},
             "communicationItems": [{"type": {"id": 1, "name": "Email"}, "value": f"{first}.{last}@example.com".lower(),
                                     "defaultFlag": True}]}
            for i, _, first, last in people[::2]
        ]  # fmt: skip
        self.members: Rows = [
            {"id": i, "identifier": who, "firstName": first, "lastName": last, "name": f"{first} {last}",
             "licenseClass": "A" if i == 140 else "F", "primaryEmail": f"{first}.{last}@example.com".lower(),
             "inactiveFlag": False}
            for i, who, first, last in ((140, self.member, "Firstline", "Integration"), *people[:2])
        ]  # fmt: skip
        self.boards: Rows = [{"id": 1, "name": self.board, "inactiveFlag": False, "projectFlag": False},
                             {"id": 2, "name": "Projects", "inactiveFlag": False, "projectFlag": True}]  # fmt: skip
        names = ("New", "In Progress", "Waiting Customer", "Scheduled", "Resolved", "Closed", "Cancelled")
        self.statuses: Rows = [
            {"id": 11 + i, "name": name, "board": {"id": 1, "name": self.board}, "sortOrder": i, "defaultFlag": i == 0,
             "inactive": False, "closedStatus": name in ("Closed", "Cancelled"), "displayOnBoard": True}
            for i, name in enumerate(names)
        ]  # fmt: skip
        self.teams: Rows = [{"id": 21, "name": "Service Desk", "boardId": 1, "defaultFlag": True},
                            {"id": 22, "name": "Network Ops", "boardId": 1, "defaultFlag": False}]  # fmt: skip
        for number, name in enumerate(EXTRA_TEAMS, start=23):  # the rest of the demo organisation's groups
            self.teams.append({"id": number, "name": name, "boardId": 1, "defaultFlag": False})
        self.types: Rows = [{"id": 31 + i, "name": n, "board": {"id": 1, "name": self.board}, "inactiveFlag": False}
                            for i, n in enumerate(("Network", "Hardware", "Software", "Access"))]  # fmt: skip
        levels = ("Emergency Response", "Quick Response", "Normal Response", "Scheduled Maintenance", "Next Time")
        self.priorities: Rows = [{"id": (8, 7, 4, 6, 15)[i], "name": f"Priority {i + 1} - {n}", "sortOrder": i + 1,
                                  "color": ("red", "orange", "yellow", "white", "purple")[i], "defaultFlag": i == 2,
                                  "level": ("Critical", "High", "Medium", "Low", "NotApplicable")[i]}
                                 for i, n in enumerate(levels)]  # fmt: skip

    # -- lifecycle and the VendorFake controls -------------------------------------------------------------
    def __enter__(self) -> FakeConnectWise:
        self._server.start()
        self.url = self._server.url
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.stop()

    def count(self) -> int:
        return len(self._tickets)

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        self._fail = (status, times, retry_after)

    def lose_next_answer(self) -> None:
        self._lose_next = True

    def ticket(self, number: str) -> dict[str, Any]:
        """The ticket as stored (a copy), for assertions."""
        return copy.deepcopy(self._tickets[int(number)])

    def notes(self, number: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self._notes[int(number)])

    def staff_change(self, number: str, *, state: TicketState | None = None, assigned_to: str | None = None) -> None:
        with self._lock:
            ticket = self._tickets[int(number)]
            if state is not None:
                self._set_status(ticket, {"name": STAFF_STATUS[state.value]})
            if assigned_to is not None:
                ticket["owner"] = self._ref("member", self._find(self.members, {"identifier": assigned_to}, "owner"))
            self._touch(ticket, self.staff)

    def staff_comment(self, number: str, body: str, *, public: bool = True) -> None:
        with self._lock:
            flags = {"detailDescriptionFlag": public, "internalAnalysisFlag": not public}
            self._add_note(self._tickets[int(number)], {"text": body, **flags}, self.staff)

    def webhook(
        self, number: str, *, good_signature: bool = True, kind: str = "ticket"
    ) -> tuple[dict[str, str], bytes]:
        key_id, key = str(uuid.uuid4()), secrets.token_urlsafe(24)
        self._keys[key_id] = key
        payload = {
            "MessageId": str(uuid.uuid4()), "FromUrl": self.url, "CompanyId": self.company, "MemberId": self.staff,
            "Action": "updated", "Type": kind, "ID": int(number), "Entity": json.dumps(self._tickets[int(number)]),
            "Metadata": {"key_url": f"{self.url}{KEY_PATH}?{urlencode({'companyName': self.company, 'id': key_id})}"},
            "CallbackObjectRecId": 1,
        }  # fmt: skip
        body = json.dumps(payload).encode()
        signed_with = key if good_signature else secrets.token_urlsafe(24)
        return {"x-content-signature": signature(signed_with, body), "content-type": "application/json"}, body

    # -- HTTP -------------------------------------------------------------------------------------------------
    def _app(self, request: Request) -> Reply:
        with self._lock:
            try:
                return self._handle(request)
            except _Refused as refused:
                return self._error(refused.status, refused.code, refused.message, refused.field)

    def _handle(self, request: Request) -> Reply:
        split = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        if split.path == KEY_PATH and request.method == "GET":  # served without credentials
            if query.get("id") not in self._keys:
                raise _Refused(404, "NotFound", "Callback key not found")
            return 200, json.dumps({"signing_key": self._keys[query["id"]]}).encode()
        if not split.path.startswith(API_PATH + "/"):
            raise ShapeViolation(f"{split.path} is not under the codebase path {API_PATH}")
        if not request.headers.get("clientid"):
            self.violations.append(f"{request.method} {split.path} without the clientId header")
            raise _Refused(400, "InvalidObject", "clientId header is required: see developer.connectwise.com/ClientID")
        accept = request.headers.get("accept", "")
        if "vnd.connectwise.com" in accept and not re.search(r"\+json;\s*version=\d{4}\.\d+", accept):
            raise ShapeViolation(f"Accept {accept!r}: use application/vnd.connectwise.com+json; version=2025.1")
        if request.method == "PATCH" and request.headers.get("content-type") != "application/json":
            raise ShapeViolation(f"PATCH with Content-Type {request.headers.get('content-type')!r}")
        self._authenticate(request.headers.get("authorization", ""))
        status, times, retry_after = self._fail
        if times > 0:
            self._fail = (status, times - 1, retry_after)
            extra = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            return status, json.dumps({"code": "Injected", "message": f"injected HTTP {status}"}).encode(), extra
        reply = self._route(request, split.path[len(API_PATH) :], query)
        if self._lose_next and request.method != "GET":
            self._lose_next = False
            return self._error(503, "ServiceUnavailable", "the answer got lost")
        return reply

    def _authenticate(self, header: str) -> None:
        scheme, _, token = header.partition(" ")
        try:
            user, _, private = base64.b64decode(token, validate=True).decode().partition(":")
        except ValueError:
            user = private = ""
        company, plus, public = user.partition("+")
        if scheme != "Basic" or not plus or not private:
            raise ShapeViolation("Authorization must be Basic base64('company+publicKey:privateKey')")
        if (company, public, private) != (self.company, self.public_key, self.private_key):
            raise _Refused(401, "Unauthorized", "The public and private key pair is not valid for this company")

    def _route(self, request: Request, path: str, query: dict[str, str]) -> Reply:
        lists: dict[str, Callable[[], list[dict[str, Any]]]] = {
            "/system/members": lambda: self.members, "/company/companies": lambda: self.companies,
            "/company/contacts": lambda: self.contacts, "/service/boards": lambda: self.boards,
            "/service/priorities": lambda: self.priorities, "/service/tickets": lambda: list(self._tickets.values()),
            "/service/boards/1/statuses": lambda: self.statuses, "/service/boards/1/types": lambda: self.types,
            "/service/boards/1/teams": lambda: self.teams, "/service/boards/2/statuses": list,
        }  # fmt: skip
        method = request.method
        match = re.fullmatch(r"/service/tickets/(\d+)(/notes(?:/(\d+))?|/attachChildren)?", path)
        if method == "GET" and path in lists:
            return self._page(request, path, query, lists[path]())
        if method == "GET" and path == "/system/info":
            return 200, json.dumps({"version": "v2025.1.12345", "isCloud": True, "cloudRegion": "NA",
                                    "serverTimeZone": "Eastern Standard Time", "licenseBits": []}).encode()  # fmt: skip
        if method == "POST" and path == "/service/tickets":
            return 201, json.dumps(self._create(self._object(request))).encode()
        if not match:
            raise _Refused(404, "NotFound", f"{method} {path} is not an endpoint of this fake")
        ticket = self._tickets.get(int(match[1]))
        if ticket is None:
            raise _Refused(404, "NotFound", f"Ticket Id {match[1]} not found")
        tail = match[2] or ""
        if tail == "" and method in ("GET", "PATCH"):
            return 200, json.dumps(self._patch(ticket, request.json()) if method == "PATCH" else ticket).encode()
        if tail == "/notes" and method == "GET":
            return self._page(request, path, query, self._notes[ticket["id"]])
        if tail == "/notes" and method == "POST":
            return 201, json.dumps(self._add_note(ticket, self._object(request), self.member)).encode()
        if tail.startswith("/notes/") and method == "PATCH":
            note = next((n for n in self._notes[ticket["id"]] if n["id"] == int(match[3])), None)
            if note is None:
                raise _Refused(404, "NotFound", f"Note {match[3]} not found")
            for op in self._operations(request.json(), {"text"}):
                note["text"], note["_info"] = op["value"], {"lastUpdated": _now(), "updatedBy": self.member}
            return 200, json.dumps(note).encode()
        if tail == "/attachChildren" and method == "POST":
            children = self._object(request).get("childTicketIds")
            if not isinstance(children, list) or not all(isinstance(c, int) for c in children):
                raise ShapeViolation("attachChildren takes {'childTicketIds': [ticket ids]}")
            for child in children:
                if child not in self._tickets:
                    raise _Refused(400, "InvalidField", f"Ticket {child} not found", "childTicketIds")
                self._tickets[child]["parentTicketId"] = ticket["id"]
                self._touch(self._tickets[child], self.member)
            ticket["hasChildTicket"] = True
            return 200, json.dumps({"success": True, "message": f"{len(children)} attached"}).encode()
        raise _Refused(405, "MethodNotAllowed", f"{method} is not allowed on {path}")

    def _page(self, request: Request, path: str, query: dict[str, str], records: list[dict[str, Any]]) -> Reply:
        if unknown := set(query) - LIST_PARAMS:
            raise ShapeViolation(f"unknown query parameters {sorted(unknown)}; ConnectWise takes {sorted(LIST_PARAMS)}")
        try:
            page, size = int(query.get("page", "1")), int(query.get("pageSize", "25"))
        except ValueError:
            raise ShapeViolation(f"page / pageSize must be integers: {query}") from None
        if page < 1 or not 1 <= size <= 1000:
            raise ShapeViolation(f"page must be 1 or more and pageSize 1 to 1000, not {page} / {size}")
        if "conditions" in query:
            keep = conditions(query["conditions"])
            records = [r for r in records if keep(r)]
        records = sorted(records, key=lambda r: r["id"])
        for clause in reversed([c.split() for c in query.get("orderBy", "").split(",") if c.strip()]):
            field, desc = ALIASES.get(clause[0], clause[0]), clause[-1].lower() == "desc"
            records = sorted(records, key=lambda r: (_lookup(r, field) is None, _lookup(r, field) or 0), reverse=desc)
        size = min(size, self.page_size)
        last = max(1, -(-len(records) // size))
        links = {"first": 1, "prev": page - 1} if page > 1 else {}
        links |= {"next": page + 1, "last": last} if page < last else {}
        base = f"{self.url}{API_PATH}{path}"
        link = ", ".join(f'<{base}?{urlencode(query | {"page": n, "pageSize": size}, quote_via=quote)}>; rel="{rel}"'
                         for rel, n in links.items())  # fmt: skip
        body = json.dumps(records[(page - 1) * size : page * size]).encode()
        return (200, body, {"Link": link}) if link else (200, body)

    # -- records ----------------------------------------------------------------------------------------------
    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        if unknown := set(body) - TICKET_FIELDS:
            raise ShapeViolation(f"POST /service/tickets with fields a ticket does not have: {sorted(unknown)}")
        summary = body.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise _Refused(400, "MissingRequiredField", "The summary field is required.", "summary")
        if "company" not in body:
            raise _Refused(400, "MissingRequiredField", "The company field is required.", "company")
        board = self._find(self.boards, body.get("board", {"name": self.board}), "board")
        now, ticket_id = _now(), next(self._ids)
        ticket: dict[str, Any] = {
            "id": ticket_id, "summary": "", "recordType": "ServiceTicket", "board": self._ref("board", board),
            "status": None, "company": self._ref("company", self._find(self.companies, body["company"], "company")),
            "site": {"id": 1180, "name": "Main"}, "contact": None, "contactName": None, "contactEmailAddress": None,
            "type": None, "subType": None, "item": None, "team": None, "owner": None, "priority": None,
            "serviceLocation": {"id": 2, "name": "Remote"}, "source": {"id": 6, "name": "Integration"},
            "severity": "Medium", "impact": "Medium", "externalXRef": None, "allowAllClientsPortalView": False,
            "customerUpdatedFlag": False, "closedFlag": False, "closedDate": None, "closedBy": None,
            "dateResolved": None, "parentTicketId": None, "hasChildTicket": False, "approved": True,
            "estimatedTimeCost": 0.0, "billTime": "NoDefault", "mobileGuid": str(uuid.uuid4()),
            "currency": {"id": 7, "symbol": "$", "isoCode": "USD", "name": "US Dollars"}, "integratorTags": [],
            "slaStatus": "Respond", "customFields": [], "escalationLevel": 0, "minutesWaiting": 0,
            "aiSummary": {"state": "pending", "model": "future-field"},
            "_info": {"lastUpdated": now, "updatedBy": self.member, "dateEntered": now, "enteredBy": self.member,
                      "notes_href": f"{self.url}{API_PATH}/service/tickets/{ticket_id}/notes"},
        }  # fmt: skip
        self._set_status(ticket, body.get("status", {"name": "New"}))
        ticket["priority"] = self._ref(
            "priority", self._find(self.priorities, {"name": "Priority 3 - Normal Response"}, "priority")
        )
        self._apply(ticket, {k: v for k, v in body.items() if k in PATCHABLE})
        if (email := body.get("contactEmailAddress")) is not None:
            contact = next((c for c in self.contacts if c["communicationItems"][0]["value"] == email), None)
            ticket["contact"] = contact and {
                "id": contact["id"],
                "name": f"{contact['firstName']} {contact['lastName']}",
            }
        self._tickets[ticket_id], self._notes[ticket_id] = ticket, []
        for key, flag in (("initialDescription", "detailDescriptionFlag"), ("initialInternalAnalysis",
                          "internalAnalysisFlag"), ("initialResolution", "resolutionFlag")):  # fmt: skip
            if body.get(key):
                self._add_note(ticket, {"text": body[key], flag: True}, self.member, touch=False)
        return ticket

    def _patch(self, ticket: dict[str, Any], operations: Any) -> dict[str, Any]:
        changes = {op["path"]: op.get("value") for op in self._operations(operations, PATCHABLE)}
        self._apply(ticket, changes)
        self._touch(ticket, self.member)
        return ticket

    def _operations(self, operations: Any, paths: set[str]) -> list[dict[str, Any]]:
        if not isinstance(operations, list) or not operations:
            raise ShapeViolation(f"PATCH takes a non-empty JSON Patch array, not {operations!r}")
        for op in operations:
            if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove") or "path" not in op:
                raise ShapeViolation(f"bad JSON Patch operation {op!r}: op add/replace/remove, a path, a value")
            op["path"] = str(op["path"]).lstrip("/")
            if op["path"] not in paths or (op["op"] != "remove" and "value" not in op):
                raise ShapeViolation(f"JSON Patch {op!r}: path must be one of {sorted(paths)}, with a value")
        return operations

    def _apply(self, ticket: dict[str, Any], changes: dict[str, Any]) -> None:
        board = ticket["board"]["id"]
        for path, value in changes.items():
            if path in ("impact", "severity") and value not in LEVELS:
                raise _Refused(400, "InvalidField", f"{path} must be one of {', '.join(LEVELS)}", path)
            if path == "summary" and (not isinstance(value, str) or not 0 < len(value) <= 100):
                raise _Refused(400, "InvalidField", "summary is required and may be at most 100 characters", "summary")
            if path in ("externalXRef", "contactEmailAddress") and value is not None and len(value) > 100:
                raise _Refused(400, "InvalidField", f"{path} is too long", path)
            if path == "status":
                self._set_status(ticket, value)
            elif path in ("priority", "team", "type", "owner") and value is not None:
                choices = {"priority": self.priorities, "owner": self.members,
                           "team": [t for t in self.teams if t["boardId"] == board],
                           "type": [t for t in self.types if t["board"]["id"] == board]}[path]  # fmt: skip
                ticket[path] = self._ref(path, self._find(choices, value, path))
            else:
                ticket[path] = value

    def _set_status(self, ticket: dict[str, Any], value: Any) -> None:
        board = ticket["board"]["id"]
        status = self._find([s for s in self.statuses if s["board"]["id"] == board], value, "status")
        ticket["status"] = {"id": status["id"], "name": status["name"], "sort": status["sortOrder"]}
        ticket["closedFlag"] = status["closedStatus"]
        ticket["closedDate"] = _now() if status["closedStatus"] else None
        ticket["dateResolved"] = _now() if status["name"] == "Resolved" else ticket["dateResolved"]

    def _add_note(self, ticket: dict[str, Any], body: dict[str, Any], by: str, *, touch: bool = True) -> dict[str, Any]:
        if unknown := set(body) - NOTE_FIELDS:
            raise ShapeViolation(f"a ticket note has no fields {sorted(unknown)}")
        flags = {k: body.get(k, False) for k in ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag")}
        if not all(isinstance(v, bool) for v in flags.values()):
            raise ShapeViolation(f"note flags must be true / false: {flags}")
        if not isinstance(body.get("text"), str) or not body["text"].strip():
            raise _Refused(400, "MissingRequiredField", "The text field is required.", "text")
        if not any(flags.values()):
            raise _Refused(400, "InvalidField", "Set detailDescriptionFlag, internalAnalysisFlag or resolutionFlag",
                           "detailDescriptionFlag")  # fmt: skip
        member = self._find(self.members, {"identifier": by}, "member")
        note = {"id": 9000 + sum(map(len, self._notes.values())), "ticketId": ticket["id"], "text": body["text"],
                **flags, "issueFlag": False, "member": self._ref("member", member), "contact": None,
                "customerUpdatedFlag": False, "processNotifications": True, "dateCreated": _now(), "createdBy": by,
                "internalFlag": flags["internalAnalysisFlag"], "externalFlag": flags["detailDescriptionFlag"],
                "sentimentScore": 0.0, "_info": {"lastUpdated": _now(), "updatedBy": by}}  # fmt: skip
        self._notes[ticket["id"]].append(note)
        if touch:
            self._touch(ticket, by)
        return note

    def _touch(self, ticket: dict[str, Any], by: str) -> None:
        ticket["_info"] |= {"lastUpdated": _now(), "updatedBy": by}

    def _find(self, choices: list[dict[str, Any]], value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict) or not {"id", "name", "identifier"} & set(value):
            raise ShapeViolation(f"{field} must be a reference like {{'id': 1}} or {{'name': '...'}}, not {value!r}")
        for choice in choices:
            if any(k in choice and str(choice[k]).casefold() == str(v).casefold() for k, v in value.items()) or (
                "identifier" in value and choice.get("primaryEmail") == value["identifier"]
            ):
                return choice
        raise _Refused(400, "InvalidField", f"{field} {value!r} was not found", field)

    def _ref(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        ref = {k: record[k] for k in ("id", "identifier", "name", "level") if k in record}
        return ref | {"_info": {f"{kind}_href": f"{self.url}{API_PATH}/{kind}/{record['id']}"}}

    def _object(self, request: Request) -> dict[str, Any]:
        body = request.json()
        if not isinstance(body, dict):
            raise ShapeViolation(f"{request.method} {request.path} takes a JSON object")
        return body

    def _error(self, status: int, code: str, message: str, field: str | None = None) -> Reply:
        body: dict[str, Any] = {"code": code, "message": message}
        if field is not None:
            body = {"code": "InvalidObject", "message": "ticket object is invalid",
                    "errors": [{"code": code, "message": message, "resource": "ticket", "field": field}]}  # fmt: skip
        return status, json.dumps(body).encode(), {}
