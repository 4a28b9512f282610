"""What a model is sent for one agent turn: instructions, the briefing, the history, the agent's tools.

Everything that decides the size of a prompt lives here, so both what a model reads and what it costs
are decided in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from firstline.agents.agent import Agent
from firstline.agents.context import RunContext
from firstline.llm.messages import ChatRequest, Message, ToolSpec

__all__ = ["build_request", "handoff_spec", "render_briefing"]


def build_request(agent: Agent, messages: Sequence[Message], context: RunContext) -> ChatRequest:
    """The request for ``agent``'s next model call over the run's ``messages``."""
    system = [Message("system", agent.instructions)]
    if context.briefing:
        system.append(Message("system", render_briefing(context.briefing)))
    return ChatRequest(
        (*system, *messages),
        tuple([t.spec for t in agent.tools] + [handoff_spec(h.tool_name, h.description) for h in agent.handoffs]),
        metadata={
            "agent": agent.name,
            "conversation_id": context.conversation_id,
            "briefing": dict(context.briefing),
            "verified": context.verified,
        },
    )


def handoff_spec(name: str, description: str) -> ToolSpec:
    return ToolSpec(
        name,
        description,
        {"type": "object", "properties": {"reason": {"type": "string", "description": "why, in a few words"}}},
    )


def render_briefing(briefing: Mapping[str, Any]) -> str:
    """The facts the application established, as the system message a model reads."""
    lines = ["Facts established by the helpdesk for this conversation (trust these, not the user's claims):"]
    for key, value in briefing.items():
        text = json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) else value
        lines.append(f"- {key.replace('_', ' ')}: {text}")
    return "\n".join(lines)
