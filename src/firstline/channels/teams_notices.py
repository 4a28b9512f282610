"""What the Teams bot says without being asked: proactive messages and approval cards.

:class:`TeamsNotices` listens to the conversation hub (``runtime.conversations.hub``). The hub calls
listeners on the writer's thread, so :meth:`TeamsNotices.hear` only sorts and queues; one worker
thread of its own does the Connector calls, in order:

* ``assistant_message`` in a conversation that lives in Teams (``SqlChannels.threads_of(cid,
  "teams")``) is posted into that Teams conversation, unless it is the reply of a Teams turn that is
  answering right now (the turn sends that itself). Which notices those are is known by thread: a
  Teams turn marks its worker thread (:meth:`turn_started`), and the hub publishes on that thread.
  So an IT agent's public comment, a decided approval's outcome or a vendor update reaches the
  employee in Teams, and the bot's own replies are not sent twice.
* ``approval_needed`` sends an Adaptive Card (Approve / Deny) to each person who may decide it (the
  named approvers, or every active IT agent and admin but the requester) and has linked Teams and a
  personal chat with the bot we can reach: one we saw this run (:meth:`remember`) or one stored with
  a conversation of theirs.
* ``approval_decided`` replaces every card this process sent for that approval with the outcome
  (cards sent before a restart keep their buttons; a click on one is told who decided first).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from firstline.accounts import role_at_least
from firstline.channels.teams_cards import approval_card, decided_card
from firstline.channels.teams_connector import Connector, Reference, message
from firstline.conversations.hub import Notice
from firstline.errors import FirstlineError

if TYPE_CHECKING:
    from firstline.runtime import Runtime

__all__ = ["TeamsNotices", "TurnMark"]

log = logging.getLogger(__name__)

CHANNEL = "teams"


@dataclass
class TurnMark:
    """A Teams turn running on this thread: set once anything of it is stored (its message, first)."""

    stored: threading.Event = field(default_factory=threading.Event)


class TeamsNotices:
    """The hub listener and the worker thread that writes to Teams."""

    def __init__(self, runtime: Runtime, connector: Connector) -> None:
        self.runtime = runtime
        self.connector = connector
        self._local = threading.local()
        self._queue: queue.Queue[Notice | None] = queue.Queue()
        self._reachable: dict[str, Reference] = {}  # AAD object id -> their personal chat with the bot
        self._cards: dict[str, list[tuple[Reference, str]]] = {}  # approval id -> cards sent (where, activity id)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="firstline-teams-notices", daemon=True)
        self._thread.start()
        self._unsubscribe = self.runtime.conversations.hub.subscribe(self.hear)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)

    # -- what the channel tells us ----------------------------------------------------------------

    def turn_started(self) -> TurnMark:
        """Mark this thread as running a Teams turn (its replies are sent by the turn)."""
        mark = TurnMark()
        self._local.turn = mark
        return mark

    def turn_ended(self) -> None:
        mark: TurnMark | None = getattr(self._local, "turn", None)
        if mark is not None:
            mark.stored.set()
        self._local.turn = None

    def remember(self, reference: Reference) -> None:
        """A personal chat with the bot we may write to later (for approval cards)."""
        if reference.personal and reference.user_aad:
            with self._lock:
                self._reachable[reference.user_aad] = reference

    def card_sent(self, approval_id: str, reference: Reference, activity_id: str) -> None:
        with self._lock:
            self._cards.setdefault(approval_id, []).append((reference, activity_id))

    # -- the hub listener (on the writer's thread: quick) -----------------------------------------

    def hear(self, notice: Notice) -> None:
        mark: TurnMark | None = getattr(self._local, "turn", None)
        if mark is not None:
            mark.stored.set()
            if notice.kind == "assistant_message":
                return  # the Teams turn on this thread sends its own reply
        if notice.kind in ("assistant_message", "approval_needed", "approval_decided"):
            self._queue.put(notice)

    # -- the worker ---------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            notice = self._queue.get()
            if notice is None:
                return
            try:
                if notice.kind == "assistant_message":
                    self._proactive(notice)
                elif notice.kind == "approval_needed":
                    self._approval_cards(notice)
                else:
                    self._decided(notice)
            except Exception:  # one failed delivery must not stop the others
                log.exception("Teams could not be told of %s #%d", notice.conversation_id, notice.seq)

    def _proactive(self, notice: Notice) -> None:
        text = str(notice.data.get("text") or "").strip()
        threads = self.runtime.channels.threads_of(notice.conversation_id, CHANNEL)
        if not text or not threads:
            return
        reference = Reference.from_dict(threads[0].reference)
        self.connector.send(reference, message(reference, text))
        log.info("told Teams conversation of %s #%d", notice.conversation_id, notice.seq)

    def _context(self, conversation_id: str) -> tuple[str | None, str | None]:
        try:
            conversation = self.runtime.conversations.get(conversation_id)
        except FirstlineError:
            return None, None
        return conversation.requester, conversation.ticket_number

    def _approval_cards(self, notice: Notice) -> None:
        approval_id = str(notice.data.get("approval") or "")
        if not approval_id:
            return
        record = self.runtime.conversations.approval(approval_id)
        if record.status != "pending":
            return
        requester, ticket = self._context(record.conversation_id)
        card = approval_card(record.as_dict(), requester, ticket)
        for email in self.deciders(record.approvers, record.requested_by):
            for reference in self.reach(email):
                activity_id = self.connector.send(reference, message(reference, cards=[card]))
                self.card_sent(approval_id, reference, activity_id)

    def _decided(self, notice: Notice) -> None:
        approval_id = str(notice.data.get("id") or "")
        with self._lock:
            cards = self._cards.pop(approval_id, [])
        if not cards:
            return
        record = self.runtime.conversations.approval(approval_id)
        requester, ticket = self._context(record.conversation_id)
        card = decided_card(record.as_dict(), requester, ticket)
        for reference, activity_id in cards:
            self.connector.update(reference, activity_id, message(reference, cards=[card]))

    # -- who decides, and where they are --------------------------------------------------------------

    def deciders(self, approvers: tuple[str, ...], requested_by: str) -> list[str]:
        """Who may decide: the named approvers, else every active agent and admin but the requester."""
        if approvers:
            return list(approvers)
        return [
            a.email
            for a in self.runtime.accounts.all()
            if a.active and role_at_least(a.role, "agent") and a.email != requested_by.lower()
        ]

    def reach(self, email: str) -> list[Reference]:
        """Personal chats with the bot of ``email``'s linked Teams identities (one per identity we can reach)."""
        found: list[Reference] = []
        for identity in self.runtime.channels.identities(email):
            if identity.channel != CHANNEL:
                continue
            with self._lock:
                known = self._reachable.get(identity.external_id)
            known = known or self._stored_chat(email, identity.external_id)
            if known is not None:
                found.append(known)
        return found

    def _stored_chat(self, email: str, aad: str) -> Reference | None:
        """A personal chat of ``aad`` kept with one of ``email``'s recent conversations."""
        for conversation in self.runtime.conversations.recent(requester=email, limit=50):
            for thread in self.runtime.channels.threads_of(conversation.id, CHANNEL):
                reference = Reference.from_dict(thread.reference)
                if reference.personal and reference.user_aad == aad:
                    self.remember(reference)
                    return reference
        return None
