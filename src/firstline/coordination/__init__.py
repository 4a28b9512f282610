"""What the workers of one deployment share through Redis: a client, a pub/sub bus and locks.

A low layer beside :mod:`firstline.localdb`: it knows Redis and :mod:`firstline.scale_settings`, nothing
of conversations or the service. The runtime builds one :class:`Coordination` per process when
``scale.redis_url`` is set (``runtime.coordination``; None otherwise, and everything stays in memory).
Built on it elsewhere: shared rate limits (:mod:`firstline.service.limits`), live notices from every
worker (:mod:`firstline.conversations.hub`), the demo phone (:mod:`firstline.helpdesk.tools.deps`) and
"one at a time" work such as seeding the demo accounts. See docs/scaling.md.
"""

from firstline.coordination.bus import Bus, Subscription
from firstline.coordination.client import Coordination, RedisUnavailableError
from firstline.coordination.lock import INGEST_LOCK, SEED_LOCK, Lock, LockTimeoutError

__all__ = [
    "INGEST_LOCK",
    "SEED_LOCK",
    "Bus",
    "Coordination",
    "Lock",
    "LockTimeoutError",
    "RedisUnavailableError",
    "Subscription",
]
