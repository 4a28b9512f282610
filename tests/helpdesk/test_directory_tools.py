"""The tools over the directory's newer operations: sign out everywhere, a device check-in, out of office."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from firstline.agents import Agent, RunContext, Runner
from firstline.directory import InMemoryDirectory
from firstline.helpdesk.policy import HelpdeskPolicy
from firstline.helpdesk.tools import DEVICE_TOOLS, EMAIL_TOOLS, SECURITY_TOOLS, HelpdeskDeps, OneTimeCodes
from firstline.llm.testing import ScriptedModel, call, say
from firstline.testing.directory import demo_org
from firstline.ticketing import InMemoryTicketing

AGENT = Agent("any", "Accounts, devices, mail.", tools=(*SECURITY_TOOLS, *DEVICE_TOOLS, *EMAIL_TOOLS))


def run(requester: str, *calls: object, verified: bool = True) -> tuple[InMemoryDirectory, RunContext]:
    directory = InMemoryDirectory(demo_org())
    deps = HelpdeskDeps(directory, InMemoryTicketing(), OneTimeCodes())
    runner = Runner({"any": AGENT}, ScriptedModel([*calls, say("ok")]), HelpdeskPolicy())  # type: ignore[list-item]
    context = RunContext(requester, "conv-1", deps=deps)
    context.verified = verified
    asyncio.run(runner.run("any", "help", context))
    return directory, context


def outcomes(context: RunContext) -> list[tuple[str, str]]:
    return [(a["tool"], a["outcome"]) for a in context.audit]


def test_sign_out_everywhere_needs_the_identity_check_then_revokes() -> None:
    directory, context = run("tomasz.nowicki@nwmeridian.co.uk", call("sign_out_everywhere"), verified=False)
    assert outcomes(context) == [("sign_out_everywhere", "verify_first")]
    assert directory.account("t.nowicki").sessions_revoked_at is None
    directory, context = run("tomasz.nowicki@nwmeridian.co.uk", call("sign_out_everywhere"))
    assert outcomes(context) == [("sign_out_everywhere", "ok")]
    revoked = directory.account("t.nowicki").sessions_revoked_at
    assert revoked is not None and revoked > datetime.now(UTC) - timedelta(minutes=1)


def test_a_privileged_account_is_not_signed_out_by_tier_1() -> None:
    directory, context = run("rajesh.kulkarni@nwmeridian.co.uk", call("sign_out_everywhere"))
    assert outcomes(context) == [("sign_out_everywhere", "deny")]
    assert directory.account("r.kulkarni").sessions_revoked_at is None


def test_sync_reaches_only_the_requesters_own_device() -> None:
    directory, context = run("ruby.chen@nwmeridian.co.uk", call("sync_device", device="NW-M-0119"))
    assert outcomes(context) == [("sync_device", "ok")] and directory.device("NW-M-0119").sync_requested_at
    directory, context = run("ruby.chen@nwmeridian.co.uk", call("sync_device", device="NW-L-0206"))  # the CEO's
    assert outcomes(context) == [("sync_device", "failed")] and directory.device("NW-L-0206").sync_requested_at is None


def test_out_of_office_on_and_off_on_the_own_mailbox() -> None:
    message = "Away until Monday 8 Dec; for urgent orders call 4357."
    directory, context = run("marcus.bell@nwmeridian.co.uk", call("set_out_of_office", message=message))
    assert outcomes(context) == [("set_out_of_office", "ok")]
    mailbox = directory.mailbox_of("m.bell")
    assert mailbox is not None and mailbox.automatic_replies == message
    directory, context = run("marcus.bell@nwmeridian.co.uk", call("set_out_of_office"))
    assert outcomes(context) == [("set_out_of_office", "failed")]  # no message: the tool asks for one
    assert "What should the automatic reply say" in context.audit[0]["result"]
