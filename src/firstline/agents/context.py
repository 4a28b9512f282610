"""What a run knows about who is asking and what has been established in this conversation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from firstline.agents.budget import TurnBudget

__all__ = ["Approval", "RunContext"]


@dataclass
class Approval:
    """A human decision on one destructive tool call."""

    id: str
    tool: str
    arguments: dict[str, Any]
    requested_by: str
    status: str = "pending"  # pending | approved | denied
    decided_by: str | None = None
    reason: str | None = None


@dataclass
class RunContext:
    """Per-conversation state the policy reads and tools receive.

    ``requester`` is who is talking (an e-mail address, or None when unknown). ``verified`` is
    set only by the identity-verification tool, never by anything a message says. ``deps``
    carries the live backends (directory, tickets, knowledge) that tools use. ``briefing`` holds
    facts the application establishes for the agent (who the requester is, the conversation's
    ticket, a known incident): the runner shows them to the model as a system message and to
    the offline engine as structured data. ``ticket_number`` is the conversation's current ticket.
    """

    requester: str | None
    conversation_id: str = ""
    verified: bool = False
    approvals: dict[str, Approval] = field(default_factory=dict)
    deps: Any = None
    audit: list[dict[str, Any]] = field(default_factory=list)
    briefing: dict[str, Any] = field(default_factory=dict)
    ticket_number: str | None = None
    # Actions the requester asked for in so many words or confirmed (e.g. "close_ticket:INC0000012"); a
    # policy may require one before a tool runs.
    confirmed: set[str] = field(default_factory=set)
    # What the application took out of the message before storing it or showing it to a model (a typed
    # one-time code): tools read it here; it is never stored, logged or sent to a model.
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    # The turn's time budget (the channel's): past it the runner sends a holding message; the model chain is
    # told what is left so that the turn still ends with an answer. None: no budget (tests, batch jobs).
    budget: TurnBudget | None = None
