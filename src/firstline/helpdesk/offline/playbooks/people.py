"""Playbooks for the requester's own account, devices, mailbox and phone line (Security, Device, Email, Phone)."""

from __future__ import annotations

import re

from firstline.helpdesk import slots
from firstline.helpdesk.offline import (
    Say,
    Step,
    View,
    call,
    escalate_and_say,
    kb_answer,
    verification,
)
from firstline.helpdesk.offline.playbooks.common import as_dict, playbook, register, then_resolve, verified_change

# -- security ----------------------------------------------------------------------------------------

# A question about what to do if it ever happens, not a report that it has.
_HYPOTHETICAL = re.compile(
    r"\b(what (?:do|should|shall|can) i do if|what happens (?:if|when)|what if|if i (?:ever )?(?:get|am|'m)|"
    r"in case i|how (?:do|can|would) i (?:get )?(?:unlock|unlocked))\b",
    re.I,
)


@playbook
def account_unlock(v: View) -> Step:
    status = v.latest("account_status")
    if status is None:
        return call("account_status")
    account = as_dict(status.data)
    if not account.get("enabled", True):
        return escalate_and_say(
            v,
            "Your account is disabled, not locked. That's an administrative block the service desk can't lift "
            "from chat; Security Operations will review it.",
        )
    unlocked = v.latest("unlock_account")
    if unlocked is not None and unlocked.ok:
        return then_resolve(v, "Account unlocked after identity verification", unlocked.result)
    if not account.get("locked") and unlocked is None:
        if account.get("password_expired"):
            return password_reset(v)
        if _HYPOTHETICAL.search(v.request_text):  # "what do I do if I get locked out?": the runbook answers it
            return kb_answer(v)
        return Say(
            f"Your account {account.get('username', '')} isn't locked, so the sign-in problem is something else. "
            "If you've forgotten your password I can send a reset link; if the MFA prompt is the problem, tell me "
            "what it shows.",
            expects="detail",  # nothing was tried that could have fixed it: no "did that fix it?"
        )
    return verification(v) or call("unlock_account")


_DO_NOT_APPROVE = (
    "Don't approve that prompt, and deny any sign-in request you didn't start yourself. I'll sign you out of every "
    "session so that whoever tried is thrown out."
)
_UNASKED_CODE = (
    "Don't pass the code you didn't ask for to anyone: someone may be trying to sign in with your password. I'll "
    "sign you out of every session so that whoever tried is thrown out. The code I send next is a new one, for this "
    "chat only."
)
_A_CODE = re.compile(r"\b(?:codes?|texts?|sms)\b", re.I)


@playbook
def suspicious_signin(v: View) -> Step:
    """Someone else may be in the account: read the sign-in log, sign the requester out everywhere once they
    have proved who they are, and hand the rest to Security Operations with what the log shows."""
    history = v.latest("sign_in_history")
    if history is None:
        return call("sign_in_history")
    signed_out = v.latest("sign_out_everywhere")
    if signed_out is None or not signed_out.ok:
        why = _UNASKED_CODE if _A_CODE.search(" ".join(v.users)) else _DO_NOT_APPROVE  # a code came, not a prompt
        return verification(v, why=why) or call("sign_out_everywhere")
    summary = str(as_dict(history.data).get("summary") or "nothing unusual.")
    shows = summary[:1].lower() + summary[1:]
    return escalate_and_say(
        v,
        f"{signed_out.result} Your sign-in log shows: {shows} If you didn't sign in or approve a prompt yourself, "
        "ask me for a password reset link now, and don't approve any sign-in prompt you didn't start. Security "
        "Operations will look at the sign-ins.",
    )


_RESET_ADVICE = (
    "Choose a new password there; I never need to know it. Devices that still use the old one (phone mail, "
    "mapped drives) will ask for the new one."
)


@playbook
def password_reset(v: View) -> Step:
    """A reset link; a locked account is unlocked first (after the same sign-in check as any unlock), or the
    employee could not sign in with the new password either."""
    status = v.latest("account_status")
    if status is None:
        return call("account_status")
    unlocked = v.latest("unlock_account")
    if as_dict(status.data).get("locked") and unlocked is None:
        return verification(v) or call("unlock_account")
    sent = v.latest("send_password_reset_link")
    if sent is not None and sent.ok:
        first = "Your account was locked too, so I've unlocked it. " if unlocked is not None and unlocked.ok else ""
        return then_resolve(v, "Self-service reset link sent", f"{first}{sent.result} {_RESET_ADVICE}")
    return verification(v) or call("send_password_reset_link")


mfa_reset = register(
    "mfa_reset",
    verified_change(
        "reset_mfa",
        "MFA methods cleared after approval",
        "Sign in at a computer and follow the prompts to register your new phone.",
    ),
)
voicemail_pin = register("voicemail_pin", verified_change("reset_voicemail_pin", "Voicemail PIN reset"))


_CREDENTIALS = re.compile(
    r"\b(?:entered|typed|put|gave|used|filled in)\b.{0,20}\b(?:password|passcode|credentials|details|login|mfa|code)\b"
    r"|\b(?:logged|signed)\s+in\b|\bapproved\b.{0,20}\b(?:prompt|mfa|notification|request)\b",
    re.I,
)


_CLICKED = ("clicked", "opened the link", "opened the attachment", "followed")


@playbook
def phishing_report(v: View) -> Step:
    """Report the message once per conversation; what the employee adds later (the sender, "I clicked it", "I
    typed my password") goes on the same report, raising its priority when they were exposed."""
    report = v.latest("report_phishing")
    text = " ".join(v.users)
    entered = _CREDENTIALS.search(text) is not None
    clicked = entered or any(w in text.lower() for w in _CLICKED)
    senders = [e for e in slots.emails(text) if e != v.requester]
    if report is None:
        return call(
            "report_phishing",
            sender=senders[0] if senders else "unknown sender",
            subject=v.request_text[:150],
            clicked_link=clicked,
            entered_credentials=entered,
        )
    if not report.ok:
        return Say(report.problem)
    number = slots.ticket_number(report.result) or "your report"
    was = report.arguments
    if report.this_turn and sum(d.name == "report_phishing" and d.ok for d in v.done) > 1:
        if was.get("entered_credentials"):
            return Say(
                f"I've added that to {number}: Security Operations now know your password was typed into the page. "
                "Change it now at https://aka.ms/sspr from a trusted device (or verify your identity here and I can "
                "send a password reset link); they will contact you and sign you out everywhere.",
                expects="detail",
            )
        if was.get("clicked_link"):
            said, more = "that you clicked the link", "If you typed a password or approved a sign-in prompt after that"
        else:
            said, more = "who sent it", "If you clicked it, typed a password or approved a sign-in prompt"
        return Say(
            f"I've added that to {number}: Security Operations now know {said}. {more}, tell me now.", expects="detail"
        )
    if report.this_turn:
        # "Say so now": a detail the employee gives next belongs to this report, not to a new problem.
        exposed = bool(was.get("clicked_link") or was.get("entered_credentials"))
        more = "" if exposed else " If you clicked a link or opened an attachment in it, tell me now."
        return Say(f"Thanks for reporting it. {report.result}{more}", expects="detail")
    new_sender = senders[0] if senders and was.get("sender") == "unknown sender" else None
    if new_sender or (entered and not was.get("entered_credentials")) or (clicked and not was.get("clicked_link")):
        # the same report, now with the sender or with the employee exposed (a higher priority)
        raised = {"clicked_link": clicked or bool(was.get("clicked_link")),
                  "entered_credentials": entered or bool(was.get("entered_credentials"))}  # fmt: skip
        return call("report_phishing", **{**was, "sender": new_sender or was.get("sender"), **raised})
    if slots.asks(v.last_user):  # "thanks, what else should i do": what is left for them to do
        change = (
            " If you haven't yet, change your password now at https://aka.ms/sspr from a trusted device."
            if was.get("entered_credentials")
            else ""
        )
        return Say(
            f"Nothing more is needed from you right now: {number} is with Security Operations, who will contact "
            f"you.{change} Keep the email (don't forward or delete it), and deny any sign-in prompt you didn't "
            "start yourself. If anything else happened (a prompt you approved, a file that ran when you opened "
            "it), tell me now."
        )
    return Say(  # the conversation is on the ticket's transcript
        f"I've added that to {number}; Security Operations will contact you. If anything else happened (a prompt "
        "you approved, a file that ran when you opened it), tell me now."
    )


# -- device ------------------------------------------------------------------------------------------


def _device_hint(v: View) -> str | None:
    """The one device the requester means: named by hostname, or the only one of the kind they said."""
    devices = v.latest("my_devices")
    if devices is None or not isinstance(devices.data, list):
        return None
    mine = [d for d in devices.data if d.get("status") != "retired"]
    named = v.slot(slots.hostname)
    if named is not None:
        return next((str(d["hostname"]) for d in mine if str(d.get("hostname", "")).upper() == named), None)
    in_use = [d for d in mine if d.get("status") == "in_use"]
    kind = v.slot(slots.device_kind)
    if kind:
        in_use = [d for d in in_use if d.get("kind") == kind]
    return str(in_use[0]["hostname"]) if len(in_use) == 1 else None


@playbook
def lost_device(v: View) -> Step:
    if v.latest("my_devices") is None:
        return call("my_devices")
    device = _device_hint(v)
    if device is None:
        listing = v.latest("my_devices")
        kind = v.slot(slots.device_kind)
        shown = [
            d
            for d in (listing.data if listing and isinstance(listing.data, list) else [])
            if d.get("status") != "retired" and (kind is None or d.get("kind") == kind)
        ] or [d for d in (listing.data if listing and isinstance(listing.data, list) else [])]
        names = ", ".join(f"{d['hostname']} ({d['model']})" for d in shown)
        if slots.hostname(v.last_user) and names:
            return Say(f"That isn't one of your devices. Which one is it? Yours are: {names}.", expects="choice")
        if kind and not any(d.get("kind") == kind for d in shown):
            if len(v.users) > 1 and slots.device_kind(v.last_user):
                # asked which device, they said what it is, and no such device is on record: a person takes it,
                # as the question promised (derived from the listing, not from the words of the question)
                return escalate_and_say(
                    v, "Thanks. That device isn't on record here, so a person needs to take it from here."
                )
            return Say(
                f"I can't find a {kind} registered to you; I can see {names or 'no devices'}. Is it one of those? If "
                "it's a company device that isn't on record, tell me its model and I'll pass it to a person.",
                expects="choice",
            )
        return Say(
            f"Which device is it? Yours are: {names or 'none on record'}. The hostname is on the sticker, or tell "
            "me the model.",
            expects="choice",
        )
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


@playbook
def mdm_enrolment(v: View) -> Step:
    steps = v.latest("mdm_enrol_steps")
    platform = v.slot(slots.platform)
    if steps is None:
        if platform is None:
            return Say(
                "Which kind of device are you enrolling: Windows laptop, Mac, iPhone/iPad or Android?", expects="choice"
            )
        return call("mdm_enrol_steps", platform=platform)
    data = as_dict(steps.data)
    lines = "\n".join(data.get("steps", []))
    stuck = " ".join(data.get("if_it_gets_stuck", [])[:1])
    return Say(f"Here's how to enrol it in Intune:\n{lines}\n{stuck}")


@playbook
def device_compliance(v: View) -> Step:
    result = v.latest("compliance_check")
    if result is None:
        return call("compliance_check")
    devices = result.data if isinstance(result.data, list) else []
    problems = [d for d in devices if d.get("issues")]
    if not problems:
        return Say(
            "All your devices show as compliant in Intune right now. If an app still says the device isn't "
            "compliant, open Company Portal and tap 'Check status', then try again in 15 minutes."
        )
    lines = [f"{d['hostname']}: " + "; ".join(f"{i['issue']} -> {i['fix']}" for i in d["issues"]) for d in problems]
    return Say("Here's what Intune flags and how to fix it:\n" + "\n".join(lines) + "")


# -- email -------------------------------------------------------------------------------------------


@playbook
def mailbox_full(v: View) -> Step:
    quota = v.latest("mailbox_quota")
    if quota is None:
        return call("mailbox_quota")
    data = as_dict(quota.data)
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
        f"\n{tips}".strip()
    )


@playbook
def distribution_list(v: View) -> Step:
    address = next(iter(slots.emails(" ".join(v.users))), None)
    if address is None:
        return Say("What's the list's e-mail address (for example leeds-social@nwmeridian.co.uk)?", expects="detail")
    info = v.latest("distribution_list_info")
    if info is None:
        return call("distribution_list_info", address=address)
    data = as_dict(info.data)
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
        return then_resolve(v, f"Added to {address}", joined.result)
    step = verification(v)
    if step is not None:
        return step
    if data.get("open_join"):
        return call("join_distribution_list", address=address)
    return call("add_to_distribution_list", address=address)


@playbook
def shared_mailbox(v: View) -> Step:
    address = next(iter(slots.emails(" ".join(v.users))), None)
    if address is None:
        return kb_answer(v)
    info = v.latest("shared_mailbox_access_info")
    if info is None:
        return call("shared_mailbox_access_info", address=address)
    data = as_dict(info.data)
    if data.get("requester_has_full_access"):
        return Say(
            f"You already have access to {data.get('name')}. It appears in Outlook within an hour; restart Outlook "
            f"if it doesn't."
        )
    return escalate_and_say(
        v, f"Access to {data.get('name')} needs an owner's approval. {data.get('how_to_get_access', '')}"
    )


# -- phone -------------------------------------------------------------------------------------------


@playbook
def desk_phone_down(v: View) -> Step:
    status = v.latest("extension_status")
    if status is None:
        return call("extension_status")
    data = as_dict(status.data)
    if data.get("status") == "registered":
        return kb_answer(v, prefix=f"Extension {data.get('extension')} is registered, so the line itself is fine. ")
    return kb_answer(
        v,
        prefix=f"Extension {data.get('extension')} shows as {data.get('status')}. Meanwhile the Webex app on your "
        "laptop or mobile rings for your calls. ",
    )


@playbook
def call_forwarding(v: View) -> Step:
    done = v.latest("set_call_forwarding")
    if done is not None and done.ok:
        return then_resolve(v, "Call forwarding changed", done.result)
    text = " ".join(v.users)
    stop = slots.stop_forwarding(v.last_user) or (slots.stop_forwarding(text) and not slots.forwarding_target(text))
    target = None if stop else v.slot(slots.forwarding_target)
    if not stop and target is None:
        return Say(
            "Where should your calls go? Give me an extension (e.g. 4357) or a UK mobile number.", expects="detail"
        )
    step = verification(v)
    if step is not None:
        return step
    return call("set_call_forwarding", target=target, mode=slots.forwarding_mode(text))
