from __future__ import annotations

import asyncio

import pytest

from firstline.agents import Agent, RunContext, Runner
from firstline.directory import InMemoryDirectory, load_org
from firstline.errors import ToolFailed
from firstline.helpdesk.tools import TICKET_TOOLS, HelpdeskDeps
from firstline.llm.testing import ScriptedModel, call, say
from firstline.runtime import demo_org
from firstline.ticketing import InMemoryTicketing, NewTicket, TicketState

ME = "r.chen@nwmeridian.co.uk"
SOMEONE_ELSE = "h.marsh@nwmeridian.co.uk"
AGENT = Agent("ticket", "Tickets.", tools=TICKET_TOOLS)
status, my_open, add_note, close, escalate = TICKET_TOOLS


@pytest.fixture
def deps() -> HelpdeskDeps:
    tickets = InMemoryTicketing()
    deps = HelpdeskDeps(InMemoryDirectory(load_org(demo_org())), tickets)
    tickets.create(
        NewTicket(requester=ME, short_description="Printer LON-F4-HP-02 jammed", assignment_group="Print Services")
    )
    tickets.create(
        NewTicket(requester=SOMEONE_ELSE, short_description="CEO phone lost", assignment_group="End User Computing")
    )
    return deps


def run(tool_: object, context: RunContext, **arguments: object) -> object:
    return asyncio.run(tool_.invoke(context, arguments))  # type: ignore[attr-defined]


def test_status_of_my_ticket_with_latest_public_updates(deps: HelpdeskDeps) -> None:
    deps.tickets.comment("INC0000001", "An engineer is on the way.", author="agent:kim")
    deps.tickets.comment("INC0000001", "internal: part ordered", author="agent:kim", internal=True)
    result = run(status, RunContext(ME, deps=deps), number="inc0000001")
    assert isinstance(result, dict)
    assert result["number"] == "INC0000001" and result["state"] == "new"
    assert any("engineer is on the way" in u for u in result["latest_updates"])
    assert not any("part ordered" in u for u in result["latest_updates"])


def test_someone_elses_ticket_is_refused(deps: HelpdeskDeps) -> None:
    with pytest.raises(ToolFailed, match="raised by someone else"):
        run(status, RunContext(ME, deps=deps), number="INC0000002")
    with pytest.raises(ToolFailed, match="can't find a ticket INC9999999"):
        run(status, RunContext(ME, deps=deps), number="INC9999999")


def test_my_open_tickets_lists_only_mine(deps: HelpdeskDeps) -> None:
    result = run(my_open, RunContext(ME, deps=deps))
    assert [t["number"] for t in result] == ["INC0000001"]  # type: ignore[union-attr]


def test_note_close_and_escalate_change_the_ticket(deps: HelpdeskDeps) -> None:
    context = RunContext(ME, verified=True, deps=deps)
    run(add_note, context, number="INC0000001", note="It says 13.A2.D2 Jam in tray 2")
    assert any("13.A2.D2" in e.body for e in deps.tickets.history("INC0000001", public_only=True))
    run(escalate, context, number="INC0000001", summary="Jam persists after clearing tray 2 twice")
    ticket = deps.tickets.get("INC0000001")
    assert ticket.state == TicketState.IN_PROGRESS and ticket.assignment_group == "Print Services"
    run(close, context, number="INC0000001", reason="works again")
    closed = deps.tickets.get("INC0000001")  # resolved with the reason, then closed: what POST .../close does too
    assert (closed.state, closed.resolution_note) == (TicketState.CLOSED, "Closed by the requester: works again")
    assert run(close, context, number="INC0000001", reason="again") == "INC0000001 is already closed; nothing to do."
    with pytest.raises(ToolFailed, match=r"takes no more notes|cannot"):
        run(add_note, context, number="INC0000001", note="one more thing")


def test_through_the_runner_writes_need_verification_and_others_tickets_stay_untouched(deps: HelpdeskDeps) -> None:
    model = ScriptedModel([call("close_ticket", number="INC0000002", reason="done"), say("I can't close that one.")])
    context = RunContext(ME, "c", verified=True, deps=deps)
    result = asyncio.run(Runner({"ticket": AGENT}, model).run("ticket", "close INC0000002", context))
    assert deps.tickets.get("INC0000002").state == TicketState.NEW
    assert any(m.content.startswith("FAILED: INC0000002 was raised by someone else") for m in result.state.messages)
    unverified = RunContext(ME, "d", deps=deps)
    model = ScriptedModel([call("close_ticket", number="INC0000001", reason="ok"), say("Please verify first.")])
    asyncio.run(Runner({"ticket": AGENT}, model).run("ticket", "close my ticket", unverified))
    assert deps.tickets.get("INC0000001").state == TicketState.NEW
