"""What a model is sent for one agent turn: instructions, the briefing, the history, the agent's tools.

Everything that decides the size of a prompt lives here, so both what a model reads and what it costs
are decided in one place (measured by ``firstline.evals.prompt_tokens``; see docs/llm.md):

* **One stable system message**: the agent's instructions (lines tagged ``- [intent, ...]`` only for
  those intents), then the briefing, its facts ordered from those that never change to those that do.
  With the tools, it is the same text on every call of an agent for a topic, so prompt caches apply.
* **Only the tools the topic needs**: a briefing ``intent`` for this agent narrows its own tools to those
  serving it (``Tool.intents``); the identity check's tools (``offered="unverified"``) are listed only
  while the requester is unverified and a listed tool changes something.
* **Trimmed history**: the current turn (from the last user message) is sent whole, each tool result
  capped at ``limits.tool_result_chars``; earlier tool results shrink to their outcome and what the
  employee was told, earlier replies to ``limits.old_reply_chars``. Only ``content`` changes: every
  message stays, with its tool calls and structured ``result``, because the offline engine (which may
  take over a turn) reads those and never the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from firstline.agents.agent import Agent
from firstline.agents.context import RunContext
from firstline.agents.policy import ToolPolicy
from firstline.agents.result import ToolOutcome
from firstline.llm.messages import ChatRequest, Message, ToolSpec

__all__ = [
    "LIMITS",
    "PromptLimits",
    "build_request",
    "compact_history",
    "focus",
    "handoff_spec",
    "instructions_for",
    "render_briefing",
    "tool_specs",
]

FACTS_HEADER = "Facts established by the helpdesk:"


@dataclass(frozen=True)
class PromptLimits:
    """How much of the history a model is sent (characters)."""

    tool_result_chars: int = 6000  # one tool result of the current turn, at most
    old_result_chars: int = 160  # a tool result of an earlier turn: its outcome and what the employee was told
    old_reply_chars: int = 240  # an earlier reply


LIMITS = PromptLimits()


def build_request(
    agent: Agent,
    messages: Sequence[Message],
    context: RunContext,
    *,
    limits: PromptLimits = LIMITS,
    policy: ToolPolicy | None = None,
) -> ChatRequest:
    """The request for ``agent``'s next model call over the run's ``messages``; ``policy`` leaves out the tools
    that every call would be refused now (``ToolPolicy.offers``)."""
    system = instructions_for(agent, focus(agent, context))
    if context.briefing:  # one system message: some templates repeat the tool list in each of them
        system = f"{system}\n\n{render_briefing(context.briefing, messages, agent.name)}"
    return ChatRequest(
        (Message("system", system), *compact_history(messages, limits)),
        tool_specs(agent, context, policy),
        metadata={
            "agent": agent.name,
            "conversation_id": context.conversation_id,
            "briefing": dict(context.briefing),
            "verified": context.verified,
        },
    )


def tool_specs(agent: Agent, context: RunContext, policy: ToolPolicy | None = None) -> tuple[ToolSpec, ...]:
    """What the model is offered: the agent's tools in their fixed order, its handoffs, then the tools the policy
    offers only sometimes (``ToolPolicy.conditional``), last so that the prefix before them stays the same from
    call to call and providers' prompt caches apply.

    When the briefing names this agent's topic intent and a tool of the agent serves it (``Tool.intents``),
    only the tools serving that intent (or every intent) are listed. The identity check's tools
    (``offered="unverified"``) are listed only while the requester is unverified and a listed tool changes
    something. A tool the policy would refuse whatever the call (``ToolPolicy.offers``) is left out. A tool left
    out still runs if a model names it: the runner looks tools up on the agent, and the policy decides.
    """
    intent = focus(agent, context)
    tools = [t for t in agent.tools if t.intents is None or intent is None or intent in t.intents]
    late: frozenset[str] = getattr(policy, "conditional", frozenset())  # a policy may be any object with decide()
    offers = getattr(policy, "offers", None)
    stable = [t for t in tools if t.offered == "always" and t.name not in late]
    extra = [t for t in tools if t.offered == "always" and t.name in late]
    if not context.verified and any(t.risk != "read" for t in stable + extra):
        extra += [t for t in tools if t.offered == "unverified"]
    extra = [t for t in extra if offers is None or offers(t, context)]
    handoffs = [handoff_spec(h.tool_name, h.description) for h in agent.handoffs]
    return tuple([t.spec for t in stable] + handoffs + [t.spec for t in extra])


def focus(agent: Agent, context: RunContext) -> str | None:
    """The topic's intent when the briefing gives it for this agent and a tool of the agent serves it, else None."""
    intent = context.briefing.get("intent") if context.briefing.get("specialist") == agent.name else None
    return intent if intent and any(intent in (t.intents or ()) for t in agent.tools) else None


_TAGGED = re.compile(r"^- \[([\w ,]+)\] ")


def instructions_for(agent: Agent, intent: str | None) -> str:
    """The agent's instructions for a topic with ``intent``: a line tagged ``- [intent, ...] `` is kept only for
    those intents (all of them when there is no focus), untagged lines always."""
    lines = []
    for line in agent.instructions.splitlines():
        tagged = _TAGGED.match(line)
        if tagged:
            if intent is not None and intent not in {i.strip() for i in tagged.group(1).split(",")}:
                continue
            line = "- " + line[tagged.end() :]
        lines.append(line)
    return "\n".join(lines)


def handoff_spec(name: str, description: str) -> ToolSpec:
    return ToolSpec(name, description, {"type": "object", "properties": {}})  # a "reason" is read when given


# -- the briefing -----------------------------------------------------------------------------------------------

_SHOWN = {
    "requester_name", "requester_email", "requester_location", "vip", "identity_verified", "identity", "ticket",
    "request", "specialist", "intent", "tier2_group", "known_incident", "confirmed", "other_open_topics",
}  # fmt: skip


def render_briefing(briefing: Mapping[str, Any], messages: Sequence[Message] = (), agent: str = "") -> str:
    """The facts the application established, as the system message a model reads: the requester, the
    topic, then what changes during a conversation (confirmations, identity), so the text before them
    stays the same from call to call. The request is left out when the history holds it word for word,
    the specialist when it is the agent reading it."""
    b = briefing
    lines = [FACTS_HEADER]
    who = ", ".join(_text(b[k]) for k in ("requester_name", "requester_location") if b.get(k))
    if b.get("requester_email"):
        who = f"{who} <{b['requester_email']}>" if who else str(b["requester_email"])
    if who:
        lines.append(f"Requester: {who}{', VIP' if b.get('vip') else ''}.")
    said = {" ".join(m.content.split()) for m in messages if m.role == "user"}
    if b.get("request") and " ".join(str(b["request"]).split()) not in said:
        lines.append(f"Request: {_text(b['request'])}")
    topic = [
        f"{label} {b[key]}"
        for key, label in (("ticket", "ticket"), ("specialist", "specialist"), ("intent", "intent"))
        if b.get(key) and not (key == "specialist" and b[key] == agent)
    ]
    if topic:
        lines.append(f"Topic: {'; '.join(topic)}.")
    if b.get("known_incident"):
        lines.append(f"Known incident: {_text(b['known_incident'])}")
    if b.get("other_open_topics"):
        lines.append(f"Other open topics: {_text(b['other_open_topics'])}")
    for key, value in b.items():
        if key not in _SHOWN and value not in (None, "", [], {}):
            lines.append(f"{key.replace('_', ' ').capitalize()}: {_text(value)}")
    if b.get("confirmed"):
        lines.append(f"The user confirmed: {_text(b['confirmed'])}")
    if "identity_verified" in b or b.get("identity"):
        typed = " (they typed their address; the channel did not vouch for it)" if b.get("identity") == "typed" else ""
        lines.append(f"Identity: {'verified' if b.get('identity_verified') else 'not verified'}{typed}.")
    return "\n".join(lines)


def _text(value: Any) -> str:
    """A fact as short text: strings as they are, lists joined, mappings as ``key: value`` without empty ones."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "; ".join(f"{k.replace('_', ' ')}: {_text(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, (list, tuple)):
        return "; ".join(_text(v) for v in value)
    return json.dumps(value, default=str, ensure_ascii=False)


# -- the history ------------------------------------------------------------------------------------------------


def compact_history(messages: Sequence[Message], limits: PromptLimits = LIMITS) -> list[Message]:
    """``messages`` with the text a model reads trimmed: earlier turns shortened, the current one capped."""
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    current = users[-1] if users else 0
    out = []
    for index, message in enumerate(messages):
        content = message.content
        if message.role == "tool":
            if index < current:
                outcome = ToolOutcome.from_dict(message.result) if message.result is not None else None
                content = _cut(outcome.brief() if outcome else content, limits.old_result_chars)
            else:
                content = _cut(content, limits.tool_result_chars)
        elif message.role == "assistant" and index < current:
            content = _cut(content, limits.old_reply_chars)
        out.append(message if content == message.content else replace(message, content=content))
    return out


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 12)].rstrip() + " … [cut]"
