"""An in-memory Jira Service Management site on 127.0.0.1 for the Jira connector's tests.

:class:`FakeJira` serves the platform and JSM calls the connector makes, in Jira's shapes (keys
``HELP-1``, ADF, statuses with a category, transitions per status, ``nextPageToken`` search,
``errorMessages``/``errors`` or JSM's ``errorMessage``, times in the user's zone). With
``../shared/specs`` there, every request and answer is checked against Atlassian's OpenAPI files
(a request Jira would refuse is answered 422 and kept in ``violations``). ``staff_*`` act as
Tomasz Nowicki, an agent: ``with FakeJira() as jira: JiraOptions(url=jira.url, ...)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo

from firstline.testing.loopback import LoopbackServer, Reply, Request
from firstline.testing.openapi_check import SpecCheck, spec_path, specs_available
from firstline.ticketing.connectors.jira_wire import text_to_adf
from firstline.ticketing.models import TicketState

__all__ = ["FakeJira", "JiraError"]

HOST = "https://your-domain.atlassian.net"  # the server URL in Atlassian's specs
CATEGORIES = {
    "new": (2, "blue-gray", "To Do"),
    "indeterminate": (4, "yellow", "In Progress"),
    "done": (3, "green", "Done"),
}
STATUSES = {  # name: (id, status category)
    "Waiting for support": ("10001", "new"),
    "In Progress": ("3", "indeterminate"),
    "Pending": ("10002", "indeterminate"),
    "Waiting for customer": ("10003", "indeterminate"),
    "Resolved": ("10004", "done"),
    "Closed": ("6", "done"),
    "Canceled": ("10005", "done"),
}
OPEN = frozenset(("Waiting for support", "In Progress", "Pending", "Waiting for customer"))
TRANSITIONS = (  # id, name, to, from, has the resolution screen
    ("11", "Start progress", "In Progress", OPEN - {"In Progress"} | {"Resolved"}, False),
    ("21", "Pending", "Pending", frozenset(("Waiting for support", "In Progress")), False),
    ("31", "Resolve this issue", "Resolved", OPEN, True),
    ("41", "Close", "Closed", frozenset(("Resolved",)), False),
    ("51", "Cancel request", "Canceled", OPEN, False),
    ("61", "Respond to customer", "Waiting for customer", frozenset(("Waiting for support", "In Progress")), False),
)
STAFF_STATUS = dict(zip(TicketState, (*list(STATUSES)[:2], "Pending", "Resolved", "Closed", "Canceled"), strict=True))
RESOLUTIONS = ("Done", "Won't Do", "Duplicate", "Declined")
LINK_TYPES = {"Relates": ("10003", "relates to", "relates to"), "Blocks": ("10000", "is blocked by", "blocks")}
TEAM_FIELD = "customfield_10050"
"""A single-select custom field holding the team (``group_field`` may name it instead of ``components``)."""
PERMISSIONS = ("BROWSE_PROJECTS", "CREATE_ISSUES", "EDIT_ISSUES", "TRANSITION_ISSUES", "ADD_COMMENTS")


@dataclass
class User:
    account_id: str
    email: str
    name: str
    account_type: str = "atlassian"


@dataclass
class Issue:
    id: str
    key: str
    summary: str
    description: dict[str, Any] | None
    reporter: str
    created: datetime
    updated: datetime
    status: str = "Waiting for support"
    priority: str = "Medium"
    assignee: str | None = None
    resolution: str | None = None
    labels: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    team: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)


class JiraError(Exception):
    """An error answer: ``errorMessages`` and field ``errors`` (platform), or one ``errorMessage`` (JSM)."""

    def __init__(self, status: int, *messages: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(status, messages)
        self.status, self.messages, self.errors = status, list(messages), errors or {}

    def body(self, jsm: bool) -> dict[str, Any]:
        if jsm:
            text = "; ".join([*self.messages, *self.errors.values()])
            return {"errorMessage": text, "i18nErrorMessage": {"i18nKey": "sd.error", "parameters": []}}
        return {"errorMessages": self.messages, "errors": self.errors}


def _cannot_set(name: str) -> JiraError:
    return JiraError(
        400, errors={name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."}
    )


class FakeJira:
    """A Jira Cloud site: service desk ``1`` (project ``HELP``), request type ``10``, three people.

    ``priorities`` renames the priority scheme (per-site mapping); ``indexed_properties=False`` is a
    site where no app indexes ``firstline.number`` (JQL on it fails); ``unknown_fields`` adds a field
    no spec knows to every answer; ``time_zone`` is the integration user's (JQL dates are read in it).
    """

    project_key, desk_id, request_type_id = "HELP", "1", "10"
    email, api_token, webhook_secret = "firstline-bot@example.com", "good-token", "jira-webhook-secret"

    def __init__(
        self,
        *,
        page_size: int = 2,
        priorities: tuple[str, ...] = ("Highest", "High", "Medium", "Low", "Lowest"),
        indexed_properties: bool = True,
        unknown_fields: bool = False,
        time_zone: str = "Europe/Warsaw",
        teams: tuple[str, ...] = ("Service Desk", "Network Operations", "End-User Computing", "Identity & Access"),
        spec_checks: bool = True,
    ) -> None:
        self.page_size, self.priorities, self.teams, self.zone = page_size, priorities, teams, ZoneInfo(time_zone)
        self.indexed_properties, self.unknown_fields = indexed_properties, unknown_fields
        self.bot = User("712020:5f0c9e1a-firstline-bot", self.email, "Firstline", "app")
        self.staff = User("5b10ac8d82e05b22cc7d4ef5", "tomasz.nowicki@example.com", "Tomasz Nowicki")
        helena = User("5b10a2844c20165700ede21g", "helena.marsh@example.com", "Helena Marsh")
        self.users = {u.account_id: u for u in (self.bot, self.staff, helena)}
        self.permissions = dict.fromkeys(PERMISSIONS, True)
        self.issues: dict[str, Issue] = {}
        self.links: dict[str, tuple[str, str, str]] = {}  # id: (type, inward key, outward key)
        self._failures: list[tuple[int, float | None, Any]] = []
        self._lose_next = False
        self._lock = threading.RLock()
        self._last = datetime.now(UTC)
        self._ids = 0
        self.server = LoopbackServer(self._app, require_json=False)
        self.violations, self.seen, self.url = self.server.violations, self.server.seen, ""
        self._specs = None
        if spec_checks and specs_available():  # off for the scenario suite: the connector's own tests check shapes
            jira = ("jira-platform-v3.openapi.json", "jira-service-management.openapi.json")
            self._specs = tuple(SpecCheck(spec_path("jira", name), HOST) for name in jira)
        issue, desk = r"/rest/api/3/issue/([^/]+)", "/rest/servicedeskapi"
        routes: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("GET", "/rest/api/3/myself", lambda r, q: (200, self._user(self.bot, me=True))),
            ("GET", "/rest/api/3/user/search", self._user_search),
            ("GET", "/rest/api/3/mypermissions", self._my_permissions),
            ("GET", "/rest/api/3/priority/search", self._priority_search),
            ("POST", "/rest/api/3/search/jql", self._search),
            ("GET", issue, lambda r, q, key: (200, self._issue_json(self._get(key), q.get("properties", "")))),
            ("PUT", issue, self._edit),
            ("PUT", issue + "/properties/([^/]+)", self._put_property),
            ("GET", issue + "/transitions", self._transitions),
            ("POST", issue + "/transitions", self._transition),
            ("POST", "/rest/api/3/issueLink", self._link),
            ("DELETE", "/rest/api/3/issueLink/([^/]+)", self._unlink),
            ("POST", desk + "/request", self._create_request),
            ("GET", desk + "/request/([^/]+)/comment", self._comments),
            ("POST", desk + "/request/([^/]+)/comment", self._comment),
            ("GET", desk + "/servicedesk/([^/]+)", self._desk),
            ("GET", desk + "/servicedesk/([^/]+)/requesttype/([^/]+)", self._desk),
        ]
        self._routes = [(method, re.compile(pattern + "$"), handler) for method, pattern, handler in routes]

    # --- VendorFake: acting as people in Jira, breaking it ----------------------------------------

    def count(self) -> int:
        return len(self.issues)

    def staff_create(self, summary: str, description: str = "", *, reporter: str = "helena.marsh@example.com") -> str:
        """A request someone raised in the portal (no Firstline marker); its key."""
        with self._lock:
            return self._new_issue(summary, description, self._by_email(reporter).account_id).key

    def staff_change(self, number: str, *, state: TicketState | None = None, assigned_to: str | None = None) -> None:
        with self._lock:
            issue = self.issues[number]
            if state is not None:
                issue.status = STAFF_STATUS[state]
                issue.resolution = "Done" if STATUSES[issue.status][1] == "done" else None
            if assigned_to is not None:
                issue.assignee = self._by_email(assigned_to).account_id if assigned_to else None
            issue.updated = self._now()

    def staff_comment(self, number: str, body: str, *, public: bool = True) -> None:
        with self._lock:
            self._add_comment(self.issues[number], self.staff, body, public)

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None, body: Any = None) -> None:
        """Answer the next ``times`` requests with ``status`` (and ``body``, else Jira's error shape)."""
        with self._lock:
            self._failures += [(status, retry_after, body)] * times

    def lose_next_answer(self) -> None:
        with self._lock:
            self._lose_next = True

    def webhook(self, number: str, *, good_signature: bool = True) -> tuple[dict[str, str], bytes]:
        with self._lock:
            issue = self.issues[number]
            payload = {"timestamp": int(self._now().timestamp() * 1000), "webhookEvent": "jira:issue_updated",
                       "issue_event_type_name": "issue_generic", "user": self._user(self.staff),
                       "issue": {"id": issue.id, "key": issue.key, "fields": self._fields(issue)}}  # fmt: skip
        body = json.dumps(payload).encode()
        secret = self.webhook_secret if good_signature else "not-the-secret"
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature": f"sha256={signature}", "Content-Type": "application/json"}, body

    def __enter__(self) -> FakeJira:
        self.url = self.server.start().url
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.server.stop()

    # --- serving ----------------------------------------------------------------------------------

    def _app(self, request: Request) -> Reply:
        parts = urlsplit(request.path)
        jsm = parts.path.startswith("/rest/servicedeskapi/")
        spec = self._specs[jsm] if self._specs else None
        if spec is not None:
            spec.request(request)  # a ShapeViolation is answered 422 and recorded by the server
        headers: dict[str, str] = {}
        with self._lock:
            try:
                status, body, headers = self._answer(request, parts.path, dict(parse_qsl(parts.query)), jsm)
            except JiraError as error:
                status, body = error.status, error.body(jsm)
        if spec is not None and body is not None and status not in (429, 503):  # Jira sends no body with 204
            try:
                spec.response(request, status, body)
            except AssertionError as exc:  # statuses the spec does not list are not checked
                if "Unknown response http status" not in str(exc):
                    self.violations.append(f"the fake's answer: {exc}")
        if self.unknown_fields and isinstance(body, dict):
            body = body | {"addedInAFutureRelease": {"enabled": True}}
        return status, b"" if body is None else json.dumps(body).encode(), headers

    def _answer(self, request: Request, path: str, query: dict[str, str], jsm: bool) -> tuple[int, Any, dict[str, str]]:
        if self._failures:
            status, wait, body = self._failures.pop(0)
            error = JiraError(status, "Rate limit exceeded." if status == 429 else f"HTTP {status} on purpose.")
            return status, body or error.body(jsm), {} if wait is None else {"Retry-After": f"{wait:g}"}
        basic = "Basic " + base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode()
        if request.headers.get("authorization") not in (basic, f"Bearer {self.api_token}"):
            raise JiraError(401, "Client must be authenticated to access this resource.")
        if request.raw and request.headers.get("content-type") != "application/json":
            raise JiraError(415, "Content type not supported: send application/json.")
        for method, pattern, handler in self._routes:
            if method == request.method and (match := pattern.match(path)):
                status, body = handler(request, query, *map(unquote, match.groups()))
                if self._lose_next and method != "GET" and not path.endswith("/search/jql"):
                    self._lose_next = False  # carried out, but the answer never arrives
                    return 503, JiraError(503, "Service unavailable.").body(jsm), {}
                return status, body, {}
        raise JiraError(404, f"No {request.method} {path} on this site.")

    # --- platform API -----------------------------------------------------------------------------

    def _user_search(self, request: Request, query: dict[str, str]) -> tuple[int, Any]:
        text = query.get("query", "").casefold()
        found = [u for u in self.users.values() if text and (text in u.email or text in u.name.casefold())]
        return 200, [self._user(u) for u in found[: int(query.get("maxResults", 50))]]

    def _my_permissions(self, request: Request, query: dict[str, str]) -> tuple[int, Any]:
        if not query.get("permissions"):
            raise JiraError(400, "The permissions query parameter is required.")
        if query.get("projectKey", self.project_key) != self.project_key:
            raise JiraError(404, f"No project could be found with key '{query['projectKey']}'.")
        granted = {
            key: {"id": str(n), "key": key, "name": key.replace("_", " ").title(), "type": "PROJECT",
                  "description": "", "havePermission": self.permissions.get(key, False)}
            for n, key in enumerate(query["permissions"].split(","), 10)
        }  # fmt: skip
        return 200, {"permissions": granted}

    def _priority_search(self, request: Request, query: dict[str, str]) -> tuple[int, Any]:
        start, size = int(query.get("startAt", 0)), min(int(query.get("maxResults", 50)), self.page_size)
        values = [
            self._priority(name) | {"isDefault": name == self.priorities[2]} for name in self.priorities[start:][:size]
        ]
        return 200, {
            "self": self._self("priority/search"), "startAt": start, "maxResults": size,
            "total": len(self.priorities), "isLast": start + size >= len(self.priorities), "values": values,
        }  # fmt: skip

    def _search(self, request: Request, query: dict[str, str]) -> tuple[int, Any]:
        body = request.json()
        jql, size = str(body.get("jql", "")), min(int(body.get("maxResults", 50)), self.page_size)
        found, stamp, start = self._jql(jql), hashlib.sha1(jql.encode()).hexdigest()[:12], 0
        if token := body.get("nextPageToken"):
            offset, _, of_query = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
            if of_query != stamp:
                raise JiraError(400, "The nextPageToken belongs to another query.")
            start = int(offset)
        props = ",".join(body.get("properties") or [])
        answer: dict[str, Any] = {"issues": [self._issue_json(i, props) for i in found[start : start + size]]}
        answer["isLast"] = start + size >= len(found)
        if not answer["isLast"]:
            answer["nextPageToken"] = base64.urlsafe_b64encode(f"{start + size}:{stamp}".encode()).decode()
        return 200, answer

    _CLAUSE = re.compile(r'\s*([\w.\[\]]+)\s*(>=|<=|=|>|<)\s*("(?:[^"\\]|\\.)*"|[^\s"]+)\s*(?:AND\s+|$)', re.I)

    def _jql(self, jql: str) -> list[Issue]:
        """The few JQL forms the connector sends: ``field op value`` joined by AND, then ORDER BY."""
        where, order = (*re.split(r"\s*ORDER\s+BY\s+", jql.strip(), maxsplit=1, flags=re.I), "")[:2]
        if not where:
            raise JiraError(400, "Unbounded JQL queries are not allowed here. Please add a search restriction.")
        tests, at = [], 0
        while at < len(where):
            if not (m := self._CLAUSE.match(where, at)):
                raise JiraError(400, f"Error in the JQL Query: cannot read {where[at:]!r}.")
            value = m[3][1:-1].replace('\\"', '"').replace("\\\\", "\\") if m[3].startswith('"') else m[3]
            known = {"project", "key", "reporter", "labels", "created", "updated"}
            if m[1].lower() not in known | ({"issue.property[firstline].number"} if self.indexed_properties else set()):
                raise JiraError(400, f"Field '{m[1]}' does not exist or you do not have permission to view it.")
            tests.append((m[1].lower(), m[2], value))
            at = m.end()
        found = [i for i in self.issues.values() if all(self._matches(i, *test) for test in tests)]
        name, _, direction = (order or "created DESC").lower().partition(" ")
        if name not in ("created", "updated", "key"):
            raise JiraError(400, f"Error in the JQL Query: cannot order by {name!r}.")
        return sorted(found, key=lambda i: (getattr(i, "created" if name == "key" else name), int(i.id)),
                      reverse=direction.strip() == "desc")  # fmt: skip

    def _matches(self, issue: Issue, name: str, op: str, value: str) -> bool:
        if name in ("created", "updated"):
            if relative := re.fullmatch(r"-(\d+)([mhdw])", value):
                unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[relative[2]]
                bound = self._now() - timedelta(**{unit: int(relative[1])})
            else:  # JQL dates are in the searching user's time zone
                bound = datetime.strptime(value.replace("-", "/"), "%Y/%m/%d %H:%M").replace(tzinfo=self.zone)
            when: datetime = getattr(issue, name)
            return {">=": when >= bound, ">": when > bound, "<=": when <= bound, "<": when < bound}[op]
        if op != "=":
            raise JiraError(400, f"Error in the JQL Query: the operator '{op}' is not supported by the field '{name}'.")
        if name == "issue.property[firstline].number":
            return bool(issue.properties.get("firstline", {}).get("number") == value)
        if name == "labels":
            return value in issue.labels
        actual = {"project": self.project_key, "key": issue.key}.get(name, issue.reporter)
        return actual.casefold() == value.casefold()

    def _edit(self, request: Request, query: dict[str, str], key: str) -> tuple[int, Any]:
        issue, body = self._get(key), request.json()
        for name, value in (body.get("fields") or {}).items():
            self._set(issue, name, value)
        for name, operations in (body.get("update") or {}).items():
            if name != "labels":
                raise _cannot_set(name)
            added = [op["add"] for op in operations if "add" in op]
            if any(" " in label for label in added) or len(added) < len(operations):
                raise JiraError(400, errors={"labels": "Labels cannot contain spaces; use add operations."})
            issue.labels = list(dict.fromkeys([*issue.labels, *added]))
        issue.updated = self._now()
        return 204, None

    def _set(self, issue: Issue, name: str, value: Any) -> None:
        """Set one field as Jira's edit screen does, refusing values Jira refuses."""
        item = value if isinstance(value, dict) else {}
        ok = {
            "summary": isinstance(value, str) and bool(value.strip()),
            "description": value is None or item.get("type") == "doc",
            "priority": item.get("name") in self.priorities,
            "assignee": value is None or item.get("accountId") in self.users,
            "components": isinstance(value, list) and all(c.get("name") in self.teams for c in value),
            TEAM_FIELD: value is None or item.get("value") in self.teams,
        }
        if name not in ok:
            raise _cannot_set(name)
        if not ok[name]:
            texts = {
                "summary": "You must specify a summary of the issue.",
                "priority": "The priority selected is invalid.",
            }
            raise JiraError(400, errors={name: texts.get(name, f"The value {value!r} is not valid for {name}.")})
        wanted = {"priority": "name", "assignee": "accountId", TEAM_FIELD: "value"}
        value = (
            [c["name"] for c in value] if name == "components" else item.get(wanted[name]) if name in wanted else value
        )
        setattr(issue, {TEAM_FIELD: "team"}.get(name, name), value)

    def _put_property(self, request: Request, query: dict[str, str], key: str, name: str) -> tuple[int, Any]:
        issue, value = self._get(key), request.json()
        status = 200 if name in issue.properties else 201
        issue.properties[name] = value
        return status, None

    def _transitions(self, request: Request, query: dict[str, str], key: str) -> tuple[int, Any]:
        issue, screens = self._get(key), "transitions.fields" in query.get("expand", "")
        offered = [self._transition_json(t, screens) for t in TRANSITIONS if issue.status in t[3]]
        return 200, {"expand": "transitions", "transitions": offered}

    def _transition(self, request: Request, query: dict[str, str], key: str) -> tuple[int, Any]:
        issue, body = self._get(key), request.json()
        wanted = str((body.get("transition") or {}).get("id", ""))
        chosen = next((t for t in TRANSITIONS if t[0] == wanted and issue.status in t[3]), None)
        if chosen is None:
            raise JiraError(400, f"Transition id '{wanted}' is not valid for this issue.")
        fields = body.get("fields") or {}
        for name in [*fields, *(body.get("update") or {})]:
            if name != "resolution" or not chosen[4]:
                raise _cannot_set(name)
        resolution = (fields.get("resolution") or {}).get("name")
        if chosen[4] and resolution not in RESOLUTIONS:
            raise JiraError(400, errors={"resolution": "Resolution is required."})
        issue.status = chosen[2]
        done = STATUSES[issue.status][1] == "done"
        issue.resolution = (resolution or issue.resolution or "Won't Do") if done else None
        issue.updated = self._now()
        return 204, None

    def _link(self, request: Request, query: dict[str, str]) -> tuple[int, Any]:
        body = request.json()
        kind = body["type"].get("name")
        if kind not in LINK_TYPES:
            raise JiraError(404, f"No issue link type with name '{kind}' found.")
        inward, outward = (
            self._get(body[side].get("key") or body[side]["id"]) for side in ("inwardIssue", "outwardIssue")
        )
        self._ids += 1
        self.links[str(10000 + self._ids)] = (kind, inward.key, outward.key)
        inward.updated = outward.updated = self._now()
        return 201, None

    def _unlink(self, request: Request, query: dict[str, str], link_id: str) -> tuple[int, Any]:
        if self.links.pop(link_id, None) is None:
            raise JiraError(404, f"No issue link with id '{link_id}' exists.")
        return 204, None

    # --- Jira Service Management API -------------------------------------------------------------

    def _create_request(self, request: Request, query: dict[str, str]) -> tuple[int, Any]:
        body = request.json()
        if (body.get("serviceDeskId"), body.get("requestTypeId")) != (self.desk_id, self.request_type_id):
            raise JiraError(400, "The service desk or the request type does not exist.")
        values = body.get("requestFieldValues") or {}
        if unknown := set(values) - {"summary", "description"}:
            raise JiraError(400, f"These fields are not on the request type: {', '.join(sorted(unknown))}.")
        if not str(values.get("summary", "")).strip():
            raise JiraError(400, "Summary: You must specify a summary of the issue.")
        reporter = body.get("raiseOnBehalfOf", self.bot.account_id)
        if reporter not in self.users:
            raise JiraError(400, f"The user '{reporter}' does not exist.")
        issue = self._new_issue(values["summary"], str(values.get("description", "")), reporter)
        created, here = self._date(issue.created), f"{self.url}/rest/servicedeskapi/request/{issue.id}"
        return 201, {
            "_expands": ["participant", "status", "sla", "requestType", "serviceDesk", "attachment", "comment"],
            "issueId": issue.id, "issueKey": issue.key, "requestTypeId": self.request_type_id,
            "serviceDeskId": self.desk_id, "createdDate": created,
            "reporter": self._user(self.users[reporter], jsm=True),
            "requestFieldValues": [{"fieldId": k, "label": k.title(), "value": v} for k, v in values.items()],
            "currentStatus": {"status": issue.status, "statusCategory": "NEW", "statusDate": created},
            "_links": {"jiraRest": self._self(f"issue/{issue.id}"), "agent": f"{self.url}/browse/{issue.key}",
                       "web": f"{self.url}/servicedesk/customer/portal/1/{issue.key}", "self": here},
        }  # fmt: skip

    def _comments(self, request: Request, query: dict[str, str], key: str) -> tuple[int, Any]:
        issue, shown = self._get(key), {k: query.get(k, "true") == "true" for k in ("public", "internal")}
        comments = [c for c in issue.comments if shown["public" if c["public"] else "internal"]]
        start, size = int(query.get("start", 0)), min(int(query.get("limit", 50)), self.page_size)
        page = comments[start : start + size]
        return 200, {
            "_expands": [], "size": len(page), "start": start, "limit": size,
            "isLastPage": start + size >= len(comments), "values": page,
            "_links": {"base": f"{self.url}/rest/servicedeskapi", "context": ""},
        }  # fmt: skip

    def _comment(self, request: Request, query: dict[str, str], key: str) -> tuple[int, Any]:
        body = request.json()
        if not str(body.get("body", "")).strip():
            raise JiraError(400, "The comment body is required.")
        return 201, self._add_comment(self._get(key), self.bot, body["body"], bool(body.get("public", True)))

    def _desk(self, request: Request, query: dict[str, str], desk: str, kind: str | None = None) -> tuple[int, Any]:
        link = f"{self.url}/rest/servicedeskapi/servicedesk/{desk}"
        if desk != self.desk_id or kind not in (None, self.request_type_id):
            raise JiraError(404, f"Service desk {desk} has no request type {kind}." if kind else f"No desk {desk}.")
        if kind is None:
            return 200, {"id": desk, "projectId": "10000", "projectName": "IT Help", "projectKey": self.project_key,
                         "_links": {"self": link}}  # fmt: skip
        return 200, {
            "_expands": [], "id": kind, "name": "Get IT help", "description": "Help with general IT problems.",
            "helpText": "", "issueTypeId": "10004", "serviceDeskId": desk, "portalId": desk, "groupIds": ["1"],
            "_links": {"self": f"{link}/requesttype/{kind}"},
        }  # fmt: skip

    # --- shapes -----------------------------------------------------------------------------------

    def _get(self, key: str) -> Issue:
        issue = self.issues.get(key) or next((i for i in self.issues.values() if i.id == key), None)
        if issue is None:
            raise JiraError(404, "Issue does not exist or you do not have permission to see it.")
        return issue

    def _issue_json(self, issue: Issue, properties: str) -> dict[str, Any]:
        wanted = set(properties.split(","))
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.id, "self": self._self(f"issue/{issue.id}"), "key": issue.key, "fields": self._fields(issue),
            "properties": {k: v for k, v in issue.properties.items() if k in wanted},
        }  # fmt: skip

    def _fields(self, issue: Issue) -> dict[str, Any]:
        links = []
        for link_id, (kind, inward, outward) in self.links.items():
            if issue.key in (inward, outward):
                other = self.issues[outward if issue.key == inward else inward]
                brief = {"id": other.id, "key": other.key, "self": self._self(f"issue/{other.id}"),
                         "fields": {"summary": other.summary, "status": self._status(other.status)}}  # fmt: skip
                type_id, inward_text, outward_text = LINK_TYPES[kind]
                links.append({
                    "id": link_id, "self": self._self(f"issueLink/{link_id}"),
                    "outwardIssue" if issue.key == inward else "inwardIssue": brief,
                    "type": {"id": type_id, "name": kind, "inward": inward_text, "outward": outward_text},
                })  # fmt: skip
        resolution = issue.resolution and {"id": str(10000 + RESOLUTIONS.index(issue.resolution)),
                                           "name": issue.resolution, "description": ""}  # fmt: skip
        return {
            "summary": issue.summary, "description": issue.description, "status": self._status(issue.status),
            "priority": self._priority(issue.priority), "labels": issue.labels, "resolution": resolution,
            "reporter": self._user(self.users[issue.reporter]),
            "assignee": self._user(self.users[issue.assignee]) if issue.assignee else None,
            "created": self._time(issue.created), "updated": self._time(issue.updated), "issuelinks": links,
            "components": [{"id": str(10100 + self.teams.index(c)), "name": c} for c in issue.components],
            TEAM_FIELD: issue.team and {"id": str(10200 + self.teams.index(issue.team)), "value": issue.team},
            "issuetype": {"id": "10004", "name": "[System] Service request", "subtask": False},
            "customfield_10010": {"requestType": {"id": self.request_type_id, "name": "Get IT help"}},
            "statuscategorychangedate": self._time(issue.updated), "watches": {"watchCount": 1, "isWatching": False},
        }  # fmt: skip

    def _status(self, name: str) -> dict[str, Any]:
        status_id, key = STATUSES[name]
        number, color, title = CATEGORIES[key]
        category = {"self": self._self(f"statuscategory/{number}"), "id": number, "key": key, "colorName": color,
                    "name": title}  # fmt: skip
        return {"self": self._self(f"status/{status_id}"), "id": status_id, "name": name, "untranslatedName": name,
                "description": "", "iconUrl": f"{self.url}/images/status.png", "statusCategory": category}  # fmt: skip

    def _priority(self, name: str) -> dict[str, Any]:
        n = self.priorities.index(name) + 1
        return {"self": self._self(f"priority/{n}"), "id": str(n), "name": name, "description": "",
                "iconUrl": f"{self.url}/images/icons/priorities/{n}.svg", "statusColor": "#ffab00"}  # fmt: skip

    def _transition_json(self, t: tuple[str, str, str, frozenset[str], bool], screens: bool) -> dict[str, Any]:
        answer = {"id": t[0], "name": t[1], "to": self._status(t[2]), "hasScreen": t[4], "isGlobal": False,
                  "isInitial": False, "isAvailable": True, "isConditional": False, "isLooped": False}  # fmt: skip
        if screens:
            values = [{"id": str(10000 + n), "name": name} for n, name in enumerate(RESOLUTIONS)]
            schema = {"type": "resolution", "system": "resolution"}
            resolution = {"required": True, "schema": schema, "key": "resolution", "name": "Resolution",
                          "operations": ["set"], "allowedValues": values}  # fmt: skip
            answer["fields"] = {"resolution": resolution} if t[4] else {}
        return answer

    def _user(self, user: User, *, me: bool = False, jsm: bool = False) -> dict[str, Any]:
        link = self._self(f"user?accountId={user.account_id}")
        basics = {"accountId": user.account_id, "emailAddress": user.email, "displayName": user.name, "active": True,
                  "timeZone": str(self.zone) if me else "Europe/London"}  # fmt: skip
        if jsm:
            return basics | {"_links": {"self": link, "jiraRest": link}}
        avatars = {size: f"{self.url}/avatar/{user.account_id}/{size}.png" for size in ("48x48", "24x24", "16x16")}
        mine = {"locale": "en_GB"} if me else {}
        return basics | {"self": link, "accountType": user.account_type, "avatarUrls": avatars} | mine

    def _by_email(self, email: str) -> User:
        return next(u for u in self.users.values() if u.email == email.casefold())

    def _new_issue(self, summary: str, description: str, reporter: str) -> Issue:
        n, now = len(self.issues) + 1, self._now()
        adf = text_to_adf(description) if description else None
        key, priority = f"{self.project_key}-{n}", self.priorities[2]
        issue = Issue(str(10000 + n), key, summary, adf, reporter, now, now, priority=priority)
        self.issues[issue.key] = issue
        return issue

    def _add_comment(self, issue: Issue, author: User, body: str, public: bool) -> dict[str, Any]:
        self._ids += 1
        comment_id, now = str(20000 + self._ids), self._now()
        comment = {
            "_expands": ["attachment", "renderedBody"], "id": comment_id, "body": body, "public": public,
            "author": self._user(author, jsm=True), "created": self._date(now),
            "_links": {"self": f"{self.url}/rest/servicedeskapi/request/{issue.id}/comment/{comment_id}"},
        }  # fmt: skip
        issue.comments.append(comment)
        issue.updated = now
        return comment

    def _now(self) -> datetime:
        """The time in whole milliseconds, as Jira keeps it, never the same twice (so time order is stable)."""
        now = max(datetime.now(UTC), self._last + timedelta(milliseconds=1))
        self._last = now.replace(microsecond=now.microsecond // 1000 * 1000)
        return self._last

    def _time(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")

    def _date(self, moment: datetime) -> dict[str, Any]:
        local = moment.astimezone(self.zone)
        return {
            "iso8601": local.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "jira": self._time(moment),
            "friendly": local.strftime("%d/%b/%y %I:%M %p"),
            "epochMillis": int(moment.timestamp() * 1000),
        }

    def _self(self, rest: str) -> str:
        return f"{self.url}/rest/api/3/{rest}"
