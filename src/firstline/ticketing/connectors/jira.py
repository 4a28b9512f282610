"""Jira Service Management: Firstline tickets as customer requests, edited with the Jira platform API.

A ticket is opened as a *customer request* (``POST /rest/servicedeskapi/request``, raised on behalf
of the requester when Jira knows their address) so it shows in the portal and gets the service
desk's SLAs; priority, team, labels and the issue property ``firstline`` are then set with the
platform API. Comments go through the JSM API, which knows public replies from internal notes.

Choices worth knowing (see :mod:`.jira_wire` for the JSON):

- **Duplicates.** ``dedupe = "property"`` finds a ticket by JQL on the issue property
  (``issue.property[firstline].number = "FL..."``); Jira Cloud only indexes properties an app
  declares (a Forge ``jira:entityProperty`` module), so sites without one use ``dedupe = "label"``
  (label ``firstline-<number>``). The marker is written last, and before opening a request the
  connector also adopts a recent issue of the same reporter with the same summary and description
  but no marker: the trace of an earlier try whose answer was lost or that stopped half way.
- **Impact and urgency.** Jira has neither: the priority is set from them through
  ``[ticketing.jira.map.priorities]`` (Jira's default names when unset) and both are kept in the
  ``firstline`` property, with the requester's address, the category and the resolution note.
- **States.** A state change is a transition found *by name* (``[ticketing.jira.map.states]``,
  Jira Service Management's IT workflow names by default); a state already reached is left alone.
  Reading back, ``statuses`` (Jira status name -> Firstline state) comes first, then a transition
  named like the status, then common status names, then the status category.
- **Resolution.** The note is posted as a public comment and kept in the property; a transition
  whose screen has the resolution field gets ``resolution`` (``"Done"`` by default).
- **Parent.** An issue link of ``parent_link_type`` from the child (inward) to the parent (outward).
- **Not covered:** attachments, request participants, SLA timers, approvals, and creating customer
  accounts (a requester unknown to Jira is raised by the integration user, their address kept in
  the property).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from firstline.errors import BackendResponseError, ConfigError, FirstlineError, InputError
from firstline.ticketing.connectors.jira_wire import (
    DEFAULT_PRIORITIES,
    DEFAULT_TRANSITIONS,
    ISSUE_FIELDS,
    PROPERTY,
    FirstlineProperty,
    WireMap,
    jql_string,
    jql_time,
    text_to_adf,
    transition_body,
    webhook_keys,
)
from firstline.ticketing.models import Ticket, TicketState
from firstline.ticketing.remote import Check, FieldMap, RemoteChange, RemoteComment, RemoteRef, RemoteTicket
from firstline.ticketing.sla import priority_for
from firstline.vendors.http import Auth, BasicAuth, BearerToken, VendorHttp, VendorUnavailableError

__all__ = ["JiraConnector", "JiraOptions"]

ROLES = (
    "agent access to the service project (Browse projects, Create issues, Edit issues, Transition issues, "
    "Add comments): add it to the project's Service Desk Team role"
)
PERMISSIONS = ("BROWSE_PROJECTS", "CREATE_ISSUES", "EDIT_ISSUES", "TRANSITION_ISSUES", "ADD_COMMENTS")
BEARER_NAME = "FIRSTLINE_TICKETING__JIRA__BEARER_TOKEN"


@dataclass(frozen=True)
class JiraOptions:
    """``[ticketing.jira]`` in ``firstline.toml``.

    ``url`` is the site (``https://acme.atlassian.net``); ``email`` + ``api_token`` sign in as a
    Jira Cloud account (basic auth), or ``bearer_token`` (OAuth / personal access token).
    ``service_desk_id`` and ``request_type_id`` say where requests are raised; ``project_key`` is
    the desk's project (``HELP``). ``group_field`` holds the team: ``components`` or a single-select
    custom field id (``customfield_10050``). ``statuses`` maps Jira status names to Firstline states.
    ``adopt_window_min``: how far back an unmarked issue may be adopted (see the module docstring).
    """

    url: str
    project_key: str
    service_desk_id: str
    request_type_id: str
    email: str = ""
    api_token: str = ""
    bearer_token: str = ""
    fields: FieldMap = field(default_factory=FieldMap)
    group_field: str = "components"
    statuses: Mapping[str, str] = field(default_factory=dict)
    dedupe: Literal["property", "label"] = "property"
    resolution: str = "Done"
    parent_link_type: str = "Relates"
    adopt_window_min: int = 60
    webhook_secret: str = ""
    timeout_s: float = 10.0
    retries: int = 3
    credential_names: tuple[str, str] = ("FIRSTLINE_TICKETING__JIRA__EMAIL", "FIRSTLINE_TICKETING__JIRA__API_TOKEN")

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ConfigError(
                f"ticketing.jira.url must be the site's address, like https://acme.atlassian.net, not {self.url!r}."
            )
        for name in ("project_key", "service_desk_id", "request_type_id"):
            if not str(getattr(self, name)).strip():
                raise ConfigError(f"Set ticketing.jira.{name} (env FIRSTLINE_TICKETING__JIRA__{name.upper()}).")
        if not self.bearer_token and not (self.email and self.api_token):
            raise ConfigError(
                f"Jira needs credentials: set {' and '.join(self.credential_names)} (an Atlassian account and "
                f"an API token from id.atlassian.com), or {BEARER_NAME}."
            )
        if self.dedupe not in ("property", "label"):
            raise ConfigError(f'ticketing.jira.dedupe is "property" or "label", not {self.dedupe!r}.')

    def auth(self) -> Auth:
        """Bearer token when set, else basic auth with the e-mail address and API token."""
        if self.bearer_token:
            return BearerToken(self.bearer_token, BEARER_NAME)
        return BasicAuth(self.email, self.api_token, " / ".join(self.credential_names))


class JiraConnector:
    """A :class:`~firstline.ticketing.remote.TicketConnector` for Jira Service Management (Cloud)."""

    system = "jira"

    def __init__(
        self,
        options: JiraOptions,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.options = options
        self._sleep = sleep
        auth = options.auth()
        transport = transport or httpx.HTTPTransport()  # one connection pool (and TLS set-up) for both clients

        def client(retries: int) -> VendorHttp:
            return VendorHttp(
                "Jira", options.url, auth, "ticketing.jira.url", roles=ROLES, timeout_s=options.timeout_s,
                retries=retries, transport=transport, sleep=sleep,
            )  # fmt: skip

        self._http = client(options.retries)
        self._once = client(0)  # opening a request: a lost answer is looked up, never blindly re-sent
        self.wire = WireMap(
            site=options.url.rstrip("/"),
            priorities={**DEFAULT_PRIORITIES, **options.fields.priorities},
            groups=options.fields.groups,
            states={**DEFAULT_TRANSITIONS, **options.fields.states},
            statuses=options.statuses,
            group_field=options.group_field,
            parent_link_type=options.parent_link_type,
        )
        self._fields = [*ISSUE_FIELDS, options.group_field]
        self._lock = threading.Lock()
        self._me: Mapping[str, Any] | None = None
        self._accounts: dict[str, str] = {}

    # --- reading ---------------------------------------------------------------------------------

    def get(self, number: str) -> RemoteTicket:
        return self.wire.remote(self._issue(number))

    def find(self, firstline_number: str) -> RemoteTicket | None:
        for issue in self._search(self._marker_jql(firstline_number), page=2):
            if self.wire.firstline_number(issue) == firstline_number:
                return self.wire.remote(issue)
        return None

    def comments(self, ref: RemoteRef) -> list[RemoteComment]:
        path = f"{self._request_path(ref.number)}/comment"
        pages = self._offset_pages(path, "start limit isLastPage", not_found=ref.number)
        found = [self.wire.comment(value, self._my_account(), ref.number) for value in pages]
        return sorted(found, key=lambda c: (c.created_at, int(c.id) if c.id.isdigit() else 0, c.id))

    def changed_since(self, since: datetime, *, limit: int = 200) -> list[RemoteTicket]:
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        jql = (
            f"project = {jql_string(self.options.project_key)} AND updated >= {jql_time(since, self._zone())} "
            "ORDER BY updated ASC"
        )  # JQL has minutes only, in the searcher's time zone: exact times are compared here
        changed: list[RemoteTicket] = []
        for issue in self._search(jql, page=min(max(limit, 1), 100)):
            remote = self.wire.remote(issue)
            if remote.updated_at >= since:
                changed.append(remote)
            if len(changed) >= limit:
                break
        return changed

    # --- writing ---------------------------------------------------------------------------------

    def create(self, ticket: Ticket) -> RemoteTicket:
        reporter = self._account(ticket.requester)
        lost: VendorUnavailableError | None = None
        for attempt in range(self.options.retries + 1):
            if (found := self.find(ticket.number)) is not None:
                return found
            key = self._orphan(ticket, reporter)
            if key is None:
                try:
                    key = self._open(ticket, reporter)
                except VendorUnavailableError as exc:  # carried out or not: the next lookup tells
                    lost = exc
                    if attempt < self.options.retries:
                        self._sleep(min(exc.retry_after_s if exc.retry_after_s is not None else 0.5 * 2**attempt, 30))
                    continue
            self._finish(key, ticket)
            return self.get(key)
        assert lost is not None
        raise lost

    def update(self, ref: RemoteRef, change: RemoteChange) -> RemoteTicket:
        issue = self._issue(ref.number)
        key = str(issue["key"])
        before = self.wire.property(issue)
        prop = before
        fields: dict[str, Any] = {}
        if change.short_description is not None:
            fields["summary"] = change.short_description
        if change.description is not None:
            fields["description"] = text_to_adf(change.description)
        if change.impact is not None or change.urgency is not None:
            now = self.wire.remote(issue)
            impact, urgency = change.impact or now.impact, change.urgency or now.urgency
            prop = replace(prop, impact=impact, urgency=urgency)
            fields["priority"] = self.wire.priority_json(priority_for(impact, urgency))
        if change.category is not None:
            prop = replace(prop, category=change.category)
        if change.assignment_group is not None:
            fields[self.options.group_field] = self.wire.group_json(change.assignment_group)
        if change.assigned_to is not None:
            account = self._account(change.assigned_to) if change.assigned_to else None
            if change.assigned_to and account is None:
                raise InputError(f"No Jira user has the address {change.assigned_to!r}: pick someone with an account.")
            fields["assignee"] = {"accountId": account} if account else None
        if fields:
            self._http.request("PUT", self._issue_path(key), json_body={"fields": fields}, not_found=ref.number)
        if change.parent is not None:
            self._link_parent(issue, change.parent)
        if change.state is not None:
            self._move(issue, change.state)
        if change.resolution_note and change.resolution_note != before.resolution_note:
            self._post_comment(key, change.resolution_note, public=True)
            prop = replace(prop, resolution_note=change.resolution_note)
        if prop != before:
            self._put_property(key, prop)
        return self.get(key)

    def comment(self, ref: RemoteRef, body: str, *, public: bool) -> RemoteComment:
        return self.wire.comment(self._post_comment(ref.number, body, public=public), self._my_account(), ref.number)

    # --- webhooks, checks ------------------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[str]:
        return webhook_keys(self.options.webhook_secret, headers, body)

    def check(self) -> list[Check]:
        names = ", ".join(f"{state} = {name!r}" for state, name in self.wire.states.items())
        return [
            self._probe("credentials", self._check_me),
            self._probe("service desk", self._check_desk),
            self._probe("request type", self._check_request_type),
            self._probe("permissions", self._check_permissions),
            self._probe("priorities", self._check_priorities),
            self._probe("duplicate lookup", self._check_dedupe),
            Check(
                "transitions",
                True,
                f"Not verified: Jira lists transitions per issue and status. The names "
                f"({names}) are checked the first time a ticket moves; a wrong one fails naming those Jira offers.",
            ),
        ]

    def close(self) -> None:
        self._http.close()
        self._once.close()

    # --- the steps -------------------------------------------------------------------------------

    def _issue(self, number: str) -> Mapping[str, Any]:
        params = {"fields": ",".join(self._fields), "properties": PROPERTY}
        issue: Mapping[str, Any] = self._http.request("GET", self._issue_path(number), params=params, not_found=number)
        return issue

    def _search(self, jql: str, *, page: int) -> Iterator[Mapping[str, Any]]:
        """Issues matching ``jql``, following ``nextPageToken`` until Jira says ``isLast``."""
        token: str | None = None
        while True:
            body: dict[str, Any] = {"jql": jql, "maxResults": page, "fields": self._fields, "properties": [PROPERTY]}
            if token:
                body["nextPageToken"] = token
            answer = self._http.request("POST", "/rest/api/3/search/jql", json_body=body)
            yield from answer.get("issues") or []
            token = answer.get("nextPageToken")
            if answer.get("isLast", True) or not token:
                return

    def _offset_pages(self, path: str, keys: str, not_found: str | None = None) -> Iterator[Mapping[str, Any]]:
        """The ``values`` of every page of an offset-paged list; ``keys``: its offset, size and last-page names."""
        start_key, size_key, last_key = keys.split()
        start = 0
        while True:
            page = self._http.request("GET", path, params={start_key: start, size_key: 100}, not_found=not_found)
            yield from page.get("values") or []
            if page.get(last_key, True) or not page.get("values"):
                return
            start += len(page["values"])

    def _marker_jql(self, number: str) -> str:
        if self.options.dedupe == "label":
            return f"labels = {jql_string(self._label(number))}"
        return f"issue.property[{PROPERTY}].number = {jql_string(number)}"

    def _label(self, number: str) -> str:
        return f"{self.wire.label_prefix}{number}"

    def _orphan(self, ticket: Ticket, reporter: str | None) -> str | None:
        """A recent unmarked issue this ticket already opened (an earlier try lost its answer or stopped)."""
        who = jql_string(reporter or self._my_account())
        jql = (
            f"project = {jql_string(self.options.project_key)} AND reporter = {who} "
            f"AND created >= -{self.options.adopt_window_min}m ORDER BY created DESC"
        )
        by_label = self.options.dedupe == "label"
        found = (i for i in self._search(jql, page=20) if self.wire.unmarked_copy(i, ticket, by_label=by_label))
        return next((str(issue["key"]) for issue in found), None)

    def _open(self, ticket: Ticket, reporter: str | None) -> str:
        values = {"summary": ticket.short_description}
        if ticket.description:
            values["description"] = ticket.description
        body: dict[str, Any] = {
            "serviceDeskId": self.options.service_desk_id,
            "requestTypeId": self.options.request_type_id,
            "requestFieldValues": values,
        }
        if reporter:
            body["raiseOnBehalfOf"] = reporter
        created = self._once.request("POST", "/rest/servicedeskapi/request", json_body=body)
        key = created.get("issueKey") if isinstance(created, Mapping) else None
        if not key:
            raise BackendResponseError(f"Jira opened a request for {ticket.number} without saying its `issueKey`.")
        return str(key)

    def _finish(self, key: str, ticket: Ticket) -> None:
        """Priority, team, tags and the ``firstline`` property; the duplicate marker goes last."""
        fields: dict[str, Any] = {"priority": self.wire.priority_json(ticket.priority)}
        if ticket.assignment_group:
            fields[self.options.group_field] = self.wire.group_json(ticket.assignment_group)
        labels = [tag.replace(" ", "-") for tag in ticket.tags]
        prop = FirstlineProperty.of(ticket)
        if self.options.dedupe == "label":
            self._put_property(key, prop)
            labels.append(self._label(ticket.number))
        body: dict[str, Any] = {"fields": fields}
        if labels:
            body["update"] = {"labels": [{"add": label} for label in labels]}
        self._http.request("PUT", self._issue_path(key), json_body=body, not_found=key)
        if self.options.dedupe == "property":
            self._put_property(key, prop)

    def _move(self, issue: Mapping[str, Any], target: TicketState) -> None:
        key = str(issue["key"])
        status = issue.get("fields", {}).get("status") or {}
        if self.wire.state(status) is target:
            return
        name = self.wire.states.get(target.value, "")
        if not name:
            raise ConfigError(
                f"No Jira transition is set for the state {target.value}: add one under [ticketing.jira.map.states] "
                f'in firstline.toml, e.g. {target.value} = "<transition name>".'
            )
        path = f"{self._issue_path(key)}/transitions"
        offered = self._http.request("GET", path, params={"expand": "transitions.fields"}, not_found=key)
        where = f"{key} in status {status.get('name')!r}"
        try:
            body = transition_body(offered, name, resolution=self.options.resolution, where=where, target=target)
        except ConfigError:
            # Service desk workflows close only what was resolved: go through resolved first (as Firstline's own
            # lifecycle does), then close; any other missing transition is a mapping to fix.
            if target is not TicketState.CLOSED or self.wire.state(status) is TicketState.RESOLVED:
                raise
            self._move(issue, TicketState.RESOLVED)
            self._move(self._http.request("GET", self._issue_path(key), not_found=key), target)
            return
        try:
            self._http.request("POST", path, json_body=body, not_found=key)
        except InputError:  # an earlier try may have moved it already (its answer lost)
            if self.get(key).state is not target:
                raise

    def _link_parent(self, issue: Mapping[str, Any], parent: str) -> None:
        links = self.wire.parent_links(issue)
        if parent and any(link["outwardIssue"].get("key") == parent for link in links):
            return
        for link in links:
            self._http.request("DELETE", f"/rest/api/3/issueLink/{quote(str(link.get('id')), safe='')}")
        if parent:
            body = {
                "type": {"name": self.options.parent_link_type},
                "inwardIssue": {"key": str(issue["key"])},
                "outwardIssue": {"key": parent},
            }
            self._http.request("POST", "/rest/api/3/issueLink", json_body=body, not_found=parent)

    def _post_comment(self, number: str, body: str, *, public: bool) -> Any:
        path = f"{self._request_path(number)}/comment"
        return self._http.request("POST", path, json_body={"body": body, "public": public}, not_found=number)

    def _put_property(self, key: str, prop: FirstlineProperty) -> None:
        path = f"{self._issue_path(key)}/properties/{PROPERTY}"
        self._http.request("PUT", path, json_body=prop.to_json(), not_found=key)

    def _issue_path(self, number: str) -> str:
        return f"/rest/api/3/issue/{quote(number, safe='')}"

    def _request_path(self, number: str) -> str:
        return f"/rest/servicedeskapi/request/{quote(number, safe='')}"

    # --- who is who ------------------------------------------------------------------------------

    def _myself(self) -> Mapping[str, Any]:
        with self._lock:
            if self._me is None:
                self._me = self._http.request("GET", "/rest/api/3/myself")
            return self._me

    def _my_account(self) -> str:
        return str(self._myself().get("accountId", ""))

    def _zone(self) -> tzinfo:
        try:
            return ZoneInfo(str(self._myself().get("timeZone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            return UTC

    def _account(self, email: str) -> str | None:
        """The accountId of the Jira user with this address (``None`` when Jira knows nobody by it)."""
        folded = email.strip().casefold()
        with self._lock:
            if folded in self._accounts:
                return self._accounts[folded]
        users = self._http.request("GET", "/rest/api/3/user/search", params={"query": folded, "maxResults": 10})
        users = [u for u in users or [] if isinstance(u, Mapping) and u.get("accountId")]
        exact = [u for u in users if str(u.get("emailAddress", "")).casefold() == folded]
        match = exact or (users if len(users) == 1 else [])  # one hit: the address is hidden by privacy settings
        if not match:
            return None
        with self._lock:
            self._accounts[folded] = str(match[0]["accountId"])
            return self._accounts[folded]

    # --- check() probes: each returns what it saw, or raises saying what to fix --------------------

    def _probe(self, name: str, probe: Callable[[], str]) -> Check:
        try:
            return Check(name, True, probe())
        except (FirstlineError, KeyError, TypeError, ValueError, AttributeError) as exc:
            return Check(name, False, str(exc))

    def _check_me(self) -> str:
        me = self._myself()
        return f"Signed in to {self.options.url} as {me.get('displayName')} (time zone {me.get('timeZone', 'UTC')})."

    def _check_desk(self) -> str:
        desk = self._lookup(quote(self.options.service_desk_id, safe=""), "service_desk_id", "an existing service desk")
        if str(desk.get("projectKey", "")).upper() != self.options.project_key.upper():
            raise ConfigError(
                f"Service desk {desk.get('id')} belongs to project {desk.get('projectKey')!r}, not "
                f"{self.options.project_key!r}: make ticketing.jira.project_key and service_desk_id agree."
            )
        return f"Service desk {desk.get('id')}: {desk.get('projectName')} ({desk.get('projectKey')})."

    def _check_request_type(self) -> str:
        desk, kind = (quote(v, safe="") for v in (self.options.service_desk_id, self.options.request_type_id))
        found = self._lookup(f"{desk}/requesttype/{kind}", "request_type_id", "a request type of that desk")
        return f"Request type {found.get('id')}: {found.get('name')}."

    def _lookup(self, path: str, setting: str, what: str) -> Any:
        try:
            return self._http.request("GET", f"/rest/servicedeskapi/servicedesk/{path}")
        except InputError as exc:  # 404
            raise ConfigError(f"{exc}. Set ticketing.jira.{setting} to the id of {what}.") from exc

    def _check_permissions(self) -> str:
        params = {"projectKey": self.options.project_key, "permissions": ",".join(PERMISSIONS)}
        granted = self._http.request("GET", "/rest/api/3/mypermissions", params=params).get("permissions") or {}
        missing = [p for p in PERMISSIONS if not (granted.get(p) or {}).get("havePermission")]
        if missing:
            raise ConfigError(
                f"The integration user lacks {', '.join(missing)} in project {self.options.project_key}: give it "
                "agent access (the project's Service Desk Team role)."
            )
        return f"{', '.join(PERMISSIONS)} granted in {self.options.project_key}."

    def _check_priorities(self) -> str:
        pages = self._offset_pages("/rest/api/3/priority/search", "startAt maxResults isLast")
        names = {str(value.get("name", "")).casefold() for value in pages}
        missing = [name for name in self.wire.priorities.values() if name.casefold() not in names]
        if missing:
            raise ConfigError(
                f"Jira has no priority named {', '.join(map(repr, missing))}: map Firstline's priorities 1-5 to this "
                "site's names under [ticketing.jira.map.priorities]."
            )
        return "Every mapped priority exists: " + ", ".join(f"{k} -> {v}" for k, v in self.wire.priorities.items())

    def _check_dedupe(self) -> str:
        try:
            next(self._search(self._marker_jql("FL0000000000"), page=1), None)
        except InputError as exc:
            raise ConfigError(
                f"{exc}. Jira cannot search the issue property {PROPERTY}.number: index it with an app "
                '(jira:entityProperty), or set ticketing.jira.dedupe = "label".'
            ) from exc
        return f"Tickets are found again by {self._marker_jql('<number>')}."
