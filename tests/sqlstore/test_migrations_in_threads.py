"""Several databases migrated at once in one process (a scenario suite playing two at a time, a runtime
opening its stores from worker threads): Alembic keeps the running migration in module globals, so the
store's own lock runs one migration at a time per process."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from firstline.localdb import open_database


def test_databases_migrated_from_several_threads_at_once_all_come_up() -> None:
    threads = 6
    start = threading.Barrier(threads)

    def migrate(_: int) -> list[str]:
        start.wait()
        database = open_database("sqlite://")  # a fresh in-memory database: every migration runs
        try:
            with database.read() as conn:
                return sorted(r[0] for r in conn.exec_driver_sql("select name from sqlite_master where type='table'"))
        finally:
            database.engine.dispose()

    for _ in range(3):
        with ThreadPoolExecutor(threads) as pool:
            tables = list(pool.map(migrate, range(threads)))
        assert all(t == tables[0] for t in tables) and "conversations" in tables[0]
