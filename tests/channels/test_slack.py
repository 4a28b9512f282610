"""The Slack channel end to end: signed HTTP requests to the real app, the Web API faked on 127.0.0.1.

Events are built as Slack sends them and validated against Slack's event-wrapper schemas
(``firstline.testing.slack_fake.event_callback``); every Web API call the app makes is checked against
Slack's OpenAPI description by the fake (a violation fails the module). The app is
``create_app(settings)`` with ``[channels.slack]`` on, its registry narrowed to Slack so these tests do
not depend on the other channels' modules.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient

from firstline.channels import registry
from firstline.channels.slack_blocks import APPROVE, CODE_CALLBACK, CODE_INPUT, DENY, ENTER_CODE, NEW_CODE
from firstline.channels.slack_channel import SlackChannel
from firstline.runtime import Runtime
from firstline.service.app import create_app
from firstline.settings import load_settings
from firstline.testing.live import UNLIMITED, clean_environment, seed_accounts
from firstline.testing.openapi_check import specs_available
from firstline.testing.slack_fake import BOT_TOKEN, Call, SlackFake, event_callback, signed_headers

pytestmark = pytest.mark.skipif(not specs_available(), reason="the vendor specs in ../shared/specs are missing")

SECRET = "slack-signing-secret-for-tests-only"
PUBLIC_URL = "https://help.nwmeridian.example"
BOT = "UBOT00001"
RUBY, MARCUS, BEN = "ruby.chen@nwmeridian.co.uk", "marcus.bell@nwmeridian.co.uk", "ben.carter@nwmeridian.co.uk"
SARAH, RAVI = "sarah.lindqvist@nwmeridian.co.uk", "ravi.chandran@nwmeridian.co.uk"
USERS = {RUBY: "URUBY0001", MARCUS: "UMARCUS01", SARAH: "USARAH001", RAVI: "URAVI0001", BEN: "UBEN00001"}
LINKED = (RUBY, MARCUS, SARAH, RAVI)  # Ben starts unlinked
LOST_PHONE = "I lost my work iPhone on the train home last night"


@dataclass
class Slack:
    client: TestClient
    fake: SlackFake
    runtime: Runtime
    channel: SlackChannel
    accounts: dict[str, tuple[str, str]]
    sarah_key: str
    clock: int = 0

    def deliver(self, payload: dict[str, Any], secret: str = SECRET, **headers: str) -> httpx.Response:
        body = json.dumps(payload).encode()
        sent = {"Content-Type": "application/json", **signed_headers(secret, body), **headers}
        return self.client.post("/slack/events", content=body, headers=sent)

    def next_ts(self) -> str:
        self.clock += 1
        return f"{int(time.time()):010d}.{self.clock:06d}"

    def dm(self, who: str, text: str, thread_ts: str | None = None, **extra: Any) -> dict[str, Any]:
        """An Events API delivery of ``who`` writing ``text`` to the app in their direct message."""
        user = USERS[who]
        event = {"type": "message", "channel_type": "im", "channel": "D" + user[1:], "user": user, "text": text,
                 "ts": self.next_ts(), **({"thread_ts": thread_ts} if thread_ts else {}), **extra}  # fmt: skip
        return event_callback(event, bot_user=BOT)

    def say(self, who: str, text: str, thread_ts: str | None = None) -> tuple[dict[str, Any], Call]:
        """``who`` writes in a direct message (a new thread, or ``thread_ts``); the app's reply in that thread."""
        payload = self.dm(who, text, thread_ts)
        where = thread_ts or payload["event"]["ts"]
        # counted before delivering: the app may answer before the delivery's response is read
        before = len([c for c in self.fake.calls if c.params.get("thread_ts") == where])
        response = self.deliver(payload)
        assert response.status_code == 200, response.text
        reply = self.fake.wait_for("chat.postMessage", before + 1, thread_ts=where)[-1]
        return payload, reply

    def interact(self, payload: dict[str, Any], secret: str = SECRET) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(secret, body)}
        return self.client.post("/slack/interactivity", content=body, headers=headers)

    def press(self, who: str, action_id: str, value: str, message: Call) -> httpx.Response:
        """``who`` presses a button of the app's ``message`` (a block_actions payload as Slack sends it)."""
        channel, ts = message.channel, message.ts
        return self.interact({
            "type": "block_actions", "user": {"id": who, "username": "someone", "team_id": "T0FIRSTLN"},
            "api_app_id": "A0FIRSTLN", "token": "legacy", "trigger_id": f"trig-{self.next_ts()}",
            "team": {"id": "T0FIRSTLN", "domain": "nwmeridian"},
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
            "channel": {"id": channel, "name": "directmessage"}, "message": {"type": "message", "ts": ts},
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                         "action_ts": self.next_ts()}],
        })  # fmt: skip

    def submit_code(self, who: str, view: dict[str, Any], code: str) -> httpx.Response:
        return self.interact({
            "type": "view_submission", "user": {"id": who}, "team": {"id": "T0FIRSTLN"}, "api_app_id": "A0FIRSTLN",
            "view": {"id": "V0CODE", "type": "modal", "callback_id": view["callback_id"],
                     "private_metadata": view["private_metadata"],
                     "state": {"values": {CODE_INPUT: {CODE_INPUT: {"type": "plain_text_input", "value": code}}}}},
        })  # fmt: skip

    def conversation_of(self, channel: str, thread_ts: str) -> str:
        thread = self.runtime.channels.thread("slack", f"{channel}:{thread_ts}")
        assert thread is not None
        return thread.conversation_id

    def kinds(self, cid: str) -> list[str]:
        return [e.kind for e in self.runtime.conversations.events(cid)]


@pytest.fixture(scope="module")
def slack(tmp_path_factory: pytest.TempPathFactory, _session_cache: Path) -> Iterator[Slack]:
    fake = SlackFake()
    with clean_environment(_session_cache):
        fake.start()
        try:
            section = {"enabled": True, "signing_secret": SECRET, "bot_token": BOT_TOKEN, "api_url": fake.url,
                       "retry_backoff_s": 0.05}  # fmt: skip
            settings = load_settings(
                data_dir=Path(tmp_path_factory.mktemp("slack-data")),
                service={**UNLIMITED, "public_url": PUBLIC_URL},
                channels={"slack": section},
                security={"code_max_sends": 50},  # Marcus proves who he is two dozen times below
            )
            accounts = seed_accounts(settings)
            with Runtime(settings) as runtime:
                for email in LINKED:
                    runtime.channels.link("slack", USERS[email], email, "test fixture")
                sarah_key = runtime.accounts.create_key("sarah-console", "agent", SARAH)[0]
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(registry, "CHANNELS", {"slack": "firstline.channels.slack"})
                with TestClient(create_app(settings)) as client:
                    state: Any = client.app.state  # type: ignore[attr-defined]
                    yield Slack(client, fake, state.runtime, state.channels["slack"], accounts, sarah_key)
        finally:
            fake.stop()
    assert fake.server.violations == []


def _quiet(slack: Slack) -> tuple[dict[str, int], int]:
    assert slack.channel.wait_idle(30)
    return slack.runtime.conversations.count(), len(slack.fake.calls)


# -- signatures and url_verification ------------------------------------------------------------------------

BAD = {
    "wrong secret": lambda body: signed_headers("not-the-secret", body),
    "stale (5 min + 1 s)": lambda body: signed_headers(SECRET, body, int(time.time()) - 301),
    "from the future": lambda body: signed_headers(SECRET, body, int(time.time()) + 302),
    "other body": lambda body: signed_headers(SECRET, body + b" "),
    "no signature": lambda body: {"X-Slack-Request-Timestamp": str(int(time.time()))},
    "not a number": lambda body: {**signed_headers(SECRET, body), "X-Slack-Request-Timestamp": "soon"},
}


@pytest.mark.parametrize("variant", sorted(BAD))
def test_a_badly_signed_event_is_refused_and_nothing_runs(slack: Slack, variant: str) -> None:
    before = _quiet(slack)
    body = json.dumps(slack.dm(MARCUS, "my VPN keeps dropping every few minutes")).encode()
    response = slack.client.post("/slack/events", content=body, headers={"Content-Type": "application/json",
                                                                        **BAD[variant](body)})  # fmt: skip
    assert response.status_code == 401, response.text
    assert _quiet(slack) == before


def test_an_interaction_with_a_bad_signature_is_refused(slack: Slack) -> None:
    before = _quiet(slack)
    response = slack.interact({"type": "block_actions", "user": {"id": USERS[SARAH]}, "actions": []}, "forged")
    assert response.status_code == 401
    assert _quiet(slack) == before


def test_url_verification_is_answered_with_the_challenge(slack: Slack) -> None:
    challenge = {"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                 "type": "url_verification"}  # fmt: skip
    response = slack.deliver(challenge)
    assert response.status_code == 200 and response.json() == {"challenge": challenge["challenge"]}
    assert slack.deliver(challenge, secret="forged").status_code == 401


def test_signed_nonsense_gets_a_clear_error_and_breaks_nothing(slack: Slack) -> None:
    before = _quiet(slack)
    body = b'{"type": "event_callback", "event": '
    broken = slack.client.post("/slack/events", content=body, headers={"Content-Type": "application/json",
                                                                      **signed_headers(SECRET, body)})  # fmt: skip
    assert broken.status_code == 422 and "not JSON" in broken.json()["detail"]
    form = b"payload=%7Bnot-json"
    odd = slack.client.post("/slack/interactivity", content=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", **signed_headers(SECRET, form)})  # fmt: skip
    assert odd.status_code == 422 and "payload" in odd.json()["detail"]
    strange = slack.interact({"type": "block_actions", "user": "U1", "actions": ["x", {"action_id": APPROVE}]})
    assert strange.status_code == 200  # shapes Slack never sends: ignored, nothing decided
    assert _quiet(slack) == before


# -- messages -----------------------------------------------------------------------------------------------


def test_a_linked_user_is_answered_in_the_thread_of_their_message(slack: Slack) -> None:
    payload, reply = slack.say(MARCUS, "my VPN keeps dropping every few minutes")
    event = payload["event"]
    assert reply.params["channel"] == event["channel"] and reply.params["thread_ts"] == event["ts"]
    cid = slack.conversation_of(event["channel"], event["ts"])
    conversation = slack.runtime.conversations.get(cid)
    assert conversation.requester == MARCUS and conversation.channel == "slack" and conversation.ticket_number
    stored = [e.data["text"] for e in slack.runtime.conversations.events(cid, kinds=["assistant_message"])]
    assert stored and "**" not in reply.params["text"] and reply.blocks[0]["type"] == "section"
    _follow, again = slack.say(MARCUS, "it drops on the office Wi-Fi too", thread_ts=event["ts"])
    assert slack.conversation_of(event["channel"], event["ts"]) == cid  # one thread, one conversation
    assert slack.kinds(cid).count("user_message") == 2 and again.params["thread_ts"] == event["ts"]


def test_a_mention_in_a_channel_is_answered_in_its_thread_and_the_thread_is_followed(slack: Slack) -> None:
    ts = slack.next_ts()
    mention = {"type": "app_mention", "channel": "C0ITHELP1", "user": USERS[RUBY], "ts": ts,
               "text": f"<@{BOT}> Outlook keeps asking for my password"}  # fmt: skip
    assert slack.deliver(event_callback(mention, bot_user=BOT)).status_code == 200
    first = slack.fake.wait_for("chat.postMessage", 1, thread_ts=ts)[0]
    assert first.params["channel"] == "C0ITHELP1"
    cid = slack.conversation_of("C0ITHELP1", ts)
    assert slack.runtime.conversations.events(cid, kinds=["user_message"])[0].data["text"] == (
        "Outlook keeps asking for my password")  # fmt: skip
    reply_ts = slack.next_ts()  # a reply in the thread arrives as a message and, mentioning the app, as app_mention
    plain = {"type": "message", "channel_type": "channel", "channel": "C0ITHELP1", "user": USERS[RUBY],
             "ts": reply_ts, "thread_ts": ts, "text": f"<@{BOT}> it started after the update"}  # fmt: skip
    assert slack.deliver(event_callback(plain, bot_user=BOT)).status_code == 200
    assert slack.deliver(event_callback({**plain, "type": "app_mention"}, bot_user=BOT)).status_code == 200
    slack.fake.wait_for("chat.postMessage", 2, thread_ts=ts)
    _quiet(slack)
    assert slack.kinds(cid).count("user_message") == 2
    elsewhere = {**plain, "ts": slack.next_ts(), "thread_ts": slack.next_ts(), "text": "lunch anyone?"}
    before = _quiet(slack)
    assert slack.deliver(event_callback(elsewhere, bot_user=BOT)).status_code == 200
    assert _quiet(slack) == before  # a thread the help desk is not in: not ours to answer


def test_someone_else_in_the_thread_does_not_join_the_conversation(slack: Slack) -> None:
    ts = slack.next_ts()
    mention = {"type": "app_mention", "channel": "C0ITHELP1", "user": USERS[RUBY], "ts": ts,
               "text": f"<@{BOT}> the printer LON-F2-HP-02 says paper jam"}  # fmt: skip
    slack.deliver(event_callback(mention, bot_user=BOT))
    slack.fake.wait_for("chat.postMessage", 1, thread_ts=ts)
    cid = slack.conversation_of("C0ITHELP1", ts)
    marcus = {**mention, "user": USERS[MARCUS], "ts": slack.next_ts(), "thread_ts": ts,
              "text": f"<@{BOT}> what is on Ruby's ticket?"}  # fmt: skip
    slack.deliver(event_callback(marcus, bot_user=BOT))
    told = slack.fake.wait_for("chat.postMessage", 2, thread_ts=ts)[-1]
    assert "someone else's request" in told.params["text"]
    assert slack.kinds(cid).count("user_message") == 1


@pytest.mark.parametrize(
    "change",
    [
        {"bot_id": "B0OTHER01"},
        {"subtype": "message_changed"},
        {"subtype": "channel_join"},
        {"user": BOT},
    ],
    ids=["a bot", "an edit", "a join", "our own message"],
)
def test_bots_edits_and_other_subtypes_are_ignored(slack: Slack, change: dict[str, str]) -> None:
    payload = slack.dm(MARCUS, "my VPN keeps dropping every few minutes", **change)
    before = _quiet(slack)
    assert slack.deliver(payload).status_code == 200
    assert _quiet(slack) == before


def test_a_retried_event_is_handled_once(slack: Slack) -> None:
    payload = slack.dm(MARCUS, "Excel crashes when I open a file")
    assert slack.deliver(payload).status_code == 200
    again = slack.deliver(payload, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert again.status_code == 200
    _quiet(slack)
    event = payload["event"]
    cid = slack.conversation_of(event["channel"], event["ts"])
    assert slack.kinds(cid).count("user_message") == 1
    assert len([c for c in slack.fake.calls if c.params.get("thread_ts") == event["ts"]]) == 1


def test_slack_is_answered_at_once_while_the_turn_takes_longer(slack: Slack, monkeypatch: pytest.MonkeyPatch) -> None:
    desk = slack.runtime.helpdesk
    real = desk.ask

    async def slow_after(*args: Any, **kwargs: Any) -> Any:  # the message is stored, then the turn drags on
        reply = await real(*args, **kwargs)
        await asyncio.sleep(4.0)
        return reply

    async def slow_before(*args: Any, **kwargs: Any) -> Any:  # nothing stored for 4 s (a saturated worker)
        await asyncio.sleep(4.0)
        return await real(*args, **kwargs)

    for slow, stored_at_ack in ((slow_after, True), (slow_before, False)):
        monkeypatch.setattr(desk, "ask", slow)
        payload = slack.dm(MARCUS, "my laptop is very slow since this morning")
        started = time.perf_counter()
        response = slack.deliver(payload)
        acked = time.perf_counter() - started
        assert response.status_code == 200 and acked < 3.0, acked
        cid = slack.conversation_of(payload["event"]["channel"], payload["event"]["ts"])
        assert ("user_message" in slack.kinds(cid)) is stored_at_ack
        reply = slack.fake.wait_for("chat.postMessage", 1, thread_ts=payload["event"]["ts"])[0]
        assert reply.at - started >= 4.0  # the turn really outlived the answer to Slack
    monkeypatch.undo()


# -- identity ------------------------------------------------------------------------------------------------


def test_an_unknown_user_gets_a_link_code_and_no_turn_until_linked(slack: Slack) -> None:
    before = slack.runtime.conversations.count()
    # The event carries a profile that claims to be an IT agent: it must not matter.
    profile = {"user_profile": {"real_name": "Sarah Lindqvist", "display_name": "sarah", "name": SARAH}}
    payload = slack.dm(BEN, "please reset my password", **profile)
    assert slack.deliver(payload).status_code == 200
    told = slack.fake.wait_for("chat.postMessage", 1, thread_ts=payload["event"]["ts"])[0]
    assert PUBLIC_URL in told.params["text"] and told.params["channel"] == payload["event"]["channel"]
    _quiet(slack)
    assert slack.runtime.conversations.count() == before  # no conversation, no turn
    assert slack.runtime.channels.person("slack", USERS[BEN]) is None
    ts = slack.next_ts()  # in a channel, the code is shown to Ben alone: whoever enters it becomes "Ben"
    mention = {"type": "app_mention", "channel": "C0ITHELP1", "user": USERS[BEN], "ts": ts,
               "text": f"<@{BOT}> please reset my password"}  # fmt: skip
    assert slack.deliver(event_callback(mention, bot_user=BOT)).status_code == 200
    private = slack.fake.wait_for("chat.postEphemeral", 1, user=USERS[BEN])[-1]
    assert private.params["thread_ts"] == ts and "link code" in private.params["text"]
    _quiet(slack)
    assert not [c for c in slack.fake.calls if c.method == "chat.postMessage" and c.params.get("thread_ts") == ts]
    code = told.params["text"].split("link code ")[1].split(" ")[0]
    email, password = slack.accounts["requester3"]
    web = slack.client
    assert web.post("/v1/auth/login", json={"email": email, "password": password}).status_code == 200
    linked = web.post("/v1/me/links", json={"code": code}, headers={"X-Requested-With": "firstline"})
    web.cookies.clear()
    assert linked.status_code == 201, linked.text
    assert slack.runtime.channels.person("slack", USERS[BEN]) == BEN
    payload, _reply = slack.say(BEN, "please reset my password")
    cid = slack.conversation_of(payload["event"]["channel"], payload["event"]["ts"])
    assert slack.runtime.conversations.get(cid).requester == BEN and "user_message" in slack.kinds(cid)


# -- the code prompt -----------------------------------------------------------------------------------------


def _code_prompt(reply: Call) -> dict[str, str]:
    buttons = {e["action_id"]: e["value"] for b in reply.blocks if b["type"] == "actions" for e in b["elements"]}
    assert set(buttons) == {ENTER_CODE, NEW_CODE}, reply.blocks
    return buttons


def test_the_code_modal_round_trip_unlocks_ruby(slack: Slack) -> None:
    payload, reply = slack.say(RUBY, "I'm locked out of my account")
    thread = payload["event"]["ts"]
    cid = slack.conversation_of(payload["event"]["channel"], thread)
    assert _code_prompt(reply)[ENTER_CODE] == cid
    assert slack.press(USERS[MARCUS], ENTER_CODE, cid, reply).status_code == 200  # not Marcus's conversation
    assert "someone else's" in slack.fake.wait_for("chat.postEphemeral", 1, user=USERS[MARCUS])[-1].params["text"]
    assert slack.press(USERS[RUBY], ENTER_CODE, cid, reply).status_code == 200
    opened = slack.fake.wait_for("views.open", 1)[-1]
    view = json.loads(opened.params["view"])
    assert view["callback_id"] == CODE_CALLBACK and opened.params["trigger_id"].startswith("trig-")
    wrong = slack.submit_code(USERS[RUBY], view, "12")
    assert wrong.json()["response_action"] == "errors" and CODE_INPUT in wrong.json()["errors"]
    sent = len(slack.runtime.outbox.messages(RUBY))
    assert slack.press(USERS[RUBY], NEW_CODE, cid, reply).status_code == 200
    slack.fake.wait_for("chat.postMessage", 2, thread_ts=thread)
    assert len(slack.runtime.outbox.messages(RUBY)) == sent + 1  # a new code went out
    code = slack.runtime.outbox.messages(RUBY)[0]["code"]
    done = slack.submit_code(USERS[RUBY], view, code)
    assert done.status_code == 200 and done.content == b""  # an empty answer closes the modal
    final = slack.fake.wait_for("chat.postMessage", 3, thread_ts=thread)[-1]
    assert "unlocked" in final.params["text"]
    ticket = slack.runtime.conversations.get(cid).ticket_number
    assert ticket and slack.runtime.tickets.get(ticket).state.value == "resolved"
    assert all(code not in json.dumps(e.data) for e in slack.runtime.conversations.events(cid))


# -- approvals and what happens later --------------------------------------------------------------------------


def _lost_phone(slack: Slack) -> tuple[str, str, str]:
    """Marcus reports a lost phone in Slack, proves who he is through the code modal and names the device when
    asked; (approval id, conversation, thread ts)."""
    payload, reply = slack.say(MARCUS, LOST_PHONE)
    thread = payload["event"]["ts"]
    cid = slack.conversation_of(payload["event"]["channel"], thread)
    for _ in range(3):
        pending = slack.runtime.conversations.approvals("pending", cid)
        if pending:
            return pending[0].id, cid, thread
        posted = len([c for c in slack.fake.calls if c.params.get("thread_ts") == thread])
        if any(b["type"] == "actions" for b in reply.blocks):  # the code prompt: the code is on his phone
            assert _code_prompt(reply)[ENTER_CODE] == cid
            opened = len(slack.fake.wait_for("views.open", 0))
            assert slack.press(USERS[MARCUS], ENTER_CODE, cid, reply).status_code == 200
            view = json.loads(slack.fake.wait_for("views.open", opened + 1)[-1].params["view"])
            code = slack.runtime.outbox.messages(MARCUS)[0]["code"]  # newest first
            assert slack.submit_code(USERS[MARCUS], view, code).status_code == 200
            reply = slack.fake.wait_for("chat.postMessage", posted + 1, thread_ts=thread)[-1]
        else:
            assert "Which device" in reply.params["text"], reply.params
            _, reply = slack.say(MARCUS, "NW-M-0158", thread_ts=thread)
    raise AssertionError(f"no approval after three answers: {reply.params}")


def _approval_messages(slack: Slack, approval_id: str) -> dict[str, Call]:
    """The approval's message to each decider, by Slack user (DM channel ``D`` + the user id's rest)."""
    calls = slack.fake.wait_for("chat.postMessage", 2, timeout=30)
    mine = [c for c in calls if any(e.get("value") == approval_id for b in c.blocks for e in b.get("elements", []))]
    found = {c.params["channel"]: c for c in mine}  # sent to the user id: Slack opens the direct message
    assert set(found) >= {USERS[SARAH], USERS[RAVI]}, found.keys()
    return found


def test_approval_buttons_decide_once_and_every_message_shows_it(slack: Slack) -> None:
    approval_id, _cid, thread = _lost_phone(slack)
    messages = _approval_messages(slack, approval_id)
    assert set(messages) == {USERS[SARAH], USERS[RAVI]}  # agents with Slack; not Marcus or Ruby
    sarahs = messages[USERS[SARAH]]
    for who in (USERS[RUBY], "UNOBODY01"):  # an employee; a Slack user nobody verified
        assert slack.press(who, APPROVE, approval_id, sarahs).status_code == 200
        slack.fake.wait_for("chat.postEphemeral", 1, user=who)
    assert slack.runtime.conversations.approval(approval_id).status == "pending"
    assert slack.press(USERS[MARCUS], APPROVE, approval_id, sarahs).status_code == 200  # his own request
    assert "own request" in slack.fake.wait_for("chat.postEphemeral", 1, user=USERS[MARCUS])[-1].params["text"]
    replies = len([c for c in slack.fake.calls if c.params.get("thread_ts") == thread])
    assert slack.press(USERS[SARAH], APPROVE, approval_id, sarahs).status_code == 200
    record = slack.runtime.conversations.approval(approval_id)
    assert (record.status, record.decided_by) == ("approved", SARAH)
    for user, message in messages.items():
        update = slack.fake.wait_for("chat.update", 1, ts=message.ts)[-1]
        assert f"Approved by {SARAH}" in update.params["text"] and len(update.blocks) == 1, user
    told = slack.fake.wait_for("chat.postMessage", replies + 1, thread_ts=thread)[-1]  # the employee hears of it
    assert told.params["channel"] == "D" + USERS[MARCUS][1:]
    ravis = messages[USERS[RAVI]]
    assert slack.press(USERS[RAVI], DENY, approval_id, ravis).status_code == 200
    late = slack.fake.wait_for("chat.update", 2, ts=ravis.ts)[-1]
    assert f"{SARAH} decided it first" in late.params["text"]
    assert slack.runtime.conversations.approval(approval_id).status == "approved"


def test_a_denial_in_the_console_updates_slack_and_tells_the_employee(slack: Slack) -> None:
    approval_id, _cid, thread = _lost_phone(slack)
    messages = _approval_messages(slack, approval_id)
    replies = len([c for c in slack.fake.calls if c.params.get("thread_ts") == thread])
    response = slack.client.post(f"/v1/approvals/{approval_id}/deny", json={"reason": "the phone was found"},
                                 headers={"Authorization": f"Bearer {slack.sarah_key}"})  # fmt: skip
    assert response.status_code == 200, response.text
    for message in messages.values():
        update = slack.fake.wait_for("chat.update", 1, ts=message.ts)[-1]
        assert "Denied by" in update.params["text"] and "the phone was found" in update.params["text"]
    slack.fake.wait_for("chat.postMessage", replies + 1, thread_ts=thread)


def test_an_agents_public_comment_reaches_the_slack_thread(slack: Slack) -> None:
    payload, _ = slack.say(MARCUS, "The printer LON-F2-HP-02 says paper jam")
    thread = payload["event"]["ts"]
    cid = slack.conversation_of(payload["event"]["channel"], thread)
    ticket = slack.runtime.conversations.get(cid).ticket_number
    response = slack.client.post(f"/v1/tickets/{ticket}/comments", json={"body": "A new **drum** is on its way."},
                                 headers={"Authorization": f"Bearer {slack.sarah_key}"})  # fmt: skip
    assert response.status_code == 201, response.text
    told = slack.fake.wait_for("chat.postMessage", 2, thread_ts=thread)[-1]
    assert "A new *drum* is on its way." in told.params["text"]
    internal = slack.client.post(f"/v1/tickets/{ticket}/comments", json={"body": "toner low", "internal": True},
                                 headers={"Authorization": f"Bearer {slack.sarah_key}"})  # fmt: skip
    assert internal.status_code == 201
    _quiet(slack)
    assert not any("toner" in c.params.get("text", "") for c in slack.fake.calls)


def test_a_slack_outage_is_retried_and_an_error_is_not(slack: Slack) -> None:
    slack.fake.fail_next(2, status=503)
    slack.fake.fail_next(1, status=429, retry_after=0.2)
    payload, reply = slack.say(MARCUS, "Teams calls keep dropping")
    assert reply.params["thread_ts"] == payload["event"]["ts"]  # delivered after two 503s and a 429
    slack.fake.error_next("channel_not_found")
    before = len(slack.fake.calls)
    payload = slack.dm(MARCUS, "and my headset crackles")
    assert slack.deliver(payload).status_code == 200
    _quiet(slack)
    cid = slack.conversation_of(payload["event"]["channel"], payload["event"]["ts"])
    assert "assistant_message" in slack.kinds(cid)  # the reply is kept in the conversation
    assert len(slack.fake.calls) == before  # refused once, not retried


def test_time_from_an_agents_decision_to_slack(slack: Slack) -> None:
    """An agent approves in the console; how long until the employee's Slack thread is told (p50/p95)."""
    waits = []
    for _ in range(20):
        approval_id, _cid, thread = _lost_phone(slack)
        replies = len([c for c in slack.fake.calls if c.params.get("thread_ts") == thread])
        started = time.perf_counter()
        response = slack.client.post(f"/v1/approvals/{approval_id}/approve", json={"reason": "timed"},
                                     headers={"Authorization": f"Bearer {slack.sarah_key}"})  # fmt: skip
        assert response.status_code == 200, response.text
        told = slack.fake.wait_for("chat.postMessage", replies + 1, thread_ts=thread)[-1]
        waits.append(told.at - started)
    p50, p95 = statistics.median(waits), statistics.quantiles(waits, n=20)[18]
    print(f"\nSlack: agent's approval -> chat.postMessage at the fake: p50 {p50 * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms over {len(waits)} runs")  # fmt: skip
    assert p95 < 10.0


def test_time_from_an_agents_comment_to_slack(slack: Slack) -> None:
    """An agent comments on the ticket in the console; how long until the Slack thread shows it (p50/p95)."""
    payload, _ = slack.say(MARCUS, "The printer LON-F2-HP-03 is offline")
    thread = payload["event"]["ts"]
    ticket = slack.runtime.conversations.get(slack.conversation_of(payload["event"]["channel"], thread)).ticket_number
    waits = []
    for run in range(20):
        posted = len([c for c in slack.fake.calls if c.params.get("thread_ts") == thread])
        started = time.perf_counter()
        response = slack.client.post(f"/v1/tickets/{ticket}/comments", json={"body": f"Update {run}: on it."},
                                     headers={"Authorization": f"Bearer {slack.sarah_key}"})  # fmt: skip
        assert response.status_code == 201, response.text
        told = slack.fake.wait_for("chat.postMessage", posted + 1, thread_ts=thread)[-1]
        assert f"Update {run}: on it." in told.params["text"]
        waits.append(told.at - started)
    p50, p95 = statistics.median(waits), statistics.quantiles(waits, n=20)[18]
    print(f"\nSlack: agent's public comment -> chat.postMessage at the fake: p50 {p50 * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms over {len(waits)} runs")  # fmt: skip
    assert p95 < 10.0
