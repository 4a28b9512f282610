"""Firstline's own ticket vocabulary: states, priorities, SLA targets, tickets and their history.

Every ticketing backend (the built-in SQL store, ServiceNow, Jira, ...) speaks these types; vendor
JSON never leaves a backend. The lifecycle is ServiceNow's incident lifecycle::

    new          -> in_progress, on_hold, resolved, canceled
    in_progress  -> on_hold, resolved, canceled
    on_hold      -> in_progress, resolved, canceled
    resolved     -> closed, in_progress (reopen)

``closed`` and ``canceled`` are final. Priority is looked up from impact x urgency
(:func:`priority_for`) and the resolution due time follows from the priority (:func:`due_at`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from firstline.errors import InputError
from firstline.redaction import redact_text
from firstline.ticketing.sla import SLA_TARGETS, Impact, Priority, SlaTarget, Urgency, due_at, priority_for, respond_by

__all__ = [
    "ALLOWED_TRANSITIONS",
    "MAX_SEARCH_LIMIT",
    "SLA_TARGETS",
    "EntryKind",
    "Impact",
    "NewTicket",
    "Priority",
    "SlaTarget",
    "Ticket",
    "TicketEntry",
    "TicketQuery",
    "TicketState",
    "TicketUpdate",
    "Urgency",
    "due_at",
    "priority_for",
    "respond_by",
]

MAX_SEARCH_LIMIT = 500


class TicketState(StrEnum):
    """Where a ticket is in its lifecycle; see :data:`ALLOWED_TRANSITIONS`."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELED = "canceled"

    @property
    def allowed_next(self) -> tuple[TicketState, ...]:
        """The states this one may move to (empty for final states)."""
        return ALLOWED_TRANSITIONS[self]

    @property
    def is_final(self) -> bool:
        """``closed`` and ``canceled`` never change again."""
        return not ALLOWED_TRANSITIONS[self]

    @property
    def is_open(self) -> bool:
        """Someone still has work to do: neither resolved nor final."""
        return self in (TicketState.NEW, TicketState.IN_PROGRESS, TicketState.ON_HOLD)


ALLOWED_TRANSITIONS: dict[TicketState, tuple[TicketState, ...]] = {
    TicketState.NEW: (TicketState.IN_PROGRESS, TicketState.ON_HOLD, TicketState.RESOLVED, TicketState.CANCELED),
    TicketState.IN_PROGRESS: (TicketState.ON_HOLD, TicketState.RESOLVED, TicketState.CANCELED),
    TicketState.ON_HOLD: (TicketState.IN_PROGRESS, TicketState.RESOLVED, TicketState.CANCELED),
    TicketState.RESOLVED: (TicketState.CLOSED, TicketState.IN_PROGRESS),
    TicketState.CLOSED: (),
    TicketState.CANCELED: (),
}


class EntryKind(StrEnum):
    """What a history entry records. Only comments and state changes reach the requester (:attr:`public`)."""

    COMMENT = "comment"
    WORK_NOTE = "work_note"
    STATE_CHANGE = "state_change"
    FIELD_CHANGE = "field_change"
    ESCALATION = "escalation"
    TRANSCRIPT = "transcript"

    @property
    def public(self) -> bool:
        """Whether the requester may see entries of this kind (comments and state changes)."""
        return self in (EntryKind.COMMENT, EntryKind.STATE_CHANGE)


@dataclass(frozen=True, slots=True)
class Ticket:
    """One incident, as every backend returns it. Timestamps are timezone-aware UTC."""

    number: str
    id: str
    correlation_id: str | None
    requester: str
    short_description: str
    description: str
    category: str
    specialist: str
    intent: str
    impact: Impact
    urgency: Urgency
    priority: Priority
    state: TicketState
    assignment_group: str
    assigned_to: str
    parent_number: str | None
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    due_at: datetime
    resolution_note: str
    tags: tuple[str, ...] = ()

    @property
    def respond_by(self) -> datetime:
        """When the first response is due under the SLA for this ticket's priority."""
        return respond_by(self.opened_at, self.priority)

    def is_overdue(self, now: datetime) -> bool:
        """Still open (or on hold) after its resolution due time."""
        return self.state.is_open and now > self.due_at


@dataclass(frozen=True, slots=True)
class TicketEntry:
    """One line of a ticket's history, oldest first. Changes carry ``field``, ``old_value``, ``new_value``."""

    ticket_number: str
    kind: EntryKind
    author: str
    body: str
    created_at: datetime
    field: str | None = None
    old_value: str | None = None
    new_value: str | None = None

    @property
    def public(self) -> bool:
        """Whether the requester may see this entry."""
        return self.kind.public


# Column sizes shared with the SQL schema; checked here so every backend rejects the same input.
LIMITS = {
    "requester": 254,
    "short_description": 160,
    "category": 64,
    "specialist": 64,
    "intent": 64,
    "assignment_group": 100,
    "assigned_to": 254,
    "correlation_id": 128,
    "author": 254,
    "tag": 64,
}


_EXAMPLES = {
    "author": "'firstline' or 'alice@example.com'",
    "assignment_group": "'Network Support'",
    "requester": "'alice@example.com'",
}


def clean_text(name: str, value: str, *, required: bool = False) -> str:
    """``value`` stripped; :class:`InputError` naming ``name`` when blank-but-required or too long."""
    text = value.strip()
    if required and not text:
        example = _EXAMPLES.get(name, "'VPN keeps disconnecting'")
        raise InputError(f"`{name}` is empty: fill it in, e.g. {example}.")
    limit = LIMITS.get(name)
    if limit is not None and len(text) > limit:
        raise InputError(f"`{name}` is {len(text)} characters long; the limit is {limit}. Shorten it.")
    return text


def clean_number(number: str) -> str:
    """A ticket number as stored: trimmed and upper-case (``" inc0001234"`` -> ``"INC0001234"``)."""
    return number.strip().upper()


def clean_email(name: str, value: str) -> str:
    """An e-mail address, trimmed and lower-cased; :class:`InputError` if it does not look like one."""
    email = clean_text(name, value, required=True).lower()
    local, _, domain = email.partition("@")
    if not local or not domain or "@" in domain or any(c.isspace() for c in email):
        raise InputError(f"`{name}` must be an e-mail address like 'alice@example.com', not {value!r}.")
    return email


def clean_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags trimmed, lower-cased and de-duplicated, first occurrence first; blank tags dropped."""
    if isinstance(tags, str):
        raise InputError(f"`tags` must be a list of tags such as ['vpn', 'windows'], not the string {tags!r}.")
    seen: dict[str, None] = {}
    for tag in tags:
        if cleaned := clean_text("tag", tag).lower():
            seen.setdefault(cleaned, None)
    return tuple(seen)


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # normalising a frozen dataclass in __post_init__


@dataclass(frozen=True, slots=True, kw_only=True)
class NewTicket:
    """What a caller asks for when opening a ticket.

    ``correlation_id`` makes creation idempotent: creating again with the same id returns the
    ticket created the first time (use the conversation id, or the inbound e-mail's Message-ID).
    """

    requester: str
    short_description: str
    description: str = ""
    category: str = ""
    specialist: str = ""
    intent: str = ""
    impact: Impact = Impact.MEDIUM
    urgency: Urgency = Urgency.MEDIUM
    assignment_group: str = ""
    correlation_id: str | None = None
    tags: Sequence[str] = ()

    def __post_init__(self) -> None:
        _set(self, "requester", clean_email("requester", self.requester))
        short = clean_text("short_description", redact_text(self.short_description), required=True)
        _set(self, "short_description", short)
        _set(self, "description", redact_text(self.description.strip()))
        for name in ("category", "specialist", "intent", "assignment_group"):
            _set(self, name, clean_text(name, getattr(self, name)))
        _set(self, "impact", _member(Impact, self.impact, "impact"))
        _set(self, "urgency", _member(Urgency, self.urgency, "urgency"))
        if self.correlation_id is not None:
            _set(self, "correlation_id", clean_text("correlation_id", self.correlation_id) or None)
        _set(self, "tags", clean_tags(self.tags))

    @property
    def priority(self) -> Priority:
        """The priority the ticket will get."""
        return priority_for(self.impact, self.urgency)


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketUpdate:
    """A partial update: ``None`` leaves a field as it is; ``""`` clears a text field.

    Changing ``impact`` or ``urgency`` recomputes the priority and the due time. Moving to
    ``resolved`` needs a ``resolution_note`` (here or already on the ticket).
    """

    short_description: str | None = None
    description: str | None = None
    category: str | None = None
    specialist: str | None = None
    intent: str | None = None
    impact: Impact | None = None
    urgency: Urgency | None = None
    state: TicketState | None = None
    assignment_group: str | None = None
    assigned_to: str | None = None
    resolution_note: str | None = None
    tags: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.short_description is not None:
            short = clean_text("short_description", redact_text(self.short_description), required=True)
            _set(self, "short_description", short)
        for name in ("description", "resolution_note"):
            if (value := getattr(self, name)) is not None:
                _set(self, name, redact_text(value.strip()))
        for name in ("category", "specialist", "intent", "assignment_group", "assigned_to"):
            if (value := getattr(self, name)) is not None:
                _set(self, name, clean_text(name, value))
        if self.impact is not None:
            _set(self, "impact", _member(Impact, self.impact, "impact"))
        if self.urgency is not None:
            _set(self, "urgency", _member(Urgency, self.urgency, "urgency"))
        if self.state is not None:
            _set(self, "state", _member(TicketState, self.state, "state"))
        if self.tags is not None:
            _set(self, "tags", clean_tags(self.tags))


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketQuery:
    """Search filters; every given filter must match. Results come newest first.

    ``state`` and ``priority`` accept one value or several (any of them matches). ``text``
    matches a case-insensitive substring of the number, short description or description.
    ``parent`` finds the children of a major incident.
    """

    requester: str | None = None
    state: TicketState | Collection[TicketState] | None = None
    priority: Priority | Collection[Priority] | None = None
    assignment_group: str | None = None
    specialist: str | None = None
    intent: str | None = None
    text: str | None = None
    parent: str | None = None
    opened_after: datetime | None = None
    limit: int = 50
    offset: int = 0
    states: tuple[TicketState, ...] = field(init=False, default=())
    priorities: tuple[Priority, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if self.requester is not None:
            _set(self, "requester", self.requester.strip().lower())
        _set(self, "states", _members(TicketState, self.state, "state"))
        _set(self, "priorities", _members(Priority, self.priority, "priority"))
        if self.text is not None:
            _set(self, "text", self.text.strip() or None)
        if self.parent is not None:
            _set(self, "parent", clean_number(self.parent))
        if not 1 <= self.limit <= MAX_SEARCH_LIMIT:
            raise InputError(f"`limit` is {self.limit}; use 1 to {MAX_SEARCH_LIMIT} and page on with `offset`.")
        if self.offset < 0:
            raise InputError(f"`offset` is {self.offset}; use 0 or more.")
        if self.opened_after is not None and self.opened_after.tzinfo is None:
            raise InputError("`opened_after` has no time zone: pass an aware datetime, e.g. datetime.now(UTC).")

    def matches(self, ticket: Ticket) -> bool:
        """The reference semantics of every filter except ``limit`` and ``offset``."""
        if self.requester is not None and ticket.requester != self.requester:
            return False
        if self.states and ticket.state not in self.states:
            return False
        if self.priorities and ticket.priority not in self.priorities:
            return False
        if self.assignment_group is not None and ticket.assignment_group != self.assignment_group:
            return False
        if self.specialist is not None and ticket.specialist != self.specialist:
            return False
        if self.intent is not None and ticket.intent != self.intent:
            return False
        if self.parent is not None and ticket.parent_number != self.parent:
            return False
        if self.opened_after is not None and ticket.opened_at <= self.opened_after:
            return False
        if self.text is not None:
            needle = self.text.lower()
            haystacks = (ticket.number, ticket.short_description, ticket.description)
            return any(needle in haystack.lower() for haystack in haystacks)
        return True


E = TypeVar("E", Impact, Urgency, Priority, TicketState)


def _member(enum: type[E], value: Any, name: str) -> E:
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(str(member.value) for member in enum)
        raise InputError(f"`{name}` is {value!r}; use one of: {choices}.") from None


def _members(enum: type[E], value: object, name: str) -> tuple[E, ...]:
    if value is None:
        return ()
    if isinstance(value, str | int):
        return (_member(enum, value, name),)
    if not isinstance(value, Iterable):
        raise InputError(f"`{name}` is {value!r}; give one value or a list of values.")
    return tuple(_member(enum, item, name) for item in value)
