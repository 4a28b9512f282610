"""Each part of a deployment built from its settings: the embedder, the vector store, the knowledge base,
the directory, the model chain and the engine, and the paths and secret they read. :class:`firstline.runtime.Runtime`
composes them (and re-exports them); nothing else constructs stores, embedders or rerankers from settings.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firstline.errors import ConfigError
from firstline.knowledge.base import KnowledgeBase
from firstline.knowledge.chunking import Chunker
from firstline.knowledge.embedders import Embedder, LocalEmbedder, SentenceTransformerEmbedder
from firstline.knowledge.rerank import Reranker, build_reranker
from firstline.knowledge.retriever import RetrievalConfig
from firstline.knowledge.stores import VectorStore
from firstline.settings import EndpointSettings, KnowledgeSettings, Settings

if TYPE_CHECKING:
    from firstline.agents import Agent
    from firstline.directory import DirectoryBackend
    from firstline.helpdesk.triage import Triage
    from firstline.llm.catalog import ModelInfo
    from firstline.llm.messages import ChatModel
    from firstline.llm.pool import ModelIO

__all__ = [
    "act_model_path",
    "beneficiary_model_path",
    "build_directory",
    "build_embedder",
    "build_engine",
    "build_knowledge",
    "build_model",
    "build_reranker_from",
    "build_store",
    "demo_org",
    "demo_runbooks",
    "masks_personal",
    "server_secret",
    "single_threaded_blas",
    "triage_model_path",
    "warn_if_shared",
]

log = logging.getLogger(__name__)


def demo_runbooks() -> Path:
    """The folder of runbooks shipped inside the package (helpdesk/seed/runbooks)."""
    return Path(str(resources.files("firstline") / "helpdesk" / "seed" / "runbooks"))


def build_embedder(k: KnowledgeSettings) -> Embedder:
    e = k.embedder
    if e.kind == "openai":
        from firstline.knowledge.openai_embedder import OpenAIEmbedder

        assert e.url is not None and e.model is not None
        return OpenAIEmbedder(
            e.url,
            e.model,
            api_key=e.api_key.get_secret_value() if e.api_key else None,
            timeout=e.timeout_s,
            batch_size=e.batch_size,
        )
    if e.engine == "onnx":
        from firstline.knowledge.onnx_embedder import OnnxEmbedder

        return OnnxEmbedder(e.model_path, cache_dir=e.cache_dir, batch_size=min(e.batch_size, 64))
    if e.engine == "torch":
        return SentenceTransformerEmbedder(e.model_path, batch_size=e.batch_size, precision=e.precision)
    return LocalEmbedder(e.model_path, cache_dir=e.cache_dir, batch_size=e.batch_size, precision=e.precision)


def build_store(k: KnowledgeSettings, index_dir: Path) -> VectorStore:
    if k.store == "chroma":
        from firstline.knowledge.stores.chroma import ChromaStore

        return ChromaStore.embedded(str(index_dir / "chroma"), collection=k.collection)
    if k.store == "chroma-server":
        from firstline.knowledge.stores.chroma import ChromaStore

        return ChromaStore.server(k.chroma_url, collection=k.collection)
    if k.store == "qdrant":
        from firstline.knowledge.stores.qdrant import QdrantStore

        return QdrantStore.local(str(index_dir / "qdrant"), collection=k.collection)
    if k.store == "qdrant-server":
        from firstline.knowledge.stores.qdrant import QdrantStore

        key = k.qdrant_api_key.get_secret_value() if k.qdrant_api_key else None
        return QdrantStore.server(k.qdrant_url, api_key=key, collection=k.collection)
    if k.store == "memory":
        from firstline.knowledge.stores.memory import InMemoryStore

        return InMemoryStore()
    raise ConfigError(f"Unknown knowledge.store {k.store!r}")  # pragma: no cover - Literal-validated


def build_reranker_from(k: KnowledgeSettings) -> Reranker | None:
    r = k.rerank
    if r.kind == "none":
        return None
    key = r.api_key.get_secret_value() if r.api_key else None
    if r.kind == "cross-encoder":
        return build_reranker("cross-encoder", model_path=r.model_path)
    options: dict[str, object] = {"base_url": r.url, "timeout": r.timeout_s, "api_key": key}
    if r.kind != "tei":
        options["model"] = r.model or "rerank"
    return build_reranker(r.kind, **options)


def build_knowledge(settings: Settings, embedder: Embedder | None = None) -> KnowledgeBase:
    k = settings.knowledge
    from firstline.sqlstore.engine import private_dir, private_files  # not at import: SQLAlchemy is slow to load

    index_dir = private_dir(settings.index_dir)
    warn_if_shared(index_dir)
    r = k.retrieval
    embedder = embedder or build_embedder(k)
    from firstline.knowledge.sql_catalog import catalog_url_for

    with private_files():  # the catalog, the embedded vector store and their folders: 0600 / 0700
        return KnowledgeBase(
            index_dir,
            build_store(k, index_dir),
            embedder,
            reranker=build_reranker_from(k),
            retrieval=RetrievalConfig(r.candidates, r.bm25_weight, r.rerank_depth, r.max_query_chars),
            chunker=Chunker(k.chunk_max_words, k.chunk_overlap_words),
            catalog_url=catalog_url_for(settings),  # the shared database when it is PostgreSQL
        )


def single_threaded_blas() -> None:
    """One BLAS thread for this process. Its matrix products are small (a message's vector against the triage
    references) and many turns run at once; OpenBLAS's second thread spun after each product and burned as
    much CPU as the whole turn (bench/turn_cpu.py: 33 -> 16 ms a turn). Torch and ONNX Runtime keep theirs."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def warn_if_shared(folder: Path) -> None:
    """Log a warning, with the fix, when a data folder that exists can be read by other users."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        log.warning(
            "%s can be read by other users (mode %o): Firstline keeps tickets, accounts and the index there. "
            "Run: chmod -R go= %s",
            folder,
            mode & 0o777,
            folder,
        )


def demo_org() -> Path:
    """The demo organisation shipped inside the package (helpdesk/seed/org)."""
    return Path(str(resources.files("firstline") / "helpdesk" / "seed" / "org"))


def build_directory(settings: Settings) -> DirectoryBackend:
    """The configured directory (:mod:`firstline.directory.configure`), the demo organisation seeded when empty."""
    from firstline.directory.configure import build_directory as configured

    return configured(settings, demo_org())


def build_model(
    name: str, endpoint: EndpointSettings, prices: Mapping[str, ModelInfo], io: ModelIO | None = None
) -> ChatModel:
    """The client of one ``[llm.endpoints.<name>]`` entry, priced from the catalog when it names an entry.
    Its calls run on ``io`` (the runtime's model-I/O loop, one pooled HTTP client per endpoint)."""
    key = endpoint.api_key.get_secret_value() if endpoint.api_key else None
    common: dict[str, Any] = {
        "base_url": endpoint.base_url,
        "api_key": key,
        "name": name,
        "timeout_s": endpoint.timeout_s,
        "temperature": endpoint.temperature,
        "max_tokens": endpoint.max_tokens,
        "pricing": prices.get(endpoint.catalog_id) if endpoint.catalog_id else None,
        "io": io,
    }
    if endpoint.preset == "anthropic":
        from firstline.llm.anthropic import AnthropicModel

        return AnthropicModel(endpoint.model, **common, **endpoint.overrides)
    from firstline.llm.openai_compat import OpenAICompatModel
    from firstline.llm.profiles import profile

    return OpenAICompatModel(endpoint.model, preset=profile(endpoint.preset, **endpoint.overrides), **common)


def build_engine(
    settings: Settings, triage: Triage, io: ModelIO | None = None
) -> ChatModel | Callable[[Agent], ChatModel]:
    """The offline engine, or per-role fallback chains of LLM endpoints that end at the offline engine."""
    from firstline.helpdesk.offline import OfflineEngine

    offline = OfflineEngine(triage)
    llm = settings.llm
    if llm.engine == "offline":
        return offline
    from firstline.llm.catalog import load_catalog
    from firstline.llm.fallback import Budget, CircuitBreaker, FallbackChain

    prices = {m.id: m for m in load_catalog(settings.data_dir / "models.yaml")}
    from firstline.llm.redacting import RedactingModel

    models: dict[str, ChatModel] = {
        name: RedactingModel(build_model(name, e, prices, io), personal=masks_personal(settings, name, e))
        for name, e in llm.endpoints.items()
    }
    breakers: dict[str, CircuitBreaker] = {}
    budget = Budget(llm.first_token_s, llm.turn_s)
    chains: dict[str, ChatModel] = {
        role: FallbackChain(
            [models[n] for n in names], last_resort=offline, budget=budget, name=role, breakers=breakers
        )
        if names
        else offline
        for role, names in (("triage", llm.triage), ("specialist", llm.specialist))
    }
    return lambda agent: chains.get(agent.model_role, chains["specialist"])


def masks_personal(settings: Settings, name: str, endpoint: EndpointSettings) -> bool:
    """Whether e-mail addresses and phone numbers are masked for this endpoint (``security.redact_personal_for``
    names it, or says ``hosted`` and the endpoint is not on this machine or a private network)."""
    wanted = settings.security.redact_personal_for
    if name in wanted:
        return True
    if "hosted" not in wanted:
        return False
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(endpoint.base_url).hostname or ""
    if host == "localhost":
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a name: treat as hosted
    return not (address.is_loopback or address.is_private)


def triage_model_path(settings: Settings) -> Path:
    """A model trained here (``firstline triage train``) wins over the one shipped in the package."""
    from firstline.helpdesk.triage import packaged_model_path

    local = settings.data_dir / "models" / "triage-model.npz"
    return local if local.exists() else packaged_model_path()


def act_model_path(settings: Settings) -> Path:
    """The dialogue-act model: one trained here (``firstline triage train``) wins over the packaged one."""
    from firstline.helpdesk.acts import packaged_act_model_path

    local = settings.data_dir / "models" / "acts-model.npz"
    return local if local.exists() else packaged_act_model_path()


def beneficiary_model_path(settings: Settings) -> Path:
    """Whose-thing-is-it model: one trained here (``firstline triage train``) wins over the packaged one."""
    from firstline.helpdesk.beneficiary import packaged_beneficiary_model_path

    local = settings.data_dir / "models" / "beneficiary-model.npz"
    return local if local.exists() else packaged_beneficiary_model_path()


def server_secret(settings: Settings) -> bytes:
    """The deployment's secret key: ``security.secret_key`` from the environment, else ``data_dir/secret.key``
    (32 random bytes, created 0600 on first use and kept, so codes survive a restart)."""
    if settings.security.secret_key is not None:
        return settings.security.secret_key.get_secret_value().encode()
    path = settings.data_dir / "secret.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key.hex())
    os.chmod(path, 0o600)
    return key
