"""Fixtures of the conversation-store tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from firstline.localdb import open_database
from firstline.sqlstore.transactions import Transactions


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.live)])
def both_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Transactions]:
    """Firstline's own database on SQLite and on PostgreSQL (where psycopg once made every channel delivery
    look like a retry: the stores must be checked on both)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tickets.db'}"
    else:
        url = request.getfixturevalue("postgres").fresh_url()
    database = open_database(url)
    yield database
    database.close()
