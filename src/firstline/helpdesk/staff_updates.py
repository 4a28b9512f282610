"""What IT staff did to a ticket in Firstline's own console, told in the employee's conversation.

The vendor connectors tell a requester of changes made in ServiceNow, Jira or ConnectWise
(:mod:`firstline.helpdesk.vendor_updates`). A ticket kept in Firstline changes through the console's
routes; :func:`tell_requester` words those changes the same way (a public comment, a new state, an
assignee) and writes them into the conversation that opened the ticket, where the web chat, e-mail
notifications and the channels pick them up from the conversation hub. Internal work notes are never
told, nor is what the requester did themselves.
"""

from __future__ import annotations

from firstline.conversations import SqlConversations
from firstline.helpdesk.vendor_updates import TellRequester
from firstline.ticketing.models import Ticket, TicketEntry
from firstline.ticketing.remote import RemoteComment
from firstline.ticketing.sync import RemoteChangeEvent

__all__ = ["FIELDS_TOLD", "tell_requester"]

FIELDS_TOLD = ("state", "assigned_to", "assignment_group")


def tell_requester(
    conversations: SqlConversations,
    before: Ticket | None,
    after: Ticket,
    author: str,
    comment: TicketEntry | None = None,
) -> None:
    """Tell ``after``'s requester what ``author`` changed since ``before`` and/or their public ``comment``."""
    if author.strip().lower() == (after.requester or "").strip().lower():
        return  # the requester's own change: they know
    changes: dict[str, str] = {}
    if before is not None:
        for name in FIELDS_TOLD:
            old, new = getattr(before, name), getattr(after, name)
            if old != new:
                changes[name] = str(getattr(new, "value", new) or "")
    told = TellRequester(conversations)
    if comment is not None and comment.public:
        note = RemoteComment(f"{after.number}:{comment.created_at.isoformat()}", author, comment.body, True,
                             comment.created_at)  # fmt: skip
        told(RemoteChangeEvent(after, "firstline", {}, note))
    if changes:
        told(RemoteChangeEvent(after, "firstline", changes))
