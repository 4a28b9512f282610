"""The outbox of a vendor backend: changes waiting for the vendor, and what Firstline knows of the vendor's side.

A change is written here in the same transaction as the mirror change it carries
(:mod:`firstline.ticketing.synced`), so it is never lost and never sent before it is committed.
:mod:`firstline.ticketing.sync` sends them, oldest first per ticket, each exactly once:

- ``create`` opens the vendor ticket; connectors look the Firstline number up before they post.
- ``fields`` sends the syncable fields, as they were when the change was made, that differ from what
  was last pushed (a state-based diff, so sending it twice changes nothing).
- ``note`` adds one comment or work note; after an attempt whose answer was lost, the worker first
  looks for the note among the vendor's comments.

A claimed item records who claimed it (``host:pid``). A worker that dies leaves its items ``sending``;
they are taken over when the lease runs out, at once when the claimer was a process on this host that
is gone, or on ``firstline tickets sync --reclaim``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, delete, func, insert, select, update

from firstline.localdb.database import utc_now
from firstline.localdb.schema import outbox, remote_comments, remote_links, sync_cursors
from firstline.sqlstore.transactions import Transactions
from firstline.ticketing.remote import RemoteRef

__all__ = ["Kind", "OutboxItem", "RemoteLink", "SqlOutbox", "claimer"]

Kind = Literal["create", "fields", "note"]
Status = Literal["pending", "sending", "done", "failed"]


def claimer() -> str:
    """Who claims items from this process: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _gone(claimed_by: str | None) -> bool:
    """Whether the claimer was a process on this host that no longer runs."""
    host, _, pid = (claimed_by or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One change on its way to the vendor. ``uncertain``: an earlier attempt may have reached it."""

    id: int
    ticket_number: str
    kind: Kind
    payload: dict[str, Any]
    status: Status
    attempts: int
    next_attempt_at: datetime
    last_error: str
    created_at: datetime
    uncertain: bool = False


@dataclass(frozen=True, slots=True)
class RemoteLink:
    """The vendor ticket a Firstline ticket was filed as, and its fields as last pushed or seen there."""

    ticket_number: str
    ref: RemoteRef
    pushed: dict[str, Any]


class SqlOutbox:
    """The outbox, remote links, poll cursors and known vendor comments, in Firstline's database."""

    def __init__(self, db: Transactions, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._clock = clock

    # -- writing changes (inside the caller's unit of work) -----------------------------------------

    def enqueue(self, ticket_number: str, kind: Kind, payload: dict[str, Any] | None = None) -> None:
        """Queue one change. ``fields`` carries the ticket's synced fields as they are now, so changes reach the
        vendor in the order they were made; one still waiting last in the ticket's queue is overwritten instead,
        unless the state changed in between (a workflow such as Jira's must pass through each state)."""
        now = self._clock()
        with self._db.write() as conn:
            if (
                kind == "create"
                and conn.execute(
                    select(outbox.c.id).where(outbox.c.ticket_number == ticket_number, outbox.c.kind == "create")
                ).first()
            ):
                return
            if kind == "fields":  # a fields change still waiting at the end of the queue takes the newer snapshot
                last = conn.execute(
                    select(outbox.c.id, outbox.c.kind, outbox.c.status, outbox.c.payload)
                    .where(outbox.c.ticket_number == ticket_number)
                    .order_by(outbox.c.id.desc())
                    .limit(1)
                ).first()
                same_state = last is not None and (last.payload or {}).get("state") == (payload or {}).get("state")
                if last is not None and last.kind == "fields" and last.status == "pending" and same_state:
                    conn.execute(update(outbox).where(outbox.c.id == last.id).values(payload=payload or {}))
                    return
            conn.execute(
                insert(outbox).values(
                    ticket_number=ticket_number,
                    kind=kind,
                    payload=payload or {},
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    last_error="",
                    created_at=now,
                )
            )

    # -- the worker's side --------------------------------------------------------------------------

    def claim(self, *, lease: timedelta, reclaim: bool = False, ticket: str | None = None) -> OutboxItem | None:
        """Take the oldest change that is due and whose ticket has nothing older still waiting, or ``None``.

        A ``sending`` item is taken over once its lease has run out, when its claimer is gone, or with
        ``reclaim``. An item tried before comes back ``uncertain``: that attempt may have reached the vendor.
        """
        now = self._clock()
        me = claimer()
        with self._db.write() as conn:
            rows = conn.execute(
                select(outbox)
                .where(outbox.c.status.in_(("pending", "sending", "failed")))
                .order_by(outbox.c.ticket_number, outbox.c.id)
            ).all()
            heads: dict[str, Any] = {}
            for row in rows:  # the oldest open item of each ticket
                heads.setdefault(row.ticket_number, row)
            candidates = sorted(heads.values(), key=lambda r: r.id)
            for row in candidates:
                if ticket is not None and row.ticket_number != ticket:
                    continue
                if row.status == "failed":
                    continue
                stale = row.status == "sending" and (
                    reclaim or _gone(row.claimed_by) or (row.claimed_at is not None and row.claimed_at + lease <= now)
                )
                if row.status == "sending" and not stale:
                    continue
                if row.status == "pending" and row.next_attempt_at > now:
                    continue
                claimed = conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row.id, outbox.c.status == row.status, outbox.c.attempts == row.attempts)
                    .values(status="sending", attempts=row.attempts + 1, claimed_at=now, claimed_by=me)
                ).rowcount
                if claimed:
                    return _item(row, uncertain=row.attempts > 0)
            return None

    def done(self, item_id: int, result: dict[str, Any] | None = None) -> None:
        with self._db.write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == item_id)
                .values(status="done", done_at=self._clock(), result=result, last_error="")
            )

    def later(self, item_id: int, error: str, wait: timedelta) -> None:
        """Put the item back to wait ``wait`` (the vendor is down or rate-limited)."""
        with self._db.write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == item_id)
                .values(status="pending", next_attempt_at=self._clock() + wait, last_error=error[:2000])
            )

    def failed(self, item_id: int, error: str) -> None:
        """Stop trying: the vendor refused the change for a reason retrying cannot fix (an admin must look)."""
        with self._db.write() as conn:
            conn.execute(update(outbox).where(outbox.c.id == item_id).values(status="failed", last_error=error[:2000]))

    def retry_failed(self, ticket_number: str | None = None) -> int:
        """Queue failed items again (after the admin fixed the cause); how many."""
        condition = outbox.c.status == "failed"
        if ticket_number:
            condition = and_(condition, outbox.c.ticket_number == ticket_number)
        with self._db.write() as conn:
            return int(
                conn.execute(
                    update(outbox).where(condition).values(status="pending", next_attempt_at=self._clock())
                ).rowcount
            )

    def make_due(self) -> int:
        """Make every waiting item due now; how many."""
        now = self._clock()
        with self._db.write() as conn:
            return int(
                conn.execute(
                    update(outbox)
                    .where(outbox.c.status == "pending", outbox.c.next_attempt_at > now)
                    .values(next_attempt_at=now)
                ).rowcount
            )

    def counts(self) -> dict[str, int]:
        """Items per status."""
        with self._db.read() as conn:
            rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()
        return {str(status): int(n) for status, n in rows}

    def items(self, statuses: Iterable[str] = ("pending", "sending", "failed"), limit: int = 100) -> list[OutboxItem]:
        """Open items, oldest first (for ``firstline tickets sync --status``)."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(outbox).where(outbox.c.status.in_(tuple(statuses))).order_by(outbox.c.id).limit(limit)
            ).all()
        return [_item(row) for row in rows]

    def next_due(self) -> datetime | None:
        """When the next waiting item is due (``None`` when nothing waits)."""
        with self._db.read() as conn:
            return conn.execute(select(func.min(outbox.c.next_attempt_at)).where(outbox.c.status == "pending")).scalar()

    def prune(self, older_than: timedelta) -> int:
        """Forget delivered items older than ``older_than``; how many."""
        cutoff = self._clock() - older_than
        with self._db.write() as conn:
            return int(
                conn.execute(delete(outbox).where(outbox.c.status == "done", outbox.c.done_at < cutoff)).rowcount
            )

    # -- remote links ----------------------------------------------------------------------------------

    def link(self, ticket_number: str) -> RemoteLink | None:
        with self._db.read() as conn:
            row = conn.execute(select(remote_links).where(remote_links.c.ticket_number == ticket_number)).first()
        return None if row is None else _link(row)

    def by_remote(self, system: str, remote_number: str) -> str | None:
        """The Firstline number of the vendor ticket ``remote_number`` (case-insensitive), if Firstline filed it."""
        with self._db.read() as conn:
            return conn.execute(
                select(remote_links.c.ticket_number).where(
                    remote_links.c.system == system, func.upper(remote_links.c.remote_number) == remote_number.upper()
                )
            ).scalar()

    def save_link(self, ticket_number: str, ref: RemoteRef, pushed: dict[str, Any]) -> None:
        with self._db.write() as conn:
            conn.execute(delete(remote_links).where(remote_links.c.ticket_number == ticket_number))
            conn.execute(
                insert(remote_links).values(
                    ticket_number=ticket_number,
                    system=ref.system,
                    remote_key=ref.key,
                    remote_number=ref.number,
                    url=ref.url,
                    pushed=pushed,
                    linked_at=self._clock(),
                )
            )

    def set_pushed(self, ticket_number: str, pushed: dict[str, Any]) -> None:
        with self._db.write() as conn:
            conn.execute(
                update(remote_links).where(remote_links.c.ticket_number == ticket_number).values(pushed=pushed)
            )

    # -- polling and vendor comments -----------------------------------------------------------------

    def polled_to(self, system: str) -> datetime | None:
        with self._db.read() as conn:
            return conn.execute(select(sync_cursors.c.polled_to).where(sync_cursors.c.system == system)).scalar()

    def set_polled_to(self, system: str, when: datetime) -> None:
        with self._db.write() as conn:
            conn.execute(delete(sync_cursors).where(sync_cursors.c.system == system))
            conn.execute(insert(sync_cursors).values(system=system, polled_to=when))

    def known_comment(self, system: str, remote_id: str) -> bool:
        with self._db.read() as conn:
            found = conn.execute(
                select(remote_comments.c.remote_id).where(
                    remote_comments.c.system == system, remote_comments.c.remote_id == remote_id
                )
            ).first()
        return found is not None

    def remember_comment(self, system: str, remote_id: str, ticket_number: str, *, ours: bool) -> bool:
        """Record a vendor comment as known; ``False`` when it already was (another worker got there first)."""
        with self._db.write() as conn:
            if conn.execute(
                select(remote_comments.c.remote_id).where(
                    remote_comments.c.system == system, remote_comments.c.remote_id == remote_id
                )
            ).first():
                return False
            conn.execute(
                insert(remote_comments).values(
                    system=system, remote_id=remote_id, ticket_number=ticket_number, ours=ours, seen_at=self._clock()
                )
            )
            return True


def _item(row: Any, *, uncertain: bool = False) -> OutboxItem:
    return OutboxItem(
        id=int(row.id),
        ticket_number=row.ticket_number,
        kind=row.kind,
        payload=dict(row.payload or {}),
        status=row.status,
        attempts=int(row.attempts),
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        uncertain=uncertain,
    )


def _link(row: Any) -> RemoteLink:
    return RemoteLink(
        row.ticket_number, RemoteRef(row.system, row.remote_key, row.remote_number, row.url), dict(row.pushed)
    )
