"""Email specialist tools: the requester's mailbox quota, distribution lists, shared mailbox access.

Membership changes only ever add *the requester*. An open list is joined directly; a closed list
needs its owner's approval, so that tool is ``destructive`` and the runner pauses it for a human.
Dynamic lists follow HR data and are never edited by hand.
"""

from __future__ import annotations

from typing import Any

from firstline.agents import RunContext, Tool, tool
from firstline.directory.models import DistributionList, Mailbox, Person, SharedMailbox
from firstline.errors import DirectoryEntryNotFoundError, InputError, PersonNotFoundError, ToolFailed
from firstline.helpdesk.tools.deps import deps_of, requester

__all__ = ["EMAIL_TOOLS", "NEARLY_FULL_PERCENT"]

NEARLY_FULL_PERCENT = 90.0  # from here on the quota tool gives clean-up advice
_WARN_MARGIN_GB, _SEND_STOP_MARGIN_GB = 1.0, 0.5  # Exchange warns 1 GB, stops sending 0.5 GB below quota


def _address(person: Person, address: str) -> str:
    """``address`` trimmed, with the requester's domain added when only the part before the @ was given."""
    address = address.strip().lower()
    return address if "@" in address else f"{address}@{person.email.partition('@')[2]}"


def _list(ctx: RunContext, person: Person, address: str) -> DistributionList:
    try:
        return deps_of(ctx).directory.distribution_list(_address(person, address))
    except DirectoryEntryNotFoundError as exc:
        raise ToolFailed(
            f"I can't find a distribution list {address!r}. What's its full address as the Outlook address book "
            "shows it (e.g. leeds-all@nwmeridian.co.uk)?",
            guidance="ask for the full address",
        ) from exc


def _people(ctx: RunContext, ids: tuple[str, ...]) -> list[dict[str, Any]]:
    directory, found = deps_of(ctx).directory, []
    for person_id in ids:
        try:
            person = directory.person(person_id)
        except PersonNotFoundError:
            found.append({"name": person_id, "email": None, "left_the_company": True})
            continue
        found.append({"name": person.name, "email": person.email, "left_the_company": not person.is_current})
    return found


def _has_current_owner(ctx: RunContext, owners: tuple[str, ...]) -> bool:
    return any(not owner["left_the_company"] for owner in _people(ctx, owners))


def _refuse_dynamic(dl: DistributionList) -> None:
    if dl.dynamic:
        rule = ", ".join(f"{k} = {v}" for k, v in (dl.rule or {}).items()) or "HR data"
        raise ToolFailed(
            f"{dl.address} is a dynamic list: its members follow a rule ({rule}), so nobody can be added by hand. "
            "If you should be on it, your HR record needs correcting: HR Systems can do that"
        )


def _add(ctx: RunContext, person: Person, dl: DistributionList) -> str:
    try:
        deps_of(ctx).directory.add_to_distribution_list(dl.address, person.id)
    except InputError as exc:
        raise ToolFailed(str(exc)) from exc
    return f"{person.name} is now a member of {dl.name} ({dl.address}). Restart Outlook to see it in the address book."


@tool
def mailbox_quota(ctx: RunContext) -> dict[str, Any]:
    """Show how full the requester's own mailbox is (used/quota GB, archive, hold) and clean-up advice."""
    person = requester(ctx)
    mailbox = deps_of(ctx).directory.mailbox_of(person.id)
    if mailbox is None:
        raise ToolFailed("I can't find a mailbox of your own; the Messaging team can explain why.")
    percent = round(100 * mailbox.used_gb / mailbox.quota_gb, 1) if mailbox.quota_gb else 100.0
    if mailbox.used_gb >= mailbox.quota_gb:
        state = "full: sending and receiving have stopped"
    elif mailbox.used_gb >= mailbox.quota_gb - _SEND_STOP_MARGIN_GB:
        state = "sending has stopped; receiving stops at the quota"
    elif mailbox.used_gb >= mailbox.quota_gb - _WARN_MARGIN_GB:
        state = "warning: sending stops 0.5 GB below the quota"
    else:
        state = "ok" if percent < NEARLY_FULL_PERCENT else "nearly full"
    result: dict[str, Any] = {
        "address": mailbox.address,
        "used_gb": mailbox.used_gb,
        "quota_gb": mailbox.quota_gb,
        "percent_used": percent,
        "state": state,
        "archive_enabled": mailbox.archive_enabled,
        "litigation_hold": mailbox.litigation_hold,
    }
    if percent >= NEARLY_FULL_PERCENT:
        result["advice"] = _quota_advice(mailbox)
    return result


def _quota_advice(mailbox: Mailbox) -> list[str]:
    advice = [
        "Empty Deleted Items (right-click > Empty Folder); the space shows within about an hour.",
        "Find large mail: search messagesize:>10 MB, save attachments that matter to OneDrive, then delete the mail.",
        "Remove large attachments from Sent Items.",
    ]
    if mailbox.archive_enabled:
        advice.append("Move older mail to the Online Archive, or set a folder to Assign Policy > Archive after 1 year.")
    else:
        advice.append("There is no online archive: Messaging must enable it (P4); Tier-1 cannot.")
    if mailbox.litigation_hold:
        advice.append("The mailbox is on litigation hold: Recoverable Items cannot be purged; Messaging advise (P3).")
    advice.append("A deadline today with sending stopped: Messaging can grant a temporary increase (P3).")
    return advice


@tool
def distribution_list_info(ctx: RunContext, address: str) -> dict[str, Any]:
    """Show a distribution list: owners who approve joins, whether the requester is a member, and how to join.

    Args:
        address: the list's address, e.g. "leeds-all@nwmeridian.co.uk" (the part before the @ is enough).
    """
    person = requester(ctx)
    dl = _list(ctx, person, address)
    owners = _people(ctx, dl.owners)
    if dl.dynamic:
        how = "Dynamic: membership follows HR data; nobody can be added by hand."
    elif person.id in dl.members:
        how = "The requester is already a member."
    elif dl.open_join:
        how = "Open: the requester can join at once (join_distribution_list)."
    elif not any(not o["left_the_company"] for o in owners):
        how = "Closed, and its owner has left: Messaging must confirm a new owner before anyone joins (P4)."
    else:
        how = "Closed: a list owner must approve (add_to_distribution_list asks for that approval)."
    return {
        "address": dl.address,
        "name": dl.name,
        "owners": owners,
        "member_count": len(dl.members),
        "requester_is_member": person.id in dl.members,
        "dynamic": dl.dynamic,
        "rule": dict(dl.rule) if dl.rule else None,
        "open_join": dl.open_join,
        "restricted": dl.restricted,
        "requester_may_send": not dl.restricted or person.id in dl.allowed_senders,
        "how_to_join": how,
        "notes": dl.notes,
    }


@tool(risk="write")
def join_distribution_list(ctx: RunContext, address: str) -> str:
    """Add the requester to an OPEN distribution list (self-service join; identity must be verified).

    Args:
        address: the list's address, e.g. "social-club-leeds@nwmeridian.co.uk".
    """
    person = requester(ctx)
    dl = _list(ctx, person, address)
    _refuse_dynamic(dl)
    if person.id in dl.members:
        return f"{person.name} is already a member of {dl.name}; nothing to do."
    if not dl.open_join:
        raise ToolFailed(
            f"{dl.address} is a closed list, so a list owner must approve new members.",
            guidance="use add_to_distribution_list, which asks for that approval",
        )
    return _add(ctx, person, dl)


@tool(risk="destructive")
def add_to_distribution_list(ctx: RunContext, address: str) -> str:
    """Add the requester to a CLOSED distribution list; the list owner must approve before it runs.

    Args:
        address: the list's address, e.g. "sales-uk@nwmeridian.co.uk".
    """
    person = requester(ctx)
    dl = _list(ctx, person, address)
    _refuse_dynamic(dl)
    if person.id in dl.members:
        return f"{person.name} is already a member of {dl.name}; nothing to do."
    if not dl.open_join and not _has_current_owner(ctx, dl.owners):
        raise ToolFailed(
            f"{dl.address}'s owner has left the company, so nobody can approve new members yet: the former "
            "owner's manager asks Messaging to confirm a new owner first"
        )
    return _add(ctx, person, dl)


@tool
def shared_mailbox_access_info(ctx: RunContext, address: str) -> dict[str, Any]:
    """Show who approves access to a shared mailbox (e.g. ap@) and what access the requester already has.

    Args:
        address: the shared mailbox's address, e.g. "ap@nwmeridian.co.uk" (the part before the @ is enough).
    """
    person = requester(ctx)
    try:
        mailbox = deps_of(ctx).directory.mailbox(_address(person, address))
    except DirectoryEntryNotFoundError as exc:
        raise ToolFailed(
            f"I can't find a mailbox {address!r}. What's its full address (e.g. ap@nwmeridian.co.uk)?",
            guidance="ask for the full address",
        ) from exc
    if not isinstance(mailbox, SharedMailbox):
        raise ToolFailed(
            f"{mailbox.address} is a person's own mailbox, not a shared one: access to it needs that person to "
            "delegate it, or HR's authorisation for a leaver's mailbox"
        )
    owners = _people(ctx, mailbox.owners)
    has_owner = any(not o["left_the_company"] for o in owners)
    full_access, send_as = person.id in mailbox.members, person.id in mailbox.send_as
    if full_access:
        how = "The requester already has Full Access; if it is missing in Outlook, restart it (allow 60 minutes)."
    elif has_owner:
        how = (
            "Request it at help.nwmeridian.co.uk > Request something > Email > Shared mailbox access, with the access "
            "level and a business reason; an owner approves, then Messaging applies it the same working day."
        )
    else:
        how = "The owner has left the company: Messaging must confirm a new owner before any access is granted (P4)."
    return {
        "address": mailbox.address,
        "name": mailbox.name,
        "owners_who_approve": owners,
        "requester_has_full_access": full_access,
        "requester_can_send_as": send_as,
        "how_to_get_access": how,
        "notes": mailbox.notes,
    }


@tool(risk="write")
def set_out_of_office(ctx: RunContext, message: str = "", off: bool = False) -> str:
    """Turn the requester's automatic reply (out of office) on with ``message``, or off.

    Args:
        message: the reply, in the requester's words.
        off: true to turn it off.
    """
    person = requester(ctx)
    if not off and not message.strip():
        raise ToolFailed("What should the automatic reply say?", guidance="ask the user for the message text")
    try:
        mailbox = deps_of(ctx).directory.set_automatic_replies(person.id, None if off else message)
    except InputError as exc:
        raise ToolFailed(str(exc)) from exc
    if mailbox.automatic_replies is None:
        return f"Your automatic reply on {mailbox.address} is off."
    return f'Your automatic reply on {mailbox.address} is on: "{mailbox.automatic_replies}"'


EMAIL_TOOLS: tuple[Tool, ...] = (
    mailbox_quota,
    distribution_list_info,
    join_distribution_list,
    add_to_distribution_list,
    shared_mailbox_access_info,
    set_out_of_office,
)
