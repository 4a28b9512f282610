"""Agents are data: instructions, tools, handoffs. The runner is the only loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from firstline.agents.context import RunContext
from firstline.agents.tool import Tool

__all__ = ["Agent", "Guardrail", "GuardrailResult", "Handoff"]


@dataclass(frozen=True, slots=True)
class Handoff:
    """Lets an agent pass the conversation to another; the model sees it as a ``transfer_to_<agent>`` tool."""

    agent: str
    description: str

    @property
    def tool_name(self) -> str:
        return f"transfer_to_{self.agent}"


@dataclass(frozen=True, slots=True)
class GuardrailResult:
    tripped: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class Guardrail:
    """A check on the user's input before the model sees it; a tripped guardrail ends the turn."""

    name: str
    check: Callable[[RunContext, str], GuardrailResult | Awaitable[GuardrailResult]]


@dataclass(frozen=True)
class Agent:
    """One specialist (or the triage agent): what it is told, what it can do, whom it can hand to."""

    name: str
    instructions: str
    tools: Sequence[Tool] = ()
    handoffs: Sequence[Handoff] = ()
    guardrails: Sequence[Guardrail] = ()
    model_role: str = "specialist"
    metadata: dict[str, str] = field(default_factory=dict)

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    def handoff(self, tool_name: str) -> Handoff | None:
        return next((h for h in self.handoffs if h.tool_name == tool_name), None)
