"""The helpdesk's tool policy: the runner's rules plus the ones only the helpdesk knows, for every engine.

* **Whose account.** A tool that changes or grants access runs only when the directory's account rules
  (:class:`~firstline.directory.rules.AccountRules`) allow it for the requester's account: a disabled
  account or a leaver's gets nothing but reporting and escalation; a service or privileged account gets
  no unlock, reset link, MFA reset or PIN reset from Tier-1. The refusal is final: the employee is told
  plainly, and the desk hands the request to the owning team with the reason.
* **Whose failures.** An unlock runs only when the recent sign-in log does not point at someone else:
  failures from the requester's own devices and places are a stale saved password (unlock, and say
  which device keeps trying); any failure from somewhere they have never signed in from is treated as a
  possible password spray (:func:`~firstline.directory.signins.assess`): the account stays locked and
  Security Operations gets it. A log that cannot be read refuses too: an unlock is not worth guessing.
* **Resolving a ticket.** ``mark_resolved`` runs only after a change Firstline made in this run succeeded,
  or when the requester said it works (``RunContext.confirmed`` holds ``resolve``).
* **Closing a ticket.** A ticket is closed only when the requester asked to close that very ticket, or
  confirmed it when asked (``RunContext.confirmed`` holds ``close_ticket:<number>``). A model that
  closes a ticket on its own initiative is refused, whatever its prompt says.

The same rules answer before any engine runs (:meth:`HelpdeskPolicy.account_refusal`), so a request
that can only end in a refusal is not first sent through an identity check.
"""

from __future__ import annotations

import logging

from firstline.agents import Decision, RunContext, Tool, ToolPolicy
from firstline.directory.models import Account, Person
from firstline.directory.rules import AccountRules, Refusal
from firstline.directory.signins import SignInReport, assess
from firstline.errors import DirectoryEntryNotFoundError, PersonNotFoundError
from firstline.helpdesk import slots
from firstline.helpdesk.tools.deps import HelpdeskDeps
from firstline.llm.messages import ToolCall

__all__ = ["INTENT_ACTIONS", "HelpdeskPolicy", "refusal_text", "yourself"]

log = logging.getLogger(__name__)

# The account action each request leads to, so a refusal can come before the identity check.
INTENT_ACTIONS = {
    "account_unlock": "unlock_account",
    "password_reset": "send_password_reset_link",
    "password_expired": "send_password_reset_link",
    "mfa_reset": "reset_mfa",
    "voicemail_pin": "reset_voicemail_pin",
}


def refusal_text(refusal: Refusal) -> str:
    """What the employee reads: the refusal, the reason, and who has it now."""
    return f"I can't do that here: {refusal.reason}."


# What the employee can still do themselves when Tier-1 may not act on their account (category, action): an
# administrator's voicemail PIN is reset through single sign-on like anyone's; a disabled account signs in nowhere.
_YOURSELF = {
    ("privileged", "reset_voicemail_pin"): "You can still set or reset the PIN yourself: sign in to "
    "https://settings.webex.com with your work account, then Calling > Voicemail > Reset voicemail PIN.",
}


def yourself(refusal: Refusal, action: str) -> str:
    """What the employee can do themselves after ``refusal`` of ``action`` ("" when nothing)."""
    return _YOURSELF.get((refusal.category, action), "")


class HelpdeskPolicy(ToolPolicy):
    def __init__(self, rules: AccountRules | None = None) -> None:
        self.rules = rules or AccountRules()

    def account_refusal(self, deps: HelpdeskDeps, requester: str | None, action: str) -> Refusal | None:
        """Why ``action`` must not run on ``requester``'s account (``None``: it may, or nobody is known yet)."""
        if not requester:
            return None
        try:
            person: Person = deps.directory.person(requester)
            account: Account | None = deps.directory.account(person.id)
        except PersonNotFoundError:
            return None
        except DirectoryEntryNotFoundError:
            account = None
        except Exception:  # the directory is down: the tool, which needs it too, fails and says so plainly
            log.warning("account rules: directory lookup failed for %s", requester, exc_info=True)
            return None
        refusal = self.rules.refusal(action, person, account)
        # a reset link for a locked account comes with an unlock (the new password is useless while it is
        # locked), so both wait for the sign-in check
        unlocks = action in ("unlock_account", "send_password_reset_link")
        if refusal is None and unlocks and account is not None and account.locked:
            return self.sign_in_refusal(deps, person)
        return refusal

    def sign_in_report(self, deps: HelpdeskDeps, person: Person) -> SignInReport:
        """What the requester's recent sign-in log says (raises when the log cannot be read)."""
        log_entries = deps.directory.sign_ins(person.id, days=self.rules.sign_in_days)
        try:
            devices = deps.directory.devices_of(person.id)
        except Exception:  # a backend without devices: judge by places alone
            log.info("sign-in check: no devices for %s", person.id, exc_info=True)
            devices = []
        return assess(log_entries, devices, self.rules.trusted_networks)

    def sign_in_refusal(self, deps: HelpdeskDeps, person: Person) -> Refusal | None:
        """A refusal when the failures that locked the account came from somewhere unfamiliar (see the docstring)."""
        try:
            report = self.sign_in_report(deps, person)
        except Exception as exc:
            log.warning("sign-in check: the log of %s could not be read", person.id, exc_info=True)
            return Refusal(
                "unreadable_log",
                "I couldn't read your recent sign-in log to check who was trying your password "
                f"({type(exc).__name__}), and an account is only unlocked after that check. Security Operations "
                "will check it and unlock it if it was you",
                "Security Operations",
            )
        if report.safe_to_unlock:
            return None
        countries = sorted({s.country for s in report.unfamiliar if s.country})
        where = f" ({', '.join(countries)})" if countries else ""
        return Refusal(
            "possible_attack",
            f"{_failures(len(report.unfamiliar))} that locked your account came from places you have "
            f"never signed in from{where}, which looks like someone else trying to guess your password. I'm leaving "
            "it locked to protect you, and Security Operations will check it and contact you. Until then, don't "
            "approve any sign-in prompt you didn't start yourself",
            "Security Operations",
            urgent=True,
        )

    def decide(self, tool: Tool, context: RunContext, approved: bool = False, call: ToolCall | None = None) -> Decision:
        # A code is texted only to an account that could then have something done: never to a disabled one.
        checked = tool.risk != "read" or tool.name == "send_verification_code"
        if checked and isinstance(context.deps, HelpdeskDeps):
            refusal = self.account_refusal(context.deps, context.requester, tool.name)
            if refusal is not None:
                return Decision(
                    "deny",
                    f"{refusal.reason}; do not retry or work around it: tell the user plainly, the request goes to "
                    f"{refusal.team}",
                    say=refusal_text(refusal),
                    escalate_to=refusal.team,
                )
        if tool.name == "mark_resolved" and not _may_resolve(context):
            return Decision(
                "deny",
                "nothing was fixed by a tool in this conversation and the requester has not said it works: ask "
                "them whether it is fixed; resolve only after they say so",
            )
        if tool.name == "close_ticket":
            number = slots.ticket_number(str((call.arguments if call else {}).get("number") or ""))
            if number is None or f"close_ticket:{number}" not in context.confirmed:
                return Decision(
                    "deny",
                    "the requester has not asked to close this ticket: ask them whether to close it (name the "
                    "ticket) and close it only after they say yes",
                )
        return super().decide(tool, context, approved, call)

    conditional = frozenset({"mark_resolved", "close_ticket", "verify_identity", "send_verification_code"})

    def offers(self, tool: Tool, context: RunContext) -> bool:
        """Resolving is offered once it could be allowed, closing once the requester asked to close a ticket, and
        checking a code only when the message carried one (the desk took it out into ``context.secrets``), sending
        one only when it did not."""
        if tool.name in ("verify_identity", "send_verification_code"):  # a typed code is checked, never re-sent
            return ("code" in context.secrets) == (tool.name == "verify_identity")
        if tool.name == "mark_resolved":
            return _may_resolve(context)
        if tool.name == "close_ticket":
            return any(c.startswith("close_ticket:") for c in context.confirmed)
        return True


def _failures(n: int) -> str:
    return "the failed sign-in" if n == 1 else f"the {n} failed sign-ins"


def _may_resolve(context: RunContext) -> bool:
    """A change Firstline made in this run succeeded, or the requester said it works."""
    changed = any(a["outcome"] == "ok" and a.get("risk", "read") != "read" for a in context.audit)
    return changed or "resolve" in context.confirmed
