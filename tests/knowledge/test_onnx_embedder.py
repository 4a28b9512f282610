from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from firstline.errors import ConfigError
from firstline.knowledge.embedders import Embedder, LocalEmbedder, SentenceTransformerEmbedder, default_model_path
from firstline.knowledge.onnx_embedder import OnnxEmbedder

TEXTS = [
    "VPN keeps disconnecting",
    "Outlook asks for my password again and again after the Windows update this morning",
    "",
    "Druckerwarteschlange hängt",
    "word " * 400,  # longer than max_seq_length: truncated the same way
]


@pytest.fixture(scope="module")
def onnx(tmp_path_factory: pytest.TempPathFactory) -> OnnxEmbedder:
    return OnnxEmbedder(cache_dir=tmp_path_factory.mktemp("onnx-cache"))


def test_same_vectors_as_sentence_transformers(onnx: OnnxEmbedder, minilm: SentenceTransformerEmbedder) -> None:
    assert isinstance(onnx, Embedder)
    ours = onnx.embed_documents(TEXTS)
    reference = minilm.embed_documents(TEXTS)
    assert ours.shape == reference.shape == (len(TEXTS), 384)
    assert ours.dtype == np.float32
    cosines = (ours * reference).sum(axis=1)
    assert cosines.min() > 0.9999
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(onnx.embed_query(TEXTS[1]), ours[1], atol=1e-5)
    assert onnx.embed_documents([]).shape == (0, 384)


def test_export_is_cached_and_reused(onnx: OnnxEmbedder) -> None:
    onnx.embed_query("warm")
    files = list(onnx.cache_dir.glob("*.onnx"))
    assert len(files) == 1
    again = OnnxEmbedder(cache_dir=onnx.cache_dir)
    again.embed_query("no export this time")
    assert list(onnx.cache_dir.glob("*.onnx")) == files
    assert again.dimension == 384


def test_cls_pooling_is_read_from_the_model_config(tmp_path: Path, onnx: OnnxEmbedder) -> None:
    model = tmp_path / "cls-model"
    shutil.copytree(default_model_path(), model)
    config = model / "1_Pooling" / "config.json"
    data = json.loads(config.read_text())
    data.update(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
    config.write_text(json.dumps(data))
    cls = OnnxEmbedder(str(model), cache_dir=onnx.cache_dir)
    mean_vector = onnx.embed_query("printer offline")
    cls_vector = cls.embed_query("printer offline")
    assert abs(float(np.linalg.norm(cls_vector)) - 1.0) < 1e-5
    assert float(mean_vector @ cls_vector) < 0.999  # a different pooling gives a different vector


def test_missing_model_or_tokenizer_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"knowledge\.embedder\.model_path"):
        OnnxEmbedder(str(tmp_path / "nope"), cache_dir=tmp_path).embed_query("x")
    (tmp_path / "empty-model").mkdir()
    with pytest.raises(ConfigError, match=r"tokenizer\.json"):
        OnnxEmbedder(str(tmp_path / "empty-model"), cache_dir=tmp_path).embed_query("x")


def test_bf16_torch_vectors_match_fp32(minilm: SentenceTransformerEmbedder) -> None:
    bf16 = SentenceTransformerEmbedder(precision="bf16")
    cosines = (bf16.embed_documents(TEXTS) * minilm.embed_documents(TEXTS)).sum(axis=1)
    assert cosines.min() > 0.99
    assert cosines.mean() > 0.998


def test_local_embedder_uses_onnx_for_queries_and_torch_for_batches(onnx: OnnxEmbedder) -> None:
    local = LocalEmbedder(cache_dir=onnx.cache_dir, torch_threshold=3)
    few = local.embed_documents(TEXTS[:2])  # below the threshold: ONNX
    assert local.documents._model is None  # torch was never loaded
    many = local.embed_documents(TEXTS)  # a batch: torch
    assert local.documents._model is not None
    assert (few * many[:2]).sum(axis=1).min() > 0.99
    assert (local.embed_query(TEXTS[0]) @ many[0]) > 0.99
    assert local.dimension == 384
    with pytest.raises(ConfigError, match="precision"):
        SentenceTransformerEmbedder(precision="fp8")


def test_queries_run_on_one_thread_and_batches_on_every_core(tmp_path: Path, onnx: OnnxEmbedder) -> None:
    embedder = OnnxEmbedder(cache_dir=onnx.cache_dir, threads=2)
    query = embedder.embed_query(TEXTS[0])
    assert embedder._session.get_session_options().intra_op_num_threads == 1
    assert embedder._bulk is None  # a service that only answers never builds the second session
    batch = embedder.embed_documents([TEXTS[0], *[f"printer {n} is offline" for n in range(11)]])
    assert embedder._bulk is not None and embedder._bulk.get_session_options().intra_op_num_threads == 2
    np.testing.assert_allclose(batch[0], query, atol=1e-5)  # both sessions give the same vectors


def test_a_text_embedded_once_is_remembered_for_the_next_caller(onnx: OnnxEmbedder) -> None:
    embedder = OnnxEmbedder(cache_dir=onnx.cache_dir)
    runs: list[int] = []
    real = embedder._embed
    embedder._load()
    embedder._embed = lambda texts: runs.append(len(texts)) or real(texts)  # type: ignore[method-assign]
    first = embedder.embed_query("my vpn drops every ten minutes")  # triage reads the message
    again = embedder.embed_documents(["my vpn drops every ten minutes", "it started today"])  # then its clauses
    assert runs == [1, 1]  # only the clause it had not seen was embedded
    np.testing.assert_array_equal(again[0], first)
    again[0] += 1.0  # a caller's array is its own: the kept vector is unchanged
    np.testing.assert_array_equal(embedder.embed_query("my vpn drops every ten minutes"), first)
    assert runs == [1, 1]
    embedder.embed_documents([f"runbook chunk {n}" for n in range(12)])  # an ingest's batch is not kept
    assert len(embedder._recent) == 2
    # a text's vector does not depend on what else was asked with it (one text a run, whatever the order)
    fresh = OnnxEmbedder(cache_dir=onnx.cache_dir)
    pair = fresh.embed_documents(["it started today", "my vpn drops every ten minutes"])
    np.testing.assert_array_equal(pair[1], first)
