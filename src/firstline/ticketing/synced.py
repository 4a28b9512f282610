"""A vendor backend: Firstline's own store as the mirror, the vendor as the system IT staff work in.

:class:`SyncedTicketing` is the :class:`~firstline.ticketing.backend.TicketingBackend` behind
``[ticketing] backend = "servicenow" | "jira" | "connectwise" | "webform"``. Every change goes to the
mirror (a :class:`~firstline.ticketing.sql.SqlTicketing` in Firstline's database, with Firstline's
lifecycle rules and history) and, in the same transaction, to the outbox; nothing waits for the vendor:

- the employee gets the Firstline number at once, whether the vendor is up, slow, rate-limiting or
  down, and it keeps working after the vendor ticket exists (the vendor's number works too);
- :mod:`firstline.ticketing.sync` sends the outbox to the vendor exactly once, after the commit (at
  once in the caller's thread with ``push_now``, else by the background worker it wakes), and brings
  back what IT staff changed there without echoing Firstline's own changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from firstline.errors import InputError, TicketNotFoundError
from firstline.ticketing.models import NewTicket, Ticket, TicketEntry, TicketQuery, TicketState, TicketUpdate
from firstline.ticketing.outbox import SqlOutbox
from firstline.ticketing.remote import RemoteRef, TicketConnector
from firstline.ticketing.sql import SqlTicketing

__all__ = ["SYNCED_FIELDS", "SyncedTicketing", "synced_fields"]

# The fields the vendor holds too; the others (tags, intent, specialist, ...) are Firstline's alone.
SYNCED_FIELDS = (
    "state",
    "resolution_note",
    "short_description",
    "description",
    "category",
    "impact",
    "urgency",
    "assignment_group",
    "assigned_to",
    "parent_number",
)


def _path_to(state: TicketState) -> tuple[TicketState, ...]:
    """The states a new mirror ticket passes through to reach ``state`` under Firstline's lifecycle."""
    return {
        TicketState.NEW: (),
        TicketState.IN_PROGRESS: (TicketState.IN_PROGRESS,),
        TicketState.ON_HOLD: (TicketState.ON_HOLD,),
        TicketState.RESOLVED: (TicketState.RESOLVED,),
        TicketState.CLOSED: (TicketState.RESOLVED, TicketState.CLOSED),
        TicketState.CANCELED: (TicketState.CANCELED,),
    }[state]


def synced_fields(ticket: Ticket) -> dict[str, Any]:
    """The vendor-held fields of ``ticket`` as plain JSON values."""
    values = {name: getattr(ticket, name) for name in SYNCED_FIELDS}
    return {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}


class SyncedTicketing:
    """Tickets in Firstline's mirror, carried to ``connector``'s system through the outbox. Thread-safe.

    ``push_now`` sends a ticket's changes right after each commit in the caller's thread (tests and the
    CLI; a vendor that is down just leaves them queued); otherwise ``wake`` (set by the worker) is called.
    """

    def __init__(self, mirror: SqlTicketing, connector: TicketConnector, *, push_now: bool = False) -> None:
        self.mirror = mirror
        self.connector = connector
        self.outbox = SqlOutbox(mirror.database)
        self.push_now = push_now
        self.wake: Callable[[], None] | None = None
        self.pusher: Callable[[str], None] | None = None  # set by the Syncer: push one ticket's changes now
        self.adopt_remote = True  # a vendor number Firstline did not file is looked up there and mirrored

    def __repr__(self) -> str:
        return f"SyncedTicketing({self.connector.system!r}, mirror={self.mirror!r})"

    # -- reading -----------------------------------------------------------------------------------

    def get(self, number: str) -> Ticket:
        """The ticket by its Firstline number, or by the vendor's number: one Firstline filed there, or one IT
        staff opened there themselves (fetched once and mirrored; see :meth:`adopt`)."""
        try:
            return self.mirror.get(number)
        except TicketNotFoundError:
            local = self.outbox.by_remote(self.connector.system, number.strip())
            if local is not None:
                return self.mirror.get(local)
            if not self.adopt_remote or not number.strip():
                raise
            return self.adopt(number.strip().upper())

    def adopt(self, vendor_number: str) -> Ticket:
        """Mirror a vendor ticket Firstline did not file (staff opened it from a phone call), so the employee can
        ask about it by the number they were given. Nothing is sent back: it is the vendor's ticket already.
        :class:`TicketNotFoundError` when the vendor has no such ticket, or it names no requester Firstline
        could follow it for."""
        remote = self.connector.get(vendor_number)
        if remote.firstline_number:  # filed by Firstline, on another installation or before a restore
            raise TicketNotFoundError(vendor_number)
        try:
            new = NewTicket(
                requester=remote.requester,
                short_description=remote.short_description or f"{self.connector.system} {remote.ref.number}",
                description=remote.description,
                impact=remote.impact,
                urgency=remote.urgency,
                assignment_group=remote.assignment_group,
                correlation_id=f"{self.connector.system}:{remote.ref.number}",
                tags=["from-vendor"],
            )
        except InputError as exc:
            raise TicketNotFoundError(vendor_number) from exc
        author = f"{self.connector.system} (adopted)"
        comments = [c for c in self.connector.comments(remote.ref) if not c.ours]
        with self.mirror.unit_of_work():
            ticket = self.mirror.create(new)
            if self.outbox.link(ticket.number) is not None:  # adopted already, by another thread or process
                return ticket
            for comment in comments:  # what staff wrote so far, so "what's the latest?" has an answer
                if self.outbox.remember_comment(self.connector.system, comment.id, ticket.number, ours=False):
                    self.mirror.comment(
                        ticket.number, comment.body, comment.author or author, internal=not comment.public
                    )
            if remote.assigned_to:
                ticket = self.mirror.update(ticket.number, TicketUpdate(assigned_to=remote.assigned_to), author)
            for state in _path_to(remote.state):
                note = remote.resolution_note or f"Resolved at {self.connector.system}."
                update = TicketUpdate(state=state, resolution_note=note if state is TicketState.RESOLVED else None)
                ticket = self.mirror.update(ticket.number, update, author)
            self.outbox.save_link(ticket.number, remote.ref, synced_fields(ticket))
        return ticket

    def search(self, query: TicketQuery) -> list[Ticket]:
        return self.mirror.search(query)

    def history(self, number: str, *, public_only: bool = False) -> list[TicketEntry]:
        return self.mirror.history(self._local(number), public_only=public_only)

    def vendor_number(self, number: str) -> str | None:
        ref = self.remote(number)
        return None if ref is None else ref.number

    def remote(self, number: str) -> RemoteRef | None:
        """Where the ticket lives in the vendor system, once it was filed there."""
        link = self.outbox.link(self._local(number))
        return None if link is None else link.ref

    # -- changing: the mirror and the outbox in one transaction, then a push after the commit -------

    def create(self, new: NewTicket) -> Ticket:
        with self.mirror.unit_of_work():
            ticket = self.mirror.create(new)
            self.outbox.enqueue(ticket.number, "create")
            self._after_commit(ticket.number)
        return ticket

    def update(self, number: str, update: TicketUpdate, author: str) -> Ticket:
        number = self._local(number)
        with self.mirror.unit_of_work():
            before = self.mirror.get(number)
            after = self.mirror.update(number, update, author)
            if synced_fields(after) != synced_fields(before):
                self.outbox.enqueue(number, "fields", synced_fields(after))
                self._after_commit(number)
        return after

    def comment(self, number: str, body: str, author: str, internal: bool = False) -> TicketEntry:
        number = self._local(number)
        with self.mirror.unit_of_work():
            entry = self.mirror.comment(number, body, author, internal)
            said = entry.body if author in ("firstline", "") else f"{author} wrote:\n{entry.body}"  # who, at the vendor
            self._note(number, said, public=not internal)
        return entry

    def escalate(self, number: str, group: str, summary: str, author: str) -> Ticket:
        number = self._local(number)
        with self.mirror.unit_of_work():
            ticket = self.mirror.escalate(number, group, summary, author)
            self.outbox.enqueue(number, "fields", synced_fields(ticket))
            self._note(number, f"Escalated to {group} by Firstline:\n{summary.strip()}", public=False)
        return ticket

    def add_transcript(self, number: str, lines: Sequence[tuple[str, str]]) -> list[TicketEntry]:
        number = self._local(number)
        with self.mirror.unit_of_work():
            entries = self.mirror.add_transcript(number, lines)
            if entries:
                text = "\n".join(f"{e.author}: {e.body}" for e in entries)
                self._note(number, f"Conversation with Firstline:\n{text}", public=False)
        return entries

    def link_to_parent(self, child_number: str, parent_number: str | None, author: str) -> Ticket:
        return self._fields_change(child_number, lambda n: self.mirror.link_to_parent(n, parent_number, author))

    def unlink(self, child_number: str, author: str) -> Ticket:
        return self._fields_change(child_number, lambda n: self.mirror.unlink(n, author))

    def merge(self, duplicate_number: str, into: str, author: str) -> Ticket:
        duplicate_number, into = self._local(duplicate_number), self._local(into)
        with self.mirror.unit_of_work():
            children = [t.number for t in self.mirror.search(TicketQuery(parent=duplicate_number, limit=500))]
            merged = self.mirror.merge(duplicate_number, into, author)
            # the note first: a vendor takes no notes on a closed ticket
            self._note(duplicate_number, f"Closed by Firstline as a duplicate of {into}.", public=True)
            self.outbox.enqueue(duplicate_number, "fields", synced_fields(merged))
            for child in children:  # the open ones moved to ``into``: their vendor tickets follow
                if (moved := self.mirror.get(child)).parent_number == into:
                    self.outbox.enqueue(child, "fields", synced_fields(moved))
                    self._after_commit(child)
        return merged

    def close(self) -> None:
        self.connector.close()
        self.mirror.close()

    # -- helpers ---------------------------------------------------------------------------------------

    def _local(self, number: str) -> str:
        """The Firstline number for ``number`` (a Firstline or vendor number)."""
        return self.get(number).number

    def _fields_change(self, number: str, change: Callable[[str], Ticket]) -> Ticket:
        number = self._local(number)
        with self.mirror.unit_of_work():
            ticket = change(number)
            self.outbox.enqueue(number, "fields", synced_fields(ticket))
            self._after_commit(number)
        return ticket

    def _note(self, number: str, body: str, *, public: bool) -> None:
        self.outbox.enqueue(number, "note", {"body": body, "public": public})
        self._after_commit(number)

    def _after_commit(self, number: str) -> None:
        def push() -> None:
            if self.push_now and self.pusher is not None:
                self.pusher(number)
            elif self.wake is not None:
                self.wake()

        self.mirror.database.after_commit(push)
