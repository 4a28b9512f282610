"""E-mail to ticket: a mailbox watched over IMAP, each thread a conversation, answers by SMTP.

:class:`EmailChannel` ties the parts together:

1. :class:`~firstline.channels.email_watch.ImapWatcher` hands each new mail (IMAP IDLE, UID cursor) to
   :meth:`EmailChannel.receive`, on the watcher's thread, one at a time.
2. :func:`~firstline.channels.email_parse.parse_mail` reads it; a mail handled before (same Message-ID)
   is passed over; one that no person wrote (:func:`~firstline.channels.email_parse.automatic`: RFC 3834
   auto-replies, lists, bounces, our own mail) is never answered, which is what breaks mail loops.
3. The sender is a person only through a verified mapping (:mod:`firstline.channels.email_identity`). An
   unknown address gets one answer with a link code (at most one per address per hour); no turn runs.
4. The mail finds its conversation: by ``In-Reply-To`` / ``References`` (each Message-ID we received or
   sent is bound to its conversation with :meth:`SqlChannels.bind`), else by a ticket number in the
   subject when that ticket is the sender's own, else it starts a new conversation. A mail in someone
   else's thread starts a conversation of its own.
5. The text (quotes and signature stripped) becomes a turn of the same Helpdesk the web chat uses, run on
   the watcher thread with ``asyncio.run``; the answer is queued in the outgoing-mail queue as a threaded
   reply (``In-Reply-To``, ``References``, ``Re: <subject> [INC...]``, ``Auto-Submitted: auto-replied``)
   and its Message-ID bound to the conversation, so the person's answer to it threads back.
6. Proactive mail: a listener on the conversation hub queues every ``assistant_message`` of a conversation
   that lives on e-mail and that did not come from one of this channel's turns (an IT agent's public
   comment, an approval decided in the console) for a mail to the person, in the same thread.

The delivery is recorded (``first_delivery``) once the turn and its answer are stored; the watcher moves
its cursor after that. Mail is sent by the runtime's shared :class:`~firstline.channels.smtp.MailWorker`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import formataddr, parseaddr
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from sqlalchemy import select

from firstline.channel_settings import EmailChannelSettings
from firstline.channels.email_compose import link_text, markdown_html, markdown_text, reply_headers, reply_subject
from firstline.channels.email_identity import LINK_KIND, LinkReplies, dmarc_vouches
from firstline.channels.email_parse import IncomingMail, automatic, parse_mail, ticket_numbers
from firstline.channels.email_watch import ImapWatcher, MailCursors
from firstline.channels.smtp import MailWorker, shared_worker
from firstline.conversations.hub import Notice
from firstline.conversations.mail import domain_of
from firstline.errors import ConfigError, FirstlineError
from firstline.localdb.database import utc_now
from firstline.localdb.schema import channel_events_seen

if TYPE_CHECKING:
    import ssl

    from firstline.runtime import Runtime

__all__ = ["EmailChannel", "build", "router"]

log = logging.getLogger(__name__)

router = APIRouter()  # e-mail has no HTTP endpoints: mail arrives over IMAP

CHANNEL = "email"
_MAX_REFERENCES = 40


class EmailChannel:
    """The e-mail channel of one runtime: IMAP in, helpdesk turns, SMTP out."""

    name = CHANNEL

    def __init__(
        self,
        runtime: Runtime,
        settings: EmailChannelSettings | None = None,
        *,
        worker: MailWorker | None = None,
        clock: Callable[[], datetime] = utc_now,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings or runtime.settings.channels.email
        if not self.settings.address or "@" not in self.settings.address:
            raise ConfigError("Set [channels.email] address to the help desk's mailbox address.")
        self.worker = worker or shared_worker(runtime)
        self.outbox = self.worker.outbox
        self._clock = clock
        self.address = self.settings.address.strip().lower()
        display = parseaddr(runtime.settings.notifications.smtp.sender)[0] or "IT help desk"
        self.from_header = formataddr((display, self.address))
        self._links = LinkReplies(self.outbox, timedelta(seconds=self.settings.link_reply_interval_s), clock)
        self.watcher = ImapWatcher(self.settings, MailCursors(runtime.database), self.receive, ssl_context=ssl_context)
        self._in_turn = threading.local()
        self._notices: queue.Queue[Notice | None] = queue.Queue()
        self._proactive: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        self.worker.start()
        self._unsubscribe = self.runtime.conversations.hub.subscribe(self._hear)
        self._proactive = threading.Thread(target=self._tell_loop, name="firstline-email-notices", daemon=True)
        self._proactive.start()
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._proactive is not None:
            self._notices.put(None)
            self._proactive.join(10)
            self._proactive = None
        self.worker.stop()

    # -- incoming mail ------------------------------------------------------------------------------------

    def receive(self, raw: bytes) -> str:
        """Handle one mail; what became of it (for logs and tests): answered, linked, ignored ..."""
        mail = parse_mail(raw)
        if self._handled(mail.message_id):
            return "duplicate"
        reason = automatic(mail, (self.address, parseaddr(self.runtime.settings.notifications.smtp.sender)[1]))
        if reason is not None:
            log.info("mail %s from %s not answered: %s", mail.message_id, mail.address, reason)
            outcome = "ignored"
        else:
            person = self._person(mail)
            outcome = self._ask_to_link(mail) if person is None else self._answer(mail, person)
        self.runtime.channels.first_delivery(CHANNEL, mail.message_id)
        return outcome

    def _handled(self, message_id: str) -> bool:
        statement = select(channel_events_seen.c.event_id).where(
            channel_events_seen.c.channel == CHANNEL, channel_events_seen.c.event_id == message_id[:300]
        )
        with self.runtime.database.read() as conn:
            return conn.execute(statement).first() is not None

    def _person(self, mail: IncomingMail) -> str | None:
        person = self.runtime.channels.person(CHANNEL, mail.address)
        if person is not None or not self.settings.trust_authentication_results:
            return person
        vouched = dmarc_vouches(
            mail.all_headers("Authentication-Results"), mail.address, self.settings.authserv_id,
            self.runtime.directory,
        )  # fmt: skip
        if vouched is None:
            return None
        log.info("mail from %s linked to %s: DMARC pass from %s", mail.address, vouched, self.settings.authserv_id)
        return self.runtime.channels.link(CHANNEL, mail.address, vouched, "dmarc").email

    def _ask_to_link(self, mail: IncomingMail) -> str:
        if not self._links.may_answer(mail.address):
            log.info("mail %s from unknown %s: already told how to link this hour", mail.message_id, mail.address)
            return "unknown-quiet"
        code = self.runtime.channels.start_link(CHANNEL, mail.address)
        text, html = link_text(code, self.runtime.settings.service.base_url, mail.address)
        headers = reply_headers(mail.message_id, mail.references, self.from_header)
        self.outbox.enqueue(LINK_KIND, mail.address, reply_subject(mail.subject, None), text, html, headers)
        return "unknown-told"

    def _thread_of(self, mail: IncomingMail, person: str) -> tuple[str | None, list[str], str]:
        """(conversation id or None for a new one, the thread's Message-IDs so far, its subject)."""
        channels, conversations = self.runtime.channels, self.runtime.conversations
        for mid in mail.refers_to:
            thread = channels.thread(CHANNEL, mid)
            if thread is None:
                continue
            if self._requester(thread.conversation_id) == person:
                ref = thread.reference
                return thread.conversation_id, list(ref.get("references", [])), str(ref.get("subject", mail.subject))
            log.info("mail %s answers a thread of someone else's: a new conversation", mail.message_id)
            return None, [], mail.subject
        for number in ticket_numbers(mail.subject):
            conversation = conversations.for_ticket(number)
            if conversation is not None and conversation.requester == person and self._ticket_is(number, person):
                return conversation.id, [], mail.subject
        return None, [], mail.subject

    def _requester(self, conversation_id: str) -> str | None:
        try:
            return self.runtime.conversations.get(conversation_id).requester
        except FirstlineError:
            return None

    def _ticket_is(self, number: str, person: str) -> bool:
        try:
            return self.runtime.tickets.get(number).requester.lower() == person
        except FirstlineError:
            return False

    def _answer(self, mail: IncomingMail, person: str) -> str:
        conversation_id, chain, subject = self._thread_of(mail, person)
        text = mail.text
        if conversation_id is None and mail.subject and mail.subject.lower() not in text.lower():
            text = f"{mail.subject}\n\n{text}".strip()
        if not text:
            text = mail.subject or "(an empty mail)"
        self._in_turn.active = True
        try:
            reply = asyncio.run(
                self.runtime.helpdesk.ask(text, requester=person, conversation_id=conversation_id, channel=CHANNEL)
            )
        finally:
            self._in_turn.active = False
        chain = [*(mail.references or chain), mail.message_id][-_MAX_REFERENCES:]
        reference = {"address": mail.address, "requester": person, "subject": subject, "references": chain}
        self.runtime.channels.bind(CHANNEL, mail.message_id, reply.conversation_id, reference)
        if not reply.reply.strip():
            return "stored"
        ticket = (reply.ticket or {}).get("number") or self._ticket_of(reply.conversation_id)
        body = reply.reply
        if mail.attachments:
            body += "\n\n_(Attachments are not read here: " + ", ".join(mail.attachments[:5]) + ".)_"
        self._send(reply.conversation_id, mail.address, subject, ticket, body, reference, answered=mail.message_id)
        return "answered"

    def _ticket_of(self, conversation_id: str) -> str | None:
        try:
            return self.runtime.conversations.get(conversation_id).ticket_number
        except FirstlineError:
            return None

    def _send(
        self, conversation_id: str, address: str, subject: str, ticket: str | None, markdown: str,
        reference: dict[str, Any], *, answered: str, kind: str = "email-reply",
    ) -> None:  # fmt: skip
        """Queue ``markdown`` as a mail in the thread and bind its Message-ID to the conversation."""
        references = list(reference.get("references", []))
        message_id = f"<{uuid.uuid4().hex}@{domain_of(self.address)}>"
        headers = reply_headers(answered, references, self.from_header)
        headers["Message-ID"] = message_id
        with self.runtime.database.unit_of_work():
            self.outbox.enqueue(
                kind, address, reply_subject(subject, ticket), markdown_text(markdown), markdown_html(markdown), headers
            )
            chain = [*references, message_id][-_MAX_REFERENCES:]
            self.runtime.channels.bind(CHANNEL, message_id, conversation_id, {**reference, "references": chain})

    # -- proactive mail -----------------------------------------------------------------------------------

    def _hear(self, notice: Notice) -> None:
        """Hub listener (on the writer's thread): queue assistant messages that no e-mail turn wrote."""
        if notice.kind == "assistant_message" and not getattr(self._in_turn, "active", False):
            self._notices.put(notice)

    def _tell_loop(self) -> None:
        while (notice := self._notices.get()) is not None:
            try:
                self.tell(notice)
            except Exception:  # one bad notice must not stop the others; the event stays in the conversation
                log.exception("could not mail %s #%d", notice.conversation_id, notice.seq)

    def tell(self, notice: Notice) -> bool:
        """Mail ``notice`` (an assistant message) to the person in the conversation's e-mail thread."""
        text = str(notice.data.get("text", "")).strip()
        threads = self.runtime.channels.threads_of(notice.conversation_id, CHANNEL)
        if not text or not threads:
            return False
        reference = threads[0].reference
        address = str(reference.get("address", ""))
        requester = self._requester(notice.conversation_id)
        # the address must still be verified as the conversation's person (it may have been unlinked since)
        if not address or requester is None or self.runtime.channels.person(CHANNEL, address) != requester:
            log.info(
                "not mailing %s #%d: %s is not linked to its requester", notice.conversation_id, notice.seq, address
            )
            return False
        references = list(reference.get("references", []))
        answered = references[-1] if references else threads[0].external_key
        ticket = self._ticket_of(notice.conversation_id)
        subject = str(reference.get("subject", ""))
        self._send(
            notice.conversation_id, address, subject, ticket, text, reference, answered=answered, kind="email-update"
        )
        return True


def build(runtime: Runtime) -> EmailChannel:
    """The e-mail channel of ``runtime`` from ``[channels.email]`` (not started)."""
    settings = runtime.settings.channels.email
    if not settings.username:
        raise ConfigError("Set [channels.email] username (and FIRSTLINE_CHANNELS__EMAIL__PASSWORD) for the mailbox.")
    return EmailChannel(runtime, settings)
