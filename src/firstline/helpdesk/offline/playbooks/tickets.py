"""Playbooks for tickets, and for what only the runbooks or a person can answer (Ticket, Lookup, the rest)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from firstline.helpdesk import slots
from firstline.helpdesk.offline import (
    Call,
    Say,
    Step,
    View,
    call,
    escalate_and_say,
    kb_answer,
    sentence,
    verification,
)
from firstline.helpdesk.offline.playbooks.common import Playbook, as_dict, playbook, register

# -- tickets -----------------------------------------------------------------------------------------


def _ticket_or_list(v: View) -> str | Step:
    number = v.slot(slots.ticket_number)
    if number is not None:
        return str(number)
    listing = v.latest("my_open_tickets")
    if listing is None:
        return call("my_open_tickets")
    tickets = listing.data if isinstance(listing.data, list) else []
    if not tickets and len(v.users) > 1:  # "the one about the printer": none of theirs is open
        return Say(
            "I can't find an open ticket of yours about that: it may have been resolved or cancelled already. If the "
            "problem is still there, tell me what happens now and I'll help or raise a new ticket."
        )
    if not tickets:
        return Say("You have no open tickets. If something is still broken, tell me what it is and I'll help.")
    about = slots.ticket_subject(v.last_user)
    matching = _about(tickets, about) if about else tickets
    if not matching:  # "my ticket about the laptop" when the one open ticket is about toner: not that one
        return Say(
            f"I can't find an open ticket of yours about the {' '.join(about)}. Your open tickets:\n"
            f"{_listed(tickets)}\nIs it one of these? If not, it may be resolved already: tell me what happens now "
            "and I'll help.",
            expects="choice",
        )
    if len(matching) == 1:  # nothing to choose between: "is there a ticket for that?" means the one there is
        return str(matching[0]["number"])
    return Say(f"Your open tickets:\n{_listed(matching)}\nWhich one do you mean?", expects="choice")


def _listed(tickets: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"- {t['number']}: {t['short_description']} ({t['state']}, {t['assignment_group']})" for t in tickets
    )


def _about(tickets: list[dict[str, Any]], subject: list[str]) -> list[dict[str, Any]]:
    """The tickets whose description shares the most of the subject's words (plurals folded); none share any: []."""

    def words(text: str) -> set[str]:
        return {w.removesuffix("s") for w in re.findall(r"[a-z0-9]+", text.lower())}

    wanted = {w.removesuffix("s") for w in subject}
    described = [f"{t['short_description']} {t.get('specialist', '')} {t.get('intent', '')}" for t in tickets]
    shared = [len(wanted & words(text.replace("_", " "))) for text in described]
    best = max(shared)
    return [t for t, n in zip(tickets, shared, strict=True) if n == best and n > 0]


@playbook
def ticket_status(v: View) -> Step:
    number = _ticket_or_list(v)
    if not isinstance(number, str):
        return number
    status = v.latest("ticket_status")
    if status is None:
        return call("ticket_status", number=number)
    data = as_dict(status.data)
    updates = "; ".join(data.get("latest_updates", [])[-2:])
    number, about = str(data.get("number")), str(data.get("short_description"))
    if data.get("vendor_number") and str(data["vendor_number"]).upper() != number:
        about += f"; {data['vendor_number']} at the service desk"
    team = f", with {data['assignment_group']}" if data.get("assignment_group") else ""
    due = _when(str(data.get("due_at") or ""))
    return Say(
        f"{number} ({about}) is {str(data.get('state', '')).replace('_', ' ')}, "
        f"priority {data.get('priority')}{team}"
        + (f"; due by {due}" if due else "")
        + "."
        + (f" Latest: {updates}" if updates else "")
    )


def _when(iso: str) -> str:
    """An ISO time as an employee reads it: ``2026-12-15T08:47:26+00:00`` -> ``15 Dec 08:47 UTC``."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{moment:%d %b %H:%M} UTC"


def _ticket_change(tool: str, arguments: Callable[[View, str], dict[str, Any]]) -> Playbook:
    def playbook(v: View) -> Step:
        number = _ticket_or_list(v)
        if not isinstance(number, str):
            return number
        done = v.latest(tool)
        if done is not None and done.ok:
            return Say(done.result)
        status = v.latest("ticket_status")
        if status is None or status.arguments.get("number") != number:
            return call("ticket_status", number=number)  # someone else's ticket is refused before any code
        if not status.ok:
            return Say(sentence(status.problem))
        return verification(v) or Call(tool, {"number": number, **arguments(v, number)})

    return playbook


def _note(v: View, number: str) -> dict[str, Any]:
    return {"note": v.request_text}


def _close_reason(v: View, number: str) -> dict[str, Any]:
    return {"reason": v.request_text[:300]}


def _escalation_summary(v: View, number: str) -> dict[str, Any]:
    return {"summary": f"The requester asks for escalation: {v.request_text[:500]}"}


# -- the rest: answers from the runbooks, or a person ------------------------------------------------


ticket_update = register("ticket_update", _ticket_change("add_ticket_note", _note))
_close = _ticket_change("close_ticket", _close_reason)


@playbook
def ticket_close(v: View) -> Step:
    """Close a ticket only when the requester asked to close that very ticket or confirmed it."""
    number = _ticket_or_list(v)
    if not isinstance(number, str):
        return number
    if f"close_ticket:{number}" in (v.briefing.get("confirmed") or ()):
        return _close(v)
    status = v.latest("ticket_status")
    if status is None or status.arguments.get("number") != number:
        return call("ticket_status", number=number)
    if not status.ok:
        return Say(sentence(status.problem))
    data = as_dict(status.data)
    return Say(
        f"Do you want me to close {number} ({data.get('short_description', 'your ticket')})? Reply 'yes' to close "
        "it, or 'no' to keep it open.",
        expects=f"confirmation:close_ticket:{number}",
    )


ticket_escalate = register("ticket_escalate", _ticket_change("escalate_ticket", _escalation_summary))


def fallback_playbook(v: View) -> Step:
    """Intents with no playbook of their own: answer from the runbooks."""
    return kb_answer(v)


register("runbook", fallback_playbook)


@playbook
def human_needed(v: View) -> Step:
    """Requests Tier-1 cannot complete from chat: the runbook's guidance, then a person.

    A question about the topic ("what's the policy for ...?") is answered from the runbooks, and a
    person is offered rather than assigned.
    """
    if slots.asks(v.request_text) and v.agent == "lookup":  # "and who do i ask about a second monitor"
        return kb_answer(v)
    found = v.latest("kb_search")
    if found is None:
        return kb_answer(v)
    answer = kb_answer(v)
    text = answer.text if isinstance(answer, Say) else ""
    return escalate_and_say(v, f"{text}\n\nThis needs a person, so I've passed it on.")
