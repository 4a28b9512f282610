"""The ServiceNow connector against FakeServiceNow: the shared connector contract, then ServiceNow's own rules."""

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
    BackendUnavailableError,
    ConfigError,
    InputError,
    InvalidTransitionError,
    PermissionDeniedError,
)
from firstline.testing.connectors import ConnectorContract, VendorFake, firstline_ticket
from firstline.testing.loopback import Request
from firstline.testing.openapi_check import specs_available
from firstline.testing.servicenow_fake import FakeServiceNow
from firstline.ticketing import Impact, TicketState, Urgency, priority_for
from firstline.ticketing.connectors.servicenow import ServiceNowConnector, ServiceNowOptions
from firstline.ticketing.remote import FieldMap, RemoteChange, TicketConnector

S = TicketState


def options(fake: FakeServiceNow, **overrides: object) -> ServiceNowOptions:
    values: dict[str, object] = {
        "url": fake.url,
        "user": fake.user,
        "password": fake.password,
        "webhook_secret": fake.webhook_secret,
    }
    return ServiceNowOptions(**(values | overrides))  # type: ignore[arg-type]


def oauth_options(fake: FakeServiceNow, **overrides: object) -> ServiceNowOptions:
    oauth: dict[str, object] = {"user": "", "password": "", "client_id": fake.client_id}
    return options(fake, **(oauth | {"client_secret": fake.client_secret} | overrides))


def plain_http_connector(options: ServiceNowOptions, **kwargs: Any) -> ServiceNowConnector:
    """A connector over plain HTTP to the fake (no certificate store to load: each would cost tens of ms)."""
    kwargs.setdefault("sleep", lambda _: None)
    return ServiceNowConnector(options, transport=httpx.HTTPTransport(verify=False), **kwargs)


def table_requests(fake: FakeServiceNow, table: str, method: str = "GET") -> list[Request]:
    return [r for r in fake.seen if r.method == method and urlsplit(r.path).path == f"/api/now/table/{table}"]


def query_of(request: Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}


class TestServiceNowContract(ConnectorContract):
    @pytest.fixture
    def vendor(self) -> Iterator[VendorFake]:
        with FakeServiceNow() as fake:
            yield fake

    def connect(self, vendor: VendorFake, *, good_credentials: bool = True) -> TicketConnector:
        assert isinstance(vendor, FakeServiceNow)
        password = vendor.password if good_credentials else "not-the-password"
        return plain_http_connector(options(vendor, password=password))


class TestServiceNowContractOAuth(TestServiceNowContract):
    """The contract tests where the credentials matter, over OAuth client credentials (the rest are the same
    requests with another header; leaving them out keeps the spec-checked suite fast)."""

    test_create_is_idempotent_by_firstline_number = None
    test_unknown_tickets = None
    test_lifecycle_moves_the_vendor_ticket = None
    test_fields_and_assignment = None
    test_changed_since_follows_pagination_and_sees_staff_changes = None
    test_webhooks_are_verified = None

    def connect(self, vendor: VendorFake, *, good_credentials: bool = True) -> TicketConnector:
        assert isinstance(vendor, FakeServiceNow)
        secret = vendor.client_secret if good_credentials else "not-the-secret"
        return plain_http_connector(oauth_options(vendor, client_secret=secret))


@pytest.fixture
def fake() -> Iterator[FakeServiceNow]:
    with FakeServiceNow() as started:
        yield started
        assert started.violations == [], started.violations


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def connector(fake: FakeServiceNow, waits: list[float]) -> Iterator[ServiceNowConnector]:
    made = plain_http_connector(options(fake), sleep=waits.append)
    yield made
    made.close()


# --- credentials --------------------------------------------------------------------------------------


def test_basic_auth_sends_the_integration_user(connector: ServiceNowConnector, fake: FakeServiceNow) -> None:
    connector.find("FL404")
    expected = base64.b64encode(f"{fake.user}:{fake.password}".encode()).decode()
    assert {r.headers["authorization"] for r in fake.seen} == {f"Basic {expected}"}


def test_oauth_token_is_fetched_once_and_again_after_expiry_or_a_401(fake: FakeServiceNow) -> None:
    now = [0.0]
    connector = plain_http_connector(oauth_options(fake), clock=lambda: now[0])
    try:
        ref = connector.create(firstline_ticket()).ref
        connector.get(ref.number)
        assert fake.token_requests == 1
        token_call = next(r for r in fake.seen if r.path == "/oauth_token.do")
        assert parse_qs(token_call.raw.decode())["grant_type"] == ["client_credentials"]
        assert all(r.headers["authorization"].startswith("Bearer ") for r in fake.seen if r.path != "/oauth_token.do")
        now[0] += fake.token_ttl_s  # expired (the client renews 30 s early)
        connector.get(ref.number)
        assert fake.token_requests == 2
        fake.revoke_tokens()  # the instance forgot it: 401, one fresh token, the same request again
        assert connector.get(ref.number).ref == ref
        assert fake.token_requests == 3
    finally:
        connector.close()


def test_refused_client_secret_names_the_setting(fake: FakeServiceNow) -> None:
    connector = plain_http_connector(oauth_options(fake, client_secret="wrong"))
    with pytest.raises(AuthenticationError, match="FIRSTLINE_TICKETING__SERVICENOW__CLIENT_SECRET"):
        connector.get("INC0010001")
    connector.close()


def test_refused_password_carries_servicenows_words(fake: FakeServiceNow) -> None:
    connector = plain_http_connector(options(fake, password="wrong"))
    with pytest.raises(AuthenticationError, match="User Not Authenticated") as caught:
        connector.get("INC0010001")
    assert "FIRSTLINE_TICKETING__SERVICENOW__PASSWORD" in str(caught.value)
    connector.close()


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"url": "acme.service-now.com", "user": "u", "password": "p"}, "ticketing.servicenow.url"),
        ({"url": "https://acme.service-now.com"}, "FIRSTLINE_TICKETING__SERVICENOW__USER"),
        ({"url": "https://acme.service-now.com", "user": "u"}, "FIRSTLINE_TICKETING__SERVICENOW__PASSWORD"),
        ({"url": "https://acme.service-now.com", "client_secret": "s"}, "FIRSTLINE_TICKETING__SERVICENOW__CLIENT_ID"),
    ],
)
def test_options_name_the_missing_setting(values: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        ServiceNowOptions(**values)  # type: ignore[arg-type]


# --- creating -----------------------------------------------------------------------------------------


def test_the_instance_computes_the_priority_for_every_impact_and_urgency(
    connector: ServiceNowConnector, fake: FakeServiceNow
) -> None:
    for impact in Impact:
        for urgency in Urgency:
            remote = connector.create(firstline_ticket(impact=impact, urgency=urgency))
            assert (remote.impact, remote.urgency) == (impact, urgency)
            assert remote.priority == priority_for(impact, urgency)
            assert fake.incident(remote.ref.number)["priority"] == str(remote.priority.value)
    posted = [json.loads(r.raw) for r in table_requests(fake, "incident", "POST")]
    assert len(posted) == 9 and not any("priority" in body for body in posted)
    assert all(body["correlation_display"] == "Firstline" for body in posted)


def test_caller_and_group_lookups_are_cached(connector: ServiceNowConnector, fake: FakeServiceNow) -> None:
    for i in range(3):
        connector.create(firstline_ticket(short_description=f"issue {i}", assignment_group="Desktop Support"))
    assert len(table_requests(fake, "sys_user")) == 1
    assert len(table_requests(fake, "sys_user_group")) == 1
    stored = fake.incident("INC0010003")
    assert stored["caller_id"] and stored["assignment_group"]


def test_groups_map_both_ways_and_an_unknown_group_names_the_setting(fake: FakeServiceNow) -> None:
    fields = FieldMap(groups={"Network": "Network Operations", "Facilities": "Facilities Team"})
    connector = plain_http_connector(options(fake, fields=fields))
    try:
        remote = connector.create(firstline_ticket(assignment_group="Network"))
        assert remote.assignment_group == "Network"
        group_query = query_of(table_requests(fake, "sys_user_group")[0])["sysparm_query"]
        assert group_query == "name=Network Operations"
        with pytest.raises(InputError, match=r"\[ticketing\.servicenow\.map\.groups\]") as caught:
            connector.create(firstline_ticket(assignment_group="Facilities"))
        assert "Facilities Team" in str(caught.value)
        failed = [c for c in connector.check() if not c.ok]
        assert [c.name for c in failed] == ["group Facilities"] and "map.groups" in failed[0].detail
    finally:
        connector.close()


def test_a_requester_without_a_servicenow_account_is_named_in_the_description(
    connector: ServiceNowConnector, fake: FakeServiceNow
) -> None:
    ticket = firstline_ticket(requester="visitor@example.org")
    remote = connector.create(ticket)
    assert remote.requester == "visitor@example.org" and ticket.description in remote.description
    assert fake.incident(remote.ref.number)["caller_id"] == ""
    assert connector.get(remote.ref.number).requester == "visitor@example.org"


def test_a_rate_limited_post_is_waited_out_without_a_second_incident(
    connector: ServiceNowConnector, fake: FakeServiceNow, waits: list[float]
) -> None:
    fake.fail_next(429, retry_after=4, method="POST")
    connector.create(firstline_ticket())
    assert waits == [4.0] and fake.count() == 1
    assert len(table_requests(fake, "incident", "POST")) == 2


def test_retry_after_is_honoured_and_a_long_outage_is_unavailable(
    connector: ServiceNowConnector, fake: FakeServiceNow, waits: list[float]
) -> None:
    fake.fail_next(429, times=2, retry_after=7)
    assert connector.find("FL404") is None
    assert waits == [7.0, 7.0]
    fake.fail_next(503, times=10)
    with pytest.raises(BackendUnavailableError, match=r"ticketing\.servicenow\.url"):
        connector.find("FL404")


# --- reading and changing -----------------------------------------------------------------------------


def test_changed_since_follows_the_link_header_across_pages(
    connector: ServiceNowConnector, fake: FakeServiceNow
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    numbers = [connector.create(firstline_ticket(short_description=f"issue {i}")).ref.number for i in range(7)]
    fake.seen.clear()
    changed = connector.changed_since(before)
    assert [t.ref.number for t in changed] == numbers
    pages = table_requests(fake, "incident")
    assert [query_of(r)["sysparm_offset"] for r in pages] == ["0", "3", "6"]
    assert query_of(pages[0])["sysparm_query"].endswith("^ORDERBYsys_updated_on")
    fake.links = False  # without a Link header the connector pages on while pages are full
    fake.seen.clear()
    assert len(connector.changed_since(before, limit=3)) == 7
    assert len(table_requests(fake, "incident")) == 3
    with pytest.raises(InputError, match="time zone"):
        connector.changed_since(datetime(2025, 1, 1))


def test_an_error_body_becomes_the_message(connector: ServiceNowConnector, fake: FakeServiceNow) -> None:
    fake.fail_next(400, message="Invalid query", detail="sysparm_query could not be parsed")
    with pytest.raises(InputError, match="Invalid query; sysparm_query could not be parsed"):
        connector.get("INC0010001")


def test_unknown_fields_in_answers_are_ignored(connector: ServiceNowConnector, fake: FakeServiceNow) -> None:
    fake.extra_fields |= {"u_region": {"value": "emea", "display_value": "EMEA"}, "sys_tags": {"nested": [1, 2]}}
    remote = connector.create(firstline_ticket())
    raw = httpx.get(
        f"{fake.url}/api/now/table/incident/{remote.ref.key}", auth=(fake.user, fake.password), timeout=5
    ).json()
    assert {"u_region", "sys_tags", "x_acme_cost_center"} <= set(raw["result"])
    assert connector.get(remote.ref.number) == connector.find(remote.firstline_number or "")


def test_a_missing_required_field_is_a_backend_response_error(
    connector: ServiceNowConnector, fake: FakeServiceNow
) -> None:
    number = connector.create(firstline_ticket()).ref.number
    fake.drop_fields = {"priority"}
    with pytest.raises(BackendResponseError, match="`priority`"):
        connector.get(number)


def test_resolving_needs_a_note_and_the_instance_enforces_it(
    connector: ServiceNowConnector, fake: FakeServiceNow
) -> None:
    remote = connector.create(firstline_ticket())
    with pytest.raises(InputError, match="resolution note"):
        connector.update(remote.ref, RemoteChange(state=S.RESOLVED))
    answer = httpx.patch(
        f"{fake.url}/api/now/table/incident/{remote.ref.key}", json={"state": "6"}, auth=(fake.user, fake.password)
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["message"] == "Operation Failed"
    assert "Resolution code, Resolution notes" in answer.json()["error"]["detail"]
    done = connector.update(remote.ref, RemoteChange(state=S.RESOLVED, resolution_note="Replaced the cable"))
    assert fake.incident(remote.ref.number)["close_code"] == "Solved (Permanently)"
    assert done.resolution_note == "Replaced the cable"


def test_an_incident_staff_closed_is_final(connector: ServiceNowConnector, fake: FakeServiceNow) -> None:
    remote = connector.create(firstline_ticket())
    fake.staff_change(remote.ref.number, state=S.CLOSED)
    with pytest.raises(InvalidTransitionError, match="final"):
        connector.update(remote.ref, RemoteChange(state=S.IN_PROGRESS))
    assert connector.update(remote.ref, RemoteChange(state=S.CLOSED)).state is S.CLOSED


def test_update_sends_only_what_differs(connector: ServiceNowConnector, fake: FakeServiceNow) -> None:
    remote = connector.create(firstline_ticket())
    fake.seen.clear()
    connector.update(remote.ref, RemoteChange(impact=remote.impact, state=S.NEW))
    assert table_requests(fake, f"incident/{remote.ref.key}", "PATCH") == []
    connector.update(remote.ref, RemoteChange(impact=Impact.HIGH, urgency=Urgency.LOW, state=S.ON_HOLD))
    (patch,) = table_requests(fake, f"incident/{remote.ref.key}", "PATCH")
    assert json.loads(patch.raw) == {"impact": "1", "urgency": "3", "state": "3", "hold_reason": "1"}
    assert connector.get(remote.ref.number).priority == priority_for(Impact.HIGH, Urgency.LOW)


def test_parent_links_by_vendor_number(connector: ServiceNowConnector) -> None:
    parent = connector.create(firstline_ticket(short_description="Major: VPN down"))
    child = connector.create(firstline_ticket())
    linked = connector.update(child.ref, RemoteChange(parent=parent.ref.number))
    assert linked.parent_number == parent.ref.number
    assert connector.update(child.ref, RemoteChange(parent="")).parent_number is None


def test_a_comment_whose_answer_was_lost_is_not_added_twice(
    connector: ServiceNowConnector, fake: FakeServiceNow
) -> None:
    ref = connector.create(firstline_ticket()).ref
    fake.lose_next_answer()
    posted = connector.comment(ref, "Please restart the VPN client.", public=True)
    assert [(c.id, c.body, c.ours) for c in connector.comments(ref)] == [(posted.id, posted.body, True)]


# --- webhooks, checks, the fake's own checks ----------------------------------------------------------


def test_webhooks_need_a_secret_and_a_signature(connector: ServiceNowConnector, fake: FakeServiceNow) -> None:
    number = connector.create(firstline_ticket()).ref.number
    headers, body = fake.webhook(number)
    with pytest.raises(AuthenticationError, match="X-Firstline-Signature"):
        connector.parse_webhook({"Content-Type": "application/json"}, body)
    lower = {k.lower(): v for k, v in headers.items()}
    assert connector.parse_webhook(lower, body) == [number]
    unsigned = plain_http_connector(options(fake, webhook_secret=""))
    with pytest.raises(ConfigError, match=r"ticketing\.servicenow\.webhook_secret"):
        unsigned.parse_webhook(headers, body)
    unsigned.close()


def test_check_reports_what_it_can_verify(connector: ServiceNowConnector, fake: FakeServiceNow) -> None:
    checks = {c.name: c for c in connector.check()}
    assert all(c.ok for c in checks.values())
    assert "firstline.integration" in checks["read sys_user"].detail and "itil" in checks["write incident"].detail
    fake.set_roles(fake.user, ("snc_read_only",))
    write = {c.name: c for c in connector.check()}["write incident"]
    assert not write.ok and "itil" in write.detail
    with pytest.raises(PermissionDeniedError, match="itil"):
        connector.create(firstline_ticket())
    fake.set_roles(fake.user, ())  # no roles readable: cannot tell, says so
    write = {c.name: c for c in connector.check()}["write incident"]
    assert write.ok and "cannot read" in write.detail


def test_check_never_raises_when_the_instance_is_down(connector: ServiceNowConnector, fake: FakeServiceNow) -> None:
    fake.fail_next(503, times=10)
    (check,) = connector.check()
    assert check.name == "connection" and not check.ok and "ticketing.servicenow.url" in check.detail


@pytest.mark.skipif(not specs_available(), reason="../shared/specs is not there")
def test_the_spec_catches_a_malformed_request(fake: FakeServiceNow) -> None:
    answer = httpx.get(
        f"{fake.url}/api/now/table/incident?sysparm_limit=lots", auth=(fake.user, fake.password), timeout=5
    )
    assert answer.status_code == 422
    assert len(fake.violations) == 1 and "sysparm_limit" in fake.violations[0]
    fake.violations.clear()


def test_the_fake_refuses_fields_an_incident_does_not_have(fake: FakeServiceNow) -> None:
    answer = httpx.post(
        f"{fake.url}/api/now/table/incident",
        json={"short_description": "x", "parent": "INC0010001"},
        auth=(fake.user, fake.password),
        timeout=5,
    )
    assert answer.status_code == 422
    assert fake.violations == ["incident has no writable field 'parent'"]
    fake.violations.clear()
