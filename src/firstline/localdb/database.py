"""Firstline's own database (:data:`SETTING`): engines, clock, and the boundary where its errors become ours.

Tickets (or, with a vendor backend, their mirror and outbox), conversations, approvals, verification
codes and sign-in accounts live in it; each store shares one :class:`~firstline.sqlstore.transactions.Transactions`
so a unit of work spans them.

How the engines are tuned and errors translated: :mod:`firstline.sqlstore.engine`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from firstline.sqlstore import engine
from firstline.sqlstore.engine import READ_ONLY, StoreDatabase, display_url, is_memory_sqlite

__all__ = [
    "READ_ONLY",
    "SETTING",
    "create_ticket_engine",
    "display_url",
    "is_memory_sqlite",
    "parse_url",
    "translate_errors",
    "utc_now",
]

DATABASE = StoreDatabase(
    what="ticket database", setting="ticketing.database_url", example="tickets.db", serves="tickets"
)
SETTING = DATABASE.setting
parse_url = partial(engine.parse_url, DATABASE)
create_ticket_engine = partial(engine.create_engine_for, DATABASE)
translate_errors = partial(engine.translate_errors, DATABASE)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC: the default clock of every store in this database."""
    return datetime.now(UTC)
