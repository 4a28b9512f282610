"""Known incidents: one parent ticket per problem, instead of yet another ticket per caller.

Two sources make a problem "known":

* the directory's ongoing incidents (``KnownIncident``), matched to a request by its intent's topic
  and the requester's site, floor or extension — the first caller to hit one gets a parent ticket
  for it in the ticket store (correlation id ``known:<incident id>``), later callers are linked;
* a cluster of open tickets: when open tickets of one outage intent (:data:`OUTAGE`) at the same site,
  opened within ``window``, come from ``threshold`` different requesters, a parent major incident is
  opened and every one of them linked. Reports from one person count once, Firstline's own tickets never,
  and personal requests (:data:`PERSONAL`) are never clustered nor linked.

Later reporters are linked to the parent (a comment records them) and told it is known.

One person cannot flood the desk either: beyond ``max_new_tickets`` new tickets in ``new_ticket_window``
(5 an hour by default) a requester gets no new ticket (:meth:`IncidentLinker.over_ticket_limit`; the
routing hook adds the request to their latest open ticket instead), so those requests never count
towards a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from firstline.directory.models import KnownIncident, Person, Phone
from firstline.ticketing import (
    Impact,
    NewTicket,
    Ticket,
    TicketingBackend,
    TicketQuery,
    TicketState,
    Urgency,
)

__all__ = [
    "OUTAGE",
    "PERSONAL",
    "SYSTEM_REQUESTER",
    "IncidentLinker",
    "Site",
    "certain",
    "matches",
    "on_topic",
    "site_of",
]

MAJOR_TAG = "major_incident"
SYSTEM_REQUESTER = "firstline@localhost.invalid"  # the requester of the parents Firstline opens itself
OPEN_STATES = (TicketState.NEW, TicketState.IN_PROGRESS, TicketState.ON_HOLD)

# What an incident must be about for a request of this intent to be linked to it: a service word (in its
# title or affected list) and, where given, a symptom word in its title ("VPN drops" is not "VPN won't
# connect"). Intents not listed here are personal or too vague to link by topic.
_TOPIC: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vpn_drops": (("vpn",), ("drop", "disconnect", "intermittent", "unstable", "outage", "down")),
    "vpn_cannot_connect": (("vpn",), ("outage", "down", "unavailable", "cannot connect", "can't connect", "failing")),
    "wifi": (("wi-fi", "wifi", "wireless"), ()),
    "network_share": (("share", "drive"), ()),
    "slow_internet": (("internet",), ()),
    "print_queue_stuck": (("print",), ()),
    "printer_offline": (("print",), ()),
    "paper_jam": (("print",), ()),
    "desk_phone_down": (("phone",), ()),
}
# Intents about one person's own things: never linked to an incident by shared words, never clustered.
PERSONAL = frozenset({
    "password_reset", "account_unlock", "mfa_reset", "lost_device", "lost_security_key", "mdm_enrolment",
    "device_compliance", "new_phone_setup", "broken_hardware", "mailbox_full", "distribution_list",
    "shared_mailbox", "calendar_delegation", "software_request", "disk_space", "voicemail_pin", "call_forwarding",
    "new_extension", "phishing_report", "suspicious_signin",
})  # fmt: skip
# Intents about a service many people share, so that reports from several people at one site are one outage:
# the VPN gateways, the office Wi-Fi, file shares, the site's internet link, mail flow, the follow-me print
# queue and printers, the desk-phone system. An allowlist: an intent not named here never opens a major
# incident by clustering, however many reports arrive (a jam or low toner is one printer's chore, a crash one
# computer's). Each must be in the taxonomy, open a ticket on routing and act on no one
# (tests/helpdesk/test_incident_abuse.py checks that against data/taxonomy.yaml).
OUTAGE = frozenset({
    "vpn_drops", "vpn_cannot_connect", "wifi", "network_share", "slow_internet", "email_stuck_outbox",
    "print_queue_stuck", "printer_offline", "desk_phone_down",
})  # fmt: skip
# ServiceNow's lookup read backwards: the impact and urgency that give an incident's P1-P5.
_IMPACT_URGENCY = {
    "P1": (Impact.HIGH, Urgency.HIGH),
    "P2": (Impact.HIGH, Urgency.MEDIUM),
    "P3": (Impact.MEDIUM, Urgency.MEDIUM),
    "P4": (Impact.MEDIUM, Urgency.LOW),
    "P5": (Impact.LOW, Urgency.LOW),
}
_SITES = {"london": ("london", "lon"), "leeds": ("leeds", "lds")}
_PRINTER = re.compile(r"\b(?:LON|LDS)-F\d-(?:HP|LX)-\d{2}\b", re.I)
_FLOOR = re.compile(r"\b(?:floor\s*(\d)|(\d)(?:st|nd|rd|th)\s+floor|F(\d)\b)", re.I)


@dataclass(frozen=True, slots=True)
class Site:
    """Where a requester works: ``location`` (london, leeds, remote) and ``floor``."""

    location: str
    floor: int | None

    @property
    def tag(self) -> str:
        return f"site:{self.location}" + (f"-f{self.floor}" if self.floor is not None else "")


def site_of(person: Person) -> Site:
    return Site(person.location or "unknown", person.floor)


def _incident_sites(text: str) -> set[str]:
    words = set(re.findall(r"[a-z]+", text.lower()))
    found = {site for site, names in _SITES.items() if words & set(names)}
    if "remote" in words:
        found.add("remote")
    return found


def _incident_floors(text: str) -> set[int]:
    return {int(next(g for g in m.groups() if g)) for m in _FLOOR.finditer(text)}


_STOP = set(
    "about after again also been before being from have into just only over some than that their them then "
    "there these they this today very what when which while will with would your since still every".split()
)


def _content_words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z][a-z-]{3,}", text.lower()) if w not in _STOP}


def on_topic(intent: str, title: str, affected: str = "") -> bool | None:
    """Whether an incident (its title and affected list) is about ``intent``'s service and symptom;
    None when the intent has no topic to judge by."""
    topic = _TOPIC.get(intent)
    if topic is None:
        return None
    services, symptoms = topic
    scope = f"{title} {affected}".lower()
    return any(word in scope for word in services) and (not symptoms or any(w in title.lower() for w in symptoms))


def certain(incident: KnownIncident, intent: str, request: str = "") -> bool:
    """A match by the intent's service and symptom is certain, and so is one that shares four or more content
    words with the incident; with fewer shared words it is only possible (ask before linking)."""
    if on_topic(intent, incident.title, " ".join(incident.affected)) is True:
        return True
    text = " ".join((incident.title, incident.description, *incident.affected))
    return len(_content_words(request) & _content_words(text)) >= 4


def matches(
    incident: KnownIncident,
    intent: str,
    person: Person,
    phone: Phone | None,
    request: str = "",
    group: str | None = None,
) -> bool:
    """Whether a request of ``intent`` from ``person`` is most likely about ``incident``.

    The incident must be about the intent's service and symptom (``vpn`` + ``drops`` for VPN
    drops), or — for intents without a topic — belong to the specialist's team (``group``) and
    share at least three content words with the request ("external e-mail arriving late"). A
    personal request (an unlock, a full mailbox, a lost phone) is never linked. Then the scope
    must match: a printer the request names, the requester's extension, site and floor.
    """
    if not incident.active or intent in PERSONAL:
        return False
    text = " ".join((incident.title, incident.description, *incident.affected))
    scope_text = " ".join((incident.title, *incident.affected))
    about = on_topic(intent, incident.title, " ".join(incident.affected))
    if about is False:
        return False
    if about is None and (
        group is None or incident.assignment_group != group or len(_content_words(request) & _content_words(text)) < 3
    ):
        return False
    named = {m.upper() for m in _PRINTER.findall(request)}
    if named and not any(name in text.upper() for name in named):
        return False  # the request names a printer the incident does not
    if incident.related_extensions:
        return phone is not None and phone.extension in incident.related_extensions
    sites = _incident_sites(scope_text)
    if sites and person.location not in sites:
        return False
    floors = _incident_floors(scope_text)
    return not floors or person.floor in floors


@dataclass(frozen=True, slots=True)
class Linked:
    """The parent a new report belongs to, and whether the parent was opened just now."""

    parent: Ticket
    title: str
    team: str
    workaround: str
    update_eta: str
    new_parent: bool


class IncidentLinker:
    """Finds or opens the parent of a new report (see the module docstring)."""

    def __init__(
        self,
        tickets: TicketingBackend,
        window: timedelta = timedelta(hours=4),
        threshold: int = 3,
        *,
        max_new_tickets: int = 5,
        new_ticket_window: timedelta = timedelta(hours=1),
    ) -> None:
        if threshold < 2 or max_new_tickets < 1:
            raise ValueError("`threshold` must be 2 or more and `max_new_tickets` 1 or more.")
        self.tickets = tickets
        self.window = window
        self.threshold = threshold
        self.max_new_tickets = max_new_tickets
        self.new_ticket_window = new_ticket_window

    def existing_parent(self, intent: str, site: Site) -> Linked | None:
        """An open major incident for this outage intent at this site; never one for a personal request.

        Only :data:`OUTAGE` intents are linked this way, whatever tickets claim to be major incidents. A
        parent that Firstline opened from a cluster counts only while its children come from ``threshold``
        different people (so a cluster opened by one person's reports links nobody else)."""
        if intent in PERSONAL or intent not in OUTAGE:
            return None
        for ticket in self._open(specialist=None, intent=intent):
            if MAJOR_TAG not in ticket.tags or ticket.intent != intent or site.tag not in ticket.tags:
                continue
            if (ticket.correlation_id or "").startswith("cluster:") and not self._enough_people(ticket):
                continue
            return Linked(ticket, ticket.short_description, ticket.assignment_group, "", "", False)
        return None

    def over_ticket_limit(self, requester: str, now: datetime) -> bool:
        """Whether ``requester`` already opened ``max_new_tickets`` tickets (in any state) in the last
        ``new_ticket_window``: the next request then opens none."""
        query = TicketQuery(requester=requester, opened_after=now - self.new_ticket_window, limit=self.max_new_tickets)
        return len(self.tickets.search(query)) >= self.max_new_tickets

    def latest_open(self, requester: str) -> Ticket | None:
        """The requester's most recently opened ticket that is still open, if any."""
        found = self.tickets.search(TicketQuery(requester=requester, state=OPEN_STATES, limit=1))
        return found[0] if found else None

    def _enough_people(self, parent: Ticket) -> bool:
        children = self.tickets.search(TicketQuery(parent=parent.number, limit=500))
        return len(_people(children)) >= self.threshold

    def for_known(self, incident: KnownIncident, intent: str, specialist: str, site: Site) -> Linked:
        """The parent ticket of a directory incident (opened on first use)."""
        impact, urgency = _IMPACT_URGENCY.get(incident.priority.upper(), (Impact.MEDIUM, Urgency.MEDIUM))
        parent = self.tickets.create(
            NewTicket(
                requester=SYSTEM_REQUESTER,
                short_description=incident.title[:160],
                description=f"{incident.description}\n\nWorkaround: {incident.workaround}".strip(),
                category=specialist,
                specialist=specialist,
                intent=intent,
                impact=impact,
                urgency=urgency,
                assignment_group=incident.assignment_group,
                correlation_id=f"known:{incident.id}",
                tags=[MAJOR_TAG, f"known:{incident.id.lower()}", site.tag],
            )
        )
        eta = incident.update_eta.strftime("%a %d %b %H:%M UTC") if incident.update_eta else ""
        return Linked(parent, incident.title, incident.assignment_group, incident.workaround, eta, False)

    def cluster(self, child: Ticket, site: Site, now: datetime) -> Linked | None:
        """Open a parent when ``child`` makes open reports of one outage intent at one site in the window from
        ``threshold`` different people (one person's reports count once; Firstline's own tickets never)."""
        if child.intent in PERSONAL or child.intent not in OUTAGE or child.requester == SYSTEM_REQUESTER:
            return None
        similar = [
            t
            for t in self._open(specialist=child.specialist, intent=child.intent, opened_after=now - self.window)
            if t.intent == child.intent
            and site.tag in t.tags
            and MAJOR_TAG not in t.tags
            and t.parent_number is None
            and t.requester != SYSTEM_REQUESTER
        ]
        if child.number not in {t.number for t in similar}:
            similar.append(child)
        people = _people(similar)
        if len(people) < self.threshold:
            return None
        where = f"{site.location}" + (f" floor {site.floor}" if site.floor is not None else "")
        parent = self.tickets.create(
            NewTicket(
                requester=SYSTEM_REQUESTER,
                short_description=f"Major incident: {len(people)} people report {child.intent.replace('_', ' ')} "
                f"at {where}"[:160],
                description="Opened by Firstline after similar reports:\n"
                + "\n".join(f"- {t.number} {t.requester}: {t.short_description}" for t in similar),
                category=child.category,
                specialist=child.specialist,
                intent=child.intent,
                impact=Impact.HIGH,
                urgency=child.urgency,
                assignment_group=child.assignment_group,
                correlation_id=f"cluster:{child.intent}:{site.tag}:{child.number}",
                tags=[MAJOR_TAG, site.tag],
            )
        )
        for ticket in sorted(similar, key=lambda t: t.number):
            self.tickets.link_to_parent(ticket.number, parent.number, author="firstline")
        return Linked(parent, parent.short_description, parent.assignment_group, "", "", True)

    def _open(self, specialist: str | None, intent: str, opened_after: datetime | None = None) -> Iterable[Ticket]:
        query = TicketQuery(
            state=OPEN_STATES, specialist=specialist, intent=intent, opened_after=opened_after, limit=500
        )
        return self.tickets.search(query)


def _people(tickets: Iterable[Ticket]) -> set[str]:
    """The different people who reported ``tickets`` (Firstline itself is nobody)."""
    return {t.requester.lower() for t in tickets if t.requester.lower() != SYSTEM_REQUESTER}
