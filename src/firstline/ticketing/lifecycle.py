"""The lifecycle rules, as pure functions shared by every backend that stores tickets itself.

A backend loads the ticket (locked, inside its transaction), calls one of these functions with the
current time, and writes the returned :class:`Change` — the new ticket and the history entries that
describe it — in that same transaction. Keeping the rules here means the in-memory and SQL stores
cannot drift apart, and the conformance suite tests the rules once per backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from firstline.errors import InputError, InvalidTransitionError
from firstline.localdb.database import utc_now
from firstline.redaction import redact_text
from firstline.ticketing.models import (
    EntryKind,
    NewTicket,
    Ticket,
    TicketEntry,
    TicketState,
    TicketUpdate,
    clean_text,
)
from firstline.ticketing.sla import due_at, priority_for

__all__ = [
    "DUPLICATE_TAG",
    "NUMBER_PREFIX",
    "Change",
    "add_comment",
    "add_transcript",
    "apply_escalation",
    "apply_link",
    "apply_merge",
    "apply_unlink",
    "apply_update",
    "format_number",
    "open_ticket",
    "utc_now",
]

NUMBER_PREFIX = "INC"
# The close code of a ticket merged into another (ServiceNow's "Duplicate"), kept as a tag: closed, never reopened.
DUPLICATE_TAG = "close_code:duplicate"
_TICK = timedelta(microseconds=1)
# Plain fields a TicketUpdate may set, in the order their changes are recorded.
_FIELDS = (
    "short_description",
    "description",
    "category",
    "specialist",
    "intent",
    "impact",
    "urgency",
    "assignment_group",
    "assigned_to",
    "resolution_note",
    "tags",
)


@dataclass(frozen=True, slots=True)
class Change:
    """A ticket after a change, with the history entries that record it (oldest first)."""

    ticket: Ticket
    entries: tuple[TicketEntry, ...]


def format_number(sequence: int) -> str:
    """The ticket number for the ``sequence``-th ticket, e.g. ``INC0001234``."""
    return f"{NUMBER_PREFIX}{sequence:07d}"


def open_ticket(new: NewTicket, number: str, ticket_id: str, now: datetime) -> Ticket:
    """The ticket that ``new`` becomes: state ``new``, priority from impact x urgency, due from the SLA."""
    now = _utc(now)
    priority = priority_for(new.impact, new.urgency)
    return Ticket(
        number=number,
        id=ticket_id,
        correlation_id=new.correlation_id,
        requester=new.requester,
        short_description=new.short_description,
        description=new.description,
        category=new.category,
        specialist=new.specialist,
        intent=new.intent,
        impact=new.impact,
        urgency=new.urgency,
        priority=priority,
        state=TicketState.NEW,
        assignment_group=new.assignment_group,
        assigned_to="",
        parent_number=None,
        opened_at=now,
        updated_at=now,
        resolved_at=None,
        closed_at=None,
        due_at=due_at(now, priority),
        resolution_note="",
        tags=tuple(new.tags),
    )


def apply_update(ticket: Ticket, update: TicketUpdate, author: str, now: datetime) -> Change:
    """Apply ``update``: field changes first, then the state change. No-op updates change nothing.

    Raises :class:`InvalidTransitionError` for a state the lifecycle does not allow (or any change
    to a closed or canceled ticket) and :class:`InputError` when resolving without a resolution note.
    """
    author = _author(author)
    now = _next_time(ticket, now)
    record = _Recorder(ticket, author, now)
    changes = {name: value for name in _FIELDS if (value := getattr(update, name)) is not None}
    if update.assignment_group is not None and update.assignment_group != ticket.assignment_group:
        changes.setdefault("assigned_to", "")  # a new group picks its own assignee, as in ServiceNow
    wanted = update.state if update.state is not None and update.state != ticket.state else None
    if ticket.state.is_final and (wanted or any(getattr(ticket, k) != v for k, v in changes.items())):
        raise InvalidTransitionError(ticket.number, ticket.state, wanted, ())
    for name, value in changes.items():
        record.set_field(name, value)
    if "impact" in changes or "urgency" in changes:
        priority = priority_for(record.ticket.impact, record.ticket.urgency)
        record.set_field("priority", priority)
        record.set_field("due_at", due_at(ticket.opened_at, priority))
    if wanted is not None:
        record.move_to(wanted)
    return record.change()


def apply_escalation(ticket: Ticket, group: str, summary: str, author: str, now: datetime) -> Change:
    """Hand ``ticket`` to ``group`` with a ``summary`` for the people there; ``new`` becomes ``in_progress``."""
    author = _author(author)
    group = clean_text("assignment_group", group, required=True)
    summary = summary.strip()
    if not summary:
        raise InputError("The escalation `summary` is empty: say what was tried and what the next group should do.")
    if ticket.state.is_final:
        raise InvalidTransitionError(ticket.number, ticket.state, None, ())
    record = _Recorder(ticket, author, _next_time(ticket, now))
    record.add(EntryKind.ESCALATION, summary, "assignment_group", ticket.assignment_group, group)
    if group != ticket.assignment_group:
        record.set_field("assignment_group", group)
        record.set_field("assigned_to", "")
    if ticket.state is TicketState.NEW:
        record.move_to(TicketState.IN_PROGRESS)
    return record.change()


def add_comment(ticket: Ticket, body: str, author: str, internal: bool, now: datetime) -> Change:
    """A comment the requester sees, or with ``internal`` a work note only agents see."""
    author = _author(author)
    body = body.strip()
    if not body:
        raise InputError("The comment is empty: write what the requester (or, for a work note, the team) should read.")
    if ticket.state.is_final:
        raise InvalidTransitionError(ticket.number, ticket.state, None, ())
    record = _Recorder(ticket, author, _next_time(ticket, now))
    record.add(EntryKind.WORK_NOTE if internal else EntryKind.COMMENT, body)
    return record.change()


def add_transcript(ticket: Ticket, lines: Sequence[tuple[str, str]], now: datetime) -> Change:
    """Conversation lines as ``(author, text)`` pairs, oldest first; an audit record that leaves ``updated_at``."""
    now = _utc(now)
    entries = []
    for author, text in lines:
        if text.strip():
            entries.append(
                TicketEntry(ticket.number, EntryKind.TRANSCRIPT, _author(author), redact_text(text.strip()), now)
            )
    return Change(ticket, tuple(entries))


def apply_link(child: Ticket, parent: Ticket | None, child_has_children: bool, author: str, now: datetime) -> Change:
    """Make ``child`` a child of the major incident ``parent`` (``None`` unlinks). One level deep, as in ServiceNow."""
    author = _author(author)
    target = parent.number if parent is not None else None
    if target == child.parent_number:
        return Change(child, ())
    if child.state.is_final:
        raise InvalidTransitionError(child.number, child.state, None, ())
    if parent is not None:
        if parent.number == child.number:
            raise InputError(f"{child.number} cannot be its own parent: link it to the major incident instead.")
        if parent.parent_number is not None:
            raise InputError(
                f"{parent.number} is itself a child of {parent.parent_number}: "
                f"link {child.number} to {parent.parent_number} instead."
            )
        if child_has_children:
            raise InputError(
                f"{child.number} is the parent of other incidents, so it cannot become a child: "
                f"link its children to {parent.number} first, or link {parent.number} to {child.number}."
            )
    record = _Recorder(child, author, _next_time(child, now))
    record.set_field("parent_number", target)
    return record.change()


def apply_unlink(child: Ticket, parent: Ticket, author: str, now: datetime) -> tuple[Change, Change]:
    """Take ``child`` out of its major incident ``parent``: the child's ``parent_number`` change names who did it,
    and the parent gets a work note saying so (unless it is already closed). Returns (child's, parent's) change."""
    if child.parent_number != parent.number:
        raise InputError(f"{child.number} is not linked to {parent.number}; there is nothing to unlink.")
    unlinked = apply_link(child, None, False, author, now)
    if parent.state.is_final:
        return unlinked, Change(parent, ())
    note = f"{child.number} ({child.requester}) was unlinked from this incident by {_author(author)}."
    return unlinked, add_comment(parent, note, author, True, now)


def apply_merge(
    duplicate: Ticket, survivor: Ticket, duplicate_has_children: bool, author: str, now: datetime
) -> tuple[Change, Change]:
    """Close ``duplicate`` as a duplicate of ``survivor``; returns (duplicate's change, survivor's change).

    The duplicate gets a comment its requester sees pointing to the survivor, the resolution note
    ``Duplicate of INC…`` and the tag :data:`DUPLICATE_TAG` (the close code), and goes ``resolved`` then
    ``closed`` (final: a duplicate is never reopened; work continues on the survivor). The survivor gets a
    work note naming the duplicate and who merged it, and leaves the duplicate if it was its child. The
    backend then moves the duplicate's open children to the survivor with :func:`apply_link`.

    Raises :class:`InputError` when merging a ticket into itself, into a closed or canceled ticket, or when
    the duplicate has children and the survivor is another incident's child; :class:`InvalidTransitionError`
    when the duplicate is already closed or canceled.
    """
    author = _author(author)
    if duplicate.number == survivor.number:
        raise InputError(f"{duplicate.number} cannot be merged into itself: name the ticket that stays open.")
    if survivor.state.is_final:
        raise InputError(
            f"{survivor.number} is {survivor.state.value}: merge {duplicate.number} into an open ticket, "
            f"or reopen {survivor.number} first."
        )
    if duplicate.state.is_final:
        raise InvalidTransitionError(duplicate.number, duplicate.state, TicketState.CLOSED, ())
    if duplicate_has_children and survivor.parent_number not in (None, duplicate.number):
        raise InputError(
            f"{survivor.number} is itself a child of {survivor.parent_number}, so it cannot take over the children "
            f"of {duplicate.number}: merge {duplicate.number} into {survivor.parent_number} instead."
        )
    note = f"Duplicate of {survivor.number}: merged by {author}."
    record = _Recorder(duplicate, author, _next_time(duplicate, now))
    record.add(
        EntryKind.COMMENT,
        f"This request is a duplicate of {survivor.number}, where the work continues; it was merged there by {author}.",
    )
    record.set_field("resolution_note", note)
    record.set_field(
        "tags", (*duplicate.tags, DUPLICATE_TAG) if DUPLICATE_TAG not in duplicate.tags else duplicate.tags
    )
    if duplicate.state is not TicketState.RESOLVED:
        record.move_to(TicketState.RESOLVED)
    record.move_to(TicketState.CLOSED)
    kept = _Recorder(survivor, author, _next_time(survivor, now))
    kept.add(
        EntryKind.WORK_NOTE,
        f"{duplicate.number} ({duplicate.requester}: {duplicate.short_description}) was merged into this ticket "
        f"as a duplicate by {author}.",
    )
    if survivor.parent_number == duplicate.number:
        kept.set_field("parent_number", None)  # the duplicate it hung from is closing
    return record.change(), kept.change()


class _Recorder:
    """Builds the new ticket and its history entries, one change at a time."""

    def __init__(self, ticket: Ticket, author: str, now: datetime) -> None:
        self.ticket = ticket
        self.author = author
        self.now = now
        self.entries: list[TicketEntry] = []

    def add(
        self,
        kind: EntryKind,
        body: str,
        field: str | None = None,
        old: str | None = None,
        new: str | None = None,
    ) -> None:
        self.entries.append(
            TicketEntry(self.ticket.number, kind, self.author, redact_text(body), self.now, field, old, new)
        )

    def set_field(self, name: str, value: object) -> None:
        old = getattr(self.ticket, name)
        if old == value:
            return
        values: dict[str, Any] = {name: value}
        self.ticket = replace(self.ticket, **values)
        old_text, new_text = _display(old), _display(value)
        self.add(EntryKind.FIELD_CHANGE, f"{name} changed from {old_text!r} to {new_text!r}", name, old_text, new_text)

    def move_to(self, state: TicketState) -> None:
        current = self.ticket
        if state not in current.state.allowed_next:
            raise InvalidTransitionError(current.number, current.state, state, current.state.allowed_next)
        if state is TicketState.RESOLVED and not current.resolution_note:
            raise InputError(
                f"Resolving {current.number} needs a resolution note: pass "
                "TicketUpdate(state=TicketState.RESOLVED, resolution_note='what fixed it')."
            )
        stamps: dict[str, Any] = {}
        if state is TicketState.RESOLVED:
            stamps["resolved_at"] = self.now
        elif current.state is TicketState.RESOLVED and state is TicketState.IN_PROGRESS:
            stamps["resolved_at"] = None  # reopened
        if state.is_final:
            stamps["closed_at"] = self.now
        self.ticket = replace(current, state=state, **stamps)
        body = f"State changed from {current.state} to {state}"
        self.add(EntryKind.STATE_CHANGE, body, "state", current.state.value, state.value)

    def change(self) -> Change:
        if self.entries:
            self.ticket = replace(self.ticket, updated_at=self.now)
        return Change(self.ticket, tuple(self.entries))


def _display(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int):
        return str(int(value))  # IntEnum members as their number, e.g. impact "2"
    return str(value)


def _author(author: str) -> str:
    return clean_text("author", author, required=True)


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise InputError("The clock returned a naive datetime: make it return aware UTC, e.g. datetime.now(UTC).")
    return now.astimezone(UTC)


def _next_time(ticket: Ticket, now: datetime) -> datetime:
    """``now``, but strictly after the ticket's last change, so ``updated_at`` always moves on."""
    return max(_utc(now), ticket.updated_at + _TICK)
