from __future__ import annotations

import asyncio
from typing import Any

import pytest

from firstline.agents import Agent, RunContext, Runner
from firstline.directory import InMemoryDirectory, load_org
from firstline.errors import ToolFailed
from firstline.helpdesk.tools import PHONE_TOOLS, HelpdeskDeps
from firstline.llm.testing import ScriptedModel, call, say
from firstline.runtime import demo_org
from firstline.ticketing import InMemoryTicketing

status, reset_pin, forwarding = PHONE_TOOLS
MEGAN = "megan.lloyd@nwmeridian.co.uk"  # p023: voicemail PIN locked on 4535
DAVID = "david.ogunleye@nwmeridian.co.uk"  # p072: calls forward to a leaver's extension


@pytest.fixture
def deps() -> HelpdeskDeps:
    return HelpdeskDeps(InMemoryDirectory(load_org(demo_org())), InMemoryTicketing())


def run(tool_: Any, context: RunContext, **arguments: Any) -> Any:
    return asyncio.run(tool_.invoke(context, arguments))


def test_voicemail_reset_needs_verification_then_unlocks(deps: HelpdeskDeps) -> None:
    assert run(status, RunContext(MEGAN, deps=deps))["voicemail_locked"] is True
    agent = Agent("phone", "Phones.", tools=PHONE_TOOLS)
    model = ScriptedModel([call("reset_voicemail_pin"), say("Please verify first.")])
    asyncio.run(Runner({"phone": agent}, model).run("phone", "voicemail locked", RunContext(MEGAN, "c", deps=deps)))
    assert deps.directory.phone("4535").voicemail_locked is True
    message = run(reset_pin, RunContext(MEGAN, verified=True, deps=deps))
    assert "temporary PIN" in message
    phone = deps.directory.phone("4535")
    assert phone.voicemail_locked is False and phone.temporary_pin_sent is True


def test_call_forwarding_set_validated_and_cleared(deps: HelpdeskDeps) -> None:
    context = RunContext(DAVID, verified=True, deps=deps)
    assert run(status, context)["call_forwarding"] == {"to": "4525", "mode": "always"}
    assert run(forwarding, context, target="07700 900123", mode="no_answer").endswith("07700900123 (no answer).")
    assert deps.directory.phone("4818").call_forwarding is not None
    with pytest.raises(ToolFailed, match="neither a 4-digit extension"):
        run(forwarding, context, target="call my mum")
    assert run(forwarding, context, target=None) == "Call forwarding on 4818 is off."
    assert deps.directory.phone("4818").call_forwarding is None


def test_unknown_requester(deps: HelpdeskDeps) -> None:
    with pytest.raises(ToolFailed, match="in the company directory"):
        run(status, RunContext("someone@example.com", deps=deps))
