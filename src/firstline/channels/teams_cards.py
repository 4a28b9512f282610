"""The Adaptive Cards the Teams bot sends, and what comes back when someone uses them.

* :func:`approval_card`: sent to each IT agent (or named approver) who has linked Teams, when a
  conversation waits for an approval. Approve / Deny are ``Action.Execute`` (schema 1.4, Teams'
  Universal Actions: the click arrives as an ``invoke`` named ``adaptiveCard/action`` and its answer
  replaces the card at once); ``fallback`` is an ``Action.Submit`` with the same data, for clients
  without Universal Actions (the click then arrives as a message with ``value``).
* :func:`decided_card`: what the approval card becomes once someone decided (no buttons).
* :func:`code_card`: the identity-code prompt, an ``Input.Text`` for the six digits with Submit and
  "Send a new code".

Every button's data carries ``firstline`` (which card) so :func:`card_action` can read a click from
either path into one :class:`CardAction`; anything else is not ours and is ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["CardAction", "approval_card", "card_action", "code_card", "decided_card"]

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.4"


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body}
    if actions:
        card["actions"] = actions
    return card


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _what(approval: dict[str, Any]) -> str:
    arguments = approval.get("arguments") or {}
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(arguments.items()) if not isinstance(v, (dict, list)))
    return f"{approval.get('tool', 'an action')}" + (f" ({shown})" if shown else "")


def _facts(approval: dict[str, Any], requester: str | None, ticket: str | None) -> dict[str, Any]:
    facts = [{"title": "Action", "value": _what(approval)}]
    if requester:
        facts.append({"title": "Requested for", "value": requester})
    if ticket:
        facts.append({"title": "Ticket", "value": ticket})
    return {"type": "FactSet", "facts": facts}


def approval_card(approval: dict[str, Any], requester: str | None, ticket: str | None) -> dict[str, Any]:
    """Approve / Deny for ``approval`` (an ``ApprovalRecord.as_dict()``)."""
    actions = []
    for verb, title, style in (("approve", "Approve", "positive"), ("deny", "Deny", "destructive")):
        data = {"firstline": "approval", "approval": approval["id"], "decision": verb}
        actions.append(
            {
                "type": "Action.Execute",
                "title": title,
                "verb": verb,
                "data": data,
                "style": style,
                "fallback": {"type": "Action.Submit", "title": title, "data": data},
            }
        )
    body = [
        _text("Approval needed", weight="Bolder", size="Medium"),
        _facts(approval, requester, ticket),
        {
            "type": "Input.Text",
            "id": "reason",
            "placeholder": "Reason (the employee is told; needed to deny)",
            "maxLength": 2000,
        },
    ]
    return _card(body, actions)


def decided_card(approval: dict[str, Any], requester: str | None, ticket: str | None) -> dict[str, Any]:
    """The approval card after the decision: who decided what, and why; no buttons."""
    status = str(approval.get("status") or "decided")
    line = f"**{status.capitalize()}** by {approval.get('decided_by') or 'someone'}"
    if approval.get("reason"):
        line += f": {approval['reason']}"
    colour = "Good" if status == "approved" else "Attention"
    return _card(
        [
            _text("Approval", weight="Bolder", size="Medium"),
            _facts(approval, requester, ticket),
            _text(line, color=colour),
        ]
    )


def code_card() -> dict[str, Any]:
    """The identity-code prompt: type the six digits, or ask for a new code."""
    body = [
        _text("Enter the 6-digit code we sent you", weight="Bolder"),
        {
            "type": "Input.Text",
            "id": "code",
            "placeholder": "123456",
            "maxLength": 12,
        },
    ]
    actions = [
        {"type": "Action.Submit", "title": "Submit", "data": {"firstline": "code"}},
        {
            "type": "Action.Submit",
            "title": "Send a new code",
            "data": {"firstline": "resend"},
            "associatedInputs": "none",
        },
    ]
    return _card(body, actions)


@dataclass(frozen=True, slots=True)
class CardAction:
    """A click on one of our cards: ``kind`` is approval, code or resend."""

    kind: str
    approval_id: str = ""
    approved: bool = False
    reason: str = ""
    code: str = ""
    invoke: bool = False  # arrived as an adaptiveCard/action invoke (answer in the HTTP response)


def card_action(activity: dict[str, Any]) -> CardAction | None:
    """What our card's button says, from a message's ``value`` or an ``adaptiveCard/action`` invoke; None if
    the activity is no click on one of our cards."""
    kind = activity.get("type")
    invoke = kind == "invoke"
    if invoke:
        if activity.get("name") != "adaptiveCard/action":
            return None
        action = (activity.get("value") or {}).get("action") or {}
        data = action.get("data") if isinstance(action, dict) else None
    elif kind == "message":
        data = activity.get("value")
    else:
        return None
    if isinstance(data, str):  # some clients send the data as a JSON string
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    which = data.get("firstline")
    if which == "approval" and isinstance(data.get("approval"), str) and data.get("decision") in ("approve", "deny"):
        reason = str(data.get("reason") or "").strip()[:2000]
        return CardAction("approval", data["approval"], data["decision"] == "approve", reason, invoke=invoke)
    if which == "code":
        return CardAction("code", code=str(data.get("code") or "").strip()[:40], invoke=invoke)
    if which == "resend":
        return CardAction("resend", invoke=invoke)
    return None
