"""Fixtures of the knowledge tests: a real Chroma server, and knowledge bases on either catalog backend.

``make_kb`` here builds knowledge bases like the suite-wide one, on the catalog backend that the
``catalog_backend`` fixture names: ``"sqlite"`` (the file in ``index_dir``) unless a module overrides
``catalog_backend`` with ``params=["sqlite", "postgresql"]`` to run its tests on both. On PostgreSQL
every distinct ``index_dir`` of a test gets its own fresh schema, so knowledge bases that shared a
folder share a catalog and the others stay apart, exactly as with SQLite files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from firstline.knowledge.base import KnowledgeBase
from firstline.knowledge.embedders import Embedder
from firstline.knowledge.stores.memory import InMemoryStore
from firstline.testing.chroma import chroma_server as chroma_server_at
from firstline.testing.embedders import HashingEmbedder
from firstline.testing.postgres import PostgresCluster

SERVER_START_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``chroma run`` on a free port of 127.0.0.1, for this module; yields its URL."""
    with chroma_server_at(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url


@pytest.fixture
def catalog_backend() -> str:
    """Where ``make_kb`` keeps the catalog; a module overrides this to run on both backends."""
    return "sqlite"


@pytest.fixture
def make_kb(
    tmp_path: Path, catalog_backend: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., KnowledgeBase]]:
    """Build knowledge bases over an in-memory store (hashing embedder unless one is given)."""
    made: list[KnowledgeBase] = []
    urls: dict[Path, str] = {}
    cluster: PostgresCluster | None = None
    if catalog_backend == "postgresql":
        cluster = request.getfixturevalue("postgres")

    def make(embedder: Embedder | None = None, index_dir: Path | None = None, **kwargs: object) -> KnowledgeBase:
        folder = index_dir or tmp_path / f"index{len(made)}"
        if cluster is not None and "catalog_url" not in kwargs:
            if folder not in urls:
                urls[folder] = cluster.fresh_url()
            kwargs["catalog_url"] = urls[folder]
        kb = KnowledgeBase(folder, InMemoryStore(), embedder or HashingEmbedder(), **kwargs)  # type: ignore[arg-type]
        made.append(kb)
        return kb

    yield make
    for kb in made:
        kb.close()
