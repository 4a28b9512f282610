from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from firstline.agents import RunContext
from firstline.directory import InMemoryDirectory, load_org
from firstline.errors import ToolFailed
from firstline.helpdesk.tools import HelpdeskDeps
from firstline.helpdesk.tools.network import NETWORK_TOOLS
from firstline.runtime import demo_org
from firstline.ticketing import InMemoryTicketing

vpn, outage = NETWORK_TOOLS
CONNOR = "connor.walsh@nwmeridian.co.uk"  # p032: Leeds floor 2
NATHAN = "nathan.price@nwmeridian.co.uk"  # p015: London floor 4
KWAME = "kwame.mensah@nwmeridian.co.uk"  # p017: remote


@pytest.fixture
def deps() -> HelpdeskDeps:
    return HelpdeskDeps(InMemoryDirectory(load_org(demo_org())), InMemoryTicketing())


def run(tool_: Any, context: RunContext, **arguments: Any) -> Any:
    return asyncio.run(tool_.invoke(context, arguments))


def ids(found: list[dict[str, Any]]) -> list[str]:
    return [i["id"] for i in found]


def test_both_tools_only_read() -> None:
    assert {t.risk for t in NETWORK_TOOLS} == {"read"}


def test_vpn_status_names_the_affected_gateway_and_the_workaround(deps: HelpdeskDeps) -> None:
    status = run(vpn, RunContext(KWAME, deps=deps))
    assert ids(status["known_incidents"]) == ["INC0049002"]
    assert status["gateways"] == {"NW-GW-LON": "no known problem", "NW-GW-LDS": "affected (INC0049002)"}
    assert status["requester_location"] == "remote" and "NW-GW-LON" in status["workaround"]
    anonymous = run(vpn, RunContext("someone@example.com", deps=deps))  # incidents are not personal
    assert anonymous["requester_location"] is None and anonymous["gateways"] == status["gateways"]


def test_vpn_status_without_incidents() -> None:
    org = load_org(demo_org())
    quiet = replace(org, incidents=tuple(i for i in org.incidents if i.id != "INC0049002"))
    deps = HelpdeskDeps(InMemoryDirectory(quiet), InMemoryTicketing())
    status = run(vpn, RunContext(KWAME, deps=deps))
    assert status["known_incidents"] == [] and set(status["gateways"].values()) == {"no known problem"}
    assert "probably local" in status["workaround"]


def test_outages_at_the_requesters_site_and_floor(deps: HelpdeskDeps) -> None:
    leeds = run(outage, RunContext(CONNOR, deps=deps))
    assert leeds["site"] == "leeds" and leeds["floor"] == 2
    assert ids(leeds["incidents"]) == ["INC0049002", "INC0049003"]
    assert [i["on_that_floor"] for i in leeds["incidents"]] == [False, True]
    assert ids(leeds["company_wide"]) == ["INC0049004"]
    london = run(outage, RunContext(NATHAN, deps=deps))
    assert ids(london["incidents"]) == ["INC0049001"] and london["incidents"][0]["on_that_floor"]
    assert ids(run(outage, RunContext(KWAME, deps=deps))["incidents"]) == ["INC0049002"]


def test_outages_for_a_named_site_or_free_text_area(deps: HelpdeskDeps) -> None:
    context = RunContext(KWAME, deps=deps)
    assert ids(run(outage, context, site="Leeds office")["incidents"]) == ["INC0049002", "INC0049003"]
    assert ids(run(outage, context, site="leeds floor 3")["incidents"]) == ["INC0049002"]  # not the floor 2 phones
    assert ids(run(outage, context, site="London")["incidents"]) == ["INC0049001"]  # "NW-GW-LON is unaffected"
    assert ids(run(outage, context, site="floor 4")["incidents"]) == ["INC0049001"]
    assert ids(run(outage, context, site="exchange")["incidents"]) == ["INC0049004"]
    nothing = run(outage, context, site="Manchester")
    assert nothing["incidents"] == [] and "No known incident" in nothing["note"]


def test_outage_check_needs_a_site_when_the_requester_is_unknown(deps: HelpdeskDeps) -> None:
    with pytest.raises(ToolFailed, match="London, Leeds or remote"):
        run(outage, RunContext(None, deps=deps))
    assert ids(run(outage, RunContext(None, deps=deps), site="leeds")["incidents"]) == ["INC0049002", "INC0049003"]
