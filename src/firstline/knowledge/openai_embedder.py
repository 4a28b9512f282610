"""An :class:`~firstline.knowledge.embedders.Embedder` over any OpenAI-compatible ``/embeddings`` endpoint.

Works with vLLM, TEI (``/v1/embeddings``), Infinity (``/embeddings``, or ``/v1/embeddings`` behind
``--url-prefix /v1``), Ollama, llama.cpp and hosted providers. ``base_url`` conventionally ends with
``/v1``; the request is ``{"model", "input": [...], "encoding_format": "float"}`` and the answer
``{"data": [{"index", "embedding"}], "usage"}``. Vectors are put back in input order by ``index``,
L2-normalised and returned as float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import httpx
import numpy as np
import numpy.typing as npt

from firstline.errors import BackendResponseError, BackendUnavailableError

__all__ = ["OpenAIEmbedder"]

_WHAT = "embedding endpoint"
_URL_SETTING = "knowledge.embedder.url"
_EXCERPT_CHARS = 200


class OpenAIEmbedder:
    """Embeds through ``POST {base_url}/embeddings``, ``batch_size`` texts a request.

    ``dimension`` may be given (it is then checked against every answer) or left ``None``: it is
    learnt from the first answer, and reading :attr:`dimension` before any call embeds one probe text.
    ``query_prefix`` / ``document_prefix`` are prepended for models trained with them
    (e5: ``"query: "`` / ``"passage: "``; nomic: ``"search_query: "`` / ``"search_document: "``).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dimension: int | None = None,
        timeout: float = 30.0,
        batch_size: int = 64,
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if dimension is not None and dimension < 1:
            raise ValueError(f"dimension must be None or >= 1, got {dimension}")
        self.name = f"openai:{model}"
        self.model = model
        self.url = base_url.rstrip("/") + "/embeddings"
        self.batch_size = batch_size
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self._dimension = dimension
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(timeout=timeout, headers=headers)

    @property
    def dimension(self) -> int:
        """Vector length; asks the endpoint once (one probe text) if it is not known yet."""
        if self._dimension is None:
            return int(self._embed_batch(["dimension probe"]).shape[1])
        return self._dimension

    @dimension.setter
    def dimension(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"dimension must be >= 1, got {value}")
        self._dimension = value

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed many texts (with ``document_prefix``); shape ``(len(texts), dimension)``."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prefixed = [self.document_prefix + text for text in texts]
        batches = [
            self._embed_batch(prefixed[start : start + self.batch_size])
            for start in range(0, len(prefixed), self.batch_size)
        ]
        return np.concatenate(batches, axis=0)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """Embed one query (with ``query_prefix``); shape ``(dimension,)``."""
        row: npt.NDArray[np.float32] = self._embed_batch([self.query_prefix + text])[0]
        return row

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _embed_batch(self, texts: list[str]) -> npt.NDArray[np.float32]:
        payload = {"model": self.model, "input": texts, "encoding_format": "float"}
        try:
            response = self._client.post(self.url, json=payload)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise BackendUnavailableError(_WHAT, self.url, _URL_SETTING, reason) from exc
        if not response.is_success:
            hint = " Check `knowledge.embedder.api_key`." if response.status_code in (401, 403) else ""
            raise BackendResponseError(
                f"The {_WHAT} at {self.url} answered HTTP {response.status_code} {response.reason_phrase}: "
                f"{response.text[:_EXCERPT_CHARS]}.{hint} Check that the model {self.model!r} "
                "(`knowledge.embedder.model`) is served there."
            )
        try:
            vectors = _parse(response.json(), len(texts))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            raise BackendResponseError(
                f"The {_WHAT} at {self.url} answered HTTP {response.status_code} with an unexpected body ({exc}): "
                f"{response.text[:_EXCERPT_CHARS]}"
            ) from exc
        width = vectors.shape[1]
        if self._dimension is None:
            self._dimension = width
        elif width != self._dimension:
            raise BackendResponseError(
                f"The {_WHAT} at {self.url} returned {width}-dimensional vectors for model {self.model!r}, "
                f"but the configured dimension is {self._dimension}. Fix `knowledge.embedder.dimension` "
                "(and re-ingest) or serve the expected model."
            )
        return _normalised(vectors)


def _parse(body: object, expected: int) -> npt.NDArray[np.float32]:
    """``{"data": [{"index", "embedding"}]}`` -> rows in ``index`` order; ``ValueError`` on any other shape."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ValueError("no 'data' list")
    data: list[object] = body["data"]
    if len(data) != expected:
        raise ValueError(f"{len(data)} embeddings for {expected} inputs")
    rows: dict[int, list[float]] = {}
    for item in data:
        if not isinstance(item, dict):
            raise ValueError("a 'data' item is not an object")
        index, embedding = item.get("index"), item.get("embedding")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < expected or index in rows:
            raise ValueError(f"bad or repeated index {index!r}")
        if not isinstance(embedding, list) or not embedding:
            raise ValueError(f"embedding {index} is not a non-empty list of floats")
        if not all(_is_number(value) for value in embedding):
            raise ValueError(f"embedding {index} holds a non-number")
        rows[index] = embedding
    widths = {len(row) for row in rows.values()}
    if len(widths) != 1:
        raise ValueError(f"embeddings of different lengths {sorted(widths)}")
    return np.asarray([rows[i] for i in range(expected)], dtype=np.float32)


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _normalised(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = (vectors / np.maximum(norms, np.float32(1e-12))).astype(np.float32)
    return unit
