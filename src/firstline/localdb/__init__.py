"""Firstline's own database: the schema of every table in it, its migrations, and :func:`open_database`.

Tickets (the built-in store, or a vendor backend's mirror and outbox), conversations and sign-in
accounts each have their own package; they meet here only as tables, so one
:class:`~firstline.sqlstore.transactions.Transactions` can span them in one unit of work.
"""

from __future__ import annotations

from sqlalchemy import URL

from firstline.localdb.database import DATABASE, display_url, parse_url, utc_now
from firstline.localdb.migrations import upgrade
from firstline.sqlstore.transactions import Transactions

__all__ = ["DATABASE", "display_url", "open_database", "parse_url", "utc_now"]


def open_database(url: str | URL) -> Transactions:
    """Open (and migrate to the newest schema) the database at ``url``: ``sqlite:///path/tickets.db``,
    ``sqlite://`` (in memory) or ``postgresql+psycopg://user:password@host/db``."""
    return Transactions(DATABASE, parse_url(url), upgrade)
