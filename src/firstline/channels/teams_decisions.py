"""Deciding an approval from a Teams card, with the console's rules.

A click is only a claim; who clicked is the verified Teams identity (``SqlChannels.person``), and
what they may do is their Firstline account's role. The checks are those of the service's
``/v1/approvals/{id}/approve|deny`` (``service/routes/tickets.py::_decide``), in the same order:

1. someone who is neither on the IT team (an active agent or admin account) nor a named approver
   may not decide (the requester is told the IT team decides their request);
2. an approval already decided is not decided again: the clicker is told who decided it first and
   what they chose, and their card shows it;
3. with named approvers (a distribution list's owners) only they decide; otherwise any IT agent
   but the person who asked;
4. a denial needs a reason (the employee is told it).

Then ``Helpdesk.decide`` records the decision and resumes the paused conversation; the employee's
conversation hears of it through the hub like any other change. Two agents clicking at once: the
store decides once, and the second is told who was first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from firstline.accounts import role_at_least
from firstline.channels.teams_cards import CardAction, decided_card
from firstline.conversations.store import ApprovalRecord
from firstline.errors import ConversationNotFoundError, FirstlineError, InputError
from firstline.helpdesk.deciding import decision_refusal

if TYPE_CHECKING:
    from firstline.llm.pool import LoopThreads
    from firstline.runtime import Runtime

__all__ = ["Decision", "Decisions"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to tell the clicker (``text``) and what their card becomes (``card``, None to leave it)."""

    ok: bool
    text: str = ""
    card: dict[str, Any] | None = None


class Decisions:
    """Checks a click on an approval card and decides the approval."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def is_agent(self, email: str) -> bool:
        try:
            account = self.runtime.accounts.get(email)
        except InputError:
            return False
        return account.active and role_at_least(account.role, "agent")

    def _card(self, record: ApprovalRecord) -> dict[str, Any]:
        try:
            conversation = self.runtime.conversations.get(record.conversation_id)
            requester, ticket = conversation.requester, conversation.ticket_number
        except ConversationNotFoundError:  # pragma: no cover - approvals cascade with their conversation
            requester = ticket = None
        return decided_card(record.as_dict(), requester, ticket)

    def _already(self, record: ApprovalRecord) -> Decision:
        text = f"Approval {record.id} was already {record.status} by {record.decided_by}"
        text += f" ({record.reason})." if record.reason else "."
        return Decision(False, text, self._card(record))

    def check(self, action: CardAction, email: str) -> Decision | ApprovalRecord:
        """The approval when ``email`` may decide it now; else the refusal to show."""
        try:
            record = self.runtime.conversations.approval(action.approval_id)
        except ConversationNotFoundError:
            return Decision(False, "That approval request no longer exists.")
        try:
            requester = self.runtime.conversations.get(record.conversation_id).requester
        except ConversationNotFoundError:  # pragma: no cover - approvals cascade with their conversation
            requester = None
        refusal = decision_refusal(record, email, is_agent=self.is_agent(email), requester=requester)
        if refusal is not None and refusal.kind == "decided":
            return self._already(record)
        if refusal is not None:
            return Decision(False, refusal.reason)
        if not action.approved and not action.reason:
            return Decision(False, "Type a reason before you deny: the employee is told why.")
        return record

    def decide(self, action: CardAction, email: str, loops: LoopThreads) -> Decision:
        """Check, then decide on this worker thread (``loops.run``); the outcome card when it is decided."""
        checked = self.check(action, email)
        if isinstance(checked, Decision):
            return checked
        desk = self.runtime.helpdesk
        try:
            loops.run(lambda: desk.decide(checked.id, approved=action.approved, decided_by=email, reason=action.reason))
        except FirstlineError:
            record = self.runtime.conversations.approval(checked.id)
            if record.status != "pending":  # another agent was quicker
                return self._already(record)
            raise
        return Decision(True, "", self._card(self.runtime.conversations.approval(checked.id)))
