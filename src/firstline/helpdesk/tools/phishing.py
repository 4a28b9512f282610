"""Security specialist tool: report a phishing email to Security Operations.

Reporting is always allowed, verified or not (``risk="read"``): a report changes nobody's
account, and a quick report lets Security Operations purge the message from every mailbox.
"""

from __future__ import annotations

import hashlib

from firstline.agents import RunContext, Tool, tool
from firstline.errors import InputError, PersonNotFoundError, ToolFailed
from firstline.helpdesk.tools.deps import deps_of, open_or_update_ticket
from firstline.ticketing import Impact, NewTicket, Urgency

__all__ = ["PHISHING_TOOLS", "SECURITY_OPERATIONS"]

SECURITY_OPERATIONS = "Security Operations"


@tool
def report_phishing(
    ctx: RunContext,
    sender: str,
    subject: str,
    clicked_link: bool = False,
    entered_credentials: bool = False,
    opened_attachment: bool = False,
) -> str:
    """Report a suspicious or phishing email to Security Operations and get the user's next steps (always allowed).

    Args:
        sender: the sender's address as shown, e.g. "it-support@northwind-meridlan.com".
        subject: the email's subject line, e.g. "Your mailbox will be deactivated in 24 hours".
        clicked_link: true if the user clicked a link in it.
        entered_credentials: true if the user typed their password (or an MFA code) into the page it opened.
        opened_attachment: true if the user opened an attachment from it.
    """
    if not ctx.requester:
        raise ToolFailed(
            "I don't know who you are yet: what's your work e-mail address?",
            guidance="ask for the requester's work e-mail address first",
        )
    try:
        name = deps_of(ctx).directory.person(ctx.requester).name
    except PersonNotFoundError:
        name = f"{ctx.requester} (not found in the directory)"
    exposed = clicked_link or entered_credentials or opened_attachment
    actions = [
        what
        for what, done in (
            ("clicked a link", clicked_link),
            ("entered credentials", entered_credentials),
            ("opened an attachment", opened_attachment),
        )
        if done
    ]
    digest = hashlib.sha256(f"{sender.strip().lower()}\n{subject.strip().lower()}".encode()).hexdigest()[:12]
    severity = "exposed" if exposed else "report"
    try:
        ticket = open_or_update_ticket(
            ctx,
            NewTicket(
                requester=ctx.requester,
                short_description=f"Phishing report: {subject.strip() or '(no subject)'}"[:160],
                description="\n".join(
                    (
                        f"Reported by {name}.",
                        f"Sender: {sender.strip() or 'not given'}",
                        f"Subject: {subject.strip() or 'not given'}",
                        f"User {', '.join(actions)}." if actions else "User did not click, open or enter anything.",
                    )
                ),
                category="security",
                specialist="security",
                intent="phishing_report",
                impact=Impact.MEDIUM if exposed else Impact.LOW,
                urgency=Urgency.HIGH if exposed else Urgency.MEDIUM,
                assignment_group=SECURITY_OPERATIONS,
                correlation_id=f"{ctx.conversation_id or ctx.requester}:phishing:{digest}:{severity}",
                tags=["phishing"],
            ),
        )
    except InputError as exc:
        raise ToolFailed(str(exc)) from exc
    steps = [
        f"Reported to {SECURITY_OPERATIONS} as {ticket.number} (P{int(ticket.priority)}).",
        "Do not forward the email to anyone, including the Service Desk, and do not delete it.",
        "In Outlook select the message > Report > Report phishing (Outlook on the web always has the button); "
        "it moves the message to Security Operations for analysis.",
    ]
    if opened_attachment:
        steps.append(
            "If something ran when it opened, turn Wi-Fi off or unplug the network cable but leave the laptop on, "
            "and phone the Service Desk on 4357."
        )
    if entered_credentials:
        steps.append(
            "Change the password now at https://aka.ms/sspr from a trusted device (or verify your identity here and "
            f"I can send a password reset link). {SECURITY_OPERATIONS} will contact you and sign you out everywhere."
        )
    if exposed:
        steps.append("If you approved an MFA prompt you did not expect, say so now: it is the most important detail.")
    return " ".join(steps)


PHISHING_TOOLS: tuple[Tool, ...] = (report_phishing,)
