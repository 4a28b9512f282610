"""Which stored conversation events deserve an e-mail, and to whom.

:class:`NoticeRules` reads one :class:`~firstline.conversations.hub.Notice` and answers with the mails
it calls for (:class:`Wanted`), before any preference or coalescing is applied:

* **approval**: an ``approval_needed`` event (its data names the approval id, see
  ``helpdesk/turn.py``) mails the approvers named in the approval record, or every active IT agent
  (role agent or admin) when the record names none; never the requester, who cannot approve their own.
* **reply**: an ``assistant_message`` the employee did not just cause themselves. It is a reply when IT
  staff wrote it (agent ``"service desk"``: a public comment from the console, a vendor's update, see
  ``helpdesk/vendor_updates.py``), or when the nearest earlier cause in the conversation is a person's
  decision or a staff change (``approval_decided``, ``ticket_update``: the turn that resumes after an
  approval, ``helpdesk/desk.py::decide``) rather than the employee's own message (``user_message``,
  ``rejected_message``). The employee's own chat replies are therefore never mailed.
* **resolved**: a ``ticket_update`` whose ``changes`` set the state to ``resolved`` (staff, by
  definition), or a ``ticket_change`` showing the ticket resolved, or a successful ``mark_resolved``
  tool call, whose cause was staff (the turn resumed after an approval resolves the ticket with
  ``mark_resolved``; the employee who says "it works now" in the chat resolves their own ticket and
  is not mailed about it).

The cause is read from the stored log, not from memory, so the answer is the same after a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from firstline.channel_settings import NoticeKind
from firstline.conversations import Notice, SqlConversations
from firstline.errors import ConversationNotFoundError

__all__ = ["STAFF", "NoticeRules", "Wanted", "may_matter", "what_to_approve"]

STAFF = "service desk"  # the agent name of what IT staff wrote into a conversation
_INTERESTING = frozenset({"approval_needed", "assistant_message", "ticket_update", "ticket_change"})
_RESOLVING_TOOLS = frozenset({"mark_resolved"})  # a specialist resolving the conversation's ticket
_BY_REQUESTER = ("user_message", "rejected_message")
_BY_STAFF = ("approval_decided", "ticket_update")
_LOOK_BACK = 200  # events: a resumed turn writes a few dozen between the decision and its reply
# What an approver is asked, in the third person (the chat tells the employee in the second).
_TO_APPROVE = {
    "add_to_distribution_list": "add {name} to the list {address}",
    "reset_mfa": "remove {name}'s registered sign-in (MFA) methods so they can set up a new phone",
    "remote_lock": "remote-lock {name}'s device {device}",
}


def what_to_approve(tool: str, arguments: dict[str, Any], requester: str) -> str:
    """The request as its approver reads it, e.g. "add Ruby Chen to the list first-aiders@example.com"."""
    name = requester.split("@")[0].replace(".", " ").replace("_", " ").title() or requester
    values = {k: v for k, v in arguments.items() if isinstance(v, str | int)}
    template = _TO_APPROVE.get(tool)
    if template is not None:
        try:
            return template.format(**values, name=name)
        except (KeyError, IndexError):
            pass
    shown = ", ".join(f"{k}: {v}" for k, v in values.items())[:200]
    return f"{tool.replace('_', ' ')} for {name}" + (f" ({shown})" if shown else "")


@dataclass(frozen=True, slots=True)
class Wanted:
    """One mail's worth of news for one person, before preferences and coalescing."""

    kind: NoticeKind
    recipient: str
    conversation_id: str
    seq: int
    at: datetime
    ticket: str | None = None
    text: str = ""  # reply: the message (Markdown); resolved: the resolution note if the event had one
    what: str = ""  # approval: what is asked
    requester: str = ""  # approval: who asked
    approval: str = ""  # approval: its id
    noticed: float = 0.0  # time.perf_counter() when the notice arrived (for latency measurements)


def may_matter(notice: Notice) -> bool:
    """Whether ``notice`` could call for a mail (cheap: no database; runs on the writer's thread)."""
    if notice.kind == "tool_finished":
        return notice.data.get("tool") in _RESOLVING_TOOLS and bool(notice.data.get("ok"))
    return notice.kind in _INTERESTING


def _resolved_ticket(notice: Notice) -> str | None:
    """The ticket number when ``notice`` shows a ticket that became resolved."""
    data = notice.data
    if notice.kind == "ticket_update":
        changes = data.get("changes")
        state = changes.get("state") if isinstance(changes, dict) else data.get("state")
        number = data.get("ticket")
        if isinstance(number, dict):
            number = number.get("number")
        return str(number) if state == "resolved" and number else None
    card = data.get("ticket")
    if isinstance(card, dict) and card.get("number") and (card.get("state") == "resolved"):
        return str(card["number"])
    return None


class NoticeRules:
    """Turns notices into :class:`Wanted` mails (``agents()``: the addresses of the active IT agents)."""

    def __init__(self, conversations: SqlConversations, agents: Callable[[], list[str]]) -> None:
        self.conversations = conversations
        self.agents = agents

    def read(self, notice: Notice) -> list[Wanted]:
        if notice.kind == "approval_needed":
            return self._approval(notice)
        if not notice.requester:
            return []  # nobody known to tell yet
        if notice.kind == "assistant_message":
            text = str(notice.data.get("text") or "").strip()
            if text and (notice.agent == STAFF or self._cause(notice) in _BY_STAFF):
                return [self._wanted("reply", notice, notice.requester, text=text)]
            return []
        if notice.kind == "tool_finished":
            if not may_matter(notice) or self._cause(notice) not in _BY_STAFF:
                return []  # resolved in the employee's own turn ("it works now"): they know
            return [self._wanted("resolved", notice, notice.requester)]  # the ticket: the conversation's
        number = _resolved_ticket(notice) if notice.kind in ("ticket_update", "ticket_change") else None
        if number is None:
            return []
        if notice.kind == "ticket_change" and notice.agent != STAFF and self._cause(notice) not in _BY_STAFF:
            return []  # resolved in the employee's own turn: they know
        note = str(notice.data.get("resolution_note") or notice.data.get("note") or "")
        return [self._wanted("resolved", notice, notice.requester, ticket=number, text=note)]

    def _wanted(self, kind: NoticeKind, notice: Notice, recipient: str, **fields: Any) -> Wanted:
        return Wanted(
            kind, recipient.strip().lower(), notice.conversation_id, notice.seq, notice.created_at,
            noticed=time.perf_counter(), **fields,
        )  # fmt: skip

    def _cause(self, notice: Notice) -> str | None:
        """The kind of the nearest earlier event that started what ``notice`` is part of (None: none found)."""
        events = self.conversations.events(
            notice.conversation_id, after=max(notice.seq - _LOOK_BACK, 0), kinds=(*_BY_REQUESTER, *_BY_STAFF)
        )
        earlier = [e for e in events if e.seq < notice.seq]
        return earlier[-1].kind if earlier else None

    def _approval(self, notice: Notice) -> list[Wanted]:
        approval_id = str(notice.data.get("approval") or "")
        if not approval_id:
            return []
        try:
            record = self.conversations.approval(approval_id)
        except ConversationNotFoundError:
            return []
        if record.status != "pending":
            return []  # decided before we got to it: nothing to ask
        requester = record.requested_by.strip().lower()
        approvers = [a.strip().lower() for a in record.approvers] or self.agents()
        what = what_to_approve(record.tool, record.arguments, requester)
        return [
            self._wanted("approval", notice, who, what=what, requester=requester, approval=record.id)
            for who in dict.fromkeys(approvers)
            if who and who != requester
        ]
