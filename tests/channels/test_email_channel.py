"""E-mail to ticket end to end: real Dovecot (IMAP IDLE) in, the Helpdesk, a real SMTP server out."""

from __future__ import annotations

import asyncio
import re
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import SecretStr

from firstline.channel_settings import EmailChannelSettings
from firstline.channels.email import EmailChannel, build
from firstline.channels.smtp import MailWorker, SmtpSender
from firstline.conversations.mail import MailOutbox, OutgoingMail, domain_of
from firstline.errors import ConfigError
from firstline.runtime import Runtime
from firstline.settings import Settings, load_settings
from firstline.testing.dovecot import Dovecot
from firstline.testing.live import UNLIMITED, cannot_start
from firstline.testing.smtp_server import CapturingSmtp, Received

pytestmark = [pytest.mark.live, pytest.mark.slow]

DESK = "it-helpdesk@nwmeridian.co.uk"
RUBY = "ruby.chen@nwmeridian.co.uk"
MARCUS = "marcus.bell@nwmeridian.co.uk"
CODE = re.compile(r"\b[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}\b")


class Clock:
    """Real time plus an offset the tests move forward ("an hour later")."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class World:
    dovecot: Dovecot
    smtp: CapturingSmtp
    runtime: Runtime
    channel: EmailChannel
    clock: Clock
    settings: Settings

    def send(
        self,
        sender: str,
        subject: str,
        body: str,
        *,
        in_reply_to: str | None = None,
        references: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Deliver a mail into the watched mailbox (IMAP APPEND); its Message-ID."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = DESK
        message["Subject"] = subject
        message_id = f"<{uuid.uuid4().hex}@mail.example>"
        message["Message-ID"] = message_id
        if in_reply_to:
            message["In-Reply-To"] = in_reply_to
        if references:
            message["References"] = references
        for name, value in (headers or {}).items():
            message[name] = value
        message.set_content(body)
        self.dovecot.append(bytes(message))
        return message_id

    def answer_to(self, message_id: str, timeout_s: float = 20.0) -> Received:
        """The mail the help desk sent in answer to ``message_id``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for received in list(self.smtp.received):
                if received.message["In-Reply-To"] == message_id:
                    return received
            time.sleep(0.02)
        raise AssertionError(f"no answer to {message_id}; outbox: {self.channel.outbox.list()[-3:]}")

    def answers_to(self, message_id: str) -> list[Received]:
        return [r for r in self.smtp.received if r.message["In-Reply-To"] == message_id]

    def conversation_of(self, message_id: str) -> str | None:
        thread = self.runtime.channels.thread("email", message_id)
        return thread.conversation_id if thread else None

    def sync(self) -> None:
        """Wait until every mail delivered so far was handled (a known sender's mail after them is answered)."""
        self.answer_to(self.send(f"Ruby Chen <{RUBY}>", "Printer", "Is the LON-F4 printer jammed again?"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if Dovecot.available() is None:
        cannot_start("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
    dovecot = Dovecot().start()
    smtp = CapturingSmtp().start()
    settings = load_settings(
        data_dir=Path(tmp_path_factory.mktemp("email-data")),
        service={**UNLIMITED, "public_url": "https://help.nwmeridian.co.uk"},
        notifications={"smtp": {"host": smtp.host, "port": smtp.port, "sender": f"NW IT help desk <{DESK}>"}},
    )
    email = EmailChannelSettings(
        enabled=True, address=DESK, imap_host=dovecot.host, imap_port=dovecot.port, imap_security="none",
        username=dovecot.user, password=SecretStr(dovecot.password), reconnect_max_s=1,
    )  # fmt: skip
    clock = Clock()
    runtime = Runtime(settings)
    runtime.channels.link("email", RUBY, RUBY, "admin")
    asyncio.run(runtime.helpdesk.ask("hello", requester=RUBY))  # load the models before anything is timed
    outbox = MailOutbox(runtime.database, domain=domain_of(DESK), clock=clock)
    worker = MailWorker(outbox, SmtpSender(settings.notifications.smtp), clock=clock, poll_s=1)
    channel = EmailChannel(runtime, email, worker=worker, clock=clock)
    channel.start()
    assert channel.watcher.idling.wait(60), dovecot.log()
    try:
        yield World(dovecot, smtp, runtime, channel, clock, settings)
    finally:
        channel.stop()
        runtime.close()
        smtp.stop()
        dovecot.remove()


def test_a_new_mail_opens_a_ticket_and_gets_a_threaded_reply(world: World) -> None:
    asked = world.send(
        f"Ruby Chen <{RUBY}>", "Can't sign in", "I'm locked out of my account\n\n-- \nRuby Chen\nFinance"
    )
    reply = world.answer_to(asked)
    message = reply.message
    conversation_id = world.conversation_of(asked)
    assert conversation_id is not None
    conversation = world.runtime.conversations.get(conversation_id)
    number = conversation.ticket_number
    assert number is not None and world.runtime.tickets.get(number).requester == RUBY
    assert (conversation.requester, conversation.channel) == (RUBY, "email")
    assert reply.rcpt_tos == [RUBY] and reply.mail_from == DESK
    assert message["Subject"] == f"Re: Can't sign in [{number}]"
    assert message["References"].split() == [asked] and message["Auto-Submitted"] == "auto-replied"
    assert message["From"] == f"NW IT help desk <{DESK}>"
    assert reply.text.strip() and reply.html.startswith("<!DOCTYPE html>") and "**" not in reply.text
    assert world.conversation_of(message["Message-ID"]) == conversation_id  # our reply is part of the thread
    first = world.runtime.conversations.events(conversation_id, kinds=["user_message"])[0]
    assert first.data["text"] == "Can't sign in\n\nI'm locked out of my account"  # subject first, no signature


def _opened(world: World, text: str) -> tuple[str, Received, str]:
    asked = world.send(f"Ruby Chen <{RUBY}>", "VPN", text)
    reply = world.answer_to(asked)
    conversation_id = world.conversation_of(asked)
    assert conversation_id is not None
    return conversation_id, reply, asked


def test_replies_in_the_thread_continue_the_same_conversation(world: World) -> None:
    conversation_id, reply, asked = _opened(world, "I'm locked out of my account")
    ours = reply.message["Message-ID"]
    number = world.runtime.conversations.get(conversation_id).ticket_number
    by_in_reply_to = world.send(f"Ruby Chen <{RUBY}>", f"Re: Locked out [{number}]", "still locked", in_reply_to=ours)
    second = world.answer_to(by_in_reply_to)
    assert world.conversation_of(by_in_reply_to) == conversation_id
    assert second.message["References"].split() == [asked, ours, by_in_reply_to]
    by_references = world.send(f"Ruby Chen <{RUBY}>", "Re: Locked out", "and again", references=f"{asked} {ours}")
    world.answer_to(by_references)
    assert world.conversation_of(by_references) == conversation_id
    by_subject = world.send(f"Ruby Chen <{RUBY}>", f"About {number}", "any news?")
    world.answer_to(by_subject)
    assert world.conversation_of(by_subject) == conversation_id
    users = [e.data["text"] for e in world.runtime.conversations.events(conversation_id, kinds=["user_message"])]
    assert users[-3:] == ["still locked", "and again", "any news?"]


def test_a_ticket_number_of_someone_else_opens_a_new_conversation(world: World) -> None:
    conversation_id, _, _ = _opened(world, "I'm locked out of my account")
    number = world.runtime.conversations.get(conversation_id).ticket_number
    world.runtime.channels.link("email", MARCUS, MARCUS, "admin")
    try:
        other = world.send(f"Marcus Bell <{MARCUS}>", f"Re: [{number}]", "what is this ticket?")
        world.answer_to(other)
        theirs = world.conversation_of(other)
        assert theirs is not None and theirs != conversation_id
        assert world.runtime.conversations.get(theirs).requester == MARCUS
    finally:
        world.runtime.channels.unlink("email", MARCUS)


@pytest.mark.parametrize(
    ("style", "body", "kept"),
    [
        ("gmail", "It works now!\n\nOn Thu, 4 Dec 2026 at 10:02, IT <{desk}> wrote:\n> Try again.\n", "It works now!"),
        (
            "outlook",
            "Thanks, it works.\n\n________________________________\nFrom: IT <{desk}>\nSent: Thursday\n\nTry.",
            "Thanks, it works.",
        ),
        (
            "apple",
            "Works again.\n\nSent from my iPhone\n\n> On 4 Dec 2026, at 10:02, IT <{desk}> wrote:\n>\n> Try.",
            "Works again.",
        ),
    ],
)
def test_quoted_text_and_signatures_are_not_part_of_the_message(world: World, style: str, body: str, kept: str) -> None:
    conversation_id, reply, _ = _opened(world, "My VPN keeps dropping")
    answer = world.send(
        f"Ruby Chen <{RUBY}>", "Re: VPN", body.format(desk=DESK), in_reply_to=reply.message["Message-ID"]
    )
    world.answer_to(answer)
    users = [e.data["text"] for e in world.runtime.conversations.events(conversation_id, kinds=["user_message"])]
    assert users[-1] == kept, style


AUTOMATIC = {
    "auto-replied": {"Auto-Submitted": "auto-replied"},
    "auto-generated": {"Auto-Submitted": "auto-generated"},
    "suppress": {"X-Auto-Response-Suppress": "OOF, AutoReply"},
    "bulk": {"Precedence": "bulk"},
    "junk": {"Precedence": "junk"},
    "list": {"Precedence": "list"},
    "list-id": {"List-Id": "IT news <it-news.nwmeridian.co.uk>"},
    "x-autoreply": {"X-Autoreply": "yes"},
    "x-autorespond": {"X-Autorespond": "yes"},
    "null-return-path": {"Return-Path": "<>"},
}


def test_auto_replies_bounces_and_loops_are_never_answered(world: World) -> None:
    sent_before = len(world.smtp.received)
    ids = [world.send(f"Ruby Chen <{RUBY}>", f"Out of office ({kind})", "I am away.", headers=headers)
           for kind, headers in AUTOMATIC.items()]  # fmt: skip
    ids.append(world.send("MAILER-DAEMON@mx.nwmeridian.co.uk", "Undelivered Mail Returned to Sender", "bounce"))
    ids.append(world.send(f"NW IT help desk <{DESK}>", "Re: Locked out [INC0000001]", "our own answer came back"))
    world.sync()
    assert all(world.conversation_of(mid) is None and not world.answers_to(mid) for mid in ids)
    assert len(world.smtp.received) == sent_before + 1  # only the sync mail's answer
    assert all(not world.runtime.channels.first_delivery("email", mid) for mid in ids)  # each was handled


def test_an_unknown_sender_gets_one_link_code_then_nothing_for_an_hour(world: World) -> None:
    stranger = "new.starter@nwmeridian.co.uk"
    first = world.send(stranger, "Wifi", "The guest wifi does not work")
    told = world.answer_to(first)
    assert told.rcpt_tos == [stranger] and told.message["Auto-Submitted"] == "auto-replied"
    assert "https://help.nwmeridian.co.uk/" in told.text
    code_match = CODE.search(told.text)
    assert code_match is not None
    second = world.send(stranger, "Wifi", "Hello??")
    world.sync()
    assert world.answers_to(second) == [] and world.conversation_of(first) is None
    assert world.conversation_of(second) is None
    world.clock.offset += timedelta(minutes=61)
    try:
        third = world.send(stranger, "Wifi", "Still nothing")
        assert CODE.search(world.answer_to(third).text)  # an hour later they are told again
    finally:
        world.clock.offset -= timedelta(minutes=61)
    # they link it in the signed-in web chat (the route calls confirm_link): now their mail is a turn
    world.runtime.channels.confirm_link(code_match.group(0), MARCUS)
    try:
        linked = world.send(stranger, "Wifi", "My VPN keeps dropping")
        world.answer_to(linked)
        conversation_id = world.conversation_of(linked)
        assert conversation_id is not None
        assert world.runtime.conversations.get(conversation_id).requester == MARCUS
    finally:
        world.runtime.channels.unlink("email", stranger)


def test_a_display_name_never_makes_someone_a_person(world: World) -> None:
    spoofed = world.send('"Ruby Chen" <evil@attacker.example>', "Reset my password", "I'm locked out of my account")
    told = world.answer_to(spoofed)
    assert told.rcpt_tos == ["evil@attacker.example"] and CODE.search(told.text)
    also = world.send(f'"{RUBY}" <evil2@attacker.example>', "Reset my password", "I'm locked out of my account")
    assert world.answer_to(also).rcpt_tos == ["evil2@attacker.example"]
    assert world.conversation_of(spoofed) is None and world.conversation_of(also) is None
    assert world.runtime.channels.person("email", "evil@attacker.example") is None


def test_smtp_down_keeps_the_answer_in_the_outbox_until_it_is_back(world: World) -> None:
    world.smtp.stop()
    try:
        asked = world.send(f"Ruby Chen <{RUBY}>", "Monitor", "My monitor flickers when I dock")
        deadline = time.monotonic() + 20
        waiting: list[OutgoingMail] = []
        while time.monotonic() < deadline and not waiting:
            waiting = [m for m in world.channel.outbox.list(status="pending") if m.last_error]
            time.sleep(0.05)
        assert waiting and waiting[0].headers["In-Reply-To"] == asked and waiting[0].attempts == 1
    finally:
        world.smtp.start()
    world.clock.offset += timedelta(minutes=1, seconds=1)  # the first retry is due a minute later
    try:
        world.channel.worker.wake()
        assert world.answer_to(asked).rcpt_tos == [RUBY]
    finally:
        world.clock.offset -= timedelta(minutes=1, seconds=1)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


def test_an_agent_comment_reaches_the_employee_by_mail(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    conversation_id, reply, _ = _opened(world, "I'm locked out of my account")
    number = world.runtime.conversations.get(conversation_id).ticket_number
    conversations = world.runtime.conversations
    latencies = []
    last_ours = reply.message["Message-ID"]
    for n in range(20):
        before = len(world.smtp.received)
        started = time.perf_counter()
        # as TellRequester does for a public comment staff wrote in the service desk, from another thread
        writer = threading.Thread(target=conversations.append, args=(
            conversation_id, "assistant_message", "service desk",
            {"text": f"Update on {number} from Sarah Lindqvist:\n**Unlocked** ({n}).", "status": "done"}))  # fmt: skip
        writer.start()
        writer.join()
        got = world.smtp.wait_for(before + 1)[before]
        latencies.append(got.at - started)
        assert got.rcpt_tos == [RUBY] and got.message["Subject"] == f"Re: VPN [{number}]"
        assert got.message["In-Reply-To"] == last_ours and f"Unlocked ({n})." in got.text
        assert world.conversation_of(got.message["Message-ID"]) == conversation_id
        last_ours = got.message["Message-ID"]
    p50, p95 = _percentiles(latencies)
    with capsys.disabled():
        print(f"\nagent comment -> SMTP server: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (n=20)")
    assert p95 < 2.0


def test_append_to_reply_latency(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    latencies = []
    for n in range(20):
        started = time.perf_counter()
        asked = world.send(f"Ruby Chen <{RUBY}>", f"Printer {n}", "Is the LON-F4 printer jammed again?")
        latencies.append(world.answer_to(asked).at - started)
    p50, p95 = _percentiles(latencies)
    with capsys.disabled():
        print(f"\nIMAP APPEND -> reply at the SMTP server: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (n=20)")
    assert p95 < 10.0


def test_build_uses_the_settings_and_refuses_a_mailbox_without_a_user(world: World, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, channels={"email": {"enabled": True, "address": DESK}})
    with Runtime(settings) as runtime, pytest.raises(ConfigError, match="username"):
        build(runtime)
    settings = load_settings(data_dir=tmp_path, channels={"email": {"enabled": True, "username": "desk"}})
    with Runtime(settings) as runtime:
        channel = build(runtime)
        assert channel.name == "email" and channel.watcher.key == "desk@127.0.0.1:993/INBOX"


def test_the_same_mail_delivered_twice_is_answered_once(world: World) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = f"Ruby Chen <{RUBY}>", DESK, "Printer"
    message["Message-ID"] = mid = f"<{uuid.uuid4().hex}@mail.example>"
    message.set_content("Is the LON-F4 printer jammed again?")
    world.dovecot.append(bytes(message))
    world.dovecot.append(bytes(message))  # a retried delivery: same Message-ID, a new UID
    world.answer_to(mid)
    world.sync()
    assert len(world.answers_to(mid)) == 1


def _signed(sender: str, results: list[str]) -> bytes:
    message = EmailMessage()
    for value in results:
        message["Authentication-Results"] = value
    message["From"], message["To"], message["Subject"] = sender, DESK, "VPN"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@mail.example>"
    message.set_content("My VPN keeps dropping")
    return bytes(message)


PASS = "mx.nwmeridian.co.uk; spf=pass smtp.mailfrom=nwmeridian.co.uk; dmarc=pass header.from=nwmeridian.co.uk"


def test_dmarc_from_the_own_mail_server_links_only_when_switched_on(world: World) -> None:
    channels = world.runtime.channels
    off = EmailChannel(world.runtime, world.channel.settings, worker=world.channel.worker, clock=world.clock)
    assert off.receive(_signed(f"Marcus Bell <{MARCUS}>", [PASS])) == "unknown-told"  # off by default
    assert channels.person("email", MARCUS) is None
    trusting = world.channel.settings.model_copy(
        update={"trust_authentication_results": True, "authserv_id": "mx.nwmeridian.co.uk"}
    )
    on = EmailChannel(world.runtime, trusting, worker=world.channel.worker, clock=world.clock)
    forged_below = [PASS.replace("dmarc=pass", "dmarc=fail"), PASS]  # the sender's own header sits below ours
    assert on.receive(_signed(f"Marcus Bell <{MARCUS}>", forged_below)) == "unknown-quiet"
    other_server = [PASS.replace("mx.nwmeridian.co.uk;", "mx.attacker.example;")]
    assert on.receive(_signed(f"Marcus Bell <{MARCUS}>", other_server)) == "unknown-quiet"
    not_a_person = [PASS]
    assert on.receive(_signed("Ghost <nobody.here@nwmeridian.co.uk>", not_a_person)) == "unknown-told"
    assert channels.person("email", MARCUS) is None
    try:
        assert on.receive(_signed(f"Marcus Bell <{MARCUS}>", [PASS])) == "answered"
        assert channels.person("email", MARCUS) == MARCUS
        assert [i.verified_via for i in channels.identities(MARCUS) if i.channel == "email"] == ["dmarc"]
    finally:
        channels.unlink("email", MARCUS)
