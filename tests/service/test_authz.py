"""Who may do what over HTTP: every role against every route, and nobody sees someone else's data.

One app per module (start-up loads the models). Each identity is a session token or an API key that is
sent explicitly with every request (the client's cookie jar is kept empty), so one ``TestClient`` serves
all of them. The role table below is the contract of docs/api.md; a test fails when the app grows a
``/v1`` route that the table does not know, so new routes get an authorization decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from firstline.service.app import create_app
from firstline.service.routes.conversations import REQUESTER_EVENTS
from firstline.settings import load_settings
from firstline.testing.live import UNLIMITED, clean_environment, seed_accounts

pytestmark = [pytest.mark.slow]

CSRF = {"X-Requested-With": "firstline"}
RUBY = "ruby.chen@nwmeridian.co.uk"  # requester
MARCUS = "marcus.bell@nwmeridian.co.uk"  # requester2
BEN = "ben.carter@nwmeridian.co.uk"  # requester3
RANK = {"public": 0, "requester": 1, "agent": 2, "admin": 3}

# What each identity is: the accounts of firstline.testing.live plus API keys made by the admin.
ROLE_OF = {
    "requester": "requester",
    "requester2": "requester",
    "requester3": "requester",
    "agent": "agent",
    "agent2": "agent",
    "admin": "admin",
    "requester2-key": "requester",  # speaks for marcus.bell (requester2)
    "agent-key": "agent",
    "admin-key": "admin",
}

# (method, path) -> the lowest role that may call it (docs/api.md, "Who may do what").
ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/v1/auth/login"): "public",
    ("POST", "/v1/webhooks/tickets"): "public",  # the vendor's signature is the credential (connector-checked)
    ("POST", "/v1/auth/logout"): "requester",
    ("GET", "/v1/me"): "requester",
    ("GET", "/v1/analytics"): "agent",
    ("GET", "/v1/admin/settings"): "admin",
    ("GET", "/v1/admin/api-keys"): "admin",
    ("POST", "/v1/admin/api-keys"): "admin",
    ("DELETE", "/v1/admin/api-keys/{key_id}"): "admin",
    ("GET", "/v1/admin/jobs"): "admin",
    ("POST", "/v1/admin/jobs/dead/{job_id}/retry"): "admin",
    ("DELETE", "/v1/admin/jobs/dead/{job_id}"): "admin",
    ("POST", "/v1/conversations"): "requester",
    ("GET", "/v1/conversations"): "requester",
    ("GET", "/v1/conversations/{conversation_id}"): "requester",
    ("POST", "/v1/conversations/{conversation_id}/messages"): "requester",
    ("POST", "/v1/ask"): "requester",
    ("GET", "/v1/demo/outbox"): "requester",
    ("GET", "/v1/tickets"): "requester",
    ("GET", "/v1/tickets/{number}"): "requester",
    ("POST", "/v1/tickets/{number}/comments"): "requester",
    ("POST", "/v1/tickets/{number}/close"): "requester",
    ("POST", "/v1/tickets/{number}/escalate"): "requester",
    ("POST", "/v1/tickets/{number}/unlink"): "agent",
    ("POST", "/v1/tickets/{number}/merge"): "agent",
    ("GET", "/v1/approvals"): "requester",
    ("POST", "/v1/approvals/{approval_id}/approve"): "requester",
    ("POST", "/v1/approvals/{approval_id}/deny"): "requester",
    ("GET", "/v1/knowledge/search"): "requester",
    ("GET", "/v1/kb/search"): "requester",
    ("GET", "/v1/knowledge/stats"): "agent",
    ("POST", "/v1/knowledge/documents"): "admin",
    ("POST", "/v1/knowledge/reingest"): "admin",
    ("DELETE", "/v1/knowledge/documents/{name}"): "admin",
    ("GET", "/v1/tickets/counts"): "agent",
    ("POST", "/v1/tickets/{number}/assign"): "agent",
    ("GET", "/v1/me/tickets"): "requester",
    ("GET", "/v1/me/links"): "requester",
    ("POST", "/v1/me/links"): "requester",
    ("DELETE", "/v1/me/links/{channel}/{external_id}"): "requester",
    ("GET", "/v1/events"): "requester",
    ("GET", "/v1/me/notifications"): "requester",
    ("PUT", "/v1/me/notifications"): "requester",
    ("GET", "/v1/notifications/unsubscribe"): "public",  # the signed token in the link is the credential
    ("POST", "/v1/notifications/unsubscribe"): "public",
    ("GET", "/v1/auth/methods"): "public",
    ("GET", "/v1/auth/sso/login"): "public",
    ("GET", "/v1/auth/sso/callback"): "public",  # the provider's signed ID token is the credential
}

# Placeholder path parameters: well-formed, but naming nothing.
PLACEHOLDERS = {
    "key_id": "0" * 32,
    "conversation_id": "0" * 32,
    "number": "INC9999999",
    "approval_id": "000000000000",
    "name": "no-such-runbook.md",
    "channel": "slack",
    "external_id": "U0NOBODY",
    "job_id": "0" * 32,
}

# A well-formed request for each route, so that a refusal is about who calls, not what is sent.
SAMPLE: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/auth/login"): {"json": {"email": RUBY, "password": "not-the-password"}},
    ("POST", "/v1/admin/api-keys"): {"json": {"name": "authz-probe", "role": "agent"}},
    ("POST", "/v1/conversations"): {"json": {}},
    ("GET", "/v1/conversations"): {"params": {"limit": 5}},
    ("POST", "/v1/conversations/{conversation_id}/messages"): {"json": {"text": "hello"}},
    ("POST", "/v1/ask"): {"json": {"text": "My headset has no sound in Teams"}},
    ("GET", "/v1/tickets"): {"params": {"limit": 5}},
    ("POST", "/v1/tickets/{number}/comments"): {"json": {"body": "any news?"}},
    ("POST", "/v1/tickets/{number}/close"): {"json": {"note": "works again"}},
    ("POST", "/v1/tickets/{number}/escalate"): {"json": {"summary": "still broken"}},
    ("POST", "/v1/tickets/{number}/merge"): {"json": {"into": "INC9999998"}},
    ("POST", "/v1/tickets/{number}/assign"): {"json": {"assignee": None}},
    ("POST", "/v1/me/links"): {"json": {"code": "ABCD-EFGH"}},
    ("GET", "/v1/events"): {"params": {"max_s": 0.2}},
    ("PUT", "/v1/me/notifications"): {"json": {"reply": True}},
    ("POST", "/v1/approvals/{approval_id}/approve"): {"json": {"reason": "ok"}},
    ("POST", "/v1/approvals/{approval_id}/deny"): {"json": {"reason": "no"}},
    ("GET", "/v1/knowledge/search"): {"params": {"q": "vpn keeps dropping", "k": 2}},
    ("GET", "/v1/kb/search"): {"params": {"q": "vpn keeps dropping", "k": 2}},
    ("POST", "/v1/knowledge/documents"): {
        "files": {"file": ("authz-probe.md", b"# Probe\n\n## Steps\n\nRestart the printer spooler.\n", "text/markdown")}
    },
}

VPN = "My VPN keeps disconnecting every few minutes"
LAPTOP = "My laptop won't turn on"  # searches the runbooks, then hands over to a person: tool calls
# Tool-calling requests of different intents: reports of one intent from one site cluster into a major
# incident after a few, and later reporters are then only linked to it (no tools run for them).
MAILBOX = "My mailbox is full"
WIFI = "I can't connect to the office wifi"
EXCEL = "Excel crashes when I open a file"
MONITOR = "My monitor flickers"  # opens a ticket of the requester's own
LOST_PHONE = "I lost my work iPhone on the train home last night"


@dataclass
class Desk:
    """The app under test and a way to call it as anyone."""

    client: TestClient
    app: FastAPI
    accounts: dict[str, tuple[str, str]]
    sessions: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def credentials(self, who: str, *, csrf: bool = True) -> dict[str, str]:
        if who == "anonymous":
            return {}
        if who in self.keys:
            return {"Authorization": f"Bearer {self.keys[who]}"}
        headers = {"Cookie": f"firstline_session={self.sessions[who]}"}
        return {**headers, **CSRF} if csrf else headers

    def call(
        self, who: str, method: str, path: str, *, csrf: bool = True, headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        try:
            return self.client.request(
                method, path, headers={**self.credentials(who, csrf=csrf), **(headers or {})}, **kw
            )
        finally:
            self.client.cookies.clear()  # identities travel in headers only

    def login(self, who: str) -> str:
        email, password = self.accounts[who]
        response = self.call("anonymous", "POST", "/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        token = response.cookies.get("firstline_session")
        assert token
        return token

    def ok(self, who: str, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        response = self.call(who, method, path, **kw)
        assert response.status_code == status, f"{method} {path} as {who}: {response.status_code} {response.text}"
        return response.json() if response.content else None


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, _session_cache: Path) -> Iterator[Desk]:
    with clean_environment(_session_cache):
        settings = load_settings(data_dir=Path(tmp_path_factory.mktemp("authz-data")), service=UNLIMITED)
        accounts = seed_accounts(settings)
        app = create_app(settings)
        with TestClient(app) as client:
            desk = Desk(client, app, accounts)
            desk.sessions = {who: desk.login(who) for who in accounts}
            for name, body in {
                "requester2-key": {"name": "teams-bot", "role": "requester", "subject": MARCUS},
                "agent-key": {"name": "monitoring", "role": "agent"},
                "admin-key": {"name": "provisioning", "role": "admin"},
            }.items():
                desk.keys[name] = desk.ok("admin", "POST", "/v1/admin/api-keys", 201, json=body)["key"]
            yield desk


def _conversation(desk: Desk, who: str, text: str) -> tuple[str, dict[str, Any]]:
    cid = desk.ok(who, "POST", "/v1/conversations", 201, json={})["conversation_id"]
    reply = desk.ok(who, "POST", f"/v1/conversations/{cid}/messages", json={"text": text})
    return cid, reply


@dataclass(frozen=True)
class Thread:
    conversation_id: str
    ticket: str
    reply: dict[str, Any]


@pytest.fixture(scope="module")
def marcus_vpn(desk: Desk) -> Thread:
    """requester2's conversation about the VPN, which opened a ticket."""
    cid, reply = _conversation(desk, "requester2", VPN)
    assert reply["ticket"] and reply["ticket"]["number"].startswith("INC")
    return Thread(cid, reply["ticket"]["number"], reply)


@pytest.fixture(scope="module")
def marcus_lost_phone(desk: Desk) -> Thread:
    """requester2 reports a lost phone and proves who they are: the remote lock waits for an approval."""
    cid, first = _conversation(desk, "requester2", LOST_PHONE)
    codes = desk.ok("requester2", "GET", "/v1/demo/outbox")["messages"]
    assert codes, first
    reply = desk.ok("requester2", "POST", f"/v1/conversations/{cid}/messages", json={"text": codes[-1]["code"]})
    assert reply["status"] in ("paused", "waiting") and reply["approval"]["status"] == "pending", reply
    return Thread(cid, reply["ticket"]["number"], reply)


def _fill(path: str, **real: str) -> str:
    plain = re.sub(r"\{(\w+):\w+\}", r"{\1}", path)  # "{external_id:path}" -> "{external_id}"
    return plain.format(**{**PLACEHOLDERS, **real})


def _route_id(route: tuple[str, str]) -> str:
    return f"{route[0]} {route[1]}"


def _app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves under /v1, included routers flattened (FastAPI >= 0.16x wraps them)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = flatten(app.routes) if flatten else app.routes
    found = {
        (method, str(route.path))
        for route in routes
        if str(getattr(route, "path", "")).startswith("/v1/")
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    assert found, "no /v1 routes found: has FastAPI changed how routers are included?"
    return found


# -- the route table is complete ------------------------------------------------------------------------


def test_every_v1_route_has_a_role_in_the_table(desk: Desk) -> None:
    assert _app_routes(desk.app) == set(ROUTES), "add new /v1 routes to ROUTES with the role they need"


def test_every_documented_operation_is_a_known_route(desk: Desk) -> None:
    spec = desk.call("anonymous", "GET", "/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() if p.startswith("/v1/") for m in ops}
    assert documented and documented <= set(ROUTES)


# -- no identity --------------------------------------------------------------------------------------


def test_anonymous_gets_401_on_every_v1_route_of_the_app(desk: Desk) -> None:
    """Iterates over the live app's routes, so a route added without a role check is caught here."""
    answers = {}
    public = {route for route, role in ROUTES.items() if role == "public"}
    for method, path in sorted(_app_routes(desk.app)):
        if (method, path) in public:
            continue
        answers[(method, path)] = desk.call("anonymous", method, _fill(path)).status_code
    assert len(answers) >= len(ROUTES) - len(public)
    assert {route: status for route, status in answers.items() if status != 401} == {}


def test_the_vendor_webhook_takes_nothing_without_a_vendor(desk: Desk) -> None:
    """No sign-in on the webhook (the connector checks the vendor's signature); with tickets kept in Firstline
    there is no vendor, so any call is a 404 and changes nothing."""
    answer = desk.call("anonymous", "POST", "/v1/webhooks/tickets", json={"number": "INC0000001"})
    assert answer.status_code == 404 and "sql" in answer.json()["detail"]


@pytest.mark.parametrize("route", [r for r, role in ROUTES.items() if role != "public"], ids=_route_id)
def test_anonymous_is_unauthenticated(desk: Desk, route: tuple[str, str]) -> None:
    method, path = route
    response = desk.call("anonymous", method, _fill(path), **SAMPLE.get(route, {}))
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "Unauthenticated" and body["detail"]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/health", "application/json"),
        ("/ready", "application/json"),
        ("/metrics", "text/plain"),
        ("/", "text/html"),
        ("/login", "text/html"),
        ("/console", "text/html"),
        ("/static/style.css", "text/css"),
        ("/openapi.json", "application/json"),
    ],
)
def test_public_pages_need_no_identity(desk: Desk, path: str, kind: str) -> None:
    response = desk.call("anonymous", "GET", path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(kind)


def test_runbook_pages_need_a_sign_in_and_it_runbooks_the_it_team(desk: Desk) -> None:
    hits = desk.ok("requester", "GET", "/v1/knowledge/search", params={"q": "vpn keeps dropping", "k": 1})["hits"]
    path = hits[0]["href"].split("#")[0]
    anonymous = desk.call("anonymous", "GET", path, follow_redirects=False)
    assert anonymous.status_code == 307 and anonymous.headers["location"].startswith("/login?next=%2Fkb%2F")
    page = desk.call("requester", "GET", path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert hits[0]["citation"]["title"] in page.text
    query = {"q": "priority and escalation matrix for the service desk", "k": 10}
    staff = desk.ok("agent", "GET", "/v1/knowledge/search", params=query)["hits"]
    internal = [h for h in staff if h["audience"] == "it-staff"]
    assert internal, "the matrix is an IT-staff runbook"
    mine = desk.ok("requester", "GET", "/v1/knowledge/search", params=query)["hits"]
    assert mine and all(h["audience"] != "it-staff" for h in mine)
    internal_path = internal[0]["href"].split("#")[0]
    assert desk.call("requester", "GET", internal_path).status_code == 404
    assert desk.call("agent", "GET", internal_path).status_code == 200


@pytest.mark.parametrize("email", [RUBY, "nobody@nwmeridian.co.uk"])
def test_a_wrong_password_and_an_unknown_account_answer_alike(desk: Desk, email: str) -> None:
    response = desk.call("anonymous", "POST", "/v1/auth/login", json={"email": email, "password": "wrong-password-1"})
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthenticated", "detail": "Wrong e-mail address or password."}
    assert "firstline_session" not in response.cookies


def test_login_sets_a_strict_http_only_cookie(desk: Desk) -> None:
    email, password = desk.accounts["requester3"]
    response = desk.call("anonymous", "POST", "/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200 and response.json()["user"] == {"email": BEN, "name": "Ben Carter",
                                                                          "role": "requester"}  # fmt: skip
    cookie = response.headers["set-cookie"].lower()
    assert "firstline_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie


@pytest.mark.parametrize(
    "headers",
    [
        {"Cookie": "firstline_session=not-a-session"},
        {"Authorization": "Bearer fl_not-a-key"},
        {"Authorization": "Bearer not-even-a-firstline-key"},
        {"X-API-Key": "fl_not-a-key"},
    ],
    ids=["unknown-session", "unknown-key", "foreign-key", "unknown-x-api-key"],
)
def test_a_made_up_credential_is_unauthenticated(desk: Desk, headers: dict[str, str]) -> None:
    assert desk.call("anonymous", "GET", "/v1/me", headers=headers).status_code == 401


def test_a_bad_api_key_is_not_rescued_by_a_good_session(desk: Desk) -> None:
    headers = {"Authorization": "Bearer fl_not-a-key"}
    assert desk.call("admin", "GET", "/v1/me", headers=headers).status_code == 401


# -- roles ----------------------------------------------------------------------------------------------


def _forbidden_cases() -> list[Any]:
    return [
        pytest.param(who, route, id=f"{who}-{_route_id(route)}")
        for who in ("requester", "requester2-key", "agent", "agent-key")
        for route, needed in ROUTES.items()
        if RANK[needed] > RANK[ROLE_OF[who]]
    ]


def _allowed_cases() -> list[Any]:
    return [
        pytest.param(who, route, id=f"{who}-{_route_id(route)}")
        for who in ("requester", "requester2-key", "agent", "agent-key", "admin", "admin-key")
        for route, needed in ROUTES.items()
        if needed != "public" and RANK[needed] <= RANK[ROLE_OF[who]]
    ]


@pytest.mark.parametrize(("who", "route"), _forbidden_cases())
def test_a_role_below_the_route_is_forbidden(desk: Desk, who: str, route: tuple[str, str]) -> None:
    method, path = route
    response = desk.call(who, method, _fill(path), **SAMPLE.get(route, {}))
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "Forbidden" and ROUTES[route] in response.json()["detail"]


@pytest.mark.parametrize(("who", "route"), _allowed_cases())
def test_a_role_at_or_above_the_route_is_let_through(desk: Desk, who: str, route: tuple[str, str]) -> None:
    method, path = route
    if route == ("POST", "/v1/auth/logout") and who in desk.sessions:
        desk.sessions = {**desk.sessions, "throwaway": desk.login(who)}  # keep the shared session alive
        who = "throwaway"
    response = desk.call(who, method, _fill(path), **SAMPLE.get(route, {}))
    refused_key = _refused_to_keys(route, who)
    if refused_key:  # not a role matter: a key that speaks for no one has no "my" anything
        assert response.status_code == 403 and refused_key in response.json()["detail"], response.text
        return
    # Placeholder ids may be unknown (404) but the caller got past the role check, and nothing broke.
    assert response.status_code not in (401, 403) and response.status_code < 500, response.text


def _refused_to_keys(route: tuple[str, str], who: str) -> str:
    """What a key is told on a person's own route: keys without a subject speak for no one, and only a
    signed-in person confirms a channel link code ("" when the route serves this caller)."""
    if not who.endswith("-key") or not route[1].startswith("/v1/me/"):
        return ""
    if route == ("POST", "/v1/me/links"):
        return "signed-in person"
    return "" if who == "requester2-key" else "speaks for no one"


def test_the_forbidden_matrix_covers_requesters_and_agents() -> None:
    ids = {p.id for p in _forbidden_cases()}
    assert "requester-GET /v1/analytics" in ids and "requester-POST /v1/knowledge/reingest" in ids
    assert "agent-GET /v1/admin/settings" in ids and "agent-POST /v1/knowledge/documents" in ids
    assert not any(i.startswith("agent-") and "/v1/analytics" in i for i in ids)


def test_internal_notes_are_for_the_it_team_only(desk: Desk, marcus_vpn: Thread) -> None:
    path = f"/v1/tickets/{marcus_vpn.ticket}/comments"
    refused = desk.call("requester2", "POST", path, json={"body": "note to self", "internal": True})
    assert refused.status_code == 403 and refused.json()["error"] == "Forbidden"
    history = desk.ok("agent", "GET", f"/v1/tickets/{marcus_vpn.ticket}")["history"]
    assert "note to self" not in json.dumps(history)


@pytest.mark.parametrize("who", ["agent", "agent-key", "admin"])
def test_the_it_team_reads_analytics_and_knowledge_stats(desk: Desk, who: str) -> None:
    assert {"window", "metrics", "definitions"} <= set(desk.ok(who, "GET", "/v1/analytics", params={"days": 7}))
    assert desk.ok(who, "GET", "/v1/knowledge/stats")["chunks"] > 0


# -- the session cookie needs X-Requested-With on state-changing requests --------------------------------

UNSAFE = [r for r, role in ROUTES.items() if r[0] not in ("GET", "HEAD") and role != "public"]


@pytest.mark.parametrize("route", UNSAFE, ids=_route_id)
def test_a_cookie_request_without_the_csrf_header_is_forbidden(desk: Desk, route: tuple[str, str]) -> None:
    method, path = route
    response = desk.call("admin", method, _fill(path), csrf=False, **SAMPLE.get(route, {}))
    assert response.status_code == 403, response.text
    assert "X-Requested-With" in response.json()["detail"]


@pytest.mark.parametrize("value", ["XMLHttpRequest", "Firstline", ""])
def test_only_the_exact_csrf_header_value_counts(desk: Desk, value: str) -> None:
    response = desk.call("requester", "POST", "/v1/conversations", csrf=False, json={},
                         headers={"X-Requested-With": value})  # fmt: skip
    assert response.status_code == 403


def test_a_refused_cookie_request_changes_nothing(desk: Desk) -> None:
    before = desk.ok("requester3", "GET", "/v1/conversations", params={"limit": 200})["conversations"]
    assert desk.call("requester3", "POST", "/v1/conversations", csrf=False, json={}).status_code == 403
    assert desk.call("requester3", "POST", "/v1/auth/logout", csrf=False).status_code == 403
    after = desk.ok("requester3", "GET", "/v1/conversations", params={"limit": 200})["conversations"]
    assert after == before  # no conversation was made, and the session still works


def test_safe_cookie_requests_need_no_csrf_header(desk: Desk) -> None:
    me = desk.call("requester", "GET", "/v1/me", csrf=False)
    assert me.status_code == 200 and me.json() == {"email": RUBY, "name": "Ruby Chen", "role": "requester",
                                                   "via": "session"}  # fmt: skip


def test_api_keys_need_no_csrf_header(desk: Desk) -> None:
    created = desk.call("requester2-key", "POST", "/v1/conversations", json={})
    assert created.status_code == 201 and created.json()["requester"] == MARCUS


# -- sessions and API keys ------------------------------------------------------------------------------


def test_logout_ends_the_session(desk: Desk) -> None:
    token = desk.login("requester3")
    desk.sessions = {**desk.sessions, "leaving": token}
    assert desk.ok("leaving", "GET", "/v1/me")["email"] == BEN
    response = desk.call("leaving", "POST", "/v1/auth/logout")
    assert response.status_code == 204
    assert (
        'firstline_session=""' in response.headers["set-cookie"]
        or "max-age=0" in response.headers["set-cookie"].lower()
    )
    assert desk.call("leaving", "GET", "/v1/me").status_code == 401
    assert desk.ok("requester3", "GET", "/v1/me")["email"] == BEN  # other sessions of the account live on


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("requester2-key", {"email": MARCUS, "role": "requester", "via": "api_key"}),
        ("agent-key", {"role": "agent", "via": "api_key"}),
        ("admin-key", {"role": "admin", "via": "api_key"}),
        ("agent2", {"email": "ravi.chandran@nwmeridian.co.uk", "role": "agent", "via": "session"}),
    ],
)
def test_me_says_who_is_calling(desk: Desk, who: str, expected: dict[str, str]) -> None:
    me = desk.ok(who, "GET", "/v1/me")
    assert {k: me[k] for k in expected} == expected


def test_x_api_key_header_works_like_bearer(desk: Desk) -> None:
    me = desk.call("anonymous", "GET", "/v1/me", headers={"X-API-Key": desk.keys["requester2-key"]})
    assert me.status_code == 200 and me.json()["email"] == MARCUS


def test_a_revoked_key_stops_working_at_once(desk: Desk) -> None:
    made = desk.ok("admin", "POST", "/v1/admin/api-keys", 201, json={"name": "short-lived", "role": "agent"})
    desk.keys = {**desk.keys, "short-lived": made["key"]}
    assert desk.ok("short-lived", "GET", "/v1/me")["role"] == "agent"
    revoked = desk.ok("admin-key", "DELETE", f"/v1/admin/api-keys/{made['id']}")
    assert revoked["revoked"] and revoked["id"] == made["id"]
    assert desk.call("short-lived", "GET", "/v1/me").status_code == 401
    assert desk.call("short-lived", "GET", "/v1/tickets").status_code == 401
    assert desk.call("admin", "DELETE", f"/v1/admin/api-keys/{made['id']}").status_code == 404


def test_a_remembered_key_is_checked_on_the_event_loop(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key this worker checked moments ago needs no database and no thread (security.auth_remember_s); revoked
    here, it is refused at once."""
    from firstline.service import auth

    checked: list[str] = []
    real = auth._checked
    monkeypatch.setattr(auth, "_checked", lambda request: checked.append(request.url.path) or real(request))
    made = desk.ok("admin", "POST", "/v1/admin/api-keys", 201, json={"name": "remembered", "role": "agent"})
    desk.keys = {**desk.keys, "remembered": made["key"]}
    checked.clear()
    for _ in range(4):
        assert desk.ok("remembered", "GET", "/v1/me")["role"] == "agent"
    assert checked == ["/v1/me"]  # looked up once
    desk.ok("admin-key", "DELETE", f"/v1/admin/api-keys/{made['id']}")
    assert desk.call("remembered", "GET", "/v1/me").status_code == 401


def test_key_listing_never_shows_a_key(desk: Desk) -> None:
    listing = desk.call("admin", "GET", "/v1/admin/api-keys")
    assert listing.status_code == 200 and len(listing.json()["keys"]) >= 3
    for key in desk.keys.values():
        assert key not in listing.text and key[3:] not in listing.text
    assert all("key" not in entry and "digest" not in entry for entry in listing.json()["keys"])


def test_a_requester_key_must_name_its_person(desk: Desk) -> None:
    response = desk.call("admin", "POST", "/v1/admin/api-keys", json={"name": "nobody-bot", "role": "requester"})
    assert response.status_code == 422


def test_a_requester_key_speaks_only_for_its_subject(desk: Desk, marcus_vpn: Thread) -> None:
    own = desk.ok("requester2-key", "GET", f"/v1/conversations/{marcus_vpn.conversation_id}")
    assert own["requester"] == MARCUS
    rubys, _ = _conversation(desk, "requester", "How do I connect to the office wifi?")
    assert desk.call("requester2-key", "GET", f"/v1/conversations/{rubys}").status_code == 404
    listed = desk.ok("requester2-key", "GET", "/v1/conversations", params={"limit": 200})["conversations"]
    assert listed and {c["requester"] for c in listed} == {MARCUS}
    tickets = desk.ok("requester2-key", "GET", "/v1/tickets", params={"limit": 200})["tickets"]
    assert tickets and {t["requester"] for t in tickets} == {MARCUS}
    for_ruby = desk.call("requester2-key", "POST", "/v1/conversations", json={"user": RUBY})
    assert for_ruby.status_code == 403


# -- someone else's conversation and ticket --------------------------------------------------------------


def _foreign_requests(thread: Thread) -> list[tuple[str, str, dict[str, Any]]]:
    cid, number = thread.conversation_id, thread.ticket
    return [
        ("GET", f"/v1/conversations/{cid}", {}),
        ("GET", f"/v1/conversations/{cid}", {"params": {"after": 0}}),
        ("POST", f"/v1/conversations/{cid}/messages", {"json": {"text": "I am Marcus, show me everything"}}),
        ("POST", f"/v1/conversations/{cid}/messages", {"json": {"text": "hi", "stream": True}}),
        ("POST", "/v1/ask", {"json": {"text": "what did Marcus say?", "conversation_id": cid}}),
        ("GET", f"/v1/tickets/{number}", {}),
        ("POST", f"/v1/tickets/{number}/comments", {"json": {"body": "hijacked comment"}}),
        ("POST", f"/v1/tickets/{number}/close", {"json": {"note": "hijacked close"}}),
        ("POST", f"/v1/tickets/{number}/escalate", {"json": {"summary": "hijacked escalation"}}),
    ]


FOREIGN_IDS = ["get-conversation", "get-conversation-after", "post-message", "post-message-stream",
               "ask-in-conversation", "get-ticket", "comment", "close", "escalate"]  # fmt: skip


@pytest.mark.parametrize("who", ["requester", "requester3"])
@pytest.mark.parametrize("index", range(len(FOREIGN_IDS)), ids=FOREIGN_IDS)
def test_someone_elses_conversation_and_ticket_are_not_found(
    desk: Desk, marcus_vpn: Thread, who: str, index: int
) -> None:
    method, path, kw = _foreign_requests(marcus_vpn)[index]
    response = desk.call(who, method, path, **kw)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "NotFound"
    assert MARCUS not in response.text and VPN not in response.text


@pytest.mark.parametrize("index", range(len(FOREIGN_IDS)), ids=FOREIGN_IDS)
def test_someone_elses_ids_answer_like_unknown_ids(desk: Desk, marcus_vpn: Thread, index: int) -> None:
    """The 404 does not confirm that the id exists: same status and error kind as for an id that doesn't."""
    unknown = Thread("f" * 32, "INC9999998", {})
    method, path, kw = _foreign_requests(marcus_vpn)[index]
    theirs = desk.call("requester", method, path, **kw)
    u_method, u_path, u_kw = _foreign_requests(unknown)[index]
    missing = desk.call("requester", u_method, u_path, **u_kw)
    assert (theirs.status_code, theirs.json()["error"]) == (missing.status_code, missing.json()["error"])
    assert theirs.json()["detail"].replace(marcus_vpn.conversation_id, "ID").replace(marcus_vpn.ticket, "NUM") == (
        missing.json()["detail"].replace(unknown.conversation_id, "ID").replace(unknown.ticket, "NUM")
    )


def test_refused_requests_leave_the_owners_data_alone(desk: Desk, marcus_vpn: Thread) -> None:
    for method, path, kw in _foreign_requests(marcus_vpn):
        assert desk.call("requester", method, path, **kw).status_code == 404
    ticket = desk.ok("agent", "GET", f"/v1/tickets/{marcus_vpn.ticket}")
    assert ticket["state"] not in ("resolved", "closed") and ticket["resolution_note"] == ""
    assert ticket["assignment_group"] == marcus_vpn.reply["ticket"]["assignment_group"]
    assert "hijacked" not in json.dumps(ticket["history"])
    events = desk.ok("agent", "GET", f"/v1/conversations/{marcus_vpn.conversation_id}")["events"]
    assert "show me everything" not in json.dumps(events) and "what did Marcus say" not in json.dumps(events)
    assert [e["data"].get("text") for e in events if e["kind"] == "user_message"] == [VPN]


def test_someone_elses_items_are_not_in_my_lists(desk: Desk, marcus_vpn: Thread, marcus_lost_phone: Thread) -> None:
    conversations = desk.ok("requester", "GET", "/v1/conversations", params={"limit": 200})["conversations"]
    assert {c["conversation_id"] for c in conversations}.isdisjoint(
        {marcus_vpn.conversation_id, marcus_lost_phone.conversation_id}
    )
    assert all(c["requester"] == RUBY for c in conversations)
    for params in ({"limit": 200}, {"q": marcus_vpn.ticket}, {"assignment_group": "Network"}):
        tickets = desk.ok("requester", "GET", "/v1/tickets", params=params)["tickets"]
        assert all(t["requester"] == RUBY for t in tickets), params
        assert marcus_vpn.ticket not in {t["number"] for t in tickets}
    for status in ("pending", "approved", "denied"):
        approvals = desk.ok("requester", "GET", "/v1/approvals", params={"status": status})["approvals"]
        assert all(a["requester"] == RUBY for a in approvals)
        assert marcus_lost_phone.reply["approval"]["id"] not in {a["id"] for a in approvals}


def test_the_owner_does_see_their_items_in_their_lists(
    desk: Desk, marcus_vpn: Thread, marcus_lost_phone: Thread
) -> None:
    """The counterpart of the test above, so its emptiness is not an accident."""
    conversations = desk.ok("requester2", "GET", "/v1/conversations", params={"limit": 200})["conversations"]
    assert {marcus_vpn.conversation_id, marcus_lost_phone.conversation_id} <= {
        c["conversation_id"] for c in conversations
    }
    tickets = desk.ok("requester2", "GET", "/v1/tickets", params={"limit": 200})["tickets"]
    assert marcus_vpn.ticket in {t["number"] for t in tickets}
    mine = {  # pending, or approved if the approval test ran first
        a["id"]
        for status in ("pending", "approved")
        for a in desk.ok("requester2", "GET", "/v1/approvals", params={"status": status})["approvals"]
    }
    assert marcus_lost_phone.reply["approval"]["id"] in mine


@pytest.mark.parametrize(
    ("method", "path", "kw"),
    [
        ("POST", "/v1/conversations", {"json": {"user": MARCUS}}),
        ("GET", "/v1/conversations", {"params": {"requester": MARCUS}}),
        ("GET", "/v1/tickets", {"params": {"requester": MARCUS}}),
        ("POST", "/v1/ask", {"json": {"text": "reset my password", "user": MARCUS}}),
    ],
    ids=["new-conversation", "list-conversations", "list-tickets", "ask"],
)
def test_a_requester_cannot_speak_for_someone_else(desk: Desk, method: str, path: str, kw: dict[str, Any]) -> None:
    response = desk.call("requester", method, path, **kw)
    assert response.status_code == 403 and response.json()["error"] == "Forbidden"


def test_a_requester_cannot_post_as_someone_else_in_their_own_conversation(desk: Desk) -> None:
    cid = desk.ok("requester3", "POST", "/v1/conversations", 201, json={})["conversation_id"]
    response = desk.call("requester3", "POST", f"/v1/conversations/{cid}/messages", json={"text": "hi", "user": RUBY})
    assert response.status_code == 403
    assert desk.ok("requester3", "GET", f"/v1/conversations/{cid}")["events"] == []


def test_naming_yourself_is_fine(desk: Desk) -> None:
    created = desk.ok("requester", "POST", "/v1/conversations", 201, json={"user": RUBY.upper()})
    assert created["requester"] == RUBY


def test_agents_may_speak_for_an_employee(desk: Desk) -> None:
    created = desk.ok("agent", "POST", "/v1/conversations", 201, json={"user": BEN})
    assert created["requester"] == BEN
    assert created["conversation_id"] in {
        c["conversation_id"] for c in desk.ok("requester3", "GET", "/v1/conversations", params={"limit": 200})[
            "conversations"]
    }  # fmt: skip


def test_a_requesters_outbox_holds_only_their_codes(desk: Desk, marcus_lost_phone: Thread) -> None:
    marcus = desk.ok("requester2", "GET", "/v1/demo/outbox")["messages"]
    others = desk.ok("requester3", "GET", "/v1/demo/outbox")["messages"]
    assert marcus and {m["code"] for m in marcus}.isdisjoint({m["code"] for m in others})


# -- what a requester sees of their own conversation -----------------------------------------------------


def test_a_requester_sees_only_their_kinds_of_events(desk: Desk, marcus_vpn: Thread) -> None:
    path = f"/v1/conversations/{marcus_vpn.conversation_id}"
    mine = {e["kind"] for e in desk.ok("requester2", "GET", path)["events"]}
    everything = {e["kind"] for e in desk.ok("agent", "GET", path)["events"]}
    assert mine and mine <= REQUESTER_EVENTS
    assert everything - REQUESTER_EVENTS, "the agent view should hold tool or model events for this to mean anything"
    assert mine == everything & REQUESTER_EVENTS


def test_a_requesters_reply_carries_no_tool_calls(desk: Desk) -> None:
    _, agents = _conversation(desk, "agent", MAILBOX)
    assert agents["actions"], "the agent view lists this turn's tool calls"
    cid = desk.ok("requester3", "POST", "/v1/conversations", 201, json={})["conversation_id"]
    reply = desk.ok("requester3", "POST", f"/v1/conversations/{cid}/messages", json={"text": MAILBOX})
    assert reply["actions"] == [] and reply["usage"] == {}
    asked = desk.ok("requester3", "POST", "/v1/ask", json={"text": MAILBOX})
    assert asked["actions"] == [] and asked["usage"] == {}


def _sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_a_requesters_stream_hides_tool_details(desk: Desk) -> None:
    cid = desk.ok("requester", "POST", "/v1/conversations", 201, json={})["conversation_id"]
    response = desk.call("requester", "POST", f"/v1/conversations/{cid}/messages", json={"text": WIFI, "stream": True})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = _sse(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and "tool" in kinds and "model_call" not in kinds
    for kind, data in events:
        if kind == "tool":
            assert set(data) <= {"agent", "phase", "tool", "ok", "call_id"}, data
    assert events[-1][1]["actions"] == []


def test_an_agents_stream_shows_tool_details(desk: Desk) -> None:
    """The counterpart of the test above: the fields hidden from requesters exist."""
    cid = desk.ok("agent", "POST", "/v1/conversations", 201, json={"user": MARCUS})["conversation_id"]
    response = desk.call("agent", "POST", f"/v1/conversations/{cid}/messages",
                         json={"text": EXCEL, "user": MARCUS, "stream": True})  # fmt: skip
    tools = [data for kind, data in _sse(response.text) if kind == "tool"]
    assert any("arguments" in t or "result" in t for t in tools)


# -- approvals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["approve", "deny"])
@pytest.mark.parametrize(
    ("who", "status"),
    [("requester2", 403), ("requester2-key", 403), ("requester", 404), ("requester3", 404)],
)
def test_requesters_cannot_decide_approvals(
    desk: Desk, marcus_lost_phone: Thread, action: str, who: str, status: int
) -> None:
    approval = marcus_lost_phone.reply["approval"]["id"]
    response = desk.call(who, "POST", f"/v1/approvals/{approval}/{action}", json={"reason": "let me"})
    assert response.status_code == status, response.text
    assert response.json()["error"] == {403: "Forbidden", 404: "NotFound"}[status]


def test_an_agent_decides_an_approval_once(desk: Desk, marcus_lost_phone: Thread) -> None:
    approval = marcus_lost_phone.reply["approval"]["id"]
    pending = desk.ok("agent", "GET", "/v1/approvals")["approvals"]
    assert approval in {a["id"] for a in pending}, "a refused decision must not decide it"
    assert {a["id"] for a in desk.ok("requester2", "GET", "/v1/approvals")["approvals"]} >= {approval}
    reply = desk.ok("agent", "POST", f"/v1/approvals/{approval}/approve", json={"reason": "phone reported lost"})
    assert reply["conversation_id"] == marcus_lost_phone.conversation_id
    assert reply["status"] == "done" and reply["reply"], reply
    decided = desk.ok("agent", "GET", "/v1/approvals", params={"status": "approved"})["approvals"]
    assert [(a["decided_by"], a["reason"]) for a in decided if a["id"] == approval] == [
        ("sarah.lindqvist@nwmeridian.co.uk", "phone reported lost")
    ]
    for who, action in [("agent2", "approve"), ("agent", "deny"), ("admin", "approve"), ("agent-key", "deny")]:
        again = desk.call(who, "POST", f"/v1/approvals/{approval}/{action}", json={"reason": "twice"})
        assert again.status_code == 409 and again.json()["error"] == "Conflict", (who, action, again.text)
    kinds = [e["kind"] for e in desk.ok("requester2", "GET", f"/v1/conversations/{marcus_lost_phone.conversation_id}")[
        "events"]]  # fmt: skip
    assert "approval_decided" in kinds and set(kinds) <= REQUESTER_EVENTS


def test_deciding_an_unknown_approval_is_not_found(desk: Desk) -> None:
    response = desk.call("agent", "POST", "/v1/approvals/000000000000/approve", json={})
    assert response.status_code == 404


# -- tickets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["agent", "agent2", "agent-key", "admin"])
def test_the_it_team_sees_everyones_tickets(desk: Desk, marcus_vpn: Thread, who: str) -> None:
    queue = desk.ok(who, "GET", "/v1/tickets", params={"limit": 200})["tickets"]
    assert marcus_vpn.ticket in {t["number"] for t in queue}
    assert len({t["requester"] for t in queue}) >= 2
    marcus_only = desk.ok(who, "GET", "/v1/tickets", params={"requester": MARCUS, "limit": 200})["tickets"]
    assert marcus_only and {t["requester"] for t in marcus_only} == {MARCUS}
    ticket = desk.ok(who, "GET", f"/v1/tickets/{marcus_vpn.ticket}")
    assert ticket["requester"] == MARCUS and ticket["conversation_id"] == marcus_vpn.conversation_id
    conversation = desk.ok(who, "GET", f"/v1/conversations/{marcus_vpn.conversation_id}")
    assert conversation["requester"] == MARCUS


def test_internal_work_notes_are_hidden_from_the_requester(desk: Desk, marcus_vpn: Thread) -> None:
    path = f"/v1/tickets/{marcus_vpn.ticket}"
    note = desk.ok(
        "agent", "POST", f"{path}/comments", 201, json={"body": "Gateway NW-GW-LDS flapping", "internal": True}
    )
    assert note["public"] is False
    public = desk.ok("requester2", "POST", f"{path}/comments", 201, json={"body": "Still dropping at 3pm"})
    assert public["public"] is True and public["author"] == MARCUS
    agents = json.dumps(desk.ok("agent", "GET", path)["history"])
    assert "Gateway NW-GW-LDS flapping" in agents and "Still dropping at 3pm" in agents
    requesters = desk.ok("requester2", "GET", path)
    assert "Gateway NW-GW-LDS flapping" not in json.dumps(requesters)
    assert "Still dropping at 3pm" in json.dumps(requesters["history"])
    assert all(entry["public"] for entry in requesters["history"])
    assert requesters["conversation_id"] == marcus_vpn.conversation_id
    conversation = desk.ok("requester2", "GET", f"/v1/conversations/{marcus_vpn.conversation_id}")
    assert "Gateway NW-GW-LDS flapping" not in json.dumps(conversation)


def test_a_requester_escalates_and_closes_their_own_ticket(desk: Desk) -> None:
    _, reply = _conversation(desk, "requester3", MONITOR)
    number = reply["ticket"]["number"]
    team = desk.ok("requester3", "GET", f"/v1/tickets/{number}")["assignment_group"]
    escalated = desk.ok("requester3", "POST", f"/v1/tickets/{number}/escalate",
                        json={"group": "Security Operations", "summary": "Happens on every train"})  # fmt: skip
    assert escalated["assignment_group"] == team != "Security Operations"  # requesters cannot pick the group
    closed = desk.ok("requester3", "POST", f"/v1/tickets/{number}/close", json={"note": "Fixed after a restart"})
    assert closed["state"] == "closed" and closed["resolution_note"] == "Fixed after a restart"
    again = desk.call("requester3", "POST", f"/v1/tickets/{number}/close", json={"note": "again"})
    assert again.status_code == 409


def test_an_agent_escalates_to_the_group_they_choose(desk: Desk) -> None:
    _, reply = _conversation(desk, "requester3", MONITOR)
    number = reply["ticket"]["number"]
    escalated = desk.ok("agent", "POST", f"/v1/tickets/{number}/escalate",
                        json={"group": "Network Operations", "summary": "Gateway issue"})  # fmt: skip
    assert escalated["assignment_group"] == "Network Operations" and escalated["requester"] == BEN


def test_a_reporter_linked_to_a_known_incident_can_open_their_conversations_ticket(desk: Desk) -> None:
    # ben.carter works at the site of the demo organisation's ongoing VPN incident: his report is linked to it.
    cid, reply = _conversation(desk, "requester3", VPN)
    conversation = desk.ok("requester3", "GET", f"/v1/conversations/{cid}")
    number = conversation["ticket_number"]
    assert number and conversation["ticket"]["number"] == number == reply["ticket"]["number"]
    incident = desk.ok("requester3", "GET", f"/v1/tickets/{number}")
    assert incident["number"] == number and incident["description"] == "" and incident["requester"] == ""
    assert all(entry["public"] for entry in incident["history"])  # they follow it; the text naming others is hidden
    refused = desk.call("requester3", "POST", f"/v1/tickets/{number}/close", json={"note": "works for me"})
    assert refused.status_code == 403 and "major incident" in refused.json()["detail"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_an_agent_continues_an_employees_conversation_without_naming_them(desk: Desk, stream: bool) -> None:
    cid = desk.ok("agent", "POST", "/v1/conversations", 201, json={"user": BEN})["conversation_id"]
    response = desk.call("agent", "POST", f"/v1/conversations/{cid}/messages", json={"text": LAPTOP, "stream": stream})
    assert response.status_code == 200
    if stream:
        assert _sse(response.text)[-1][0] == "done"
