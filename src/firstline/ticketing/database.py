"""Engines for the ticket database (:data:`SETTING`), and the boundary where its errors become Firstline errors.

How the engines are tuned and errors translated: :mod:`firstline.sqlstore.engine`.
"""

from __future__ import annotations

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
]

DATABASE = StoreDatabase(
    what="ticket database", setting="ticketing.database_url", example="tickets.db", serves="tickets"
)
SETTING = DATABASE.setting
parse_url = partial(engine.parse_url, DATABASE)
create_ticket_engine = partial(engine.create_engine_for, DATABASE)
translate_errors = partial(engine.translate_errors, DATABASE)
