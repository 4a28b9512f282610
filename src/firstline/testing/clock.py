"""A clock the tests set by hand: stores take ``clock=`` and read the time from it."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["FixedClock"]


class FixedClock:
    """Returns ``now`` until a test moves it (``clock.now += timedelta(hours=1)``)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now
