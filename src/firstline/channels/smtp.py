"""Sending the outgoing-mail queue over SMTP: :class:`SmtpSender` talks to the mail server, :class:`MailWorker`
drains :class:`~firstline.conversations.mail.MailOutbox` on a thread of its own.

* :class:`SmtpSender` builds a proper :class:`email.message.EmailMessage` (text, an optional HTML
  alternative, Message-ID, Date, the extra headers) and hands it to the server configured in
  ``[notifications.smtp]``: plain, STARTTLS or implicit TLS, a login when a username is set, a timeout.
  A 5xx answer is permanent (:class:`PermanentMailError`: retrying will not help); anything else
  (connection refused, timeout, 4xx) is worth retrying.
* :class:`MailWorker` claims due mail in batches, sends each batch over one connection, and marks each
  mail sent or failed. A transient failure waits 1, 2, 4 ... minutes (at most an hour) before the next
  attempt; after about a day of failures, or at once on a permanent one, the mail is given up
  (status ``failed``, the error kept). The worker wakes at once when a mail is enqueued in this process
  (:meth:`MailOutbox.watch`), and polls otherwise (mail enqueued by another process, retries).
* :func:`shared_worker` gives the one worker of a runtime, started by whoever needs it first (e-mail
  notifications, the e-mail channel) and stopped when the last of them stops it. With the job queue on
  (``jobs.enabled``), every stored mail also queues a deduplicated ``send_mail`` job
  (:mod:`firstline.jobs`), which calls :meth:`MailWorker.run_once` on any worker of the deployment, with
  retries; the thread stays as the in-process path (claims keep the two from sending a mail twice).
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import ssl
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING

from firstline.channel_settings import SmtpSettings
from firstline.conversations.mail import MailOutbox, OutgoingMail, domain_of
from firstline.localdb.database import utc_now

if TYPE_CHECKING:
    from firstline.runtime import Runtime

__all__ = ["MailWorker", "PermanentMailError", "SmtpSender", "backoff", "send_due_mail", "shared_worker"]

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)


class PermanentMailError(Exception):
    """The mail server refused the mail for good (a 5xx answer): retrying will not help."""


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt: 1 min, 2, 4 ... at most 1 h."""
    wait: timedelta = FIRST_RETRY * (2 ** min(max(attempts - 1, 0), 12))
    return min(wait, LONGEST_RETRY)


class SmtpSender:
    """Hands mail to the SMTP server of ``[notifications.smtp]``."""

    def __init__(self, settings: SmtpSettings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self._ssl = ssl_context

    def message(self, mail: OutgoingMail) -> EmailMessage:
        """The RFC 5322 message for ``mail`` (headers in ``mail.headers`` override the defaults)."""
        message = EmailMessage()
        headers = dict(mail.headers)
        message["From"] = headers.pop("From", "") or self.settings.sender
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(mail.created_at)
        message["Message-ID"] = mail.message_id
        message["MIME-Version"] = "1.0"
        for name, value in headers.items():
            if name in message:
                del message[name]
            message[name] = value
        message.set_content(mail.body_text)
        if mail.body_html:
            message.add_alternative(mail.body_html, subtype="html")
        # Long header lines unfolded: a folded List-Unsubscribe URL would be written as RFC 2047 encoded-words,
        # which RFC 2369 headers must not contain (mail clients then miss the one-click unsubscribe).
        message.policy = message.policy.clone(max_line_length=998)
        return message

    def _context(self) -> ssl.SSLContext:
        return self._ssl or ssl.create_default_context()

    @contextmanager
    def session(self) -> Iterator[Callable[[OutgoingMail], None]]:
        """One connection to the server; yields ``send(mail)`` (raises :class:`PermanentMailError` on 5xx)."""
        s = self.settings
        client: smtplib.SMTP
        if s.security == "tls":
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=self._context())
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        try:
            client.ehlo()
            if s.security == "starttls":
                client.starttls(context=self._context())
                client.ehlo()
            if s.username:
                client.login(s.username, s.password.get_secret_value() if s.password else "")

            def send(mail: OutgoingMail) -> None:
                message = self.message(mail)
                envelope_from = parseaddr(str(message["From"]))[1]
                try:
                    refused = client.send_message(message, from_addr=envelope_from, to_addrs=[mail.recipient])
                except smtplib.SMTPRecipientsRefused as refusal:
                    codes = [code for code, _ in refusal.recipients.values()]
                    if all(code >= 500 for code in codes):
                        raise PermanentMailError(f"the server refused {mail.recipient}: {refusal.recipients}") from None
                    raise
                except smtplib.SMTPResponseException as answer:
                    if answer.smtp_code >= 500:
                        raise PermanentMailError(f"{answer.smtp_code} {answer.smtp_error!r}") from None
                    raise
                if refused:
                    raise PermanentMailError(f"the server refused {mail.recipient}: {refused}")

            yield send
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    def send(self, mail: OutgoingMail) -> None:
        """Send one mail over a connection of its own."""
        with self.session() as send:
            send(mail)


class MailWorker:
    """Sends due mail from ``outbox`` through ``sender`` on a background thread (or by :meth:`run_once`).

    ``start()`` / ``stop()`` are counted: the worker runs from the first ``start`` until as many ``stop``
    calls, so the notifications and the e-mail channel can share one.
    """

    def __init__(
        self,
        outbox: MailOutbox,
        sender: SmtpSender,
        *,
        batch: int = 20,
        poll_s: float = 15.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.outbox = outbox
        self.sender = sender
        self._batch = batch
        self._poll_s = poll_s
        self._clock = clock
        self._name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._users = 0
        self._lock = threading.Lock()
        self._unwatch: Callable[[], None] | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Look for due mail now (called when a mail is enqueued)."""
        self._wake.set()

    def start(self) -> None:
        with self._lock:
            self._users += 1
            if self._thread is not None:
                return
            self._stopping.clear()
            self._unwatch = self.outbox.watch(self.wake)
            self._thread = threading.Thread(target=self._loop, name="firstline-mail", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            self._users = max(self._users - 1, 0)
            if self._users or self._thread is None:
                return
            thread, self._thread = self._thread, None
            if self._unwatch is not None:
                self._unwatch()
                self._unwatch = None
            self._stopping.set()
            self._wake.set()
        thread.join(timeout_s)

    def run_once(self) -> int:
        """Send what is due now; how many mails were sent."""
        mails = self.outbox.claim(self._batch, self._name)
        if not mails:
            return 0
        sent = 0
        handled: set[int] = set()
        try:
            with self.sender.session() as send:
                for mail in mails:
                    try:
                        send(mail)
                    except PermanentMailError as refusal:
                        log.warning("mail %s to %s refused for good: %s", mail.id, mail.recipient, refusal)
                        self.outbox.failed(mail.id, str(refusal), None)
                    except (smtplib.SMTPServerDisconnected, OSError):  # the connection is gone: retry the rest
                        raise
                    except smtplib.SMTPException as error:
                        self._retry(mail, error)
                    else:
                        self.outbox.sent(mail.id)
                        sent += 1
                    handled.add(mail.id)
        except (smtplib.SMTPException, OSError) as error:  # could not connect or log in, or the connection broke
            for mail in mails:
                if mail.id not in handled:
                    self._retry(mail, error)
        return sent

    def _retry(self, mail: OutgoingMail, error: BaseException) -> None:
        now = self._clock()
        text = f"{type(error).__name__}: {error}"
        if now - mail.created_at >= GIVE_UP_AFTER:
            log.error("mail %s to %s given up after %d attempts: %s", mail.id, mail.recipient, mail.attempts, text)
            self.outbox.failed(mail.id, text, None)
            return
        wait = backoff(mail.attempts)
        log.info("mail %s to %s not sent (%s); next try in %s", mail.id, mail.recipient, text, wait)
        self.outbox.failed(mail.id, text, now + wait)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                while self.run_once():
                    if self._stopping.is_set():
                        return
            except Exception:  # the database went away for a moment: try again on the next round
                log.exception("the mail worker failed a round")
            wait = self._poll_s
            try:
                due = self.outbox.next_due()
            except Exception:
                due = None
            if due is not None:
                wait = min(wait, max((due - self._clock()).total_seconds(), 0.05))
            self._wake.wait(wait)


_SHARED: weakref.WeakKeyDictionary[Runtime, MailWorker] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


MAIL_ROUNDS = 50  # batches one send_mail job sends at most before it lets other jobs run


def send_due_mail(worker: MailWorker) -> int:
    """The ``send_mail`` job: batch after batch of due mail (at most :data:`MAIL_ROUNDS`); how many were sent."""
    sent = 0
    for _ in range(MAIL_ROUNDS):
        batch = worker.run_once()
        sent += batch
        if not batch:
            break
    return sent


def _queue_round(runtime: Runtime) -> None:
    runtime.jobs.enqueue("send_mail")


def shared_worker(runtime: Runtime) -> MailWorker:
    """The runtime's one mail worker (created on first use, not started: call ``start()`` / ``stop()``)."""
    with _SHARED_LOCK:
        worker = _SHARED.get(runtime)
        if worker is None:
            smtp = runtime.settings.notifications.smtp
            outbox = MailOutbox(runtime.database, domain=domain_of(smtp.sender))
            worker = MailWorker(outbox, SmtpSender(smtp))
            if runtime.settings.jobs.enabled:  # each stored mail also queues a send_mail job (deduplicated)
                runtime.jobs.register("send_mail", lambda payload: send_due_mail(worker), dedupe=True, periodic=True)
                outbox.watch(lambda: _queue_round(runtime))
            _SHARED[runtime] = worker
        return worker
