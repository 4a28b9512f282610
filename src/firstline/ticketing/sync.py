"""Two-way sync of a vendor backend: the outbox out to the vendor, IT staff's changes back in.

:class:`Syncer` does one piece of work at a time and keeps no state of its own (everything is in
Firstline's database), so a worker that is killed half-way loses nothing and a second one duplicates
nothing. :class:`SyncWorker` runs it in the background; ``firstline tickets sync`` runs it once.

Out (:meth:`Syncer.push`): each outbox item is claimed, sent, and marked done (see
:mod:`firstline.ticketing.outbox` for the kinds). A vendor that is down or rate-limiting puts the
item back with a growing wait (``Retry-After`` when it said one); a refusal retrying cannot fix
(credentials, permissions, a field the vendor rejects) marks it failed for an admin, and holds the
ticket's later changes back so they never arrive out of order.

In (:meth:`Syncer.pull` by polling, :meth:`Syncer.webhook` when the vendor calls): for each vendor
ticket Firstline filed, a field staff changed since Firstline last pushed or saw it is applied to the
mirror (never queued back out), and each vendor comment Firstline did not write and has not seen is
added to the mirror. ``on_remote_change`` hears of each, so the employee's conversation can be told.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from firstline.errors import BackendUnavailableError, FirstlineError, InvalidTransitionError
from firstline.localdb.database import utc_now
from firstline.ticketing.models import Ticket, TicketState, TicketUpdate
from firstline.ticketing.outbox import OutboxItem, RemoteLink
from firstline.ticketing.remote import RemoteChange, RemoteComment, RemoteTicket
from firstline.ticketing.sla import Impact, Urgency
from firstline.ticketing.synced import SyncedTicketing, synced_fields

__all__ = ["PushReport", "RemoteChangeEvent", "SyncWorker", "Syncer"]

log = logging.getLogger(__name__)

MAX_WAIT = timedelta(minutes=15)
# The fields IT staff may change in the vendor that Firstline takes back into the mirror.
PULLED_FIELDS = ("state", "assigned_to", "assignment_group", "resolution_note")


class _Waiting(Exception):
    """An item needs another ticket filed first (a parent); it waits a moment, nothing else does."""


@dataclass
class PushReport:
    """What one :meth:`Syncer.push` did: items sent, put back to wait, and failed."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RemoteChangeEvent:
    """IT staff changed a ticket in the vendor system: ``changes`` (field -> new value) and/or a ``comment``."""

    ticket: Ticket
    system: str
    changes: dict[str, str]
    comment: RemoteComment | None = None
    remote_number: str = ""
    """The ticket's number in the vendor system (what staff there call it)."""


class Syncer:
    """Moves changes between the mirror of ``tickets`` and its vendor; every method is safe to run in parallel."""

    def __init__(
        self,
        tickets: SyncedTicketing,
        *,
        on_remote_change: Callable[[RemoteChangeEvent], None] | None = None,
        lease: timedelta = timedelta(minutes=2),
        first_poll: timedelta = timedelta(days=1),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.tickets = tickets
        self.connector = tickets.connector
        self.outbox = tickets.outbox
        self.mirror = tickets.mirror
        self.on_remote_change = on_remote_change
        self.lease = lease
        self.first_poll = first_poll
        self.clock = clock
        tickets.pusher = self._push_ticket
        self.paused_until: datetime | None = None  # the vendor was unreachable: nothing is tried before then

    # -- out -------------------------------------------------------------------------------------------

    def _push_ticket(self, number: str) -> None:
        self.push(ticket=number)

    def push(self, *, ticket: str | None = None, limit: int | None = None, reclaim: bool = False) -> PushReport:
        """Send due outbox items (only ``ticket``'s when given) until none is due or ``limit`` were tried."""
        report = PushReport()
        if self.paused_until is not None and self.clock() < self.paused_until:
            return report
        stalled: set[str] = set()
        while limit is None or report.sent + report.deferred + report.failed < limit:
            item = self.outbox.claim(lease=self.lease, reclaim=reclaim, ticket=ticket)
            if item is None:
                break
            if item.ticket_number in stalled:  # a ticket whose previous item just had to wait
                self.outbox.later(item.id, "waiting for an earlier change of this ticket", timedelta(seconds=1))
                break
            try:
                result = self._deliver(item)
            except _Waiting as exc:
                self.outbox.later(item.id, str(exc), timedelta(seconds=1))
                report.deferred += 1
                stalled.add(item.ticket_number)
            except BackendUnavailableError as exc:
                wait = _backoff(item.attempts, getattr(exc, "retry_after_s", None))
                self.outbox.later(item.id, str(exc), wait)
                report.deferred += 1
                report.errors.append(f"{item.ticket_number}: {exc}")
                stalled.add(item.ticket_number)
                self.paused_until = self.clock() + wait  # the vendor is down: every item waits, not just this one
                break
            except FirstlineError as exc:
                self.outbox.failed(item.id, f"{type(exc).__name__}: {exc}")
                report.failed += 1
                report.errors.append(f"{item.ticket_number}: {exc}")
                log.warning("outbox item %s for %s failed: %s", item.id, item.ticket_number, exc)
            else:
                self.outbox.done(item.id, result)
                report.sent += 1
        return report

    def resume(self) -> int:
        """Try again now (``firstline tickets sync``): lift the pause and make every waiting item due."""
        self.paused_until = None
        return self.outbox.make_due()

    def _deliver(self, item: OutboxItem) -> dict[str, Any]:
        if item.kind == "create":
            ticket = self.mirror.get(item.ticket_number)
            remote = self.connector.create(ticket)  # looks the Firstline number up first: never a second one
            self.outbox.save_link(ticket.number, remote.ref, _seen(remote))
            return {"remote": remote.ref.number}
        link = self._link(item.ticket_number)
        if item.kind == "fields":
            return self._push_fields(link, item.payload or synced_fields(self.mirror.get(item.ticket_number)))
        body, public = str(item.payload["body"]), bool(item.payload.get("public", False))
        if TicketState(link.pushed.get("state") or "new").is_final:
            # Vendors refuse notes on closed tickets (ServiceNow's ACLs, ConnectWise's closed statuses): the last
            # transcript lines of a closed ticket stay in Firstline's history.
            log.info("%s is closed at %s: a note stays in Firstline only", link.ticket_number, self.connector.system)
            return {"skipped": "closed at the vendor"}
        if item.uncertain:  # an earlier attempt may have got there: look before writing it again
            for comment in self.connector.comments(link.ref):
                if comment.ours and comment.body.strip() == body.strip() and comment.public == public:
                    self.outbox.remember_comment(self.connector.system, comment.id, link.ticket_number, ours=True)
                    return {"comment": comment.id, "found": True}
        comment = self.connector.comment(link.ref, body, public=public)
        self.outbox.remember_comment(self.connector.system, comment.id, link.ticket_number, ours=True)
        return {"comment": comment.id}

    def _link(self, number: str) -> RemoteLink:
        link = self.outbox.link(number)
        if link is None:  # its create item has not been sent yet
            raise _Waiting(f"{number} is not filed with {self.connector.system} yet")
        return link

    def _push_fields(self, link: RemoteLink, current: dict[str, Any]) -> dict[str, Any]:
        changed = {k: v for k, v in current.items() if link.pushed.get(k) != v}
        if not changed:
            return {"changed": []}
        values: dict[str, Any] = {}
        for name, value in changed.items():
            if name == "parent_number":
                parent = self.outbox.link(value) if value else None
                if value and parent is None:  # file the parent first
                    self.push(ticket=value)
                    parent = self._link(value)
                values["parent"] = parent.ref.number if parent else ""
            elif name == "state":
                values["state"] = TicketState(value)
            elif name == "impact":
                values["impact"] = Impact(value)
            elif name == "urgency":
                values["urgency"] = Urgency(value)
            else:
                values[name] = value
        if "state" in values and values["state"] is TicketState.RESOLVED:
            values.setdefault("resolution_note", current["resolution_note"])
        self.connector.update(link.ref, RemoteChange(**values))
        self.outbox.set_pushed(link.ticket_number, link.pushed | changed)
        return {"changed": sorted(changed)}

    # -- in --------------------------------------------------------------------------------------------

    def pull(self) -> list[RemoteChangeEvent]:
        """Poll the vendor for tickets changed since the last poll and take back what staff did."""
        system = self.connector.system
        now = self.clock()
        since = self.outbox.polled_to(system) or now - self.first_poll
        events: list[RemoteChangeEvent] = []
        newest = since
        for remote in self.connector.changed_since(since - timedelta(seconds=5)):  # a little overlap: clocks differ
            events += self.take(remote)
            newest = max(newest, remote.updated_at)
        self.outbox.set_polled_to(system, min(newest, now))
        return events

    def webhook(self, headers: Mapping[str, str], body: bytes) -> list[RemoteChangeEvent]:
        """A vendor's webhook call: verified by the connector, then each ticket it names is fetched and taken."""
        events: list[RemoteChangeEvent] = []
        for number in self.connector.parse_webhook(headers, body):
            events += self.take(self.connector.get(number))
        return events

    def take(self, remote: RemoteTicket) -> list[RemoteChangeEvent]:
        """Apply what staff changed on ``remote`` to its mirror ticket; nothing for tickets Firstline did not file."""
        number = self.outbox.by_remote(remote.ref.system, remote.ref.number) or (
            remote.firstline_number if remote.firstline_number and self.outbox.link(remote.firstline_number) else None
        )
        if number is None:
            return []
        link = self._link(number)
        events = []
        seen = _seen(remote)
        staff = {k: seen[k] for k in PULLED_FIELDS if seen[k] != link.pushed.get(k)}
        ticket = self.mirror.get(number)
        applied = {k: v for k, v in staff.items() if synced_fields(ticket)[k] != v}
        if applied:
            ticket = self._apply(number, applied)
            changes = {k: str(v) for k, v in applied.items()}
            events.append(RemoteChangeEvent(ticket, remote.ref.system, changes, None, remote.ref.number))
        if staff:
            self.outbox.set_pushed(number, link.pushed | staff)
        for comment in self.connector.comments(remote.ref):
            if comment.ours or self.outbox.known_comment(remote.ref.system, comment.id):
                continue
            if not self.outbox.remember_comment(remote.ref.system, comment.id, number, ours=False):
                continue
            author = comment.author or remote.ref.system
            try:
                self.mirror.comment(number, comment.body, author, internal=not comment.public)
            except InvalidTransitionError:  # closed here already: the note stays in the vendor's history
                log.info("a %s comment on closed %s was not mirrored", remote.ref.system, number)
                continue
            if comment.public:
                ticket = self.mirror.get(number)
                events.append(RemoteChangeEvent(ticket, remote.ref.system, {}, comment, remote.ref.number))
        for event in events:
            if self.on_remote_change is not None:
                try:
                    self.on_remote_change(event)
                except Exception:
                    log.exception("telling the conversation about %s failed", number)
        return events

    def _apply(self, number: str, values: dict[str, Any]) -> Ticket:
        author = f"{self.connector.system} (IT staff)"
        update = TicketUpdate(
            state=TicketState(values["state"]) if "state" in values else None,
            assigned_to=values.get("assigned_to"),
            assignment_group=values.get("assignment_group"),
            resolution_note=values.get("resolution_note") or None,
        )
        try:
            return self.mirror.update(number, update, author)
        except InvalidTransitionError as exc:  # the vendor's workflow allows what Firstline's lifecycle does not
            note = f"{self.connector.system} changed this ticket in a way Firstline's lifecycle does not allow: {exc}"
            log.warning("%s: %s", number, note)
            if not self.mirror.get(number).state.is_final:  # a final ticket takes no notes either
                self.mirror.comment(number, note, author, internal=True)
            return self.mirror.get(number)


def _seen(remote: RemoteTicket) -> dict[str, Any]:
    """A vendor ticket's syncable fields as plain values (what the mirror compares against)."""
    return {
        "state": remote.state.value,
        "resolution_note": remote.resolution_note,
        "short_description": remote.short_description,
        "description": remote.description,
        "impact": int(remote.impact),
        "urgency": int(remote.urgency),
        "assignment_group": remote.assignment_group,
        "assigned_to": remote.assigned_to,
        "category": None,
        "parent_number": None,
    }


def _backoff(attempts: int, retry_after_s: float | None) -> timedelta:
    if retry_after_s is not None:
        return min(MAX_WAIT, timedelta(seconds=retry_after_s))
    return min(MAX_WAIT, timedelta(seconds=2 ** min(attempts, 10)))


class SyncWorker:
    """Runs a :class:`Syncer` in a background thread: pushes as soon as a change is committed, polls every
    ``poll_s`` (0: never; webhooks only), and retries waiting items when they are due."""

    def __init__(self, syncer: Syncer, *, poll_s: float = 60.0, idle_s: float = 5.0) -> None:
        self.syncer = syncer
        self.poll_s = poll_s
        self.idle_s = idle_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"firstline-sync-{syncer.connector.system}", daemon=True)
        self.last_error = ""
        syncer.tickets.wake = self._wake.set

    def start(self) -> SyncWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        next_poll = 0.0
        clock = self.syncer.clock
        while not self._stop.is_set():
            try:
                self.syncer.push()
                now = clock().timestamp()
                if self.poll_s and now >= next_poll:
                    self.syncer.pull()
                    next_poll = now + self.poll_s
                self.last_error = ""
            except Exception as exc:  # the worker must outlive a bad moment; the next round tries again
                self.last_error = str(exc)
                log.warning("sync round failed: %s", exc)
            self._wake.wait(self.idle_s)
            self._wake.clear()
