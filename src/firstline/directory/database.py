"""Engines for the directory database (:data:`SETTING`), and the boundary where its errors become Firstline errors.

How the engines are tuned and errors translated: :mod:`firstline.sqlstore.engine`.
"""

from __future__ import annotations

from functools import partial

from firstline.sqlstore import engine
from firstline.sqlstore.engine import READ_ONLY, StoreDatabase, display_url, is_memory_sqlite

__all__ = [
    "READ_ONLY",
    "SETTING",
    "create_directory_engine",
    "display_url",
    "is_memory_sqlite",
    "parse_url",
    "translate_errors",
]

DATABASE = StoreDatabase(
    what="directory database", setting="directory.database_url", example="directory.db", serves="the directory"
)
SETTING = DATABASE.setting
parse_url = partial(engine.parse_url, DATABASE)
create_directory_engine = partial(engine.create_engine_for, DATABASE)
translate_errors = partial(engine.translate_errors, DATABASE)
