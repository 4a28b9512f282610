"""Network specialist tools: known VPN and site incidents, matched against where the requester works.

Both tools only read the directory's known incidents; what the user can do themselves (switch
gateway, reconnect) comes from the incident's workaround and the VPN runbooks.
"""

from __future__ import annotations

import re
from typing import Any

from firstline.agents import RunContext, Tool, tool
from firstline.directory.models import KnownIncident, Person
from firstline.errors import PersonNotFoundError, ToolFailed
from firstline.helpdesk.tools.deps import deps_of

__all__ = ["GATEWAYS", "NETWORK_TOOLS", "SITES"]

GATEWAYS = ("NW-GW-LON", "NW-GW-LDS")
"""The GlobalProtect gateways behind the portal vpn.nwmeridian.co.uk."""

SITES: dict[str, tuple[str, ...]] = {
    "london": ("london", "lon"),
    "leeds": ("leeds", "lds"),
    "remote": ("remote", "home"),
}
"""Each site and the words incidents use for it (short codes as in LON-F4-HP-01 and NW-GW-LDS)."""

_VPN = re.compile(r"\bvpn\b|gateway|globalprotect", re.I)
_FLOOR = re.compile(r"\bfloor\s*(\d)\b|\b(\d)(?:st|nd|rd|th)\s+floor\b|\bf(\d)\b", re.I)
_FILLER = {"the", "office", "site", "in", "at", "on", "my", "our", "building", "area", "team"}


def _me(ctx: RunContext) -> Person | None:
    """The requester, or ``None`` when they are unknown (incident information is not personal)."""
    if not ctx.requester:
        return None
    try:
        return deps_of(ctx).directory.person(ctx.requester)
    except PersonNotFoundError:
        return None


def _text(incident: KnownIncident) -> str:
    return " ".join((incident.title, incident.description, *incident.affected))


def _summary(incident: KnownIncident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "priority": incident.priority,
        "status": incident.status,
        "affected": list(incident.affected),
        "workaround": incident.workaround,
        "next_update": incident.update_eta.isoformat() if incident.update_eta else None,
    }


def _mentions(words: tuple[str, ...], text: str) -> bool:
    return any(re.search(rf"\b{re.escape(word)}\b", text, re.I) for word in words)


def _at_site(incident: KnownIncident, site: str) -> bool:
    """The incident names ``site``: its full name anywhere, or its short code in the title or affected list.

    Short codes are not searched in the description, where "NW-GW-LON is unaffected" would match London.
    """
    words = SITES[site]
    headline = " ".join((incident.title, *incident.affected))
    return _mentions(words, headline) or _mentions(words[:1], incident.description)


def _on_floor(incident: KnownIncident, floor: int) -> bool:
    return any(floor == int(next(g for g in m.groups() if g)) for m in _FLOOR.finditer(_text(incident)))


def _site_of_any(incident: KnownIncident) -> bool:
    return any(_at_site(incident, site) for site in SITES)


@tool
def vpn_status(ctx: RunContext) -> dict[str, Any]:
    """Check known VPN incidents: which GlobalProtect gateway (NW-GW-LON, NW-GW-LDS) is affected and the workaround."""
    person = _me(ctx)
    incidents = [i for i in deps_of(ctx).directory.incidents() if _VPN.search(_text(i))]
    gateways = {}
    for gateway in GATEWAYS:
        hit = next((i for i in incidents if _mentions((gateway,), " ".join((i.title, *i.affected)))), None)
        gateways[gateway] = f"affected ({hit.id})" if hit else "no known problem"
    healthy = [g for g, state in gateways.items() if state == "no known problem"]
    advice = " ".join(i.workaround for i in incidents if i.workaround)
    if not incidents:
        advice = (
            "No known VPN incident: the problem is probably local. Follow the VPN runbooks "
            "(search 'VPN keeps disconnecting' or 'VPN will not connect')."
        )
    elif not advice and healthy:
        advice = f"In GlobalProtect, open the gateway list and choose {healthy[0]} instead of 'Best Available'."
    elif not advice:
        advice = "No workaround yet: wait for the next incident update."
    return {
        "known_incidents": [_summary(i) for i in incidents],
        "gateways": gateways,
        "requester_location": person.location if person else None,
        "workaround": advice,
        "note": "Outlook, Teams and OneDrive do not use the VPN; only internal systems (S: and P: drives, "
        "finance application, PaperCut) need it.",
    }


@tool
def site_outage_check(ctx: RunContext, site: str | None = None) -> dict[str, Any]:
    """Check for known ongoing incidents at a site or area, e.g. the requester's office, a floor or a service.

    Args:
        site: "london", "leeds", "remote", or a free-text area such as "leeds floor 2" or "Exchange";
            leave it out for the requester's own site and floor.
    """
    person = _me(ctx)
    wanted = (site or "").strip().lower()
    if not wanted:
        if person is None or not person.location:
            raise ToolFailed(
                "Which site are you working from: London, Leeds or remote?",
                guidance="ask for their site (london, leeds or remote)",
            )
        wanted = person.location
    words = [w for w in re.findall(r"[\w-]+", wanted) if w not in _FILLER]
    named = next((s for s, aliases in SITES.items() if any(w in aliases for w in words)), None)
    floor_match = _FLOOR.search(wanted)
    floor: int | None = None
    if floor_match:
        floor = int(next(g for g in floor_match.groups() if g))
    elif person is not None and named == person.location:
        floor = person.floor
    incidents = deps_of(ctx).directory.incidents()
    if named is not None:
        found = [i for i in incidents if _at_site(i, named)]
        if floor_match:
            found = [i for i in found if _on_floor(i, floor or 0) or not _FLOOR.search(_text(i))]
    else:
        found = [i for i in incidents if words and all(w in _text(i).lower() for w in words)]
    result: dict[str, Any] = {
        "site": named or wanted,
        "floor": floor,
        "incidents": [{**_summary(i), "on_that_floor": floor is not None and _on_floor(i, floor)} for i in found],
    }
    if named is not None:
        result["company_wide"] = [_summary(i) for i in incidents if not _site_of_any(i)]
    if not found:
        result["note"] = f"No known incident at {named or wanted}: treat the problem as new and troubleshoot it."
    return result


NETWORK_TOOLS: tuple[Tool, ...] = (vpn_status, site_outage_check)
