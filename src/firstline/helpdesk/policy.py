"""The helpdesk's tool policy: the runner's rules plus the ones only the helpdesk knows, for every engine.

* A ticket is closed only when the requester asked to close that very ticket, or confirmed it when
  asked (``RunContext.confirmed`` holds ``close_ticket:<number>``). A model that closes a ticket on
  its own initiative is refused, whatever its prompt says.
"""

from __future__ import annotations

from firstline.agents import Decision, RunContext, Tool, ToolPolicy
from firstline.helpdesk import slots
from firstline.llm.messages import ToolCall

__all__ = ["HelpdeskPolicy"]


class HelpdeskPolicy(ToolPolicy):
    def decide(self, tool: Tool, context: RunContext, approved: bool = False, call: ToolCall | None = None) -> Decision:
        if tool.name == "close_ticket":
            number = slots.ticket_number(str((call.arguments if call else {}).get("number") or ""))
            if number is None or f"close_ticket:{number}" not in context.confirmed:
                return Decision(
                    "deny",
                    "the requester has not asked to close this ticket: ask them whether to close it (name the "
                    "ticket) and close it only after they say yes",
                )
        return super().decide(tool, context, approved, call)
