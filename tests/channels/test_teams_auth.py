"""The Teams channel's token checks and the bot's own tokens, against the Bot Framework fake on 127.0.0.1."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from firstline.channels.teams_auth import BotAuthenticator, BotTokens, KeysUnavailable, TokenRejected
from firstline.channels.teams_cards import approval_card, card_action, code_card
from firstline.channels.teams_connector import Connector, Reference, message
from firstline.errors import ConfigError
from firstline.settings import load_settings
from firstline.testing.botframework_fake import BOT_ISSUER, BotFrameworkFake
from firstline.testing.live import free_port

APP_ID = "bot-app-id"
PASSWORD = "bot-password"


@pytest.fixture
def fake() -> Iterator[BotFrameworkFake]:
    with BotFrameworkFake(APP_ID, PASSWORD) as server:
        yield server
        assert server.violations == []


def _auth(fake: BotFrameworkFake, refresh_every_s: float = 60.0) -> BotAuthenticator:
    return BotAuthenticator(fake.metadata_url, BOT_ISSUER, APP_ID, refresh_every_s=refresh_every_s)


def test_a_good_token_gives_its_claims_and_keys_are_cached(fake: BotFrameworkFake) -> None:
    auth = _auth(fake)
    activity = fake.message("aad-1", "hello")
    claims = auth.verify(fake.token(activity), activity)
    assert claims["aud"] == APP_ID and claims["serviceUrl"] == fake.service_url
    auth.verify(fake.token(activity), activity)
    assert (fake.metadata_fetches, fake.key_fetches) == (1, 1)
    auth.close()


def test_unknown_keys_refetch_at_most_once_per_interval(fake: BotFrameworkFake) -> None:
    auth = _auth(fake, refresh_every_s=60.0)
    activity = fake.message("aad-1", "hello")
    auth.verify(fake.token(activity), activity)
    for _ in range(5):  # random kids cannot make us hammer the metadata server
        with pytest.raises(TokenRejected, match="not among the published keys"):
            auth.verify(fake.token(activity, kid="made-up"), activity)
    assert fake.key_fetches == 1
    fake.rotate()  # a real rotation inside the interval waits for it; with no interval it is fetched at once
    with pytest.raises(TokenRejected):
        auth.verify(fake.token(activity), activity)
    auth.refresh_every_s = 0
    auth.verify(fake.token(activity), activity)
    assert fake.key_fetches == 2
    auth.close()


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_only_rs256_is_accepted(fake: BotFrameworkFake, algorithm: str) -> None:
    auth = _auth(fake)
    activity = fake.message("aad-1", "hello")
    claims = {"iss": BOT_ISSUER, "aud": APP_ID, "exp": int(time.time()) + 600, "serviceUrl": fake.service_url}
    key = "a-shared-secret-long-enough-for-hmac-sha256" if algorithm == "HS256" else ""
    token = jwt.encode(claims, key, algorithm=algorithm, headers={"kid": "key-1"})
    with pytest.raises(TokenRejected, match="only RS256"):
        auth.verify(f"Bearer {token}", activity)
    auth.close()


def test_an_activity_without_a_service_url_is_refused(fake: BotFrameworkFake) -> None:
    auth = _auth(fake)
    activity = fake.message("aad-1", "hello")
    token = fake.token(activity)
    del activity["serviceUrl"]
    with pytest.raises(TokenRejected, match="serviceUrl"):
        auth.verify(token, activity)
    auth.close()


def test_keys_that_cannot_be_fetched_are_not_a_bad_token() -> None:
    auth = BotAuthenticator(f"http://127.0.0.1:{free_port()}/meta", BOT_ISSUER, APP_ID)
    with BotFrameworkFake(APP_ID, PASSWORD) as fake:
        activity = fake.message("aad-1", "hello")
        header = fake.token(activity)
    with pytest.raises(KeysUnavailable):
        auth.verify(header, activity)
    auth.close()


def test_the_bot_token_is_reused_and_renewed_after_a_401(fake: BotFrameworkFake) -> None:
    tokens = BotTokens(fake.token_url, APP_ID, PASSWORD)
    connector = Connector(tokens)
    reference = Reference.of(fake.message("aad-1", "hello", conversation_id="a:x"))
    for n in range(3):
        connector.send(reference, message(reference, f"message {n}"))
    assert fake.tokens_issued == 1 and len(fake.activities) == 3
    fake._issued.clear()  # the connector forgets the token (it expired early): one retry with a new one
    connector.send(reference, message(reference, "after expiry"))
    assert fake.tokens_issued == 2 and fake.activities[-1].body["text"] == "after expiry"
    connector.close()


def test_a_wrong_password_gets_no_token(fake: BotFrameworkFake) -> None:
    import httpx

    tokens = BotTokens(fake.token_url, APP_ID, "wrong")
    with pytest.raises(httpx.HTTPStatusError):
        tokens.get()
    tokens.close()


def test_cards_and_their_clicks_read_back() -> None:
    approval = {"id": "ab12", "tool": "remote_lock", "arguments": {"device": "NW-M-0158"}}
    card = approval_card(approval, "marcus.bell@nwmeridian.co.uk", "INC0000007")
    execute = card["actions"][1]
    invoke = {
        "type": "invoke",
        "name": "adaptiveCard/action",
        "value": {"action": {"type": "Action.Execute", "verb": "deny", "data": execute["data"] | {"reason": "x"}}},
    }
    read = card_action(invoke)
    assert read is not None and (read.kind, read.approval_id, read.approved, read.reason, read.invoke) == (
        "approval",
        "ab12",
        False,
        "x",
        True,
    )
    submitted = card_action({"type": "message", "value": execute["fallback"]["data"]})
    assert submitted is not None and not submitted.invoke and submitted.approval_id == "ab12"
    code = card_action({"type": "message", "value": {**code_card()["actions"][0]["data"], "code": " 123456 "}})
    assert code is not None and (code.kind, code.code) == ("code", "123456")
    assert card_action({"type": "message", "value": {"something": "else"}}) is None
    assert card_action({"type": "invoke", "name": "composeExtension/query", "value": {}}) is None


DOCS = Path(__file__).parents[2] / "docs" / "teams.md"


def test_the_docs_configuration_and_manifest_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = DOCS.read_text()
    toml = re.search(r"```toml\n(.*?)```", text, re.S)
    manifest = re.search(r"```json\n(.*?)```", text, re.S)
    assert toml is not None and manifest is not None
    config = tmp_path / "firstline.toml"
    config.write_text(toml.group(1))
    with pytest.raises(ConfigError, match="APP_PASSWORD"):  # the secret is missing: said at start-up
        load_settings(config)
    monkeypatch.setenv("FIRSTLINE_CHANNELS__TEAMS__APP_PASSWORD", "from-the-environment")
    teams = load_settings(config).channels.teams
    assert teams.enabled and teams.tenant_id in teams.token_url and teams.key_refresh_s == 60
    app = json.loads(manifest.group(1))
    assert app["id"] == app["bots"][0]["botId"] == teams.app_id
