"""Close and escalate mean the same in the chat (the ticket specialist's tools) and over HTTP (the routes)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from firstline.agents import RunContext
from firstline.directory import InMemoryDirectory, load_org
from firstline.errors import ConflictError
from firstline.helpdesk.ticket_actions import TicketActions
from firstline.helpdesk.tools.deps import HelpdeskDeps
from firstline.helpdesk.tools.ticket import TICKET_TOOLS
from firstline.runtime import demo_org
from firstline.testing.ticketing import new_ticket
from firstline.ticketing import InMemoryTicketing, Ticket, TicketState, TicketUpdate

YUKI = "yuki.tanaka@nwmeridian.co.uk"
S = TicketState
TOOLS = {t.name: t for t in TICKET_TOOLS}


def tool(deps: HelpdeskDeps, name: str, **arguments: Any) -> Any:
    return asyncio.run(TOOLS[name].invoke(RunContext(YUKI, deps=deps), arguments))


@pytest.fixture
def deps() -> HelpdeskDeps:
    return HelpdeskDeps(InMemoryDirectory(load_org(demo_org())), InMemoryTicketing())


def open_ticket(deps: HelpdeskDeps, state: TicketState = S.IN_PROGRESS) -> Ticket:
    ticket = deps.tickets.create(new_ticket(requester=YUKI, assignment_group="End User Computing"))
    if state is not S.NEW:
        ticket = deps.tickets.update(ticket.number, TicketUpdate(state=state), "setup")
    return ticket


def test_close_in_chat_and_over_http_ends_in_the_same_state(deps: HelpdeskDeps) -> None:
    chat, http = open_ticket(deps), open_ticket(deps)
    tool(deps, "close_ticket", number=chat.number, reason="disk freed up")
    TicketActions(deps.tickets).close(http, "Closed by the requester: disk freed up", YUKI)
    closed = [deps.tickets.get(n) for n in (chat.number, http.number)]
    assert {t.state for t in closed} == {S.CLOSED}
    assert {t.resolution_note for t in closed} == {"Closed by the requester: disk freed up"}
    assert [e.field for e in deps.tickets.history(chat.number)] == [e.field for e in deps.tickets.history(http.number)]


def test_an_employee_escalation_goes_to_the_tickets_own_team_either_way(deps: HelpdeskDeps) -> None:
    chat, http, staff = open_ticket(deps, S.NEW), open_ticket(deps, S.NEW), open_ticket(deps, S.NEW)
    tool(deps, "escalate_ticket", number=chat.number, summary="no answer in three days")
    actions = TicketActions(deps.tickets)
    actions.escalate(http, "no answer in three days", YUKI, group="Security Operations")  # not staff: ignored
    actions.escalate(staff, "needs a new disk", "agent@nwmeridian.co.uk", group="Desktop Support", staff=True)
    assert deps.tickets.get(chat.number).assignment_group == "End User Computing"
    assert deps.tickets.get(http.number).assignment_group == "End User Computing"
    assert deps.tickets.get(staff.number).assignment_group == "Desktop Support"
    assert {deps.tickets.get(n).state for n in (chat.number, http.number)} == {S.IN_PROGRESS}


def test_what_cannot_be_done_is_refused_the_same_way(deps: HelpdeskDeps) -> None:
    resolved = open_ticket(deps)
    deps.tickets.update(resolved.number, TicketUpdate(state=S.RESOLVED, resolution_note="fixed"), "setup")
    resolved = deps.tickets.get(resolved.number)
    with pytest.raises(ConflictError, match="open a new request"):
        TicketActions(deps.tickets).escalate(resolved, "again", YUKI)
    with pytest.raises(Exception, match="cannot be escalated"):
        tool(deps, "escalate_ticket", number=resolved.number, summary="again")
    TicketActions(deps.tickets).close(resolved, "ignored: already resolved", YUKI)
    with pytest.raises(ConflictError, match="already closed"):
        TicketActions(deps.tickets).close(deps.tickets.get(resolved.number), "again", YUKI)
    assert "nothing to do" in tool(deps, "close_ticket", number=resolved.number, reason="again")
