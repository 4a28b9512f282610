"""Playbooks for shared infrastructure: the network, computers and software, printers (Network, Computer, Printer)."""

from __future__ import annotations

import re
from typing import Any

from firstline.helpdesk import slots
from firstline.helpdesk.incidents import on_topic
from firstline.helpdesk.offline import (
    Say,
    Step,
    View,
    call,
    escalate_and_say,
    kb_answer,
    verification,
)
from firstline.helpdesk.offline.playbooks.common import as_dict, playbook, then_resolve

# -- network -----------------------------------------------------------------------------------------


@playbook
def vpn(v: View) -> Step:
    status = v.latest("vpn_status")
    if status is None:
        return call("vpn_status")
    data = as_dict(status.data)
    intent = str(v.briefing.get("intent") or "vpn_drops")
    incidents = [i for i in data.get("known_incidents") or [] if on_topic(intent, str(i.get("title", ""))) is not False]
    if incidents:
        first = incidents[0]
        workaround = data.get("workaround") or first.get("workaround")
        return Say(
            f"There's a known problem: {first['title']} ({first['id']}, {first['status']}). "
            f"Workaround: {workaround or 'none yet, and you will be told when it is fixed.'}"
        )
    return kb_answer(v, prefix="There's no known VPN incident affecting you right now. ")


@playbook
def outage_then_kb(v: View) -> Step:
    check = v.latest("site_outage_check")
    if check is None:
        return call("site_outage_check")
    incidents = as_dict(check.data).get("incidents") or []
    intent = str(v.briefing.get("intent") or "")
    relevant = [
        i for i in incidents if on_topic(intent, str(i.get("title", ""))) is not False and _overlaps(i, v.request_text)
    ]
    if relevant:
        first = relevant[0]
        return Say(
            f"There's a known problem that may explain it: {first['title']} ({first['id']}). "
            f"Workaround: {first.get('workaround') or 'none yet, and you will be told when it is fixed.'}"
        )
    return kb_answer(v)


_SCOPE_WORDS = {"floor", "london", "leeds", "office", "building", "site", "remote", "everyone", "people", "today"}


def _overlaps(incident: dict[str, Any], text: str) -> bool:
    """The request names what the incident is about (its service), not only where it is."""
    words = {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 3} - _SCOPE_WORDS
    haystack = f"{incident.get('title', '')} {' '.join(incident.get('affected', []))}".lower()
    return any(w in haystack for w in words)


@playbook
def report_outage(v: View) -> Step:
    check = v.latest("site_outage_check")
    if check is None:
        return call("site_outage_check")
    incidents = as_dict(check.data).get("incidents") or []
    if incidents:
        listed = "; ".join(f"{i['title']} ({i['id']})" for i in incidents[:3])
        return Say(f"These incidents are already known for your site: {listed}.")
    if len(v.users) == 1 and _only_asks(v.request_text):
        return Say(
            "I don't see a known incident for that at your site right now. What happens when you try, and is it "
            "only you or other people too? Tell me and I'll raise it.",
            expects="detail",
        )
    return escalate_and_say(v, "I don't see a known incident for that, so I've raised it.")


_SYMPTOM = re.compile(
    r"n't\b|\b(?:cannot|not|nobody|no one|everyone|everybody|whole|all of us|error\w*|fail\w*|crash\w*)\b", re.I
)


def _only_asks(text: str) -> bool:
    """A question about an outage that reports none ("is there a known problem with teams today?"): nothing to
    raise yet. "is teams down? nobody can join calls" reports one."""
    return slots.asks(text) and not re.search(r"\?\s*\w", text) and not _SYMPTOM.search(text)


# -- computer ----------------------------------------------------------------------------------------


@playbook
def software_request(v: View) -> Step:
    catalog = v.latest("software_catalog")
    requested = v.latest("request_software")
    if requested is not None and requested.ok:
        return Say(requested.result)
    name = _software_name(v)
    if name is None:
        if catalog is None:
            return call("software_catalog")
        return Say(
            "Which application do you need? Tell me its name, e.g. 'Visio' or 'Power BI Desktop'.", expects="detail"
        )
    return verification(v) or call("request_software", name=name, reason=v.request_text[:300])


def _software_name(v: View) -> str | None:
    from firstline.helpdesk.tools.computer import load_software_catalog

    text = " ".join(v.users).lower()
    best: tuple[int, int, str] | None = None  # (position, -length, name): the first product named wins
    for item in load_software_catalog():
        for alias in (item.name, *item.aliases):
            match = re.search(rf"(?<![\w-]){re.escape(alias.lower())}(?![\w-])", text)
            if match and (best is None or (match.start(), -len(alias)) < best[:2]):
                best = (match.start(), -len(alias), item.name)
    if best is not None:
        return best[2]
    asked = next((m for m in map(_ASKED_FOR.search, v.users) if m is not None), None)
    named = asked.group("name") if asked is not None else ""
    short = [u.strip(" .!?'\"") for u in v.users[1:] if 0 < len(u.split()) <= 3 and not re.search(r"[\[\d]", u)]
    if not named and v.latest("software_catalog") is not None and short:
        named = short[-1]  # the answer to "which application do you need?": "spotify" (not the code typed later)
    return None if not named or named.lower() in _NOT_A_NAME else (named.title() if named.islower() else named)


# "can i install spotify on my work laptop": a product the catalogue does not list is still the one asked for
# (the tool then says it is not approved and where to ask for a review), not "which application do you need?".
_ASKED_FOR = re.compile(
    r"\b(?:install|download|get|put|use|run|need|want|add)\s+(?:the\s+|an?\s+)?(?P<name>[A-Za-z][\w.+-]{1,30})"
    r"(?=\s+(?:on|onto|for|please|so|because|at|in|app)\b|\s*[?.,!]|\s*$)",
    re.I,
)
_NOT_A_NAME = frozenset(
    "app apps application software program programme something anything it this that access permission admin "
    "rights new laptop computer more some one stuff".split()
)


@playbook
def disk_space(v: View) -> Step:
    result = v.latest("disk_cleanup_steps")
    if result is None:
        return call("disk_cleanup_steps")
    data = as_dict(result.data)
    steps = "\n".join(data.get("steps", []))
    return Say(
        f"{data.get('hostname')} has {data.get('disk_free_gb')} GB free of {data.get('disk_total_gb')} GB. "
        f"To free space:\n{steps}"
    )


@playbook
def health_then_kb(v: View) -> Step:
    health = v.latest("device_health")
    if health is None:
        return call("device_health")
    data = as_dict(health.data)
    notes = []
    if data.get("disk_low"):
        notes.append(f"your disk is nearly full ({data.get('disk_free_gb')} GB free)")
    if data.get("os_meets_baseline") is False:
        notes.append(f"{data.get('os')} is below the required version {data.get('os_baseline')}")
    if data.get("check_in_stale"):
        notes.append("it hasn't checked in with Intune for a while")
    prefix = f"I checked {data.get('hostname')}: {', and '.join(notes)}. " if notes else ""
    return kb_answer(v, prefix=prefix)


# -- printer -----------------------------------------------------------------------------------------


def _printer_or_ask(v: View) -> str | Step:
    """The printer named, or the one printer on the floor the employee means; else the printers there to choose
    from ("the one by the kitchen on the 3rd floor" names no printer, but a floor). Without a floor, the name is
    asked for first; an answer that still names no printer gets the printers on their own floor."""
    name = v.slot(slots.printer_name)
    if name is not None:
        return str(name)
    floor = v.slot(slots.floor)
    near = next((d for d in reversed(v.done) if d.name == "printer_status" and "printers" in as_dict(d.data)), None)
    if near is None and floor is None and len(v.users) < 2:  # asked plainly first: most people read the label
        return Say("Which printer is it? The name is on the label on the front, e.g. LON-F4-HP-02.", expects="choice")
    if near is None or (floor is not None and as_dict(near.data).get("floor") != floor):
        return call("printer_status", floor=floor) if floor is not None else call("printer_status")
    data = as_dict(near.data) if near.ok else {}
    found = [p for p in data.get("printers") or [] if isinstance(p, dict)]
    if len(found) == 1:
        return str(found[0]["name"])
    if not found:
        return Say("Which printer is it? The name is on the label on the front, e.g. LON-F4-HP-02.", expects="choice")
    if (named := _by_make(found, v.last_user)) is not None:
        return named  # "its the hp one near the kitchen": the only HP there
    listed = ", ".join(f"{p['name']} ({p['model']})" for p in found)
    return Say(
        f"Which printer is it? On floor {data.get('floor')} of the {str(data.get('office', '')).title()} office "
        f"there are: {listed}. The name is on the label on the front; if it's on another floor, tell me which.",
        expects="choice",
    )


def _by_make(printers: list[dict[str, Any]], text: str) -> str | None:
    """The one printer of ``printers`` whose make or model a word of ``text`` names and no other's does ("the hp
    one" among an HP and a Lexmark); ``None`` when no word, or several printers, fit."""
    said = set(re.findall(r"[a-z0-9]{2,}", text.lower()))
    words = [set(re.findall(r"[a-z0-9]{2,}", f"{p.get('model', '')} {p.get('name', '')}".lower())) for p in printers]
    picked = {
        i for i, own in enumerate(words)
        if said & {w for w in own if sum(w in other for other in words) == 1}
    }  # fmt: skip
    return str(printers[picked.pop()]["name"]) if len(picked) == 1 else None


def _printer_status(v: View) -> Step | tuple[str, Any]:
    """The printer the requester means and its status, or the question / the tool call that gets them."""
    name = _printer_or_ask(v)
    if not isinstance(name, str):
        return name
    status = next(
        (d for d in reversed(v.done) if d.name == "printer_status" and "printers" not in as_dict(d.data)), None
    )
    if status is None:
        return call("printer_status", name=name)
    return name, status


def _printer_incident(data: dict[str, Any]) -> str:
    incidents = data.get("known_incidents") or []
    if not incidents:
        return ""
    first = incidents[0]
    return f"Known problem: {first['title']} ({first['id']}). Workaround: {first.get('workaround', '')} "


@playbook
def print_queue_stuck(v: View) -> Step:
    found = _printer_status(v)
    if not isinstance(found, tuple):
        return found
    name, status = found
    if not status.ok:
        return call("printer_status", name=name)
    data = as_dict(status.data)
    cleared = v.latest("clear_my_print_jobs")
    if cleared is not None and cleared.ok:
        return Say(f"{_printer_incident(data)}{cleared.result}".strip())
    if data.get("stuck_jobs"):
        return verification(v) or call("clear_my_print_jobs", name=name)
    return Say(
        f"{_printer_incident(data)}{data.get('name')} is {data.get('status')} with {data.get('jobs_in_queue')} "
        f"job(s) queued and none stuck. Release your job again at the printer with your badge."
    )


@playbook
def printer_status_answer(v: View) -> Step:
    found = _printer_status(v)
    if not isinstance(found, tuple):
        return found
    _, status = found
    data = as_dict(status.data)
    error = f" ({data['error']})" if data.get("error") else ""
    known = _printer_incident(data)
    if known:
        return Say(f"{data.get('name')} is {data.get('status')}{error}. {known}".strip())
    return kb_answer(v, prefix=f"{data.get('name')} is {data.get('status')}{error}. ")


_POOR_PRINTS = re.compile(r"\b(?:blank|faded|faint|pale|streak\w*|stripe\w*|lines?|smudg\w*|smear\w*|ghost\w*)\b", re.I)


@playbook
def toner(v: View) -> Step:
    found = _printer_status(v)
    if not isinstance(found, tuple):
        return found
    name, status = found
    data = as_dict(status.data)
    levels: dict[str, int] = data.get("toner_percent") or {}
    colour = v.slot(slots.colour) or (min(levels, key=lambda c: levels[c]) if levels else "black")
    ordered = v.latest("order_toner")
    if ordered is not None and ordered.ok:
        return then_resolve(v, f"Toner ordered: {colour}", ordered.result)
    if colour in levels and levels[colour] > 20:
        enough = f"{data.get('name')} still has {levels[colour]}% {colour} toner, so no cartridge is due yet. "
        if _POOR_PRINTS.search(v.request_text):  # blank, faded or streaky pages: the runbook's print-quality steps
            return kb_answer(v, prefix=enough)
        return Say(enough + "If prints are faint or streaky, take the cartridge out, shake it gently and put it back.")
    return verification(v) or call("order_toner", name=name, colour=colour)
