"""The Slack channel's parts on their own: mrkdwn, signatures, Block Kit, the Web API client and the fake's checks."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest
import yaml
from fastapi.testclient import TestClient

from firstline.channels import registry
from firstline.channels.slack import router
from firstline.channels.slack_api import SlackApiError, SlackWebApi
from firstline.channels.slack_blocks import ENTER_CODE, NEW_CODE, approval_message, link_message, reply_message
from firstline.channels.slack_channel import incoming
from firstline.channels.slack_mrkdwn import chunks, to_mrkdwn
from firstline.channels.slack_signature import SignatureError, sign, verify
from firstline.conversations import ApprovalRecord
from firstline.errors import ConfigError
from firstline.service.app import create_app
from firstline.settings import load_settings
from firstline.testing.loopback import LoopbackServer
from firstline.testing.openapi_check import specs_available
from firstline.testing.slack_fake import BOT_TOKEN, SlackFake, check_event, event_callback

needs_specs = pytest.mark.skipif(not specs_available(), reason="the vendor specs in ../shared/specs are missing")

# -- mrkdwn -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**Restart** the router", "*Restart* the router"),
        ("an *important* step", "an _important_ step"),
        ("Use [the portal](https://aka.ms/sspr) now", "Use <https://aka.ms/sspr|the portal> now"),
        ("Go to aka.ms/sspr.", "Go to <https://aka.ms/sspr|aka.ms/sspr>."),
        ("- one\n- two\n  - nested", "• one\n• two\n    ◦ nested"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("## Steps\nDo it", "*Steps*\n\nDo it"),
        ("run `ipconfig /all` <now>", "run `ipconfig /all` &lt;now&gt;"),
        ("Tom & Jerry <!channel>", "Tom &amp; Jerry &lt;!channel&gt;"),
        ("[click](javascript:alert(1))", "[click](javascript:alert(1))"),
        ("~~old~~ new", "~old~ new"),
        ("> quoted **bold**", "> quoted *bold*"),
        ("```sh\nls -la\n```", "```\nls -la\n```"),
    ],
)
def test_markdown_becomes_slack_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_long_text_is_cut_between_paragraphs_into_sections() -> None:
    text = "\n\n".join(f"paragraph {i} " + "x" * 900 for i in range(7))
    pieces = chunks(text, 3000)
    assert all(len(p) <= 3000 for p in pieces) and "\n\n".join(pieces) == text and len(pieces) == 3
    assert chunks("y" * 7000, 3000) == ["y" * 3000, "y" * 3000, "y" * 1000]
    message = reply_message("z" * 200_000, None, "c1")
    assert len(message.blocks) == 50 and "web chat" in message.blocks[-1]["text"]["text"]


# -- Block Kit ---------------------------------------------------------------------------------------------


def test_the_code_prompt_carries_the_conversation_and_other_replies_no_buttons() -> None:
    prompt = reply_message("I've sent a code to your phone.", "code", "conv-1")
    buttons = [e for b in prompt.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [(ENTER_CODE, "conv-1"), (NEW_CODE, "conv-1")]
    assert all(b["type"] == "section" for b in reply_message("Done.", None, "conv-1").blocks)


def test_approval_and_link_messages_escape_what_they_quote() -> None:
    record = ApprovalRecord("ap1", "c1", "remote_lock", {"device": "<!here> NW-1"}, "marcus@example.com")
    message = approval_message(record, "INC0000001")
    assert "&lt;!here&gt;" in message.blocks[0]["text"]["text"] and "<!here>" not in json.dumps(message.blocks)
    linked = link_message("ABCD-EFGH", "https://help.example.com/?a=1&b=2")
    assert "*ABCD-EFGH*" in linked.blocks[0]["text"]["text"] and "ABCD-EFGH" in linked.text


# -- which events are messages --------------------------------------------------------------------------------


def _event(**fields: str) -> dict[str, object]:
    base = {"type": "message", "channel_type": "im", "channel": "D1", "user": "U1", "text": "hi", "ts": "1.000001"}
    return event_callback({**base, **fields}, bot_user="UBOT")


def test_direct_messages_mentions_and_thread_replies_are_messages_the_rest_is_not() -> None:
    dm = incoming(_event())
    assert dm is not None and (dm.key, dm.followed_only) == ("D1:1.000001", False)
    mention = incoming(_event(type="app_mention", channel="C1", text="<@UBOT> help", channel_type=""))
    assert mention is not None and mention.text == "help" and mention.key == "C1:1.000001"
    reply = incoming(_event(channel_type="channel", channel="C1", thread_ts="0.5"))
    assert reply is not None and reply.followed_only and reply.key == "C1:0.5"
    for ignored in (
        _event(channel_type="channel", channel="C1"),  # a channel message that does not mention the app
        _event(subtype="message_changed"),
        _event(bot_id="B1"),
        _event(user="UBOT"),
        _event(type="reaction_added"),
    ):
        assert incoming(ignored) is None, ignored


@needs_specs
def test_events_are_checked_against_slacks_wrapper_schemas() -> None:
    good = _event()
    assert check_event(good) is good
    broken = {k: v for k, v in good.items() if k != "event_id"}
    with pytest.raises(jsonschema.ValidationError, match="event_id"):
        check_event(broken)


# -- signatures -------------------------------------------------------------------------------------------------


def test_a_signature_is_checked_over_the_raw_body_and_the_time() -> None:
    body = b'{"type":"event_callback"}'
    headers = {"x-slack-request-timestamp": "1000", "x-slack-signature": sign("s3cret", "1000", body)}
    verify(headers, body, "s3cret", 300, clock=lambda: 1299.0)
    for problem, args in {
        "old": (headers, body, "s3cret", 300, lambda: 1301.0),
        "does not match": (headers, body + b" ", "s3cret", 300, lambda: 1000.0),
        "does not match ": (headers, body, "other", 300, lambda: 1000.0),
        "no X-Slack": ({}, body, "s3cret", 300, lambda: 1000.0),
    }.items():
        with pytest.raises(SignatureError, match=problem.strip()):
            verify(*args)


# -- the Web API client against the spec-checked fake -------------------------------------------------------------


@pytest.fixture
def fake(loopback: Callable[[LoopbackServer], LoopbackServer]) -> Iterator[SlackFake]:
    found = SlackFake()
    loopback(found.server)
    yield found


@pytest.fixture
def api(fake: SlackFake) -> Iterator[tuple[SlackWebApi, list[float]]]:
    waits: list[float] = []
    client = SlackWebApi(fake.url, BOT_TOKEN, retries=3, backoff_s=0.01, max_retry_after_s=5, sleep=waits.append)
    yield client, waits
    client.close()


@needs_specs
def test_a_message_is_posted_in_a_thread(fake: SlackFake, api: tuple[SlackWebApi, list[float]]) -> None:
    client, _ = api
    ts = client.post_message("C0ITHELP1", "hello", json.dumps([{"type": "section", "text": {"type": "mrkdwn",
                             "text": "*hello*"}}]), thread_ts="1700000000.000100")  # fmt: skip
    call = fake.wait_for("chat.postMessage")[0]
    assert call.ts == ts and call.params["thread_ts"] == "1700000000.000100" and call.params["unfurl_links"] == "false"


@needs_specs
def test_429_waits_retry_after_and_an_outage_is_retried_then_given_up(
    fake: SlackFake, api: tuple[SlackWebApi, list[float]]
) -> None:
    client, waits = api
    fake.fail_next(1, status=429, retry_after=2.5)
    fake.fail_next(1, status=503)
    client.post_message("C0ITHELP1", "after a 429 and a 503")
    assert waits == [2.5, 0.02] and len(fake.calls) == 1
    waits.clear()
    fake.fail_next(4, status=502)
    with pytest.raises(SlackApiError, match="unavailable") as failed:
        client.post_message("C0ITHELP1", "never arrives")
    assert failed.value.error == "unavailable" and waits == [0.01, 0.02, 0.04] and len(fake.calls) == 1


@needs_specs
def test_ok_false_is_an_error_and_not_retried(fake: SlackFake, api: tuple[SlackWebApi, list[float]]) -> None:
    client, waits = api
    fake.error_next("channel_not_found")
    with pytest.raises(SlackApiError, match="channel_not_found"):
        client.post_message("C0GONE001", "hello")
    assert waits == [] and fake.calls == []


def test_slack_unreachable_is_retried_then_given_up() -> None:
    waits: list[float] = []
    client = SlackWebApi("http://127.0.0.1:9/api", BOT_TOKEN, retries=2, backoff_s=0.01, sleep=waits.append)
    with pytest.raises(SlackApiError, match=r"unavailable.*ConnectError"):
        client.post_message("C1", "hello")
    client.close()
    assert waits == [0.01, 0.02]


@needs_specs
def test_the_fake_refuses_what_slack_would(fake: SlackFake) -> None:
    auth = {"Authorization": f"Bearer {BOT_TOKEN}"}
    cases = [
        ("chat.postMessage", {"text": "no channel"}, auth, "required parameters missing: ['channel']"),
        ("chat.postMessage", {"channel": "C1", "colour": "red"}, auth, "does not take: ['colour']"),
        ("chat.postMessage", {"channel": "C1", "mrkdwn": "yes"}, auth, "is not a boolean"),
        ("chat.postMessage", {"channel": "C1", "blocks": "[{]"}, auth, "blocks is not JSON"),
        ("chat.update", {"channel": "C1", "text": "x"}, auth, "required parameters missing: ['ts']"),
        ("views.open", {"trigger_id": "t", "view": '{"type": "home"}'}, auth, "must be a modal"),
        ("chat.fly", {"channel": "C1"}, auth, "no Web API method"),
        ("chat.postMessage", {"channel": "C1", "text": "x"}, {}, "Authorization"),
    ]
    for method, params, headers, problem in cases:
        response = httpx.post(f"{fake.url}/{method}", data=params, headers=headers)
        assert response.status_code == 422 and problem in response.json()["detail"], (method, response.text)
    assert len(fake.server.violations) == len(cases)
    fake.server.violations.clear()  # expected here: the loopback fixture checks for unexpected ones


# -- the setup page ---------------------------------------------------------------------------------------------

DOCS = Path(__file__).parents[2] / "docs" / "slack.md"


def test_the_setup_page_is_true(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = DOCS.read_text()
    manifest = yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))  # type: ignore[union-attr]
    events = manifest["settings"]["event_subscriptions"]
    assert set(events["bot_events"]) == {"app_mention", "message.im", "message.channels", "message.groups"}
    paths = {route.path for route in router.routes}  # type: ignore[attr-defined]
    assert {urlsplit(events["request_url"]).path, urlsplit(manifest["settings"]["interactivity"]["request_url"]).path
            } == paths == {"/slack/events", "/slack/interactivity"}  # fmt: skip
    config = tmp_path / "firstline.toml"
    config.write_text(re.search(r"```toml\n(.*?)```", text, re.S).group(1))  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="SIGNING_SECRET"):  # a secret in the file is refused
        config.with_name("bad.toml").write_text(config.read_text() + 'signing_secret = "x"\n')
        load_settings(config.with_name("bad.toml"))
    monkeypatch.setenv("FIRSTLINE_CHANNELS__SLACK__SIGNING_SECRET", "from-the-environment")
    monkeypatch.setenv("FIRSTLINE_CHANNELS__SLACK__BOT_TOKEN", "xoxb-from-the-environment")
    settings = load_settings(config)
    slack = settings.channels.slack
    assert slack.enabled and slack.signing_secret is not None and slack.max_age_s == 300
    assert settings.service.public_url == "https://help.example.com"


def test_the_endpoints_answer_404_when_slack_is_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "CHANNELS", {"slack": "firstline.channels.slack"})
    app = create_app(load_settings(data_dir=tmp_path / "data"))
    client = TestClient(app)  # no lifespan: no channel was started, as when [channels.slack] is off
    for path in ("/slack/events", "/slack/interactivity"):
        response = client.post(path, content=b"{}", headers={"Content-Type": "application/json"})
        assert response.status_code == 404 and "channels.slack" in response.json()["detail"], response.text
