"""The built-in ticket store: SQLAlchemy Core over SQLite (the default) or PostgreSQL.

Every operation is one transaction: a change to a ticket and the history entries that record it
commit together or not at all. Tickets being changed are locked (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite write transactions are serialised by ``BEGIN IMMEDIATE``), so concurrent
updates never overwrite each other. Numbers come from a counter row that is incremented under the
same lock, so concurrent creates never collide, and a unique index on the correlation id keeps
creation idempotent even across processes.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import URL, ColumnElement, Integer, Row, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from firstline.errors import InputError, TicketNotFoundError
from firstline.localdb import open_database
from firstline.localdb.database import display_url, translate_errors
from firstline.localdb.schema import COUNTER_NAME, ticket_counters, ticket_entries, tickets
from firstline.sqlstore.prepared import Prepared, PreparedUpdates, Record
from firstline.sqlstore.transactions import Transactions
from firstline.ticketing import lifecycle
from firstline.ticketing.models import (
    EntryKind,
    NewTicket,
    Ticket,
    TicketEntry,
    TicketQuery,
    TicketState,
    TicketUpdate,
    clean_number,
)
from firstline.ticketing.sla import Impact, Priority, Urgency

__all__ = ["SqlTicketing"]

_Row = Row[*tuple[Any, ...]]
_TICKET_FIELDS = tuple(f.name for f in dataclasses.fields(Ticket))
_ENTRY_COLUMNS = (
    ticket_entries.c.kind,
    ticket_entries.c.author,
    ticket_entries.c.body,
    ticket_entries.c.created_at,
    ticket_entries.c.field,
    ticket_entries.c.old_value,
    ticket_entries.c.new_value,
)


class SqlTicketing:
    """A :class:`~firstline.ticketing.backend.TicketingBackend` in a SQL database.

    ``database`` is Firstline's database, already open (:func:`firstline.localdb.open_database`), shared
    with the conversation and account stores so one unit of work spans them; or a URL,
    ``sqlite:///path/to/tickets.db`` (folders are created) or ``postgresql+psycopg://user:password@host:5432/db``,
    which this store then opens (migrating it to the newest schema) and closes itself. ``clock``
    returns the current time (aware UTC). Thread-safe.
    """

    def __init__(
        self, database: str | URL | Transactions, *, clock: Callable[[], datetime] = lifecycle.utc_now
    ) -> None:
        self._owns = not isinstance(database, Transactions)
        self._db = open_database(database) if not isinstance(database, Transactions) else database
        self.url = self._db.url
        self._clock = clock

    @property
    def database(self) -> Transactions:
        """The database this store writes to (for stores that share its transactions)."""
        return self._db

    def unit_of_work(self) -> AbstractContextManager[Connection]:
        """One transaction for every change to this database inside the block (this thread/task)."""
        return self._db.unit_of_work()

    def __repr__(self) -> str:
        return f"SqlTicketing({display_url(self.url)!r})"

    def create(self, new: NewTicket) -> Ticket:
        with translate_errors(self.url):
            try:
                with self._db.transaction() as conn:
                    return self._create(conn, new)
            except IntegrityError:
                # Another process inserted the same correlation id between our check and our insert.
                if new.correlation_id is None:
                    raise
                with self._db.transaction(read_only=True) as conn:
                    existing = self._find_correlated(conn, new.correlation_id)
                if existing is None:
                    raise
                return existing

    def get(self, number: str) -> Ticket:
        with self._db.read() as conn:
            return self._load(conn, number)

    def search(self, query: TicketQuery) -> list[Ticket]:
        if query.text is None:  # the searches of every turn: one prepared statement per set of filters
            prepared, params = _prepared_search(query)
            with self._db.read() as conn:
                return [_ticket(row) for row in prepared.all(conn, params)]
        statement = (
            select(tickets)
            .where(*_conditions(query))
            .order_by(tickets.c.seq.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        with self._db.read() as conn:
            return [_ticket(row) for row in conn.execute(statement)]

    def update(self, number: str, update: TicketUpdate, author: str) -> Ticket:
        with self._db.write() as conn:
            ticket = self._load(conn, number, lock=True)
            return self._save(conn, ticket, lifecycle.apply_update(ticket, update, author, self._clock())).ticket

    def comment(self, number: str, body: str, author: str, internal: bool = False) -> TicketEntry:
        with self._db.write() as conn:
            ticket = self._load(conn, number, lock=True)
            change = lifecycle.add_comment(ticket, body, author, internal, self._clock())
            return self._save(conn, ticket, change).entries[-1]

    def escalate(self, number: str, group: str, summary: str, author: str) -> Ticket:
        with self._db.write() as conn:
            ticket = self._load(conn, number, lock=True)
            change = lifecycle.apply_escalation(ticket, group, summary, author, self._clock())
            return self._save(conn, ticket, change).ticket

    def add_transcript(self, number: str, lines: Sequence[tuple[str, str]]) -> list[TicketEntry]:
        with self._db.write() as conn:
            ticket = self._load(conn, number, lock=True)
            return list(self._save(conn, ticket, lifecycle.add_transcript(ticket, lines, self._clock())).entries)

    def history(self, number: str, *, public_only: bool = False) -> list[TicketEntry]:
        statement = select(*_ENTRY_COLUMNS).order_by(ticket_entries.c.id)
        if public_only:
            statement = statement.where(ticket_entries.c.kind.in_([k.value for k in EntryKind if k.public]))
        with self._db.read() as conn:
            ticket = self._load(conn, number)
            rows = conn.execute(statement.where(ticket_entries.c.ticket_id == ticket.id))
            return [_entry(ticket.number, row) for row in rows]

    def link_to_parent(self, child_number: str, parent_number: str | None, author: str) -> Ticket:
        with self._db.write() as conn:
            # Lock both rows in number order, so two crossing links cannot deadlock.
            numbers = sorted({clean_number(child_number), *([clean_number(parent_number)] if parent_number else [])})
            loaded = {n: self._load(conn, n, lock=True) for n in numbers}
            child = loaded[clean_number(child_number)]
            parent = loaded[clean_number(parent_number)] if parent_number else None
            has_children = conn.execute(select(exists().where(tickets.c.parent_number == child.number))).scalar()
            change = lifecycle.apply_link(child, parent, bool(has_children), author, self._clock())
            return self._save(conn, child, change).ticket

    def unlink(self, child_number: str, author: str) -> Ticket:
        with self._db.write() as conn:
            child = self._load(conn, child_number)
            if child.parent_number is None:
                raise InputError(f"{child.number} is not linked to a major incident; there is nothing to unlink.")
            loaded = {n: self._load(conn, n, lock=True) for n in sorted({child.number, child.parent_number})}
            child = loaded[child.number]
            if child.parent_number is None or child.parent_number not in loaded:  # changed before we held the lock
                raise InputError(f"{child.number} was just relinked or unlinked by someone else: look again.")
            parent = loaded[child.parent_number]
            unlinked, noted = lifecycle.apply_unlink(child, parent, author, self._clock())
            self._save(conn, parent, noted)
            return self._save(conn, child, unlinked).ticket

    def merge(self, duplicate_number: str, into: str, author: str) -> Ticket:
        with self._db.write() as conn:
            # Lock both rows in number order (as link_to_parent does), then the duplicate's children.
            numbers = {clean_number(duplicate_number), clean_number(into)}
            loaded = {n: self._load(conn, n, lock=True) for n in sorted(numbers)}
            duplicate, survivor = loaded[clean_number(duplicate_number)], loaded[clean_number(into)]
            statement = select(tickets).where(tickets.c.parent_number == duplicate.number).order_by(tickets.c.number)
            children = [_ticket(row) for row in conn.execute(statement.with_for_update())]
            merged, kept = lifecycle.apply_merge(duplicate, survivor, bool(children), author, self._clock())
            survivor = self._save(conn, survivor, kept).ticket
            for child in children:
                if child.number != survivor.number and not child.state.is_final:
                    self._save(conn, child, lifecycle.apply_link(child, survivor, False, author, self._clock()))
            return self._save(conn, duplicate, merged).ticket

    def vendor_number(self, number: str) -> str | None:
        """Tickets live here: there is no vendor number."""
        return None

    def close(self) -> None:
        """Close the database when this store opened it (a shared one is its opener's to close); harmless twice."""
        if self._owns:
            self._db.close()

    def _create(self, conn: Connection, new: NewTicket) -> Ticket:
        if (existing := self._find_correlated(conn, new.correlation_id)) is not None:
            return existing
        # The counter's row lock queues concurrent creates; look again once we hold it.
        _COUNT.execute(conn, {"name": COUNTER_NAME, "step": 1})
        if (existing := self._find_correlated(conn, new.correlation_id)) is not None:
            # give the number back (no rollback: we may be inside a caller's unit of work)
            _COUNT.execute(conn, {"name": COUNTER_NAME, "step": -1})
            return existing
        sequence = _COUNTER.scalar(conn, {"name": COUNTER_NAME})
        assert isinstance(sequence, int), "the ticket counter row is missing: the migration 0001 seeds it"
        ticket = lifecycle.open_ticket(new, lifecycle.format_number(sequence), uuid.uuid4().hex, self._clock())
        _INSERT_TICKET.execute(conn, {"seq": sequence, **_columns(ticket)})
        return ticket

    def _find_correlated(self, conn: Connection, correlation_id: str | None) -> Ticket | None:
        if correlation_id is None:
            return None
        row = _CORRELATED.first(conn, {"correlation_id": correlation_id})
        return _ticket(row) if row is not None else None

    def _load(self, conn: Connection, number: str, *, lock: bool = False) -> Ticket:
        row = (_LOAD_LOCKED if lock else _LOAD).first(conn, {"number": clean_number(number)})
        if row is None:
            raise TicketNotFoundError(number)
        return _ticket(row)

    def _save(self, conn: Connection, before: Ticket, change: lifecycle.Change) -> lifecycle.Change:
        old = _columns(before)
        changed = {name: value for name, value in _columns(change.ticket).items() if value != old[name]}
        if changed:
            _UPDATE.execute(conn, before.id, changed)
        if change.entries:
            _INSERT_ENTRY.execute(conn, [_entry_columns(before.id, entry) for entry in change.entries])
        return change


_LOAD_STATEMENT = select(tickets).where(tickets.c.number == bindparam("number"))
_LOAD = Prepared(_LOAD_STATEMENT)  # every turn loads tickets, several times
_LOAD_LOCKED = Prepared(_LOAD_STATEMENT.with_for_update())
# A new ticket and each change to one: the same statements every time.
_CORRELATED = Prepared(select(tickets).where(tickets.c.correlation_id == bindparam("correlation_id")))
_COUNT = Prepared(
    update(ticket_counters)
    .where(ticket_counters.c.name == bindparam("name"))
    .values(value=ticket_counters.c.value + bindparam("step"))
)
_COUNTER = Prepared(select(ticket_counters.c.value).where(ticket_counters.c.name == bindparam("name")))
_INSERT_TICKET = Prepared(insert(tickets), columns=("seq", *_TICKET_FIELDS))
_UPDATE = PreparedUpdates(tickets, "id")
_INSERT_ENTRY = Prepared(
    insert(ticket_entries),
    columns=("ticket_id", "kind", "author", "body", "created_at", "field", "old_value", "new_value"),
)


_SEARCHES: dict[tuple[Any, ...], Prepared] = {}
_EQUAL_FILTERS = ("requester", "assignment_group", "specialist", "intent", "parent")


def _prepared_search(query: TicketQuery) -> tuple[Prepared, dict[str, Any]]:
    """:func:`_conditions` (without ``text``) with every value a parameter: the statement depends only on
    which filters are given and how many states and priorities, so it is built and compiled once per shape."""
    equal = {name: getattr(query, name) for name in _EQUAL_FILTERS if getattr(query, name) is not None}
    shape = (tuple(equal), len(query.states), len(query.priorities), query.opened_after is not None)
    params: dict[str, Any] = {f"f_{name}": value for name, value in equal.items()}
    params.update({f"state_{i}": s.value for i, s in enumerate(query.states)})
    params.update({f"priority_{i}": int(p) for i, p in enumerate(query.priorities)})
    if query.opened_after is not None:
        params["opened_after"] = query.opened_after
    params.update(limit=query.limit, offset=query.offset)
    prepared = _SEARCHES.get(shape)
    if prepared is None:
        c = tickets.c
        conditions: list[ColumnElement[bool]] = [
            c["parent_number" if name == "parent" else name] == bindparam(f"f_{name}") for name in equal
        ]
        if query.states:
            conditions.append(c.state.in_([bindparam(f"state_{i}") for i in range(len(query.states))]))
        if query.priorities:
            conditions.append(c.priority.in_([bindparam(f"priority_{i}") for i in range(len(query.priorities))]))
        if query.opened_after is not None:
            conditions.append(c.opened_at > bindparam("opened_after", type_=c.opened_at.type))
        statement = (
            select(tickets)
            .where(*conditions)
            .order_by(c.seq.desc())
            .limit(bindparam("limit", type_=Integer()))
            .offset(bindparam("offset", type_=Integer()))
        )
        prepared = _SEARCHES.setdefault(shape, Prepared(statement))
    return prepared, params


def _conditions(query: TicketQuery) -> list[ColumnElement[bool]]:
    c = tickets.c
    conditions: list[ColumnElement[bool]] = []
    if query.requester is not None:
        conditions.append(c.requester == query.requester)
    if query.states:
        conditions.append(c.state.in_([s.value for s in query.states]))
    if query.priorities:
        conditions.append(c.priority.in_([int(p) for p in query.priorities]))
    if query.assignment_group is not None:
        conditions.append(c.assignment_group == query.assignment_group)
    if query.specialist is not None:
        conditions.append(c.specialist == query.specialist)
    if query.intent is not None:
        conditions.append(c.intent == query.intent)
    if query.parent is not None:
        conditions.append(c.parent_number == query.parent)
    if query.opened_after is not None:
        conditions.append(c.opened_at > query.opened_after)
    if query.text is not None:
        needle = query.text.lower()
        columns = (c.number, c.short_description, c.description)
        conditions.append(or_(*(func.lower(column).contains(needle, autoescape=True) for column in columns)))
    return conditions


def _columns(ticket: Ticket) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _TICKET_FIELDS:
        value = getattr(ticket, name)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        values[name] = value
    return values


def _ticket(row: _Row | Record) -> Ticket:
    values = {name: getattr(row, name) for name in _TICKET_FIELDS}
    values.update(
        impact=Impact(row.impact),
        urgency=Urgency(row.urgency),
        priority=Priority(row.priority),
        state=TicketState(row.state),
        tags=tuple(row.tags or ()),
    )
    return Ticket(**values)


def _entry_columns(ticket_id: str, entry: TicketEntry) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "kind": entry.kind.value,
        "author": entry.author,
        "body": entry.body,
        "created_at": entry.created_at,
        "field": entry.field,
        "old_value": entry.old_value,
        "new_value": entry.new_value,
    }


def _entry(number: str, row: _Row) -> TicketEntry:
    return TicketEntry(
        ticket_number=number,
        kind=EntryKind(row.kind),
        author=row.author,
        body=row.body,
        created_at=row.created_at,
        field=row.field,
        old_value=row.old_value,
        new_value=row.new_value,
    )
