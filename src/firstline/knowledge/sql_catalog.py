"""The ingest catalog in a shared SQL database (PostgreSQL), so every machine of a deployment sees one catalog.

:class:`~firstline.knowledge.catalog.Catalog` keeps the catalog in ``index_dir/catalog.sqlite3``,
which only the processes of one machine can share. With several machines (Kubernetes pods, each
with its own ``index_dir``) a pod that did not ingest would find vectors in the vector-store server
but no chunk texts. :class:`SqlCatalog` keeps the same records in tables prefixed ``kb_`` of a
database reached by URL, migrated by Alembic in their own version table :data:`VERSION_TABLE`
under their own advisory lock (:mod:`firstline.knowledge.catalog_migrations`).

Where the catalog lives (:func:`catalog_url_for`): ``knowledge.catalog_url`` when set; otherwise
the ticket database when that is PostgreSQL (so a deployment with ``scale.workers > 1`` shares it
without another setting); otherwise ``None``, the SQLite file in ``index_dir`` as before.

The search path runs two statements per search, :meth:`SqlCatalog.version` and
:meth:`SqlCatalog.get`: both are built once (SQLAlchemy caches their compiled form) and run on a
connection in autocommit mode, so a read is one round trip plus the pool's liveness ping, with no
``BEGIN``/``ROLLBACK``. Writes run in one transaction each, and every change to the chunks bumps
the ``version`` row in the same transaction: each process's keyword index follows it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Row,
    Table,
    Text,
    any_,
    bindparam,
    delete,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from firstline.knowledge.catalog import FailureRecord, SourceRecord
from firstline.knowledge.models import Chunk
from firstline.sqlstore.engine import READ_ONLY, StoreDatabase, create_engine_for, parse_url, translate_errors

if TYPE_CHECKING:
    from firstline.settings import Settings

__all__ = ["DATABASE", "VERSION_TABLE", "SqlCatalog", "catalog_url_for", "metadata"]

DATABASE = StoreDatabase(
    what="knowledge catalog", setting="knowledge.catalog_url", example="catalog.db", serves="the knowledge catalog"
)
VERSION_TABLE = "kb_alembic_version"

metadata = MetaData()
sources = Table(
    "kb_sources",
    metadata,
    Column("source", Text, primary_key=True),
    Column("sha256", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("documents", Integer, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("ingested_at", Float, nullable=False),
    Column("pipeline", Text, nullable=False),
)
chunks = Table(
    "kb_chunks",
    metadata,
    Column("id", Text, primary_key=True),
    Column("source", Text, ForeignKey("kb_sources.source", ondelete="CASCADE"), nullable=False),
    Column("doc_id", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("section_path", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("url", Text),
    Column("category", Text),
    Column("audience", Text),
    Column("tags", Text, nullable=False),  # JSON list, as in the SQLite catalog
    Column("position", Integer, nullable=False),
    Column("flags", Text, nullable=False),  # JSON list; '[]' when not flagged
    Index("ix_kb_chunks_source", "source", "position"),
    Index("ix_kb_chunks_doc_id", "doc_id", "position"),
)
meta = Table("kb_meta", metadata, Column("key", Text, primary_key=True), Column("value", Text, nullable=False))
failures = Table(
    "kb_failures",
    metadata,
    Column("source", Text, primary_key=True),
    Column("sha256", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("failed_at", Float, nullable=False),
    Column("pipeline", Text, nullable=False),
)

# Statements built once: SQLAlchemy caches their compiled form, the hot path only binds values.
_VERSION = select(meta.c.value).where(meta.c.key == "version")
_GET_META = select(meta.c.value).where(meta.c.key == bindparam("key"))
_GET = select(chunks).where(chunks.c.id.in_(bindparam("ids", expanding=True)))
# PostgreSQL: one SQL text whatever the number of ids, so psycopg prepares it on the server after a few runs.
_GET_ANY = select(chunks).where(chunks.c.id == any_(bindparam("ids", type_=postgresql.ARRAY(Text))))
_OF_SOURCE = select(chunks.c.id).where(chunks.c.source == bindparam("source"))
_OF_DOCUMENT = select(chunks).where(chunks.c.doc_id == bindparam("doc_id")).order_by(chunks.c.position)
_ALL = select(chunks).order_by(chunks.c.source, chunks.c.position)
_FLAGGED = select(chunks).where(chunks.c.flags != "[]").order_by(chunks.c.source, chunks.c.position)
_COUNT = select(func.count()).select_from(chunks)
_SOURCES = select(sources)
_FAILURES = select(failures)
_BATCH = 1000  # ids per IN list
_EMPTY: tuple[str, ...] = ()


def catalog_url_for(settings: Settings) -> str | None:
    """The catalog's URL: ``knowledge.catalog_url``, else a PostgreSQL ticket database, else None (SQLite file)."""
    if settings.knowledge.catalog_url:
        return settings.knowledge.catalog_url
    ticket_url = settings.ticket_database_url
    if parse_url(DATABASE, ticket_url).get_backend_name() == "postgresql":
        return ticket_url
    return None


class SqlCatalog:
    """The catalog in the ``kb_*`` tables of the database at ``url`` (migrated on open)."""

    def __init__(self, url: str) -> None:
        from firstline.knowledge.catalog_migrations import MIGRATIONS

        self.engine = create_engine_for(DATABASE, url)
        self.url = self.engine.url
        self.dialect = self.engine.dialect.name
        read_options: dict[str, Any] = {READ_ONLY: True}
        if self.dialect == "postgresql":
            read_options["isolation_level"] = "AUTOCOMMIT"
        self._reader = self.engine.execution_options(**read_options)
        self._insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        self._get = _GET_ANY if self.dialect == "postgresql" else _GET
        try:
            MIGRATIONS.upgrade(self.engine)
        except BaseException:
            self.engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with translate_errors(DATABASE, self.url), self._reader.connect() as connection:
            yield connection

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with translate_errors(DATABASE, self.url), self.engine.begin() as connection:
            yield connection

    # -- the search path ---------------------------------------------------------------------

    def version(self) -> str:
        with self._read() as db:
            value = db.execute(_VERSION).scalar()
        return str(value) if value is not None else "0"

    def get(self, ids: Sequence[str]) -> dict[str, Chunk]:
        out: dict[str, Chunk] = {}
        if not ids:
            return out
        with self._read() as db:
            for start in range(0, len(ids), _BATCH):
                for row in db.execute(self._get, {"ids": list(ids[start : start + _BATCH])}):
                    out[row[0]] = _chunk(row)
        return out

    # -- reads ----------------------------------------------------------------------------------

    def sources(self) -> dict[str, SourceRecord]:
        with self._read() as db:
            return {r.source: SourceRecord(*r) for r in db.execute(_SOURCES)}

    def failures(self) -> dict[str, FailureRecord]:
        """The files that failed to ingest and were not ingested or removed since, by source."""
        with self._read() as db:
            return {r.source: FailureRecord(*r) for r in db.execute(_FAILURES)}

    def chunk_ids_of(self, source: str) -> set[str]:
        with self._read() as db:
            return {str(r[0]) for r in db.execute(_OF_SOURCE, {"source": source})}

    def get_meta(self, key: str) -> str | None:
        with self._read() as db:
            value = db.execute(_GET_META, {"key": key}).scalar()
        return str(value) if value is not None else None

    def all_chunks(self) -> list[Chunk]:
        with self._read() as db:
            return [_chunk(r) for r in db.execute(_ALL)]

    def chunks_of_document(self, doc_id: str) -> list[Chunk]:
        """Every chunk of one document, in reading order."""
        with self._read() as db:
            return [_chunk(r) for r in db.execute(_OF_DOCUMENT, {"doc_id": doc_id})]

    def flagged_chunks(self) -> list[Chunk]:
        """Every chunk flagged as instruction-like, by source and position."""
        with self._read() as db:
            return [_chunk(r) for r in db.execute(_FLAGGED)]

    def count_chunks(self) -> int:
        with self._read() as db:
            return int(db.execute(_COUNT).scalar_one())

    def facet(self, column: str) -> dict[str, int]:
        if column not in ("category", "audience"):
            raise ValueError(column)
        value = func.coalesce(chunks.c[column], "")
        count = func.count()
        query = select(value, count).group_by(value).order_by(count.desc())
        with self._read() as db:
            return {str(r[0]): int(r[1]) for r in db.execute(query)}

    # -- writes ---------------------------------------------------------------------------------

    def record_failure(self, record: FailureRecord) -> None:
        row = {
            "source": record.source,
            "sha256": record.sha256,
            "size": record.size,
            "reason": record.reason,
            "failed_at": record.failed_at,
            "pipeline": record.pipeline,
        }
        with self._write() as db:
            db.execute(self._upsert(failures, "source", row))

    def forget_failures(self, sources_: Iterable[str]) -> None:
        names = list(sources_)
        with self._write() as db:
            for start in range(0, len(names), _BATCH):
                db.execute(delete(failures).where(failures.c.source.in_(names[start : start + _BATCH])))

    def replace_source(self, record: SourceRecord, new_chunks: Sequence[Chunk]) -> None:
        """Replace one source's chunks and record its hash, in one transaction."""
        row = {
            "source": record.source,
            "sha256": record.sha256,
            "size": record.size,
            "documents": record.documents,
            "chunks": record.chunks,
            "ingested_at": record.ingested_at,
            "pipeline": record.pipeline,
        }
        ids = [c.id for c in new_chunks]
        with self._write() as db:
            db.execute(delete(chunks).where(chunks.c.source == record.source))
            for start in range(0, len(ids), _BATCH):  # an id another source held moves to this one
                db.execute(delete(chunks).where(chunks.c.id.in_(ids[start : start + _BATCH])))
            db.execute(delete(failures).where(failures.c.source == record.source))
            db.execute(self._upsert(sources, "source", row))
            if new_chunks:
                db.execute(chunks.insert(), [_row(record.source, c) for c in new_chunks])
            self._bump(db)

    def remove_sources(self, sources_: Iterable[str]) -> None:
        names = list(sources_)
        with self._write() as db:
            for start in range(0, len(names), _BATCH):
                batch = names[start : start + _BATCH]
                db.execute(delete(chunks).where(chunks.c.source.in_(batch)))
                db.execute(delete(sources).where(sources.c.source.in_(batch)))
                db.execute(delete(failures).where(failures.c.source.in_(batch)))
            self._bump(db)

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute(self._upsert(meta, "key", {"key": key, "value": value}))

    def _bump(self, db: Connection) -> None:
        db.execute(self._upsert(meta, "key", {"key": "version", "value": str(time.time_ns())}))

    def _upsert(self, table: Table, key: str, row: dict[str, object]) -> Any:
        statement = self._insert(table).values(row)
        changed = {name: statement.excluded[name] for name in row if name != key}
        return statement.on_conflict_do_update(index_elements=[key], set_=changed)


def _row(source: str, c: Chunk) -> dict[str, object]:
    return {
        "id": c.id,
        "source": source,
        "doc_id": c.doc_id,
        "title": c.title,
        "section_path": c.section_path,
        "text": c.text,
        "url": c.url,
        "category": c.category,
        "audience": c.audience,
        "tags": json.dumps(list(c.tags)),
        "position": c.position,
        "flags": json.dumps(list(c.flags)),
    }


def _chunk(row: Row[Any]) -> Chunk:
    (id_, source, doc_id, title, section_path, text, url, category, audience, tags, position, flags) = tuple(row)
    return Chunk(
        id=id_,
        doc_id=doc_id,
        title=title,
        section_path=section_path,
        text=text,
        source=source,
        position=position,
        url=url or None,
        category=category or None,
        audience=audience or None,
        tags=_EMPTY if tags == "[]" else tuple(json.loads(tags)),
        flags=_EMPTY if not flags or flags == "[]" else tuple(json.loads(flags)),
    )
