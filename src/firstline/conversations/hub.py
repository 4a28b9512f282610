"""Telling whoever listens that a conversation changed, once the change is stored.

:class:`SqlConversations` publishes a :class:`Notice` for every event it appends, after the
transaction that stored it commits (never after a rollback). Listeners run on the publishing thread
and must be quick: a listener that has work to do hands it to its own queue or loop. One that raises
is logged and the others still run.

Two kinds of listener, because a deployment may run several workers:

* :meth:`Hub.subscribe` hears the notices **this process** stored. Side effects that must happen once
  per event subscribe here: e-mail notifications and the channels' proactive messages (Teams, Slack,
  e-mail replies) run in the worker that stored the event, never in every worker.
* :meth:`Hub.subscribe_everywhere` hears the notices of **every worker**: this process's, and, when the
  hub is shared (:func:`share_through` a Redis bus, done by the runtime when ``scale.redis_url`` is set),
  those the other workers publish. The live SSE streams listen here, so an employee's stream hears a
  turn whichever worker handled it. Without Redis "every worker" is this process.

A shared hub sends each notice as JSON (:func:`notice_to_json`; ``created_at`` as ISO 8601, ``data``
as is) on the bus with the sender's ``origin``; each process's subscriber hands the others' notices to
its everywhere-listeners (:meth:`Hub.heard_remote`), never its own again. Pub/sub is best effort: a
notice lost while Redis is down delays a live update, it never loses the change; streams re-read the
stored events when they (re)open.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from firstline.localdb.database import utc_now

if TYPE_CHECKING:
    from firstline.coordination import Bus, Subscription

__all__ = [
    "CHANNEL",
    "TICKET",
    "Hub",
    "Listener",
    "Notice",
    "Sharing",
    "notice_from_json",
    "notice_to_json",
    "share_through",
]

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
CHANNEL = "notices"  # the bus channel (under the deployment's key prefix) that shared hubs use


def notice_to_json(notice: Notice) -> dict[str, Any]:
    """The notice as JSON-ready data (``created_at`` in ISO 8601)."""
    return {
        "conversation_id": notice.conversation_id,
        "seq": notice.seq,
        "kind": notice.kind,
        "agent": notice.agent,
        "requester": notice.requester,
        "created_at": notice.created_at.isoformat(),
        "data": notice.data,
    }


def notice_from_json(data: dict[str, Any]) -> Notice:
    """The notice :func:`notice_to_json` wrote; ``ValueError`` (or ``KeyError``/``TypeError``) when it is not one."""
    payload = data.get("data") or {}
    if not isinstance(payload, dict):
        raise ValueError("a notice's data must be an object")
    requester = data.get("requester")
    return Notice(
        conversation_id=str(data["conversation_id"]),
        seq=int(data["seq"]),
        kind=str(data["kind"]),
        agent=str(data["agent"]),
        requester=None if requester is None else str(requester),
        created_at=datetime.fromisoformat(str(data["created_at"])),
        data=payload,
    )


class _Listeners:
    def __init__(self) -> None:
        self._listeners: dict[int, Listener] = {}
        self._next = 0
        self._lock = threading.Lock()

    def add(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            key = self._next
            self._next += 1
            self._listeners[key] = listener

        def remove() -> None:
            with self._lock:
                self._listeners.pop(key, None)

        return remove

    def call(self, notice: Notice) -> None:
        with self._lock:
            listeners = list(self._listeners.values())
        for listener in listeners:
            try:
                listener(notice)
            except Exception:  # a listener's failure must not stop the others or the writer
                log.exception("a listener failed on %s #%d", notice.conversation_id, notice.seq)

    def __len__(self) -> int:
        with self._lock:
            return len(self._listeners)


class Hub:
    """Fan-out of :class:`Notice` to this process's listeners and, when shared, to every worker's."""

    def __init__(self) -> None:
        self._local = _Listeners()
        self._everywhere = _Listeners()
        self._send: Callable[[Notice], None] | None = None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every notice stored **by this process** from now on; returns the function that
        stops it. For side effects that must run once per event (mail, chat messages)."""
        return self._local.add(listener)

    def subscribe_everywhere(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every notice stored **by any worker** from now on (this process's as well);
        returns the function that stops it. For live views such as the SSE streams."""
        return self._everywhere.add(listener)

    def publish(self, notice: Notice) -> None:
        """Tell this process's listeners, then every worker (when shared). Never raises for a listener or
        the bus: the event is stored already."""
        self._local.call(notice)
        self._everywhere.call(notice)
        send = self._send
        if send is not None:
            try:
                send(notice)
            except Exception as exc:  # Redis down: the other workers' streams catch up when they re-read
                log.error("could not share notice %s #%d with the other workers: %s", notice.kind, notice.seq, exc)

    def heard_remote(self, notice: Notice) -> None:
        """A notice another worker stored: for the everywhere-listeners only (its side effects ran there)."""
        self._everywhere.call(notice)

    def ticket_changed(self, number: str, by: str, requester: str | None = None) -> None:
        """Tell listeners that ticket ``number`` changed outside any conversation (an IT agent's console
        action, once it is stored): a notice of kind ``ticket`` with no conversation."""
        self.publish(Notice("", 0, TICKET, by, requester, utc_now(), {"ticket": number}))

    def share(self, send: Callable[[Notice], None] | None) -> None:
        """Also hand every published notice to ``send`` (the bus); None stops sharing."""
        self._send = send

    @property
    def listeners(self) -> int:
        """Listeners of both kinds."""
        return len(self._local) + len(self._everywhere)


class Sharing:
    """A hub shared through a bus: :meth:`stop` ends it; :meth:`wait_connected` waits for the subscriber."""

    def __init__(self, hub: Hub, subscription: Subscription) -> None:
        self.hub, self.subscription = hub, subscription

    def wait_connected(self, timeout_s: float) -> bool:
        return self.subscription.wait_connected(timeout_s)

    def stop(self) -> None:
        self.hub.share(None)
        self.subscription.stop()


def share_through(hub: Hub, bus: Bus, origin: str | None = None) -> Sharing:
    """Share ``hub`` with every process subscribed to the same bus, until :meth:`Sharing.stop`.

    ``origin`` tells this process's own messages apart (a fresh id by default: two runtimes in one process
    are two workers)."""
    me = origin or uuid.uuid4().hex

    def send(notice: Notice) -> None:
        bus.publish(CHANNEL, {"origin": me, "notice": notice_to_json(notice)})

    def heard(message: dict[str, Any]) -> None:
        if message.get("origin") == me:
            return
        try:
            notice = notice_from_json(message["notice"])
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("ignored a malformed notice from the bus: %s", exc)
            return
        hub.heard_remote(notice)

    subscription = bus.subscribe(CHANNEL, heard)
    hub.share(send)
    return Sharing(hub, subscription)
