"""The Jira Service Management connector: the shared connector contract against FakeJira, then Jira's own rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from firstline.errors import AuthenticationError, BackendResponseError, ConfigError, InputError
from firstline.testing.connectors import ConnectorContract, VendorFake, firstline_ticket
from firstline.testing.jira_fake import FakeJira
from firstline.testing.openapi_check import specs_available
from firstline.ticketing import Impact, Priority, TicketState, Urgency
from firstline.ticketing.connectors.jira import JiraConnector, JiraOptions
from firstline.ticketing.connectors.jira_wire import WireMap, adf_to_text, text_to_adf
from firstline.ticketing.remote import FieldMap, RemoteChange

S = TicketState


def options(fake: FakeJira, **overrides: Any) -> JiraOptions:
    values: dict[str, Any] = {
        "url": fake.url,
        "email": fake.email,
        "api_token": fake.api_token,
        "project_key": "HELP",
        "service_desk_id": "1",
        "request_type_id": "10",
        "webhook_secret": fake.webhook_secret,
    }
    return JiraOptions(**(values | overrides))


def bodies(fake: FakeJira, method: str, ending: str) -> list[Any]:
    """The JSON bodies of the requests ``fake`` got to paths ending with ``ending``."""
    return [
        json.loads(r.raw or b"null") for r in fake.seen if r.method == method and r.path.split("?")[0].endswith(ending)
    ]


def plain_http() -> httpx.HTTPTransport:
    """A transport for the fake's plain HTTP on 127.0.0.1: no certificate store to load for each connector."""
    return httpx.HTTPTransport(verify=False)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class TestJiraContract(ConnectorContract):
    missing_number = "HELP-9999"

    @pytest.fixture
    def vendor(self) -> Iterator[VendorFake]:
        with FakeJira() as fake:
            yield fake

    def connect(self, vendor: VendorFake, *, good_credentials: bool = True) -> JiraConnector:
        assert isinstance(vendor, FakeJira)
        token = vendor.api_token if good_credentials else "revoked-token"
        return JiraConnector(options(vendor, api_token=token), transport=plain_http(), sleep=Sleeps())


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira() as fake:
        yield fake
        assert fake.violations == [], fake.violations


@pytest.fixture
def connect(jira: FakeJira) -> Iterator[Any]:
    made: list[JiraConnector] = []

    def make(fake: FakeJira | None = None, **overrides: Any) -> JiraConnector:
        sleep = overrides.pop("sleep", Sleeps())
        made.append(JiraConnector(options(fake or jira, **overrides), transport=plain_http(), sleep=sleep))
        return made[-1]

    yield make
    for connector in made:
        connector.close()


# --- states and transitions ---------------------------------------------------------------------


def test_states_move_by_transition_name_with_the_resolution_screen_filled(jira: FakeJira, connect: Any) -> None:
    connector = connect()
    ref = connector.create(firstline_ticket()).ref
    connector.update(ref, RemoteChange(state=S.RESOLVED, resolution_note="Replaced the dock"))
    assert bodies(jira, "POST", "/transitions") == [
        {"transition": {"id": "31"}, "fields": {"resolution": {"name": "Done"}}}
    ]
    assert jira.issues[ref.number].resolution == "Done"
    assert [c["body"] for c in jira.issues[ref.number].comments if c["public"]] == ["Replaced the dock"]
    connector.update(ref, RemoteChange(state=S.CLOSED))
    assert bodies(jira, "POST", "/transitions")[-1] == {"transition": {"id": "41"}}  # no resolution on that screen


def test_a_state_already_reached_is_not_transitioned_again(jira: FakeJira, connect: Any) -> None:
    connector = connect()
    ref = connector.create(firstline_ticket()).ref
    jira.staff_change(ref.number, state=S.ON_HOLD)
    assert connector.update(ref, RemoteChange(state=S.ON_HOLD)).state is S.ON_HOLD
    assert bodies(jira, "POST", "/transitions") == []


def test_an_unknown_transition_name_names_the_mapping_setting(jira: FakeJira, connect: Any) -> None:
    connector = connect(fields=FieldMap(states={"in_progress": "Begin work"}))
    ref = connector.create(firstline_ticket()).ref
    with pytest.raises(ConfigError) as caught:
        connector.update(ref, RemoteChange(state=S.IN_PROGRESS))
    message = str(caught.value)
    assert "'Begin work'" in message and "[ticketing.jira.map.states]" in message and "'Start progress'" in message
    jira.staff_change(ref.number, state=S.ON_HOLD)
    with pytest.raises(ConfigError, match=r"state new: add one under \[ticketing.jira.map.states\]"):
        connector.update(ref, RemoteChange(state=S.NEW))  # no transition name for it by default


def test_statuses_read_back_by_name_then_category() -> None:
    wire = WireMap(site="https://acme.atlassian.net", statuses={"Awaiting vendor": "on_hold"})

    def status(name: str, category: str) -> dict[str, Any]:
        return {"name": name, "statusCategory": {"key": category}}

    assert wire.state(status("Awaiting vendor", "indeterminate")) is S.ON_HOLD  # ticketing.jira.statuses
    assert wire.state(status("Pending", "indeterminate")) is S.ON_HOLD  # named like the on_hold transition
    assert wire.state(status("Waiting for customer", "indeterminate")) is S.ON_HOLD
    assert wire.state(status("Cancelled", "done")) is S.CANCELED
    assert wire.state(status("Closed", "done")) is S.CLOSED
    assert wire.state(status("Escalated", "indeterminate")) is S.IN_PROGRESS  # by category
    assert wire.state(status("Triage", "new")) is S.NEW
    assert wire.state(status("Fixed", "done")) is S.RESOLVED


# --- ADF, JQL, duplicates ---------------------------------------------------------------------------


def test_plain_text_round_trips_through_adf() -> None:
    text = "VPN drops every few minutes.\nSince the 4.2 update.\n\nHome broadband is fine."
    doc = text_to_adf(text)
    assert doc["type"] == "doc" and doc["version"] == 1 and len(doc["content"]) == 2
    assert {"type": "hardBreak"} in doc["content"][0]["content"]
    assert adf_to_text(doc) == text
    assert text_to_adf("") == {"type": "doc", "version": 1, "content": []} and adf_to_text(None) == ""


def test_any_adf_reads_back_as_text() -> None:
    doc = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Steps"}]},
            {
                "type": "bulletList",
                "content": [
                    {
                        "type": "listItem",
                        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "a"}]}],
                    },
                    {
                        "type": "listItem",
                        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "b"}]}],
                    },
                ],
            },
            {
                "type": "panel",
                "attrs": {"panelType": "info"},
                "content": [
                    {
                        "type": "paragraph",
                        "content": [
                            {"type": "mention", "attrs": {"id": "5b10", "text": "@Tomasz"}},
                            {"type": "text", "text": " see "},
                            {"type": "inlineCard", "attrs": {"url": "https://kb.example.com/12"}},
                            {"type": "emoji", "attrs": {"shortName": ":smile:"}},
                        ],
                    }
                ],
            },
            {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "x"}}]},
            {"type": "someFutureNode", "content": [{"type": "text", "text": "kept"}]},
        ],
    }
    assert adf_to_text(doc) == "Steps\n\n- a\n- b\n\n@Tomasz see https://kb.example.com/12:smile:\n\nkept"


def test_descriptions_are_written_as_adf(jira: FakeJira, connect: Any) -> None:
    connector = connect()
    ref = connector.create(firstline_ticket()).ref
    changed = connector.update(ref, RemoteChange(description="First line\nsecond line\n\nNew paragraph"))
    assert jira.issues[ref.number].description == text_to_adf("First line\nsecond line\n\nNew paragraph")
    assert changed.description == "First line\nsecond line\n\nNew paragraph"


def test_changed_since_follows_next_page_tokens_in_the_users_time_zone(jira: FakeJira, connect: Any) -> None:
    keys = [jira.staff_create(f"Portal request {n}") for n in range(7)]
    since = jira.issues[keys[2]].updated
    changed = connect().changed_since(since)
    assert [t.ref.number for t in changed] == keys[2:]  # exact times filtered here, oldest first
    assert all(t.firstline_number is None and t.requester == "helena.marsh@example.com" for t in changed)
    searches = bodies(jira, "POST", "/search/jql")
    assert len(searches) >= 4 and all("nextPageToken" in s for s in searches[1:])  # 7 issues, 2 a page
    local = since.astimezone(ZoneInfo("Europe/Warsaw")).strftime("%Y/%m/%d %H:%M")
    assert searches[0]["jql"] == f'project = "HELP" AND updated >= "{local}" ORDER BY updated ASC'
    assert [t.ref.number for t in connect().changed_since(since, limit=3)] == keys[2:5]


@pytest.mark.parametrize("dedupe", ["property", "label"])
def test_create_finds_its_ticket_again_by_property_or_label(jira: FakeJira, connect: Any, dedupe: str) -> None:
    connector = connect(dedupe=dedupe)
    ticket = firstline_ticket(tags=["vpn", "home office"])
    first = connector.create(ticket)
    assert connector.create(ticket).ref == first.ref and jira.count() == 1
    issue = jira.issues[first.ref.number]
    assert issue.properties["firstline"] == {
        "number": ticket.number, "impact": 2, "urgency": 1,
        "requester": "helena.marsh@example.com", "category": "network",
    }  # fmt: skip
    marker = f"firstline-{ticket.number}"
    assert ("vpn" in issue.labels, "home-office" in issue.labels, marker in issue.labels) == (
        True,
        True,
        dedupe == "label",
    )
    wanted = f'labels = "{marker}"' if dedupe == "label" else f'issue.property[firstline].number = "{ticket.number}"'
    assert all(s["jql"] == wanted for s in bodies(jira, "POST", "/search/jql") if "reporter" not in s["jql"])


def test_label_dedupe_for_sites_that_cannot_search_issue_properties(connect: Any) -> None:
    with FakeJira(indexed_properties=False) as plain:
        checks = {c.name: c for c in connect(plain).check()}
        assert not checks["duplicate lookup"].ok and 'dedupe = "label"' in checks["duplicate lookup"].detail
        labelled = connect(plain, dedupe="label")
        assert all(c.ok for c in labelled.check())
        ticket = firstline_ticket()
        assert labelled.create(ticket).ref == labelled.create(ticket).ref and plain.count() == 1


def test_a_request_opened_by_a_try_that_stopped_half_way_is_adopted(jira: FakeJira, connect: Any) -> None:
    ticket = firstline_ticket()
    body = {"serviceDeskId": "1", "requestTypeId": "10", "raiseOnBehalfOf": "5b10a2844c20165700ede21g",
            "requestFieldValues": {"summary": ticket.short_description, "description": ticket.description}}  # fmt: skip
    auth = (jira.email, jira.api_token)
    assert httpx.post(f"{jira.url}/rest/servicedeskapi/request", json=body, auth=auth).status_code == 201
    jira.staff_create(ticket.short_description, "Someone else's words")  # same summary, other description: not ours
    remote = connect().create(ticket)
    assert (remote.ref.number, remote.firstline_number, jira.count()) == ("HELP-1", ticket.number, 2)


# --- fields ---------------------------------------------------------------------------------------


def test_priorities_follow_each_sites_names(connect: Any) -> None:
    names = ("P1 - Critical", "P2 - High", "P3 - Moderate", "P4 - Low", "P5 - Planning")
    with FakeJira(priorities=names) as site:
        unmapped = connect(site)
        checks = {c.name: c for c in unmapped.check()}
        assert not checks["priorities"].ok and "[ticketing.jira.map.priorities]" in checks["priorities"].detail
        with pytest.raises(InputError, match="priority"):
            unmapped.create(firstline_ticket())
        mapped = connect(site, fields=FieldMap(priorities={str(n): name for n, name in enumerate(names, 1)}))
        assert all(c.ok for c in mapped.check())
        remote = mapped.create(firstline_ticket(impact=Impact.HIGH, urgency=Urgency.HIGH))
        assert remote.priority is Priority.CRITICAL and site.issues[remote.ref.number].priority == "P1 - Critical"
        lowered = mapped.update(remote.ref, RemoteChange(urgency=Urgency.LOW))
        assert (lowered.priority, site.issues[remote.ref.number].priority) == (Priority.MODERATE, "P3 - Moderate")


def test_the_team_can_live_in_a_custom_field(jira: FakeJira, connect: Any) -> None:
    connector = connect(group_field="customfield_10050", fields=FieldMap(groups={"Network Operations": "Network"}))
    jira.teams = (*jira.teams, "Network")
    remote = connector.create(firstline_ticket(assignment_group="Network Operations"))
    assert jira.issues[remote.ref.number].team == "Network" and remote.assignment_group == "Network Operations"
    assert connector.update(remote.ref, RemoteChange(assignment_group="")).assignment_group == ""


def test_assignee_and_parent_link(jira: FakeJira, connect: Any) -> None:
    connector = connect()
    parent, child = (connector.create(firstline_ticket(short_description=f"Outage {n}")).ref for n in (1, 2))
    linked = connector.update(child, RemoteChange(parent=parent.number, assigned_to="tomasz.nowicki@example.com"))
    assert (linked.parent_number, linked.assigned_to) == (parent.number, "tomasz.nowicki@example.com")
    assert connector.get(parent.number).parent_number is None  # the link points from child to parent
    assert connector.update(child, RemoteChange(parent="", assigned_to="")).parent_number is None
    assert jira.links == {} and jira.issues[child.number].assignee is None
    with pytest.raises(InputError, match=r"nobody@example\.com"):
        connector.update(child, RemoteChange(assigned_to="nobody@example.com"))


def test_a_requester_jira_does_not_know_is_kept_in_the_property(jira: FakeJira, connect: Any) -> None:
    remote = connect().create(firstline_ticket(requester="new.starter@example.com"))
    assert remote.requester == "new.starter@example.com"
    assert jira.issues[remote.ref.number].reporter == jira.bot.account_id  # raised by the integration user


# --- comments -------------------------------------------------------------------------------------


def test_public_replies_and_internal_notes_use_the_jsm_flag(jira: FakeJira, connect: Any) -> None:
    connector = connect()
    ref = connector.create(firstline_ticket()).ref
    connector.comment(ref, "Please try again now.", public=True)
    note = connector.comment(ref, "Concentrator restarted.", public=False)
    assert bodies(jira, "POST", f"/request/{ref.number}/comment") == [
        {"body": "Please try again now.", "public": True},
        {"body": "Concentrator restarted.", "public": False},
    ]
    assert (note.public, note.ours, note.author) == (False, True, jira.email)
    jira.staff_comment(ref.number, "Called the user.", public=False)
    assert [(c.public, c.ours) for c in connector.comments(ref)] == [(True, True), (False, True), (False, False)]


# --- errors, retries, the spec --------------------------------------------------------------------


def test_jira_error_bodies_become_firstline_errors(jira: FakeJira, connect: Any) -> None:
    connector = connect()
    ref = connector.create(firstline_ticket()).ref
    jira.fail_next(400, body={"errorMessages": ["Issue is locked."], "errors": {"summary": "Summary is too long."}})
    with pytest.raises(InputError) as caught:
        connector.get(ref.number)
    assert "Issue is locked." in str(caught.value) and "summary: Summary is too long." in str(caught.value)
    with pytest.raises(InputError, match=r"\(HTTP 400\): The comment body is required\.$"):  # JSM's errorMessage
        connector.comment(ref, "   ", public=True)
    with pytest.raises(InputError, match="cannot be set"):
        connect(group_field="customfield_99999").update(ref, RemoteChange(assignment_group="Service Desk"))


def test_retry_after_is_honoured(jira: FakeJira, connect: Any) -> None:
    sleeps = Sleeps()
    connector = connect(sleep=sleeps)
    jira.fail_next(429, times=2, retry_after=1.5)
    assert connector.changed_since(datetime.now(UTC)) == []
    assert sleeps == [1.5, 1.5]


def test_a_lost_create_answer_is_looked_up_not_resent(jira: FakeJira, connect: Any) -> None:
    sleeps = Sleeps()
    connector = connect(sleep=sleeps)
    jira.lose_next_answer()
    remote = connector.create(firstline_ticket())
    assert jira.count() == 1 and remote.firstline_number and len(bodies(jira, "POST", "/servicedeskapi/request")) == 1
    assert sleeps == [0.5]


@pytest.mark.skipif(not specs_available(), reason="the Jira OpenAPI files in ../shared/specs are not there")
def test_a_request_jira_would_refuse_is_caught() -> None:
    with FakeJira() as fake:
        auth = (fake.email, fake.api_token)
        answer = httpx.post(f"{fake.url}/rest/servicedeskapi/request", json={"serviceDeskId": 1}, auth=auth)
        assert answer.status_code == 422 and fake.violations and "serviceDeskId" in fake.violations[0]
        fake.violations.clear()
        answer = httpx.post(f"{fake.url}/rest/api/3/search/jql", json={"jql": "project = HELP", "limit": 5}, auth=auth)
        assert answer.status_code == 422 and "limit" in fake.violations[0]
        fake.violations.clear()


def test_unknown_fields_in_answers_are_ignored(connect: Any) -> None:
    with FakeJira(unknown_fields=True) as site:
        connector = connect(site)
        ref = connector.create(firstline_ticket()).ref
        connector.comment(ref, "Noted.", public=True)
        assert [c.body for c in connector.comments(ref)] == ["Noted."]
        assert connector.update(ref, RemoteChange(state=S.IN_PROGRESS)).state is S.IN_PROGRESS
        assert all(c.ok for c in connector.check())


def test_a_missing_required_field_is_named() -> None:
    wire = WireMap(site="https://acme.atlassian.net")
    issue = {"id": "10001", "key": "HELP-1", "fields": {"summary": "x", "updated": "2024-05-01T10:00:00.000+0200"}}
    with pytest.raises(BackendResponseError, match="`status`"):
        wire.remote(issue)
    when = wire.remote(issue | {"fields": issue["fields"] | {"status": {"name": "Open"}}}).updated_at
    assert when == datetime(2024, 5, 1, 8, tzinfo=UTC)


# --- webhooks, checks, settings -------------------------------------------------------------------


def test_webhooks_need_the_secret_and_a_signature(jira: FakeJira, connect: Any) -> None:
    key = jira.staff_create("Printer jams")
    headers, body = jira.webhook(key)
    with pytest.raises(ConfigError, match="webhook_secret"):
        connect(webhook_secret="").parse_webhook(headers, body)
    with pytest.raises(AuthenticationError, match="X-Hub-Signature"):
        connect().parse_webhook({"Content-Type": "application/json"}, body)
    assert connect().parse_webhook({k.lower(): v for k, v in headers.items()}, body) == [key]


def test_check_says_what_to_fix(jira: FakeJira, connect: Any) -> None:
    checks = connect().check()
    assert [c.name for c in checks if c.ok] == [
        "credentials", "service desk", "request type", "permissions", "priorities", "duplicate lookup", "transitions",
    ]  # fmt: skip
    assert "Not verified" in checks[-1].detail
    jira.permissions["TRANSITION_ISSUES"] = False
    failed = {c.name: c.detail for c in connect(service_desk_id="7", request_type_id="99").check() if not c.ok}
    assert set(failed) == {"service desk", "request type", "permissions"}
    assert "ticketing.jira.service_desk_id" in failed["service desk"] and "TRANSITION_ISSUES" in failed["permissions"]


def test_settings_are_checked_and_a_bearer_token_works(jira: FakeJira, connect: Any) -> None:
    with pytest.raises(ConfigError, match="FIRSTLINE_TICKETING__JIRA__API_TOKEN"):
        options(jira, api_token="")
    with pytest.raises(ConfigError, match="service_desk_id"):
        options(jira, service_desk_id=" ")
    with pytest.raises(ConfigError, match=r"ticketing\.jira\.url"):
        options(jira, url="acme.atlassian.net")
    bearer = connect(email="", api_token="", bearer_token=jira.api_token)
    assert bearer.check()[0].ok
    before = datetime.now(UTC) - timedelta(minutes=1)
    assert bearer.changed_since(before) == []
