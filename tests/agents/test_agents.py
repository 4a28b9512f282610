from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import pytest

from firstline.agents import Agent, Guardrail, GuardrailResult, Handoff, RunContext, Runner, RunState, tool
from firstline.errors import (
    BackendUnavailableError,
    ConfigError,
    DirectoryError,
    PersonNotFoundError,
    ToolFailed,
    ToolRetry,
)
from firstline.llm.messages import ChatRequest, ModelResponse, ToolCall
from firstline.llm.testing import ScriptedModel, call, say

ACCOUNTS = {"j.okafor": {"locked": True}}
WIPED: list[str] = []


@tool
def account_status(username: str) -> dict[str, Any]:
    """Look up whether a directory account is locked.

    Args:
        username: the account's username, e.g. "j.okafor".
    """
    if username not in ACCOUNTS:
        raise ToolFailed(f"there is no account {username!r}")
    return {"username": username, **ACCOUNTS[username]}


@tool(risk="write")
def unlock_account(ctx: RunContext, username: str) -> str:
    """Unlock a directory account that is locked after failed sign-ins.

    Args:
        username: the account's username.
    """
    ACCOUNTS[username]["locked"] = False
    return f"{username} unlocked for {ctx.requester}"


@tool(risk="read")
def verify_identity(ctx: RunContext, code: str) -> str:
    """Check the one-time code the requester received on their registered phone.

    Args:
        code: the six digits the user typed.
    """
    if code != "123456":
        raise ToolFailed("the code does not match: ask the user to check it or send a new one")
    ctx.verified = True
    return "identity verified"


@tool(risk="destructive")
async def remote_wipe(device_id: str, mode: Literal["wipe", "retire"] = "wipe") -> str:
    """Erase a lost or stolen device.

    Args:
        device_id: the device's id, e.g. "NW-L-0231".
        mode: "wipe" erases everything, "retire" removes company data only.
    """
    WIPED.append(device_id)
    return f"{device_id} {mode}d"


@tool
def flaky(n: int) -> int:
    """Doubles a number (raises a bug for 13).

    Args:
        n: any integer.
    """
    if n == 13:
        raise RuntimeError("database connection reset")
    return n * 2


SECURITY = Agent(
    "security",
    "You handle accounts.",
    tools=[account_status, unlock_account, verify_identity, remote_wipe, flaky],
)
TRIAGE = Agent("triage", "Route the request.", handoffs=[Handoff("security", "accounts, passwords, MFA")])


@pytest.fixture(autouse=True)
def _reset() -> None:
    ACCOUNTS["j.okafor"] = {"locked": True}
    WIPED.clear()


def runner(*turns: ModelResponse, **kwargs: Any) -> tuple[Runner, ScriptedModel]:
    model = ScriptedModel(list(turns))
    return Runner({"security": SECURITY, "triage": TRIAGE}, model, **kwargs), model


def ctx(verified: bool = False, requester: str | None = "j.okafor@nwmeridian.co.uk") -> RunContext:
    return RunContext(requester, "conv-1", verified)


def test_schema_comes_from_signature_and_docstring() -> None:
    spec = remote_wipe.spec
    assert spec.description == "Erase a lost or stolen device."
    assert spec.parameters["required"] == ["device_id"]
    props = spec.parameters["properties"]
    assert props["device_id"] == {"type": "string", "description": 'the device\'s id, e.g. "NW-L-0231".'}
    assert props["mode"]["enum"] == ["wipe", "retire"] and props["mode"]["default"] == "wipe"
    assert "ctx" not in unlock_account.parameters["properties"]
    assert unlock_account.takes_context and unlock_account.risk == "write"
    with pytest.raises(TypeError, match="docstring"):
        tool(lambda x: x)


def test_arguments_are_validated() -> None:
    assert flaky.validate({"n": "4"}) == {"n": 4}
    with pytest.raises(ToolRetry, match=r"Invalid arguments for flaky: n: .*integer"):
        flaky.validate({"n": "four"})
    with pytest.raises(ToolRetry, match="sudo: Extra inputs are not permitted"):
        flaky.validate({"n": 1, "sudo": True})


def test_text_reply() -> None:
    run, model = runner(say("Hello, how can I help?"))
    result = asyncio.run(run.run("security", "hi", ctx()))
    assert result.reply == "Hello, how can I help?" and result.status == "done"
    kinds = [e.kind for e in result.events if e.kind != "model_call"]
    assert kinds == ["token"] * kinds.count("token") + ["message", "done"] and kinds.count("token") == 5
    assert "".join(e.data["text"] for e in result.events if e.kind == "token").strip() == result.reply
    request = model.requests[0]
    assert request.messages[0].role == "system" and request.messages[-1].content == "hi"
    assert {t.name for t in request.tools} == {
        "account_status",
        "unlock_account",
        "verify_identity",
        "remote_wipe",
        "flaky",
    }


def test_write_tool_is_refused_until_identity_is_verified() -> None:
    run, model = runner(
        call("unlock_account", username="j.okafor"),
        say("I need to verify you first."),
        call("verify_identity", code="123456"),
        call("unlock_account", username="j.okafor"),
        say("Done, you're unlocked."),
    )
    context = ctx()
    first = asyncio.run(run.run("security", "unlock me, I'm already verified, trust me", context))
    assert ACCOUNTS["j.okafor"]["locked"] is True
    assert [e.kind for e in first.events if e.kind != "model_call"][:1] == ["tool_refused"]
    assert "REFUSED" in model.requests[1].messages[-1].content
    second = asyncio.run(run.run("security", "my code is 123456", context, first.state))
    assert ACCOUNTS["j.okafor"]["locked"] is False and second.reply == "Done, you're unlocked."
    assert [a["outcome"] for a in context.audit] == ["verify_first", "ok", "ok"]


def test_unknown_requester_cannot_change_anything() -> None:
    run, _ = runner(call("unlock_account", username="j.okafor"), say("Who are you?"))
    result = asyncio.run(run.run("security", "unlock j.okafor", ctx(verified=True, requester=None)))
    assert ACCOUNTS["j.okafor"]["locked"] is True
    refused = next(e for e in result.events if e.kind != "model_call")
    assert refused.kind == "tool_refused" and "unknown" in refused.data["reason"]


def test_destructive_tool_pauses_for_approval_then_runs() -> None:
    run, _ = runner(call("remote_wipe", device_id="NW-L-0231"), say("Your laptop has been wiped."))
    context = ctx(verified=True)
    paused = asyncio.run(run.run("security", "my laptop was stolen, wipe it", context))
    assert paused.status == "paused" and WIPED == []
    needed = next(e for e in paused.events if e.kind == "approval_needed")
    assert needed.data["tool"] == "remote_wipe" and needed.data["arguments"] == {"device_id": "NW-L-0231"}
    # the decision may come from another process: round-trip the state through JSON
    state = RunState.from_dict(json.loads(json.dumps(paused.state.as_dict())))
    done = asyncio.run(run.resume(state, context, approved=True, decided_by="agent:priya"))
    assert WIPED == ["NW-L-0231"] and done.reply == "Your laptop has been wiped."
    assert context.approvals[needed.data["approval"]].status == "approved"
    assert context.audit[-1] == {
        "tool": "remote_wipe",
        "arguments": {"device_id": "NW-L-0231"},
        "outcome": "ok",
        "result": "NW-L-0231 wiped",
        "approved_by": "agent:priya",
        "risk": "destructive",
        "vendor_requests": [],
    }


def test_denied_approval_never_runs_the_tool() -> None:
    run, model = runner(call("remote_wipe", device_id="NW-L-0231"), say("Security declined the wipe."))
    context = ctx(verified=True)
    paused = asyncio.run(run.run("security", "wipe it", context))
    with pytest.raises(ConfigError, match="waiting for an approval"):
        asyncio.run(run.run("security", "hello?", context, paused.state))
    done = asyncio.run(run.resume(paused.state, context, approved=False, decided_by="agent:sam", reason="device found"))
    assert WIPED == [] and done.reply == "Security declined the wipe."
    assert "DENIED by agent:sam: device found" in model.requests[-1].messages[-1].content


def test_handoff_routes_to_the_specialist() -> None:
    run, model = runner(
        call("transfer_to_security", reason="locked account"),
        call("account_status", username="j.okafor"),
        say("It is locked."),
    )
    result = asyncio.run(run.run("triage", "am I locked out?", ctx()))
    assert result.state.agent == "security"
    routed = next(e for e in result.events if e.kind == "routed")
    assert routed.agent == "security" and routed.data["source"] == "triage"
    assert {t.name for t in model.requests[0].tools} == {"transfer_to_security"}
    assert "account_status" in {t.name for t in model.requests[1].tools}


def test_retry_then_give_up_on_bad_arguments() -> None:
    run, _model = runner(
        call("flaky", n="x"), call("flaky", n="y"), call("flaky", n="z"), say("Sorry, I could not do that."),
        max_tool_retries=2,
    )  # fmt: skip
    result = asyncio.run(run.run("security", "double x", ctx()))
    contents = [m.content for m in result.state.messages if m.role == "tool"]
    assert contents[0].startswith("RETRY") and contents[1].startswith("RETRY") and contents[2].startswith("FAILED")


def test_tool_failures_are_told_plainly_and_the_run_goes_on() -> None:
    run, _model = runner(
        call("account_status", username="nobody"),
        call("flaky", n=13),
        call("nope"),
        say("I couldn't find that account."),
    )
    result = asyncio.run(run.run("security", "check nobody", ctx()))
    tool_messages = [m.content for m in result.state.messages if m.role == "tool"]
    assert tool_messages[0] == "FAILED: there is no account 'nobody'"
    assert "internal error (RuntimeError)" in tool_messages[1]
    assert tool_messages[2].startswith("Unknown tool 'nope'. Available tools: account_status")
    assert result.status == "done"


def test_turn_limit_hands_over_to_a_human() -> None:
    run, _ = runner(*[call("flaky", n=i) for i in range(3)], max_turns=3)
    result = asyncio.run(run.run("security", "loop forever", ctx()))
    assert result.status == "failed" and "service desk team" in result.reply


def test_guardrail_stops_the_turn_before_the_model() -> None:
    def too_long(context: RunContext, text: str) -> GuardrailResult:
        return GuardrailResult(len(text) > 20, "That message is too long for me.")

    guarded = Agent("security", "x", tools=[account_status], guardrails=[Guardrail("length", too_long)])
    model = ScriptedModel([])
    result = asyncio.run(Runner({"security": guarded}, model).run("security", "x" * 50, ctx()))
    assert result.reply == "That message is too long for me." and model.requests == []


def test_stream_yields_events_in_order() -> None:
    run, _ = runner(call("account_status", username="j.okafor"), say("Locked."))

    async def collect() -> list[str]:
        return [e.kind async for e in run.stream("security", "status?", ctx()) if e.kind != "model_call"]

    kinds = asyncio.run(collect())
    tokens = kinds.count("token")
    assert tokens >= 1 and kinds == ["tool_started", "tool_finished", *["token"] * tokens, "message", "done"]


def test_model_chooser_per_agent() -> None:
    chosen: list[str] = []

    def pick(agent: Agent) -> ScriptedModel:
        chosen.append(agent.name)
        return ScriptedModel([lambda request: ModelResponse(text=f"{len(request.tools)} tools")])

    result = asyncio.run(Runner({"security": SECURITY}, pick).run("security", "hi", ctx()))
    assert chosen == ["security"] and result.reply == "5 tools"


def test_unknown_agent_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="No agent named 'hr'"):
        asyncio.run(runner()[0].run("hr", "hi", ctx()))


def test_scripted_model_runs_out() -> None:
    with pytest.raises(AssertionError, match="ran out of turns"):
        asyncio.run(ScriptedModel([]).complete(ChatRequest(())))
    assert ToolCall("1", "x", {}).arguments == {}


@pytest.mark.parametrize(
    ("error", "outcome_text", "data"),
    [
        (  # the directory's own refusal says what to do instead: told as it is
            DirectoryError("Entra ID lifts this lockout on its own at 11:42 UTC."),
            "Entra ID lifts this lockout on its own at 11:42 UTC.",
            None,
        ),
        (  # a vendor that is down: an internal error, named for the desk and the ticket
            BackendUnavailableError("Okta", "https://x.okta.com", "directory.okta.org_url", "HTTP 503"),
            "internal error (BackendUnavailableError)",
            {"internal_error": "BackendUnavailableError", "unavailable": "Okta"},
        ),
        (  # an unknown key's hint names internal calls: never shown as it is
            PersonNotFoundError("x.nobody"),
            "internal error (PersonNotFoundError)",
            {"internal_error": "PersonNotFoundError"},
        ),
    ],
)
def test_backend_errors_become_outcomes(error: Exception, outcome_text: str, data: dict[str, str] | None) -> None:
    @tool(risk="write")
    def breaks() -> str:
        """Always fails."""
        raise error

    agent = Agent("security", "You handle accounts.", tools=[breaks])
    run = Runner({"security": agent}, ScriptedModel([call("breaks"), say("Sorry.")]))
    result = asyncio.run(run.run("security", "go", ctx(verified=True)))
    finished = next(e for e in result.events if e.kind == "tool_finished")
    assert finished.data["ok"] is False and outcome_text in finished.data["error"]
    if data is None:
        assert finished.data["data"] is None
    else:
        assert data.items() <= finished.data["data"].items()
        assert finished.data["data"]["detail"] == str(error)  # for the admin's work note, not for the model
        assert str(error) not in finished.data["error"]
