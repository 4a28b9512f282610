"""Failed sign-ins per account: after a few, each further attempt must wait longer (429 + Retry-After).

The per-IP limits in :mod:`firstline.service.limits` do not stop a guesser that spreads attempts over
many addresses. :class:`SignInThrottle` counts attempts per *account* — the e-mail address as typed,
normalised (NFKC, trimmed, case-folded), whether or not such an account exists, so the answers never
tell which addresses are real. After ``allowed`` failures in a row, every further attempt must wait
``delay_s``, then twice that, four times, ... up to ``max_delay_s``; an attempt made while it must
wait is refused without looking at the password, so even the right one does not sign in. A success
forgets the account's failures; so does ``window_s`` without a failure after the last wait ended.

Each attempt counts as a failure from the moment it starts (:meth:`SignInThrottle.claim`) until it
succeeds, so a burst of parallel guesses cannot all slip in before the first of them has failed.

The state lives in this process's memory (a restart forgets it); a bounded number of accounts is
remembered, those with waits running the last to be forgotten. With several workers sharing Redis
(``scale.redis_url``), :class:`~firstline.service.signins_redis.RedisSignInThrottle` keeps the same
counts there, one per account for every worker.

Someone who knows an e-mail address can make its owner wait too; the wait is bounded
(``max_delay_s``) and the per-IP sign-in limit still applies to them.
"""

from __future__ import annotations

import math
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SignInThrottle", "account_key"]


def account_key(email: str) -> str:
    """The key an e-mail address is counted under: ``" Ruby.Chen@X.co.uk"`` and ``"ruby.chen@x.co.uk"`` agree."""
    return unicodedata.normalize("NFKC", email).strip().casefold()


@dataclass(slots=True)
class _Failures:
    count: int
    wait_until: float  # no attempt before this (monotonic seconds)
    last: float  # when the latest attempt started


class SignInThrottle:
    """Per-account failed sign-ins with growing waits; see the module docstring.

    >>> throttle = SignInThrottle(allowed=2, delay_s=10, clock=lambda: 0.0)
    >>> [throttle.claim("a@x") for _ in range(3)]  # two go ahead; the third must wait 10 s
    [0.0, 0.0, 10.0]
    """

    def __init__(
        self,
        allowed: int = 5,
        delay_s: float = 1.0,
        max_delay_s: float = 900.0,
        window_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_accounts: int = 100_000,
    ) -> None:
        self.allowed = allowed
        self.delay_s = delay_s
        self.max_delay_s = max_delay_s
        self.window_s = window_s
        self._clock = clock
        self._max_accounts = max_accounts
        self._failures: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def delay_after(self, failures: int) -> float:
        """How long the next attempt must wait after ``failures`` failures in a row."""
        if failures < self.allowed:
            return 0.0
        return min(self.max_delay_s, self.delay_s * 2.0 ** min(failures - self.allowed, 64))

    def claim(self, email: str) -> float:
        """0 when an attempt may go ahead (it counts as failed until :meth:`succeeded`); else seconds to wait."""
        key = account_key(email)
        now = self._clock()
        with self._lock:
            entry = self._current(key, now)
            if entry is not None and entry.wait_until > now:
                return entry.wait_until - now
            count = entry.count + 1 if entry is not None else 1
            self._failures[key] = _Failures(count, now + self.delay_after(count), now)
            if len(self._failures) > self._max_accounts:
                self._forget_some(now)
        return 0.0

    def wait(self, email: str) -> float:
        """Seconds before the account's next attempt may start (0 when it may now)."""
        now = self._clock()
        with self._lock:
            entry = self._current(account_key(email), now)
        return max(0.0, entry.wait_until - now) if entry is not None else 0.0

    def seconds(self, email: str) -> int:
        """:meth:`wait` rounded up to whole seconds, as Retry-After and the messages say it."""
        wait = self.wait(email)
        return math.ceil(wait) if wait > 0 else 0

    def succeeded(self, email: str) -> None:
        """The right password: forget the account's failures."""
        with self._lock:
            self._failures.pop(account_key(email), None)

    def refund(self, email: str) -> None:
        """An attempt that ended without an answer (the database was down): it does not count."""
        key = account_key(email)
        with self._lock:
            entry = self._failures.get(key)
            if entry is None:
                return
            if entry.count <= 1:
                del self._failures[key]
            else:
                entry.count -= 1
                entry.wait_until = entry.last + self.delay_after(entry.count)

    def failures(self, email: str) -> int:
        """Failures in a row the account has now (0 once forgotten)."""
        now = self._clock()
        with self._lock:
            entry = self._current(account_key(email), now)
        return entry.count if entry is not None else 0

    def _current(self, key: str, now: float) -> _Failures | None:
        entry = self._failures.get(key)
        if entry is not None and now >= entry.wait_until + self.window_s:
            del self._failures[key]
            return None
        return entry

    def _forget_some(self, now: float) -> None:
        """Drop forgotten accounts, then (if still too many) those with no wait running."""
        for key in [k for k, e in self._failures.items() if now >= e.wait_until + self.window_s]:
            del self._failures[key]
        if len(self._failures) > self._max_accounts:
            for key in [k for k, e in self._failures.items() if e.wait_until <= now]:
                del self._failures[key]
