"""The ConnectWise PSA connector against FakeConnectWise: the shared contract, then what is ConnectWise's own."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from firstline.errors import (
    AuthenticationError,
    BackendResponseError,
    ConfigError,
    InputError,
    PermissionDeniedError,
    TicketNotFoundError,
)
from firstline.testing.connectors import ConnectorContract, VendorFake, firstline_ticket
from firstline.testing.connectwise_fake import API_PATH, FakeConnectWise
from firstline.testing.loopback import Request
from firstline.ticketing import Impact, TicketState, Urgency
from firstline.ticketing.connectors.connectwise import ConnectWiseConnector, ConnectWiseOptions
from firstline.ticketing.remote import FieldMap, RemoteChange, RemoteRef, TicketConnector

S = TicketState
FIELDS = FieldMap(
    groups={"Service Desk": "Service Desk", "Network Operations": "Network Ops"}, categories={"network": "Network"}
)


def options(fake: FakeConnectWise, **overrides: Any) -> ConnectWiseOptions:
    values: dict[str, Any] = {
        "url": fake.url,
        "company": fake.company,
        "public_key": fake.public_key,
        "private_key": fake.private_key,
        "client_id": fake.client_id,
        "board": fake.board,
        "company_identifier": fake.customer,
        "member": fake.member,
        "fields": FIELDS,
    }
    return ConnectWiseOptions(**(values | overrides))


class TestConnectWiseContract(ConnectorContract):
    missing_number = "9999404"

    @pytest.fixture
    def vendor(self) -> Iterator[VendorFake]:
        with FakeConnectWise() as fake:
            yield fake

    def connect(self, vendor: VendorFake, *, good_credentials: bool = True) -> TicketConnector:
        assert isinstance(vendor, FakeConnectWise)
        key = vendor.private_key if good_credentials else "not-the-private-key"
        return ConnectWiseConnector(options(vendor, private_key=key), sleep=lambda _: None)


# -- ConnectWise specifics -------------------------------------------------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeConnectWise]:
    with FakeConnectWise() as server:
        yield server
        assert server.violations == []


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def cw(fake: FakeConnectWise, sleeps: list[float]) -> Iterator[ConnectWiseConnector]:
    connector = ConnectWiseConnector(options(fake), sleep=sleeps.append)
    yield connector
    connector.close()


def sent(fake: FakeConnectWise, method: str, path: str = "") -> list[Request]:
    """The requests the fake saw with ``method`` whose path (without the query) ends with ``path``."""
    return [r for r in fake.seen if r.method == method and urlsplit(r.path).path.endswith(path)]


def query(request: Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}


def raw(fake: FakeConnectWise, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
    """A request to the fake as some other integration would send it."""
    token = base64.b64encode(f"{fake.company}+{fake.public_key}:{fake.private_key}".encode()).decode()
    sent_headers = {"Authorization": f"Basic {token}", "clientId": fake.client_id} | headers
    return httpx.request(method, f"{fake.url}{API_PATH}{path}", json=body, headers=sent_headers)


def test_every_request_carries_basic_auth_the_client_id_and_the_api_version(
    cw: ConnectWiseConnector, fake: FakeConnectWise
) -> None:
    cw.create(firstline_ticket())
    assert fake.seen and all(r.path.startswith(API_PATH + "/") for r in fake.seen)
    for request in fake.seen:
        scheme, _, token = request.headers["authorization"].partition(" ")
        assert (
            scheme == "Basic"
            and base64.b64decode(token).decode() == f"{fake.company}+{fake.public_key}:{fake.private_key}"
        )
        assert request.headers["clientid"] == fake.client_id
        assert request.headers["accept"] == "application/vnd.connectwise.com+json; version=2025.1"


def test_create_looks_up_the_number_then_posts_the_documented_fields(
    cw: ConnectWiseConnector, fake: FakeConnectWise
) -> None:
    ticket = firstline_ticket()
    remote = cw.create(ticket)
    lookup, post = fake.seen[0], sent(fake, "POST", "/service/tickets")[0]
    assert lookup.method == "GET" and query(lookup)["conditions"] == f'externalXRef="{ticket.number}"'
    assert post.json() == {
        "summary": ticket.short_description,
        "initialDescription": ticket.description,
        "board": {"name": "Help Desk"},
        "company": {"identifier": "Fabrikam"},
        "status": {"name": "New"},
        "priority": {"name": "Priority 2 - Quick Response"},
        "impact": "Medium",
        "severity": "High",
        "contactEmailAddress": "helena.marsh@example.com",
        "externalXRef": ticket.number,
        "team": {"name": "Service Desk"},
        "type": {"name": "Network"},
    }
    assert (remote.ref.key, remote.ref.number, remote.assignment_group) == ("48210", "48210", "Service Desk")
    assert remote.ref.url.endswith("fv_sr100_request.rails?service_recid=48210&companyName=firstlinemsp")


def test_a_long_summary_is_cut_at_a_word_and_kept_whole_in_the_description(cw: ConnectWiseConnector) -> None:
    long = "Outlook keeps asking for the password " * 3 + "after the mailbox moved to the new tenant"
    remote = cw.create(firstline_ticket(short_description=long.strip()))
    assert len(remote.short_description) <= 100 and remote.short_description.endswith("…")
    assert remote.short_description.removesuffix("…") in long and long.strip() in remote.description


def test_a_lost_answer_is_not_posted_twice(cw: ConnectWiseConnector, fake: FakeConnectWise) -> None:
    ticket = firstline_ticket()
    fake.lose_next_answer()  # the POST is carried out, its answer is a 503
    created = cw.create(ticket)
    assert created.firstline_number == ticket.number and fake.count() == 1
    assert len(sent(fake, "POST", "/service/tickets")) == 1  # found by externalXRef, not posted again
    assert cw.create(ticket).ref == created.ref and fake.count() == 1
    fake.lose_next_answer()
    note = cw.comment(created.ref, "Please reboot once more.", public=True)
    assert len(sent(fake, "POST", "/notes")) == 1 and note.ours and note.body == "Please reboot once more."


def test_updates_are_json_patch_and_a_reached_status_is_not_sent_again(
    cw: ConnectWiseConnector, fake: FakeConnectWise
) -> None:
    ref = cw.create(firstline_ticket()).ref
    cw.update(ref, RemoteChange(state=S.IN_PROGRESS))
    cw.update(ref, RemoteChange(state=S.IN_PROGRESS))
    patches = [r.json() for r in sent(fake, "PATCH")]
    assert patches == [[{"op": "replace", "path": "status", "value": {"name": "In Progress"}}]]
    changed = cw.update(ref, RemoteChange(impact=Impact.LOW, urgency=Urgency.LOW, assigned_to="ada.okafor@example.com"))
    assert sent(fake, "PATCH")[-1].json() == [
        {"op": "replace", "path": "impact", "value": "Low"},
        {"op": "replace", "path": "severity", "value": "Low"},
        {"op": "replace", "path": "priority", "value": {"name": "Priority 5 - Next Time"}},
        {"op": "replace", "path": "owner", "value": {"identifier": "AOkafor"}},
    ]
    assert (changed.priority, changed.assigned_to) == (5, "AOkafor")
    cw.update(ref, RemoteChange(assignment_group="", assigned_to=""))
    assert sent(fake, "PATCH")[-1].json() == [{"op": "remove", "path": "team"}, {"op": "remove", "path": "owner"}]
    with pytest.raises(InputError, match=r"nobody@example\.com"):
        cw.update(ref, RemoteChange(assigned_to="nobody@example.com"))


def test_notes_carry_the_discussion_internal_and_resolution_flags(
    cw: ConnectWiseConnector, fake: FakeConnectWise
) -> None:
    ref = cw.create(firstline_ticket()).ref
    cw.comment(ref, "Try the new client.", public=True)
    cw.comment(ref, "Known bug in 4.2.", public=False)
    done = cw.update(ref, RemoteChange(state=S.RESOLVED, resolution_note="Rolled back to 4.1"))
    bodies = [r.json() for r in sent(fake, "POST", "/notes")]
    assert bodies == [
        {"text": "Try the new client.", "detailDescriptionFlag": True, "internalAnalysisFlag": False},
        {"text": "Known bug in 4.2.", "detailDescriptionFlag": False, "internalAnalysisFlag": True},
        {"text": "Rolled back to 4.1", "detailDescriptionFlag": False, "internalAnalysisFlag": False,
         "resolutionFlag": True},
    ]  # fmt: skip
    assert done.resolution_note == "Rolled back to 4.1" and done.state is S.RESOLVED
    cw.update(ref, RemoteChange(state=S.RESOLVED, resolution_note="Rolled back to 4.1"))  # a retry: no second note
    assert len(sent(fake, "POST", "/notes")) == 3
    for i in range(4):  # more notes than one page holds
        fake.staff_comment(ref.number, f"staff note {i}", public=i % 2 == 0)
    seen = cw.comments(ref)
    assert [c.body for c in seen] == ["Try the new client.", "Known bug in 4.2."] + [
        f"staff note {i}" for i in range(4)
    ]
    assert [c.ours for c in seen] == [True, True, False, False, False, False]
    assert [c.public for c in seen] == [True, False, True, False, True, False]
    assert {c.author for c in seen} == {"firstline", "TNowicki"}


def test_changed_since_queries_conditions_and_follows_three_and_more_pages(
    cw: ConnectWiseConnector, fake: FakeConnectWise
) -> None:
    before = (datetime.now(UTC) - timedelta(seconds=2)).replace(microsecond=0)
    numbers = [cw.create(firstline_ticket(short_description=f"issue {i}")).ref.number for i in range(10)]
    other = raw(fake, "POST", "/service/tickets", {"summary": "not ours", "company": {"identifier": "Contoso"}})
    assert other.status_code == 201
    fake.seen.clear()
    changed = cw.changed_since(before)
    assert [t.ref.number for t in changed] == numbers  # oldest change first; Contoso's ticket left out
    pages = [query(r) for r in sent(fake, "GET", "/service/tickets")]
    assert [p["page"] for p in pages] == ["1", "2", "3", "4"]
    assert pages[0]["conditions"] == (
        f'lastUpdated > [{before.strftime("%Y-%m-%dT%H:%M:%SZ")}] and company/identifier="Fabrikam"'
    )
    assert pages[0]["orderBy"] == "_info/lastUpdated asc"
    assert [t.ref.number for t in cw.changed_since(before, limit=5)] == numbers[:5]
    cw.changed_since(before + timedelta(milliseconds=500), limit=1)  # within a second: that second counts
    assert query(sent(fake, "GET", "/service/tickets")[-1])["conditions"].startswith(
        f"lastUpdated >= [{before:%Y-%m-%dT%H:%M:%SZ}]"
    )
    assert cw.changed_since(datetime.now(UTC) + timedelta(minutes=1)) == []
    answer = raw(fake, "GET", "/service/tickets?page=2&pageSize=3")
    assert 'rel="next"' in answer.headers["link"] and 'rel="prev"' in answer.headers["link"]


def test_statuses_map_both_ways_and_an_unmapped_one_names_the_setting(fake: FakeConnectWise) -> None:
    mapped = FieldMap(groups=FIELDS.groups, categories=FIELDS.categories, states={"on_hold": "Scheduled"})
    connector = ConnectWiseConnector(options(fake, fields=mapped))
    ref = connector.create(firstline_ticket()).ref
    assert connector.update(ref, RemoteChange(state=S.ON_HOLD)).state is S.ON_HOLD
    assert fake.ticket(ref.number)["status"]["name"] == "Scheduled"
    fake.staff_change(ref.number, state=S.ON_HOLD)  # staff pick "Waiting Customer", which nothing maps now
    with pytest.raises(ConfigError, match=r"'Waiting Customer'.*\[ticketing\.connectwise\.map\.states\]"):
        connector.get(ref.number)
    broken = ConnectWiseConnector(options(fake, fields=FieldMap(states={"in_progress": "Working On It"})))
    with pytest.raises(InputError, match="status"):
        broken.update(ref, RemoteChange(state=S.IN_PROGRESS))
    connector.close()
    broken.close()


def test_vendor_error_bodies_become_firstline_errors(cw: ConnectWiseConnector, fake: FakeConnectWise) -> None:
    unknown_type = ConnectWiseConnector(options(fake, fields=FieldMap(categories={"network": "Telepathy"})))
    with pytest.raises(InputError, match=r"HTTP 400.*ticket object is invalid; type .*Telepathy.* was not found"):
        unknown_type.create(firstline_ticket())
    unknown_type.close()
    with pytest.raises(TicketNotFoundError):
        cw.get("9999404")
    with pytest.raises(TicketNotFoundError):
        cw.get("HELP-1")
    fake.fail_next(403)
    with pytest.raises(PermissionDeniedError, match="Service Tickets"):
        cw.get("48210")
    wrong = ConnectWiseConnector(options(fake, public_key="someone-elses"))
    with pytest.raises(AuthenticationError, match="FIRSTLINE_TICKETING__CONNECTWISE__PUBLIC_KEY"):
        wrong.find("FL1")
    wrong.close()


def test_retry_after_on_429_is_honoured(cw: ConnectWiseConnector, fake: FakeConnectWise, sleeps: list[float]) -> None:
    number = cw.create(firstline_ticket()).ref.number
    fake.fail_next(429, times=2, retry_after=1.5)
    assert cw.get(number).ref.number == number
    assert sleeps == [1.5, 1.5]
    fake.fail_next(429, times=1, retry_after=0.25)
    cw.comment(RemoteRef("connectwise", number, number), "one note", public=True)  # a POST waits too
    assert sleeps[-1] == 0.25 and [n["text"] for n in fake.notes(number)].count("one note") == 1


def test_the_fake_refuses_what_connectwise_refuses(fake: FakeConnectWise) -> None:
    assert raw(fake, "GET", "/service/tickets", clientId="").status_code == 400
    move = [{"op": "move", "from": "summary", "path": "summary"}]
    created = raw(fake, "POST", "/service/tickets", {"summary": "x", "company": {"identifier": "Fabrikam"}})
    assert raw(fake, "PATCH", f"/service/tickets/{created.json()['id']}", move).status_code == 422
    assert raw(fake, "GET", "/service/tickets?conditions=lastUpdated > 2026-01-01").status_code == 422
    unknown_field = {"summary": "x", "company": {"id": 250}, "body": "?"}
    assert raw(fake, "POST", "/service/tickets", unknown_field).status_code == 422
    assert len(fake.violations) == 4 and "clientId" in fake.violations[0] and "move" in fake.violations[1]
    fake.violations.clear()
    refused = raw(fake, "POST", "/service/tickets", {"summary": "x" * 101, "company": {"identifier": "Fabrikam"}})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "summary"
    stranger = raw(fake, "GET", "/service/tickets", Authorization="Basic " + base64.b64encode(b"a+b:c").decode())
    assert stranger.status_code == 401 and stranger.json()["code"] == "Unauthorized"


def test_unknown_fields_are_ignored_and_missing_required_ones_named() -> None:
    ticket: dict[str, Any] = {
        "id": 7, "summary": "VPN drops", "status": {"id": 12, "name": "In Progress", "sort": 1, "color": "teal"},
        "impact": "High", "severity": "Low", "priority": {"name": "Priority 3 - Normal Response", "level": "Medium"},
        "team": {"id": 22, "name": "Network Ops", "_info": {"team_href": "..."}}, "externalXRef": "FL1",
        "quantumFlux": {"level": 11}, "_info": {"lastUpdated": "2026-12-05T08:00:00Z", "brandNew": True},
    }  # fmt: skip
    note = {
        "id": 1,
        "text": "It drops.",
        "detailDescriptionFlag": True,
        "dateCreated": "2026-12-05T08:00:00Z",
        "mood": 1,
    }

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[note] if request.url.path.endswith("/notes") else ticket)

    settings = ConnectWiseOptions(
        url="https://api-na.myconnectwise.net", company="acme", public_key="pub", private_key="priv",
        client_id="c1d2", board="Help Desk", company_identifier="Fabrikam", fields=FIELDS,
    )  # fmt: skip
    connector = ConnectWiseConnector(settings, transport=httpx.MockTransport(answer))
    remote = connector.get("7")
    assert (remote.state, remote.impact, remote.urgency, remote.priority) == (S.IN_PROGRESS, 1, 3, 3)
    assert (remote.assignment_group, remote.description, remote.firstline_number) == (
        "Network Operations",
        "It drops.",
        "FL1",
    )
    assert remote.ref.url == (
        "https://na.myconnectwise.net/v4_6_release/services/system_io/Service/fv_sr100_request.rails"
        "?service_recid=7&companyName=acme"
    )
    del ticket["status"]
    with pytest.raises(BackendResponseError, match=r"status\.name"):
        connector.get("7")
    connector.close()
    with pytest.raises(ConfigError, match="FIRSTLINE_TICKETING__CONNECTWISE__CLIENT_ID"):
        ConnectWiseOptions(**(settings.__dict__ | {"client_id": " "}))
    with pytest.raises(ConfigError, match=r"ticketing\.connectwise\.url"):
        ConnectWiseOptions(**(settings.__dict__ | {"url": "api-na.myconnectwise.net"}))


def test_callbacks_are_verified_with_the_key_from_the_connectwise_site(
    cw: ConnectWiseConnector, fake: FakeConnectWise
) -> None:
    number = cw.create(firstline_ticket()).ref.number
    headers, body = fake.webhook(number)
    assert cw.parse_webhook({"X-Content-Signature": headers["x-content-signature"]}, body) == [number]
    assert cw.parse_webhook(headers, body) == [number]
    assert len(sent(fake, "GET", "/system/callbackkey/index.rails")) == 1  # the key is fetched once
    forged_headers, forged_body = fake.webhook(number, good_signature=False)
    with pytest.raises(AuthenticationError, match="does not match"):
        cw.parse_webhook(forged_headers, forged_body)
    with pytest.raises(AuthenticationError, match="x-content-signature"):
        cw.parse_webhook({}, body)
    with pytest.raises(AuthenticationError, match="not a signed ConnectWise callback"):
        cw.parse_webhook(headers, b"{}")
    payload = json.loads(body)
    payload["Metadata"]["key_url"] = "http://127.0.0.1:9/v4_6_release/system/callbackkey/index.rails?id=x"
    elsewhere = json.dumps(payload).encode()
    with pytest.raises(AuthenticationError, match="callback_key_origins"):  # never fetched from there
        cw.parse_webhook(headers, elsewhere)
    payload["Metadata"]["key_url"] = f"{fake.url}/v4_6_release/system/callbackkey/index.rails?id=unknown"
    with pytest.raises(AuthenticationError, match="signing key"):
        cw.parse_webhook(headers, json.dumps(payload).encode())
    company_headers, company_body = fake.webhook(number, kind="company")
    assert cw.parse_webhook(company_headers, company_body) == []  # verified, but not about a ticket


def test_check_names_what_to_fix(fake: FakeConnectWise) -> None:
    good = ConnectWiseConnector(options(fake))
    checks = good.check()
    assert all(c.ok for c in checks), checks
    assert [c.name for c in checks] == [
        "credentials", "integration member", "company", "board", "board statuses", "board teams", "board types",
        "priorities", "read tickets",
    ]  # fmt: skip
    good.close()
    wrong_map = FieldMap(groups={"Network Operations": "Net Ops"}, priorities={"1": "P1"})
    odd = ConnectWiseConnector(options(fake, fields=wrong_map, board="Help Desk", company_identifier="Initech"))
    failed = {c.name: c.detail for c in odd.check() if not c.ok}
    assert set(failed) == {"company", "board teams", "priorities"}
    assert "ticketing.connectwise.company_identifier" in failed["company"]
    assert "[ticketing.connectwise.map.groups]" in failed["board teams"] and "Net Ops" in failed["board teams"]
    assert "[ticketing.connectwise.map.priorities]" in failed["priorities"]
    odd.close()
    refused = ConnectWiseConnector(options(fake, private_key="nope"))
    (only,) = refused.check()
    assert not only.ok and "FIRSTLINE_TICKETING__CONNECTWISE__PRIVATE_KEY" in only.detail
    refused.close()


def test_parents_descriptions_and_summaries_are_patched(cw: ConnectWiseConnector, fake: FakeConnectWise) -> None:
    parent = cw.create(firstline_ticket(short_description="Major incident: VPN down")).ref
    child = cw.create(firstline_ticket()).ref
    linked = cw.update(
        child, RemoteChange(parent=parent.number, description="VPN down since 08:00", short_description="VPN")
    )
    assert (linked.parent_number, linked.description, linked.short_description) == (
        parent.number,
        "VPN down since 08:00",
        "VPN",
    )
    assert sent(fake, "PATCH", "/notes/" + str(fake.notes(child.number)[0]["id"]))
    assert len(sent(fake, "POST", "/attachChildren")) == 1
    cw.update(child, RemoteChange(parent=parent.number))  # already its parent: nothing sent
    assert len(sent(fake, "POST", "/attachChildren")) == 1
    with pytest.raises(InputError, match="detach"):
        cw.update(child, RemoteChange(parent=""))
