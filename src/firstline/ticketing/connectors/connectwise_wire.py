"""ConnectWise PSA JSON to and from Firstline's terms: the ticket and note shapes the connector sends and reads.

Kept apart from :mod:`.connectwise` (which does the requests) so the mapping reads as one table. The
field names, limits and enumerations follow the vendor's OpenAPI 2025.1 as rendered in the generated
client documentation (github.com/Jetbuilt/connect_wise ``docs/Ticket.md``, ``ServiceNote.md``,
``PatchOperation.md``); no ConnectWise spec is stored in ``../shared/specs``.

=====================  ==========================================================================
Firstline              ConnectWise service ticket
=====================  ==========================================================================
number                 ``externalXRef`` (at most 100 characters)
short_description      ``summary`` (at most 100 characters: longer ones are cut at a word, ending "…")
description            ``initialDescription`` on POST (the summary when empty); read back as the first discussion note
requester              ``contactEmailAddress``
state                  ``status`` by name, through ``[ticketing.connectwise.map.states]``
impact / urgency       ``impact`` / ``severity``: High, Medium, Low
priority               ``priority`` by name, through ``[ticketing.connectwise.map.priorities]``
assignment_group       ``team`` by name (a team of the board), ``[ticketing.connectwise.map.groups]``
category               ``type`` by name (a type of the board), ``[ticketing.connectwise.map.categories]``
assigned_to            ``owner`` (a member, by identifier; read back as the identifier)
resolution_note        the latest note with ``resolutionFlag``
parent_number          ``parentTicketId``
=====================  ==========================================================================
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from firstline.errors import BackendResponseError, ConfigError
from firstline.ticketing.models import Ticket, TicketState
from firstline.ticketing.remote import FieldMap, RemoteChange, RemoteComment, RemoteRef, RemoteTicket
from firstline.ticketing.sla import Impact, Priority, Urgency, priority_for

__all__ = [
    "DEFAULT_FIELDS",
    "SUMMARY_LIMIT",
    "callback_signature",
    "new_ticket",
    "parse_time",
    "quoted",
    "remote_comment",
    "remote_ticket",
    "stamp",
    "state_of",
    "summary",
    "ticket_ops",
]

SUMMARY_LIMIT = 100
DEFAULT_FIELDS = FieldMap(
    states={"new": "New", "in_progress": "In Progress", "on_hold": "Waiting Customer", "resolved": "Resolved",
            "closed": "Closed", "canceled": "Cancelled"},
    priorities={"1": "Priority 1 - Emergency Response", "2": "Priority 2 - Quick Response",
                "3": "Priority 3 - Normal Response", "4": "Priority 4 - Scheduled Maintenance",
                "5": "Priority 5 - Next Time"},
)  # fmt: skip
"""ConnectWise's out-of-the-box statuses and priority names; a deployment's ``[...map]`` entries win."""

_LEVELS = {1: "High", 2: "Medium", 3: "Low"}


def quoted(value: str) -> str:
    """A string value for ``conditions``: in double quotes, with quotes and backslashes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stamp(when: datetime) -> str:
    """A date for ``conditions``: UTC, to the second, in square brackets (``[2026-12-05T08:00:00Z]``)."""
    return f"[{when.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}]"


def parse_time(text: Any, what: str) -> datetime:
    """A ConnectWise timestamp (``2026-12-05T08:00:00Z``) as an aware datetime."""
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise BackendResponseError(f"ConnectWise answered {what} = {text!r}, which is not a timestamp.") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def summary(text: str) -> str:
    """``text`` fitted into ConnectWise's 100-character summary, cut at a word boundary when it is longer."""
    text = " ".join(text.split())
    if len(text) <= SUMMARY_LIMIT:
        return text
    cut = text[: SUMMARY_LIMIT - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[SUMMARY_LIMIT // 2 :] else cut).rstrip(" ,;:-") + "…"


def new_ticket(ticket: Ticket, *, board: str, company: str, fields: FieldMap) -> dict[str, Any]:
    """The body of ``POST /service/tickets`` for a Firstline ticket."""
    short = summary(ticket.short_description)
    parts = [ticket.short_description] if short != ticket.short_description else []
    description = "\n\n".join([*parts, ticket.description]).strip() or ticket.short_description
    body: dict[str, Any] = {
        "summary": short,
        "initialDescription": description,
        "board": {"name": board},
        "company": {"identifier": company},
        "status": {"name": FieldMap.out(fields.states, ticket.state.value)},
        "priority": {"name": FieldMap.out(fields.priorities, str(int(ticket.priority)))},
        "impact": _LEVELS[int(ticket.impact)],
        "severity": _LEVELS[int(ticket.urgency)],
        "contactEmailAddress": ticket.requester,
        "externalXRef": ticket.number,
    }
    if ticket.assignment_group:
        body["team"] = {"name": FieldMap.out(fields.groups, ticket.assignment_group)}
    if ticket.category:
        body["type"] = {"name": FieldMap.out(fields.categories, ticket.category)}
    return body


def ticket_ops(
    current: dict[str, Any], change: RemoteChange, *, fields: FieldMap, owner: str | None
) -> list[dict[str, Any]]:
    """The JSON Patch operations that make ``current`` carry ``change``; nothing for values it already has.

    ``owner`` is the member identifier for ``change.assigned_to`` (already looked up), ``""`` to unassign.
    A new impact or urgency also sets the priority that Firstline's matrix gives for the pair.
    """
    ops: list[dict[str, Any]] = []

    def name_of(key: str) -> str:
        return str((current.get(key) or {}).get("name") or "")

    def reference(key: str, wanted: str | None, table: Mapping[str, str]) -> None:
        if wanted is None:
            return
        if wanted == "":
            if current.get(key):
                ops.append({"op": "remove", "path": key})
            return
        value = FieldMap.out(table, wanted)
        if value.casefold() != name_of(key).casefold():
            ops.append({"op": "replace", "path": key, "value": {"name": value}})

    reference("status", None if change.state is None else change.state.value, fields.states)
    if change.short_description is not None and summary(change.short_description) != current.get("summary"):
        ops.append({"op": "replace", "path": "summary", "value": summary(change.short_description)})
    levels = [(key, _LEVELS[int(level)]) for key, level in (("impact", change.impact), ("severity", change.urgency))
              if level is not None and _LEVELS[int(level)] != current.get(key)]  # fmt: skip
    ops += [{"op": "replace", "path": key, "value": value} for key, value in levels]
    if levels:  # a new impact or urgency: the priority Firstline's matrix gives for the pair
        impact = change.impact or Impact(_level(current, "impact"))
        urgency = change.urgency or Urgency(_level(current, "severity"))
        reference("priority", str(int(priority_for(impact, urgency))), fields.priorities)
    reference("team", change.assignment_group, fields.groups)
    reference("type", change.category, fields.categories)
    if owner == "" and current.get("owner"):
        ops.append({"op": "remove", "path": "owner"})
    elif owner and owner.casefold() != str((current.get("owner") or {}).get("identifier") or "").casefold():
        ops.append({"op": "replace", "path": "owner", "value": {"identifier": owner}})
    return ops


def state_of(body: dict[str, Any], fields: FieldMap) -> TicketState:
    """The Firstline state of a ConnectWise ticket's status; :class:`ConfigError` for a status no mapping gives."""
    name = str(_need(body, "status", "name"))
    ours = FieldMap.back(fields.states, name)
    try:
        return TicketState(ours)
    except ValueError:
        choices = ", ".join(s.value for s in TicketState)
        raise ConfigError(
            f"ConnectWise ticket {body.get('id')} has the status {name!r}, which no Firstline state maps to. "
            f"Map it under [ticketing.connectwise.map.states] (e.g. in_progress = {name!r}); "
            f"Firstline states are {choices}."
        ) from None


def remote_ticket(
    body: dict[str, Any], *, description: str, resolution: str, fields: FieldMap, url: str
) -> RemoteTicket:
    """A ConnectWise ticket (``GET /service/tickets/{id}``) in Firstline's terms; unknown fields are ignored."""
    ticket_id = str(_need(body, "id"))
    impact, urgency = Impact(_level(body, "impact")), Urgency(_level(body, "severity"))
    team, owner = body.get("team") or {}, body.get("owner") or {}
    parent = body.get("parentTicketId")
    return RemoteTicket(
        ref=RemoteRef("connectwise", ticket_id, ticket_id, url),
        firstline_number=str(body["externalXRef"]) if body.get("externalXRef") else None,
        short_description=str(_need(body, "summary")),
        description=description,
        requester=str(body.get("contactEmailAddress") or ""),
        state=state_of(body, fields),
        impact=impact,
        urgency=urgency,
        priority=_priority(body, fields, impact, urgency),
        assignment_group=FieldMap.back(fields.groups, str(team["name"])) if team.get("name") else "",
        assigned_to=str(owner.get("identifier") or owner.get("name") or ""),
        resolution_note=resolution,
        updated_at=parse_time(_need(body, "_info", "lastUpdated"), "_info.lastUpdated"),
        parent_number=str(parent) if parent else None,
    )


def remote_comment(note: dict[str, Any], *, member: str) -> RemoteComment:
    """A ticket note in Firstline's terms: discussion notes are public, internal analysis is not."""
    by = note.get("member") or {}
    author = str(by.get("identifier") or note.get("createdBy") or (note.get("contact") or {}).get("name") or "")
    return RemoteComment(
        id=str(_need(note, "id")),
        author=author,
        body=str(note.get("text") or ""),
        public=bool(note.get("detailDescriptionFlag")) and not note.get("internalAnalysisFlag"),
        created_at=parse_time(_need(note, "dateCreated"), "note dateCreated"),
        ours=bool(by) and author.casefold() == member.casefold(),
    )


def callback_signature(key: str, body: bytes) -> str:
    """ConnectWise's ``x-content-signature``: base64 HMAC-SHA256 of the raw body, keyed with SHA-256 of the key."""
    digest = hmac.new(hashlib.sha256(key.encode()).digest(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _need(body: dict[str, Any], *path: str) -> Any:
    value: Any = body
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None or value == "":
        raise BackendResponseError(f"ConnectWise answered a record without `{'.'.join(path)}`: {str(body)[:200]}")
    return value


def _level(body: dict[str, Any], key: str) -> int:
    text = str(body.get(key) or "Medium")
    for value, name in _LEVELS.items():
        if name.casefold() == text.casefold():
            return value
    raise BackendResponseError(
        f"ConnectWise ticket {body.get('id')} has {key} = {text!r}; expected High, Medium or Low."
    )


def _priority(body: dict[str, Any], fields: FieldMap, impact: Impact, urgency: Urgency) -> Priority:
    name = str((body.get("priority") or {}).get("name") or "")
    ours = FieldMap.back(fields.priorities, name)
    if ours in {"1", "2", "3", "4", "5"}:
        return Priority(int(ours))
    if match := re.match(r"\s*priority\s*([1-5])\b", name, re.IGNORECASE):
        return Priority(int(match[1]))
    return priority_for(impact, urgency)
