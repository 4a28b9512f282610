"""The helpdesk's tool policy: the runner's rules plus the ones only the helpdesk knows, for every engine.

* **Whose account.** A tool that changes or grants access runs only when the directory's account rules
  (:class:`~firstline.directory.rules.AccountRules`) allow it for the requester's account: a disabled
  account or a leaver's gets nothing but reporting and escalation; a service or privileged account gets
  no unlock, reset link, MFA reset or PIN reset from Tier-1. The refusal is final: the employee is told
  plainly, and the desk hands the request to the owning team with the reason.
* **Resolving a ticket.** ``mark_resolved`` runs only after a change Firstline made in this run succeeded,
  or when the requester said it works (``RunContext.confirmed`` holds ``resolve``).
* **Closing a ticket.** A ticket is closed only when the requester asked to close that very ticket, or
  confirmed it when asked (``RunContext.confirmed`` holds ``close_ticket:<number>``). A model that
  closes a ticket on its own initiative is refused, whatever its prompt says.

The same rules answer before any engine runs (:meth:`HelpdeskPolicy.account_refusal`), so a request
that can only end in a refusal is not first sent through an identity check.
"""

from __future__ import annotations

import logging

from firstline.agents import Decision, RunContext, Tool, ToolPolicy
from firstline.directory.models import Person
from firstline.directory.rules import AccountRules, Refusal
from firstline.errors import DirectoryEntryNotFoundError, PersonNotFoundError
from firstline.helpdesk import slots
from firstline.helpdesk.tools.deps import HelpdeskDeps
from firstline.llm.messages import ToolCall

__all__ = ["INTENT_ACTIONS", "HelpdeskPolicy", "refusal_text"]

log = logging.getLogger(__name__)

# The account action each request leads to, so a refusal can come before the identity check.
INTENT_ACTIONS = {
    "account_unlock": "unlock_account",
    "password_reset": "send_password_reset_link",
    "password_expired": "send_password_reset_link",
    "mfa_reset": "reset_mfa",
    "voicemail_pin": "reset_voicemail_pin",
}


def refusal_text(refusal: Refusal) -> str:
    """What the employee reads: the refusal, the reason, and who has it now."""
    return f"I can't do that here: {refusal.reason}."


class HelpdeskPolicy(ToolPolicy):
    def __init__(self, rules: AccountRules | None = None) -> None:
        self.rules = rules or AccountRules()

    def account_refusal(self, deps: HelpdeskDeps, requester: str | None, action: str) -> Refusal | None:
        """Why ``action`` must not run on ``requester``'s account (``None``: it may, or nobody is known yet)."""
        if not requester:
            return None
        try:
            person: Person = deps.directory.person(requester)
            account = deps.directory.account(person.id)
        except PersonNotFoundError:
            return None
        except DirectoryEntryNotFoundError:
            account = None
        except Exception:  # the directory is down: the tool, which needs it too, fails and says so plainly
            log.warning("account rules: directory lookup failed for %s", requester, exc_info=True)
            return None
        return self.rules.refusal(action, person, account)

    def decide(self, tool: Tool, context: RunContext, approved: bool = False, call: ToolCall | None = None) -> Decision:
        # A code is texted only to an account that could then have something done: never to a disabled one.
        checked = tool.risk != "read" or tool.name == "send_verification_code"
        if checked and isinstance(context.deps, HelpdeskDeps):
            refusal = self.account_refusal(context.deps, context.requester, tool.name)
            if refusal is not None:
                return Decision(
                    "deny",
                    f"{refusal.reason}; do not retry or work around it: tell the user plainly, the request goes to "
                    f"{refusal.team}",
                    say=refusal_text(refusal),
                    escalate_to=refusal.team,
                )
        if tool.name == "mark_resolved" and not _may_resolve(context):
            return Decision(
                "deny",
                "nothing was fixed by a tool in this conversation and the requester has not said it works: ask "
                "them whether it is fixed; resolve only after they say so",
            )
        if tool.name == "close_ticket":
            number = slots.ticket_number(str((call.arguments if call else {}).get("number") or ""))
            if number is None or f"close_ticket:{number}" not in context.confirmed:
                return Decision(
                    "deny",
                    "the requester has not asked to close this ticket: ask them whether to close it (name the "
                    "ticket) and close it only after they say yes",
                )
        return super().decide(tool, context, approved, call)

    conditional = frozenset({"mark_resolved", "close_ticket", "verify_identity", "send_verification_code"})

    def offers(self, tool: Tool, context: RunContext) -> bool:
        """Resolving is offered once it could be allowed, closing once the requester asked to close a ticket, and
        checking a code only when the message carried one (the desk took it out into ``context.secrets``), sending
        one only when it did not."""
        if tool.name in ("verify_identity", "send_verification_code"):  # a typed code is checked, never re-sent
            return ("code" in context.secrets) == (tool.name == "verify_identity")
        if tool.name == "mark_resolved":
            return _may_resolve(context)
        if tool.name == "close_ticket":
            return any(c.startswith("close_ticket:") for c in context.confirmed)
        return True


def _may_resolve(context: RunContext) -> bool:
    """A change Firstline made in this run succeeded, or the requester said it works."""
    changed = any(a["outcome"] == "ok" and a.get("risk", "read") != "read" for a in context.audit)
    return changed or "resolve" in context.confirmed
