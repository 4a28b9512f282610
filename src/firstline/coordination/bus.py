"""Publish JSON on a Redis channel; hear it in every process through a background subscriber thread.

``bus.publish("notices", {...})`` sends one message on ``<prefix>:notices`` and returns how many
subscribers Redis handed it to. ``bus.subscribe("notices", callback)`` starts a daemon thread with its own
connection that calls ``callback(payload)`` for every message, in order. Pub/sub is fire-and-forget: a
message sent while a subscriber is disconnected is lost to it, so callers use it only for hints whose
loss delays a change, never loses it (the live notices: streams re-read stored events).

The thread survives Redis restarts: on a connection error it logs once, waits (0.1 s doubling to
``max_backoff_s``) and subscribes again; :attr:`Subscription.connected` is set while it is subscribed.
:meth:`Subscription.stop` ends the thread within about ``POLL_S`` and closes its connection. A message
that is not JSON, or a callback that raises, is logged and skipped: one bad message never stops the
subscriber.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis

if TYPE_CHECKING:
    from firstline.coordination.client import Coordination

__all__ = ["Bus", "Subscription"]

log = logging.getLogger(__name__)

POLL_S = 0.25  # how often the subscriber thread looks at its stop flag while no message arrives


class Bus:
    """Channels under the deployment's key prefix on one Redis."""

    def __init__(self, coordination: Coordination) -> None:
        self.coordination = coordination

    def publish(self, channel: str, payload: dict[str, Any]) -> int:
        """Send ``payload`` (JSON) to every subscriber of ``channel``; raises RedisUnavailableError when down."""
        data = json.dumps(payload, separators=(",", ":"), default=str)
        try:
            receivers: int = self.coordination.client.publish(self.coordination.key(channel), data)
        except (redis.RedisError, OSError) as exc:
            raise self.coordination.unavailable(exc) from exc
        return receivers

    def subscribe(
        self, channel: str, callback: Callable[[dict[str, Any]], None], max_backoff_s: float = 5.0
    ) -> Subscription:
        """Call ``callback`` for every message on ``channel`` from a background thread until ``stop()``."""
        return Subscription(self.coordination, self.coordination.key(channel), callback, max_backoff_s).start()


class Subscription:
    """One background subscriber: a thread and a connection of its own."""

    def __init__(
        self,
        coordination: Coordination,
        channel: str,
        callback: Callable[[dict[str, Any]], None],
        max_backoff_s: float,
    ) -> None:
        self.channel = channel
        self.connected = threading.Event()
        self.reconnects = 0  # times the subscriber subscribed again after losing Redis
        self._client = coordination.new_client(coordination.timeout_s, retries=0)
        self._callback = callback
        self._max_backoff_s = max_backoff_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bus:{channel}", daemon=True)

    def start(self) -> Subscription:
        self._thread.start()
        return self

    def wait_connected(self, timeout_s: float) -> bool:
        """Whether the subscriber is subscribed (waiting up to ``timeout_s``)."""
        return self.connected.wait(timeout_s)

    def _run(self) -> None:
        delay, failed = 0.1, False
        while not self._stopping.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                if failed:
                    self.reconnects += 1
                    log.info("bus subscriber on %s reconnected", self.channel)
                failed, delay = False, 0.1
                self.connected.set()
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=POLL_S)
                    if message is not None and message.get("type") == "message":
                        self._deliver(message["data"])
            except (redis.RedisError, OSError) as exc:
                self.connected.clear()
                if not failed:
                    log.warning("bus subscriber on %s lost Redis (%s); reconnecting", self.channel, exc)
                failed = True
                self._stopping.wait(delay)
                delay = min(delay * 2, self._max_backoff_s)
            finally:
                self.connected.clear()
                with contextlib.suppress(redis.RedisError, OSError):  # closing a broken connection
                    pubsub.close()

    def _deliver(self, data: Any) -> None:
        try:
            payload = json.loads(data)
        except (TypeError, ValueError):
            log.warning("bus message on %s is not JSON; skipped", self.channel)
            return
        if not isinstance(payload, dict):
            log.warning("bus message on %s is not a JSON object; skipped", self.channel)
            return
        try:
            self._callback(payload)
        except Exception:  # a callback's failure must not stop the subscriber
            log.exception("bus callback on %s failed", self.channel)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and close its connection."""
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self._client.close()
