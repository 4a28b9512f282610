"""Which notification e-mails each person wants, per kind (``approval``, ``reply``, ``resolved``).

One row of ``notification_preferences`` per person and kind that was ever changed; no row means the
kind is on, so a new employee gets every kind the deployment sends (``[notifications] kinds``) until they
turn one off, from the unsubscribe link of a mail or from ``PUT /v1/me/notifications``. Addresses are
stored lower-case, as the accounts and conversations store them.

    prefs = NotificationPreferences(runtime.database)
    prefs.set("ana.silva@example.com", "reply", False)
    prefs.enabled("Ana.Silva@example.com", "reply")  # False
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from firstline.channel_settings import NOTICE_KINDS
from firstline.errors import InputError
from firstline.localdb.database import utc_now
from firstline.localdb.schema import notification_preferences
from firstline.sqlstore.transactions import Transactions

__all__ = ["NotificationPreferences"]


def _address(email: str) -> str:
    cleaned = email.strip().lower()
    if "@" not in cleaned or len(cleaned) > 254 or any(c.isspace() for c in cleaned):
        raise InputError(f"{email!r} is not an e-mail address.")
    return cleaned


def _kind(kind: str) -> str:
    if kind not in NOTICE_KINDS:
        raise InputError(f"Unknown notification kind {kind!r}: use one of {', '.join(NOTICE_KINDS)}.")
    return kind


class NotificationPreferences:
    """Per-person, per-kind e-mail switches in Firstline's database (on unless turned off)."""

    def __init__(self, db: Transactions, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._clock = clock

    def enabled(self, email: str, kind: str) -> bool:
        """Whether ``email`` wants mail of ``kind`` (True when they never said otherwise)."""
        statement = select(notification_preferences.c.enabled).where(
            notification_preferences.c.email == _address(email), notification_preferences.c.kind == _kind(kind)
        )
        with self._db.read() as conn:
            found = conn.execute(statement).scalar_one_or_none()
        return True if found is None else bool(found)

    def all(self, email: str) -> dict[str, bool]:
        """Every kind with its switch for ``email``, in the order of :data:`NOTICE_KINDS`."""
        statement = select(notification_preferences.c.kind, notification_preferences.c.enabled).where(
            notification_preferences.c.email == _address(email)
        )
        with self._db.read() as conn:
            stored = {row.kind: bool(row.enabled) for row in conn.execute(statement)}
        return {kind: stored.get(kind, True) for kind in NOTICE_KINDS}

    def set(self, email: str, kind: str, enabled: bool) -> None:
        """Turn mail of ``kind`` on or off for ``email`` (idempotent; one statement, safe when two race)."""
        address, kind = _address(email), _kind(kind)
        now = self._clock()
        with self._db.write() as conn:
            dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = dialect_insert(notification_preferences).values(
                email=address, kind=kind, enabled=enabled, updated_at=now
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["email", "kind"], set_={"enabled": enabled, "updated_at": now}
                )
            )
