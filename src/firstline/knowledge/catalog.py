"""The ingest catalog: which files were ingested (with their hashes) and the text of every chunk.

The catalog is the source of truth for chunk text, citations and metadata; the vector store and
the BM25 index are derived from it. :class:`KnowledgeCatalog` is its interface, with two
implementations: :class:`Catalog` here, a small SQLite file beside the vector store
(``index_dir/catalog.sqlite3``, raw ``sqlite3``: the default for one machine, and the fastest),
and :class:`~firstline.knowledge.sql_catalog.SqlCatalog`, the same records in a shared PostgreSQL
database for deployments on several machines.

It also remembers the files that could not be ingested (:class:`FailureRecord`: the hash of the
bytes that failed and why), so an ingest does not retry an unchanged broken file forever: it is
tried again only once its bytes (or the ingest pipeline) change, and forgotten when it is ingested
or removed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from firstline.knowledge.models import Chunk

__all__ = ["Catalog", "FailureRecord", "KnowledgeCatalog", "SourceRecord"]

_SCHEMA = """
create table if not exists sources (
    source text primary key,
    sha256 text not null,
    size integer not null,
    documents integer not null,
    chunks integer not null,
    ingested_at real not null,
    pipeline text not null default ''
);
create table if not exists chunks (
    id text primary key,
    source text not null references sources(source) on delete cascade,
    doc_id text not null,
    title text not null,
    section_path text not null,
    text text not null,
    url text,
    category text,
    audience text,
    tags text not null,
    position integer not null,
    flags text not null default '[]'
);
create index if not exists chunks_source on chunks(source);
create table if not exists meta (key text primary key, value text not null);
create table if not exists failures (
    source text primary key,
    sha256 text not null,
    size integer not null,
    reason text not null,
    failed_at real not null,
    pipeline text not null default ''
);
"""
# Columns added after the first release: (table, column, definition), added to older catalogs on open.
_ADDED = (
    ("sources", "pipeline", "text not null default ''"),
    ("chunks", "flags", "text not null default '[]'"),
)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    source: str
    sha256: str
    size: int
    documents: int
    chunks: int
    ingested_at: float
    pipeline: str = ""  # the version of loading + chunking + screening that produced its chunks


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """A file whose bytes (``sha256``) could not be ingested, and why."""

    source: str
    sha256: str
    size: int
    reason: str
    failed_at: float
    pipeline: str = ""


class KnowledgeCatalog(Protocol):
    """Sources, chunks, failures and meta of one index. ``version()`` changes with every change to the chunks."""

    def close(self) -> None: ...
    def version(self) -> str: ...
    def get(self, ids: Sequence[str]) -> dict[str, Chunk]: ...
    def sources(self) -> dict[str, SourceRecord]: ...
    def failures(self) -> dict[str, FailureRecord]: ...
    def record_failure(self, record: FailureRecord) -> None: ...
    def forget_failures(self, sources: Iterable[str]) -> None: ...
    def chunk_ids_of(self, source: str) -> set[str]: ...
    def replace_source(self, record: SourceRecord, chunks: Sequence[Chunk]) -> None: ...
    def remove_sources(self, sources: Iterable[str]) -> None: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def all_chunks(self) -> list[Chunk]: ...
    def chunks_of_document(self, doc_id: str) -> list[Chunk]: ...
    def flagged_chunks(self) -> list[Chunk]: ...
    def count_chunks(self) -> int: ...
    def facet(self, column: str) -> dict[str, int]: ...


class Catalog:
    """SQLite catalog of sources and chunks (WAL mode: searches read while an ingest writes)."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._wal()
        self._db.execute("pragma foreign_keys=on")
        self._db.executescript(_SCHEMA)
        for table, column, definition in _ADDED:
            if column not in {row[1] for row in self._db.execute(f"pragma table_info({table})")}:
                try:
                    self._db.execute(f"alter table {table} add column {column} {definition}")
                except sqlite3.OperationalError as exc:  # another process added it first
                    if "duplicate column" not in str(exc):
                        raise

    def _wal(self) -> None:
        # Switching a new file to WAL needs an exclusive lock and does not wait on the busy
        # handler: another process opening the same new index gets "locked" at once. Retry.
        for attempt in range(60):
            try:
                if self._db.execute("pragma journal_mode").fetchone()[0] != "wal":
                    self._db.execute("pragma journal_mode=wal")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 59:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("begin immediate")
        try:
            yield self._db
        except BaseException:
            self._db.execute("rollback")
            raise
        self._db.execute("commit")

    def sources(self) -> dict[str, SourceRecord]:
        rows = self._db.execute("select source, sha256, size, documents, chunks, ingested_at, pipeline from sources")
        return {r[0]: SourceRecord(*r) for r in rows}

    def failures(self) -> dict[str, FailureRecord]:
        """The files that failed to ingest and were not ingested or removed since, by source."""
        rows = self._db.execute("select source, sha256, size, reason, failed_at, pipeline from failures")
        return {r[0]: FailureRecord(*r) for r in rows}

    def record_failure(self, record: FailureRecord) -> None:
        with self.transaction() as db:
            db.execute(
                "insert or replace into failures values (?, ?, ?, ?, ?, ?)",
                (record.source, record.sha256, record.size, record.reason, record.failed_at, record.pipeline),
            )

    def forget_failures(self, sources: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany("delete from failures where source = ?", [(s,) for s in sources])

    def chunk_ids_of(self, source: str) -> set[str]:
        return {r[0] for r in self._db.execute("select id from chunks where source = ?", (source,))}

    def replace_source(self, record: SourceRecord, chunks: Sequence[Chunk]) -> None:
        """Replace one source's chunks and record its hash, in one transaction."""
        with self.transaction() as db:
            db.execute("delete from chunks where source = ?", (record.source,))
            db.execute("delete from failures where source = ?", (record.source,))
            db.execute(
                "insert or replace into sources values (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.source,
                    record.sha256,
                    record.size,
                    record.documents,
                    record.chunks,
                    record.ingested_at,
                    record.pipeline,
                ),
            )
            db.executemany(
                "insert or replace into chunks values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        c.id,
                        record.source,
                        c.doc_id,
                        c.title,
                        c.section_path,
                        c.text,
                        c.url,
                        c.category,
                        c.audience,
                        json.dumps(list(c.tags)),
                        c.position,
                        json.dumps(list(c.flags)),
                    )
                    for c in chunks
                ],
            )
            self._bump(db)

    def remove_sources(self, sources: Iterable[str]) -> None:
        with self.transaction() as db:
            for source in sources:
                db.execute("delete from chunks where source = ?", (source,))
                db.execute("delete from sources where source = ?", (source,))
                db.execute("delete from failures where source = ?", (source,))
            self._bump(db)

    def _bump(self, db: sqlite3.Connection) -> None:
        db.execute(
            "insert into meta values ('version', ?) on conflict(key) do update set value = excluded.value",
            (str(time.time_ns()),),
        )

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("select value from meta where key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "insert into meta values (?, ?) on conflict(key) do update set value = excluded.value", (key, value)
            )

    def version(self) -> str:
        row = self._db.execute("select value from meta where key = 'version'").fetchone()
        return str(row[0]) if row else "0"

    def all_chunks(self) -> list[Chunk]:
        rows = self._db.execute("select * from chunks order by source, position")
        return [self._chunk(r) for r in rows]

    def get(self, ids: Sequence[str]) -> dict[str, Chunk]:
        out: dict[str, Chunk] = {}
        for start in range(0, len(ids), 500):
            batch = list(ids[start : start + 500])
            marks = ",".join("?" * len(batch))
            for row in self._db.execute(f"select * from chunks where id in ({marks})", batch):
                out[row[0]] = self._chunk(row)
        return out

    def chunks_of_document(self, doc_id: str) -> list[Chunk]:
        """Every chunk of one document, in reading order."""
        rows = self._db.execute("select * from chunks where doc_id = ? order by position", (doc_id,))
        return [self._chunk(r) for r in rows]

    def flagged_chunks(self) -> list[Chunk]:
        """Every chunk flagged as instruction-like, by source and position."""
        rows = self._db.execute("select * from chunks where flags != '[]' order by source, position")
        return [self._chunk(r) for r in rows]

    def count_chunks(self) -> int:
        return int(self._db.execute("select count(*) from chunks").fetchone()[0])

    def facet(self, column: str) -> dict[str, int]:
        if column not in ("category", "audience"):
            raise ValueError(column)
        rows = self._db.execute(f"select coalesce({column}, ''), count(*) from chunks group by 1 order by 2 desc")
        return {r[0]: int(r[1]) for r in rows}

    @staticmethod
    def _chunk(row: Sequence[object]) -> Chunk:
        (id_, source, doc_id, title, section_path, text, url, category, audience, tags, position, flags) = row
        return Chunk(
            id=str(id_),
            doc_id=str(doc_id),
            title=str(title),
            section_path=str(section_path),
            text=str(text),
            source=str(source),
            position=int(position),  # type: ignore[call-overload]
            url=str(url) if url else None,
            category=str(category) if category else None,
            audience=str(audience) if audience else None,
            tags=tuple(json.loads(str(tags))),
            flags=tuple(json.loads(str(flags or "[]"))),
        )
