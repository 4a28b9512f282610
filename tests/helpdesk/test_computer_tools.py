from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from firstline.agents import Agent, RunContext, Runner
from firstline.directory import InMemoryDirectory, load_org
from firstline.errors import ConfigError, ToolFailed
from firstline.helpdesk.tools import HelpdeskDeps
from firstline.helpdesk.tools.computer import COMPUTER_TOOLS, find_software, load_software_catalog
from firstline.llm.testing import ScriptedModel, call, say
from firstline.runtime import demo_org
from firstline.ticketing import InMemoryTicketing, Priority, TicketQuery

catalog, request, cleanup = COMPUTER_TOOLS
RUBY = "ruby.chen@nwmeridian.co.uk"  # p019: Windows laptop, manager Jack Thornton (p018), no Visio licence
YUKI = "yuki.tanaka@nwmeridian.co.uk"  # p029: has LIC-Visio; laptop with 8.7 GB free
JAMAL = "jamal.ahmed@nwmeridian.co.uk"  # p052: MacBook Air with 3.4 GB free
AGENT = Agent("computer", "Computers.", tools=COMPUTER_TOOLS)


@pytest.fixture
def deps() -> HelpdeskDeps:
    return HelpdeskDeps(InMemoryDirectory(load_org(demo_org())), InMemoryTicketing())


def run(tool_: Any, context: RunContext, **arguments: Any) -> Any:
    return asyncio.run(tool_.invoke(context, arguments))


def test_the_catalogue_is_consistent() -> None:
    items = load_software_catalog()
    assert 20 <= len(items) <= 40 and load_software_catalog() is items  # cached
    names = [n for item in items for n in (item.name.lower(), *item.aliases)]
    assert len(names) == len(set(names)), "a name or alias points at two products"
    assert {item.install for item in items} == {"self service", "company portal", "ticket"}
    assert all(not item.needs_manager_approval for item in items if item.install == "self service")
    photoshop = find_software("  PHOTOSHOP ")
    assert photoshop is not None and photoshop.name == "Adobe Creative Cloud All Apps"
    assert find_software("winamp") is None


def test_a_bad_catalogue_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "software.yaml"
    bad.write_text(
        "- {name: X, licence_cost: cheap, needs_manager_approval: false, platforms: [windows], install: ticket}\n"
    )
    with pytest.raises(ConfigError, match="licence_cost 'cheap'"):
        load_software_catalog(bad)
    bad.write_text("- {name: X}\n")
    with pytest.raises(ConfigError, match="lacks a field"):
        load_software_catalog(bad)


def test_software_catalog_filters_by_name_or_alias(deps: HelpdeskDeps) -> None:
    found = run(catalog, RunContext(None, deps=deps), query="Adobe")
    assert [i["name"] for i in found] == ["Adobe Acrobat Reader", "Adobe Acrobat Pro", "Adobe Creative Cloud All Apps"]
    assert [i["name"] for i in run(catalog, RunContext(None, deps=deps), query="zip")] == ["7-Zip"]
    assert len(run(catalog, RunContext(None, deps=deps))) == len(load_software_catalog())


def test_self_service_software_gets_steps_and_no_ticket(deps: HelpdeskDeps) -> None:
    message = run(request, RunContext(RUBY, "conv-sw", verified=True, deps=deps), name="7zip")
    assert "needs no request" in message and "Company Portal" in message
    assert "already assigned" in run(request, RunContext(YUKI, verified=True, deps=deps), name="Visio")
    assert deps.tickets.search(TicketQuery()) == []


def test_licensed_software_opens_one_ticket_for_the_manager(deps: HelpdeskDeps) -> None:
    context = RunContext(RUBY, "conv-sw", verified=True, deps=deps)
    message = run(request, context, name="VISIO", reason="process maps for the Harbour project")
    [ticket] = deps.tickets.search(TicketQuery(requester=RUBY))
    assert ticket.number in message and "Jack Thornton (your manager) must approve" in message
    assert (ticket.category, ticket.specialist, ticket.intent) == ("software", "computer", "software_request")
    assert ticket.correlation_id == "conv-sw:software:microsoft-visio-plan-2"
    assert ticket.assignment_group == "End User Computing" and ticket.priority == Priority.LOW
    assert "Harbour project" in ticket.description and "Jack Thornton" in ticket.description
    run(request, context, name="visio")
    assert len(deps.tickets.search(TicketQuery(requester=RUBY))) == 1  # asking again does not duplicate
    assert "deploy it" in run(request, context, name="docker")


def test_unknown_or_wrong_platform_software_is_refused(deps: HelpdeskDeps) -> None:
    with pytest.raises(ToolFailed, match="New software assessment"):
        run(request, RunContext(RUBY, verified=True, deps=deps), name="Winamp")
    with pytest.raises(ToolFailed, match="windows only"):
        run(request, RunContext(JAMAL, verified=True, deps=deps), name="Visio")
    with pytest.raises(ToolFailed, match="in the company directory"):
        run(request, RunContext("someone@example.com", verified=True, deps=deps), name="Visio")
    assert deps.tickets.search(TicketQuery()) == []


def test_request_software_needs_verification_through_the_runner(deps: HelpdeskDeps) -> None:
    model = ScriptedModel([call("request_software", name="Visio"), say("Please verify first.")])
    context = RunContext(RUBY, "conv-unverified", deps=deps)
    result = asyncio.run(Runner({"computer": AGENT}, model).run("computer", "I need Visio", context))
    assert (
        next(e for e in result.events if e.kind != "model_call").kind == "tool_refused"
        and deps.tickets.search(TicketQuery()) == []
    )


def test_disk_cleanup_steps_follow_the_os(deps: HelpdeskDeps) -> None:
    mac = run(cleanup, RunContext(JAMAL, deps=deps))
    assert (mac["hostname"], mac["disk_free_gb"], mac["updates_will_fail"]) == ("NW-L-0450", 3.4, True)
    assert mac["steps"][0].startswith("1. Apple menu > System Settings > General > Storage")
    windows = run(cleanup, RunContext(YUKI, deps=deps))
    assert windows["hostname"] == "NW-L-0340" and windows["updates_will_fail"] is True
    assert any("Storage Sense" in step for step in windows["steps"])
    assert run(cleanup, RunContext(RUBY, deps=deps))["updates_will_fail"] is False
