"""Phone specialist tools: the requester's own extension — status, voicemail PIN, call forwarding."""

from __future__ import annotations

import re
from typing import Any, Literal

from firstline.agents import RunContext, Tool, tool
from firstline.directory.models import Phone
from firstline.errors import InputError, PersonNotFoundError, ToolFailed
from firstline.helpdesk.tools.deps import deps_of

__all__ = ["PHONE_TOOLS"]

_TARGET = re.compile(r"^(\d{4}|(\+44|0)\d{9,10})$")


def _my_phone(ctx: RunContext) -> Phone:
    if not ctx.requester:
        raise ToolFailed(
            "I don't know who you are yet: what's your work e-mail address?",
            guidance="ask for the requester's work e-mail address first",
        )
    directory = deps_of(ctx).directory
    try:
        person = directory.person(ctx.requester)
    except PersonNotFoundError as exc:
        raise ToolFailed(
            f"I can't find {ctx.requester} in the company directory. Check the address, or call the service desk "
            "on 4357.",
        ) from exc
    phone = directory.phone_of(person.id)
    if phone is None:
        raise ToolFailed("You don't have a desk phone extension; a new one is requested through Telephony.")
    return phone


@tool
def extension_status(ctx: RunContext) -> dict[str, Any]:
    """Show the requester's own extension: registration, desk phone model, voicemail and call forwarding."""
    phone = _my_phone(ctx)
    forwarding = phone.call_forwarding
    return {
        "extension": phone.extension,
        "direct_dial": phone.direct_dial,
        "desk_phone": phone.model or "softphone only (Webex app)",
        "status": phone.status,
        "voicemail_locked": phone.voicemail_locked,
        "voicemail_pin_set": phone.voicemail_pin_set,
        "call_forwarding": None if forwarding is None else {"to": forwarding.to, "mode": forwarding.mode},
    }


@tool(risk="write")
def reset_voicemail_pin(ctx: RunContext) -> str:
    """Unlock the requester's voicemail and send them a temporary PIN by text (identity must be verified)."""
    phone = _my_phone(ctx)
    deps_of(ctx).directory.set_voicemail_pin_reset(phone.extension)
    return (
        f"Voicemail on {phone.extension} is unlocked and a temporary PIN was sent by text; "
        "dial *86 and choose a new PIN when asked."
    )


@tool(risk="write")
def set_call_forwarding(
    ctx: RunContext, target: str | None, mode: Literal["always", "busy", "no_answer"] = "always"
) -> str:
    """Forward the requester's calls to another extension or a UK number, or stop forwarding.

    Args:
        target: a 4-digit extension ("4357") or a UK number ("07700900123"); null stops forwarding.
        mode: "always", "busy" or "no_answer".
    """
    phone = _my_phone(ctx)
    if target is not None:
        target = re.sub(r"[\s()-]", "", target)
        if not _TARGET.match(target):
            raise ToolFailed(f"{target!r} is neither a 4-digit extension nor a UK phone number")
    try:
        deps_of(ctx).directory.set_call_forwarding(phone.extension, target, mode)
    except InputError as exc:
        raise ToolFailed(str(exc)) from exc
    if target is None:
        return f"Call forwarding on {phone.extension} is off."
    return f"Calls to {phone.extension} now forward to {target} ({mode.replace('_', ' ')})."


PHONE_TOOLS: tuple[Tool, ...] = (extension_status, reset_voicemail_pin, set_call_forwarding)
