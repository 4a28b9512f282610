"""The handoff hook: when a specialist takes a problem, its ticket is opened — or linked to a known incident.

:class:`TicketOnRouting` runs when the runner emits ``routed`` (in one transaction with that event).
What it decides comes back as data (:class:`Routed`) for the turn to brief the specialist with; it
never reaches into the turn or the desk. The intent's ticket policy (``ticket:`` in the registry)
says whether routing opens a ticket at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from firstline.directory import DirectoryBackend
from firstline.directory.models import KnownIncident, Person
from firstline.errors import DirectoryEntryNotFoundError, PersonNotFoundError
from firstline.helpdesk.incidents import PERSONAL, Linked, certain, matches, site_of
from firstline.helpdesk.reply import ticket_card
from firstline.helpdesk.services import DeskServices
from firstline.helpdesk.triage import TriageResult
from firstline.ticketing import Impact, NewTicket, Urgency

__all__ = ["Routed", "TicketOnRouting", "list_owners"]


@dataclass
class Routed:
    """What routing decided for a topic."""

    agent: str
    intent: str
    ticket: str | None = None  # the topic's ticket: its own, the known incident's parent, or (rate limited) the latest
    known: dict[str, Any] | None = None  # the known incident it was linked to
    possible: KnownIncident | None = None  # a known incident it may be part of (ask before linking)
    secondary: tuple[str, str, str] | None = None  # a second problem in the same message
    # Set when the requester was over their new-ticket limit, so no ticket was opened: {"ticket": the open ticket
    # the request was added to as a comment (None when they have none open), "limit": N, "window_minutes": M}.
    rate_limited: dict[str, Any] | None = None


class TicketOnRouting:
    """Opens the topic's ticket when a specialist takes it, or links the reporter to a known incident."""

    def __init__(self, services: DeskServices, cid: str, person: Person, injection_suspected: bool) -> None:
        self.services = services
        self.cid = cid
        self.person = person
        self.injection_suspected = injection_suspected

    def __call__(self, agent: str, result: TriageResult | None, request: str) -> Routed:
        services = self.services
        intent = (
            result.intent
            if result is not None and result.agent == agent
            else services.triage.intent_for(request or agent, agent)
        )
        routed = Routed(agent, intent, secondary=result.secondary if result is not None else None)
        registered = services.triage.taxonomy.intents.get(intent)
        if registered is not None and registered.ticket == "on_escalation":
            return routed  # questions and ticket look-ups: a ticket only if handed to a person
        group = services.triage.taxonomy.specialists[agent].assignment_group
        site = site_of(self.person)
        linked = None if intent in PERSONAL else services.incidents.existing_parent(intent, site)
        if linked is None:
            phone = services.directory.phone_of(self.person.id)
            known = next(
                (i for i in services.directory.incidents() if matches(i, intent, self.person, phone, request, group)),
                None,
            )
            if known is not None and certain(known, intent, request):
                linked = services.incidents.for_known(known, intent, agent, site)
            elif known is not None:  # only shared words: ask "is this the problem you're seeing?"
                routed.possible = known
        if linked is not None:
            self._link_reporter(linked, request)
            routed.ticket, routed.known = linked.parent.number, _brief(linked)
            return routed
        if services.incidents.over_ticket_limit(self.person.email, services.clock()):
            return self._rate_limited(routed, request)
        assessment = result.assessment if result is not None else None
        ticket = services.tickets.create(
            NewTicket(
                requester=self.person.email,
                short_description=_short(request),
                description=request,
                category=agent,
                specialist=agent,
                intent=intent,
                impact=Impact(assessment.impact) if assessment else Impact.LOW,
                urgency=Urgency(assessment.urgency) if assessment else Urgency.MEDIUM,
                assignment_group=group,
                correlation_id=f"{self.cid}:{uuid.uuid4().hex[:8]}",
                tags=[site.tag, f"intent:{intent}"],
            )
        )
        routed.ticket = ticket.number
        services.event(self.cid, "ticket_change", "desk", {"action": "opened", "ticket": ticket_card(ticket)})
        if self.injection_suspected:
            services.tickets.comment(
                ticket.number,
                "The message contained text that looks like instructions to the assistant; it was treated as the "
                "requester's own request and nothing outside their own account was changed.",
                author="firstline",
                internal=True,
            )
        cluster = None if intent in PERSONAL else services.incidents.cluster(ticket, site, services.clock())
        if cluster is not None:
            routed.known = _brief(cluster)
            services.event(
                self.cid, "ticket_change", "desk", {"action": "major_incident", "ticket": ticket_card(cluster.parent)}
            )
        return routed

    def _rate_limited(self, routed: Routed, request: str) -> Routed:
        """Over the new-ticket limit: no ticket is opened; the request goes on the requester's latest open ticket
        as a comment (so it is neither lost nor counted towards a cluster)."""
        services, incidents = self.services, self.services.incidents
        minutes = int(incidents.new_ticket_window.total_seconds() // 60)
        latest = incidents.latest_open(self.person.email)
        if latest is not None:
            services.tickets.comment(
                latest.number,
                f"Another request from {self.person.name} ({routed.intent.replace('_', ' ')}), added here instead of "
                f"a new ticket ({incidents.max_new_tickets} new tickets in {minutes} minutes is the limit): "
                f"{request[:2000]}",
                author="firstline",
            )
        routed.ticket = latest.number if latest is not None else None
        routed.rate_limited = {"ticket": routed.ticket, "limit": incidents.max_new_tickets, "window_minutes": minutes}
        card = ticket_card(services.tickets.get(latest.number)) if latest is not None else None
        services.event(self.cid, "ticket_change", "desk", {"action": "rate_limited", "ticket": card})
        return routed

    def _link_reporter(self, linked: Linked, request: str) -> None:
        parent = linked.parent
        self.services.tickets.comment(
            parent.number,
            f"Also affected: {self.person.name} <{self.person.email}> ({site_of(self.person).tag}): {request[:500]}",
            author="firstline",
            internal=True,
        )
        self.services.event(
            self.cid, "ticket_change", "desk", {"action": "linked_to_incident", "ticket": ticket_card(parent)}
        )


def _brief(linked: Linked) -> dict[str, Any]:
    return {
        "number": linked.parent.number,
        "title": linked.title,
        "team": linked.team,
        "workaround": linked.workaround,
        "update_eta": linked.update_eta,
    }


def list_owners(directory: DirectoryBackend, requester: Person, address: str) -> tuple[str, ...]:
    """The current owners of a distribution list (who may approve a join), by e-mail address."""
    if "@" not in address:
        address = f"{address}@{requester.email.split('@', 1)[1]}"
    try:
        owners = directory.distribution_list(address).owners
    except DirectoryEntryNotFoundError:
        return ()
    emails = []
    for owner in owners:
        try:
            person = directory.person(owner)
        except PersonNotFoundError:
            continue
        if person.is_current:
            emails.append(person.email.lower())
    return tuple(emails)


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 150 else line[:147].rsplit(" ", 1)[0] + "..."
