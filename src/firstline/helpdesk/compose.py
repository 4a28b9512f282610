"""The one place that writes what the employee reads around an engine's answer.

An engine (offline or a language model) answers the problem; the composer adds what the dialogue
needs — the follow-up question, the offer of a second problem, what is waiting for approval, the
topics still open — and guarantees a reply is never empty. Replies to dialogue acts (thanks, a
person please, cancel, ...) are written here too, so both engines say the same.
"""

from __future__ import annotations

import re
from typing import Any

from firstline.conversations import ApprovalRecord
from firstline.helpdesk.dialogue import Dialogue, Topic

__all__ = [
    "ACCESS_REQUEST",
    "CHITCHAT",
    "FOLLOW_UP",
    "GREETING",
    "HOW_TO_FOLLOW_UP",
    "ONLY_A_SECRET",
    "approval_wait",
    "compose",
    "declined",
    "follow_up",
    "nothing_changed",
    "open_topics",
    "over_limit",
    "redaction_notice",
    "what_is_approved",
]

ACCESS_REQUEST = (
    "You don't need to raise the request yourself: access is only granted with its owner's approval, so I've "
    "passed it on as a request. "
)
FOLLOW_UP = "Did that fix it? If not, tell me and I'll pass it to a person."
HOW_TO_FOLLOW_UP = "Did that answer your question? If not, tell me what's missing and I'll pass it to a person."
_HOW_TO = re.compile(
    r"\b(?:how (?:do|can|should|would) (?:i|we|you)|how to|where (?:do|can) i|what(?:'s| is) the|is there a way)\b",
    re.I,
)


def follow_up(request: str) -> str:
    """The question after a suggestion: "did that fix it?" for a fault, "did that answer your question?" for a
    how-to ("how do I get my work email on my iPhone?")."""
    return HOW_TO_FOLLOW_UP if _HOW_TO.search(request[:80]) else FOLLOW_UP


GREETING = (
    "Hi, I'm Firstline, the IT service desk assistant. I can unlock accounts, send password reset links, "
    "help with VPN, Wi-Fi, e-mail, printers, desk phones, laptops and software, and check your tickets. "
    "What can I help with?"
)
CHITCHAT = (
    "I'm Firstline, the IT service desk's assistant: a program, not a person, though I can hand you to one at any time."
)
_FALLBACK = (
    "I'm not sure how to help with that. Tell me in a sentence what you're trying to do and what happens "
    "instead, or say 'a person please' and I'll pass it to the service desk."
)
# What a destructive action is, in the employee's words, for the "waiting for approval" message.
_APPROVAL_WHAT = {
    "remote_lock": "remote-lock {device}",
    "add_to_distribution_list": "add you to the list {address}",
    "reset_mfa": "remove your registered sign-in (MFA) methods so you can set up a new phone",
}
APPROVAL_HOURS = 4  # working hours a service-desk approval usually takes (the demo's target)


def compose(*parts: str) -> str:
    """Join the parts of a reply; never empty."""
    text = "\n\n".join(p.strip() for p in parts if p and p.strip())
    return text or _FALLBACK


def what_is_approved(tool: str, arguments: dict[str, Any]) -> str:
    template = _APPROVAL_WHAT.get(tool)
    if template is None:
        return tool.replace("_", " ")
    try:
        return template.format(**{k: v for k, v in arguments.items() if isinstance(v, str | int)})
    except (KeyError, IndexError):
        return tool.replace("_", " ")


def approval_wait(record: ApprovalRecord | None, ticket: str | None) -> str:
    """While an approval waits: what is asked, who decides, and what happens next."""
    if record is None:
        return (
            "Your request is waiting for a person on the service desk to approve it. I'll carry on here as soon "
            "as they decide; you don't need to do anything."
        )
    what = what_is_approved(record.tool, record.arguments)
    if record.approvers:
        who = (
            "the list's owner " + " or ".join(record.approvers)
            if len(record.approvers) <= 2
            else (f"one of the list's {len(record.approvers)} owners")
        )
    else:
        who = "a service desk agent"
    where = f" You can follow it on {ticket}." if ticket else ""
    return (
        f"I've asked for approval to {what}: {who} decides, usually within {APPROVAL_HOURS} working hours. "
        f"I'll tell you here as soon as they decide, and if it's approved I'll carry it out straight away.{where}"
    )


def open_topics(dialogue: Dialogue, but: Topic | None = None) -> str:
    """A line naming the topics still open (empty when none)."""
    topics = dialogue.open_topics(but)
    if not topics:
        return ""
    items = "; ".join(f'"{t.label()}"' + (f" ({t.ticket})" if t.ticket else "") for t in topics)
    return f"Still open: {items}. Say 'back to' it whenever you want to carry on."


def redaction_notice(kinds: tuple[str, ...] | list[str]) -> str | None:
    """What the employee is told when a secret was taken out of their message (a typed code: nothing)."""
    if "password" in kinds:
        return (
            "I've taken the password out of your message before saving anything. Please never type a password "
            "here: nobody at IT will ever ask for it. As it has been typed, change it soon (aka.ms/sspr)."
        )
    if "card" in kinds or "cvv" in kinds:
        return (
            "I've removed the card details from your message before saving anything. Please don't share card "
            "numbers in this chat; IT never needs them."
        )
    if {"api_key", "token", "private_key", "recovery_key"} & set(kinds):
        return (
            "I've removed a key or token from your message before saving anything. Treat it as exposed: "
            "revoke or rotate it where it was issued."
        )
    return None


ONLY_A_SECRET = (
    "I haven't done anything with it and nobody here needs it. If something still isn't working, tell me what "
    "you see, without the password."
)
"""The reply to a message that only handed over a secret ("my new password is ..."), after the notice."""


def nothing_changed(names: set[str], verified: bool, problems: list[str]) -> str:
    """The reply when a model's changes were all refused or failed: what is true, whatever the model said."""
    if problems:
        return f"Nothing has been changed. {problems[0]}"
    if "send_verification_code" in names:
        return (
            "Nothing has been changed yet: I need to confirm it's you first. I've sent a six-digit code to your "
            "registered mobile; type it here and I'll carry on."
        )
    if verified:
        return "Nothing has been changed yet. Tell me again what you need and I'll carry on."
    return (
        "Nothing has been changed yet: I need to confirm it's you first. Say 'send me a code' and I'll text a "
        "six-digit code to your registered mobile."
    )


def over_limit(limited: dict[str, Any]) -> str:
    ticket = limited.get("ticket")
    where = f"I've added this to {ticket} instead of opening another ticket" if ticket else "I haven't opened another"
    return (
        f"You've raised {limited.get('limit', 'several')} new requests in the last hour, so {where}; the service "
        "desk will see it there. If it's urgent, call 4357."
    )


def declined(what: str, by: str, why: str) -> str:
    """The reply when a person declined the action the turn was waiting on (the facts, whatever a model said)."""
    return f"Nothing has been changed: the request to {what} was declined by {by}: {why or 'no reason given'}."
