"""Approvals in Slack: Approve / Deny buttons for the people who may decide, kept in step with the console.

* :meth:`SlackApprovals.announce` (an ``approval_needed`` event was stored): each person who may decide
  it *and* has a verified Slack identity gets a direct message with the request and two buttons. Who may
  decide is the console's rule: the people named on the request (a distribution list's owners), else
  any active IT agent or admin other than the requester. Where each message went is remembered
  (``channel_threads``, key ``approval:{id}:{slack user}``, reference ``kind: approval``).
* :meth:`SlackApprovals.click`: the clicking Slack user becomes a person only through their verified
  identity; then the same checks as ``POST /v1/approvals/{id}/approve`` (an employee cannot decide their
  own request; only the named approvers when there are some; a request is decided once), then
  :meth:`Helpdesk.decide`. A click that comes second is told who decided first, on the message itself.
* :meth:`SlackApprovals.refresh` (an ``approval_decided`` event, from Slack or the console): every
  message about that request is updated with the outcome and loses its buttons.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from firstline.accounts import role_at_least
from firstline.channels.slack_api import SlackApiError, SlackWebApi
from firstline.channels.slack_blocks import approval_message, decided_message
from firstline.conversations import ApprovalRecord, Notice
from firstline.errors import ConversationNotFoundError, FirstlineError, InputError
from firstline.helpdesk.deciding import decision_refusal

if TYPE_CHECKING:
    from firstline.channels.slack_work import KeyedWork
    from firstline.runtime import Runtime

__all__ = ["Click", "SlackApprovals", "refusal"]

log = logging.getLogger(__name__)
DENY_REASON = "Denied by the IT team in Slack."


@dataclass(frozen=True, slots=True)
class Click:
    """An Approve or Deny button pressed on one of our messages."""

    user: str
    approval_id: str
    approved: bool
    channel: str
    ts: str


def refusal(record: ApprovalRecord, email: str, is_agent: bool, requester: str | None) -> str | None:
    """Why ``email`` may not decide ``record``: the one rule of :mod:`firstline.helpdesk.deciding`; None if they may."""
    found = decision_refusal(record, email, is_agent=is_agent, requester=requester)
    return found.reason if found is not None else None


class SlackApprovals:
    def __init__(self, runtime: Runtime, api: SlackWebApi, work: KeyedWork) -> None:
        self.runtime = runtime
        self.api = api
        self.work = work

    def _is_agent(self, email: str) -> bool:
        try:
            account = self.runtime.accounts.get(email)
        except InputError:
            return False
        return account.active and role_at_least(account.role, "agent")

    def deciders(self, record: ApprovalRecord) -> list[tuple[str, str]]:
        """(Slack user id, e-mail) of everyone who may decide ``record`` and has a verified Slack identity."""
        found = []
        for identity in self.runtime.channels.identities():
            if identity.channel != "slack":
                continue
            email = identity.email
            if record.approvers:
                allowed = email in record.approvers
            else:
                allowed = email != record.requested_by.lower() and self._is_agent(email)
            if allowed:
                found.append((identity.external_id, email))
        return found

    def _ticket(self, record: ApprovalRecord) -> str | None:
        return self.runtime.conversations.get(record.conversation_id).ticket_number

    def announce(self, notice: Notice) -> None:
        """Send the request to each decider with a Slack identity (runs on the delivery thread)."""
        record = self.runtime.conversations.approval(str(notice.data.get("approval") or notice.data.get("id")))
        if record.status != "pending":
            return
        message = approval_message(record, self._ticket(record))
        for user, email in self.deciders(record):
            try:
                sent = self.api.call("chat.postMessage", {"channel": user, **message.params()})
            except SlackApiError as exc:
                log.error("approval %s not sent to %s in Slack: %s", record.id, email, exc)
                continue
            self.runtime.channels.bind("slack", f"approval:{record.id}:{user}", record.conversation_id, {
                "kind": "approval", "approval": record.id, "channel": str(sent["channel"]), "ts": str(sent["ts"]),
                "user": user})  # fmt: skip

    def refresh(self, notice: Notice) -> None:
        """Show the outcome on every message about the decided request (runs on the delivery thread)."""
        record = self.runtime.conversations.approval(str(notice.data.get("id")))
        message = decided_message(record, self._ticket(record))
        for thread in self.runtime.channels.threads_of(record.conversation_id, "slack"):
            ref = thread.reference
            if ref.get("kind") != "approval" or ref.get("approval") != record.id:
                continue
            try:
                self.api.update(str(ref["channel"]), str(ref["ts"]), message.text, message.params()["blocks"])
            except SlackApiError as exc:
                log.error("approval message %s in Slack not updated: %s", ref.get("ts"), exc)

    def click(self, click: Click) -> None:
        """Decide the request for the clicking person, if they may (runs on a worker, keyed by approval)."""
        try:
            self._click(click)
        except ConversationNotFoundError:
            log.warning("a Slack click on approval %r, which does not exist", click.approval_id[:40])
        except SlackApiError as exc:  # the decision, if any, is stored; only the note about it is lost
            log.error("Slack answer to a click on approval %s not delivered: %s", click.approval_id, exc)

    def _click(self, click: Click) -> None:
        store = self.runtime.conversations
        record = store.approval(click.approval_id)
        email = self.runtime.channels.person("slack", click.user)
        if email is None:
            self.api.post_ephemeral(click.channel, click.user, "Link your Slack account first: write to me in a "
                                    "direct message and I'll tell you how.")  # fmt: skip
            return
        problem = refusal(record, email, self._is_agent(email), store.get(record.conversation_id).requester)
        if problem is None:
            try:
                self.work.run(lambda: self.runtime.helpdesk.decide(
                    record.id, approved=click.approved, decided_by=email,
                    reason="" if click.approved else DENY_REASON))  # fmt: skip
                return  # the approval_decided notice updates every message about it
            except FirstlineError as exc:  # decided by someone else a moment ago
                record = store.approval(record.id)
                problem = str(exc)
        if record.status != "pending":
            first = decided_message(record, self._ticket(record), f"{record.decided_by} decided it first.")
            self.api.update(click.channel, click.ts, first.text, first.params()["blocks"])
        else:
            self.api.post_ephemeral(click.channel, click.user, problem)
