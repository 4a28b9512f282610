"""The offline engine's playbooks: for each intent, which tool comes next and what to tell the user.

A playbook is a function of the :class:`~firstline.helpdesk.offline.View` (the episode so far) that
returns the next step. It is re-entered after every tool result, so it reads like a checklist:
"no status yet -> look it up; locked and not verified -> verify; verified -> unlock; unlocked ->
resolve the ticket; resolved -> tell the user". Intents without a playbook answer from the
runbooks (:func:`fallback_playbook`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from firstline.helpdesk import slots
from firstline.helpdesk.offline import (
    FOLLOW_UP,
    Call,
    Say,
    Step,
    View,
    call,
    escalate_and_say,
    kb_answer,
    sentence,
    verification,
)

__all__ = ["PLAYBOOKS", "fallback_playbook"]

Playbook = Callable[[View], Step]


def _then_resolve(v: View, note: str, text: str) -> Step:
    """After a change succeeded: resolve the conversation's ticket once, then say ``text``."""
    resolved = v.latest("mark_resolved")
    if resolved is None or not resolved.this_turn:
        return call("mark_resolved", note=note)
    return Say(f"{text} {resolved.result if resolved.ok else ''}".strip())


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# -- security ----------------------------------------------------------------------------------------


def account_unlock(v: View) -> Step:
    status = v.latest("account_status")
    if status is None:
        return call("account_status")
    account = _dict(status.data)
    if not account.get("enabled", True):
        return escalate_and_say(
            v,
            "Your account is disabled, not locked. That's an administrative block the service desk can't lift "
            "from chat; Security Operations will review it.",
        )
    unlocked = v.latest("unlock_account")
    if unlocked is not None and unlocked.ok:
        return _then_resolve(v, "Account unlocked after identity verification", unlocked.result)
    if not account.get("locked") and unlocked is None:
        if account.get("password_expired"):
            return password_reset(v)
        return Say(
            f"Your account {account.get('username', '')} isn't locked, so the sign-in problem is something else. "
            "If you've forgotten your password I can send a reset link; if the MFA prompt is the problem, tell me "
            "what it shows."
        )
    return verification(v) or call("unlock_account")


def verified_change(tool: str, note: str, advice: str = "") -> Playbook:
    """A playbook for one change to the requester's own things: verify, call ``tool``, resolve, tell."""

    def playbook(v: View) -> Step:
        done = v.latest(tool)
        if done is not None and done.ok:
            return _then_resolve(v, note, f"{done.result} {advice}".strip())
        return verification(v) or call(tool)

    return playbook


password_reset = verified_change(
    "send_password_reset_link",
    "Self-service reset link sent",
    "Choose a new password there; I never need to know it. Devices that still use the old one (phone mail, "
    "mapped drives) will ask for the new one.",
)
mfa_reset = verified_change(
    "reset_mfa",
    "MFA methods cleared after approval",
    "Sign in at a computer and follow the prompts to register your new phone.",
)
voicemail_pin = verified_change("reset_voicemail_pin", "Voicemail PIN reset")


def phishing_report(v: View) -> Step:
    report = v.latest("report_phishing")
    if report is None:
        text = " ".join(v.users)
        senders = [e for e in slots.emails(text) if e != v.requester]
        lowered = text.lower()
        clicked = any(w in lowered for w in ("clicked", "opened the link", "opened the attachment", "followed"))
        entered = any(
            w in lowered
            for w in ("entered my password", "typed my password", "gave my password", "entered my details", "logged in")
        )
        return call(
            "report_phishing",
            sender=senders[0] if senders else "unknown sender",
            subject=v.request_text[:150],
            clicked_link=clicked or entered,
            entered_credentials=entered,
        )
    if not report.ok:
        return Say(report.problem)
    return Say(f"Thanks for reporting it. {report.result}")


# -- device ------------------------------------------------------------------------------------------


def _device_hint(v: View) -> str | None:
    kind = v.slot(slots.device_kind)
    devices = v.latest("my_devices")
    if devices is None or not isinstance(devices.data, list):
        return None
    mine = [d for d in devices.data if d.get("status") == "in_use"]
    if kind:
        mine = [d for d in mine if d.get("kind") == kind] or mine
    return str(mine[0]["hostname"]) if len(mine) == 1 or (kind and mine) else None


def lost_device(v: View) -> Step:
    if v.latest("my_devices") is None:
        return call("my_devices")
    device = _device_hint(v)
    if device is None:
        listing = v.latest("my_devices")
        names = ", ".join(
            f"{d['hostname']} ({d['model']})"
            for d in (listing.data if listing and isinstance(listing.data, list) else [])
        )
        return Say(f"Which device is it? Your devices are: {names or 'none on record'}.")
    reported = v.latest("report_lost_device")
    if reported is None or not reported.ok:
        step = verification(v)
        if step is not None:
            return step
        return call(
            "report_lost_device",
            device=device,
            stolen=slots.stolen(" ".join(v.users)),
            where_and_when=" ".join(v.users)[:500],
        )
    locked = v.latest("remote_lock")
    if locked is None:
        return call("remote_lock", device=device)
    return Say(
        f"{reported.result} {locked.result} If you find it, tell the service desk before using it again; "
        "don't try to unlock it yourself."
    )


def mdm_enrolment(v: View) -> Step:
    steps = v.latest("mdm_enrol_steps")
    platform = v.slot(slots.platform)
    if steps is None:
        if platform is None:
            return Say("Which kind of device are you enrolling: Windows laptop, Mac, iPhone/iPad or Android?")
        return call("mdm_enrol_steps", platform=platform)
    data = _dict(steps.data)
    lines = "\n".join(data.get("steps", []))
    stuck = " ".join(data.get("if_it_gets_stuck", [])[:1])
    return Say(f"Here's how to enrol it in Intune:\n{lines}\n{stuck}\n{FOLLOW_UP}")


def device_compliance(v: View) -> Step:
    result = v.latest("compliance_check")
    if result is None:
        return call("compliance_check")
    devices = result.data if isinstance(result.data, list) else []
    problems = [d for d in devices if d.get("issues")]
    if not problems:
        return Say(
            "All your devices show as compliant in Intune right now. If an app still says the device isn't "
            "compliant, open Company Portal and tap 'Check status', then try again in 15 minutes. " + FOLLOW_UP
        )
    lines = [f"{d['hostname']}: " + "; ".join(f"{i['issue']} -> {i['fix']}" for i in d["issues"]) for d in problems]
    return Say("Here's what Intune flags and how to fix it:\n" + "\n".join(lines) + f"\n{FOLLOW_UP}")


# -- network -----------------------------------------------------------------------------------------


def vpn(v: View) -> Step:
    status = v.latest("vpn_status")
    if status is None:
        return call("vpn_status")
    data = _dict(status.data)
    incidents = data.get("known_incidents") or []
    if incidents:
        first = incidents[0]
        return Say(
            f"There's a known problem: {first['title']} ({first['id']}, {first['status']}). "
            f"Workaround: {data.get('workaround') or first.get('workaround')} {FOLLOW_UP}"
        )
    return kb_answer(v, prefix="There's no known VPN incident right now. ")


def outage_then_kb(v: View) -> Step:
    check = v.latest("site_outage_check")
    if check is None:
        return call("site_outage_check")
    incidents = _dict(check.data).get("incidents") or []
    relevant = [i for i in incidents if _overlaps(i, v.request_text)]
    if relevant:
        first = relevant[0]
        return Say(
            f"There's a known problem that may explain it: {first['title']} ({first['id']}). "
            f"Workaround: {first.get('workaround') or 'none yet'}. {FOLLOW_UP}"
        )
    return kb_answer(v)


def _overlaps(incident: dict[str, Any], text: str) -> bool:
    words = {w for w in text.lower().replace("-", " ").split() if len(w) > 3}
    haystack = f"{incident.get('title', '')} {' '.join(incident.get('affected', []))}".lower()
    return any(w in haystack for w in words)


def report_outage(v: View) -> Step:
    check = v.latest("site_outage_check")
    if check is None:
        return call("site_outage_check")
    incidents = _dict(check.data).get("incidents") or []
    if incidents:
        listed = "; ".join(f"{i['title']} ({i['id']})" for i in incidents[:3])
        return Say(f"These incidents are already known for your site: {listed}. {FOLLOW_UP}")
    return escalate_and_say(v, "I don't see a known incident for that, so I've raised it.")


# -- email -------------------------------------------------------------------------------------------


def mailbox_full(v: View) -> Step:
    quota = v.latest("mailbox_quota")
    if quota is None:
        return call("mailbox_quota")
    data = _dict(quota.data)
    if data.get("state") == "ok":
        return kb_answer(
            v,
            prefix=f"Your own mailbox is only {data.get('percent_used')}% full ({data.get('used_gb')} of "
            f"{data.get('quota_gb')} GB), so the warning may come from a shared mailbox or your archive. ",
        )
    advice = data.get("advice") or []
    tips = "\n".join(f"- {a}" for a in advice) if isinstance(advice, list) else str(advice)
    return Say(
        f"Your mailbox uses {data.get('used_gb')} GB of {data.get('quota_gb')} GB ({data.get('percent_used')}%)."
        f"\n{tips}\n{FOLLOW_UP}".strip()
    )


def distribution_list(v: View) -> Step:
    address = next(iter(slots.emails(" ".join(v.users))), None)
    if address is None:
        return Say("What's the list's e-mail address (for example leeds-social@nwmeridian.co.uk)?")
    info = v.latest("distribution_list_info")
    if info is None:
        return call("distribution_list_info", address=address)
    data = _dict(info.data)
    if data.get("requester_is_member"):
        return Say(f"You're already a member of {data.get('name')}; restart Outlook if it doesn't show yet.")
    if data.get("dynamic"):
        return Say(
            f"{data.get('name')} is a dynamic list: its members follow a rule ({data.get('rule')}), so nobody can "
            "be added by hand. If your details are wrong in the directory, HR can correct them."
        )
    owners = data.get("owners") or []
    if not data.get("open_join") and not any(o.get("email") and not o.get("left_the_company") for o in owners):
        return escalate_and_say(
            v,
            f"{data.get('name')} has no current owner to approve new members, so I can't add you yet: Messaging "
            "will confirm a new owner first.",
        )
    joined = v.latest("join_distribution_list") or v.latest("add_to_distribution_list")
    if joined is not None and joined.ok:
        return _then_resolve(v, f"Added to {address}", joined.result)
    step = verification(v)
    if step is not None:
        return step
    if data.get("open_join"):
        return call("join_distribution_list", address=address)
    return call("add_to_distribution_list", address=address)


def shared_mailbox(v: View) -> Step:
    address = next(iter(slots.emails(" ".join(v.users))), None)
    if address is None:
        return kb_answer(v)
    info = v.latest("shared_mailbox_access_info")
    if info is None:
        return call("shared_mailbox_access_info", address=address)
    data = _dict(info.data)
    if data.get("requester_has_full_access"):
        return Say(
            f"You already have access to {data.get('name')}. It appears in Outlook within an hour; restart Outlook "
            f"if it doesn't. {FOLLOW_UP}"
        )
    return escalate_and_say(
        v, f"Access to {data.get('name')} needs an owner's approval. {data.get('how_to_get_access', '')}"
    )


# -- computer ----------------------------------------------------------------------------------------


def software_request(v: View) -> Step:
    catalog = v.latest("software_catalog")
    requested = v.latest("request_software")
    if requested is not None and requested.ok:
        return Say(requested.result)
    name = _software_name(v)
    if name is None:
        if catalog is None:
            return call("software_catalog")
        return Say("Which application do you need? Tell me its name, e.g. 'Visio' or 'Power BI Desktop'.")
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
    return best[2] if best else None


def disk_space(v: View) -> Step:
    result = v.latest("disk_cleanup_steps")
    if result is None:
        return call("disk_cleanup_steps")
    data = _dict(result.data)
    steps = "\n".join(data.get("steps", []))
    return Say(
        f"{data.get('hostname')} has {data.get('disk_free_gb')} GB free of {data.get('disk_total_gb')} GB. "
        f"To free space:\n{steps}\n{FOLLOW_UP}"
    )


def health_then_kb(v: View) -> Step:
    health = v.latest("device_health")
    if health is None:
        return call("device_health")
    data = _dict(health.data)
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


def _printer_or_ask(v: View) -> str | Say:
    name = v.slot(slots.printer_name)
    if name is None:
        return Say("Which printer is it? The name is on the label on the front, e.g. LON-F4-HP-02.")
    return str(name)


def _printer_incident(data: dict[str, Any]) -> str:
    incidents = data.get("known_incidents") or []
    if not incidents:
        return ""
    first = incidents[0]
    return f"Known problem: {first['title']} ({first['id']}). Workaround: {first.get('workaround', '')} "


def print_queue_stuck(v: View) -> Step:
    name = _printer_or_ask(v)
    if isinstance(name, Say):
        return name
    status = v.latest("printer_status")
    if status is None or not status.ok:
        return call("printer_status", name=name)
    data = _dict(status.data)
    cleared = v.latest("clear_my_print_jobs")
    if cleared is not None and cleared.ok:
        return Say(f"{_printer_incident(data)}{cleared.result} {FOLLOW_UP}".strip())
    if data.get("stuck_jobs"):
        return verification(v) or call("clear_my_print_jobs", name=name)
    return Say(
        f"{_printer_incident(data)}{data.get('name')} is {data.get('status')} with {data.get('jobs_in_queue')} "
        f"job(s) queued and none stuck. Release your job again at the printer with your badge. {FOLLOW_UP}"
    )


def printer_status_answer(v: View) -> Step:
    name = _printer_or_ask(v)
    if isinstance(name, Say):
        return name
    status = v.latest("printer_status")
    if status is None:
        return call("printer_status", name=name)
    data = _dict(status.data)
    error = f" ({data['error']})" if data.get("error") else ""
    known = _printer_incident(data)
    if known:
        return Say(f"{data.get('name')} is {data.get('status')}{error}. {known}".strip())
    return kb_answer(v, prefix=f"{data.get('name')} is {data.get('status')}{error}. ")


def toner(v: View) -> Step:
    name = _printer_or_ask(v)
    if isinstance(name, Say):
        return name
    status = v.latest("printer_status")
    if status is None:
        return call("printer_status", name=name)
    data = _dict(status.data)
    levels: dict[str, int] = data.get("toner_percent") or {}
    colour = v.slot(slots.colour) or (min(levels, key=lambda c: levels[c]) if levels else "black")
    ordered = v.latest("order_toner")
    if ordered is not None and ordered.ok:
        return _then_resolve(v, f"Toner ordered: {colour}", ordered.result)
    if colour in levels and levels[colour] > 20:
        return Say(
            f"{data.get('name')} still has {levels[colour]}% {colour} toner, so no cartridge is due yet. If prints "
            "are faint or streaky, take the cartridge out, shake it gently and put it back."
        )
    return verification(v) or call("order_toner", name=name, colour=colour)


# -- phone -------------------------------------------------------------------------------------------


def desk_phone_down(v: View) -> Step:
    status = v.latest("extension_status")
    if status is None:
        return call("extension_status")
    data = _dict(status.data)
    if data.get("status") == "registered":
        return kb_answer(v, prefix=f"Extension {data.get('extension')} is registered, so the line itself is fine. ")
    return kb_answer(
        v,
        prefix=f"Extension {data.get('extension')} shows as {data.get('status')}. Meanwhile the Webex app on your "
        "laptop or mobile rings for your calls. ",
    )


def call_forwarding(v: View) -> Step:
    done = v.latest("set_call_forwarding")
    if done is not None and done.ok:
        return _then_resolve(v, "Call forwarding changed", done.result)
    text = " ".join(v.users)
    stop = slots.stop_forwarding(v.last_user) or (slots.stop_forwarding(text) and not slots.forwarding_target(text))
    target = None if stop else v.slot(slots.forwarding_target)
    if not stop and target is None:
        return Say("Where should your calls go? Give me an extension (e.g. 4357) or a UK mobile number.")
    step = verification(v)
    if step is not None:
        return step
    return call("set_call_forwarding", target=target, mode=slots.forwarding_mode(text))


# -- tickets -----------------------------------------------------------------------------------------


def _ticket_or_list(v: View) -> str | Step:
    number = v.slot(slots.ticket_number)
    if number is not None:
        return str(number)
    listing = v.latest("my_open_tickets")
    if listing is None:
        return call("my_open_tickets")
    tickets = listing.data if isinstance(listing.data, list) else []
    if not tickets:
        return Say("You have no open tickets. If something is still broken, tell me what it is and I'll help.")
    lines = "\n".join(
        f"- {t['number']}: {t['short_description']} ({t['state']}, {t['assignment_group']})" for t in tickets
    )
    return Say(f"Your open tickets:\n{lines}\nWhich one do you mean?")


def ticket_status(v: View) -> Step:
    number = _ticket_or_list(v)
    if not isinstance(number, str):
        return number
    status = v.latest("ticket_status")
    if status is None:
        return call("ticket_status", number=number)
    data = _dict(status.data)
    updates = "; ".join(data.get("latest_updates", [])[-2:])
    return Say(
        f"{data.get('number')} ({data.get('short_description')}) is {str(data.get('state', '')).replace('_', ' ')}, "
        f"priority {data.get('priority')}, with {data.get('assignment_group')}; due by {data.get('due_at')}."
        + (f" Latest: {updates}" if updates else "")
    )


def _ticket_change(tool: str, arguments: Callable[[View, str], dict[str, Any]]) -> Playbook:
    def playbook(v: View) -> Step:
        number = _ticket_or_list(v)
        if not isinstance(number, str):
            return number
        done = v.latest(tool)
        if done is not None and done.ok:
            return Say(done.result)
        status = v.latest("ticket_status")
        if status is None or status.arguments.get("number") != number:
            return call("ticket_status", number=number)  # someone else's ticket is refused before any code
        if not status.ok:
            return Say(sentence(status.problem))
        return verification(v) or Call(tool, {"number": number, **arguments(v, number)})

    return playbook


def _note(v: View, number: str) -> dict[str, Any]:
    return {"note": v.request_text}


def _close_reason(v: View, number: str) -> dict[str, Any]:
    return {"reason": v.request_text[:300]}


def _escalation_summary(v: View, number: str) -> dict[str, Any]:
    return {"summary": f"The requester asks for escalation: {v.request_text[:500]}"}


# -- the rest: answers from the runbooks, or a person ------------------------------------------------


def fallback_playbook(v: View) -> Step:
    return kb_answer(v)


_QUESTION = re.compile(r"^\s*(what|what's|whats|how|can|could|is|are|do|does|where|when|which|who|why)\b|\?\s*$", re.I)


def human_needed(v: View) -> Step:
    """Requests Tier-1 cannot complete from chat: the runbook's guidance, then a person.

    A question about the topic ("what's the policy for ...?") is answered from the runbooks, and a
    person is offered rather than assigned.
    """
    if _QUESTION.search(v.request_text) and v.agent == "lookup":
        return kb_answer(v)
    found = v.latest("kb_search")
    if found is None:
        return kb_answer(v, follow_up=False)
    answer = kb_answer(v, follow_up=False)
    text = answer.text if isinstance(answer, Say) else ""
    return escalate_and_say(v, f"{text}\n\nThis needs a person, so I've passed it on.")


PLAYBOOKS: dict[str, Playbook] = {
    "account_unlock": account_unlock,
    "password_reset": password_reset,
    "mfa_reset": mfa_reset,
    "phishing_report": phishing_report,
    "suspicious_signin": human_needed,
    "lost_security_key": human_needed,
    "lost_device": lost_device,
    "mdm_enrolment": mdm_enrolment,
    "device_compliance": device_compliance,
    "broken_hardware": human_needed,
    "vpn_drops": vpn,
    "vpn_cannot_connect": vpn,
    "wifi": outage_then_kb,
    "network_share": outage_then_kb,
    "slow_internet": outage_then_kb,
    "mailbox_full": mailbox_full,
    "distribution_list": distribution_list,
    "shared_mailbox": shared_mailbox,
    "slow_computer": health_then_kb,
    "software_request": software_request,
    "disk_space": disk_space,
    "os_update": health_then_kb,
    "print_queue_stuck": print_queue_stuck,
    "printer_offline": printer_status_answer,
    "paper_jam": printer_status_answer,
    "toner": toner,
    "desk_phone_down": desk_phone_down,
    "voicemail_pin": voicemail_pin,
    "call_forwarding": call_forwarding,
    "new_extension": human_needed,
    "ticket_status": ticket_status,
    "ticket_update": _ticket_change("add_ticket_note", _note),
    "ticket_close": _ticket_change("close_ticket", _close_reason),
    "ticket_escalate": _ticket_change("escalate_ticket", _escalation_summary),
    "ticket_reopen": human_needed,
    "report_outage": report_outage,
    "equipment_request": human_needed,
    "onboarding": human_needed,
    "offboarding": human_needed,
}
