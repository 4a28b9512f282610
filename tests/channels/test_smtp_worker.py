"""Sending queued mail to a real SMTP server (aiosmtpd on 127.0.0.1): format, retries, giving up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest
from pydantic import SecretStr

from firstline.channel_settings import SmtpSettings
from firstline.channels.smtp import MailWorker, SmtpSender, backoff
from firstline.conversations.mail import MailOutbox
from firstline.localdb import open_database
from firstline.sqlstore.transactions import Transactions
from firstline.testing.clock import FixedClock
from firstline.testing.live import free_port
from firstline.testing.smtp_server import CapturingSmtp

pytestmark = pytest.mark.live


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Transactions]:
    db = open_database(f"sqlite:///{tmp_path / 'mail.db'}")
    yield db
    db.close()


@pytest.fixture
def smtp() -> Iterator[CapturingSmtp]:
    with CapturingSmtp() as server:
        yield server


def _settings(server: CapturingSmtp) -> SmtpSettings:
    return SmtpSettings(host=server.host, port=server.port, sender="IT help desk <it@nwmeridian.co.uk>", timeout_s=5)


def test_a_queued_mail_arrives_as_a_proper_message(database: Transactions, smtp: CapturingSmtp) -> None:
    outbox = MailOutbox(database, domain="nwmeridian.co.uk")
    mail = outbox.enqueue(
        "reply", "Ruby Chen <ruby.chen@nwmeridian.co.uk>", "Re: VPN drops [INC0001234]", "Try this — **now**.",
        "<p>Try this — <b>now</b>.</p>", {"In-Reply-To": "<a@b>", "Auto-Submitted": "auto-replied"},
    )  # fmt: skip
    assert MailWorker(outbox, SmtpSender(_settings(smtp))).run_once() == 1
    (got,) = smtp.wait_for(1)
    assert got.mail_from == "it@nwmeridian.co.uk" and got.rcpt_tos == ["ruby.chen@nwmeridian.co.uk"]
    message = got.message
    assert message["Message-ID"] == mail.message_id
    assert (message["Subject"], message["In-Reply-To"], message["Auto-Submitted"]) == (
        "Re: VPN drops [INC0001234]", "<a@b>", "auto-replied",
    )  # fmt: skip
    assert message["From"] == "IT help desk <it@nwmeridian.co.uk>" and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    assert got.text.strip() == "Try this — **now**." and "<b>now</b>" in got.html
    assert [m.status for m in outbox.list()] == ["sent"]


def test_the_from_header_of_a_mail_overrides_the_sender(database: Transactions, smtp: CapturingSmtp) -> None:
    outbox = MailOutbox(database)
    outbox.enqueue("reply", "a@example.com", "s", "only text", headers={"From": "Desk <desk@example.com>"})
    MailWorker(outbox, SmtpSender(_settings(smtp))).run_once()
    (got,) = smtp.wait_for(1)
    assert got.mail_from == "desk@example.com" and got.message["From"] == "Desk <desk@example.com>"
    assert got.message.get_content_type() == "text/plain"


def test_smtp_down_keeps_the_mail_and_backs_off_then_sends_it(database: Transactions) -> None:
    clock = FixedClock()
    server = CapturingSmtp(free_port())  # not started: nothing listens there
    outbox = MailOutbox(database, clock=clock)
    worker = MailWorker(outbox, SmtpSender(_settings(server)), clock=clock)
    mail = outbox.enqueue("reply", "a@example.com", "s", "b")
    waits = []
    for _ in range(8):
        assert worker.run_once() == 0
        (stored,) = outbox.list()
        assert stored.status == "pending" and "Connection" in stored.last_error
        waits.append(stored.next_attempt_at - clock.now)
        assert worker.run_once() == 0 and outbox.list()[0].attempts == stored.attempts  # not due yet
        clock.now = stored.next_attempt_at
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60)]
    with server:
        assert worker.run_once() == 1
        assert [r.message["Message-ID"] for r in server.wait_for(1)] == [mail.message_id]
    assert outbox.list()[0].status == "sent"


def test_a_mail_that_keeps_failing_is_given_up_after_a_day(database: Transactions) -> None:
    clock = FixedClock()
    outbox = MailOutbox(database, clock=clock)
    worker = MailWorker(outbox, SmtpSender(SmtpSettings(port=free_port(), timeout_s=2)), clock=clock)
    outbox.enqueue("reply", "a@example.com", "s", "b")
    rounds = 0
    while outbox.list()[0].status == "pending":
        worker.run_once()
        clock.now = outbox.list()[0].next_attempt_at
        rounds += 1
    (given_up,) = outbox.list()
    assert given_up.status == "failed" and "Connection" in given_up.last_error
    assert 24 <= rounds <= 32 and backoff(rounds) == timedelta(hours=1)


def test_a_refused_recipient_is_given_up_at_once(database: Transactions) -> None:
    from aiosmtpd.controller import Controller

    class RefuseRcpt:
        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
            return "550 5.1.1 no such user"

    port = free_port()
    controller = Controller(RefuseRcpt(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        outbox = MailOutbox(database)
        outbox.enqueue("reply", "gone@example.com", "s", "b")
        MailWorker(outbox, SmtpSender(SmtpSettings(port=port, timeout_s=5))).run_once()
        (stored,) = outbox.list()
        assert stored.status == "failed" and "550" in stored.last_error
    finally:
        controller.stop()


def test_the_worker_thread_sends_as_soon_as_a_mail_is_queued(database: Transactions, smtp: CapturingSmtp) -> None:
    outbox = MailOutbox(database)
    worker = MailWorker(outbox, SmtpSender(_settings(smtp)), poll_s=30)
    worker.start()
    worker.start()  # a second user shares it
    try:
        time.sleep(0.2)  # the worker is now waiting for its 30 s poll
        started = time.perf_counter()
        outbox.enqueue("reply", "a@example.com", "s", "b")
        (got,) = smtp.wait_for(1, timeout_s=5)
        assert got.at - started < 1.0
        worker.stop()
        assert worker.running  # the other user still needs it
    finally:
        worker.stop()
    assert not worker.running


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_starttls_and_tls_with_a_login(database: Transactions, security: Literal["starttls", "tls"]) -> None:
    with CapturingSmtp(security=security, users={"firstline": "s3cret-pass"}) as server:
        settings = SmtpSettings(
            host=server.host, port=server.port, security=security, username="firstline",
            password=SecretStr("s3cret-pass"), sender="IT <it@nwmeridian.co.uk>", timeout_s=5,
        )  # fmt: skip
        outbox = MailOutbox(database)
        outbox.enqueue("reply", "a@example.com", "over TLS", "b")
        assert MailWorker(outbox, SmtpSender(settings, ssl_context=server.client_context)).run_once() == 1
        assert [r.message["Subject"] for r in server.wait_for(1)] == ["over TLS"] and server.logins == ["firstline"]
        # a wrong password or an untrusted certificate is an error the mail waits out, not a lost mail
        wrong = settings.model_copy(update={"password": SecretStr("nope")})
        outbox.enqueue("reply", "a@example.com", "wrong password", "b")
        MailWorker(outbox, SmtpSender(wrong, ssl_context=server.client_context)).run_once()
        outbox.enqueue("reply", "a@example.com", "untrusted", "b")
        MailWorker(outbox, SmtpSender(settings)).run_once()
        waiting = {m.subject: m.last_error for m in outbox.list(status="pending")}
        assert "Authentication" in waiting["wrong password"] or "535" in waiting["wrong password"]
        assert "CERTIFICATE_VERIFY_FAILED" in waiting["untrusted"]
        assert len(server.received) == 1


def test_a_server_that_requires_starttls_refuses_plain_mail(database: Transactions) -> None:
    with CapturingSmtp(security="starttls") as server:
        outbox = MailOutbox(database)
        outbox.enqueue("reply", "a@example.com", "plain", "b")
        MailWorker(outbox, SmtpSender(SmtpSettings(host=server.host, port=server.port, timeout_s=5))).run_once()
        (stored,) = outbox.list()
        assert stored.status == "failed" and "STARTTLS" in stored.last_error and server.received == []
