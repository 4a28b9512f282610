"""Rerankers reorder retrieved passages by relevance to the query.

One protocol, five implementations: a local sentence-transformers cross-encoder and the HTTP rerank
endpoints of Cohere v2, vLLM, Hugging Face TEI and Infinity. The four HTTP shapes differ:

- Cohere ``POST /v2/rerank`` ``{model, query, documents, top_n}`` -> ``{results: [{index, relevance_score}]}``
- vLLM ``POST /rerank`` (``/v1/rerank``, ``/v2/rerank``) ``{model, query, documents, top_n}``
  -> ``{id, model, usage, results: [{index, document: {text}, relevance_score}]}``
- TEI ``POST /rerank`` ``{query, texts, raw_scores, return_text, truncate}`` -> ``[{index, score}]``
- Infinity ``POST /rerank`` ``{model, query, documents, top_n?}``
  -> ``{object, results: [{index, relevance_score, document?}], model, usage, id, created}``

Every HTTP failure (unreachable, timeout, error status, unexpected body, an index out of range)
raises :class:`~firstline.errors.RerankError`; the retriever then keeps the fused order.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx
import numpy as np

from firstline.errors import ConfigError, RerankError

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

__all__ = [
    "CohereReranker",
    "CrossEncoderReranker",
    "InfinityReranker",
    "RerankResult",
    "Reranker",
    "TEIReranker",
    "VLLMReranker",
    "build_reranker",
]

_MODEL_PATH_SETTING = "knowledge.rerank.model_path"
_EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class RerankResult:
    """One reranked document: its position in the input ``documents`` and its relevance score."""

    index: int
    score: float


@runtime_checkable
class Reranker(Protocol):
    """Scores ``documents`` against ``query``; results come best-first, at most ``top_n`` of them."""

    name: str

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[RerankResult]:
        """Return ``RerankResult`` rows sorted by score descending, indices into ``documents``."""
        ...


def _check_top_n(top_n: int | None) -> None:
    if top_n is not None and top_n < 0:
        raise ValueError(f"top_n must be None or >= 0, got {top_n}")


def _best_first(pairs: Sequence[tuple[int, float]], top_n: int | None) -> list[RerankResult]:
    """Sort by score descending (ties keep the input order), truncate to ``top_n``."""
    ranked = sorted(pairs, key=lambda pair: (-pair[1], pair[0]))
    if top_n is not None:
        ranked = ranked[:top_n]
    return [RerankResult(index=index, score=score) for index, score in ranked]


# --------------------------------------------------------------------------- local cross-encoder


class CrossEncoderReranker:
    """A sentence-transformers ``CrossEncoder`` loaded from a local directory, never from a hub.

    The model loads on first use (or on :meth:`load`); the path is checked at construction so a bad
    setting fails at startup.
    """

    def __init__(self, model_path: str, device: str = "cpu", batch_size: int = 32, max_length: int = 512) -> None:
        path = Path(model_path).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"The cross-encoder model directory {str(path)!r} does not exist. Set `{_MODEL_PATH_SETTING}` "
                "(env FIRSTLINE_KNOWLEDGE__RERANK__MODEL_PATH) to a local directory holding a sentence-transformers "
                "CrossEncoder (config.json + weights), or choose an HTTP reranker kind."
            )
        self.name = f"cross-encoder:{path.name}"
        self._path = path
        self._device = device
        self._batch_size = batch_size
        self._max_length = max_length
        self._model: CrossEncoder | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model now instead of on the first :meth:`rerank` call."""
        self._loaded()

    def _loaded(self) -> CrossEncoder:
        with self._lock:
            if self._model is None:
                from sentence_transformers import CrossEncoder

                try:
                    self._model = CrossEncoder(
                        str(self._path),
                        device=self._device,
                        max_length=self._max_length,
                        local_files_only=True,
                        trust_remote_code=False,
                    )
                except (OSError, ValueError) as exc:
                    raise ConfigError(
                        f"Cannot load a cross-encoder from {str(self._path)!r} ({exc}). Point `{_MODEL_PATH_SETTING}` "
                        "at a directory saved with CrossEncoder.save_pretrained()."
                    ) from exc
            return self._model

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[RerankResult]:
        _check_top_n(top_n)
        if not documents or top_n == 0:
            return []
        model = self._loaded()
        try:
            scores = model.predict(
                [(query, document) for document in documents],
                batch_size=self._batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
        except (RuntimeError, ValueError) as exc:
            raise RerankError(f"Cross-encoder {self.name} failed to score {len(documents)} documents: {exc}") from exc
        values = [float(score) for score in np.asarray(scores, dtype=np.float64).reshape(-1)]
        if len(values) != len(documents):
            raise RerankError(f"Cross-encoder {self.name} returned {len(values)} scores for {len(documents)} documents")
        return _best_first(list(enumerate(values)), top_n)


# --------------------------------------------------------------------------- shared HTTP plumbing


class _ShapeError(ValueError):
    """The body parsed as JSON but is not the vendor's documented shape."""


def _field(obj: object, key: str) -> object:
    if not isinstance(obj, dict):
        raise _ShapeError(f"expected an object with {key!r}, got {type(obj).__name__}")
    if key not in obj:
        raise _ShapeError(f"missing field {key!r}")
    return obj[key]


def _as_list(obj: object, what: str) -> list[object]:
    if not isinstance(obj, list):
        raise _ShapeError(f"{what} is {type(obj).__name__}, expected a list")
    return obj


def _as_index(obj: object, n_documents: int) -> int:
    if isinstance(obj, bool) or not isinstance(obj, int):
        raise _ShapeError(f"index {obj!r} is not an integer")
    if not 0 <= obj < n_documents:
        raise _ShapeError(f"index {obj} is out of range for {n_documents} documents")
    return obj


def _as_score(obj: object) -> float:
    if isinstance(obj, bool) or not isinstance(obj, int | float) or not math.isfinite(obj):
        raise _ShapeError(f"score {obj!r} is not a finite number")
    return float(obj)


def _scored(items: object, score_key: str, n_documents: int) -> list[tuple[int, float]]:
    """``[{index, <score_key>}, ...]`` -> ``[(index, score)]``, rejecting duplicates and bad values."""
    pairs: list[tuple[int, float]] = []
    seen: set[int] = set()
    for item in _as_list(items, "results"):
        index = _as_index(_field(item, "index"), n_documents)
        if index in seen:
            raise _ShapeError(f"index {index} appears twice")
        seen.add(index)
        pairs.append((index, _as_score(_field(item, score_key))))
    return pairs


_Payload = dict[str, object]


class _RerankEndpoint:
    """The helper the four HTTP adapters share: one POST-JSON endpoint, every failure a :class:`RerankError`."""

    def __init__(self, adapter: str, url: str, timeout: float, api_key: str | None) -> None:
        self.adapter = adapter
        self.url = url
        self.timeout = timeout
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def rerank(
        self,
        documents: Sequence[str],
        top_n: int | None,
        payload: Callable[[list[str], int], _Payload],
        parse: Callable[[object, int], list[tuple[int, float]]],
    ) -> list[RerankResult]:
        """POST ``payload(documents, n)`` (n = how many results to ask for), parse, sort, truncate."""
        _check_top_n(top_n)
        if not documents or top_n == 0:
            return []
        docs = list(documents)
        wanted = len(docs) if top_n is None else min(top_n, len(docs))
        body = self._post(payload(docs, wanted))
        try:
            pairs = parse(body, len(docs))
        except _ShapeError as exc:
            raise self._error(f"unexpected response ({exc})") from exc
        return _best_first(pairs, top_n)

    def _post(self, payload: _Payload) -> object:
        try:
            response = self._client.post(self.url, json=payload)
        except httpx.TimeoutException as exc:
            raise self._error(f"no answer within {self.timeout:g}s ({type(exc).__name__})") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._error(f"cannot connect ({type(exc).__name__}: {exc}); is the server running?") from exc
        if not response.is_success:
            excerpt = response.text[:_EXCERPT_CHARS]
            raise self._error(f"HTTP {response.status_code} {response.reason_phrase}: {excerpt}")
        try:
            body: object = response.json()
        except ValueError as exc:
            raise self._error(f"the body is not JSON: {response.text[:_EXCERPT_CHARS]!r}") from exc
        return body

    def _error(self, problem: str) -> RerankError:
        return RerankError(f"{self.adapter} reranker at {self.url}: {problem}")

    def close(self) -> None:
        self._client.close()


def _join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def _parse_results(body: object, n_documents: int) -> list[tuple[int, float]]:
    """Cohere / vLLM / Infinity: ``{"results": [{"index", "relevance_score", ...}], ...}``."""
    return _scored(_field(body, "results"), "relevance_score", n_documents)


def _parse_tei(body: object, n_documents: int) -> list[tuple[int, float]]:
    """TEI: a bare list ``[{"index", "score", "text"?}]``."""
    return _scored(body, "score", n_documents)


class CohereReranker:
    """Cohere v2 ``POST {base_url}/v2/rerank`` (also Cohere-compatible gateways), ``Authorization: Bearer``."""

    def __init__(
        self,
        base_url: str = "https://api.cohere.com",
        api_key: str | None = None,
        model: str = "rerank-v3.5",
        timeout: float = 10.0,
    ) -> None:
        self.name = f"cohere:{model}"
        self.model = model
        self._endpoint = _RerankEndpoint("Cohere", _join(base_url, "/v2/rerank"), timeout, api_key)
        self.url = self._endpoint.url

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[RerankResult]:
        def payload(docs: list[str], n: int) -> _Payload:
            return {"model": self.model, "query": query, "documents": docs, "top_n": n}

        return self._endpoint.rerank(documents, top_n, payload, _parse_results)

    def close(self) -> None:
        """Close the connection pool."""
        self._endpoint.close()


class VLLMReranker:
    """vLLM's Jina/Cohere-style ``POST {base_url}/rerank``; ``path`` may be ``/v1/rerank`` or ``/v2/rerank``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 10.0,
        path: str = "/rerank",
    ) -> None:
        self.name = f"vllm:{model}"
        self.model = model
        self._endpoint = _RerankEndpoint("vLLM", _join(base_url, path), timeout, api_key)
        self.url = self._endpoint.url

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[RerankResult]:
        # vLLM reads top_n=0 as "all"; we always send the explicit count.
        def payload(docs: list[str], n: int) -> _Payload:
            return {"model": self.model, "query": query, "documents": docs, "top_n": n}

        return self._endpoint.rerank(documents, top_n, payload, _parse_results)

    def close(self) -> None:
        """Close the connection pool."""
        self._endpoint.close()


class TEIReranker:
    """Hugging Face text-embeddings-inference ``POST {base_url}/rerank``; TEI has no top_n, we cut client-side."""

    def __init__(self, base_url: str, timeout: float = 10.0, api_key: str | None = None, truncate: bool = True) -> None:
        self.name = "tei"
        self.truncate = truncate
        self._endpoint = _RerankEndpoint("TEI", _join(base_url, "/rerank"), timeout, api_key)
        self.url = self._endpoint.url

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[RerankResult]:
        def payload(docs: list[str], n: int) -> _Payload:
            return {"query": query, "texts": docs, "raw_scores": False, "return_text": False, "truncate": self.truncate}

        return self._endpoint.rerank(documents, top_n, payload, _parse_tei)

    def close(self) -> None:
        """Close the connection pool."""
        self._endpoint.close()


class InfinityReranker:
    """Infinity's Cohere-aligned ``POST {base_url}/rerank`` (put any ``--url-prefix`` into ``base_url``)."""

    def __init__(self, base_url: str, model: str, timeout: float = 10.0, api_key: str | None = None) -> None:
        self.name = f"infinity:{model}"
        self.model = model
        self._endpoint = _RerankEndpoint("Infinity", _join(base_url, "/rerank"), timeout, api_key)
        self.url = self._endpoint.url

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[RerankResult]:
        def payload(docs: list[str], n: int) -> _Payload:
            body: _Payload = {"model": self.model, "query": query, "documents": docs}
            if top_n is not None:
                body["top_n"] = n
            return body

        return self._endpoint.rerank(documents, top_n, payload, _parse_results)

    def close(self) -> None:
        """Close the connection pool."""
        self._endpoint.close()


# --------------------------------------------------------------------------- factory

_KINDS: dict[str, Callable[..., Reranker]] = {
    "cross-encoder": CrossEncoderReranker,
    "cohere": CohereReranker,
    "vllm": VLLMReranker,
    "tei": TEIReranker,
    "infinity": InfinityReranker,
}


def build_reranker(kind: str, **options: Any) -> Reranker:
    """Build the reranker for ``kind`` (one of ``cross-encoder``, ``cohere``, ``vllm``, ``tei``, ``infinity``)."""
    factory = _KINDS.get(kind)
    if factory is None:
        raise ConfigError(
            f"Unknown reranker kind {kind!r}. Set `knowledge.rerank.kind` to one of: {', '.join(sorted(_KINDS))}."
        )
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        accepted = ", ".join(name for name in inspect.signature(factory).parameters)
        raise ConfigError(
            f"Invalid options for reranker kind {kind!r} ({exc}). Accepted under `knowledge.rerank`: {accepted}."
        ) from exc
    return factory(**options)
