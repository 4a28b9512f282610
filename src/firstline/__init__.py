"""Firstline: an open-source, self-hostable Tier-1 IT helpdesk agent.

The public API is re-exported here and loaded lazily (PEP 562), so ``import firstline`` stays
cheap and importing a submodule never drags in the whole package::

    from firstline import KnowledgeBase, Filters, load_settings, Runtime
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "BM25Index": "firstline.knowledge.sparse",
    "Chunk": "firstline.knowledge.models",
    "Chunker": "firstline.knowledge.chunking",
    "Citation": "firstline.knowledge.models",
    "Document": "firstline.knowledge.models",
    "Embedder": "firstline.knowledge.embedders",
    "Filters": "firstline.knowledge.models",
    "FirstlineError": "firstline.errors",
    "Hit": "firstline.knowledge.models",
    "HybridRetriever": "firstline.knowledge.retriever",
    "InMemoryStore": "firstline.knowledge.stores.memory",
    "IngestReport": "firstline.knowledge.ingest",
    "KnowledgeBase": "firstline.knowledge.base",
    "LocalEmbedder": "firstline.knowledge.embedders",
    "Reranker": "firstline.knowledge.rerank",
    "Runtime": "firstline.runtime",
    "Settings": "firstline.settings",
    "VectorStore": "firstline.knowledge.stores",
    "load_settings": "firstline.settings",
}

__all__ = [
    "BM25Index",
    "Chunk",
    "Chunker",
    "Citation",
    "Document",
    "Embedder",
    "Filters",
    "FirstlineError",
    "Hit",
    "HybridRetriever",
    "InMemoryStore",
    "IngestReport",
    "KnowledgeBase",
    "LocalEmbedder",
    "Reranker",
    "Runtime",
    "Settings",
    "VectorStore",
    "__version__",
    "load_settings",
]

if TYPE_CHECKING:
    from firstline.errors import FirstlineError
    from firstline.knowledge.base import KnowledgeBase
    from firstline.knowledge.chunking import Chunker
    from firstline.knowledge.embedders import Embedder, LocalEmbedder
    from firstline.knowledge.ingest import IngestReport
    from firstline.knowledge.models import Chunk, Citation, Document, Filters, Hit
    from firstline.knowledge.rerank import Reranker
    from firstline.knowledge.retriever import HybridRetriever
    from firstline.knowledge.sparse import BM25Index
    from firstline.knowledge.stores import VectorStore
    from firstline.knowledge.stores.memory import InMemoryStore
    from firstline.runtime import Runtime
    from firstline.settings import Settings, load_settings


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'firstline' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
