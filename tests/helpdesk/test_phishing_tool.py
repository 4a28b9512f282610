from __future__ import annotations

import asyncio
from typing import Any

import pytest

from firstline.agents import Agent, RunContext, Runner
from firstline.directory import InMemoryDirectory, load_org
from firstline.errors import ToolFailed
from firstline.helpdesk.tools import HelpdeskDeps
from firstline.helpdesk.tools.phishing import PHISHING_TOOLS
from firstline.llm.testing import ScriptedModel, call, say
from firstline.runtime import demo_org
from firstline.ticketing import InMemoryTicketing, Priority, TicketQuery

[report] = PHISHING_TOOLS
RUBY = "ruby.chen@nwmeridian.co.uk"
SENDER, SUBJECT = "it-support@northwind-meridlan.com", "Your mailbox will be deactivated in 24 hours"


@pytest.fixture
def deps() -> HelpdeskDeps:
    return HelpdeskDeps(InMemoryDirectory(load_org(demo_org())), InMemoryTicketing())


def run(context: RunContext, **arguments: Any) -> Any:
    return asyncio.run(report.invoke(context, arguments))


def test_reporting_runs_unverified_through_the_runner(deps: HelpdeskDeps) -> None:
    assert report.risk == "read"
    agent = Agent("security", "Security.", tools=PHISHING_TOOLS)
    model = ScriptedModel([call("report_phishing", sender=SENDER, subject=SUBJECT), say("Reported, thank you.")])
    context = RunContext(RUBY, "conv-phish", deps=deps)  # not verified
    result = asyncio.run(Runner({"security": agent}, model).run("security", "I got a weird email", context))
    assert result.reply == "Reported, thank you."
    [ticket] = deps.tickets.search(TicketQuery(requester=RUBY))
    assert ticket.assignment_group == "Security Operations" and ticket.tags == ("phishing",)
    assert (ticket.category, ticket.intent, ticket.priority) == ("security", "phishing_report", Priority.LOW)
    assert SENDER in ticket.description and ticket.short_description.endswith(SUBJECT)


def test_entered_credentials_is_high_priority_with_a_password_reset(deps: HelpdeskDeps) -> None:
    context = RunContext(RUBY, "conv-phish", deps=deps)
    message = run(context, sender=SENDER, subject=SUBJECT, clicked_link=True, entered_credentials=True)
    [ticket] = deps.tickets.search(TicketQuery(requester=RUBY))
    assert ticket.priority == Priority.HIGH and "entered credentials" in ticket.description
    assert ticket.number in message and "Do not forward" in message and "Report phishing" in message
    assert "https://aka.ms/sspr" in message and "password reset link" in message
    assert "Security Operations will contact you" in message
    run(context, sender=SENDER, subject=SUBJECT, clicked_link=True, entered_credentials=True)
    assert len(deps.tickets.search(TicketQuery(requester=RUBY))) == 1  # the same report does not duplicate


def test_a_clicked_link_is_high_priority_without_a_reset(deps: HelpdeskDeps) -> None:
    message = run(RunContext(RUBY, "c", deps=deps), sender=SENDER, subject=SUBJECT, clicked_link=True)
    [ticket] = deps.tickets.search(TicketQuery(requester=RUBY))
    assert ticket.priority == Priority.HIGH and "aka.ms/sspr" not in message and "MFA prompt" in message


def test_the_requester_must_be_known(deps: HelpdeskDeps) -> None:
    with pytest.raises(ToolFailed, match="work e-mail address"):
        run(RunContext(None, deps=deps), sender=SENDER, subject=SUBJECT)
    assert deps.tickets.search(TicketQuery()) == []
