"""Notification switches over HTTP: ``/v1/me/notifications`` (signed in) and the unsubscribe link (not signed in)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from firstline.channels.notify_tokens import UnsubscribeTokens
from firstline.conversations.preferences import NotificationPreferences
from firstline.runtime import Runtime, server_secret
from firstline.service.app import create_app
from firstline.settings import Settings, load_settings
from firstline.testing.live import UNLIMITED, seed_accounts

RUBY = "ruby.chen@nwmeridian.co.uk"
MARCUS = "marcus.bell@nwmeridian.co.uk"
PATH = "/v1/notifications/unsubscribe"


@dataclass
class Service:
    client: TestClient
    settings: Settings
    accounts: dict[str, tuple[str, str]]
    keys: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def token(self, email: str, kind: str = "reply") -> str:
        return UnsubscribeTokens(server_secret(self.settings)).make(email, kind)  # type: ignore[arg-type]

    def enabled(self, email: str, kind: str = "reply") -> bool:
        with Runtime(self.settings) as runtime:
            return NotificationPreferences(runtime.database).enabled(email, kind)


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = load_settings(
        data_dir=Path(tmp_path_factory.mktemp("notify-routes")),
        service=UNLIMITED,
        knowledge={"ingest_demo_runbooks": False},
    )
    accounts = seed_accounts(settings)
    with Runtime(settings) as runtime:
        keys = {
            "ruby": runtime.accounts.create_key("ruby-kiosk", "requester", RUBY)[0],
            "marcus": runtime.accounts.create_key("marcus-kiosk", "requester", MARCUS)[0],
            "bot": runtime.accounts.create_key("teams-bot", "agent")[0],
        }
    with TestClient(create_app(settings)) as client:
        yield Service(client, settings, accounts, keys)


# -- signed in --------------------------------------------------------------------------------------


def test_my_switches_read_and_change(svc: Service) -> None:
    client = svc.client
    assert client.get("/v1/me/notifications", headers=svc.auth("marcus")).json() == {
        "approval": True, "reply": True, "resolved": True,
    }  # fmt: skip
    changed = client.put("/v1/me/notifications", json={"resolved": False}, headers=svc.auth("marcus"))
    assert changed.status_code == 200 and changed.json() == {"approval": True, "reply": True, "resolved": False}
    assert svc.enabled(MARCUS, "resolved") is False and svc.enabled(RUBY, "resolved") is True  # his only
    again = client.put("/v1/me/notifications", json={"resolved": True, "reply": False}, headers=svc.auth("marcus"))
    assert again.json() == {"approval": True, "reply": False, "resolved": True}
    client.put("/v1/me/notifications", json={"reply": True}, headers=svc.auth("marcus"))


def test_bad_switches_are_refused_and_change_nothing(svc: Service) -> None:
    client, marcus = svc.client, svc.auth("marcus")
    for body in ({"newsletter": False}, {"reply": "maybe"}, {}):
        response = client.put("/v1/me/notifications", json=body, headers=marcus)
        assert response.status_code == 422, body
    assert client.get("/v1/me/notifications", headers=marcus).json()["reply"] is True
    assert client.get("/v1/me/notifications").status_code == 401
    bot = client.get("/v1/me/notifications", headers=svc.auth("bot"))
    assert bot.status_code == 403 and "speaks for no one" in bot.json()["detail"]


def test_a_session_must_send_the_csrf_header_to_change_them(svc: Service) -> None:
    email, password = svc.accounts["requester2"]
    client = svc.client
    try:
        assert client.post("/v1/auth/login", json={"email": email, "password": password}).status_code == 200
        assert client.put("/v1/me/notifications", json={"approval": False}).status_code == 403
        done = client.put("/v1/me/notifications", json={"approval": False}, headers={"X-Requested-With": "firstline"})
        assert done.status_code == 200 and done.json()["approval"] is False
    finally:
        client.cookies.clear()
    assert svc.enabled(email, "approval") is False


# -- the unsubscribe link -----------------------------------------------------------------------------


def test_opening_the_link_shows_a_page_and_changes_nothing(svc: Service) -> None:
    token = svc.token(RUBY, "reply")
    page = svc.client.get(PATH, params={"token": token})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Stop e-mails about <strong>replies on your requests</strong> to ruby.chen@nwmeridian.co.uk?" in page.text
    assert f'<form method="post" action="{PATH}?token={quote(token, safe="")}">' in page.text
    assert "<script" not in page.text and "default-src 'self'" in page.headers["content-security-policy"]
    assert svc.enabled(RUBY, "reply") is True  # scanners following the link switch nothing off


def test_the_button_turns_the_kind_off_and_undo_turns_it_back_on(svc: Service) -> None:
    token = svc.token(RUBY, "resolved")
    page = svc.client.get(PATH, params={"token": token}).text
    action = re.search(r'<form method="post" action="([^"]+)">', page)
    assert action is not None
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    done = svc.client.post(action.group(1).replace("&amp;", "&"), data=fields)
    assert done.status_code == 200 and "no more e-mails about resolved requests" in done.text
    assert svc.enabled(RUBY, "resolved") is False and svc.enabled(RUBY, "reply") is True  # that kind only
    again = svc.client.get(PATH, params={"token": token})
    assert "already gets no e-mails about resolved requests" in again.text
    undo = svc.client.post(PATH, params={"token": token}, data={"enabled": "true"})
    assert undo.status_code == 200 and svc.enabled(RUBY, "resolved") is True


def test_one_click_unsubscribe_as_mail_clients_post_it(svc: Service) -> None:
    """RFC 8058: POST to the List-Unsubscribe URL, body ``List-Unsubscribe=One-Click``, no cookie, no redirect."""
    token = svc.token(RUBY, "approval")
    response = svc.client.post(
        f"{PATH}?token={token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 200
    assert svc.enabled(RUBY, "approval") is False
    multipart = svc.client.post(f"{PATH}?token={svc.token(MARCUS, 'approval')}",
                                files={"List-Unsubscribe": (None, "One-Click")})  # fmt: skip
    assert multipart.status_code == 200 and svc.enabled(MARCUS, "approval") is False
    svc.client.post(PATH, params={"token": token}, data={"enabled": "true"})
    svc.client.post(PATH, params={"token": svc.token(MARCUS, "approval")}, data={"enabled": "true"})


def test_tampered_and_foreign_tokens_change_nothing(svc: Service) -> None:
    ruby = svc.token(RUBY, "reply")
    payload, signature = ruby.split(".")
    forged = svc.token(MARCUS, "reply").split(".")[0] + "." + signature  # Marcus's name, Ruby's signature
    changed = ("y" if signature[0] == "x" else "x") + signature[1:]  # one character of the signature, always changed
    for bad in (forged, f"{payload}.{changed}", "", "nonsense"):
        page = svc.client.get(PATH, params={"token": bad})
        assert page.status_code == 400 and "not valid" in page.text
        posted = svc.client.post(PATH, params={"token": bad}, data={"List-Unsubscribe": "One-Click"})
        assert posted.status_code == 400
    assert svc.enabled(MARCUS, "reply") is True and svc.enabled(RUBY, "reply") is True
    marcus_own = svc.token(MARCUS, "reply")  # a genuine token of someone else only ever changes theirs
    svc.client.post(PATH, params={"token": marcus_own}, data={"List-Unsubscribe": "One-Click"})
    assert svc.enabled(MARCUS, "reply") is False and svc.enabled(RUBY, "reply") is True
    svc.client.post(PATH, params={"token": marcus_own}, data={"enabled": "true"})
