"""OpenAIEmbedder against a strict loopback fake of an OpenAI-compatible ``/v1/embeddings`` endpoint.

The fake rejects (422) anything but ``{"model", "input": [str, ...], "encoding_format": "float"}`` and
answers ``{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model", "usage"}``
with ``data`` in reverse order, so the client must put rows back by ``index``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from firstline.errors import BackendResponseError, BackendUnavailableError
from firstline.knowledge.embedders import Embedder
from firstline.knowledge.openai_embedder import OpenAIEmbedder
from firstline.testing.loopback import LoopbackServer, Reply, Request, ShapeViolation

SPECS = Path(__file__).parents[2].parent / "shared" / "specs"
MODEL = "BAAI/bge-small-en-v1.5"
DIM = 6

# The OpenAI embeddings request we send, and what we read from the answer.
REQUEST_FIELDS = frozenset({"model", "input", "encoding_format"})
RESPONSE_REQUIRED = frozenset({"data"})
ITEM_REQUIRED = frozenset({"index", "embedding"})


def raw_vector(text: str) -> list[float]:
    """A deterministic, deliberately unnormalised vector for ``text``."""
    codes = [ord(c) for c in text] or [0]
    return [float(len(text) + 1), float(sum(codes) % 97), float(codes[0]), 3.0, -2.0, float(len(set(text)))]


def unit(text: str) -> npt.NDArray[np.float32]:
    vector = np.asarray(raw_vector(text), dtype=np.float64)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def check_request(body: object) -> list[str]:
    if not isinstance(body, dict) or set(body) != REQUEST_FIELDS:
        raise ShapeViolation(f"expected exactly {sorted(REQUEST_FIELDS)}, got {body!r}")
    if body["model"] != MODEL or body["encoding_format"] != "float":
        raise ShapeViolation(f"model/encoding_format wrong: {body!r}")
    texts = body["input"]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise ShapeViolation(f"input must be a non-empty list of strings, got {texts!r}")
    return texts


def openai_answer(texts: list[str], vectors: list[list[float]] | None = None) -> bytes:
    vectors = vectors if vectors is not None else [raw_vector(t) for t in texts]
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    data.reverse()
    tokens = sum(len(t.split()) for t in texts)
    return json.dumps(
        {"object": "list", "data": data, "model": MODEL, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    ).encode()


# --------------------------------------------------------------------------- loopback server


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: object


TextsApp = Callable[[list[str]], Reply]


class Loopback(LoopbackServer):
    """The generic loopback server, checking the path and keeping parsed bodies in ``seen``."""

    def __init__(self, app: TextsApp, delay: float = 0.0) -> None:
        def handle(request: Request) -> Reply:
            if request.path != "/v1/embeddings":
                raise ShapeViolation(f"path {request.path!r}")
            return app(check_request(request.json()))

        super().__init__(handle, delay)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def seen_bodies(self) -> list[Seen]:
        return [Seen(r.path, r.headers, json.loads(r.raw)) for r in self.seen]


def well_behaved(texts: list[str]) -> Reply:
    return 200, openai_answer(texts)


@pytest.fixture
def serve(loopback: Callable[[LoopbackServer], LoopbackServer]) -> Callable[..., Any]:
    def start(app: TextsApp = well_behaved, delay: float = 0.0) -> Any:
        return loopback(Loopback(app, delay))

    return start


@pytest.fixture
def embedder() -> Iterator[Callable[..., OpenAIEmbedder]]:
    made: list[OpenAIEmbedder] = []

    def build(base_url: str, **options: Any) -> OpenAIEmbedder:
        made.append(OpenAIEmbedder(base_url, MODEL, **options))
        return made[-1]

    yield build
    for item in made:
        item.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------------------- live


@pytest.mark.live
def test_request_shape_and_auth(serve: Any, embedder: Any) -> None:
    server = serve()
    client = embedder(server.base_url + "/", api_key="sk-local", document_prefix="passage: ")
    client.embed_documents(["VPN drops", "reset password"])
    [seen] = server.seen_bodies
    assert seen.path == "/v1/embeddings"
    assert seen.headers["authorization"] == "Bearer sk-local"
    assert seen.body == {
        "model": MODEL,
        "input": ["passage: VPN drops", "passage: reset password"],
        "encoding_format": "float",
    }


@pytest.mark.live
def test_no_key_sends_no_authorization(serve: Any, embedder: Any) -> None:
    server = serve()
    embedder(server.base_url).embed_query("printer")
    assert "authorization" not in server.seen_bodies[0].headers


@pytest.mark.live
def test_rows_follow_index_not_arrival_order(serve: Any, embedder: Any) -> None:
    server = serve()  # answers data[] reversed
    texts = ["printer offline", "reset password", "VPN drops", "Wi-Fi slow"]
    vectors = embedder(server.base_url).embed_documents(texts)
    np.testing.assert_allclose(vectors, np.stack([unit(t) for t in texts]), rtol=1e-6)


@pytest.mark.live
def test_vectors_are_unit_float32(serve: Any, embedder: Any) -> None:
    server = serve()
    client = embedder(server.base_url, dimension=DIM)
    vectors = client.embed_documents(["a", "bb", "ccc"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    query = client.embed_query("a")
    assert query.dtype == np.float32
    assert query.shape == (DIM,)
    np.testing.assert_allclose(query, vectors[0], rtol=1e-6)


@pytest.mark.live
def test_query_prefix(serve: Any, embedder: Any) -> None:
    server = serve()
    query = embedder(server.base_url, query_prefix="query: ").embed_query("VPN")
    assert server.seen_bodies[0].body == {"model": MODEL, "input": ["query: VPN"], "encoding_format": "float"}
    np.testing.assert_allclose(query, unit("query: VPN"), rtol=1e-6)


@pytest.mark.live
def test_batches(serve: Any, embedder: Any) -> None:
    server = serve()
    texts = [f"text {i}" for i in range(5)]
    vectors = embedder(server.base_url, batch_size=2).embed_documents(texts)
    assert [seen.body["input"] for seen in server.seen_bodies] == [texts[0:2], texts[2:4], texts[4:5]]
    np.testing.assert_allclose(vectors, np.stack([unit(t) for t in texts]), rtol=1e-6)


@pytest.mark.live
def test_dimension_is_discovered_from_the_first_call(serve: Any, embedder: Any) -> None:
    server = serve()
    client = embedder(server.base_url)
    client.embed_documents(["one"])
    assert client.dimension == DIM
    assert len(server.seen_bodies) == 1


@pytest.mark.live
def test_dimension_before_any_call_probes_once(serve: Any, embedder: Any) -> None:
    server = serve()
    client = embedder(server.base_url)
    assert client.dimension == DIM
    assert client.dimension == DIM
    assert len(server.seen_bodies) == 1
    assert client.embed_documents([]).shape == (0, DIM)
    assert len(server.seen_bodies) == 1


@pytest.mark.live
def test_configured_dimension_mismatch_is_a_response_error(serve: Any, embedder: Any) -> None:
    server = serve()
    with pytest.raises(BackendResponseError, match="384"):
        embedder(server.base_url, dimension=384).embed_query("x")


@pytest.mark.live
def test_refused_connection_names_url_and_setting(embedder: Any) -> None:
    base = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendUnavailableError) as caught:
        embedder(base).embed_documents(["x"])
    message = str(caught.value)
    assert f"{base}/embeddings" in message
    assert "knowledge.embedder.url" in message
    assert caught.value.url == f"{base}/embeddings"
    assert caught.value.setting == "knowledge.embedder.url"


@pytest.mark.live
def test_timeout_is_unavailable(serve: Any, embedder: Any) -> None:
    server = serve(delay=2.0)
    with pytest.raises(BackendUnavailableError, match="Timeout"):
        embedder(server.base_url, timeout=0.2).embed_query("x")


@pytest.mark.live
def test_http_500_is_a_response_error_with_status_and_excerpt(serve: Any, embedder: Any) -> None:
    server = serve(lambda texts: (500, b'{"error": "CUDA out of memory"}'))
    with pytest.raises(BackendResponseError) as caught:
        embedder(server.base_url).embed_query("x")
    assert not isinstance(caught.value, BackendUnavailableError)
    assert "500" in str(caught.value)
    assert "CUDA out of memory" in str(caught.value)
    assert server.base_url in str(caught.value)


@pytest.mark.live
@pytest.mark.parametrize(
    "answer",
    [
        lambda texts: b"{not json",
        lambda texts: b'{"object": "list"}',
        lambda texts: openai_answer(texts[:-1]),  # one embedding short
        lambda texts: openai_answer(texts, [[1.0, 2.0]] + [[1.0, 2.0, 3.0]] * (len(texts) - 1)),  # ragged
        lambda texts: openai_answer(texts, [["1.0"]] * len(texts)),  # type: ignore[list-item]
        lambda texts: json.dumps(
            {"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [1.0]}]}
        ).encode(),
    ],
    ids=["not-json", "no-data", "short", "ragged", "strings", "repeated-index"],
)
def test_malformed_body_is_a_response_error(answer: Callable[[list[str]], bytes], serve: Any, embedder: Any) -> None:
    server = serve(lambda texts: (200, answer(texts)))
    with pytest.raises(BackendResponseError, match="unexpected body"):
        embedder(server.base_url).embed_documents(["a", "b"])


# --------------------------------------------------------------------------- hermetic


def test_satisfies_the_embedder_protocol() -> None:
    client = OpenAIEmbedder("http://127.0.0.1:9/v1", MODEL, dimension=DIM)
    try:
        assert isinstance(client, Embedder)
        assert client.dimension == DIM
        assert client.name == f"openai:{MODEL}"
        assert client.url == "http://127.0.0.1:9/v1/embeddings"
    finally:
        client.close()


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        OpenAIEmbedder("http://127.0.0.1:9/v1", MODEL, batch_size=0)
    with pytest.raises(ValueError, match="dimension"):
        OpenAIEmbedder("http://127.0.0.1:9/v1", MODEL, dimension=0)


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` (and a single-element ``allOf`` wrapper, as TEI writes enums) to the schema."""
    while True:
        if "$ref" in node:
            node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
        elif len(node.get("allOf", [])) == 1:
            node = node["allOf"][0]
        else:
            return node


@pytest.mark.skipif(not SPECS.is_dir(), reason=f"vendor specs not found at {SPECS}")
@pytest.mark.parametrize(
    ("spec_file", "path"),
    [("tei/tei.openapi.json", "/v1/embeddings"), ("infinity/infinity.openapi.json", "/embeddings")],
)
def test_request_and_response_fields_match_vendor_specs(spec_file: str, path: str) -> None:
    """TEI's /v1/embeddings and Infinity's /embeddings accept our fields and promise the ones we read."""
    spec = json.loads((SPECS / spec_file).read_text(encoding="utf-8"))
    operation = spec["paths"][path]["post"]
    request = _resolve(spec, operation["requestBody"]["content"]["application/json"]["schema"])
    variants = [_resolve(spec, v) for v in request.get("oneOf", [request])]
    text = next(v for v in variants if v["properties"].get("modality", {}).get("const", "text") == "text")
    assert set(text["required"]) <= REQUEST_FIELDS <= set(text["properties"])
    assert "float" in _resolve(spec, text["properties"]["encoding_format"])["enum"]

    response = _resolve(spec, operation["responses"]["200"]["content"]["application/json"]["schema"])
    assert set(response["required"]) >= RESPONSE_REQUIRED
    item = _resolve(spec, response["properties"]["data"]["items"])
    assert set(item["required"]) >= ITEM_REQUIRED
