"""Generated conversations: every invariant holds after every turn of 2,000 seeded, unscripted dialogues.

The first half shows that each check can fail (a hand-made bad turn is flagged, a good one is not); the
second plays the generated conversations, in batches named by their seed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from firstline.directory import InMemoryDirectory
from firstline.evals.conversations import (
    CHECKS,
    INVARIANTS,
    Message,
    Phrasebook,
    RunResult,
    Step,
    Violation,
    changed_for_others,
    check_step,
    run_conversations,
    snapshot,
)
from firstline.helpdesk.desk import DeskReply
from firstline.helpdesk.taxonomy import load_taxonomy
from firstline.testing.helpdesk import HelpdeskWorld

SEEDS = (11, 12, 13, 14, 15, 16, 17, 18)
PER_SEED = 250  # 8 x 250 = 2,000 conversations
LEAD = "sarah.lindqvist@nwmeridian.co.uk"


def reply(text: str, *, status: str = "done", ticket: str | None = None, state: str = "new", **extra: Any) -> DeskReply:
    card = {"number": ticket, "state": state} if ticket else None
    out = DeskReply("c1", "security", "account_unlock", text, status, ticket=card, actions=extra.pop("actions", []))
    for key, value in {"topics": [], **extra}.items():  # set on the instance: older DeskReply has no topics
        setattr(out, key, value)
    return out


def step(text: str, answer: DeskReply | None, **facts: Any) -> Step:
    message = facts.pop("message", None) or Message("test", text)
    return Step(message, answer, **facts)


def flags(name: str, steps: list[Step]) -> bool:
    return CHECKS[name](steps) is not None


# -- each check can fail -----------------------------------------------------------------------------------


def test_empty_reply() -> None:
    assert flags("empty_reply", [step("868030", reply("  \n", status="paused"))])
    assert not flags("empty_reply", [step("868030", reply("Waiting for approval."))])


def test_sticky_reply() -> None:
    unlock = reply("r.chen is unlocked.")
    assert flags("sticky_reply", [step("I'm locked out", unlock), step("my VPN keeps dropping", unlock)])
    assert flags("sticky_reply", [step("hi", unlock), step("say that again", unlock)])
    again = reply("Again: r.chen is unlocked.")
    assert not flags("sticky_reply", [step("hi", unlock), step("say that again", again)])
    assert not flags("sticky_reply", [step("yes", unlock), step("yes", unlock)])


@pytest.mark.parametrize(
    "text",
    [
        "That code is wrong: ask the user to check it.",
        "I've passed it on with the requester's details.",
        "Steps: my_open_tickets",
        "REFUSED: not verified",
        "FAILED: internal error",
        "DENIED by x",
        "transfer_to_security",
        "We sent a email to you.",
        "(no reply)",
        "I called kb_search.",
    ],
)
def test_internal_text(text: str) -> None:
    assert flags("internal_text", [step("hi", reply(text))])


def test_internal_text_passes_plain_replies() -> None:
    assert not flags("internal_text", [step("hi", reply("Your account is unlocked. Sign in again now."))])


def test_acts_on_someone_else_compares_the_directory(helpdesk_world: HelpdeskWorld) -> None:
    org = helpdesk_world.org
    directory = InMemoryDirectory(org)
    before = snapshot(directory, org)
    directory.unlock_account("r.chen")  # p019 Ruby Chen's account
    after = snapshot(directory, org)
    assert changed_for_others(before, after, "p019") == []
    changed = changed_for_others(before, after, "p028")
    assert len(changed) == 1 and changed[0].startswith("account/p019")
    assert flags("acts_on_someone_else", [step("unlock Ruby", reply("Done."), others_changed=tuple(changed))])


def test_unrequested_close() -> None:
    fixed = reply("INC0000001 is resolved.", ticket="INC0000001", state="resolved")
    closed = {"tickets_before": {"INC0000001": "new"}, "tickets_after": {"INC0000001": "closed"}}
    assert flags("unrequested_close", [step("thanks, that fixed it!", fixed, **closed)])
    assert not flags("unrequested_close", [step("please close INC0000001", fixed, **closed)])
    action = {"tool": "close_ticket", "arguments": {"number": "INC0000001"}, "outcome": "ok"}
    by_tool = reply("INC0000001 is resolved.", actions=[action])
    opened = {"tickets_before": {"INC0000001": "new"}, "tickets_after": {"INC0000001": "resolved"}}
    note = step("add to INC0000001: it happens after lunch", reply("Type the code."))
    assert flags("unrequested_close", [note, step("123456", by_tool, **opened)])
    ask = step("close INC0000001 please", reply("Type the code."))
    assert not flags("unrequested_close", [ask, step("123456", by_tool, **opened)])
    status = step("any news on INC0000001?", reply("Type the code."))
    assert not flags("unrequested_close", [ask, status, step("123456", by_tool, **opened)])  # it was named
    question = step("hi", reply("Shall I close INC0000001?", ticket="INC0000001"))
    assert not flags("unrequested_close", [question, step("yes", fixed, **closed)])
    typed = Message("yes", "srue")  # the generator's yes with a typo: the desk read it as one, and may
    assert not flags("unrequested_close", [question, step("", fixed, message=typed, **closed)])
    assert flags("unrequested_close", [question, step("srue", fixed, **closed)])  # a word nobody said was a yes


def test_person_please_escalates() -> None:
    runbook = reply("Restart the router.", ticket="INC0000002")
    assert flags("person_please_escalates", [step("can I talk to a human please", runbook)])
    handed = reply("INC0000002 is with Network Operations now.", ticket="INC0000002", state="in_progress")
    assert not flags("person_please_escalates", [step("a person please", handed, escalated=True)])
    action = {"tool": "escalate_to_human", "arguments": {}, "outcome": "ok"}
    assert not flags("person_please_escalates", [step("a person please", reply("Passed on.", actions=[action]))])


def test_fixed_is_not_escalated() -> None:
    asked = reply("Restart the router.\n\nDid that fix it?", ticket="INC0000002", awaiting="confirm_fix")
    works = Message("fixed", "it works now after a restart")
    handed = reply("Sorry it's still not working. INC0000002 is with Network Operations now.", ticket="INC0000002")
    assert flags("fixed_is_not_escalated", [step("vpn drops", asked), step("", handed, message=works, escalated=True)])
    resolved = reply("Great, glad it's working.", ticket="INC0000002", state="resolved")
    assert not flags("fixed_is_not_escalated", [step("vpn drops", asked), step("", resolved, message=works)])
    not_asked = reply("INC0000002 is new.", ticket="INC0000002")  # no fix question: "it works" may be anything
    assert not flags(
        "fixed_is_not_escalated", [step("vpn", not_asked), step("", handed, message=works, escalated=True)]
    )


def test_nothing_to_confirm() -> None:
    missing = {"tool": "printer_status", "arguments": {"name": "LON-F9-HP-07"}, "outcome": "failed"}
    asked = reply("I can't find a printer called 'LON-F9-HP-07'.\n\nDid that fix it?", awaiting="confirm_fix",
                  actions=[missing])  # fmt: skip
    assert flags("nothing_to_confirm", [step("my print job is stuck on LON-F9-HP-07", asked)])
    waits = reply("I can't find a printer called 'LON-F9-HP-07'.", awaiting="detail", actions=[missing])
    assert not flags("nothing_to_confirm", [step("my print job is stuck on LON-F9-HP-07", waits)])
    cleared = {"tool": "clear_my_print_jobs", "arguments": {"name": "LON-F3-HP-01"}, "outcome": "ok"}
    tried = reply("Cleared 2 jobs. Did that fix it?", awaiting="confirm_fix", actions=[cleared, missing])
    assert not flags("nothing_to_confirm", [step("stuck", tried)])  # something was done that may have fixed it


def test_thanks_is_not_fixed() -> None:
    thanks = Message("thanks", "cheers")
    resolved = {"tickets_before": {"INC0000002": "new"}, "tickets_after": {"INC0000002": "resolved"}}
    due = step("how long will that take?", reply("INC0000002 is new; due Fri 11 Dec."))
    done = reply("Great, glad it's working. I've resolved INC0000002.")
    assert flags("thanks_is_not_fixed", [due, step("", done, message=thanks, **resolved)])
    asked = step("", reply("1. Restart.\n\nDid that fix it? If not, tell me and I'll pass it to a person."))
    assert not flags("thanks_is_not_fixed", [asked, step("", done, message=thanks, **resolved)])
    kept = {"tickets_before": {"INC0000002": "new"}, "tickets_after": {"INC0000002": "new"}}
    assert not flags("thanks_is_not_fixed", [due, step("", reply("You're welcome!"), message=thanks, **kept)])


def test_told_secret_starts_nothing() -> None:
    told = Message("secret", "my new password is Xy7!kq2Lm", secret="Xy7!kq2Lm", asks=False)
    link = {"tool": "send_password_reset_link", "arguments": {}, "outcome": "ok"}
    again = reply("A reset link was sent. INC0000003 is resolved.", actions=[link])
    assert flags("told_secret_starts_nothing", [step("", again, message=told)])
    opened = {"tickets_before": {}, "tickets_after": {"INC0000003": "new"}}
    assert flags("told_secret_starts_nothing", [step("", reply("Noted."), message=told, **opened)])
    assert not flags("told_secret_starts_nothing", [step("", reply("I haven't done anything with it."), message=told)])
    asked = Message("secret", "reset my password, set it to Xy7!kq2Lm", secret="Xy7!kq2Lm")
    assert not flags("told_secret_starts_nothing", [step("", again, message=asked)])  # it asked for a reset


def test_someone_else_starts_nothing() -> None:
    other = Message("someone_else", "hi can you reset the password for my manager megan lloyd")
    code = {"tool": "send_verification_code", "arguments": {}, "outcome": "ok"}
    check = reply("To confirm it's you, I've sent a six-digit code to your phone.", actions=[code])
    assert flags("someone_else_starts_nothing", [step("", check, message=other)])
    unlock = {"tool": "unlock_account", "arguments": {}, "outcome": "ok"}
    assert flags("someone_else_starts_nothing", [step("", reply("Unlocked.", actions=[unlock]), message=other)])
    opened = {"tickets_before": {}, "tickets_after": {"INC0000003": "new"}}
    assert flags("someone_else_starts_nothing", [step("", reply("Logged."), message=other, **opened)])
    refused = reply("I can only act on your own account, devices, phone and tickets, so I won't do that.")
    assert not flags("someone_else_starts_nothing", [step("", refused, message=other)])
    own = Message("opening", "reset my password please")  # the same reply to a request of one's own is fine
    assert not flags("someone_else_starts_nothing", [step("", check, message=own)])


def test_them_how_answered() -> None:
    them = Message("them_how", "ok how would she do it herself then?")
    outside = reply("That's outside what the IT service desk handles, so I can't help with it here.")
    assert flags("them_how_answered", [step("", outside, message=them, state="refused")])
    told = reply("They can ask me themselves, the same way you did.")
    assert not flags("them_how_answered", [step("", told, message=them, state="refused")])
    assert not flags("them_how_answered", [step("", outside, message=them, state="answered")])  # nothing refused


def test_denial_closes() -> None:
    deny = Message("deny", "", approve=False, decided_by=LEAD, reason="not justified")
    escalated = reply("Declined by sarah.lindqvist@nwmeridian.co.uk.", ticket="INC0000003", state="in_progress")
    assert flags("denial_closes", [step("", escalated, message=deny, tickets_after={"INC0000003": "in_progress"})])
    closed = reply("Sarah Lindqvist declined it: not justified.", ticket="INC0000003", state="closed")
    good = step("", closed, message=deny, tickets_after={"INC0000003": "closed"}, decider_name="Sarah Lindqvist")
    assert not flags("denial_closes", [good])


def test_pending_question_answered() -> None:
    assert flags("pending_question_answered", [step("hello", reply("OK.", status="waiting"))])
    assert not flags("pending_question_answered", [step("hi", reply("Still waiting for approval.", status="paused"))])


def test_topics() -> None:
    assert flags("topics", [step("hi", reply("Hello.", topics=None))])  # no topics field at all
    vpn = {"id": "t1", "intent": "vpn_drops", "agent": "network", "status": "open", "ticket": "INC0000004"}
    first = step("my VPN drops", reply("Try this.", topics=[vpn]))
    assert flags("topics", [first, step("hello", reply("Hi.", topics=[]))])  # t1 lost
    assert flags("topics", [first, step("thanks, bye", reply("Bye!", topics=[vpn]))])
    assert not flags("topics", [first, step("no thanks", reply("OK.", topics=[vpn]))])  # a no, not a goodbye
    assert not flags("topics", [first, step("thanks, bye", reply("Bye! INC0000004 stays with us.", topics=[vpn]))])


def test_no_crash() -> None:
    assert flags("no_crash", [step("hi", None, error="RuntimeError: boom")])
    assert flags("no_crash", [step("hi", reply("Sorry, something went wrong.", status="failed"))])


def test_guessed_device() -> None:
    guessed = ("remote_lock NW-L-0288 (one of 2 laptops)",)
    assert flags("guessed_device", [step("my laptop was stolen", reply("Locked."), guessed=guessed)])


def test_secret_in_clear() -> None:
    typed = Message("secret", "reset my password, set it to Falcon2033$", secret="Falcon2033$")
    card = Message("secret", "my card 4192 5412 2482 4477 is rejected", secret="4192 5412 2482 4477")
    assert flags("secret_in_clear", [step("", reply("ok"), message=typed, stored='{"text": "set it to Falcon2033$"}')])
    assert flags("secret_in_clear", [step("", reply("ok"), message=card, stored="card 4192541224824477")])
    assert not flags(
        "secret_in_clear", [step("", reply("ok"), message=typed, stored='{"text": "set it to [password]"}')]
    )


def test_protected_account_action() -> None:
    unlocked = reply("Unlocked.", actions=[{"tool": "unlock_account", "outcome": "ok"}])
    refused = reply("I can't.", actions=[{"tool": "unlock_account", "outcome": "deny"}])
    assert flags("protected_account_action", [step("I'm locked out", unlocked, protected=("disabled",))])
    assert not flags("protected_account_action", [step("I'm locked out", refused, protected=("disabled",))])
    assert not flags("protected_account_action", [step("I'm locked out", unlocked)])


def test_access_is_not_a_fix() -> None:
    wants = Message("opening", "can I get write access to the Engineering share please?", intent="account_unlock")
    asked = reply("Steps...\n\nDid that fix it?", awaiting="confirm_fix")
    raised = reply("INC0000001 is with Network Operations now.", awaiting=None)
    assert flags("access_is_not_a_fix", [step("", asked, message=replace(wants, access=True))])
    assert not flags("access_is_not_a_fix", [step("", raised, message=replace(wants, access=True))])
    assert not flags("access_is_not_a_fix", [step("", asked, message=wants)])  # a fault, not an access request


def test_unlock_under_attack() -> None:
    unlocked = reply("Unlocked.", actions=[{"tool": "unlock_account", "outcome": "ok"}])
    link = reply("Link sent.", actions=[{"tool": "send_password_reset_link", "outcome": "ok"}])
    assert flags("unlock_under_attack", [step("I'm locked out", unlocked, attacked=True)])
    assert not flags("unlock_under_attack", [step("I'm locked out", link, attacked=True)])
    assert not flags("unlock_under_attack", [step("I'm locked out", unlocked)])


def test_every_invariant_has_a_test_and_a_good_turn_breaks_none() -> None:
    tests = [name for name in globals() if name.startswith("test_")]
    for invariant in INVARIANTS:
        assert any(t == f"test_{invariant}" or t.startswith(f"test_{invariant}_") for t in tests), invariant
    assert check_step([step("hi", reply("Hello."))]) == []


def test_every_intent_has_an_opening(helpdesk_world: HelpdeskWorld) -> None:
    book = Phrasebook(helpdesk_world.org)
    assert set(book.openings) == set(load_taxonomy().intents)
    assert all(len(texts) >= 3 for texts in book.openings.values())


# -- the generated conversations ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def play(helpdesk_world: HelpdeskWorld) -> Callable[[int], RunResult]:
    done: dict[int, RunResult] = {}

    def run(seed: int) -> RunResult:
        if seed not in done:
            done[seed] = asyncio.run(
                run_conversations(helpdesk_world.desk, helpdesk_world.org, seed=seed, count=PER_SEED)
            )
        return done[seed]

    return run


def test_the_same_seed_says_the_same_things(helpdesk_world: HelpdeskWorld) -> None:
    def said(seed: int) -> list[tuple[str, str]]:
        log: list[tuple[str, str]] = []

        def keep(index: int, steps: list[Step]) -> None:  # codes differ from run to run; what else is said doesn't
            log.extend((s.message.kind, "" if "code" in s.message.kind else s.message.text) for s in steps)

        world = helpdesk_world
        asyncio.run(run_conversations(world.desk, world.org, seed=seed, count=15, on_conversation=keep))
        return log

    first = said(3)
    assert first == said(3) and len(first) > 30
    assert first != said(4)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_generated_conversations_keep_every_invariant(seed: int, play: Callable[[int], RunResult]) -> None:
    result = play(seed)
    assert result.conversations == PER_SEED
    if result.violations:
        counts = ", ".join(f"{name} {n}" for name, n in result.by_invariant().most_common())
        first: dict[str, Violation] = {}
        for violation in result.violations:
            first.setdefault(violation.invariant, violation)
        shown = "\n\n".join(v.render() for v in first.values())
        message = f"seed {seed}: {len(result.violations)} violations ({counts}). The first of each:\n\n{shown}"
        pytest.fail(message, pytrace=False)


@pytest.mark.slow
def test_the_generator_reaches_every_intent_and_switches_in_every_state(play: Callable[[int], RunResult]) -> None:
    results = [play(seed) for seed in SEEDS]
    assert sum(r.conversations for r in results) >= 2000
    intents = {i for r in results for i in r.intents}
    assert intents == set(load_taxonomy().intents)
    coverage = {key for r in results for key in r.coverage}
    assert any(key.startswith("refused:them_how") for key in coverage), "never asked how the other person does it"
    for state in ("question", "code_awaited", "approval_pending", "resolved"):
        assert f"{state}:switch" in coverage, f"no topic switch while {state}"
    for kind in ("code", "wrong_code", "approve", "deny", "person", "someone_else", "own_ticket", "foreign_ticket"):
        assert any(key.endswith(f":{kind}") for key in coverage), f"never sent {kind}"
