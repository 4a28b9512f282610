"""Who may decide a pending approval — one rule for the console, the API, Slack and Teams.

* An employee who is neither IT staff nor named on the request cannot decide it: their own request is
  refused as such, anyone else's is treated as unknown (the API answers 404, never confirming it exists).
* A request that is no longer pending says who decided it, what, when and why.
* A request with named approvers (a distribution list's owners) is theirs alone to decide.
* Otherwise any IT agent decides it, except the person who asked for it.

:meth:`firstline.helpdesk.desk.Helpdesk.decide` checks the last two again inside the turn, so a
colleague who decides in between is caught there too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from firstline.conversations import ApprovalRecord

__all__ = ["Refusal", "already_decided", "decision_refusal"]

RefusalKind = Literal["unknown", "own_request", "decided", "not_named", "asked_for_it"]


@dataclass(frozen=True, slots=True)
class Refusal:
    kind: RefusalKind
    reason: str


def already_decided(record: ApprovalRecord, name_of: Callable[[str], str | None] = lambda _: None) -> str:
    """The sentence for someone who acts on a decided approval: who, what, when (UTC) and why."""
    who = name_of(record.decided_by or "") or record.decided_by or "Someone"
    at = f" at {record.decided_at:%H:%M} UTC on {record.decided_at:%d %b %Y}" if record.decided_at else ""
    why = f": {record.reason}" if record.reason else "."
    return f"{who} already {record.status} this{at}{why}"


def decision_refusal(
    record: ApprovalRecord,
    email: str,
    *,
    is_agent: bool,
    requester: str | None,
    name_of: Callable[[str], str | None] = lambda _: None,
) -> Refusal | None:
    """Why ``email`` may not decide ``record`` now (None: they may). ``requester`` is the employee of the
    approval's conversation; ``name_of`` gives display names for the "already decided" sentence."""
    who = email.strip().lower()
    named = [a.lower() for a in record.approvers]
    if not is_agent and who not in named:
        if who in {(requester or "").lower(), record.requested_by.lower()}:
            return Refusal("own_request", "You can't approve your own request: the IT team decides it.")
        return Refusal("unknown", "Only the IT team or the people named on the request may decide it.")
    if record.status != "pending":
        return Refusal("decided", already_decided(record, name_of))
    if named and who not in named:
        return Refusal("not_named", f"Only {', '.join(record.approvers)} may decide this request.")
    if not named and who == record.requested_by.lower():
        return Refusal("asked_for_it", "You can't decide a request you made: another member of the desk must.")
    return None
