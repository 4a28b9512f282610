from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from firstline.agents import Agent, RunContext, Runner
from firstline.directory import InMemoryDirectory, load_org
from firstline.errors import ToolFailed, ToolRetry
from firstline.helpdesk.tools import HelpdeskDeps
from firstline.helpdesk.tools.device import DEVICE_TOOLS
from firstline.llm.testing import ScriptedModel, call, say
from firstline.runtime import demo_org, demo_runbooks
from firstline.ticketing import InMemoryTicketing, Priority, TicketQuery

devices, health, compliance, enrol, report_lost, lock, sync = DEVICE_TOOLS
HELENA = "helena.marsh@nwmeridian.co.uk"  # p001: iPhone NW-M-0101 lost in a taxi
KWAME = "kwame.mensah@nwmeridian.co.uk"  # p017: laptop on Windows 11 22H2, Defender signatures old
CONNOR = "connor.walsh@nwmeridian.co.uk"  # p032: BitLocker off
ZARA = "zara.hussain@nwmeridian.co.uk"  # p021: iPhone on iOS 16.7.10
KATIE = "katie.sullivan@nwmeridian.co.uk"  # p027: MacBook in repair, on a loan laptop
LIAM = "liam.doherty@nwmeridian.co.uk"  # p020: laptop NW-L-0303 stolen
AGENT = Agent("device", "Devices.", tools=DEVICE_TOOLS)


@pytest.fixture
def deps() -> HelpdeskDeps:
    return HelpdeskDeps(InMemoryDirectory(load_org(demo_org())), InMemoryTicketing())


def run(tool_: Any, context: RunContext, **arguments: Any) -> Any:
    return asyncio.run(tool_.invoke(context, arguments))


def test_risks_are_declared() -> None:
    assert {t.name: t.risk for t in DEVICE_TOOLS} == {
        "my_devices": "read",
        "device_health": "read",
        "compliance_check": "read",
        "mdm_enrol_steps": "read",
        "report_lost_device": "write",
        "remote_lock": "destructive",
        "sync_device": "write",
    }


def test_my_devices_lists_only_the_requesters(deps: HelpdeskDeps) -> None:
    listed = run(devices, RunContext(HELENA, deps=deps))
    assert [d["hostname"] for d in listed] == ["NW-L-0206", "NW-M-0101", "NW-T-0708"]
    assert listed[1]["status"] == "lost" and listed[0]["os"] == "Windows 11 Enterprise 23H2"


def test_health_defaults_to_the_laptop_in_use_and_checks_the_baseline(deps: HelpdeskDeps) -> None:
    kwame = run(health, RunContext(KWAME, deps=deps))
    assert kwame["hostname"] == "NW-L-0289" and kwame["os_baseline"] == "23H2"
    assert kwame["os_meets_baseline"] is False and kwame["compliance"] == "noncompliant"
    assert run(health, RunContext(KATIE, deps=deps))["hostname"] == "NW-L-0901"  # the loan, not the one in repair
    zara_phone = run(health, RunContext(ZARA, deps=deps), device="nwm-m-00176")  # by asset tag, any case
    assert zara_phone["os_baseline"] == "17" and zara_phone["os_meets_baseline"] is False
    jamal = run(health, RunContext("jamal.ahmed@nwmeridian.co.uk", deps=deps))
    assert jamal["disk_free_percent"] == 1.3 and jamal["disk_low"] is True and jamal["os_meets_baseline"] is True


def test_someone_elses_or_an_unknown_device_is_refused(deps: HelpdeskDeps) -> None:
    with pytest.raises(ToolFailed, match="isn't registered to you"):
        run(health, RunContext(KWAME, deps=deps), device="NW-M-0101")
    with pytest.raises(ToolFailed, match="can't find a device called"):
        run(health, RunContext(KWAME, deps=deps), device="NW-L-9999")
    with pytest.raises(ToolFailed, match="in the company directory"):
        run(devices, RunContext("someone@example.com", deps=deps))
    with pytest.raises(ToolFailed, match="work e-mail address"):
        run(compliance, RunContext(None, deps=deps))


def test_compliance_check_explains_each_issue_with_its_fix(deps: HelpdeskDeps) -> None:
    [laptop] = run(compliance, RunContext(KWAME, deps=deps))
    fixes = {issue["issue"]: issue["fix"] for issue in laptop["issues"]}
    assert "Windows Update" in fixes["Windows 11 22H2 below baseline 23H2"]
    assert "Protection updates" in fixes["Defender signatures 9 days old"]
    assert "Check status" in laptop["next_step"]
    [connor] = run(compliance, RunContext(CONNOR, deps=deps))
    assert "Turn on BitLocker" in connor["issues"][0]["fix"]
    zara = {d["hostname"]: d for d in run(compliance, RunContext(ZARA, deps=deps))}
    assert zara["NW-L-0310"]["issues"] == [] and "iOS 17" in zara["NW-M-0176"]["issues"][0]["fix"]


def test_enrolment_steps_follow_the_runbook(deps: HelpdeskDeps) -> None:
    runbook = (demo_runbooks() / "device-intune-enrolment-company-portal.md").read_text(encoding="utf-8")
    ios = run(enrol, RunContext(None, deps=deps), platform="ios")
    assert ios["steps"][0] == "1. Install Intune Company Portal from the App Store."
    assert "Download profile" in ios["steps"][2] and "Download profile" in runbook
    windows = run(enrol, RunContext(None, deps=deps), platform="windows")
    assert any("dsregcmd /status" in step for step in windows["steps"]) and "dsregcmd /status" in runbook
    assert all(step.startswith(f"{n}. ") for n, step in enumerate(windows["steps"], 1))
    with pytest.raises(ToolRetry, match="platform"):
        run(enrol, RunContext(None, deps=deps), platform="blackberry")


def test_report_lost_device_marks_it_and_opens_one_p2_ticket(deps: HelpdeskDeps) -> None:
    context = RunContext(ZARA, "conv-lost", verified=True, deps=deps)
    message = run(report_lost, context, device="NW-M-0176", stolen=True, where_and_when="bus, Friday 18:00")
    assert deps.directory.device("NW-M-0176").status == "stolen"
    [ticket] = deps.tickets.search(TicketQuery(requester=ZARA))
    assert ticket.number in message and "police" in message and "Authenticator" in message
    assert ticket.priority == Priority.HIGH and ticket.assignment_group == "Security Operations"
    assert ticket.intent == "lost_device" and "bus, Friday 18:00" in ticket.description
    run(report_lost, context, device="NW-M-0176", stolen=True, where_and_when="bus, Friday 18:00")
    assert len(deps.tickets.search(TicketQuery(requester=ZARA))) == 1  # the same report does not duplicate
    with pytest.raises(ToolFailed, match="isn't registered to you"):
        run(report_lost, context, device="NW-L-0206", stolen=False, where_and_when="?")
    assert deps.directory.device("NW-L-0206").status == "in_use"


def test_report_lost_device_needs_verification_through_the_runner(deps: HelpdeskDeps) -> None:
    model = ScriptedModel([call("report_lost_device", device="NW-M-0176", stolen=False, where_and_when="x"), say("..")])
    context = RunContext(ZARA, "conv-unverified", deps=deps)
    result = asyncio.run(Runner({"device": AGENT}, model).run("device", "I lost my phone", context))
    assert next(e for e in result.events if e.kind != "model_call").kind == "tool_refused"
    assert deps.directory.device("NW-M-0176").status == "in_use" and not deps.tickets.search(TicketQuery())


def test_remote_lock_waits_for_approval_then_locks_only_the_requesters_device(deps: HelpdeskDeps) -> None:
    context = RunContext(HELENA, "conv-lock", verified=True, deps=deps)
    runner = Runner({"device": AGENT}, ScriptedModel([call("remote_lock", device="NW-M-0101"), say("Locked.")]))
    paused = asyncio.run(runner.run("device", "lock my lost iPhone", context))
    assert paused.status == "paused" and deps.directory.device("NW-M-0101").lock_requested_at is None
    done = asyncio.run(runner.resume(paused.state, context, approved=True, decided_by="agent:lee"))
    assert done.status == "done" and deps.directory.device("NW-M-0101").lock_requested_at is not None
    with pytest.raises(ToolFailed, match="isn't registered to you"):
        run(lock, context, device="NW-L-0303")  # Liam's stolen laptop
    assert deps.directory.device("NW-L-0303").lock_requested_at is None


def test_remote_lock_refuses_retired_and_unenrolled_devices() -> None:
    org = load_org(demo_org())
    changes = {"NW-T-0708": {"status": "retired"}, "NW-L-0206": {"mdm_enrolled": False}}
    devices = tuple(replace(d, **changes.get(d.hostname, {})) for d in org.devices)  # type: ignore[arg-type]
    deps = HelpdeskDeps(InMemoryDirectory(replace(org, devices=devices)), InMemoryTicketing())
    context = RunContext(HELENA, verified=True, deps=deps)
    with pytest.raises(ToolFailed, match="retired"):
        run(lock, context, device="NW-T-0708")
    with pytest.raises(ToolFailed, match="not enrolled in Intune"):
        run(lock, context, device="NW-L-0206")
    assert {deps.directory.device(h).lock_requested_at for h in changes} == {None}
