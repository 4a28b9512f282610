"""E-mail notifications end to end: conversation events -> the notifier -> the mail queue -> the real
:class:`MailWorker` -> a real SMTP server (aiosmtpd on 127.0.0.1).

The approval and own-reply cases run the real helpdesk (the distribution-list approval of the demo
organisation, the locked-out flow that resolves a ticket in the employee's own turn); staff changes are
written the way the console and the vendor sync write them (``TellRequester``, an ``assistant_message``
from ``"service desk"``).

Absence is checked with a barrier: a later mail to someone else is awaited, and the notifier handles
notices in order on one thread, so anything wrongly wanted before it would have been queued first.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from firstline.channels.notify import Notifier, build_notifier
from firstline.channels.smtp import MailWorker, SmtpSender
from firstline.conversations import Notice
from firstline.conversations.mail import MailOutbox, domain_of
from firstline.conversations.preferences import NotificationPreferences
from firstline.helpdesk.desk import Helpdesk
from firstline.helpdesk.vendor_updates import TellRequester
from firstline.runtime import Runtime
from firstline.settings import load_settings
from firstline.testing.helpdesk import HelpdeskWorld
from firstline.testing.smtp_server import CapturingSmtp, Received
from firstline.ticketing import NewTicket, TicketState, TicketUpdate
from firstline.ticketing.sync import RemoteChangeEvent

pytestmark = pytest.mark.live

RUBY = "ruby.chen@nwmeridian.co.uk"
MARCUS = "marcus.bell@nwmeridian.co.uk"
LIST_OWNER = "patrick.nolan@nwmeridian.co.uk"  # owns first-aiders@, which needs the owner's approval
AGENTS = ("sarah.lindqvist@nwmeridian.co.uk", "ravi.chandran@nwmeridian.co.uk")
PUBLIC = "https://help.nwmeridian.example"


@dataclass
class World:
    runtime: Runtime
    smtp: CapturingSmtp
    notifier: Notifier
    heard: dict[tuple[str, int], float]  # (conversation, seq) -> perf_counter when the hub told

    def conversation(self, requester: str = RUBY, title: str = "VPN drops every few minutes") -> tuple[str, str]:
        """A conversation of ``requester`` with its ticket: (conversation id, ticket number)."""
        ticket = self.runtime.tickets.create(
            NewTicket(requester=requester, short_description=title, description="reported in the web chat")
        )
        store = self.runtime.conversations
        cid = store.create(requester, channel="web").id
        store.append(cid, "user_message", "desk", {"text": "my vpn keeps dropping"})
        store.append(cid, "assistant_message", "network", {"text": "I've opened a ticket.", "status": "done"})
        store.save(cid, ticket_number=ticket.number)
        return cid, ticket.number

    def comment(self, cid: str, text: str) -> None:
        """An IT agent's public comment, as the console writes it into the conversation."""
        self.runtime.conversations.append(cid, "assistant_message", "service desk", {"text": text, "status": "done"})

    def barrier(self, expected: int) -> list[Received]:
        """Mail Marcus in a conversation of his own and wait for it: every mail before it has arrived by then."""
        cid, _ = self.conversation(MARCUS, "barrier")
        self.comment(cid, "barrier")
        got = self.smtp.wait_for(expected + 1)
        assert got[-1].rcpt_tos == [MARCUS] and "barrier" in got[-1].text, [g.message["Subject"] for g in got]
        return got[:-1]


def _runtime(data_dir: Path, smtp: CapturingSmtp, **notifications: Any) -> Runtime:
    settings = load_settings(
        data_dir=data_dir,
        service={"public_url": PUBLIC, "seed_demo_accounts": False},
        notifications={
            "email": True,
            "smtp": {"host": smtp.host, "port": smtp.port, "sender": "IT help <it@nwmeridian.co.uk>", "timeout_s": 3},
            **notifications,
        },
    )
    runtime = Runtime(settings)
    for email in AGENTS:
        runtime.accounts.add(email, email.split(".")[0].title(), "agent", "a long enough password")
    runtime.accounts.add(RUBY, "Ruby Chen", "requester", "a long enough password")
    return runtime


@pytest.fixture
def smtp() -> Iterator[CapturingSmtp]:
    with CapturingSmtp() as server:
        yield server


def _world(
    tmp_path: Path, smtp: CapturingSmtp, window_s: float = 1.5, settle_s: float = 0.05, **notifications: Any
) -> Iterator[World]:
    runtime = _runtime(tmp_path / "data", smtp, **notifications)
    heard: dict[tuple[str, int], float] = {}

    def hear(notice: Notice) -> None:
        heard[(notice.conversation_id, notice.seq)] = time.perf_counter()

    runtime.conversations.hub.subscribe(hear)
    smtp_settings = runtime.settings.notifications.smtp
    outbox = MailOutbox(runtime.database, domain=domain_of(smtp_settings.sender))
    worker = MailWorker(outbox, SmtpSender(smtp_settings), poll_s=0.5)
    notifier = build_notifier(runtime, outbox=outbox, worker=worker, window_s=window_s, settle_s=settle_s).start()
    try:
        yield World(runtime, smtp, notifier, heard)
    finally:
        notifier.stop()
        runtime.close()


@pytest.fixture
def world(tmp_path: Path, smtp: CapturingSmtp) -> Iterator[World]:
    yield from _world(tmp_path, smtp)


def _desk(world: World, helpdesk_world: HelpdeskWorld) -> tuple[Helpdesk, dict[str, str]]:
    """The real helpdesk writing into the world's conversations and tickets (and so its hub)."""
    runtime = world.runtime
    return helpdesk_world.desk(conversations=runtime.conversations, tickets=runtime.tickets)


def _ask(desk: Helpdesk, text: str, conversation_id: str | None = None) -> Any:
    return asyncio.run(desk.ask(text, requester=RUBY, conversation_id=conversation_id, channel="web"))


# -- approvals ---------------------------------------------------------------------------------------


def test_an_approval_request_mails_the_approver_and_the_outcome_mails_the_requester(
    world: World, helpdesk_world: HelpdeskWorld
) -> None:
    desk, codes = _desk(world, helpdesk_world)
    first = _ask(desk, "please add me to the first-aiders@nwmeridian.co.uk distribution list")
    paused = _ask(desk, codes[RUBY], first.conversation_id)
    assert paused.status == "paused" and paused.approval["approvers"] == [LIST_OWNER]
    (asked,) = world.smtp.wait_for(1)
    number = paused.ticket["number"]
    assert asked.rcpt_tos == [LIST_OWNER]  # the list's owner only: not the agents, never Ruby
    assert asked.message["Subject"].strip().startswith(f"[{number}] Approval needed: add Ruby Chen to the list ")
    assert "first-aiders@nwmeridian.co.uk" in asked.message["Subject"]
    assert f"{PUBLIC}/console" in asked.text and "Ruby Chen (ruby.chen@nwmeridian.co.uk)" in asked.text
    assert paused.approval["id"] in asked.text and f'href="{PUBLIC}/console"' in asked.html
    assert asked.message["Auto-Submitted"] == "auto-generated"
    assert asked.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert asked.message["List-Unsubscribe"].startswith(f"<{PUBLIC}/v1/notifications/unsubscribe?token=")

    waiting = _ask(desk, "any news?", first.conversation_id)  # Ruby's own chat: never mailed
    assert waiting.status == "waiting"
    done = asyncio.run(desk.decide(paused.approval["id"], approved=True, decided_by=LIST_OWNER))
    assert done.status == "done"
    mails = world.smtp.wait_for(2)
    assert len(world.barrier(2)) == 2  # one mail to Ruby about the outcome, nothing else
    told = mails[1]  # the resumed turn resolved the ticket (mark_resolved): one resolution mail, reply inside
    assert told.rcpt_tos == [RUBY]
    assert told.message["Subject"].strip().startswith(f"[{number}] Resolved: please add me to the first-aiders")
    assert "How it was resolved: Added to first-aiders@nwmeridian.co.uk" in told.text
    assert "Ruby Chen is now a member of First Aiders" in told.text  # the outcome message, as plain text
    assert f"{PUBLIC}/?conversation={first.conversation_id}" in told.text


def test_without_named_approvers_every_agent_is_asked(world: World) -> None:
    from firstline.conversations import ApprovalRecord

    cid, number = world.conversation(AGENTS[0])  # an agent asking for themselves is not asked to approve it
    store = world.runtime.conversations
    with store.unit_of_work():
        store.append(cid, "approval_needed", "accounts", {"approval": "ap-1", "tool": "reset_mfa", "arguments": {}})
        store.add_approval(ApprovalRecord("ap-1", cid, "reset_mfa", {}, AGENTS[0]))
    got = world.barrier(1)
    assert [g.rcpt_tos for g in got] == [[AGENTS[1]]]
    subject = got[0].message["Subject"].strip()  # Python's mail parser keeps the space of a folded first line
    assert subject.startswith(f"[{number}] Approval needed: remove Sarah Lindqvist's registered sign-in (MFA)")
    assert "methods so they can set up a new phone (approval ap-1)" in got[0].text


# -- replies and resolution ---------------------------------------------------------------------------


def test_a_burst_of_public_comments_is_one_mail_per_window(world: World) -> None:
    cid, number = world.conversation()
    for n in range(3):
        world.comment(cid, f"**Update {n}**: we are looking at the VPN concentrator.")
    (first,) = world.smtp.wait_for(1)
    sent_at = time.perf_counter()
    assert first.rcpt_tos == [RUBY]
    assert first.message["Subject"].strip() == f"[{number}] New reply on VPN drops every few minutes (3 new messages)"
    assert all(f"Update {n}: we are looking" in first.text for n in range(3)) and "**" not in first.text
    assert "<strong>Update 0</strong>" in first.html
    world.comment(cid, "Update 3: found it.")
    world.comment(cid, "Update 4: fixed, please try again.")
    time.sleep(0.5)
    assert len(world.smtp.received) == 1  # inside the window: held
    second = world.smtp.wait_for(2)[1]
    assert second.at - sent_at >= 1.5 - 0.3  # not before the window ends (less the first mail's delivery)
    assert "Update 3: found it." in second.text and "Update 4: fixed" in second.text
    assert "Update 0" not in second.text
    assert len(world.barrier(2)) == 2


def test_resolution_mails_the_requester_once_with_the_note(world: World) -> None:
    cid, number = world.conversation()
    tickets = world.runtime.tickets
    tickets.update(number, TicketUpdate(state=TicketState.IN_PROGRESS), author="sarah.lindqvist@nwmeridian.co.uk")
    resolved = tickets.update(
        number,
        TicketUpdate(state=TicketState.RESOLVED, resolution_note="Replaced the VPN profile on your laptop."),
        author="sarah.lindqvist@nwmeridian.co.uk",
    )
    TellRequester(world.runtime.conversations)(RemoteChangeEvent(resolved, "firstline", {"state": "resolved"}))
    got = world.barrier(1)
    assert len(got) == 1  # the resolution, with the update message inside: not a second "reply" mail
    mail = got[0]
    assert (
        mail.rcpt_tos == [RUBY]
        and mail.message["Subject"].strip() == f"[{number}] Resolved: VPN drops every few minutes"
    )
    assert "How it was resolved: Replaced the VPN profile on your laptop." in mail.text
    assert f"Update on {number}: it is resolved" in mail.text  # the message the chat shows
    assert "Reply in the chat" in mail.text and f"{PUBLIC}/?conversation={cid}" in mail.text
    assert "Replaced the VPN profile" in mail.html


def test_own_chat_replies_and_own_resolutions_are_never_mailed(world: World, helpdesk_world: HelpdeskWorld) -> None:
    desk, codes = _desk(world, helpdesk_world)
    first = _ask(desk, "I'm locked out of my account")
    done = _ask(desk, codes[RUBY], first.conversation_id)
    assert done.ticket is not None and done.ticket["state"] == "resolved"  # resolved in her own turn
    _ask(desk, "thanks!", first.conversation_id)
    events = world.runtime.conversations.events(first.conversation_id)
    assert sum(e.kind == "assistant_message" for e in events) >= 3
    assert world.barrier(0) == []


def test_a_kind_turned_off_is_not_sent(world: World) -> None:
    NotificationPreferences(world.runtime.database).set(RUBY, "reply", False)
    cid, number = world.conversation()
    world.comment(cid, "We have a fix for you.")
    assert world.barrier(0) == []
    tickets = world.runtime.tickets
    tickets.update(number, TicketUpdate(state=TicketState.IN_PROGRESS), author="sarah.lindqvist@nwmeridian.co.uk")
    resolved = tickets.update(
        number, TicketUpdate(state=TicketState.RESOLVED, resolution_note="Fixed."), author="sarah.lindqvist@x.com"
    )
    TellRequester(world.runtime.conversations)(RemoteChangeEvent(resolved, "firstline", {"state": "resolved"}))
    mails = world.smtp.wait_for(2)
    assert mails[1].rcpt_tos == [RUBY] and "Resolved" in mails[1].message["Subject"]  # other kinds still go


def test_kinds_left_out_of_the_settings_are_not_sent(tmp_path: Path, smtp: CapturingSmtp) -> None:
    for world in _world(tmp_path, smtp, kinds=["approval", "resolved"]):
        cid, _ = world.conversation()
        world.comment(cid, "We have a fix for you.")
        from firstline.conversations import ApprovalRecord

        store = world.runtime.conversations
        with store.unit_of_work():
            store.append(cid, "approval_needed", "accounts", {"approval": "ap-2", "tool": "reset_mfa"})
            store.add_approval(ApprovalRecord("ap-2", cid, "reset_mfa", {}, RUBY, (LIST_OWNER,)))
        (mail,) = smtp.wait_for(1)
        time.sleep(0.5)
        assert [m.rcpt_tos for m in smtp.received] == [[LIST_OWNER]]  # the approval, not Ruby's reply
        assert "Approval needed" in mail.message["Subject"]


def test_a_clean_stop_stores_what_waits_in_the_window(tmp_path: Path, smtp: CapturingSmtp) -> None:
    for world in _world(tmp_path, smtp, window_s=60):
        cid, number = world.conversation()
        world.comment(cid, "First news.")
        smtp.wait_for(1)
        world.comment(cid, "Second news, held for the window.")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not world.notifier._batches:
            time.sleep(0.02)
        assert len(world.notifier.outbox.list()) == 1
        world.notifier.stop()
        stored = world.notifier.outbox.list()
        assert [m.recipient for m in stored] == [RUBY, RUBY] and stored[1].subject.startswith(f"[{number}] New reply")
        assert "Second news, held for the window." in stored[1].body_text


def test_the_runtime_wiring_sends_through_the_shared_worker(tmp_path: Path, smtp: CapturingSmtp) -> None:
    """What the service's lifespan does: ``build_notifier(runtime)`` with the settings only."""
    runtime = _runtime(tmp_path / "data", smtp, coalesce_s=30)
    notifier = build_notifier(runtime).start()
    try:
        assert notifier.window_s == 30 and notifier.worker is not None and notifier.worker.running
        world = World(runtime, smtp, notifier, {})
        cid, number = world.conversation()
        world.comment(cid, "Sent with the defaults.")
        (mail,) = smtp.wait_for(1)
        assert mail.rcpt_tos == [RUBY] and mail.mail_from == "it@nwmeridian.co.uk"
        assert "Sent with the defaults." in mail.text and f"[{number}]" in mail.message["Subject"]
    finally:
        notifier.stop()
        runtime.close()
    assert not notifier.worker.running


# -- the mail server away ------------------------------------------------------------------------------


class ShiftedClock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def test_mail_stays_queued_while_the_server_is_down_and_goes_later(tmp_path: Path, smtp: CapturingSmtp) -> None:
    runtime = _runtime(tmp_path / "data", smtp)
    clock = ShiftedClock()
    outbox = MailOutbox(runtime.database, domain="nwmeridian.co.uk", clock=clock)
    worker = MailWorker(outbox, SmtpSender(runtime.settings.notifications.smtp), poll_s=0.2, clock=clock)
    notifier = build_notifier(runtime, outbox=outbox, worker=worker, settle_s=0.05).start()
    try:
        world = World(runtime, smtp, notifier, {})
        cid, _ = world.conversation()
        smtp.stop()
        world.comment(cid, "Please restart your laptop.")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not [m for m in outbox.list() if m.attempts]:
            time.sleep(0.05)
        (queued,) = outbox.list()
        assert queued.status == "pending" and queued.attempts == 1 and queued.last_error
        assert queued.recipient == RUBY
        smtp.start()
        time.sleep(0.5)
        assert smtp.received == []  # it waits for its retry time
        clock.offset = timedelta(minutes=2)
        (mail,) = smtp.wait_for(1)
        assert "Please restart your laptop." in mail.text
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and outbox.list()[0].status != "sent":
            time.sleep(0.05)  # the server has it; the worker marks it sent right after
        assert [(m.status, m.attempts) for m in outbox.list()] == [("sent", 2)]
    finally:
        notifier.stop()
        runtime.close()


# -- how fast ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("settle_s", [0.25, 0.05], ids=["default-settle", "short-settle"])
def test_time_from_the_hub_notice_to_the_mail_server(tmp_path: Path, smtp: CapturingSmtp, settle_s: float) -> None:
    """p50/p95 over 20 comments in 20 conversations (no coalescing), each awaited before the next."""
    for world in _world(tmp_path, smtp, settle_s=settle_s):
        seconds: list[float] = []
        for n in range(20):
            cid, _ = world.conversation(title=f"laptop {n}")
            world.comment(cid, f"Comment {n}")
            mail = world.smtp.wait_for(n + 1)[n]
            seq = world.runtime.conversations.get(cid).event_count
            seconds.append(mail.at - world.heard[(cid, seq)])
        p50, p95 = statistics.median(seconds), statistics.quantiles(seconds, n=20)[18]
        ms = [round(x * 1000) for x in (settle_s, p50, p95)]
        print(f"\nnotice -> SMTP server (settle {ms[0]} ms): p50 {ms[1]} ms, p95 {ms[2]} ms")
        assert settle_s <= p50 and p95 < settle_s + 2.0


def test_the_unsubscribe_header_reaches_the_server_as_a_plain_url(world: World) -> None:
    cid, _ = world.conversation()
    world.comment(cid, "We have a fix for you.")
    (mail,) = world.smtp.wait_for(1)
    raw = dict(mail.message.raw_items())
    assert " ".join(str(raw["List-Unsubscribe"]).split()).startswith(f"<{PUBLIC}/v1/notifications/unsubscribe?")
