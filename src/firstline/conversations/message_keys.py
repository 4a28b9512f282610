"""Idempotency keys for messages sent over the API: a retried message is answered once.

A client that loses the answer to ``POST .../messages`` (a dropped connection, a worker restarted
mid-turn, a proxy timeout) cannot tell whether its message was handled. Sent again with the same
``Idempotency-Key`` header, it gets:

* the **stored reply** of the turn that already ran (no second turn, no second user message, no
  second ticket) — :attr:`Claim.kind` ``"replay"``;
* **409** while that turn is still running (in any worker) — ``"running"``;
* **422** when the key was first used for a different message — ``"mismatch"``;
* a **new turn** when the key is new, or when the turn that claimed it never finished within
  ``lease`` (its worker died before storing a reply) or ended in an error — ``"run"``.

The lease (30 s) is past what a turn may take: a chat turn's model calls are cut off at three times its
2-second budget, a ticket's at three times 5 s, and the offline engine answers in milliseconds. A turn
still running after it (a vendor that hangs) may then run twice, which is what happened before keys.

Keys belong to their principal (a signed-in account, or an API key), so one client cannot read
another's replies by guessing keys. Keys are forgotten after ``keep`` (a day by default): a retry
comes within seconds or minutes, not days.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from firstline.localdb.database import utc_now
from firstline.localdb.schema import message_keys
from firstline.redaction import redact_data
from firstline.sqlstore.transactions import Transactions

__all__ = ["Claim", "SqlMessageKeys", "request_digest"]

ClaimKind = Literal["run", "replay", "running", "mismatch"]


def request_digest(*parts: str | None) -> str:
    """A digest of what makes two requests "the same message" (conversation, for whom, the text)."""
    return hashlib.sha256("\x00".join(part or "" for part in parts).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    kind: ClaimKind
    reply: dict[str, Any] | None = None
    status: int | None = None


class SqlMessageKeys:
    """The ``message_keys`` table: who claimed which key for which request, and the reply once there is one."""

    def __init__(
        self,
        database: Transactions,
        *,
        lease: timedelta = timedelta(seconds=30),
        keep: timedelta = timedelta(days=1),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._db = database
        self.lease = lease
        self.keep = keep
        self._clock = clock

    def claim(self, principal: str, key: str, digest: str) -> Claim:
        """Claim ``key`` for a turn, or say why not (see the module docstring)."""
        now = self._clock()
        with self._db.write() as conn:
            dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
            fresh = dialect_insert(message_keys).values(principal=principal, key=key, digest=digest, claimed_at=now)
            if conn.execute(fresh.on_conflict_do_nothing().returning(message_keys.c.key)).first() is not None:
                kind: ClaimKind = "run"
                found = None
            else:
                found = conn.execute(select(message_keys).where(_this(principal, key)).with_for_update()).one()
                if found.digest != digest:
                    kind = "mismatch"
                elif found.reply is not None:
                    kind = "replay"
                elif found.claimed_at > now - self.lease:
                    kind = "running"
                else:  # the turn that claimed it died before it stored a reply: this one runs it
                    conn.execute(update(message_keys).where(_this(principal, key)).values(claimed_at=now))
                    kind = "run"
            if kind == "run" and random.random() < 0.01:  # now and then, forget keys too old to be retried
                conn.execute(delete(message_keys).where(message_keys.c.claimed_at < now - self.keep))
        if kind == "replay" and found is not None:
            return Claim("replay", dict(found.reply), found.status)
        return Claim(kind)

    def finish(self, principal: str, key: str, reply: dict[str, Any], status: int) -> None:
        """Store the reply of the turn that claimed ``key`` (before the client is answered)."""
        with self._db.write() as conn:
            conn.execute(
                update(message_keys).where(_this(principal, key)).values(reply=redact_data(reply), status=status)
            )

    def release(self, principal: str, key: str) -> None:
        """The turn failed with an error the client was told about: a retry with the key runs again at once."""
        with self._db.write() as conn:
            conn.execute(delete(message_keys).where(_this(principal, key), message_keys.c.reply.is_(None)))


def _this(principal: str, key: str) -> Any:
    return and_(message_keys.c.principal == principal, message_keys.c.key == key)
