"""Dead letters: jobs whose retries were spent, kept in Firstline's database (table ``dead_jobs``).

The queue itself (huey's SQLite file or Redis) forgets a job once it has failed for good; this store keeps
what an operator needs to decide what to do: the kind, the payload (redacted with
:func:`firstline.redaction.redact_data`, so a secret that slipped into a payload is not kept), the last
error, how many attempts were made and when. It lives in the shared database, so every worker, the CLI
(``firstline jobs dead``) and the console see the same list. :meth:`DeadLetters.take` removes a letter
and returns it in one transaction: two admins pressing Retry at once re-enqueue it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select

from firstline.localdb.database import utc_now
from firstline.localdb.schema import dead_jobs
from firstline.redaction import redact_data
from firstline.sqlstore.transactions import Transactions

__all__ = ["DeadJob", "DeadLetters"]

MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class DeadJob:
    """One job that failed for good."""

    id: str
    kind: str
    payload: dict[str, Any]
    error: str
    attempts: int
    first_tried_at: datetime
    last_tried_at: datetime
    dead_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "payload": self.payload,
            "error": self.error,
            "attempts": self.attempts,
            "first_tried_at": self.first_tried_at.isoformat(),
            "last_tried_at": self.last_tried_at.isoformat(),
            "dead_at": self.dead_at.isoformat(),
        }


def _dead(row: Any) -> DeadJob:
    return DeadJob(
        row.id,
        row.kind,
        dict(row.payload),
        row.error,
        row.attempts,
        row.first_tried_at,
        row.last_tried_at,
        row.dead_at,
    )


class DeadLetters:
    """The ``dead_jobs`` table of one database."""

    def __init__(self, db: Transactions) -> None:
        self._db = db

    def record(
        self, job_id: str, kind: str, payload: dict[str, Any], error: str, attempts: int, first_tried_at: datetime
    ) -> DeadJob:
        """Store a job that failed for good (its payload redacted); returns what was stored."""
        now = utc_now()
        clean = redact_data(payload)
        if len(error) > MAX_ERROR_CHARS:
            error = error[: MAX_ERROR_CHARS - 1] + "…"
        values = {
            "id": job_id,
            "kind": kind,
            "payload": clean,
            "error": error,
            "attempts": attempts,
            "first_tried_at": first_tried_at,
            "last_tried_at": now,
            "dead_at": now,
        }
        with self._db.write() as conn:
            conn.execute(delete(dead_jobs).where(dead_jobs.c.id == job_id))  # a retried letter died again
            conn.execute(insert(dead_jobs).values(**values))
        return DeadJob(job_id, kind, clean, error, attempts, first_tried_at, now, now)

    def get(self, job_id: str) -> DeadJob | None:
        with self._db.read() as conn:
            row = conn.execute(select(dead_jobs).where(dead_jobs.c.id == job_id)).first()
        return None if row is None else _dead(row)

    def list(self, limit: int = 100) -> list[DeadJob]:
        """The most recent dead jobs first."""
        query = select(dead_jobs).order_by(dead_jobs.c.dead_at.desc(), dead_jobs.c.id).limit(limit)
        with self._db.read() as conn:
            return [_dead(row) for row in conn.execute(query)]

    def count(self) -> int:
        with self._db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(dead_jobs)).scalar_one())

    def take(self, job_id: str) -> DeadJob | None:
        """Remove the letter and return it (None when no such letter, or another caller took it first)."""
        with self._db.write() as conn:
            row = conn.execute(select(dead_jobs).where(dead_jobs.c.id == job_id)).first()
            if row is None:
                return None
            gone = conn.execute(delete(dead_jobs).where(dead_jobs.c.id == job_id)).rowcount
        return _dead(row) if gone == 1 else None
