"""The Redis connection every worker of one deployment shares, and the names of its keys.

:class:`Coordination` is built once per process from :class:`~firstline.scale_settings.ScaleSettings`
(``runtime.coordination``): it holds one pooled client with bounded timeouts, puts every key and channel
under ``key_prefix`` (``firstline:limits:ip:...``), and hands out the bus (:mod:`.bus`) and locks
(:mod:`.lock`). :meth:`Coordination.check` pings Redis once at start, so a wrong URL or a Redis that is
down stops the service with :class:`RedisUnavailableError` naming the URL and the setting, instead of
failing request by request later.

Clients decode replies to ``str``. A refused connection fails at once; a Redis that does not answer
fails after ``timeout_s``. Callers decide what a failure means: rate limits fail open, the bus
reconnects, a lock reports it could not be taken.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from firstline.errors import BackendUnavailableError, ConfigError
from firstline.scale_settings import ScaleSettings

if TYPE_CHECKING:
    from firstline.coordination.bus import Bus
    from firstline.coordination.lock import Lock

__all__ = ["Coordination", "RedisUnavailableError"]

DEFAULT_TIMEOUT_S = 2.0
HEALTH_CHECK_S = 30  # an idle pooled connection is pinged before reuse after this long


class RedisUnavailableError(BackendUnavailableError):
    """Redis (``scale.redis_url``) could not be reached or did not answer in time."""


class Coordination:
    """One deployment's Redis: a pooled client, key naming under ``prefix``, and what is built on them."""

    def __init__(
        self, url: str, password: str | None = None, prefix: str = "firstline", timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        if not url:
            raise ConfigError("scale.redis_url is empty: set it to redis://host:6379/0 to share state between workers")
        self.url = url
        self.prefix = prefix
        self.timeout_s = timeout_s
        self._password = password
        self.client = self.new_client(timeout_s)
        self._closed = threading.Event()

    @classmethod
    def from_settings(cls, scale: ScaleSettings) -> Coordination | None:
        """The deployment's coordination, or None when no Redis is configured (one process, all in memory)."""
        if not scale.shared:
            return None
        password = scale.redis_password.get_secret_value() if scale.redis_password else None
        return cls(scale.redis_url, password, scale.key_prefix)

    def new_client(self, timeout_s: float, retries: int = 2) -> redis.Redis:
        """A separate client (own pool) with its own timeouts, e.g. a short one for the rate limiter."""
        options: dict[str, Any] = {
            "password": self._password,
            "socket_timeout": timeout_s,
            "socket_connect_timeout": timeout_s,
            "health_check_interval": HEALTH_CHECK_S,
            "decode_responses": True,
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries),
        }
        try:
            client: redis.Redis = redis.Redis.from_url(self.url, **options)
        except ValueError as exc:  # a URL redis-py cannot parse (the settings check the scheme only)
            raise ConfigError(f"scale.redis_url {self.url!r} cannot be used: {exc}") from exc
        return client

    def key(self, *parts: str) -> str:
        """``prefix:part:part``: every key and channel of this deployment, so several can share one Redis."""
        return ":".join((self.prefix, *parts))

    def unavailable(self, exc: BaseException) -> RedisUnavailableError:
        """The error to raise for a failed Redis call: names the URL and what to check."""
        reason = f"no answer within {self.timeout_s:g} s: {exc}" if isinstance(exc, redis.TimeoutError) else str(exc)
        return RedisUnavailableError("Redis", self.url, "scale.redis_url", reason)

    def check(self) -> None:
        """Ping Redis; raise :class:`RedisUnavailableError` (with the URL and the fix) when it does not answer."""
        try:
            self.client.ping()
        except redis.AuthenticationError as exc:
            reason = f"it refused the password; set FIRSTLINE_SCALE__REDIS_PASSWORD: {exc}"
            raise RedisUnavailableError("Redis", self.url, "scale.redis_url", reason) from exc
        except (redis.RedisError, OSError) as exc:
            raise self.unavailable(exc) from exc

    def bus(self) -> Bus:
        """A pub/sub bus on this Redis (each subscription runs its own thread and connection)."""
        from firstline.coordination.bus import Bus

        return Bus(self)

    def lock(self, name: str, ttl_s: float = 30.0) -> Lock:
        """A lock across every process and machine sharing this Redis (see :class:`~.lock.Lock`)."""
        from firstline.coordination.lock import Lock

        return Lock(self, name, ttl_s=ttl_s)

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self.client.close()

    def __enter__(self) -> Coordination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
