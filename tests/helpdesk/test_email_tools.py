from __future__ import annotations

import asyncio
from typing import Any

import pytest

from firstline.agents import Agent, RunContext, Runner
from firstline.directory import InMemoryDirectory, load_org
from firstline.errors import ToolFailed
from firstline.helpdesk.tools import HelpdeskDeps
from firstline.helpdesk.tools.email import EMAIL_TOOLS
from firstline.llm.testing import ScriptedModel, call, say
from firstline.runtime import demo_org
from firstline.ticketing import InMemoryTicketing

quota, list_info, join, add, shared_info, out_of_office = EMAIL_TOOLS
MARCUS = "marcus.bell@nwmeridian.co.uk"  # p011: mailbox at 49.8 GB
ZARA = "zara.hussain@nwmeridian.co.uk"  # p021: 47.3 GB, no archive
WILLIAM = "william.hart@nwmeridian.co.uk"  # p041: litigation hold
REBECCA = "rebecca.ingram@nwmeridian.co.uk"  # p065: not on social-club-leeds@ or first-aiders@
BETHANY = "bethany.cole@nwmeridian.co.uk"  # p014: waiting for ap@ access
AGENT = Agent("email", "Email.", tools=EMAIL_TOOLS)


@pytest.fixture
def deps() -> HelpdeskDeps:
    return HelpdeskDeps(InMemoryDirectory(load_org(demo_org())), InMemoryTicketing())


def run(tool_: Any, context: RunContext, **arguments: Any) -> Any:
    return asyncio.run(tool_.invoke(context, arguments))


def members(deps: HelpdeskDeps, address: str) -> tuple[str, ...]:
    return deps.directory.distribution_list(address).members


def test_risks_are_declared() -> None:
    assert [(t.name, t.risk) for t in EMAIL_TOOLS] == [
        ("mailbox_quota", "read"),
        ("distribution_list_info", "read"),
        ("join_distribution_list", "write"),
        ("add_to_distribution_list", "destructive"),
        ("shared_mailbox_access_info", "read"),
        ("set_out_of_office", "write"),
    ]
    assert "owner" in add.description and "approve" in add.description


def test_mailbox_quota_with_advice_when_nearly_full(deps: HelpdeskDeps) -> None:
    marcus = run(quota, RunContext(MARCUS, deps=deps))
    assert (marcus["used_gb"], marcus["quota_gb"], marcus["percent_used"]) == (49.8, 50.0, 99.6)
    assert marcus["state"].startswith("sending has stopped") and marcus["archive_enabled"] is True
    assert any("Deleted Items" in line for line in marcus["advice"])
    zara = run(quota, RunContext(ZARA, deps=deps))
    assert zara["archive_enabled"] is False and any("Messaging must enable" in line for line in zara["advice"])
    assert any("litigation hold" in line for line in run(quota, RunContext(WILLIAM, deps=deps))["advice"])
    helena = run(quota, RunContext("helena.marsh@nwmeridian.co.uk", deps=deps))
    assert helena["percent_used"] < 90 and "advice" not in helena


def test_leavers_and_strangers_have_no_mailbox(deps: HelpdeskDeps) -> None:
    with pytest.raises(ToolFailed, match="can't find a mailbox of your own"):
        run(quota, RunContext("george.whitfield@nwmeridian.co.uk", deps=deps))
    with pytest.raises(ToolFailed, match="in the company directory"):
        run(quota, RunContext("someone@example.com", deps=deps))


def test_distribution_list_info(deps: HelpdeskDeps) -> None:
    context = RunContext(REBECCA, deps=deps)
    harbour = run(list_info, context, address="project-harbour")  # the domain is the requester's
    assert harbour["owners"] == [
        {"name": "George Whitfield", "email": "george.whitfield@nwmeridian.co.uk", "left_the_company": True}
    ]
    assert "Messaging must confirm a new owner" in harbour["how_to_join"]
    engineering = run(list_info, context, address="ENGINEERING@nwmeridian.co.uk")
    assert engineering["dynamic"] and engineering["rule"] == {"department": "Engineering"}
    exec_team = run(list_info, context, address="exec-team@nwmeridian.co.uk")
    assert exec_team["restricted"] and exec_team["requester_may_send"] is False
    assert "add_to_distribution_list" in exec_team["how_to_join"]
    with pytest.raises(ToolFailed, match="can't find a distribution list"):
        run(list_info, context, address="nope@nwmeridian.co.uk")


def test_join_works_only_for_open_lists(deps: HelpdeskDeps) -> None:
    context = RunContext(REBECCA, "conv-join", verified=True, deps=deps)
    assert "now a member" in run(join, context, address="social-club-leeds@nwmeridian.co.uk")
    assert "p065" in members(deps, "social-club-leeds@nwmeridian.co.uk")
    assert "already a member" in run(join, context, address="social-club-leeds@nwmeridian.co.uk")
    with pytest.raises(ToolFailed, match="a list owner must approve") as refused:
        run(join, context, address="first-aiders@nwmeridian.co.uk")
    assert "add_to_distribution_list" in refused.value.guidance  # the way on is told to a model, not the employee
    assert "p065" not in members(deps, "first-aiders@nwmeridian.co.uk")
    with pytest.raises(ToolFailed, match="dynamic list"):
        run(join, context, address="leeds-all@nwmeridian.co.uk")


def test_join_needs_verification_through_the_runner(deps: HelpdeskDeps) -> None:
    model = ScriptedModel([call("join_distribution_list", address="social-club-leeds@nwmeridian.co.uk"), say("..")])
    context = RunContext(REBECCA, "conv-unverified", deps=deps)
    result = asyncio.run(Runner({"email": AGENT}, model).run("email", "add me to the social club", context))
    assert next(e for e in result.events if e.kind != "model_call").kind == "tool_refused"
    assert "p065" not in members(deps, "social-club-leeds@nwmeridian.co.uk")


def test_closed_list_waits_for_the_owners_approval(deps: HelpdeskDeps) -> None:
    context = RunContext(REBECCA, "conv-add", verified=True, deps=deps)
    script = [call("add_to_distribution_list", address="first-aiders@nwmeridian.co.uk"), say("Added.")]
    runner = Runner({"email": AGENT}, ScriptedModel(script))
    paused = asyncio.run(runner.run("email", "please add me to first aiders", context))
    assert paused.status == "paused" and "p065" not in members(deps, "first-aiders@nwmeridian.co.uk")
    done = asyncio.run(runner.resume(paused.state, context, approved=True, decided_by="owner:p048"))
    assert done.status == "done" and "p065" in members(deps, "first-aiders@nwmeridian.co.uk")


def test_add_refuses_dynamic_lists_and_lists_whose_owner_left(deps: HelpdeskDeps) -> None:
    context = RunContext(REBECCA, verified=True, deps=deps)
    with pytest.raises(ToolFailed, match="dynamic list"):
        run(add, context, address="engineering@nwmeridian.co.uk")
    with pytest.raises(ToolFailed, match="owner has left"):
        run(add, context, address="project-harbour@nwmeridian.co.uk")
    assert "p065" not in members(deps, "project-harbour@nwmeridian.co.uk")


def test_shared_mailbox_access_info(deps: HelpdeskDeps) -> None:
    ap = run(shared_info, RunContext(BETHANY, deps=deps), address="ap")
    assert [o["name"] for o in ap["owners_who_approve"]] == ["Chloe Whitaker"]
    assert ap["requester_has_full_access"] is False and "Shared mailbox access" in ap["how_to_get_access"]
    support = run(shared_info, RunContext(BETHANY, deps=deps), address="support@nwmeridian.co.uk")
    assert "Messaging must confirm a new owner" in support["how_to_get_access"]
    mine = run(shared_info, RunContext(REBECCA, deps=deps), address="support@nwmeridian.co.uk")
    assert mine["requester_has_full_access"] and mine["requester_can_send_as"]
    with pytest.raises(ToolFailed, match="person's own mailbox"):
        run(shared_info, RunContext(BETHANY, deps=deps), address="marcus.bell@nwmeridian.co.uk")
