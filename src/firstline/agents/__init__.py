"""The agent engine: agents as data, typed tools with a risk, one runner that owns the loop."""

from firstline.agents.agent import Agent, Guardrail, GuardrailResult, Handoff
from firstline.agents.context import Approval, RunContext
from firstline.agents.events import RunEvent
from firstline.agents.policy import Decision, ToolPolicy
from firstline.agents.result import Result, ToolOutcome
from firstline.agents.runner import Runner, RunResult, RunState
from firstline.agents.tool import Tool, tool

__all__ = [
    "Agent",
    "Approval",
    "Decision",
    "Guardrail",
    "GuardrailResult",
    "Handoff",
    "Result",
    "RunContext",
    "RunEvent",
    "RunResult",
    "RunState",
    "Runner",
    "Tool",
    "ToolOutcome",
    "ToolPolicy",
    "tool",
]
