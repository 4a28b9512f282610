"""``Remembered``: what a store read recently, kept for a few seconds in this process.

For records that every request or turn reads and that change rarely (a checked API key, the person a
message comes from). The store that owns the records forgets everything when it changes one of them,
so this process sees its own changes at once; another process of the same deployment sees them within
``seconds``. ``seconds`` <= 0 keeps nothing.
"""

from __future__ import annotations

import threading
import time
from typing import Generic, TypeVar

__all__ = ["Remembered"]

K = TypeVar("K")
V = TypeVar("V")


class Remembered(Generic[K, V]):
    """At most ``most`` values, each for ``seconds`` after it was put (thread-safe)."""

    def __init__(self, seconds: float, most: int = 10_000) -> None:
        self.seconds = seconds
        self.most = most
        self._values: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # counts forget(): a value read before one is not kept after it

    @property
    def generation(self) -> int:
        """Take this before reading what will be put: :meth:`put` with it keeps nothing if a forget came between."""
        return self._generation

    def get(self, key: K) -> V | None:
        if self.seconds <= 0:
            return None
        with self._lock:
            hit = self._values.get(key)
            if hit is None:
                return None
            if time.monotonic() - hit[0] > self.seconds:
                del self._values[key]
                return None
            return hit[1]

    def put(self, key: K, value: V, read_at: int | None = None) -> None:
        """Keep ``value``; with ``read_at`` (a :attr:`generation`), only if nothing was forgotten since."""
        if self.seconds <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if read_at is not None and read_at != self._generation:
                return  # a revocation raced the read: what was read may be what it revoked
            if len(self._values) >= self.most:
                self._values = {k: v for k, v in self._values.items() if now - v[0] <= self.seconds}
                if len(self._values) >= self.most:
                    self._values.clear()
            self._values[key] = (now, value)

    def forget(self) -> None:
        with self._lock:
            self._values.clear()
            self._generation += 1
