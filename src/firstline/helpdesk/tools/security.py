"""Security specialist tools: identity verification, account unlock, password reset link, MFA reset.

Every tool acts on the *requester's own* account: none takes a username, so no message
("unlock the CEO's account") can point them at someone else. Firstline never asks for, sees
or sets a password: the reset tool sends a self-service link.
"""

from __future__ import annotations

from typing import Any

from firstline.agents import Result, RunContext, Tool, tool
from firstline.directory.models import Account, Device, Person
from firstline.directory.signins import SignInReport, assess
from firstline.errors import AccountDisabledError, ToolFailed
from firstline.helpdesk.tools.deps import deps_of, requester
from firstline.redaction import PLACEHOLDERS

__all__ = ["SECURITY_TOOLS"]


def _me(ctx: RunContext) -> tuple[Person, Account]:
    person = requester(ctx)
    return person, deps_of(ctx).directory.account(person.id)


def _masked(phone: str) -> str:
    digits = [c for c in phone if c.isdigit()]
    return f"your mobile ending {''.join(digits[-3:])}" if len(digits) >= 3 else "your registered e-mail"


@tool
def send_verification_code(ctx: RunContext) -> Result:
    """Send a six-digit code to the requester's registered phone to verify who they are.

    Use it before any change to an account. Never ask the user for their password.
    """
    person, _ = _me(ctx)
    channel = _masked(person.phone_mobile)
    deps_of(ctx).codes.issue(person.email, channel)
    return Result(f"A six-digit code was sent to {channel}.", {"channel": channel}, "Ask the user to type it here.")


@tool
def verify_identity(ctx: RunContext, code: str = "[code]") -> str:
    """Check the code the user typed; on success the requester is verified.

    Codes are taken out of the user's message before you see it and shown as [code]: pass "[code]".

    Args:
        code: "[code]" for the code the user just typed.
    """
    person, _ = _me(ctx)
    typed = ctx.secrets.get("code") if code.strip() in ("", PLACEHOLDERS["code"]) else code
    if not typed:
        raise ToolFailed(
            "I didn't see a code in your message.", guidance="ask the user to type the six digits they received"
        )
    if not deps_of(ctx).codes.check(person.email, typed):
        raise ToolFailed("That code isn't right.", guidance="ask the user to check it and type it again")
    ctx.verified = True
    return f"Identity verified: {person.name}."


@tool
def account_status(ctx: RunContext) -> dict[str, Any]:
    """Look up the requester's own sign-in account: locked, disabled, password expired, MFA methods."""
    _, account = _me(ctx)
    return {
        "username": account.username,
        "enabled": account.enabled,
        "locked": account.locked,
        "failed_attempts": account.failed_attempts,
        "password_expired": account.password_expired,
        "mfa_methods": [f.type for f in account.mfa_factors],
    }


@tool(risk="write")
def unlock_account(ctx: RunContext) -> str:
    """Unlock the requester's own account after a lockout from failed sign-ins (identity must be verified)."""
    _, account = _me(ctx)
    if not account.locked:
        return f"{account.username} is not locked; the problem is elsewhere (check the password or MFA)."
    directory = deps_of(ctx).directory
    try:
        sources = _sources(_report(ctx, account.person), directory.devices_of(account.person))
    except Exception:  # the policy already read the log before allowing this; the advice is a courtesy
        sources = ()
    try:
        directory.unlock_account(account.username)
    except AccountDisabledError as exc:
        raise ToolFailed(
            "Your account is disabled, not locked, so I can't unlock it here: Security Operations reviews it.",
            guidance="Tier-1 must not re-enable it; escalate to Security Operations",
        ) from exc
    if sources:
        return (
            f"{account.username} is unlocked. The failed sign-ins came from {_listed(sources)}, which still "
            f"{'has' if len(sources) == 1 else 'have'} your old password: update the password saved there (or sign "
            "out and in again), or it will lock you out again."
        )
    return f"{account.username} is unlocked. Sign in again now; if it locks again, a device may hold an old password."


_CLIENTS = {"exchange activesync": "mail app", "windows sign in": "Windows sign-in", "browser": "browser"}


def _sources(report: SignInReport, devices: list[Device]) -> tuple[str, ...]:
    """The report's failing devices and apps in the employee's words: "your iPhone 15 (NW-M-0119) mail app"."""
    models = {d.hostname.lower(): d.model for d in devices}
    found: dict[str, None] = {}
    for failure in report.failures:
        client = _CLIENTS.get(failure.client.lower(), failure.client)
        if failure.client.upper().startswith("SMB"):
            client = f"a saved file-share password {failure.client[3:].strip()}".strip()
        if failure.device:
            model = models.get(failure.device.lower())
            where = f"your {model} ({failure.device})" if model else f"your device {failure.device}"
            found[f"{where} {client}".strip() if client else where] = None
        elif client:
            found[client] = None
    return tuple(found)


def _listed(sources: tuple[str, ...]) -> str:
    shown = list(sources[:3])
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


@tool
def sign_in_history(ctx: RunContext) -> dict[str, Any]:
    """The requester's recent failed sign-ins: from their own devices (a stale password) or unfamiliar places."""
    return dict(_report(ctx, requester(ctx).id).as_dict())


def _report(ctx: RunContext, person_id: str) -> SignInReport:
    deps = deps_of(ctx)
    rules = deps.account_rules
    log = deps.directory.sign_ins(person_id, days=rules.sign_in_days)
    return assess(log, deps.directory.devices_of(person_id), rules.trusted_networks)


@tool(risk="write")
def send_password_reset_link(ctx: RunContext) -> str:
    """Send the requester a self-service password reset link and require a new password at next sign-in.

    Firstline never asks for, sees or sets a password.
    """
    person, account = _me(ctx)
    deps_of(ctx).directory.set_password_reset_required(account.username)
    return f"A reset link was sent to {person.email}; it is valid for 30 minutes."


@tool(risk="destructive")
def reset_mfa(ctx: RunContext) -> str:
    """Remove all of the requester's MFA methods so they can register a new phone (needs a human approval)."""
    _, account = _me(ctx)
    deps_of(ctx).directory.reset_mfa(account.username)
    return f"All MFA methods of {account.username} were removed; register again at the next sign-in."


@tool(risk="write")
def sign_out_everywhere(ctx: RunContext) -> str:
    """Sign the requester out of every session and app, when someone else may be using the account."""
    _, account = _me(ctx)
    deps_of(ctx).directory.revoke_sessions(account.username)
    return (
        f"{account.username} is signed out everywhere: every browser, phone and app has to sign in again, so "
        "anyone else using your account has been thrown out."
    )


SECURITY_TOOLS: tuple[Tool, ...] = (
    send_verification_code,
    verify_identity,
    account_status,
    sign_in_history,
    unlock_account,
    send_password_reset_link,
    reset_mfa,
    sign_out_everywhere,
)
