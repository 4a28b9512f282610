"""The e-mail channel inside the running service: started by the app, linked in the web chat, and an IT
agent's public comment (the console's HTTP route) reaching the employee's mailbox."""

from __future__ import annotations

import re
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from firstline.service.app import create_app
from firstline.testing.dovecot import Dovecot
from firstline.testing.live import UNLIMITED, cannot_start, seed_accounts
from firstline.testing.smtp_server import CapturingSmtp, Received

pytestmark = [pytest.mark.live, pytest.mark.slow]

DESK = "it-helpdesk@nwmeridian.co.uk"
PRIVATE = "ruby.private@home.example"  # Ruby's own mailbox, not the directory address
CODE = re.compile(r"\b[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}\b")


@dataclass
class Service:
    client: TestClient
    dovecot: Dovecot
    smtp: CapturingSmtp
    accounts: dict[str, tuple[str, str]]

    def login(self, who: str) -> dict[str, str]:
        email, password = self.accounts[who]
        headers = {"X-Requested-With": "firstline"}
        self.client.cookies.clear()
        answer = self.client.post("/v1/auth/login", json={"email": email, "password": password}, headers=headers)
        assert answer.status_code == 200, answer.text
        return headers

    def send(self, sender: str, subject: str, body: str, in_reply_to: str | None = None) -> str:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, DESK, subject
        message["Message-ID"] = mid = f"<{uuid.uuid4().hex}@home.example>"
        if in_reply_to:
            message["In-Reply-To"] = in_reply_to
        message.set_content(body)
        self.dovecot.append(bytes(message))
        return mid

    def answer_to(self, message_id: str, timeout_s: float = 30.0) -> Received:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for received in list(self.smtp.received):
                if received.message["In-Reply-To"] == message_id:
                    return received
            time.sleep(0.02)
        raise AssertionError(f"no answer to {message_id}")


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    if Dovecot.available() is None:
        cannot_start("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
    with Dovecot() as dovecot, CapturingSmtp() as smtp:
        monkeypatch.setenv("FIRSTLINE_CHANNELS__EMAIL__PASSWORD", dovecot.password)
        from firstline.settings import load_settings

        settings = load_settings(
            data_dir=tmp_path / "data",
            service={**UNLIMITED, "public_url": "https://help.nwmeridian.co.uk"},
            notifications={"smtp": {"host": smtp.host, "port": smtp.port, "sender": f"IT help desk <{DESK}>"}},
            channels={"email": {"enabled": True, "address": DESK, "imap_host": dovecot.host,
                                "imap_port": dovecot.port, "imap_security": "none", "username": dovecot.user,
                                "reconnect_max_s": 1}},
        )  # fmt: skip
        accounts = seed_accounts(settings)
        with TestClient(create_app(settings)) as client:
            channel = client.app.state.channels["email"]  # type: ignore[attr-defined]
            assert channel.watcher.idling.wait(60), dovecot.log()
            yield Service(client, dovecot, smtp, accounts)
        dovecot.remove()


def test_link_in_the_web_chat_then_an_agent_comment_arrives_by_mail(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    first = service.send(f"Ruby <{PRIVATE}>", "Locked out", "I'm locked out of my account")
    code = CODE.search(service.answer_to(first).text)
    assert code is not None
    headers = service.login("requester")  # Ruby, signed in to the web chat
    linked = service.client.post("/v1/me/links", json={"code": code.group(0)}, headers=headers)
    assert linked.status_code == 201, linked.text
    asked = service.send(f"Ruby <{PRIVATE}>", "Locked out", "I'm locked out of my account")
    reply = service.answer_to(asked)
    number = re.search(r"\[(INC\d{7})\]", reply.message["Subject"])
    assert number is not None, reply.message["Subject"]
    mine = service.client.get("/v1/me/tickets", headers=headers).json()
    assert number.group(1) in str(mine)  # the mail's ticket is Ruby's, in "My requests"

    agent = service.login("agent")
    latencies = []
    last = reply.message["Message-ID"]
    for n in range(20):
        before = len(service.smtp.received)
        started = time.perf_counter()
        posted = service.client.post(
            f"/v1/tickets/{number.group(1)}/comments", json={"body": f"I've unlocked it ({n})."}, headers=agent
        )
        assert posted.status_code == 201, posted.text
        got = service.smtp.wait_for(before + 1, timeout_s=10)[before]
        latencies.append(got.at - started)
        assert got.rcpt_tos == [PRIVATE] and got.message["In-Reply-To"] == last
        assert f"I've unlocked it ({n})." in got.text and number.group(1) in got.message["Subject"]
        last = got.message["Message-ID"]
    ordered = sorted(latencies)
    p50, p95 = statistics.median(ordered), ordered[round(0.95 * len(ordered)) - 1]
    with capsys.disabled():
        print(f"\nagent comment (POST /v1/tickets/.../comments) -> SMTP server: p50 {p50 * 1000:.0f} ms, "
              f"p95 {p95 * 1000:.0f} ms (n=20)")  # fmt: skip
    # an internal work note never reaches the employee
    before = len(service.smtp.received)
    note = {"body": "password reset by phone", "internal": True}
    assert service.client.post(f"/v1/tickets/{number.group(1)}/comments", json=note, headers=agent).status_code == 201
    service.answer_to(service.send(f"Ruby <{PRIVATE}>", "Printer", "Is the LON-F4 printer jammed again?"))
    assert len(service.smtp.received) == before + 1
