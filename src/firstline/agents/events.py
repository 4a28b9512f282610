"""What a run tells the outside world as it goes (streamed to the UI, stored in the transcript)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["EventKind", "RunEvent"]

EventKind = Literal[
    "routed",
    "token",
    "token_reset",
    "holding",
    "model_call",
    "tool_started",
    "tool_finished",
    "tool_refused",
    "approval_needed",
    "message",
    "done",
]


@dataclass(frozen=True, slots=True)
class RunEvent:
    kind: EventKind
    agent: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "agent": self.agent, **self.data}
