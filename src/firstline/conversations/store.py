"""Conversations, their event log and approval requests, in the same database as the tickets.

A conversation is an append-only list of events (``user_message``, ``routed``, ``tool_started``,
``tool_finished``, ``approval_needed``, ``ticket_change``, ``assistant_message``, ...) plus the
state needed to resume it (the agent run, the requester, the current ticket). Every write is a
transaction of its own unless the caller holds a unit of work on the ticket store
(:meth:`SqlTicketing.unit_of_work`): then the event commits together with the ticket change it
describes, or neither does.

    store = SqlTicketing("sqlite:///tickets.db").conversations
    conversation = store.create("ana.silva@nwmeridian.co.uk", channel="cli")
    store.append(conversation.id, "user_message", "desk", {"text": "VPN keeps dropping"})
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Literal

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update

from firstline.conversations.hub import Hub, Notice
from firstline.errors import ConversationNotFoundError, InputError
from firstline.localdb.database import utc_now
from firstline.localdb.schema import approvals, conversation_events, conversations, verification_codes
from firstline.redaction import redact_data, redact_data_since
from firstline.sqlstore.prepared import Prepared, PreparedUpdates, Record
from firstline.sqlstore.transactions import Transactions

__all__ = ["ApprovalRecord", "Conversation", "ConversationEvent", "SqlConversations"]

ConversationStatus = Literal["active", "paused", "closed"]
ApprovalStatus = Literal["pending", "approved", "denied"]
MAX_EVENT_LIST = 10_000
_SAVED_STATES = 256  # conversations whose last saved state is kept to redact the next save faster

# Built once: appending is the hottest write (about ten per turn), and building a statement costs more
# CPU than running it.
# Every turn appends events a few times: both statements go to the driver as compiled once (``Prepared``).
_NEXT_SEQ = Prepared(
    update(conversations)
    .where(conversations.c.id == bindparam("cid"))
    .values(event_count=conversations.c.event_count + bindparam("n"), updated_at=bindparam("now"))
    .returning(conversations.c.event_count, conversations.c.requester)
)
_INSERT_EVENT = Prepared(
    insert(conversation_events), columns=("conversation_id", "seq", "kind", "agent", "data", "created_at")
)
# A message's route reads its conversation, the turn reads it again and saves it twice, a new one is made
# before its first message: the same few statements, compiled once.
_GET = Prepared(select(conversations).where(conversations.c.id == bindparam("cid")))
_REQUESTER = Prepared(select(conversations.c.requester).where(conversations.c.id == bindparam("cid")))
_CREATE = Prepared(insert(conversations), columns=tuple(c.key for c in conversations.columns))
_SAVE = PreparedUpdates(conversations, "id")
# Sending and checking a one-time code reads, replaces or drops its row several times.
_LOAD_CODE = Prepared(select(verification_codes).where(verification_codes.c.subject == bindparam("subject")))
_DROP_CODE = Prepared(delete(verification_codes).where(verification_codes.c.subject == bindparam("subject")))
_SAVE_CODE = Prepared(insert(verification_codes), columns=("subject", "digest", "expires", "attempts"))


@dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation's header and resumable state (``state`` is plain JSON)."""

    id: str
    requester: str | None
    channel: str
    status: ConversationStatus
    agent: str
    intent: str
    ticket_number: str | None
    state: dict[str, Any]
    event_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ConversationEvent:
    """One line of a conversation's log, numbered from 1 within the conversation."""

    conversation_id: str
    seq: int
    kind: str
    agent: str
    data: dict[str, Any]
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "agent": self.agent,
            "data": self.data,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """A pending or decided human approval of one destructive tool call."""

    id: str
    conversation_id: str
    tool: str
    arguments: dict[str, Any]
    requested_by: str
    approvers: tuple[str, ...] = ()  # who may decide; empty = any service-desk agent
    status: ApprovalStatus = "pending"
    decided_by: str | None = None
    reason: str | None = None
    created_at: datetime | None = None
    decided_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "tool": self.tool,
            "arguments": self.arguments,
            "requested_by": self.requested_by,
            "approvers": list(self.approvers),
            "status": self.status,
            "decided_by": self.decided_by,
            "reason": self.reason,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


class SqlConversations:
    """Conversations and approvals in Firstline's database (shares its transactions with the other stores there)."""

    def __init__(self, db: Transactions, clock: Callable[[], datetime] = utc_now, hub: Hub | None = None) -> None:
        self._db = db
        self._clock = clock
        self.hub = hub or Hub()  # told of every event once it is committed
        # The state each recent conversation was last saved with here, as redacted: the next save redacts
        # only what changed (redact_data_since). Private copies, never handed out.
        self._saved: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._saved_lock = threading.Lock()

    def unit_of_work(self) -> AbstractContextManager[Connection]:
        """One transaction for every change to Firstline's database inside the block (conversation events, the
        built-in ticket store or a vendor backend's mirror and outbox): they commit together or not at all."""
        return self._db.unit_of_work()

    # -- conversations --------------------------------------------------------------------------

    def create(self, requester: str | None, channel: str = "api", agent: str = "triage") -> Conversation:
        now = self._clock()
        values: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "requester": requester.strip().lower() if requester else None,
            "channel": channel[:16],
            "status": "active",
            "agent": agent,
            "intent": "",
            "ticket_number": None,
            "state": {},
            "event_count": 0,
            "created_at": now,
            "updated_at": now,
        }
        with self._db.write() as conn:
            _CREATE.execute(conn, values)
        return Conversation(**values)

    def get(self, conversation_id: str) -> Conversation:
        with self._db.read() as conn:
            row = _GET.first(conn, {"cid": conversation_id.strip()})
        if row is None:
            raise ConversationNotFoundError("conversation", conversation_id)
        return _conversation(row)

    def requester_of(self, conversation_id: str) -> str | None:
        """The conversation's employee (None before one is known); its state is not read."""
        with self._db.read() as conn:
            row = _REQUESTER.first(conn, {"cid": conversation_id.strip()})
        if row is None:
            raise ConversationNotFoundError("conversation", conversation_id)
        requester: str | None = row.requester
        return requester

    def recent(self, requester: str | None = None, limit: int = 50, offset: int = 0) -> list[Conversation]:
        statement = select(conversations).order_by(conversations.c.updated_at.desc()).limit(limit).offset(offset)
        if requester is not None:
            statement = statement.where(conversations.c.requester == requester.strip().lower())
        with self._db.read() as conn:
            return [_conversation(row) for row in conn.execute(statement)]

    def for_ticket(self, number: str) -> Conversation | None:
        """The most recent conversation whose current ticket is ``number``, if any."""
        statement = (
            select(conversations)
            .where(conversations.c.ticket_number == number.strip().upper())
            .order_by(conversations.c.updated_at.desc())
            .limit(1)
        )
        with self._db.read() as conn:
            row = conn.execute(statement).first()
        return _conversation(row) if row is not None else None

    def has_ticket(self, requester: str, number: str) -> bool:
        """Whether one of ``requester``'s conversations has ``number`` as its ticket (e.g. a linked incident)."""
        statement = (
            select(conversations.c.id)
            .where(
                conversations.c.requester == requester.strip().lower(),
                conversations.c.ticket_number == number.strip().upper(),
            )
            .limit(1)
        )
        with self._db.read() as conn:
            return conn.execute(statement).first() is not None

    def save(
        self,
        conversation_id: str,
        *,
        state: dict[str, Any] | None = None,
        requester: str | None = None,
        status: ConversationStatus | None = None,
        agent: str | None = None,
        intent: str | None = None,
        ticket_number: str | None = None,
    ) -> None:
        """Change the header fields that are given (``None`` leaves a field alone)."""
        values: dict[str, Any] = {"updated_at": self._clock()}
        for name, value in (
            ("state", self._redacted_state(conversation_id, state) if state is not None else None),
            ("requester", requester.lower() if requester else None),
            ("status", status),
            ("agent", agent),
            ("intent", intent),
            ("ticket_number", ticket_number),
        ):
            if value is not None:
                values[name] = value
        with self._db.write() as conn:
            done = _SAVE.execute(conn, conversation_id, values)
        if done == 0:
            raise ConversationNotFoundError("conversation", conversation_id)

    def _redacted_state(self, conversation_id: str, state: dict[str, Any]) -> dict[str, Any]:
        """``state`` with secrets redacted (a model's words and arguments too), remembered for the next save."""
        with self._saved_lock:
            earlier = self._saved.get(conversation_id)
        clean: dict[str, Any] = redact_data(state) if earlier is None else redact_data_since(state, earlier)
        with self._saved_lock:
            self._saved[conversation_id] = clean
            self._saved.move_to_end(conversation_id)
            while len(self._saved) > _SAVED_STATES:
                self._saved.popitem(last=False)
        return clean

    def append(self, conversation_id: str, kind: str, agent: str, data: dict[str, Any]) -> ConversationEvent:
        """Add one event at the end of the log (numbers are gap-free under concurrent appends)."""
        return self.append_many(conversation_id, [(kind, agent, data)])[0]

    def append_many(
        self, conversation_id: str, items: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> list[ConversationEvent]:
        """Add ``(kind, agent, data)`` events at the end of the log, in order, with consecutive numbers (two
        statements however many there are)."""
        if not items:
            return []
        now = self._clock()
        datas = [redact_data(data) for _, _, data in items]  # secrets never stored, whoever wrote the event
        with self._db.write() as conn:
            # One statement takes the row lock and the next numbers (gap-free under concurrent appends).
            row = _NEXT_SEQ.first(conn, {"cid": conversation_id, "now": now, "n": len(items)})
            if row is None:
                raise ConversationNotFoundError("conversation", conversation_id)
            first = int(row.event_count) - len(items) + 1
            values = [
                {
                    "conversation_id": conversation_id,
                    "seq": first + i,
                    "kind": kind[:24],
                    "agent": agent[:64],
                    "data": data,
                    "created_at": now,
                }
                for i, ((kind, agent, _), data) in enumerate(zip(items, datas, strict=True))
            ]
            _INSERT_EVENT.execute(conn, values)
        notices = [
            Notice(conversation_id, v["seq"], kind, agent, row.requester, now, v["data"])
            for v, (kind, agent, _) in zip(values, items, strict=True)
        ]
        for notice in notices:  # each on its own: one failing publish does not hold back the others
            self._db.after_commit(partial(self.hub.publish, notice))
        return [ConversationEvent(conversation_id, n.seq, n.kind, n.agent, n.data, now) for n in notices]

    def events(self, conversation_id: str, after: int = 0, kinds: Sequence[str] = ()) -> list[ConversationEvent]:
        """The log from event ``after + 1`` on, oldest first (only ``kinds`` when given)."""
        statement = (
            select(conversation_events)
            .where(conversation_events.c.conversation_id == conversation_id, conversation_events.c.seq > after)
            .order_by(conversation_events.c.seq)
            .limit(MAX_EVENT_LIST)
        )
        if kinds:
            statement = statement.where(conversation_events.c.kind.in_(list(kinds)))
        with self._db.read() as conn:
            return [
                ConversationEvent(r.conversation_id, r.seq, r.kind, r.agent, dict(r.data), r.created_at)
                for r in conn.execute(statement)
            ]

    def titles(self, conversation_ids: Sequence[str], length: int = 80) -> dict[str, str]:
        """The first message of each conversation that has one, shortened to ``length`` characters."""
        if not conversation_ids:
            return {}
        e = conversation_events.c
        first = (
            select(e.conversation_id, func.min(e.seq).label("seq"))
            .where(e.conversation_id.in_(list(conversation_ids)), e.kind == "user_message")
            .group_by(e.conversation_id)
            .subquery()
        )
        statement = select(e.conversation_id, e.data).join(
            first, (e.conversation_id == first.c.conversation_id) & (e.seq == first.c.seq)
        )
        with self._db.read() as conn:
            rows = conn.execute(statement).all()
        out = {}
        for row in rows:
            text = " ".join(str(dict(row.data).get("text") or "").split())
            out[row.conversation_id] = text if len(text) <= length else text[: length - 1].rstrip() + "…"
        return out

    def count(self) -> dict[str, int]:
        """How many conversations and events are stored (for load tests and health pages)."""
        with self._db.read() as conn:
            return {
                "conversations": int(conn.execute(select(func.count()).select_from(conversations)).scalar() or 0),
                "events": int(conn.execute(select(func.count()).select_from(conversation_events)).scalar() or 0),
            }

    # -- pending one-time codes (a CodeStore for firstline.helpdesk.tools.deps.OneTimeCodes) ---------

    def load_code(self, key: str) -> tuple[str, float, int] | None:
        with self._db.read() as conn:
            row = _LOAD_CODE.first(conn, {"subject": key})
        return (row.digest, float(row.expires), int(row.attempts)) if row is not None else None

    def save_code(self, key: str, digest: str, expires: float, attempts: int) -> None:
        with self._db.write() as conn:
            _DROP_CODE.execute(conn, {"subject": key})
            _SAVE_CODE.execute(conn, {"subject": key, "digest": digest, "expires": expires, "attempts": attempts})

    def drop_code(self, key: str) -> None:
        with self._db.write() as conn:
            _DROP_CODE.execute(conn, {"subject": key})

    # -- approvals --------------------------------------------------------------------------------

    def add_approval(self, record: ApprovalRecord) -> ApprovalRecord:
        now = self._clock()
        with self._db.write() as conn:
            conn.execute(
                insert(approvals).values(
                    id=record.id,
                    conversation_id=record.conversation_id,
                    tool=record.tool,
                    arguments=record.arguments,
                    requested_by=record.requested_by,
                    approvers=list(record.approvers),
                    status="pending",
                    created_at=now,
                )
            )
        return self.approval(record.id)

    def approval(self, approval_id: str) -> ApprovalRecord:
        with self._db.read() as conn:
            row = conn.execute(select(approvals).where(approvals.c.id == approval_id.strip())).first()
        if row is None:
            raise ConversationNotFoundError("approval request", approval_id)
        return _approval(row)

    def approvals(
        self, status: ApprovalStatus | None = "pending", conversation_id: str | None = None, limit: int = 100
    ) -> list[ApprovalRecord]:
        statement = select(approvals).order_by(approvals.c.created_at).limit(limit)
        if status is not None:
            statement = statement.where(approvals.c.status == status)
        if conversation_id is not None:
            statement = statement.where(approvals.c.conversation_id == conversation_id)
        with self._db.read() as conn:
            return [_approval(row) for row in conn.execute(statement)]

    def decide(self, approval_id: str, approved: bool, decided_by: str, reason: str = "") -> ApprovalRecord:
        """Record a decision on a pending request; a request is decided once only."""
        with self._db.write() as conn:
            row = conn.execute(select(approvals).where(approvals.c.id == approval_id).with_for_update()).first()
            if row is None:
                raise ConversationNotFoundError("approval request", approval_id)
            if row.status != "pending":
                raise InputError(f"Approval {approval_id} was already {row.status} by {row.decided_by}.")
            conn.execute(
                update(approvals)
                .where(approvals.c.id == approval_id)
                .values(
                    status="approved" if approved else "denied",
                    decided_by=decided_by,
                    reason=reason,
                    decided_at=self._clock(),
                )
            )
        return self.approval(approval_id)


def _conversation(row: Row[Any] | Record) -> Conversation:
    return Conversation(
        row.id,
        row.requester,
        row.channel,
        row.status,
        row.agent,
        row.intent,
        row.ticket_number,
        dict(row.state or {}),
        int(row.event_count),
        row.created_at,
        row.updated_at,
    )


def _approval(row: Row[Any]) -> ApprovalRecord:
    return ApprovalRecord(
        row.id,
        row.conversation_id,
        row.tool,
        dict(row.arguments),
        row.requested_by,
        tuple(row.approvers or ()),
        row.status,
        row.decided_by,
        row.reason,
        row.created_at,
        row.decided_at,
    )
