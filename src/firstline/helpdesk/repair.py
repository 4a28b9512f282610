"""Conversation repair: the ticket changes that dialogue acts ask for, the same for every intent and engine.

"A person please" hands the topic's ticket to a person (opening one when the topic has none);
"that fixed it" resolves it; "never mind" withdraws it. Each change commits with the event that
records it. Playbooks never see these acts: they are handled here, before any engine runs.
"""

from __future__ import annotations

import uuid

from firstline.directory.models import KnownIncident, Person
from firstline.helpdesk.dialogue import Dialogue, Topic
from firstline.helpdesk.incidents import site_of
from firstline.helpdesk.reply import ticket_card
from firstline.helpdesk.services import DeskServices
from firstline.ticketing import Impact, NewTicket, Ticket, TicketState, TicketUpdate, Urgency

__all__ = ["TopicTickets"]

_FINAL = (TicketState.RESOLVED, TicketState.CLOSED, TicketState.CANCELED)


class TopicTickets:
    """Changes to a topic's own ticket that the employee asked for in words (not through a tool)."""

    def __init__(self, services: DeskServices, cid: str, person: Person) -> None:
        self.services = services
        self.cid = cid
        self.person = person

    def _own(self, topic: Topic) -> Ticket | None:
        ticket = self.services.ticket_or_none(topic.ticket)
        if ticket is None or ticket.requester != self.person.email.lower():
            return None
        return ticket

    def _group(self, topic: Topic) -> str:
        specialist = self.services.triage.taxonomy.specialists.get(topic.agent)
        return specialist.assignment_group if specialist else "Service Desk"

    def _open_ticket(self, topic: Topic, parent: str | None = None) -> Ticket:
        text = " ".join(topic.text.split()) or "Asked for a person in chat"
        ticket = self.services.tickets.create(
            NewTicket(
                requester=self.person.email,
                short_description=text if len(text) <= 150 else text[:147].rsplit(" ", 1)[0] + "...",
                description=topic.text or text,
                category=topic.agent,
                specialist=topic.agent,
                intent=topic.intent,
                impact=Impact.LOW,
                urgency=Urgency.MEDIUM,
                assignment_group=self._group(topic),
                correlation_id=f"{self.cid}:{uuid.uuid4().hex[:8]}",
                tags=[f"intent:{topic.intent}"] if topic.intent else [],
            )
        )
        if parent:
            ticket = self.services.tickets.link_to_parent(ticket.number, parent, author="firstline")
        topic.ticket = ticket.number
        self.services.event(self.cid, "ticket_change", "desk", {"action": "opened", "ticket": ticket_card(ticket)})
        return ticket

    def escalate(self, topic: Topic, dialogue: Dialogue, why: str) -> str:
        """Hand the topic to a person with a summary; the sentence that tells the employee where it went."""
        ticket = self._own(topic)
        if ticket is None or ticket.state in _FINAL:
            parent = topic.ticket if topic.ticket and ticket is None else None
            ticket = self._open_ticket(topic, parent=parent)
        elif topic.status == "escalated":  # already with a person: tell them again, don't re-queue it
            self.services.tickets.comment(ticket.number, f"{why}, again.", author="firstline", internal=True)
            self.services.event(
                self.cid, "ticket_change", "desk", {"action": "reminded", "ticket": ticket_card(ticket)}
            )
            return (
                f"{ticket.number} is already with {ticket.assignment_group}; I've told them again that you're "
                "waiting for a person."
            )
        group = ticket.assignment_group or self._group(topic)
        summary = self.summary(topic, dialogue, why)
        escalated = self.services.tickets.escalate(ticket.number, group, summary, author="firstline")
        self.services.event(
            self.cid, "ticket_change", "desk", {"action": "escalated", "why": why, "ticket": ticket_card(escalated)}
        )
        topic.status = "escalated"
        return f"{escalated.number} is with {group} now, with a summary of what we've tried; they'll contact you."

    def note(self, topic: Topic, detail: str) -> str:
        """Add what the employee said to the topic's own ticket; the words that say so (empty: no ticket)."""
        ticket = self._own(topic)
        if ticket is None or not ticket.state.is_open:
            return ""
        self.services.tickets.comment(ticket.number, f"The requester adds: {detail[:1000]}", author="firstline")
        topic.text = f"{topic.text} / {detail}"[:2000]
        return f"I've added that to {ticket.number}"

    def link(self, topic: Topic, incident: KnownIncident) -> str:
        """The employee confirmed their problem is a known incident: link their ticket to its parent."""
        site = site_of(self.person)
        linked = self.services.incidents.for_known(incident, topic.intent, topic.agent, site)
        ticket = self._own(topic)
        if ticket is not None and ticket.state.is_open:
            self.services.tickets.link_to_parent(ticket.number, linked.parent.number, author="firstline")
        self.services.tickets.comment(
            linked.parent.number,
            f"Also affected: {self.person.name} <{self.person.email}> ({site.tag}): {topic.text[:500]}",
            author="firstline",
            internal=True,
        )
        self.services.event(
            self.cid, "ticket_change", "desk", {"action": "linked_to_incident", "ticket": ticket_card(linked.parent)}
        )
        topic.status = "escalated"
        topic.known = {"number": linked.parent.number, "title": linked.title, "team": linked.team}
        workaround = f" Workaround: {linked.workaround}" if linked.workaround else " There's no workaround yet."
        return (
            f"I've added you to {linked.parent.number} ({linked.title}); the {linked.team} team is on it and you'll be "
            f"told when it's fixed.{workaround}"
        )

    def resolve(self, topic: Topic, note: str) -> str:
        """Resolve the topic's own ticket (the employee said it is fixed)."""
        topic.status = "resolved"
        ticket = self._own(topic)
        if ticket is None or ticket.state in _FINAL:
            return ""
        resolved = self.services.tickets.update(
            ticket.number, TicketUpdate(state=TicketState.RESOLVED, resolution_note=note), author="firstline"
        )
        self.services.event(self.cid, "ticket_change", "desk", {"action": "resolved", "ticket": ticket_card(resolved)})
        return f"I've resolved {resolved.number}."

    def own_open_ticket(self, topic: Topic) -> Ticket | None:
        """The topic's own ticket while it can still be withdrawn (not a known incident's, not finished)."""
        ticket = self._own(topic)
        if ticket is None or ticket.state in _FINAL or TicketState.CANCELED not in ticket.state.allowed_next:
            return None
        return ticket

    def withdraw(self, topic: Topic) -> str:
        """The employee withdrew the topic: cancel its ticket while nobody has worked on it beyond Tier-1."""
        topic.status = "cancelled"
        ticket = self._own(topic)
        if ticket is None or ticket.state in _FINAL or TicketState.CANCELED not in ticket.state.allowed_next:
            return ""
        self.services.tickets.comment(
            ticket.number, "Withdrawn by the requester in chat.", author="firstline", internal=True
        )
        cancelled = self.services.tickets.update(
            ticket.number, TicketUpdate(state=TicketState.CANCELED), author="firstline"
        )
        self.services.event(
            self.cid, "ticket_change", "desk", {"action": "withdrawn", "ticket": ticket_card(cancelled)}
        )
        return f"I've cancelled {cancelled.number}."

    def reject(self, topic: Topic, what: str, by: str, reason: str) -> str:
        """A person declined the topic's request: close its ticket as rejected, with the reason."""
        topic.status = "rejected"
        ticket = self._own(topic)
        if ticket is None or ticket.state in (TicketState.CLOSED, TicketState.CANCELED):
            return ""
        note = f"Rejected: the request to {what} was declined by {by}: {reason or 'no reason given'}."
        tickets = self.services.tickets
        tickets.comment(ticket.number, note, author="firstline", internal=False)
        if ticket.state != TicketState.RESOLVED:
            tickets.update(
                ticket.number, TicketUpdate(state=TicketState.RESOLVED, resolution_note=note), author="firstline"
            )
        closed = tickets.update(ticket.number, TicketUpdate(state=TicketState.CLOSED), author="firstline")
        self.services.event(self.cid, "ticket_change", "desk", {"action": "rejected", "ticket": ticket_card(closed)})
        return f"{closed.number} is closed as rejected."

    def summary(self, topic: Topic, dialogue: Dialogue, why: str) -> str:
        said = " / ".join(t.text[:200] for t in dialogue.topics if t.id == topic.id or t.is_open)
        last = topic.last_reply[:400] or dialogue.last_reply[:400]
        return (
            f"{why}. The employee said: {said or 'nothing specific yet'}. Firstline's last answer: {last or 'none'}."[
                :2000
            ]
        )
