"""Schemathesis against the app's own OpenAPI document: generated requests never get a 5xx.

Every operation is a test of its own (``test_generated_requests[POST /v1/ask]``). Requests are made as an
admin (an API key) so that every route runs past its role check, and then once more for the operations
with path parameters, with the ids replaced by ones that exist (a conversation, a ticket, a pending
approval, a key, a runbook section), so generated bodies reach the code behind the 404.

The document is taken from ``create_app(...).openapi()`` at import time (it depends on the routes only; no
settings are read and nothing starts), and the requests go to one app started once for the module.
Schemathesis's own ASGI client is used without entering it: entering it ties the app's lifespan to
Schemathesis, whose pytest plugin ends every lifespan after each test, which would restart the app (and
its models) for every operation. The lifespan is run by a ``TestClient`` instead.

The deviations Schemathesis found (an unusable priority filter, 400 for unparsable bodies, refusals
documented with one shape of two) are fixed; the tests at the end keep them fixed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis import checks as st
from schemathesis.python import asgi

from firstline.service.app import create_app
from firstline.settings import Settings, load_settings
from firstline.testing.live import UNLIMITED, clean_environment, seed_accounts

pytestmark = [pytest.mark.slow]

# Left out: GET /v1/events, an event stream that stays open (its roles are in test_authz.py, its behaviour in
# test_me_and_live.py over a real server).
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings.model_construct()).openapi()).exclude(path="/v1/events")
BASE_URL = f"http://{asgi.HOST}"
CSRF = {"X-Requested-With": "firstline"}

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same cases on every run: a failure here is reproducible, not a lucky draw
    database=None,
    suppress_health_check=list(HealthCheck),
)

REFUSAL_ROUTES = {"POST /v1/ask", "POST /v1/conversations/{conversation_id}/messages"}


def documented_body(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> Any:
    """``response_schema_conformance``, except event streams (documented as an opaque string; test_authz.py
    reads the events)."""
    if (response.headers.get("content-type") or [""])[0].startswith("text/event-stream"):
        return None
    return st.response_schema_conformance(ctx, response, case)


def rejects_invalid_data(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> Any:
    """``negative_data_rejection`` for invalid JSON bodies, counting 413 (over the size limit) as a rejection.

    Invalid query, path or header values are left out: on the wire they are strings, so a "number where a string
    belongs" (e.g. ``tag=1.8e+16``) arrives as a perfectly valid string and is rightly accepted.
    """
    components = case.meta.components if case.meta else {}
    negative = {str(where.value) for where, info in components.items() if info.mode == GenerationMode.NEGATIVE}
    if response.status_code == 413 or negative != {"body"}:
        return None
    return st.negative_data_rejection(ctx, response, case)


# Not checked: `positive_data_acceptance` (the service rightly refuses some schema-valid input: an empty query,
# an upload that is not a runbook, a requester key without a subject) and `unsupported_method` /
# `allow_header_conformance` (a 405 lists the methods of the first route object matching the path, a FastAPI
# trait, e.g. `Allow: GET` for /v1/admin/api-keys which also takes POST).
CHECKS = [
    st.not_a_server_error,
    st.status_code_conformance,
    documented_body,
    st.content_type_conformance,
    st.response_headers_conformance,
    rejects_invalid_data,
]


@dataclass
class Target:
    app: FastAPI
    client: requests.Session  # Schemathesis's ASGI client, not entered: no lifespan of its own
    headers: dict[str, str]
    ids: dict[str, str]

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.client.get(BASE_URL + path, headers=self.headers, **kw)

    def post(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> requests.Response:
        return self.client.post(BASE_URL + path, headers={**self.headers, **(headers or {})}, **kw)


def _real_ids(client: TestClient, admin: dict[str, str], marcus: dict[str, str]) -> dict[str, str]:
    """Ids that exist: a conversation with its ticket, a pending approval, a revocable key, a runbook section."""

    def ok(response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    cid = ok(client.post("/v1/conversations", json={}, headers=marcus), 201)["conversation_id"]
    ok(client.post(f"/v1/conversations/{cid}/messages", json={"text": "I lost my work iPhone on the train"},
                   headers=marcus))  # fmt: skip
    code = ok(client.get("/v1/demo/outbox", headers=marcus))["messages"][-1]["code"]
    paused = ok(client.post(f"/v1/conversations/{cid}/messages", json={"text": code}, headers=marcus))
    assert paused["approval"] and paused["approval"]["status"] == "pending", paused
    key = ok(client.post("/v1/admin/api-keys", json={"name": "to-revoke", "role": "agent"}, headers=admin), 201)
    hit = ok(client.get("/v1/knowledge/search", params={"q": "vpn", "k": 1}, headers=admin))["hits"][0]
    runbook = ("fuzz-target.md", b"# Fuzz\n\n## Steps\n\nRestart it.\n", "text/markdown")
    ok(client.post("/v1/knowledge/documents", files={"file": runbook}, headers=admin), 201)
    dead = client.app.state.runtime.jobs.dead  # type: ignore[attr-defined]  # a dead job to retry or discard
    dead.record("fuzz-dead-job", "reingest", {}, "OSError: fuzz", 6, datetime.now(UTC))
    return {
        "name": "fuzz-target.md",
        "channel": "slack",
        "external_id": "U0FUZZ",
        "conversation_id": cid,
        "number": paused["ticket"]["number"],
        "approval_id": paused["approval"]["id"],
        "key_id": key["id"],
        "chunk_id": hit["chunk_id"],
        "job_id": "fuzz-dead-job",
    }


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, _session_cache: Path) -> Iterator[Target]:
    with clean_environment(_session_cache):
        config = load_settings(data_dir=Path(tmp_path_factory.mktemp("schemathesis-data")), service=UNLIMITED)
        accounts = seed_accounts(config)
        app = create_app(config)
        with TestClient(app) as client:
            sessions = {}
            for who in ("admin", "requester2"):
                email, password = accounts[who]
                login = client.post("/v1/auth/login", json={"email": email, "password": password})
                assert login.status_code == 200, login.text
                sessions[who] = {"Cookie": f"firstline_session={login.cookies['firstline_session']}", **CSRF}
                client.cookies.clear()
            made = client.post("/v1/admin/api-keys", json={"name": "schemathesis", "role": "admin"},
                               headers=sessions["admin"])  # fmt: skip
            assert made.status_code == 201, made.text
            ids = _real_ids(client, sessions["admin"], sessions["requester2"])
            fuzz_client = asgi.get_client(app)
            try:
                yield Target(app, fuzz_client, {"Authorization": f"Bearer {made.json()['key']}"}, ids)
            finally:
                fuzz_client.close()


@SCHEMA.parametrize()
@FUZZ
def test_generated_requests(case: schemathesis.Case, target: Target) -> None:
    response = case.call(base_url=BASE_URL, session=target.client, headers=target.headers)
    case.validate_response(response, checks=CHECKS, headers=target.headers)


@SCHEMA.include(path_regex=r"\{").parametrize()
@FUZZ
def test_generated_requests_on_real_ids(case: schemathesis.Case, target: Target) -> None:
    """The same, with every path parameter naming something that exists."""
    assert case.path_parameters is not None
    case.path_parameters = {**case.path_parameters, **{k: target.ids[k] for k in case.path_parameters}}
    response = case.call(base_url=BASE_URL, session=target.client, headers=target.headers)
    # The case may have been generated as invalid for its (now replaced) path: only mode-free checks apply.
    case.validate_response(
        response, checks=[st.not_a_server_error, st.status_code_conformance, documented_body], headers=target.headers
    )


def test_every_operation_is_exercised() -> None:
    """The sweep above covers the whole document, path parameters included."""
    labels = {op.ok().label for op in SCHEMA.get_all_operations()}
    with_ids = {op.ok().label for op in SCHEMA.include(path_regex=r"\{").get_all_operations()}
    assert len(labels) >= 25 and "POST /v1/conversations/{conversation_id}/messages" in with_ids
    assert with_ids == {label for label in labels if "{" in label}


# -- what Schemathesis found ----------------------------------------------------------------------------


@pytest.mark.parametrize("priorities", [[2], [1, 2, 3, 4, 5]], ids=["one", "repeated"])
def test_the_ticket_queue_filters_by_priority(target: Target, priorities: list[int]) -> None:
    queue = target.get("/v1/tickets", params={"limit": 200}).json()["tickets"]
    assert queue, "the fixture opened a ticket"
    response = target.get("/v1/tickets", params={"priority": priorities, "limit": 200})
    assert response.status_code == 200, response.text
    expected = [t["number"] for t in queue if t["priority"] in priorities]
    assert [t["number"] for t in response.json()["tickets"]] == expected


def test_the_ticket_queue_filters_by_state(target: Target) -> None:
    """The counterpart of the priority test: the other repeatable filter works."""
    queue = target.get("/v1/tickets", params={"limit": 200}).json()["tickets"]
    assert queue, "the fixture opened a ticket"
    states = sorted({queue[0]["state"], "new"})
    response = target.get("/v1/tickets", params={"state": states, "limit": 200})
    assert response.status_code == 200, response.text
    expected = [t["number"] for t in queue if t["state"] in states]
    assert expected and [t["number"] for t in response.json()["tickets"]] == expected


UNPARSABLE = [
    pytest.param("/v1/auth/login", b'{"email": "\xff\xfe"}', "application/json", id="json-not-utf8-login"),
    pytest.param("/v1/ask", b'{"text": "\xff\xfe"}', "application/json", id="json-not-utf8-ask"),
    pytest.param(
        "/v1/knowledge/documents", b"--b\r\ndone--b--\r\n", "multipart/form-data; boundary=b", id="broken-multipart"
    ),
]


@pytest.mark.parametrize(("path", "body", "content_type"), UNPARSABLE)
def test_a_body_that_cannot_be_parsed_is_a_validation_error(
    target: Target, path: str, body: bytes, content_type: str
) -> None:
    response = target.post(path, data=body, headers={"Content-Type": content_type})
    assert response.status_code == 422 and response.json()["error"] == "ValidationError", response.text


@pytest.mark.parametrize(("path", "body", "content_type"), UNPARSABLE)
def test_a_body_that_cannot_be_parsed_is_refused_in_one_json_shape(
    target: Target, path: str, body: bytes, content_type: str
) -> None:
    """Whatever the status, the refusal is a client error with the one error body."""
    response = target.post(path, data=body, headers={"Content-Type": content_type})
    assert 400 <= response.status_code < 500 and set(response.json()) >= {"error", "detail"}


def test_malformed_json_is_a_validation_error(target: Target) -> None:
    """The counterpart of the test above: malformed UTF-8 JSON does get the documented 422."""
    response = target.post("/v1/ask", data=b'{"text": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["error"] == "ValidationError"


REFUSED_MESSAGES = [
    pytest.param({"json": {}}, 422, id="text-missing"),
    pytest.param({"data": b'{"text": "' + b"a" * 1_100_000 + b'"}'}, 413, id="body-over-1MiB"),
]


@pytest.mark.parametrize("route", sorted(REFUSAL_ROUTES))
@pytest.mark.parametrize(("request_kw", "status"), REFUSED_MESSAGES)
def test_a_refused_message_body_answers_as_documented(
    target: Target, route: str, request_kw: dict[str, Any], status: int
) -> None:
    method, path = route.split(" ")
    url = path.format(conversation_id=target.ids["conversation_id"])
    response = target.post(url, headers={"Content-Type": "application/json"}, **request_kw)
    assert response.status_code == status
    assert SCHEMA[path][method].is_valid_response(response), response.text


def test_a_refused_message_answers_as_documented(target: Target) -> None:
    """The counterpart of the test above: a refused message (empty, or over 8,000 characters) does match AskOut."""
    for text, status in (("   ", 422), ("a" * 8001, 413)):
        response = target.post("/v1/ask", json={"text": text})
        assert response.status_code == status and response.json()["status"] == "rejected"
        assert SCHEMA["/v1/ask"]["POST"].is_valid_response(response)
