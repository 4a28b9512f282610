"""Failed sign-ins per account counted in Redis: one count for every worker and machine of a deployment.

:class:`RedisSignInThrottle` keeps the rules of :class:`~firstline.service.signins.SignInThrottle` (a few
failures, then waits that double up to a maximum; an attempt counts as failed from the moment it starts;
a success forgets; a quiet ``window_s`` after the last wait forgets too), with each account's state in a
Redis hash ``<prefix>:signins:<digest of the account key>`` that expires when it would be forgotten. Every
change is one Lua script, so two workers' parallel guesses are counted one after the other, on Redis's
clock (``TIME``), so the workers' clocks do not matter.

When Redis fails, sign-ins are not let through unchecked (as the request rate limits are) and not refused
either: this process counts in its own memory, as a single process does, until Redis answers again (tried
again after :data:`RETRY_S`). The per-IP sign-in limit applies throughout.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

import redis

from firstline.coordination import Coordination
from firstline.service.signins import SignInThrottle, account_key

__all__ = ["RETRY_S", "RedisSignInThrottle"]

log = logging.getLogger(__name__)

RETRY_S = 5.0  # after a Redis failure, this process counts on its own this long before trying Redis again
TIMEOUT_S = 0.5

# The shared part of every script: the current time, the account's state (forgotten when the window passed).
_STATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local allowed, delay, max_delay, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function delay_after(count)
  if count < allowed then return 0 end
  return math.min(max_delay, delay * 2 ^ math.min(count - allowed, 64))
end
local state = redis.call('HMGET', KEYS[1], 'count', 'wait_until', 'last')
local count, wait_until, last = tonumber(state[1]), tonumber(state[2]), tonumber(state[3])
if count ~= nil and now >= wait_until + window then
  redis.call('DEL', KEYS[1])
  count = nil
end
local function store(c, w, l)
  redis.call('HSET', KEYS[1], 'count', c, 'wait_until', tostring(w), 'last', tostring(l))
  redis.call('PEXPIRE', KEYS[1], math.ceil((w + window - now) * 1000) + 1000)
end
"""

_CLAIM = (
    _STATE
    + """
if count ~= nil and wait_until > now then return tostring(wait_until - now) end
local next_count = (count or 0) + 1
store(next_count, now + delay_after(next_count), now)
return '0'
"""
)

_WAIT = (
    _STATE
    + """
if count == nil then return {'0', 0} end
return {tostring(math.max(0, wait_until - now)), count}
"""
)

_REFUND = (
    _STATE
    + """
if count == nil then return 0 end
if count <= 1 then redis.call('DEL', KEYS[1]) return 0 end
store(count - 1, last + delay_after(count - 1), last)
return count - 1
"""
)


class RedisSignInThrottle(SignInThrottle):
    """:class:`SignInThrottle` with the counts in Redis (see the module docstring); the same methods."""

    def __init__(
        self,
        coordination: Coordination,
        allowed: int = 5,
        delay_s: float = 1.0,
        max_delay_s: float = 900.0,
        window_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(allowed, delay_s, max_delay_s, window_s, clock)  # the fallback while Redis fails
        self._prefix = coordination.key("signins")
        self._client = coordination.new_client(TIMEOUT_S, retries=0)
        self._claim = self._client.register_script(_CLAIM)
        self._wait = self._client.register_script(_WAIT)
        self._refund = self._client.register_script(_REFUND)
        self._args = [allowed, delay_s, max_delay_s, window_s]
        self._local_until = 0.0

    def _key(self, email: str) -> str:
        return f"{self._prefix}:{hashlib.sha256(account_key(email).encode()).hexdigest()[:32]}"

    def _shared(self) -> bool:
        return self._clock() >= self._local_until

    def _failed(self, exc: Exception) -> None:
        self._local_until = self._clock() + RETRY_S
        log.error("sign-in counts: Redis failed, counting in this process for %.0f s: %s", RETRY_S, exc)

    def claim(self, email: str) -> float:
        if self._shared():
            try:
                return float(self._claim(keys=[self._key(email)], args=self._args))
            except (redis.RedisError, OSError, ValueError) as exc:
                self._failed(exc)
        return super().claim(email)

    def _state(self, email: str) -> tuple[float, int] | None:
        if self._shared():
            try:
                wait, count = self._wait(keys=[self._key(email)], args=self._args)
                return float(wait), int(count)
            except (redis.RedisError, OSError, ValueError) as exc:
                self._failed(exc)
        return None

    def wait(self, email: str) -> float:
        state = self._state(email)
        return state[0] if state is not None else super().wait(email)

    def failures(self, email: str) -> int:
        state = self._state(email)
        return state[1] if state is not None else super().failures(email)

    def succeeded(self, email: str) -> None:
        super().succeeded(email)  # also forget what this process counted while Redis was away
        if self._shared():
            try:
                self._client.delete(self._key(email))
            except (redis.RedisError, OSError) as exc:
                self._failed(exc)

    def refund(self, email: str) -> None:
        if self._shared():
            try:
                self._refund(keys=[self._key(email)], args=self._args)
                return
            except (redis.RedisError, OSError, ValueError) as exc:
                self._failed(exc)
        super().refund(email)

    def close(self) -> None:
        self._client.close()
