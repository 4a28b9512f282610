"""A vendor service desk held in memory: a :class:`TicketConnector` for outbox and sync tests.

It behaves as the HTTP connectors promise (idempotent create by Firstline number, a state already
reached is not moved again, errors as Firstline errors) without a network, and lets a test break it on
purpose: ``down`` (every call unavailable), ``crash_after`` (the next write happens, then the caller
dies before it hears back, as when a worker is killed mid-sync), and staff acting in its UI. The
contract of the real connectors over their HTTP fakes lives in :mod:`firstline.testing.connectors`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from firstline.errors import AuthenticationError, BackendUnavailableError, TicketNotFoundError
from firstline.ticketing.models import Ticket, TicketState
from firstline.ticketing.remote import Check, RemoteChange, RemoteComment, RemoteRef, RemoteTicket
from firstline.ticketing.sla import Impact, Urgency, priority_for

__all__ = ["InMemoryConnector", "WorkerKilled"]


class WorkerKilled(BaseException):
    """Raised *after* a write reached the vendor, as if the process died before hearing the answer."""


@dataclass
class _Record:
    ticket: RemoteTicket
    comments: list[RemoteComment] = field(default_factory=list)


class InMemoryConnector:
    """A vendor in memory (``system = "memvendor"``); ``calls`` counts every request by operation."""

    system = "memvendor"

    def __init__(self, *, secret: str = "s3cret") -> None:
        self.records: dict[str, _Record] = {}
        self.down = False
        self.crash_after: str | None = None  # "create" | "update" | "comment": die after the next such write
        self.calls: dict[str, int] = {}
        self._secret = secret
        self._numbers = itertools.count(1)
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    # -- test controls ----------------------------------------------------------------------------

    def count(self) -> int:
        return len(self.records)

    def staff_change(self, number: str, *, state: TicketState | None = None, assigned_to: str | None = None) -> None:
        with self._lock:
            record = self._record(number)
            changes = {k: v for k, v in {"state": state, "assigned_to": assigned_to}.items() if v is not None}
            record.ticket = replace(record.ticket, updated_at=datetime.now(UTC), **changes)  # type: ignore[arg-type]

    def staff_open(self, requester: str, short_description: str, *, state: TicketState = TicketState.NEW) -> str:
        """A ticket staff opened in the vendor's UI (no Firstline number on it); its vendor number."""
        with self._lock:
            number = f"MV{next(self._numbers):05d}"
            self.records[number] = _Record(
                RemoteTicket(
                    ref=RemoteRef(self.system, f"key-{number}", number, f"memory://vendor/{number}"),
                    firstline_number=None,
                    short_description=short_description,
                    description="Logged from a phone call.",
                    requester=requester,
                    state=state,
                    impact=Impact.MEDIUM,
                    urgency=Urgency.MEDIUM,
                    priority=priority_for(Impact.MEDIUM, Urgency.MEDIUM),
                    assignment_group="Service Desk",
                    assigned_to="tomasz.nowicki@example.com",
                    resolution_note="Replaced the charger."
                    if state in (TicketState.RESOLVED, TicketState.CLOSED)
                    else "",
                    updated_at=datetime.now(UTC),
                )
            )
            return number

    def staff_comment(self, number: str, body: str, *, public: bool = True) -> RemoteComment:
        with self._lock:
            record = self._record(number)
            comment = RemoteComment(str(next(self._ids)), "tomasz.nowicki@example.com", body, public, datetime.now(UTC))
            record.comments.append(comment)
            record.ticket = replace(record.ticket, updated_at=comment.created_at)
            return comment

    # -- TicketConnector --------------------------------------------------------------------------

    def _enter(self, operation: str) -> None:
        self.calls[operation] = self.calls.get(operation, 0) + 1
        if self.down:
            raise BackendUnavailableError("memvendor", "memory://vendor", "ticketing.memvendor.url", "down")

    def _leave(self, operation: str) -> None:
        if self.crash_after == operation:
            self.crash_after = None
            raise WorkerKilled(operation)

    def _record(self, number: str) -> _Record:
        if number not in self.records:
            raise TicketNotFoundError(number)
        return self.records[number]

    def find(self, firstline_number: str) -> RemoteTicket | None:
        with self._lock:
            self._enter("find")
            return next(
                (r.ticket for r in self.records.values() if r.ticket.firstline_number == firstline_number), None
            )

    def create(self, ticket: Ticket) -> RemoteTicket:
        with self._lock:
            existing = self.find(ticket.number)
            if existing is not None:
                return existing
            self._enter("create")
            number = f"MV{next(self._numbers):05d}"
            remote = RemoteTicket(
                ref=RemoteRef(self.system, f"key-{number}", number, f"memory://vendor/{number}"),
                firstline_number=ticket.number,
                short_description=ticket.short_description,
                description=ticket.description,
                requester=ticket.requester,
                state=TicketState.NEW,
                impact=ticket.impact,
                urgency=ticket.urgency,
                priority=priority_for(ticket.impact, ticket.urgency),
                assignment_group=ticket.assignment_group,
                assigned_to="",
                resolution_note="",
                updated_at=datetime.now(UTC),
            )
            self.records[number] = _Record(remote)
            self._leave("create")
            return remote

    def get(self, number: str) -> RemoteTicket:
        with self._lock:
            self._enter("get")
            return self._record(number).ticket

    def update(self, ref: RemoteRef, change: RemoteChange) -> RemoteTicket:
        with self._lock:
            self._enter("update")
            record = self._record(ref.number)
            fields = {k: v for k, v in change.fields().items() if k not in ("category", "parent")}
            if "parent" in change.fields():
                fields["parent_number"] = change.parent or None
            ticket = replace(record.ticket, updated_at=datetime.now(UTC), **fields)  # type: ignore[arg-type]
            record.ticket = replace(ticket, priority=priority_for(ticket.impact, ticket.urgency))
            self._leave("update")
            return record.ticket

    def comment(self, ref: RemoteRef, body: str, *, public: bool) -> RemoteComment:
        with self._lock:
            self._enter("comment")
            record = self._record(ref.number)
            comment = RemoteComment(str(next(self._ids)), "firstline", body, public, datetime.now(UTC), ours=True)
            record.comments.append(comment)
            self._leave("comment")
            return comment

    def comments(self, ref: RemoteRef) -> list[RemoteComment]:
        with self._lock:
            self._enter("comments")
            return list(self._record(ref.number).comments)

    def changed_since(self, since: datetime, *, limit: int = 200) -> list[RemoteTicket]:
        with self._lock:
            self._enter("changed_since")
            changed = [r.ticket for r in self.records.values() if r.ticket.updated_at > since]
            return sorted(changed, key=lambda t: t.updated_at)

    def webhook(self, number: str) -> tuple[dict[str, str], bytes]:
        body = f'{{"number": "{number}"}}'.encode()
        digest = hmac.new(self._secret.encode(), body, hashlib.sha256).hexdigest()
        return {"x-firstline-signature": f"sha256={digest}"}, body

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[str]:
        expected = "sha256=" + hmac.new(self._secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("x-firstline-signature", "")):
            raise AuthenticationError("The webhook signature does not match the shared secret.")
        number = body.decode().split('"number": "')[1].split('"')[0]
        return [number]

    def check(self) -> Sequence[Check]:
        return [Check("reachable", not self.down, "memory vendor is down" if self.down else "")]

    def close(self) -> None:
        pass
