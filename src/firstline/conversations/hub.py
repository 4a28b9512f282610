"""Telling whoever listens that a conversation changed, once the change is stored.

:class:`SqlConversations` publishes a :class:`Notice` for every event it appends, after the
transaction that stored it commits (never after a rollback). Listeners are the live stream of the
web chat and console (SSE), e-mail notifications, and the channels' proactive messages (Teams,
Slack, e-mail replies). Listeners run on the publishing thread and must be quick: a listener that
has work to do hands it to its own queue or loop. One that raises is logged and the others still run.

The hub lives in this process's memory: listeners in another process hear nothing (issue 16 brings a
shared fan-out); they read the stored events, so a missed notice delays a change, it never loses it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from firstline.localdb.database import utc_now

__all__ = ["TICKET", "Hub", "Listener", "Notice"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Notice:
    """One stored conversation event, with the conversation's requester (None when nobody is known yet);
    or, with kind ``ticket`` and no conversation, a ticket that changed (``data["ticket"]``)."""

    conversation_id: str
    seq: int
    kind: str
    agent: str
    requester: str | None
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Notice], None]
TICKET = "ticket"  # the kind of a notice about a ticket rather than a conversation event


class Hub:
    """Fan-out of :class:`Notice` to every subscribed listener, in order of subscription."""

    def __init__(self) -> None:
        self._listeners: dict[int, Listener] = {}
        self._next = 0
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every notice from now on; returns the function that stops it."""
        with self._lock:
            key = self._next
            self._next += 1
            self._listeners[key] = listener

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.pop(key, None)

        return unsubscribe

    def publish(self, notice: Notice) -> None:
        with self._lock:
            listeners = list(self._listeners.values())
        for listener in listeners:
            try:
                listener(notice)
            except Exception:  # a listener's failure must not stop the others or the writer
                log.exception("a listener failed on %s #%d", notice.conversation_id, notice.seq)

    def ticket_changed(self, number: str, by: str, requester: str | None = None) -> None:
        """Tell listeners that ticket ``number`` changed outside any conversation (an IT agent's console
        action, once it is stored): a notice of kind ``ticket`` with no conversation."""
        self.publish(Notice("", 0, TICKET, by, requester, utc_now(), {"ticket": number}))

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._listeners)
