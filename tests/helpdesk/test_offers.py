"""A model is shown only the tools that could be allowed now (the policy's ``offers``): one rule, in the policy
both engines share, used for the prompt and for the decision alike."""

from __future__ import annotations

from firstline.agents import RunContext
from firstline.agents.prompting import build_request
from firstline.helpdesk.agents import build_agents
from firstline.helpdesk.policy import HelpdeskPolicy

RUBY = "ruby.chen@nwmeridian.co.uk"


def offered(agent: str, context: RunContext) -> set[str]:
    policy = HelpdeskPolicy()
    request = build_request(build_agents()[agent], [], context, policy=policy)
    return {t.name for t in request.tools}


def test_resolving_is_offered_once_it_could_be_allowed() -> None:
    policy, tools = HelpdeskPolicy(), {t.name: t for t in build_agents()["printer"].tools}
    fresh = RunContext(RUBY, verified=True)
    assert "mark_resolved" not in offered("printer", fresh)
    assert policy.decide(tools["mark_resolved"], fresh).verdict == "deny"  # the same rule decides a call
    said_it_works = RunContext(RUBY, verified=True, confirmed={"resolve"})
    assert "mark_resolved" in offered("printer", said_it_works)
    assert policy.decide(tools["mark_resolved"], said_it_works).verdict == "allow"
    fixed = RunContext(RUBY, verified=True)
    fixed.audit.append({"tool": "clear_print_queue", "outcome": "ok", "risk": "write"})
    assert "mark_resolved" in offered("printer", fixed)


def test_a_code_is_checked_only_when_one_was_typed_and_never_re_sent_then() -> None:
    waiting = RunContext(RUBY, briefing={"specialist": "security", "intent": "account_unlock"})
    shown = offered("security", waiting)
    assert "send_verification_code" in shown and "verify_identity" not in shown
    typed = RunContext(RUBY, briefing={"specialist": "security", "intent": "account_unlock"})
    typed.secrets["code"] = "123456"
    shown = offered("security", typed)
    assert "verify_identity" in shown and "send_verification_code" not in shown


def test_closing_is_offered_only_when_the_requester_asked_to_close_a_ticket() -> None:
    assert "close_ticket" not in offered("ticket", RunContext(RUBY, verified=True))
    asked = RunContext(RUBY, verified=True, confirmed={"close_ticket:INC0000042"})
    assert "close_ticket" in offered("ticket", asked)
