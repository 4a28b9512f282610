"""How long each channel may keep an employee waiting, what they read when a turn runs long, and what
the ticket records about it.

A chat (web, terminal, API, Teams, Slack) has 2 s: past that a conversation stops feeling human. An
e-mail or a ticket form has 5 s. The limit past which the language model is dropped for the offline
engine is ``limit_factor`` times the budget. Only turns a language model takes part in are budgeted:
the offline engine answers in milliseconds (bench/helpdesk.py), so it never needs a holding message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from firstline.agents.budget import TurnBudget
from firstline.agents.events import RunEvent

__all__ = ["CHANNEL_BUDGETS", "TurnBudgets", "budget_note", "holding_text"]

CHANNEL_BUDGETS: dict[str, float] = {"default": 2.0, "email": 5.0, "ticket": 5.0, "webform": 5.0}


@dataclass(frozen=True)
class TurnBudgets:
    """The budget of each channel (``default`` for the rest) and the hard limit as a multiple of it."""

    by_channel: Mapping[str, float] = field(default_factory=lambda: dict(CHANNEL_BUDGETS))
    limit_factor: float = 3.0

    def seconds(self, channel: str) -> float:
        return float(self.by_channel.get(channel, self.by_channel.get("default", 2.0)))

    def start(self, channel: str) -> TurnBudget:
        """A budget for a turn that starts now on ``channel``."""
        soft = self.seconds(channel)
        return TurnBudget(soft, soft * max(1.0, self.limit_factor))


def holding_text(ticket: str | None, tool: str | None = None) -> str:
    """What the employee reads at once when their answer will take longer than the channel's budget."""
    doing = {
        "search_knowledge": "looking through the runbooks",
        "unlock_account": "working on your account",
        "send_verification_code": "sending your code",
    }.get(tool or "", "working on it")
    text = f"This is taking a little longer than usual. I'm still {doing}, so please stay with me."
    if ticket:
        text += f" It's logged as {ticket}, so nothing is lost if you need to go."
    return text


def budget_note(budget: TurnBudget, channel: str, events: Iterable[RunEvent]) -> str | None:
    """An internal ticket note for a turn that ran past its budget (None when it did not)."""
    if budget.held_at_s is None and not budget.breached:
        return None
    calls = [e.data for e in events if e.kind == "model_call"]
    parts = [f"Reply took {budget.elapsed():.1f} s against the {budget.soft_s:g} s budget of the {channel} channel"]
    if budget.held_at_s is not None:
        why = "predicted from the model's recent latency" if budget.held_reason == "predicted" else "budget reached"
        parts.append(f"a holding message went out at {budget.held_at_s:.1f} s ({why})")
    if calls:
        parts.append("model calls: " + "; ".join(_call(c) for c in calls))
    return ". ".join(parts) + "."


def _call(data: Mapping[str, Any]) -> str:
    text = f"{data.get('model') or '?'} {float(data.get('latency_ms') or 0) / 1000:.1f} s"
    failed = [str(f) for f in data.get("fallbacks") or ()]
    return text + (f" after {', '.join(failed)}" if failed else "")
