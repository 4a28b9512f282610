"""The sign-in check before an unlock, in the policy both engines share, and the vendor ids on the ticket."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from firstline.agents import Agent, RunContext, Runner
from firstline.directory import InMemoryDirectory, SignIn
from firstline.directory.rules import AccountRules
from firstline.directory.signins import assess, moved_sign_ins
from firstline.errors import BackendUnavailableError
from firstline.helpdesk.policy import HelpdeskPolicy
from firstline.helpdesk.tools import SECURITY_TOOLS, HelpdeskDeps, OneTimeCodes
from firstline.helpdesk.turn import tool_note
from firstline.llm.testing import ScriptedModel, call, say
from firstline.testing.directory import demo_org
from firstline.ticketing import InMemoryTicketing
from firstline.vendors.receipts import Receipt, collect_receipts, record

AGENT = Agent("security", "Accounts, passwords, MFA.", tools=SECURITY_TOOLS)
DAVID, RUBY = "david.ogunleye@nwmeridian.co.uk", "ruby.chen@nwmeridian.co.uk"


def deps_with(directory: InMemoryDirectory, rules: AccountRules | None = None) -> HelpdeskDeps:
    return HelpdeskDeps(directory, InMemoryTicketing(), OneTimeCodes(), account_rules=rules or AccountRules())


def verified_unlock(deps: HelpdeskDeps, requester: str, rules: AccountRules | None = None) -> RunContext:
    """An LLM-engine run in which the model, with the requester verified, goes straight for the unlock."""
    runner = Runner({"security": AGENT}, ScriptedModel([call("unlock_account"), say("Done.")]), HelpdeskPolicy(rules))
    context = RunContext(requester, "conv-1", deps=deps)
    context.verified = True
    asyncio.run(runner.run("security", "unlock me please", context))
    return context


def test_a_spray_keeps_the_account_locked_whatever_the_engine_asks() -> None:
    directory = InMemoryDirectory(demo_org())
    context = verified_unlock(deps_with(directory), DAVID)
    assert directory.account("d.ogunleye").locked
    (refused,) = [a for a in context.audit if a["tool"] == "unlock_account"]
    assert refused["outcome"] == "deny" and "guess your password" in refused["result"]
    refusal = HelpdeskPolicy().account_refusal(deps_with(directory), DAVID, "unlock_account")
    assert refusal is not None and refusal.team == "Security Operations" and refusal.category == "possible_attack"
    assert "(BR, CN, NG, RU, VN)" in refusal.reason


def test_a_stale_password_on_the_own_phone_is_unlocked_and_the_phone_named() -> None:
    directory = InMemoryDirectory(demo_org())
    assert HelpdeskPolicy().account_refusal(deps_with(directory), RUBY, "unlock_account") is None
    context = verified_unlock(deps_with(directory), RUBY)
    assert not directory.account("r.chen").locked
    (done,) = [a for a in context.audit if a["tool"] == "unlock_account"]
    assert done["outcome"] == "ok" and "your iPhone 15 (NW-M-0119) mail app" in done["result"]


def test_the_office_network_makes_a_failure_familiar() -> None:
    """Failures from an address the owner never used, inside a trusted range, count as the owner's own."""
    org = demo_org()
    now = datetime.now(UTC)
    visitor = SignIn("p003", now - timedelta(minutes=5), False, "198.51.100.99", "GB", "London", client="Browser")
    directory = InMemoryDirectory(replace(org, sign_ins=(*org.sign_ins, visitor)), lockout_threshold=1)
    directory.record_failed_login("h.marsh")  # any locked account: Tomasz's own failures are checked below
    deps = deps_with(directory)
    tomasz = directory.person("t.nowicki")
    report = HelpdeskPolicy().sign_in_report(deps, tomasz)
    assert report.verdict == "unfamiliar" and "198.51.100.99 (London, GB)" in report.places()
    trusted = AccountRules(trusted_networks=("198.51.100.0/24",))
    spray_only = [s for s in report.unfamiliar if s.ip != "198.51.100.99"]
    assert len(HelpdeskPolicy(trusted).sign_in_report(deps, tomasz).unfamiliar) == len(spray_only)


def test_a_log_that_cannot_be_read_refuses_the_unlock() -> None:
    class Down(InMemoryDirectory):
        def sign_ins(self, person: object, days: int = 14) -> list[SignIn]:
            raise BackendUnavailableError("Okta", "https://example.okta.com", "directory.okta.org_url", "timeout")

    directory = Down(demo_org())
    refusal = HelpdeskPolicy().account_refusal(deps_with(directory), RUBY, "unlock_account")
    assert refusal is not None and refusal.category == "unreadable_log" and "BackendUnavailableError" in refusal.reason
    verified_unlock(deps_with(directory), RUBY)
    assert directory.account("r.chen").locked
    # a reset link for a locked account comes with an unlock, so it waits for the log too; an unlocked one does not
    assert HelpdeskPolicy().account_refusal(deps_with(directory), RUBY, "send_password_reset_link") is not None
    tomasz = "tomasz.nowicki@nwmeridian.co.uk"
    assert HelpdeskPolicy().account_refusal(deps_with(directory), tomasz, "send_password_reset_link") is None


def test_without_a_log_the_unlock_goes_ahead() -> None:
    """LDAP keeps no sign-in log: the check cannot tell, and the account rules alone decide."""
    org = replace(demo_org(), sign_ins=())
    directory = InMemoryDirectory(org)
    assert HelpdeskPolicy().account_refusal(deps_with(directory), DAVID, "unlock_account") is None
    assert assess(directory.sign_ins("d.ogunleye")).verdict == "no_log"


def test_the_demo_log_moves_to_the_present() -> None:
    now = datetime(2030, 1, 1, 12, tzinfo=UTC)
    moved = moved_sign_ins(demo_org(), now)
    assert max(s.at for s in moved.sign_ins) == now - timedelta(hours=1)
    gaps = [b.at - a.at for a, b in zip(demo_org().sign_ins, demo_org().sign_ins[1:], strict=False)]
    assert [b.at - a.at for a, b in zip(moved.sign_ins, moved.sign_ins[1:], strict=False)] == gaps


def test_vendor_receipts_reach_the_audit_and_the_ticket_note() -> None:
    class Vendor(InMemoryDirectory):
        def unlock_account(self, username: str):  # type: ignore[no-untyped-def]
            record(Receipt("Okta", "GET", "/api/v1/users/00u1", 200, "req-read"))
            record(Receipt("Okta", "POST", "/api/v1/users/00u1/lifecycle/unlock", 200, "req-unlock-7"))
            return super().unlock_account(username)

    context = verified_unlock(deps_with(Vendor(demo_org())), RUBY)
    (done,) = [a for a in context.audit if a["tool"] == "unlock_account"]
    assert [r["request_id"] for r in done["vendor_requests"]] == ["req-read", "req-unlock-7"]
    note = tool_note({"tool": "unlock_account", "ok": True, "result": "unlocked", **done})
    assert "Okta POST /api/v1/users/00u1/lifecycle/unlock -> 200, request id req-unlock-7" in note
    assert "req-read" not in note  # reads are in the audit log, only changes go on the ticket
    with collect_receipts() as outer:
        with collect_receipts() as inner:
            record(Receipt("Graph", "POST", "/x", 204, "r1"))
        assert len(inner) == 1
    assert len(outer) == 1


@pytest.mark.parametrize("email", [DAVID, RUBY])
def test_the_sign_in_history_tool_says_what_the_policy_sees(email: str) -> None:
    directory = InMemoryDirectory(demo_org())
    runner = Runner({"security": AGENT}, ScriptedModel([call("sign_in_history"), say("ok")]), HelpdeskPolicy())
    context = RunContext(email, "conv-2", deps=deps_with(directory))
    result = asyncio.run(runner.run("security", "why am I locked out", context))
    finished = next(e for e in result.events if e.kind == "tool_finished")
    verdict = finished.data["data"]["verdict"]
    assert verdict == ("unfamiliar" if email == DAVID else "own_devices")


def test_every_change_is_noted_on_the_ticket(helpdesk_world) -> None:  # type: ignore[no-untyped-def]
    """The built-in store has no request ids: the change itself still goes on the ticket as a work note."""
    desk, sent = helpdesk_world.desk()
    first = asyncio.run(desk.ask("I'm locked out of my account", requester=RUBY))
    asyncio.run(desk.ask(sent[RUBY], requester=RUBY, conversation_id=first.conversation_id))
    number = first.ticket["number"]
    notes = [e.body for e in desk.tickets.history(number) if e.body.startswith("Tool ")]
    assert any(n.startswith("Tool unlock_account: r.chen is unlocked") for n in notes), notes
    assert not any("Vendor requests" in n for n in notes)
