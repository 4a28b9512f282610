"""E-mail notifications: approvals for approvers, replies and resolutions for the employee who asked.

:func:`build_notifier` wires a :class:`Notifier` to a runtime; the service starts it in its lifespan when
``[notifications] email = true``. How a notice becomes a mail:

1. The conversation hub calls :meth:`Notifier.hear` on the writer's thread, after the event committed.
   It only drops the notice on a queue (a writer is never slowed down by mail).
2. The notifier's own thread reads the notice with :class:`~firstline.channels.notify_rules.NoticeRules`
   (which kind, who: never the employee's own chat replies) and keeps what is wanted in a batch per
   conversation, recipient and kind, for which ``[notifications] kinds`` allows it.
3. A batch is due ``settle_s`` after its first item (events written together arrive together), but never
   sooner than ``window_s`` after the previous mail of the same batch key: a burst of updates within the
   window becomes one mail, and nobody gets more than one mail per conversation and kind per window.
   When a resolution and a reply for the same person and conversation are due together (a vendor's
   update writes both), the reply's message goes inside the resolution mail.
4. When due, the person's preference is checked (:class:`NotificationPreferences`; they may have
   unsubscribed meanwhile), the mail is rendered (:class:`MailTemplates`) and stored in the outgoing-mail
   queue (:class:`MailOutbox`); the mail worker sends it and retries while the mail server is away.

What waits in a batch lives in memory: :meth:`Notifier.stop` stores every waiting batch at once, so a clean
shutdown loses nothing; a crash loses at most the last window's notices (the conversation keeps the events
themselves, and the web chat shows them).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from firstline.channel_settings import NoticeKind
from firstline.channels.notify_mail import MailTemplates
from firstline.channels.notify_rules import NoticeRules, Wanted, may_matter
from firstline.channels.notify_tokens import UnsubscribeTokens
from firstline.conversations import Notice, SqlConversations
from firstline.conversations.channels import SqlChannels
from firstline.conversations.mail import MailOutbox
from firstline.conversations.preferences import NotificationPreferences
from firstline.errors import FirstlineError
from firstline.ticketing.models import Ticket

if TYPE_CHECKING:
    from firstline.channels.smtp import MailWorker
    from firstline.runtime import Runtime
    from firstline.ticketing import TicketingBackend

__all__ = ["Notifier", "build_notifier"]

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # conversation id, recipient, kind


@dataclass
class _Batch:
    items: list[Wanted] = field(default_factory=list)
    due: float = 0.0
    tries: int = 0


class Notifier:
    """Turns conversation notices into notification mails on a thread of its own (see the module doc)."""

    def __init__(
        self,
        *,
        conversations: SqlConversations,
        rules: NoticeRules,
        templates: MailTemplates,
        preferences: NotificationPreferences,
        outbox: MailOutbox,
        tickets: TicketingBackend | None = None,
        worker: MailWorker | None = None,
        channels: SqlChannels | None = None,
        kinds: Iterable[NoticeKind] = ("approval", "reply", "resolved"),
        window_s: float = 60.0,
        settle_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conversations = conversations
        self.rules = rules
        self.templates = templates
        self.preferences = preferences
        self.outbox = outbox
        self.tickets = tickets
        self.worker = worker
        self.channels = channels  # a conversation held in an e-mail thread gets its replies there, not here
        self.kinds = frozenset(kinds)
        self.window_s = window_s
        self.settle_s = settle_s
        self._clock = clock
        self._queue: queue.SimpleQueue[Notice | None] = queue.SimpleQueue()
        self._batches: dict[Key, _Batch] = {}
        self._last_sent: dict[Key, float] = {}
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self.enqueued = 0  # mails stored in the outbox so far (for tests and metrics)

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> Notifier:
        with self._lock:
            if self._thread is not None:
                return self
            if self.worker is not None:
                self.worker.start()
            self._thread = threading.Thread(target=self._loop, name="firstline-notify", daemon=True)
            self._thread.start()
            self._unsubscribe = self.conversations.hub.subscribe(self.hear)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop listening, store every waiting batch as a mail now, then stop the thread (and the worker)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout_s)
        if self.worker is not None:
            self.worker.stop()

    def hear(self, notice: Notice) -> None:
        """The hub's listener: runs on the writer's thread, so it only queues what may matter."""
        if may_matter(notice):
            self._queue.put(notice)

    # -- the notifier's thread -------------------------------------------------------------------

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            wait = self._next_wait()
            arrived: list[Notice | None] = []
            with contextlib.suppress(queue.Empty):  # nothing new: a batch came due
                arrived.append(self._queue.get(timeout=wait))
            while True:  # take everything that arrived together
                try:
                    arrived.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for notice in arrived:
                if notice is None:
                    stopping = True
                else:
                    self._read(notice)
            self._flush(everything=stopping)

    def _next_wait(self) -> float | None:
        if not self._batches:
            return None
        return max(min(b.due for b in self._batches.values()) - self._clock(), 0.0)

    def _read(self, notice: Notice) -> None:
        try:
            wanted = self.rules.read(notice)
        except Exception:  # the database went away for a moment: this notice is lost, the next ones are not
            log.exception("could not read %s #%d for notifications", notice.conversation_id, notice.seq)
            return
        now = self._clock()
        for item in wanted:
            if item.kind not in self.kinds:
                continue
            if item.kind == "reply" and self._in_mail_thread(item.conversation_id):
                continue  # the e-mail channel mails the reply into the person's own thread already
            key = (item.conversation_id, item.recipient, item.kind)
            batch = self._batches.get(key)
            if batch is None:
                earliest = self._last_sent.get(key, -float("inf")) + self.window_s
                batch = self._batches[key] = _Batch(due=max(now + self.settle_s, earliest))
            batch.items.append(item)

    def _flush(self, everything: bool = False) -> None:
        now = self._clock()
        for key in [key for key, batch in self._batches.items() if everything or batch.due <= now]:
            batch = self._batches.get(key)
            if batch is None:
                continue  # folded into a resolution mail already
            try:
                self._flush_one(key, batch, now, everything)
            except Exception:  # the database or a template failed: try this batch again a little later
                batch.tries += 1
                if batch.tries >= 5 or everything:
                    log.exception("gave up a %s notification to %s about %s", key[2], key[1], key[0])
                    self._batches.pop(key, None)
                else:
                    log.warning("could not queue a %s notification to %s; retrying", key[2], key[1], exc_info=True)
                    batch.due = now + 5.0 * batch.tries
        self._last_sent = {k: t for k, t in self._last_sent.items() if now - t < self.window_s}

    def _flush_one(self, key: Key, batch: _Batch, now: float, everything: bool) -> None:
        cid, recipient, kind = key
        items = list(batch.items)
        folded: Key | None = None
        if kind == "resolved":
            folded = (cid, recipient, "reply")
            if folded in self._batches and self._wants(recipient, "resolved"):
                items += self._batches[folded].items
            else:
                folded = None
        elif kind == "reply" and (cid, recipient, "resolved") in self._batches and not everything:
            resolved = self._batches[(cid, recipient, "resolved")]
            if resolved.due <= now + self.settle_s:
                batch.due = resolved.due  # the resolution mail due with it will carry this reply
                return
        self._send(kind, recipient, cid, items)
        self._batches.pop(key, None)
        self._last_sent[key] = now
        if folded is not None:
            self._batches.pop(folded, None)
            self._last_sent[folded] = now

    def _in_mail_thread(self, conversation_id: str) -> bool:
        return self.channels is not None and bool(self.channels.threads_of(conversation_id, "email"))

    def _wants(self, recipient: str, kind: str) -> bool:
        return kind in self.kinds and self.preferences.enabled(recipient, kind)

    def _send(self, kind: str, recipient: str, conversation_id: str, items: list[Wanted]) -> None:
        if not self._wants(recipient, kind):
            log.info("%s notification to %s not sent: turned off", kind, recipient)
            return
        if kind == "approval":
            items = [i for i in items if self.conversations.approval(i.approval).status == "pending"]
            if not items:
                return  # decided before the mail went: nothing to ask any more
        number = next((i.ticket for i in items if i.ticket), None) or self._ticket_number(conversation_id)
        mail = self.templates.render(items[0].kind, items, self._ticket(number), number)
        self.outbox.enqueue(kind, recipient, mail.subject, mail.text, mail.html, mail.headers)
        self.enqueued += 1
        log.info("%s notification to %s about %s queued", kind, recipient, conversation_id)

    def _ticket_number(self, conversation_id: str) -> str | None:
        """The conversation's ticket: its header, else the latest ticket event (a turn saves its header last)."""
        number = self.conversations.get(conversation_id).ticket_number
        if number:
            return number
        for event in reversed(self.conversations.events(conversation_id, kinds=("ticket_change", "ticket_update"))):
            card = event.data.get("ticket")
            found = card.get("number") if isinstance(card, dict) else card
            if found:
                return str(found)
        return None

    def _ticket(self, number: str | None) -> Ticket | None:
        if not number or self.tickets is None:
            return None
        try:
            return self.tickets.get(number)
        except FirstlineError:  # gone, or the vendor is down: the mail goes without the title
            return None


def build_notifier(
    runtime: Runtime,
    *,
    outbox: MailOutbox | None = None,
    worker: MailWorker | None = None,
    window_s: float | None = None,
    settle_s: float = 0.25,
) -> Notifier:
    """The notifier of ``runtime`` (not started), sending through the runtime's shared mail worker
    (``[notifications.smtp]``); ``window_s`` defaults to ``[notifications] coalesce_s``."""
    from firstline.accounts.store import role_at_least
    from firstline.channels.smtp import shared_worker
    from firstline.runtime import server_secret

    if worker is None:
        worker = shared_worker(runtime)
    outbox = outbox or worker.outbox

    def agents() -> list[str]:
        return [a.email for a in runtime.accounts.all() if a.active and role_at_least(a.role, "agent")]

    conversations = runtime.conversations
    return Notifier(
        conversations=conversations,
        rules=NoticeRules(conversations, agents),
        templates=MailTemplates(runtime.settings.service.base_url, UnsubscribeTokens(server_secret(runtime.settings))),
        preferences=NotificationPreferences(runtime.database),
        outbox=outbox,
        tickets=runtime.tickets,
        worker=worker,
        channels=runtime.channels,
        kinds=runtime.settings.notifications.kinds,
        window_s=runtime.settings.notifications.coalesce_s if window_s is None else window_s,
        settle_s=settle_s,
    )
