"""The Teams channel end to end: HTTP to the real app, the Bot Framework faked on 127.0.0.1.

The fake (``firstline.testing.botframework_fake``) publishes OpenID metadata and keys, issues the bot's
tokens, mints the Bot Connector's JWTs and records every activity the bot sends. The app is
``create_app(settings)`` with ``[channels.teams]`` on, its registry narrowed to Teams so these tests
do not depend on the other channels' modules.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from firstline.channels import registry
from firstline.channels.teams_channel import TeamsChannel
from firstline.helpdesk.vendor_updates import TellRequester
from firstline.runtime import Runtime
from firstline.service.app import create_app
from firstline.settings import load_settings
from firstline.testing.botframework_fake import BotFrameworkFake, Posted
from firstline.testing.live import UNLIMITED, clean_environment, seed_accounts
from firstline.ticketing.remote import RemoteComment
from firstline.ticketing.sync import RemoteChangeEvent

APP_ID = "5c0ffee0-1111-4222-8333-444455556666"
PASSWORD = "bot-password-for-tests-only"
TENANT = "72f988bf-nwm-tenant"
PUBLIC_URL = "https://help.nwmeridian.example"
RUBY, MARCUS, BEN = "ruby.chen@nwmeridian.co.uk", "marcus.bell@nwmeridian.co.uk", "ben.carter@nwmeridian.co.uk"
SARAH, RAVI = "sarah.lindqvist@nwmeridian.co.uk", "ravi.chandran@nwmeridian.co.uk"
AAD = {RUBY: "aad-ruby", MARCUS: "aad-marcus", SARAH: "aad-sarah", RAVI: "aad-ravi", BEN: "aad-ben"}
LINKED = (RUBY, MARCUS, SARAH, RAVI)  # Ben starts unlinked
LOST_PHONE = "I lost my work iPhone on the train home last night"
CARD = "application/vnd.microsoft.card.adaptive"


@dataclass
class Teams:
    client: TestClient
    fake: BotFrameworkFake
    runtime: Runtime
    channel: TeamsChannel
    sarah_key: str

    def post(self, activity: dict[str, Any], authorization: str | None = None) -> Any:
        header = self.fake.token(activity) if authorization is None else authorization
        headers = {"Authorization": header} if header else {}
        return self.client.post("/api/messages", json=activity, headers=headers)

    def say(self, who: str, text: str = "", **options: Any) -> tuple[dict[str, Any], Posted]:
        """``who`` writes to the bot; the bot's reply to that activity."""
        activity = self.fake.message(AAD[who], text, **options)
        response = self.post(activity)
        assert response.status_code == 202, response.text
        reply = self.fake.wait_for(1, method="POST", activity_id=activity["id"])[0]
        return activity, reply

    def conversation_of(self, teams_conversation: str) -> str:
        thread = self.runtime.channels.thread("teams", teams_conversation)
        assert thread is not None
        return thread.conversation_id


@pytest.fixture(scope="module")
def teams(tmp_path_factory: pytest.TempPathFactory, _session_cache: Path) -> Iterator[Teams]:
    with clean_environment(_session_cache), BotFrameworkFake(APP_ID, PASSWORD, TENANT) as fake:
        section = {
            "enabled": True,
            "app_id": APP_ID,
            "app_password": PASSWORD,
            "tenant_id": TENANT,
            "openid_metadata_url": fake.metadata_url,
            "token_url": fake.token_url,
            "key_refresh_s": 0,
        }
        settings = load_settings(
            data_dir=Path(tmp_path_factory.mktemp("teams-data")),
            service={**UNLIMITED, "public_url": PUBLIC_URL},
            channels={"teams": section},
        )
        seed_accounts(settings)
        with Runtime(settings) as runtime:
            for email in LINKED:
                runtime.channels.link("teams", AAD[email], email, "test fixture")
            sarah_key = runtime.accounts.create_key("sarah-console", "agent", SARAH)[0]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(registry, "CHANNELS", {"teams": "firstline.channels.teams"})
            with TestClient(create_app(settings)) as client:
                app_state: Any = client.app.state  # type: ignore[attr-defined]
                yield Teams(client, fake, app_state.runtime, app_state.channels["teams"], sarah_key)
        assert fake.violations == []


def _nothing_ran(teams: Teams, before: tuple[dict[str, int], int], wait_s: float = 0.3) -> None:
    time.sleep(wait_s)  # a turn started in the background would have stored its message by now
    counts, sent = before
    assert teams.runtime.conversations.count() == counts
    assert len(teams.fake.activities) == sent


def _state(teams: Teams) -> tuple[dict[str, int], int]:
    return teams.runtime.conversations.count(), len(teams.fake.activities)


# -- authentication ------------------------------------------------------------------------------------------


BAD_TOKENS: dict[str, dict[str, Any]] = {
    "expired": {"lifetime_s": -400},  # beyond the 5 minutes' tolerance
    "not yet valid": {"not_before_s": 400},
    "wrong audience": {"audience": "another-bot"},
    "wrong issuer": {"issuer": "https://sts.windows.net/evil/"},
    "unknown key": {"kid": "nobody-published-this"},
    "forged signature": {"forged": True},
    "other serviceUrl": {"service_url": "https://attacker.example/teams/"},
}


@pytest.mark.parametrize("variant", sorted(BAD_TOKENS))
def test_a_bad_token_is_refused_and_nothing_runs(teams: Teams, variant: str) -> None:
    activity = teams.fake.message(AAD[MARCUS], "my VPN keeps dropping every few minutes")
    before = _state(teams)
    response = teams.post(activity, teams.fake.token(activity, **BAD_TOKENS[variant]))
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "Unauthenticated"
    _nothing_ran(teams, before)


@pytest.mark.parametrize("header", ["", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt"])
def test_a_missing_or_malformed_header_is_refused(teams: Teams, header: str) -> None:
    activity = teams.fake.message(AAD[MARCUS], "hello")
    before = _state(teams)
    assert teams.post(activity, header).status_code == 401
    _nothing_ran(teams, before)


def test_a_key_not_endorsed_for_the_channel_is_refused(teams: Teams) -> None:
    activity = teams.fake.message(AAD[MARCUS], "hello") | {"channelId": "slack"}
    before = _state(teams)
    assert teams.post(activity).status_code == 401
    _nothing_ran(teams, before)


def test_another_tenant_is_refused(teams: Teams) -> None:
    activity = teams.fake.message(AAD[MARCUS], "my VPN keeps dropping", tenant_id="another-tenant")
    before = _state(teams)
    response = teams.post(activity)
    assert response.status_code == 403 and response.json()["error"] == "Forbidden"
    _nothing_ran(teams, before)


def test_a_rotated_key_is_fetched_when_a_token_names_it(teams: Teams) -> None:
    fetches = teams.fake.key_fetches
    teams.fake.rotate()
    _, reply = teams.say(MARCUS, "thanks", conversation_id="a:rotation")
    assert teams.fake.key_fetches == fetches + 1 and reply.body["text"]


def test_a_token_within_the_clock_tolerance_is_accepted(teams: Teams) -> None:
    activity = teams.fake.message(AAD[MARCUS], "hello", conversation_id="a:skew")
    assert teams.post(activity, teams.fake.token(activity, lifetime_s=-120)).status_code == 202
    teams.fake.wait_for(1, activity_id=activity["id"])


# -- conversations --------------------------------------------------------------------------------------------


def test_a_linked_users_message_is_answered_in_the_conversation(teams: Teams) -> None:
    activity, reply = teams.say(MARCUS, "Outlook keeps asking for my password", conversation_id="a:outlook")
    body = reply.body
    assert reply.conversation_id == "a:outlook" and body["replyToId"] == activity["id"]
    assert body["textFormat"] == "markdown" and "OUTLOOK" in body["text"].upper()
    assert f"]({PUBLIC_URL}/kb/" in body["text"]  # the runbook behind the answer, linked
    assert teams.fake.tokens_issued == 1  # the bot's token is reused
    assert body["recipient"]["aadObjectId"] == AAD[MARCUS] and body["from"]["id"] == f"28:{APP_ID}"
    cid = teams.conversation_of("a:outlook")
    conversation = teams.runtime.conversations.get(cid)
    assert conversation.requester == MARCUS and conversation.ticket_number
    stored = teams.runtime.channels.thread("teams", "a:outlook")
    assert stored is not None and stored.reference["service_url"] == teams.fake.service_url
    assert stored.reference["tenant_id"] == TENANT and stored.reference["bot_id"] == f"28:{APP_ID}"
    # the next message continues the same conversation, and is stored before it is acknowledged
    again = teams.fake.message(AAD[MARCUS], "it started after the update this morning", conversation_id="a:outlook")
    assert teams.post(again).status_code == 202
    assert len(teams.runtime.conversations.events(cid, kinds=["user_message"])) == 2
    teams.fake.wait_for(1, activity_id=again["id"])
    assert teams.conversation_of("a:outlook") == cid
    # a retried delivery is handled once
    assert teams.post(again).status_code == 200
    time.sleep(0.3)
    assert len(teams.runtime.conversations.events(cid, kinds=["user_message"])) == 2


def test_a_failed_turn_is_told_in_the_conversation(teams: Teams, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(teams.runtime.helpdesk, "ask", broken)
    _, reply = teams.say(MARCUS, "hello?", conversation_id="a:broken")
    assert "Something went wrong on our side" in reply.body["text"]
    assert teams.runtime.channels.thread("teams", "a:broken") is None


def test_in_a_group_chat_each_person_has_their_own_conversation(teams: Teams) -> None:
    group = "19:helpdesk-group@thread.v2"
    _, to_ruby = teams.say(
        RUBY, "<at>Firstline</at> my VPN keeps dropping", conversation_id=group, conversation_type="groupChat"
    )
    _, to_sarah = teams.say(
        SARAH,
        "<at>Firstline</at> my print job is stuck on LON-F3-HP-01",
        conversation_id=group,
        conversation_type="groupChat",
    )
    assert to_ruby.conversation_id == to_sarah.conversation_id == group
    ruby = teams.runtime.conversations.get(teams.conversation_of(f"{group}#{AAD[RUBY]}"))
    sarah = teams.runtime.conversations.get(teams.conversation_of(f"{group}#{AAD[SARAH]}"))
    assert (ruby.requester, sarah.requester) == (RUBY, SARAH)
    [first] = teams.runtime.conversations.events(ruby.id, kinds=["user_message"])
    assert first.data["text"] == "my VPN keeps dropping"  # the mention is not part of the message


def test_an_unknown_user_gets_a_link_code_and_no_turn(teams: Teams) -> None:
    before = teams.runtime.conversations.count()
    # Ben's Teams display name claims to be Ruby: names never identify anyone
    activity = teams.fake.message(AAD[BEN], "I'm locked out of my account", name="Ruby Chen", conversation_id="a:ben")
    assert teams.post(activity).status_code == 202
    text = teams.fake.wait_for(1, activity_id=activity["id"])[0].body["text"]
    assert PUBLIC_URL in text
    code = text.split("**")[1]
    assert len(code) == 9 and code[4] == "-"
    assert teams.runtime.conversations.count() == before  # no turn, no conversation
    assert teams.runtime.channels.person("teams", AAD[BEN]) is None
    identity = teams.runtime.channels.confirm_link(code, BEN)  # what the signed-in web chat does with it
    assert identity.email == BEN
    teams.say(BEN, "my print job is stuck on LON-F3-HP-01", conversation_id="a:ben")
    assert teams.runtime.conversations.get(teams.conversation_of("a:ben")).requester == BEN


def test_the_code_card_round_trip(teams: Teams) -> None:
    _, reply = teams.say(RUBY, "I'm locked out of my account", conversation_id="a:ruby")
    [attachment] = reply.body["attachments"]
    assert attachment["contentType"] == CARD and attachment["content"]["version"] >= "1.4"
    inputs = [item for item in attachment["content"]["body"] if item["type"] == "Input.Text"]
    assert [i["id"] for i in inputs] == ["code"]
    titles = [(a["type"], a["title"]) for a in attachment["content"]["actions"]]
    assert titles == [("Action.Submit", "Submit"), ("Action.Submit", "Send a new code")]
    sent = len(teams.runtime.outbox.messages(RUBY))
    _, again = teams.say(RUBY, value={"firstline": "resend"}, reply_to=reply.new_id, conversation_id="a:ruby")
    assert len(teams.runtime.outbox.messages(RUBY)) == sent + 1 and again.body["text"]
    code = teams.runtime.outbox.messages(RUBY)[0]["code"]  # newest first
    _, done = teams.say(
        RUBY, value={"firstline": "code", "code": code}, reply_to=again.new_id, conversation_id="a:ruby"
    )
    assert "unlocked" in done.body["text"] and "attachments" not in done.body
    number = teams.runtime.conversations.get(teams.conversation_of("a:ruby")).ticket_number
    assert number and teams.runtime.tickets.get(number).state.value == "resolved"


# -- approvals ------------------------------------------------------------------------------------------------


def _lost_phone(teams: Teams, conversation: str) -> str:
    """Marcus reports his lost phone in Teams (proving who he is, naming the device when asked); the approval's id."""
    _, reply = teams.say(MARCUS, LOST_PHONE, conversation_id=conversation)
    for _ in range(3):
        pending = teams.runtime.conversations.approvals("pending", conversation_id=teams.conversation_of(conversation))
        if pending:
            return pending[0].id
        if reply.body.get("attachments"):  # the code card: the code arrived on his phone
            answer = teams.runtime.outbox.messages(MARCUS)[0]["code"]  # newest first
        else:
            assert "Which device" in reply.body["text"], reply.body
            answer = "NW-M-0158"
        _, reply = teams.say(MARCUS, answer, conversation_id=conversation)
    raise AssertionError(f"no approval after three answers: {reply.body}")


@pytest.fixture(scope="module")
def agents_in_teams(teams: Teams) -> None:
    """Sarah and Ravi have a personal chat with the bot (they said hello), so cards can reach them."""
    for agent in (SARAH, RAVI):
        teams.say(agent, "hello", conversation_id=f"a:personal-{AAD[agent]}")


def _cards(teams: Teams, approval_id: str, count: int = 2) -> dict[str, Posted]:
    def for_this(posted: Posted) -> bool:
        attachments = posted.body.get("attachments") or [{}]
        actions = attachments[0].get("content", {}).get("actions") or [{}]
        return bool(actions[0].get("data", {}).get("approval") == approval_id)

    mine = teams.fake.wait_for(count, method="POST", activity_id=None, match=for_this)
    assert len(mine) == count, mine
    return {p.body["recipient"]["aadObjectId"]: p for p in mine}


def _invoke(teams: Teams, who: str, card: Posted, approval_id: str, verb: str, reason: str = "") -> dict[str, Any]:
    data = {"firstline": "approval", "approval": approval_id, "decision": verb, "reason": reason}
    activity = teams.fake.invoke(AAD[who], data, verb, card.new_id, conversation_id=card.conversation_id)
    response = teams.post(activity)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_approval_cards_reach_agents_and_are_decided_once(teams: Teams, agents_in_teams: None) -> None:
    approval_id = _lost_phone(teams, "a:phone-1")
    cards = _cards(teams, approval_id)
    assert set(cards) == {AAD[SARAH], AAD[RAVI]}
    card = cards[AAD[SARAH]].body["attachments"][0]["content"]
    assert card["version"] == "1.4" and [a["verb"] for a in card["actions"]] == ["approve", "deny"]
    assert all(a["type"] == "Action.Execute" and a["fallback"]["type"] == "Action.Submit" for a in card["actions"])
    # an employee clicking (the requester himself, or another) is refused; the approval stays pending
    mine = _invoke(teams, MARCUS, cards[AAD[SARAH]], approval_id, "approve")
    assert "own request" in mine["value"]
    teams.runtime.channels.link("teams", "aad-ben-phone", BEN, "test")
    activity = teams.fake.invoke(
        "aad-ben-phone",
        {"firstline": "approval", "approval": approval_id, "decision": "approve"},
        "approve",
        cards[AAD[SARAH]].new_id,
    )
    ben = teams.post(activity).json()
    assert "Only the IT team" in ben["value"]
    denied = _invoke(teams, SARAH, cards[AAD[SARAH]], approval_id, "deny")  # a denial needs a reason
    assert "reason" in denied["value"]
    assert teams.runtime.conversations.approval(approval_id).status == "pending"
    outcome = _invoke(teams, SARAH, cards[AAD[SARAH]], approval_id, "approve", "reported lost")
    assert outcome["type"] == CARD and "Approved" in str(outcome["value"]) and "actions" not in outcome["value"]
    record = teams.runtime.conversations.approval(approval_id)
    assert (record.status, record.decided_by) == ("approved", SARAH)
    # the employee hears of it in his Teams conversation; Ravi's card shows the outcome
    told = teams.fake.wait_for(1, method="POST", conversation_id="a:phone-1", activity_id=None)
    assert told[0].body["text"]
    ravi_card = cards[AAD[RAVI]]
    updated = teams.fake.wait_for(1, method="PUT", activity_id=ravi_card.new_id)[0]
    assert "Approved" in str(updated.body["attachments"][0]["content"]) and SARAH in str(updated.body)
    # Ravi clicks his old card through the Action.Submit path: told who decided first
    value = {"firstline": "approval", "approval": approval_id, "decision": "deny", "reason": "no"}
    activity = teams.fake.message(
        AAD[RAVI], value=value, reply_to=ravi_card.new_id, conversation_id=ravi_card.conversation_id
    )
    assert teams.post(activity).status_code == 202
    teams.fake.wait_for(
        1,
        conversation_id=ravi_card.conversation_id,
        match=lambda p: f"already approved by {SARAH}" in p.body.get("text", ""),
    )
    assert teams.runtime.conversations.approval(approval_id).status == "approved"


def test_an_approval_denied_from_a_submit_card(teams: Teams, agents_in_teams: None) -> None:
    approval_id = _lost_phone(teams, "a:phone-2")
    cards = _cards(teams, approval_id)
    ravi = cards[AAD[RAVI]]
    value = {"firstline": "approval", "approval": approval_id, "decision": "deny", "reason": "found on the desk"}
    activity = teams.fake.message(AAD[RAVI], value=value, reply_to=ravi.new_id, conversation_id=ravi.conversation_id)
    assert teams.post(activity).status_code == 202
    updated = teams.fake.wait_for(1, method="PUT", activity_id=ravi.new_id)[0]
    assert "Denied" in str(updated.body) and "found on the desk" in str(updated.body)
    record = teams.runtime.conversations.approval(approval_id)
    assert (record.status, record.decided_by, record.reason) == ("denied", RAVI, "found on the desk")
    told = teams.fake.wait_for(1, method="POST", conversation_id="a:phone-2", activity_id=None)
    assert told[0].body["text"]


# -- proactive messages ---------------------------------------------------------------------------------------


def test_a_vendor_update_reaches_the_teams_conversation(teams: Teams) -> None:
    teams.say(RUBY, "The printer LON-F2-HP-02 says paper jam", conversation_id="a:printer")
    cid = teams.conversation_of("a:printer")
    ticket = teams.runtime.tickets.get(teams.runtime.conversations.get(cid).ticket_number or "")
    comment = RemoteComment(
        "c1", "tomasz.nowicki@nwmeridian.co.uk", "A new drum is on its way.", True, datetime.now(UTC)
    )
    TellRequester(teams.runtime.conversations)(RemoteChangeEvent(ticket, "servicenow", {}, comment))
    told = teams.fake.wait_for(1, method="POST", conversation_id="a:printer", activity_id=None)[0]
    assert "A new drum is on its way." in told.body["text"] and told.body["textFormat"] == "markdown"


def test_time_from_a_teams_card_click_to_the_employee(teams: Teams, agents_in_teams: None) -> None:
    """An agent approves on the card in Teams; how long until the employee's Teams conversation is told."""
    waits = []
    for run in range(10):
        approval_id = _lost_phone(teams, "a:clicked")
        card = _cards(teams, approval_id)[AAD[SARAH]]
        started = time.monotonic()
        outcome = _invoke(teams, SARAH, card, approval_id, "approve", "clicked")
        assert outcome["type"] == CARD
        told = teams.fake.wait_for(run + 1, method="POST", conversation_id="a:clicked", activity_id=None)
        waits.append(told[run].at - started)
    p50, p95 = statistics.median(waits), statistics.quantiles(waits, n=20)[18]
    print(f"\nTeams: agent's card click -> proactive activity: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
    assert p95 < 10.0


def test_time_from_an_agents_decision_to_teams(teams: Teams, agents_in_teams: None) -> None:
    """An agent approves in the console; how long until the employee's Teams conversation is told (p50/p95)."""
    waits = []
    for run in range(20):
        approval_id = _lost_phone(teams, "a:timed")
        started = time.monotonic()
        response = teams.client.post(
            f"/v1/approvals/{approval_id}/approve",
            json={"reason": "timed"},
            headers={"Authorization": f"Bearer {teams.sarah_key}"},
        )
        assert response.status_code == 200, response.text
        told = teams.fake.wait_for(run + 1, method="POST", conversation_id="a:timed", activity_id=None)
        assert len(told) == run + 1 and told[run].body["text"]
        waits.append(told[run].at - started)
    quantiles = statistics.quantiles(waits, n=20)
    p50, p95 = statistics.median(waits), quantiles[18]
    print(
        f"\nTeams: agent's approval -> proactive activity at the connector: p50 {p50 * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms over {len(waits)} runs"
    )
    assert p95 < 10.0
