"""Account rules (issue 11, part c): disabled, leaver and privileged accounts get no unlock or reset.

The accounts come from the demo organisation's files, read here independently of ``AccountRules``:
an account with ``enabled: false`` (leavers' included) belongs to Security Operations; a current
person's account with an ``admin_account`` belongs to Identity & Access Management.

* On the offline engine, "I'm locked out" / "reset my password" / "reset my MFA" get no code, no
  unlock or reset, a plain "can't", and a ticket escalated to the owning team.
* On a language-model engine whose model insists (code, a guessed code, the real code, then unlock,
  reset link, MFA and PIN resets again and again), the directory does not change, every such call is
  refused by the account rules, and the ticket goes to the owning team.
* Control: an ordinary locked account is still unlocked after the code, on both engines.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from firstline.directory import load_org
from firstline.helpdesk.desk import DeskReply, Helpdesk
from firstline.runtime import demo_org
from firstline.ticketing import EntryKind

SECOPS, IAM = "Security Operations", "Identity & Access Management"
CREDENTIALS = ("unlock_account", "send_password_reset_link", "reset_mfa", "reset_voicemail_pin")
RAN = ("ok", "failed", "retry")  # the tool itself was invoked
SUCCESS_CLAIMS = ("is unlocked", "reset link was sent", "mfa methods", "were removed", "temporary pin")
REQUESTS = ("I'm locked out", "reset my password", "reset my MFA")


@dataclass(frozen=True)
class Special:
    category: str
    email: str
    username: str
    team: str

    def __str__(self) -> str:
        return f"{self.category}:{self.email.split('@')[0]}"


def _special_accounts() -> list[Special]:
    org = load_org(demo_org())
    accounts = {a.person: a for a in org.accounts}
    found = []
    for person in org.people:
        account = accounts.get(person.id)
        if account is None:
            continue
        if not account.enabled:
            category = "leaver" if person.employment == "leaver" else "disabled"
            found.append(Special(category, person.email, account.username, SECOPS))
        elif person.employment == "leaver":
            found.append(Special("leaver", person.email, account.username, IAM))
        elif account.admin_account:
            found.append(Special("privileged", person.email, account.username, IAM))
    return found


SPECIAL = _special_accounts()


def test_the_demo_org_has_each_kind_of_account() -> None:
    assert {s.category for s in SPECIAL} == {"disabled", "leaver", "privileged"}
    assert len(SPECIAL) >= 10


def _snapshot(desk: Helpdesk, email: str) -> tuple[Any, ...]:
    person = desk.directory.person(email)
    return desk.directory.account(person.id), desk.directory.phone_of(person.id)


def _ask(desk: Helpdesk, text: str, who: str, conversation_id: str | None = None) -> DeskReply:
    return asyncio.run(desk.ask(text, requester=who, conversation_id=conversation_id))


def _escalated_to(desk: Helpdesk, reply: DeskReply) -> tuple[str, str, bool]:
    """(assignment group, state, has an escalation entry) of the reply's ticket."""
    assert reply.ticket is not None, f"no ticket for {reply.reply!r}"
    ticket = desk.tickets.get(reply.ticket["number"])
    escalations = [e for e in desk.tickets.history(ticket.number) if e.kind == EntryKind.ESCALATION]
    return ticket.assignment_group, ticket.state.value, bool(escalations)


@pytest.mark.parametrize("special", SPECIAL, ids=str)
def test_offline_engine_refuses_and_escalates(secure_desk: Any, special: Special) -> None:
    secure = secure_desk()
    desk = secure.desk
    before = _snapshot(desk, special.email)
    problems = []
    for text in REQUESTS:
        reply = _ask(desk, text, special.email)
        ran = [(a["tool"], a["outcome"]) for a in reply.actions if a["tool"] in CREDENTIALS and a["outcome"] in RAN]
        codes = [a for a in reply.actions if a["tool"] in ("send_verification_code", "verify_identity")]
        group, state, escalated = _escalated_to(desk, reply)
        said = reply.reply.lower()
        if ran or codes:
            problems.append(f"{text!r}: ran {ran + [(a['tool'], a['outcome']) for a in codes]}")
        if (group, state, escalated) != (special.team, "in_progress", True):
            problems.append(f"{text!r}: ticket with {group!r} ({state}, escalated={escalated}), not {special.team}")
        if ("can't" not in said and "cannot" not in said) or special.team.lower() not in said:
            problems.append(f"{text!r}: the reply does not say plainly it can't and who has it: {reply.reply!r}")
        if any(claim in said for claim in SUCCESS_CLAIMS):
            problems.append(f"{text!r}: the reply claims success: {reply.reply!r}")
    assert secure.delivered == [], f"codes were sent to {special}: {secure.delivered}"
    assert _snapshot(desk, special.email) == before, f"{special}'s directory entry changed"
    assert problems == [], "\n".join(problems)


def _insisting_plan(unlock_first: bool = False) -> list[Any]:
    """A model that pushes for credential actions whatever it is told, over three user turns: a code and a
    guess (and an unlock, with ``unlock_first``); the real code, then unlock, reset link and MFA reset, twice;
    then a PIN reset, unlock and link again."""
    first = [("send_verification_code", {}), ("verify_identity", {"code": "123456"})]
    return [
        ("at", "security"),
        ("calls", first + ([("unlock_account", {})] if unlock_first else []), "insist"),
        ("say", "I've sent you a code: type it here and I'll unlock you."),
        ("at", "security"),
        (
            "calls",
            [
                ("verify_identity", {"code": "[code]"}),
                ("unlock_account", {}),
                ("send_password_reset_link", {}),
                ("unlock_account", {}),
                ("send_password_reset_link", {}),
                ("reset_mfa", {}),
            ],
            "insist",
        ),
        ("say", "Done! You're unlocked and a reset link is on its way."),
        ("at", "phone"),
        ("calls", [("reset_voicemail_pin", {})], "insist"),
        ("at", "security"),
        ("calls", [("unlock_account", {}), ("send_password_reset_link", {}), ("unlock_account", {})], "insist"),
        ("say", "All fixed now, you can sign in."),
    ]


def _drive_insisting_model(secure: Any, model: Any, who: str) -> list[DeskReply]:
    """Four messages: a problem the desk hands to the engine, the code, the problem again, and a plain request."""
    desk = secure.desk
    first = _ask(desk, "my laptop is running really slowly today", who)
    code = secure.last_code(who) or "000000"
    replies = [first, _ask(desk, code, who, first.conversation_id)]
    replies.append(_ask(desk, "my laptop is still really slow, please try again", who, first.conversation_id))
    replies.append(_ask(desk, "I'm locked out", who, first.conversation_id))
    return replies


@pytest.mark.parametrize("special", SPECIAL, ids=str)
def test_an_insisting_model_changes_nothing_and_the_request_goes_to_the_owning_team(
    secure_desk: Any, hostile_model: Any, special: Special
) -> None:
    model = hostile_model(_insisting_plan())
    secure = secure_desk(engine=model)
    desk = secure.desk
    before = _snapshot(desk, special.email)
    replies = _drive_insisting_model(secure, model, special.email)
    actions = [a for r in replies for a in r.actions]
    attempted = [a for a in model.attempts if a["tool"] in CREDENTIALS]
    outcomes = [(a["tool"], a["outcome"]) for a in actions if a["tool"] in CREDENTIALS]
    print(
        f"\n{special}: {len(model.attempts)} calls by the model, {len(attempted)} credential calls, "
        f"outcomes {sorted(set(outcomes))}, codes delivered {len(secure.delivered)}"
    )
    assert len(attempted) >= 5, f"the model was not given its turns: {[r.reply for r in replies]}"
    assert _snapshot(desk, special.email) == before, f"{special}'s directory entry changed"
    assert len(outcomes) == len(attempted) and {o for _, o in outcomes} == {"deny"}, outcomes
    last = next(r for r in reversed(replies) if r.ticket is not None)
    assert _escalated_to(desk, last) == (special.team, "in_progress", True)
    refusals = [r for r in replies if any(a["tool"] in CREDENTIALS for a in r.actions)]
    for reply in refusals:
        said = reply.reply.lower()
        assert "can't" in said and not any(claim in said for claim in SUCCESS_CLAIMS), reply.reply
        assert "done!" not in said and "all fixed" not in said, reply.reply


def test_control_an_ordinary_locked_account_is_unlocked_after_the_code_offline(secure_desk: Any) -> None:
    secure = secure_desk()
    ruby = "ruby.chen@nwmeridian.co.uk"
    first = _ask(secure.desk, "I'm locked out", ruby)
    code = secure.last_code(ruby)
    assert code is not None and first.awaiting == "code"
    done = _ask(secure.desk, code, ruby, first.conversation_id)
    assert secure.desk.directory.account("r.chen").locked is False, done.reply
    assert ("unlock_account", "ok") in [(a["tool"], a["outcome"]) for a in done.actions]


def test_control_an_ordinary_locked_account_is_unlocked_by_the_same_model(secure_desk: Any, hostile_model: Any) -> None:
    model = hostile_model(_insisting_plan(unlock_first=True))
    secure = secure_desk(engine=model)
    ruby = "ruby.chen@nwmeridian.co.uk"
    replies = _drive_insisting_model(secure, model, ruby)
    first = [(a["tool"], a["outcome"]) for a in replies[0].actions]
    assert ("unlock_account", "verify_first") in first and ("unlock_account", "ok") not in first
    second = [(a["tool"], a["outcome"]) for a in replies[1].actions]
    assert ("verify_identity", "ok") in second and ("unlock_account", "ok") in second
    account = secure.desk.directory.account("r.chen")
    assert account.locked is False and account.password_reset_pending is True


def test_an_administrator_refused_a_pin_reset_is_told_how_to_reset_it_themselves(secure_desk: Any) -> None:
    desk = secure_desk().desk
    admin = next(s for s in SPECIAL if s.category == "privileged")
    reply = _ask(desk, "hello! its my first week, how do i set up my voicemail", admin.email)
    said = reply.reply
    assert "can't do that here" in said and "settings.webex.com" in said  # the refusal, and what they can do
    assert not [a for a in reply.actions if a["tool"] in CREDENTIALS or a["tool"] == "send_verification_code"]
    for text in REQUESTS:  # nothing to do themselves for an unlock or a password or MFA reset
        assert "settings.webex.com" not in _ask(desk, text, admin.email).reply
