"""The outgoing-mail queue: every mail Firstline sends (notifications, e-mail channel replies) is stored first.

:meth:`MailOutbox.enqueue` writes the mail to ``mail_outbox`` with its final ``Message-ID`` (``<uuid@domain>``,
the domain of the sending address) before anything is sent, inside the caller's unit of work when there is
one, so a mail is queued exactly when the change it tells about commits. A reply's Message-ID is known at
once: the e-mail channel binds it to the conversation so the answer to it threads back.

A worker (:class:`firstline.channels.smtp.MailWorker`) takes due mail with :meth:`MailOutbox.claim`, which
moves it to ``sending`` in one transaction; while ``sending``, ``next_attempt_at`` is the claim's lease: a
worker that died mid-send leaves its mail to be claimed again once the lease runs out (a mail may then go
out twice, never zero times). :meth:`MailOutbox.sent` and :meth:`MailOutbox.failed` end an attempt;
``failed`` with a ``retry_at`` puts the mail back to wait, without one it gives up (status ``failed``).

Listeners registered with :meth:`MailOutbox.watch` are told after a mail is committed (the worker wakes at
once instead of waiting for its next poll).
"""

from __future__ import annotations

import builtins
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any, Literal

from sqlalchemy import func, insert, or_, select, update

from firstline.errors import InputError
from firstline.localdb.database import utc_now
from firstline.localdb.schema import mail_outbox
from firstline.sqlstore.transactions import Transactions

__all__ = ["MailOutbox", "MailStatus", "OutgoingMail", "domain_of"]

MailStatus = Literal["pending", "sending", "sent", "failed"]
log = logging.getLogger(__name__)

_MAX_SUBJECT = 300
_LIMITS = {"kind": 24, "recipient": 254}


def domain_of(address: str) -> str:
    """The domain of ``address`` (``"Help <it@example.com>"`` -> ``example.com``); ``localhost`` without one."""
    _, bare = parseaddr(address)
    domain = bare.rpartition("@")[2].strip().lower()
    return domain or "localhost"


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One mail in the queue. ``headers`` are extra header fields (From overrides the configured sender)."""

    id: int
    kind: str
    recipient: str
    subject: str
    body_text: str
    body_html: str | None
    headers: dict[str, str]
    message_id: str
    status: MailStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str
    created_at: datetime
    sent_at: datetime | None


def _mail(row: Any) -> OutgoingMail:
    return OutgoingMail(
        id=int(row.id),
        kind=row.kind,
        recipient=row.recipient,
        subject=row.subject,
        body_text=row.body_text,
        body_html=row.body_html,
        headers=dict(row.headers or {}),
        message_id=row.message_id,
        status=row.status,
        attempts=int(row.attempts),
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


def _no_line_breaks(what: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise InputError(f"The mail's {what} must be one line (a line break there could inject headers).")


class MailOutbox:
    """Outgoing mail in Firstline's database, claimed by workers with a lease.

    ``domain`` is the right-hand side of the Message-IDs (pass ``domain_of(smtp.sender)``); ``lease`` is how
    long a claimed mail stays ``sending`` before another worker may take it over.
    """

    def __init__(
        self,
        db: Transactions,
        *,
        domain: str = "localhost",
        lease: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._db = db
        self._domain = domain.strip().lower() or "localhost"
        self._lease = lease
        self._clock = clock
        self._watchers: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def domain(self) -> str:
        return self._domain

    def new_message_id(self) -> str:
        """A fresh ``<uuid@domain>``."""
        return f"<{uuid.uuid4().hex}@{self._domain}>"

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after each enqueued mail is committed; returns the function that stops it."""
        with self._lock:
            self._watchers.append(callback)

        def unwatch() -> None:
            with self._lock:
                if callback in self._watchers:
                    self._watchers.remove(callback)

        return unwatch

    def _notify(self) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for callback in watchers:
            try:
                callback()
            except Exception:  # a watcher's failure must not undo or hide the stored mail
                log.exception("a mail outbox watcher failed")

    # -- queueing --------------------------------------------------------------------------------

    def enqueue(
        self,
        kind: str,
        recipient: str,
        subject: str,
        body_text: str,
        body_html: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> OutgoingMail:
        """Store one mail to send as soon as a worker can; the returned mail carries its Message-ID (a new
        ``<uuid@domain>``, or the ``Message-ID`` given in ``headers``, e.g. one already bound to a thread)."""
        recipient = recipient.strip()
        kind = kind.strip()
        _, bare = parseaddr(recipient)
        if not kind or len(kind) > _LIMITS["kind"]:
            raise InputError(f"A mail needs a kind of at most {_LIMITS['kind']} characters (e.g. 'reply').")
        if not bare or "@" not in bare or len(recipient) > _LIMITS["recipient"]:
            raise InputError(f"{recipient!r} is not an e-mail address a mail can be sent to.")
        for what, value in (("recipient", recipient), ("subject", subject)):
            _no_line_breaks(what, value)
        extra = {str(name): str(value) for name, value in (headers or {}).items()}
        for name, value in extra.items():
            if not name or not all(33 <= ord(c) <= 126 and c != ":" for c in name):
                raise InputError(f"{name!r} is not a valid header name.")
            _no_line_breaks(f"header {name}", value)
        message_id = extra.pop("Message-ID", "") or self.new_message_id()
        now = self._clock()
        subject = subject.strip()[:_MAX_SUBJECT]
        with self._db.write() as conn:
            new_id = conn.execute(
                insert(mail_outbox).values(
                    kind=kind,
                    recipient=recipient,
                    subject=subject,
                    body_text=body_text,
                    body_html=body_html,
                    headers=extra,
                    message_id=message_id,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    last_error="",
                    created_at=now,
                    sent_at=None,
                )
            ).inserted_primary_key
        self._db.after_commit(self._notify)
        return OutgoingMail(
            int(new_id[0]) if new_id else 0, kind, recipient, subject, body_text, body_html, extra, message_id,
            "pending", 0, now, "", now, None,
        )  # fmt: skip

    # -- the worker's side ------------------------------------------------------------------------

    def claim(self, limit: int, worker: str) -> list[OutgoingMail]:
        """Take up to ``limit`` due mails (pending and due, or ``sending`` past their lease) for ``worker``.

        Each is moved to ``sending`` with ``attempts`` counted and a lease; a mail two workers race for goes
        to one of them (the update is conditional on the row being as it was read).
        """
        now = self._clock()
        due = or_(
            (mail_outbox.c.status == "pending") & (mail_outbox.c.next_attempt_at <= now),
            (mail_outbox.c.status == "sending") & (mail_outbox.c.next_attempt_at <= now),
        )
        taken: list[OutgoingMail] = []
        with self._db.write() as conn:
            rows = conn.execute(
                select(mail_outbox).where(due).order_by(mail_outbox.c.next_attempt_at, mail_outbox.c.id).limit(limit)
            ).all()
            for row in rows:
                if row.status == "sending":
                    log.warning("mail %s: the claim of an earlier worker ran out; %s takes it over", row.id, worker)
                done = conn.execute(
                    update(mail_outbox)
                    .where(
                        mail_outbox.c.id == row.id,
                        mail_outbox.c.status == row.status,
                        mail_outbox.c.attempts == row.attempts,
                    )
                    .values(status="sending", attempts=row.attempts + 1, next_attempt_at=now + self._lease)
                ).rowcount
                if done:
                    claimed = _mail(row)
                    lease_end = now + self._lease
                    taken.append(replace(claimed, status="sending", attempts=claimed.attempts + 1,
                                         next_attempt_at=lease_end))  # fmt: skip
        return taken

    def sent(self, mail_id: int) -> None:
        """The mail server took the mail."""
        with self._db.write() as conn:
            conn.execute(
                update(mail_outbox)
                .where(mail_outbox.c.id == mail_id)
                .values(status="sent", sent_at=self._clock(), last_error="")
            )

    def failed(self, mail_id: int, error: str, retry_at: datetime | None) -> None:
        """An attempt failed: try again at ``retry_at``, or give up (status ``failed``) when it is None."""
        values: dict[str, Any] = {"last_error": error[:2000]}
        if retry_at is None:
            values["status"] = "failed"
        else:
            values.update(status="pending", next_attempt_at=retry_at)
        with self._db.write() as conn:
            conn.execute(update(mail_outbox).where(mail_outbox.c.id == mail_id).values(**values))

    def next_due(self) -> datetime | None:
        """When the next pending mail (or expiring claim) is due; None when nothing waits."""
        with self._db.read() as conn:
            found = conn.execute(
                select(mail_outbox.c.next_attempt_at)
                .where(mail_outbox.c.status.in_(("pending", "sending")))
                .order_by(mail_outbox.c.next_attempt_at)
                .limit(1)
            ).scalar_one_or_none()
        return found

    def count_since(self, kind: str, recipient: str, since: datetime) -> int:
        """How many mails of ``kind`` to ``recipient`` were queued since ``since`` (whatever became of them)."""
        statement = select(func.count()).where(
            mail_outbox.c.kind == kind,
            func.lower(mail_outbox.c.recipient) == recipient.strip().lower(),
            mail_outbox.c.created_at >= since,
        )
        with self._db.read() as conn:
            return int(conn.execute(statement).scalar_one())

    def get(self, mail_id: int) -> OutgoingMail | None:
        with self._db.read() as conn:
            row = conn.execute(select(mail_outbox).where(mail_outbox.c.id == mail_id)).first()
        return _mail(row) if row is not None else None

    def list(self, status: MailStatus | None = None, limit: int = 500) -> builtins.list[OutgoingMail]:
        """Queued mail (only ``status`` when given), oldest first."""
        statement = select(mail_outbox).order_by(mail_outbox.c.id).limit(limit)
        if status is not None:
            statement = statement.where(mail_outbox.c.status == status)
        with self._db.read() as conn:
            return [_mail(row) for row in conn.execute(statement)]
