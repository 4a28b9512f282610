"""Who is who on each channel, and where each conversation lives there.

* **Identities**: a channel's user id (a Slack user id, a Teams AAD object id, an OIDC ``issuer|subject``,
  a mail address) maps to a person's e-mail only through :meth:`SqlChannels.link`, which records *how*
  it was verified (``verified_via``). Nothing here ever maps by a display name. The usual way in is a
  link code: the channel hands an unknown user a short code (:meth:`start_link`), they bring it to the
  web chat signed in as themselves, and :meth:`confirm_link` ties the two.
* **Threads**: the key of a conversation on a channel (a Slack ``channel:thread_ts``, a Teams
  conversation id, an e-mail Message-ID) with the reference needed to write back (service URL,
  channel, addresses). One conversation may have several keys (each mail of a thread).
* **Deliveries seen**: a channel's event id, so a retried delivery is handled once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from firstline.errors import InputError
from firstline.localdb.database import utc_now
from firstline.localdb.schema import channel_events_seen, channel_identities, channel_link_codes, channel_threads
from firstline.sqlstore.transactions import Transactions

__all__ = ["LINK_ALPHABET", "ChannelIdentity", "ChannelThread", "SqlChannels"]

LINK_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed from a phone
LINK_LENGTH = 8  # 40 bits; codes live 15 minutes and the confirming route is rate-limited per account


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().replace("-", "").replace(" ", "").encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChannelIdentity:
    channel: str
    external_id: str
    email: str
    verified_via: str
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "external_id": self.external_id, "email": self.email,
                "verified_via": self.verified_via, "created_at": self.created_at.isoformat()}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChannelThread:
    channel: str
    external_key: str
    conversation_id: str
    reference: dict[str, Any]


class SqlChannels:
    """Channel identities, link codes, threads and handled deliveries in Firstline's database."""

    def __init__(self, db: Transactions, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._clock = clock

    # -- identities -------------------------------------------------------------------------------

    def person(self, channel: str, external_id: str) -> str | None:
        """The e-mail of the person ``external_id`` was verified as on ``channel``; None when unknown."""
        statement = select(channel_identities.c.email).where(
            channel_identities.c.channel == channel, channel_identities.c.external_id == external_id
        )
        with self._db.read() as conn:
            return conn.execute(statement).scalar_one_or_none()

    def link(self, channel: str, external_id: str, email: str, verified_via: str) -> ChannelIdentity:
        """Record that ``external_id`` on ``channel`` is ``email``, verified by ``verified_via`` (replaces any)."""
        if not external_id.strip() or "@" not in email or not verified_via.strip():
            raise InputError(
                "A channel identity needs the channel's user id, the person's e-mail and how it was verified."
            )
        now = self._clock()
        identity = ChannelIdentity(channel, external_id, email.strip().lower(), verified_via, now)
        with self._db.write() as conn:
            conn.execute(delete(channel_identities).where(
                channel_identities.c.channel == channel, channel_identities.c.external_id == external_id))  # fmt: skip
            conn.execute(insert(channel_identities).values(
                channel=channel, external_id=external_id, email=identity.email, verified_via=verified_via,
                created_at=now))  # fmt: skip
        return identity

    def unlink(self, channel: str, external_id: str) -> bool:
        with self._db.write() as conn:
            done = conn.execute(delete(channel_identities).where(
                channel_identities.c.channel == channel, channel_identities.c.external_id == external_id))  # fmt: skip
        return done.rowcount > 0

    def identities(self, email: str | None = None) -> list[ChannelIdentity]:
        """Every verified identity (of ``email`` when given), by channel."""
        statement = select(channel_identities).order_by(channel_identities.c.channel, channel_identities.c.external_id)
        if email is not None:
            statement = statement.where(channel_identities.c.email == email.strip().lower())
        with self._db.read() as conn:
            return [ChannelIdentity(r.channel, r.external_id, r.email, r.verified_via, r.created_at)
                    for r in conn.execute(statement)]  # fmt: skip

    def start_link(self, channel: str, external_id: str, ttl: timedelta = timedelta(minutes=15)) -> str:
        """A new code that ties ``external_id`` to whoever brings it to the signed-in web chat in time."""
        code = "".join(secrets.choice(LINK_ALPHABET) for _ in range(LINK_LENGTH))
        now = self._clock()
        with self._db.write() as conn:
            conn.execute(delete(channel_link_codes).where(channel_link_codes.c.expires_at < now))
            conn.execute(insert(channel_link_codes).values(
                digest=_digest(code), channel=channel, external_id=external_id, expires_at=now + ttl,
                created_at=now))  # fmt: skip
        return f"{code[:4]}-{code[4:]}"

    def confirm_link(self, code: str, email: str) -> ChannelIdentity:
        """Tie the code's channel user to ``email`` (the signed-in person); the code is used up."""
        now = self._clock()
        with self._db.unit_of_work() as conn:
            row = conn.execute(select(channel_link_codes).where(channel_link_codes.c.digest == _digest(code))).first()
            if row is None or row.expires_at < now:
                raise InputError("That link code is unknown or has expired: ask for a new one where you got it.")
            conn.execute(delete(channel_link_codes).where(channel_link_codes.c.digest == row.digest))
            return self.link(row.channel, row.external_id, email, "link code")

    # -- threads ----------------------------------------------------------------------------------

    def thread(self, channel: str, external_key: str) -> ChannelThread | None:
        statement = select(channel_threads).where(
            channel_threads.c.channel == channel, channel_threads.c.external_key == external_key
        )
        with self._db.read() as conn:
            row = conn.execute(statement).first()
        return ChannelThread(row.channel, row.external_key, row.conversation_id, dict(row.reference)) if row else None

    def bind(self, channel: str, external_key: str, conversation_id: str, reference: dict[str, Any]) -> ChannelThread:
        """Remember that ``external_key`` on ``channel`` is ``conversation_id`` (updates the reference if known)."""
        now = self._clock()
        key = {"channel": channel, "external_key": external_key[:400]}
        with self._db.write() as conn:
            done = conn.execute(update(channel_threads).where(
                channel_threads.c.channel == channel, channel_threads.c.external_key == key["external_key"]
            ).values(conversation_id=conversation_id, reference=reference, updated_at=now))  # fmt: skip
            if done.rowcount == 0:
                conn.execute(insert(channel_threads).values(
                    **key, conversation_id=conversation_id, reference=reference, created_at=now,
                    updated_at=now))  # fmt: skip
        return ChannelThread(channel, key["external_key"], conversation_id, reference)

    def threads_of(self, conversation_id: str, channel: str | None = None) -> list[ChannelThread]:
        """Where ``conversation_id`` lives on the channels, most recently used first."""
        statement = (
            select(channel_threads)
            .where(channel_threads.c.conversation_id == conversation_id)
            .order_by(channel_threads.c.updated_at.desc())
        )
        if channel is not None:
            statement = statement.where(channel_threads.c.channel == channel)
        with self._db.read() as conn:
            return [ChannelThread(r.channel, r.external_key, r.conversation_id, dict(r.reference))
                    for r in conn.execute(statement)]  # fmt: skip

    # -- deliveries -------------------------------------------------------------------------------

    def first_delivery(self, channel: str, event_id: str, keep: timedelta = timedelta(days=2)) -> bool:
        """True the first time ``event_id`` arrives on ``channel``; False for a retry of a handled one."""
        now = self._clock()
        with self._db.write() as conn:
            dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = dialect_insert(channel_events_seen).values(
                channel=channel, event_id=event_id[:300], seen_at=now
            )
            # A row back means this insert made it: psycopg reports rowcount -1 for INSERT ... ON CONFLICT through
            # SQLAlchemy, which read as "seen before" on PostgreSQL and dropped every delivery.
            fresh = conn.execute(statement.on_conflict_do_nothing().returning(channel_events_seen.c.event_id)).first()
        if fresh is None:
            return False
        if now.minute == 0:  # now and then, forget deliveries too old to be retried
            with self._db.write() as conn:
                conn.execute(delete(channel_events_seen).where(channel_events_seen.c.seen_at < now - keep))
        return True
