"""Who may decide a pending approval: the one rule the console, the API, Slack and Teams apply."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from firstline.conversations import ApprovalRecord
from firstline.helpdesk.deciding import decision_refusal

RUBY = "ruby.chen@nwmeridian.co.uk"
SARAH = "sarah.lindqvist@nwmeridian.co.uk"
RAVI = "ravi.chandran@nwmeridian.co.uk"
OWNER = "helena.marsh@nwmeridian.co.uk"

WIPE = ApprovalRecord("a1", "c1", "wipe_device", {"device": "NW-M-0119"}, requested_by=RUBY)
LIST = replace(WIPE, tool="add_to_distribution_list", approvers=(OWNER,))


@pytest.mark.parametrize(
    ("record", "who", "agent", "kind"),
    [
        (WIPE, SARAH, True, None),
        (WIPE, RUBY, False, "own_request"),
        (WIPE, "marcus.bell@nwmeridian.co.uk", False, "unknown"),
        (replace(WIPE, requested_by=SARAH), SARAH, True, "asked_for_it"),
        (LIST, OWNER, False, None),
        (LIST, "Helena.Marsh@nwmeridian.co.uk ", False, None),
        (LIST, SARAH, True, "not_named"),
        (replace(WIPE, status="denied", decided_by=RAVI, reason="phone found"), SARAH, True, "decided"),
    ],
)
def test_who_may_decide(record: ApprovalRecord, who: str, agent: bool, kind: str | None) -> None:
    refusal = decision_refusal(record, who, is_agent=agent, requester=RUBY)
    assert (refusal.kind if refusal else None) == kind


def test_a_decided_request_says_who_what_when_and_why() -> None:
    decided = replace(WIPE, status="denied", decided_by=RAVI, reason="phone found at reception",
                      decided_at=datetime(2026, 12, 5, 14, 41, tzinfo=UTC))  # fmt: skip
    refusal = decision_refusal(decided, SARAH, is_agent=True, requester=RUBY, name_of=lambda e: "Ravi Chandran")
    assert refusal is not None
    assert refusal.reason == "Ravi Chandran already denied this at 14:41 UTC on 05 Dec 2026: phone found at reception"
