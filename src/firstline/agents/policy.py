"""The policy decides whether a tool call may run — not the prompt, and not the model.

* ``read`` tools run.
* ``write`` tools run only after the requester's identity is verified in this conversation
  (``RunContext.verified``, set by the verification tool alone).
* ``destructive`` tools create an approval request and pause the run until a human decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from firstline.agents.context import RunContext
from firstline.agents.tool import Tool
from firstline.llm.messages import ToolCall

__all__ = ["Decision", "ToolPolicy"]


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Literal["allow", "verify_first", "needs_approval", "deny"]
    reason: str = ""
    say: str = ""  # what the employee is told, when the refusal is final (not "ask again")
    escalate_to: str | None = None  # the team a refused request goes to, with the reason


class ToolPolicy:
    """Decides per call; subclass or replace to add rules (e.g. VIP accounts always need approval)."""

    conditional: frozenset[str] = frozenset()  # tools ``offers`` may leave out: listed last (stable prefixes)

    def offers(self, tool: Tool, context: RunContext) -> bool:
        """Whether a model is shown ``tool`` now: False only for a tool every call of which would be refused in
        ``context`` whatever its arguments (it is left out of the prompt; a call that names it is still decided)."""
        return True

    def decide(self, tool: Tool, context: RunContext, approved: bool = False, call: ToolCall | None = None) -> Decision:
        """The verdict on running ``tool`` (with ``call``'s arguments, when known) in ``context``."""
        if tool.risk == "read":
            return Decision("allow")
        if context.requester is None:
            return Decision("deny", "the requester is unknown: ask who they are before changing anything")
        if not context.verified:
            return Decision(
                "verify_first",
                f"{tool.name} changes something, so the requester's identity must be verified first "
                "(send a one-time code with the verification tool).",
            )
        if tool.risk == "destructive" and not approved:
            return Decision("needs_approval", f"{tool.name} is destructive: a human must approve it")
        return Decision("allow")
