"""Jira's JSON in Firstline's terms: Atlassian Document Format, issue and comment mapping, JQL dates.

Everything here is pure (no HTTP), so :mod:`.jira` stays about the calls and their order.

- :func:`text_to_adf` / :func:`adf_to_text`: plain text (paragraphs split by a blank line, line
  breaks inside them) to ADF and back; reading accepts any ADF and keeps the text of node types it
  does not know.
- :class:`FirstlineProperty`: the issue property ``firstline`` Firstline keeps on every issue it
  opens: its number, impact and urgency (Jira has no such fields; its priority is set from them),
  the requester's address, the category and the last resolution note.
- :class:`WireMap`: an issue (``GET /rest/api/3/issue``, ``POST /rest/api/3/search/jql``) or a JSM
  comment as a :class:`~firstline.ticketing.remote.RemoteTicket` / ``RemoteComment``.
- :func:`transition_body` picks a transition by name; :func:`webhook_keys` verifies a webhook call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from firstline.errors import AuthenticationError, BackendResponseError, ConfigError, InputError
from firstline.ticketing.models import Ticket, TicketState
from firstline.ticketing.remote import FieldMap, RemoteComment, RemoteRef, RemoteTicket
from firstline.ticketing.sla import Impact, Priority, Urgency, priority_for

__all__ = [
    "DEFAULT_PRIORITIES",
    "DEFAULT_STATUSES",
    "DEFAULT_TRANSITIONS",
    "ISSUE_FIELDS",
    "PROPERTY",
    "FirstlineProperty",
    "WireMap",
    "adf_to_text",
    "jql_string",
    "jql_time",
    "parse_time",
    "text_to_adf",
    "transition_body",
    "webhook_keys",
]

PROPERTY = "firstline"
"""Key of the issue property Firstline keeps on its issues."""

DEFAULT_PRIORITIES = {"1": "Highest", "2": "High", "3": "Medium", "4": "Low", "5": "Lowest"}
"""Firstline priority -> Jira priority name on a site with Jira's default priority scheme."""

DEFAULT_TRANSITIONS = {
    "in_progress": "Start progress",
    "on_hold": "Pending",
    "resolved": "Resolve this issue",
    "closed": "Close",
    "canceled": "Cancel request",
}
"""Firstline state -> transition name in Jira Service Management's IT service request workflow."""

DEFAULT_STATUSES = {
    "pending": "on_hold",
    "waiting for customer": "on_hold",
    "on hold": "on_hold",
    "resolved": "resolved",
    "done": "resolved",
    "closed": "closed",
    "canceled": "canceled",
    "cancelled": "canceled",
    "declined": "canceled",
}
"""Jira status name (case-folded) -> Firstline state; other statuses follow their status category:
``new`` -> new, ``indeterminate`` -> in_progress, ``done`` -> resolved."""

_STATES = frozenset(state.value for state in TicketState)
_BY_CATEGORY = {"new": TicketState.NEW, "indeterminate": TicketState.IN_PROGRESS, "done": TicketState.RESOLVED}

ISSUE_FIELDS = (
    "summary",
    "description",
    "status",
    "priority",
    "reporter",
    "assignee",
    "labels",
    "created",
    "updated",
    "resolution",
    "issuelinks",
)
"""Platform fields every read asks for (the team field is added: ``components`` or a custom field)."""


# --- Atlassian Document Format -------------------------------------------------------------------


def text_to_adf(text: str) -> dict[str, Any]:
    """Plain text as an ADF document: a paragraph per blank-line-separated block, ``hardBreak`` per line."""
    paragraphs: list[dict[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        block = block.strip("\n")
        if not block.strip():
            continue
        content: list[dict[str, Any]] = []
        for i, line in enumerate(block.split("\n")):
            if i:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


_INLINE_ATTRS = {"mention": "text", "emoji": "text", "status": "text", "inlineCard": "url", "date": "timestamp"}
_INLINE_BLOCKS = {"paragraph", "heading", "codeBlock"}


def adf_to_text(node: Any) -> str:
    """The text of an ADF document (or a plain string, as API v2 and JSM send it); unknown nodes keep their text."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    if not isinstance(node, Mapping):
        return ""
    return _block(node).strip("\n")


def _block(node: Mapping[str, Any]) -> str:
    kind = node.get("type")
    children = [c for c in node.get("content") or () if isinstance(c, Mapping)]
    if kind in _INLINE_BLOCKS:
        return "".join(_inline(c) for c in children)
    if kind in ("bulletList", "orderedList"):
        marks = ("- " if kind == "bulletList" else f"{n}. " for n in range(1, len(children) + 1))
        return "\n".join(mark + _block(item).replace("\n\n", "\n") for mark, item in zip(marks, children, strict=False))
    if kind == "tableRow":
        return " | ".join(_block(cell).replace("\n\n", " ") for cell in children)
    if kind == "rule":
        return "---"
    if not children:
        return _inline(node)
    separator = "\n" if kind == "table" else "\n\n"
    if all(c.get("type") in ("text", "hardBreak", *_INLINE_ATTRS) for c in children):
        return "".join(_inline(c) for c in children)  # inline content straight under an unknown block
    return separator.join(part for c in children if (part := _block(c)))


def _inline(node: Mapping[str, Any]) -> str:
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    attrs = node.get("attrs") or {}
    if kind in _INLINE_ATTRS and isinstance(attrs, Mapping):
        value = attrs.get(_INLINE_ATTRS[kind]) or attrs.get("shortName") or ""
        return str(value)
    children = [c for c in node.get("content") or () if isinstance(c, Mapping)]
    return "".join(_inline(c) for c in children)


# --- times, JQL, transitions, webhooks --------------------------------------------------------------------------------


def parse_time(value: Any, what: str) -> datetime:
    """A Jira timestamp (``2024-05-01T10:00:00.000+0200``) or epoch milliseconds, as aware UTC."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise BackendResponseError(f"Jira sent {what} as {value!r}, which is not a timestamp.") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def jql_time(moment: datetime, zone: tzinfo) -> str:
    """``moment`` as a JQL date (``"2024/05/01 12:00"``, minutes only) in the searching user's time zone."""
    return moment.astimezone(zone).strftime('"%Y/%m/%d %H:%M"')


def jql_string(value: str) -> str:
    """A JQL string literal: double-quoted, with quotes and backslashes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def transition_body(offered: Any, name: str, *, resolution: str, where: str, target: TicketState) -> dict[str, Any]:
    """The ``POST .../transitions`` body for the transition called ``name`` among ``offered`` (the
    ``GET .../transitions?expand=transitions.fields`` answer); ``resolution`` is sent when the
    transition's screen has that field. :class:`ConfigError` naming the setting when none has that name."""
    transitions = [t for t in (offered or {}).get("transitions") or [] if isinstance(t, Mapping)]
    chosen = next((t for t in transitions if str(t.get("name", "")).casefold() == name.casefold()), None)
    if chosen is None:
        names = ", ".join(repr(str(t.get("name"))) for t in transitions) or "none"
        raise ConfigError(
            f"Jira offers no transition named {name!r} on {where} (it offers {names}). Set the transition that "
            f"moves a request to {target.value} under [ticketing.jira.map.states] in firstline.toml."
        )
    body: dict[str, Any] = {"transition": {"id": str(chosen.get("id"))}}
    screen = chosen.get("fields")
    if isinstance(screen, Mapping) and "resolution" in screen and resolution:
        body["fields"] = {"resolution": {"name": resolution}}
    return body


def webhook_keys(secret: str, headers: Mapping[str, str], body: bytes) -> list[str]:
    """The issue key a verified Jira webhook call names (``[]`` when it names none).

    Jira Cloud admin webhooks registered with a secret sign the raw body: the ``X-Hub-Signature``
    header carries ``sha256=<hex HMAC-SHA256 of the body, keyed with the secret>``
    (https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks).
    """
    if not secret:
        raise ConfigError(
            "Jira webhooks cannot be verified: set ticketing.jira.webhook_secret "
            "(env FIRSTLINE_TICKETING__JIRA__WEBHOOK_SECRET) to the secret of the Jira admin webhook."
        )
    sent = next((v for k, v in headers.items() if k.lower() == "x-hub-signature"), "").strip()
    method, _, digest = sent.partition("=")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if method.lower() != "sha256" or not hmac.compare_digest(digest.lower().encode(), expected.encode()):
        raise AuthenticationError(
            "The Jira webhook call has a missing or wrong X-Hub-Signature. Make ticketing.jira.webhook_secret "
            "the same as the secret of the webhook in Jira (System > WebHooks)."
        )
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InputError("The Jira webhook body is not JSON.") from exc
    issue = payload.get("issue") if isinstance(payload, Mapping) else None
    key = issue.get("key") if isinstance(issue, Mapping) else None
    return [str(key)] if key else []


# --- the firstline issue property -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FirstlineProperty:
    """The issue property ``firstline``: what Jira has no field for. ``number`` is absent on staff-made issues."""

    number: str | None = None
    impact: Impact | None = None
    urgency: Urgency | None = None
    requester: str = ""
    category: str = ""
    resolution_note: str = ""

    @classmethod
    def from_json(cls, value: Any) -> FirstlineProperty:
        """Read the property leniently: a value of the wrong type counts as absent."""
        if not isinstance(value, Mapping):
            return cls()

        def text(name: str) -> str:
            item = value.get(name)
            return item if isinstance(item, str) else ""

        return cls(
            number=text("number") or None,
            impact=_member(Impact, value.get("impact")),
            urgency=_member(Urgency, value.get("urgency")),
            requester=text("requester"),
            category=text("category"),
            resolution_note=text("resolution_note"),
        )

    @classmethod
    def of(cls, ticket: Ticket) -> FirstlineProperty:
        """The property for a Firstline ticket."""
        return cls(
            ticket.number, ticket.impact, ticket.urgency, ticket.requester, ticket.category, ticket.resolution_note
        )

    def to_json(self) -> dict[str, Any]:
        """The property value as stored (absent values left out)."""
        values: dict[str, Any] = {
            "number": self.number,
            "impact": None if self.impact is None else int(self.impact),
            "urgency": None if self.urgency is None else int(self.urgency),
            "requester": self.requester,
            "category": self.category,
            "resolution_note": self.resolution_note,
        }
        return {k: v for k, v in values.items() if v not in (None, "")}


def _member(kind: type[Impact] | type[Urgency], value: Any) -> Any:
    try:
        return kind(int(value))
    except (TypeError, ValueError):
        return None


# --- issues and comments --------------------------------------------------------------------------


@dataclass(frozen=True)
class WireMap:
    """Reads Jira issues and comments with one site's settings.

    ``priorities``, ``groups`` and ``states`` are the ``[ticketing.jira.map]`` tables (defaults
    merged in); ``statuses`` maps Jira status names to Firstline states ahead of
    :data:`DEFAULT_STATUSES`; ``group_field`` is ``components`` or a custom field id holding the team.
    """

    site: str
    priorities: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    groups: Mapping[str, str] = field(default_factory=dict)
    states: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TRANSITIONS))
    statuses: Mapping[str, str] = field(default_factory=dict)
    group_field: str = "components"
    parent_link_type: str = "Relates"
    label_prefix: str = "firstline-"

    def priority_json(self, priority: Priority) -> dict[str, str]:
        """The ``priority`` field value for a Firstline priority."""
        return {"name": FieldMap.out(self.priorities, str(int(priority)))}

    def group_json(self, group: str) -> Any:
        """The team field value: ``[{"name": ...}]`` for components, ``{"value": ...}`` for a select field."""
        if self.group_field == "components":
            return [{"name": FieldMap.out(self.groups, group)}] if group else []
        return {"value": FieldMap.out(self.groups, group)} if group else None

    def group_name(self, raw: Any) -> str:
        """Firstline's name for the team field value (first component, option value or plain text)."""
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        if isinstance(raw, Mapping):
            raw = raw.get("name", raw.get("value"))
        return FieldMap.back(self.groups, raw) if isinstance(raw, str) and raw else ""

    def state(self, status: Mapping[str, Any]) -> TicketState:
        """A Jira status as a Firstline state: ``statuses``, then a transition named like the status,
        then :data:`DEFAULT_STATUSES`, then the status category."""
        name = str(status.get("name", ""))
        folded = name.casefold()
        own = {k.casefold(): v for k, v in self.statuses.items()}
        named_like = FieldMap.back(self.states, name) if name else ""
        for candidate in (own.get(folded, ""), named_like, DEFAULT_STATUSES.get(folded, "")):
            if candidate in _STATES:
                return TicketState(candidate)
        category = status.get("statusCategory")
        key = category.get("key") if isinstance(category, Mapping) else None
        return _BY_CATEGORY.get(str(key), TicketState.NEW)

    def firstline_number(self, issue: Mapping[str, Any]) -> str | None:
        """The Firstline number on an issue: its ``firstline`` property, else a ``firstline-<number>`` label."""
        found = self.property(issue).number
        if found:
            return found
        labels = _fields(issue).get("labels") or []
        return next((label[len(self.label_prefix) :] for label in labels if self._marker(label)), None)

    def unmarked_copy(self, issue: Mapping[str, Any], ticket: Ticket, *, by_label: bool) -> bool:
        """Whether ``issue`` is ``ticket`` opened by an earlier try that never set its duplicate marker:
        same summary and description (spacing aside), no marker, no other ticket's number."""
        fields = _fields(issue)
        number = self.property(issue).number
        marked = f"{self.label_prefix}{ticket.number}" in (fields.get("labels") or []) if by_label else bool(number)
        if marked or number not in (None, ticket.number):
            return False
        seen = (str(fields.get("summary", "")).strip(), " ".join(adf_to_text(fields.get("description")).split()))
        return seen == (ticket.short_description.strip(), " ".join(ticket.description.split()))

    def _marker(self, label: Any) -> bool:
        return isinstance(label, str) and label.startswith(self.label_prefix)

    @staticmethod
    def property(issue: Mapping[str, Any]) -> FirstlineProperty:
        """The ``firstline`` property of an issue read with ``properties=firstline``."""
        properties = issue.get("properties")
        return FirstlineProperty.from_json(properties.get(PROPERTY) if isinstance(properties, Mapping) else None)

    def remote(self, issue: Mapping[str, Any]) -> RemoteTicket:
        """An issue as a :class:`RemoteTicket`; a missing ``id``, ``key``, summary, status or update time
        is a :class:`BackendResponseError` naming it."""
        key = str(_need(issue, "key", "the issue"))
        fields = _fields(issue)
        prop = self.property(issue)
        impact = prop.impact or Impact.MEDIUM
        urgency = prop.urgency or Urgency.MEDIUM
        priority_raw = fields.get("priority")
        priority_name = str(priority_raw.get("name", "")) if isinstance(priority_raw, Mapping) else ""
        back = FieldMap.back(self.priorities, priority_name)
        priority = Priority(int(back)) if back in {"1", "2", "3", "4", "5"} else priority_for(impact, urgency)
        resolution = fields.get("resolution")
        note = prop.resolution_note or (str(resolution.get("name", "")) if isinstance(resolution, Mapping) else "")
        return RemoteTicket(
            ref=RemoteRef("jira", str(_need(issue, "id", key)), key, f"{self.site}/browse/{key}"),
            firstline_number=self.firstline_number(issue),
            short_description=str(_need(fields, "summary", key)),
            description=adf_to_text(fields.get("description")),
            requester=prop.requester or _person(fields.get("reporter")),
            state=self.state(_need(fields, "status", key)),
            impact=impact,
            urgency=urgency,
            priority=priority,
            assignment_group=self.group_name(fields.get(self.group_field)),
            assigned_to=_person(fields.get("assignee")),
            resolution_note=note,
            updated_at=parse_time(_need(fields, "updated", key), f"{key} fields.updated"),
            parent_number=self.parent(issue),
        )

    def parent(self, issue: Mapping[str, Any]) -> str | None:
        """The issue this one points at with the parent link type (its ``outwardIssue``), if any."""
        keys = [str(link["outwardIssue"].get("key") or "") for link in self.parent_links(issue)]
        return next((key for key in keys if key), None)

    def parent_links(self, issue: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The issue's links of ``parent_link_type`` that point outward, to its parent."""
        found = []
        for link in _fields(issue).get("issuelinks") or []:
            kind = link.get("type") if isinstance(link, Mapping) else None
            name = str(kind.get("name", "")) if isinstance(kind, Mapping) else ""
            outward = link.get("outwardIssue") if isinstance(link, Mapping) else None
            if isinstance(outward, Mapping) and name.casefold() == self.parent_link_type.casefold():
                found.append(link)
        return found

    def comment(self, dto: Mapping[str, Any], own_account: str, key: str) -> RemoteComment:
        """A JSM comment (``CommentDTO``) as a :class:`RemoteComment`; ``ours`` when ``own_account`` wrote it."""
        raw_author = dto.get("author")
        author: Mapping[str, Any] = raw_author if isinstance(raw_author, Mapping) else {}
        created = _need(dto, "created", f"a comment on {key}")
        when = created.get("epochMillis", created.get("iso8601")) if isinstance(created, Mapping) else created
        return RemoteComment(
            id=str(_need(dto, "id", f"a comment on {key}")),
            author=_person(author),
            body=str(dto.get("body", "")),
            public=bool(dto.get("public", True)),
            created_at=parse_time(when, f"the time of a comment on {key}"),
            ours=bool(own_account) and author.get("accountId") == own_account,
        )


def _fields(issue: Mapping[str, Any]) -> Mapping[str, Any]:
    fields = issue.get("fields")
    return fields if isinstance(fields, Mapping) else {}


def _need(data: Mapping[str, Any], name: str, where: str) -> Any:
    value = data.get(name)
    if value is None:
        raise BackendResponseError(
            f"Jira answered without `{name}` for {where}. Check that ticketing.jira.url points at a Jira Cloud "
            "site and that the integration user may browse the project."
        )
    return value


def _person(user: Any) -> str:
    if not isinstance(user, Mapping):
        return ""
    return str(user.get("emailAddress") or user.get("displayName") or user.get("accountId") or "")
