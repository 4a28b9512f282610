"""A turn's time budget: the whole turn — every model call and tool — not one call at a time.

``soft_s`` is the channel's budget (2 s feels human in a chat; 5 s is acceptable for a ticket or an
e-mail). When a turn is about to pass it — predicted before a model call from that model's recent
latency, or observed when the moment arrives — the runner emits one ``holding`` event so the employee
hears something at once, and the turn carries on. ``hard_s`` is where waiting stops being reasonable:
the runner tells the model chain how much is left (``time_left_s``), and a chain that runs out hands
the call to its last resort (the offline engine), so the turn still ends with an answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["LatencyMemory", "TurnBudget"]


@dataclass
class TurnBudget:
    soft_s: float
    hard_s: float
    clock: Callable[[], float] = time.perf_counter
    started: float = field(default=-1.0)
    held_at_s: float | None = None  # when the holding message went out, seconds into the turn
    held_reason: str = ""

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def soft_left(self) -> float:
        return self.soft_s - self.elapsed()

    def left(self) -> float:
        return self.hard_s - self.elapsed()

    @property
    def breached(self) -> bool:
        return self.elapsed() > self.soft_s

    def as_dict(self) -> dict[str, float | str | None]:
        return {
            "budget_s": self.soft_s,
            "limit_s": self.hard_s,
            "elapsed_ms": round(self.elapsed() * 1000, 1),
            "held_at_ms": None if self.held_at_s is None else round(self.held_at_s * 1000, 1),
            "held_reason": self.held_reason or None,
        }


class LatencyMemory:
    """Each model's recent call latency (an exponentially weighted mean), to predict the next call."""

    def __init__(self, weight: float = 0.3) -> None:
        self.weight = weight
        self._seconds: dict[str, float] = {}

    def add(self, model: str, seconds: float) -> None:
        old = self._seconds.get(model)
        self._seconds[model] = seconds if old is None else old + self.weight * (seconds - old)

    def expect(self, model: str) -> float:
        return self._seconds.get(model, 0.0)
