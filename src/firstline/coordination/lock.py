"""A lock across processes and machines: one holder at a time for work such as seeding or an ingest.

Taking it is ``SET <prefix>:lock:<name> <token> NX PX <ttl>``: the key names the holder by a random
token and expires by itself, so a holder that dies frees the lock after ``ttl_s`` at most. While held, a
daemon thread renews the expiry every ``ttl_s / 3`` (only while the key still holds our token). Releasing
deletes the key only if it still holds our token (one Lua compare-and-delete), so a holder whose lock
expired and was taken by another never frees the other's lock. A holder that loses it (Redis restarted,
or renewal failed past the expiry) finds :attr:`Lock.lost` set.

    lock = coordination.lock("ingest", ttl_s=30)
    if not lock.acquire(blocking=False):
        raise IngestLockedError("another worker is ingesting")
    try:
        ...
    finally:
        lock.release()

    with coordination.lock("seed-demo-accounts").held(timeout_s=60):  # waits its turn
        ...
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import redis

from firstline.errors import BackendError

if TYPE_CHECKING:
    from firstline.coordination.client import Coordination

__all__ = ["INGEST_LOCK", "SEED_LOCK", "Lock", "LockTimeoutError"]

log = logging.getLogger(__name__)

_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"
_RENEW = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
)
POLL_S = 0.05  # how often a blocked acquire tries again
INGEST_LOCK = "ingest"  # every ingest into the shared index (at start, from the API or the CLI) takes this one
SEED_LOCK = "seed-demo-accounts"


class LockTimeoutError(BackendError):
    """A lock was not free within the time the caller would wait."""


class Lock:
    """One named lock; not re-entrant. Use :meth:`acquire`/:meth:`release` or :meth:`held`."""

    def __init__(self, coordination: Coordination, name: str, ttl_s: float = 30.0) -> None:
        if ttl_s <= 0:
            raise ValueError("a lock's ttl_s must be positive")
        self.coordination = coordination
        self.name = name
        self.key = coordination.key("lock", name)
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.lost = threading.Event()
        self._token: str | None = None
        self._stop_renewing = threading.Event()
        self._renewer: threading.Thread | None = None
        client = coordination.client
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    @property
    def owned(self) -> bool:
        """Whether this object took the lock and has not released it (it may still have been lost)."""
        return self._token is not None

    def acquire(self, blocking: bool = True, timeout_s: float | None = None) -> bool:
        """Take the lock; with ``blocking``, wait up to ``timeout_s`` (None: forever). False when not taken.

        Raises :class:`~firstline.coordination.client.RedisUnavailableError` when Redis does not answer."""
        if self._token is not None:
            raise RuntimeError(f"lock {self.name!r} is already held by this object")
        token = secrets.token_hex(16)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            try:
                taken = self.coordination.client.set(self.key, token, nx=True, px=self.ttl_ms)
            except (redis.RedisError, OSError) as exc:
                raise self.coordination.unavailable(exc) from exc
            if taken:
                self._token = token
                self.lost.clear()
                self._start_renewing(token)
                return True
            if not blocking or (deadline is not None and time.monotonic() >= deadline):
                return False
            time.sleep(POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic())))

    def release(self) -> bool:
        """Give the lock up; True when it was still ours (False when it had expired or been lost)."""
        token, self._token = self._token, None
        if token is None:
            return False
        self._stop_renewing.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(5.0)
        self._renewer = None
        try:
            return bool(self._release(keys=[self.key], args=[token]))
        except (redis.RedisError, OSError) as exc:  # it expires by itself
            log.warning("could not release lock %s (%s); it expires within %d ms", self.key, exc, self.ttl_ms)
            return False

    @contextmanager
    def held(self, timeout_s: float | None = None) -> Iterator[Lock]:
        """Hold the lock for the block, waiting up to ``timeout_s``; :class:`LockTimeoutError` if not free."""
        if not self.acquire(timeout_s=timeout_s):
            raise LockTimeoutError(
                f"the lock {self.name!r} ({self.key} on {self.coordination.url}) was not free within "
                f"{timeout_s:g} s: another worker holds it"
            )
        try:
            yield self
        finally:
            self.release()

    def _start_renewing(self, token: str) -> None:
        self._stop_renewing = threading.Event()
        stop = self._stop_renewing
        every = self.ttl_ms / 3000.0

        def renew() -> None:
            while not stop.wait(every):
                try:
                    if not self._renew(keys=[self.key], args=[token, self.ttl_ms]):
                        log.error("lock %s was lost (it expired or Redis restarted)", self.key)
                        self.lost.set()
                        return
                except (redis.RedisError, OSError) as exc:
                    log.warning("could not renew lock %s (%s); trying again", self.key, exc)

        self._renewer = threading.Thread(target=renew, name=f"lock:{self.name}", daemon=True)
        self._renewer.start()
