"""What IT staff did in the vendor's service desk, told in the employee's conversation.

:class:`~firstline.ticketing.sync.Syncer` hears of each change staff made to a ticket Firstline filed
(a state change, a new assignee, a public comment); :class:`TellRequester` writes it into the
conversation that opened the ticket, as a ``ticket_update`` event and a message the web chat shows.
Work notes (internal comments) are never told. Conversations are found by ticket number; a ticket
nobody talked to Firstline about is left alone.
"""

from __future__ import annotations

import logging

from firstline.conversations import SqlConversations
from firstline.ticketing.models import TicketState
from firstline.ticketing.sync import RemoteChangeEvent

__all__ = ["TellRequester", "update_text"]

log = logging.getLogger(__name__)

_STATES = {
    TicketState.NEW: "is waiting for the service desk",
    TicketState.IN_PROGRESS: "is being worked on",
    TicketState.ON_HOLD: "is on hold",
    TicketState.RESOLVED: "is resolved",
    TicketState.CLOSED: "is closed",
    TicketState.CANCELED: "was cancelled",
}


def _name(who: str) -> str:
    """A person as the employee would say it: ``tomasz.nowicki@example.com`` -> ``Tomasz Nowicki``."""
    return who.split("@")[0].replace(".", " ").replace("_", " ").title() if who else "IT"


def update_text(event: RemoteChangeEvent) -> str:
    """The sentence the employee reads, e.g. "Update on INC0000042: it is being worked on; Tomasz Nowicki is
    looking after it."; the vendor's number is named too, since staff there use it."""
    ticket = event.ticket
    number = ticket.number
    if event.remote_number and event.remote_number.upper() != number:
        number = f"{ticket.number} ({event.remote_number} at the service desk)"
    if event.comment is not None:
        return f"Update on {number} from {_name(event.comment.author)}:\n{event.comment.body.strip()}"
    parts: list[str] = []
    if "state" in event.changes:
        parts.append(f"it {_STATES[ticket.state]}")
        if ticket.state in (TicketState.RESOLVED, TicketState.CLOSED) and ticket.resolution_note:
            parts[-1] += f": {ticket.resolution_note}"
    if "assigned_to" in event.changes and ticket.assigned_to:
        parts.append(f"{_name(ticket.assigned_to)} is looking after it")
    elif "assignment_group" in event.changes and ticket.assignment_group:
        parts.append(f"it is now with {ticket.assignment_group}")
    if not parts:
        return ""
    closing = " If it is not fixed for you, reply here." if ticket.state is TicketState.RESOLVED else ""
    return f"Update on {number}: " + "; ".join(parts) + "." + closing


class TellRequester:
    """Called by the syncer for each staff change; appends it to the ticket's conversation."""

    def __init__(self, conversations: SqlConversations) -> None:
        self.conversations = conversations

    def __call__(self, event: RemoteChangeEvent) -> None:
        text = update_text(event)
        conversation = self.conversations.for_ticket(event.ticket.number)
        if not text or conversation is None:
            return
        data = {
            "ticket": event.ticket.number,
            "system": event.system,
            "changes": event.changes,
            "comment": event.comment.id if event.comment else None,
        }
        with self.conversations.unit_of_work():
            self.conversations.append(conversation.id, "ticket_update", event.system, data)
            self.conversations.append(
                conversation.id, "assistant_message", "service desk", {"text": text, "status": "done"}
            )
        log.info("told conversation %s about %s", conversation.id, event.ticket.number)
