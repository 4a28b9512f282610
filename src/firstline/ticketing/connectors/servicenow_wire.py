"""ServiceNow's incident JSON in Firstline's terms: state codes, the fields read, and records -> snapshots.

The connector reads every incident with ``sysparm_display_value=all`` and
``sysparm_exclude_reference_link=true``, so each field arrives as ``{"value": ..., "display_value": ...}``:
the value is what the database holds (a state code, a ``sys_id``, a UTC time), the display value what
people read (the group's name, the parent's number). Dot-walked fields (``caller_id.email``) bring the
e-mail addresses Firstline keys people by. Fields nobody asked for are ignored; a missing required
one is a :class:`~firstline.errors.BackendResponseError` naming it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from firstline.errors import AuthenticationError, BackendResponseError, ConfigError, InputError
from firstline.ticketing.models import Ticket, TicketState
from firstline.ticketing.remote import FieldMap, RemoteComment, RemoteRef, RemoteTicket
from firstline.ticketing.sla import Impact, Priority, Urgency

__all__ = [
    "CORRELATION_DISPLAY",
    "INCIDENT_FIELDS",
    "JOURNAL_PARAMS",
    "READ_PARAMS",
    "STATES",
    "STATE_CODES",
    "create_body",
    "encoded",
    "record",
    "records",
    "sn_time",
    "state_body",
    "to_comment",
    "to_remote",
    "to_time",
    "value",
    "webhook_numbers",
]

STATE_CODES: dict[TicketState, str] = {
    TicketState.NEW: "1",
    TicketState.IN_PROGRESS: "2",
    TicketState.ON_HOLD: "3",
    TicketState.RESOLVED: "6",
    TicketState.CLOSED: "7",
    TicketState.CANCELED: "8",
}
STATES = {code: state for state, code in STATE_CODES.items()}
CORRELATION_DISPLAY = "Firstline"
"""``correlation_display`` on every incident Firstline opened: tells its ``correlation_id`` from other integrations'."""

INCIDENT_FIELDS = (
    "sys_id",
    "number",
    "correlation_id",
    "correlation_display",
    "short_description",
    "description",
    "caller_id",
    "caller_id.email",
    "category",
    "state",
    "hold_reason",
    "impact",
    "urgency",
    "priority",
    "assignment_group",
    "assigned_to",
    "assigned_to.email",
    "close_code",
    "close_notes",
    "parent_incident",
    "sys_updated_on",
)
REQUIRED = ("sys_id", "number", "state", "impact", "urgency", "priority", "sys_updated_on")
READ_PARAMS: dict[str, str] = {
    "sysparm_display_value": "all",
    "sysparm_exclude_reference_link": "true",
    "sysparm_fields": ",".join(INCIDENT_FIELDS),
}
JOURNAL_PARAMS = {"sysparm_fields": "sys_id,element,element_id,value,sys_created_on,sys_created_by"}
HOLD_AWAITING_CALLER = "1"
SIGNATURE_HEADER = "x-firstline-signature"
_UNKNOWN_CALLER = "Reported through Firstline by {email} (no ServiceNow user has this e-mail address)."
_TIME = "%Y-%m-%d %H:%M:%S"


def encoded(text: str) -> str:
    """``text`` as a value in an encoded query (a literal ``^`` is written ``^^``)."""
    return text.replace("^", "^^")


def sn_time(when: datetime) -> str:
    """``when`` as ServiceNow writes database times: ``YYYY-MM-DD HH:MM:SS`` in UTC, whole seconds."""
    if when.tzinfo is None:
        raise InputError("The time has no time zone: pass an aware datetime, e.g. datetime.now(UTC).")
    return when.astimezone(UTC).strftime(_TIME)


def to_time(text: str, what: str) -> datetime:
    """A database time (``YYYY-MM-DD HH:MM:SS``, UTC) as an aware datetime; ``what`` names it in the error."""
    try:
        return datetime.strptime(text, _TIME).replace(tzinfo=UTC)
    except ValueError:
        raise BackendResponseError(
            f"ServiceNow answered {what} = {text!r}, not a time like 2025-03-01 09:30:00."
        ) from None


def records(answer: Any) -> list[dict[str, Any]]:
    """The records of a list answer (``{"result": [...]}``)."""
    result = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(result, list) or not all(isinstance(row, dict) for row in result):
        raise BackendResponseError(f"ServiceNow answered a list request without a `result` list: {str(answer)[:200]}")
    return result


def record(answer: Any) -> dict[str, Any]:
    """The record of a single-record answer (``{"result": {...}}``)."""
    result = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(result, dict):
        raise BackendResponseError(f"ServiceNow answered without a `result` record: {str(answer)[:200]}")
    return result


def value(row: Mapping[str, Any], name: str) -> str:
    """The database value of field ``name`` ("" when absent or empty), plain or ``display_value=all`` shaped."""
    item = row.get(name)
    if isinstance(item, dict):
        item = item.get("value")
    return "" if item is None else str(item)


def display(row: Mapping[str, Any], name: str) -> str:
    """The display value of field ``name`` (its value when the answer has no display value)."""
    item = row.get(name)
    if isinstance(item, dict):
        item = item.get("display_value", item.get("value"))
    return "" if item is None else str(item)


def _number(row: Mapping[str, Any], name: str) -> int:
    text = value(row, name)
    try:
        return int(text)
    except ValueError:
        raise BackendResponseError(f"ServiceNow answered incident field `{name}` = {text!r}, not a number.") from None


def to_remote(row: Mapping[str, Any], *, base_url: str, groups: Mapping[str, str]) -> RemoteTicket:
    """An incident record read with :data:`READ_PARAMS` as a :class:`RemoteTicket` in Firstline's terms."""
    missing = [name for name in REQUIRED if not value(row, name)]
    if missing:
        raise BackendResponseError(
            f"ServiceNow answered an incident without {', '.join(f'`{name}`' for name in missing)}: "
            "check that the integration user may read these incident fields."
        )
    number = value(row, "number")
    code = value(row, "state")
    if code not in STATES:
        raise BackendResponseError(
            f"{number} is in ServiceNow state {code!r} ({display(row, 'state')}), which Firstline does not know; "
            "it understands 1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed and 8 Canceled."
        )
    try:
        impact, urgency = Impact(_number(row, "impact")), Urgency(_number(row, "urgency"))
        priority = Priority(_number(row, "priority"))
    except ValueError as exc:
        raise BackendResponseError(f"ServiceNow answered {number} with {exc}.") from None
    updated = to_time(value(row, "sys_updated_on"), f"{number}'s sys_updated_on")
    description = value(row, "description")
    requester = value(row, "caller_id.email")
    if not requester and not value(row, "caller_id"):
        head, _, email = description.partition("\n")[0].partition(" by ")
        if head == _UNKNOWN_CALLER.partition(" by ")[0]:
            requester = email.partition(" ")[0]
    sys_id = value(row, "sys_id")
    group = display(row, "assignment_group")
    return RemoteTicket(
        ref=RemoteRef("servicenow", sys_id, number, f"{base_url}/incident.do?sys_id={sys_id}"),
        firstline_number=(
            (value(row, "correlation_id") or None) if value(row, "correlation_display") == CORRELATION_DISPLAY else None
        ),
        short_description=value(row, "short_description"),
        description=description,
        requester=requester,
        state=STATES[code],
        impact=impact,
        urgency=urgency,
        priority=priority,
        assignment_group=FieldMap.back(groups, group) if group else "",
        assigned_to=value(row, "assigned_to.email") or display(row, "assigned_to"),
        resolution_note=value(row, "close_notes"),
        updated_at=updated,
        parent_number=display(row, "parent_incident") or None,
    )


def to_comment(row: Mapping[str, Any], me: str) -> RemoteComment:
    """A ``sys_journal_field`` entry (read with :data:`JOURNAL_PARAMS`); ``ours`` when ``me`` wrote it."""
    author = value(row, "sys_created_by")
    return RemoteComment(
        id=value(row, "sys_id"),
        author=author,
        body=value(row, "value"),
        public=value(row, "element") == "comments",
        created_at=to_time(value(row, "sys_created_on"), "sys_journal_field.sys_created_on"),
        ours=author.casefold() == me.casefold(),
    )


def create_body(
    ticket: Ticket, *, caller: str | None, group: str | None, categories: Mapping[str, str]
) -> dict[str, str]:
    """The new incident (``caller``, ``group``: ``sys_id``s); without a caller the description names the requester."""
    body = {
        "short_description": ticket.short_description,
        "description": ticket.description,
        "impact": str(int(ticket.impact)),
        "urgency": str(int(ticket.urgency)),
        "correlation_id": ticket.number,
        "correlation_display": CORRELATION_DISPLAY,
    }
    if ticket.category:
        body["category"] = FieldMap.out(categories, ticket.category)
    if group:
        body["assignment_group"] = group
    if caller:
        body["caller_id"] = caller
    else:
        body["description"] = f"{_UNKNOWN_CALLER.format(email=ticket.requester)}\n\n{ticket.description}".strip()
    return body


def state_body(current: Mapping[str, Any], state: TicketState, note: str | None, close_code: str) -> dict[str, str]:
    """The fields that move ``current`` to ``state`` (nothing when it is there already).

    Resolving or closing carries ``close_code`` (the incident's own, else ``close_code``) and
    ``close_notes`` (``note``, else the incident's own): ServiceNow's data policy requires both.
    """
    code = STATE_CODES[state]
    if code == value(current, "state"):
        return {}
    body = {"state": code}
    if state is TicketState.ON_HOLD:
        body["hold_reason"] = HOLD_AWAITING_CALLER
    if state in (TicketState.RESOLVED, TicketState.CLOSED):
        body["close_code"] = value(current, "close_code") or close_code
        body["close_notes"] = note if note is not None else value(current, "close_notes")
        if not body["close_notes"].strip():
            raise InputError(
                f"Resolving {value(current, 'number')} in ServiceNow needs a resolution note (close_notes): "
                "pass resolution_note with the change."
            )
    return body


def webhook_numbers(secret: str, headers: Mapping[str, str], body: bytes) -> list[str]:
    """Check the ``X-Firstline-Signature`` of a business rule's call and return the incident number it names."""
    if not secret:
        raise ConfigError(
            "No ServiceNow webhook secret: set `ticketing.servicenow.webhook_secret` "
            "(env FIRSTLINE_TICKETING__SERVICENOW__WEBHOOK_SECRET) to the secret the business rule signs with."
        )
    given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), "")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise AuthenticationError(
            "The ServiceNow webhook call has a missing or wrong X-Firstline-Signature: the business rule must "
            "sign the body with the secret in `ticketing.servicenow.webhook_secret`."
        )
    try:
        number = json.loads(body).get("number")
    except (ValueError, AttributeError):
        number = None
    if not isinstance(number, str) or not number.strip():
        raise InputError('The ServiceNow webhook body must be JSON like {"number": "INC0010001", "sys_id": "..."}.')
    return [number.strip().upper()]
