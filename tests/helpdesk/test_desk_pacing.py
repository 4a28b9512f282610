"""The helpdesk's side of streaming and budgets: a slow turn's holding message is streamed and stored, the
ticket records what happened, tokens go out but are never stored, and a model's words stop streaming once
the desk will write the reply itself."""

from __future__ import annotations

import asyncio
from typing import Any

from firstline.helpdesk.pacing import TurnBudgets, holding_text
from firstline.llm.openai_compat import OpenAICompatModel
from firstline.testing.helpdesk import HelpdeskWorld
from firstline.testing.openai_server import FakeOpenAIServer, Turn
from firstline.ticketing import EntryKind

RUBY = "ruby.chen@nwmeridian.co.uk"


def ask(world: HelpdeskWorld, script: list[Turn], budgets: TurnBudgets | None = None) -> tuple[Any, Any, list]:
    streamed: list[dict[str, Any]] = []
    with FakeOpenAIServer(script, default=Turn(text="unused")) as server:
        model = OpenAICompatModel("m", base_url=server.url, name="llm")
        desk, _ = world.desk(engine=model, budgets=budgets)
        reply = asyncio.run(
            desk.ask("I'm locked out of my account", requester=RUBY, channel="web", on_event=streamed.append)
        )
    return desk, reply, streamed


def test_a_slow_turn_holds_at_once_and_the_ticket_says_what_happened(helpdesk_world: HelpdeskWorld) -> None:
    script = [
        Turn(text="I can help: shall I send a code to your phone?", delay_s=0.6),
    ]
    desk, reply, streamed = ask(helpdesk_world, script, TurnBudgets({"default": 0.2}, limit_factor=20))
    assert reply.status == "done" and reply.engine == "llm"  # slow, not dropped: the hard limit is 4 s
    holding = [e for e in streamed if e["kind"] == "holding"]
    assert len(holding) == 1 and "taking a little longer" in holding[0]["text"]
    assert reply.ticket is not None
    order = [e["kind"] for e in streamed]
    assert order.index("holding") < order.index("token") < order.index("message")
    stored = [e.kind for e in desk.conversations.events(reply.conversation_id)]
    assert "holding" in stored and "turn_budget" in stored
    assert "token" not in stored  # tokens stream out; the reply is stored whole
    budget = next(e for e in desk.conversations.events(reply.conversation_id) if e.kind == "turn_budget").data
    assert budget["channel"] == "web" and budget["budget_s"] == 0.2 and budget["elapsed_ms"] >= 600
    notes = [e.body for e in desk.tickets.history(reply.ticket["number"]) if e.kind == EntryKind.WORK_NOTE]
    assert any(n.startswith("Reply took") and "0.2 s budget of the web channel" in n for n in notes), notes


def test_a_quick_turn_leaves_no_budget_record(helpdesk_world: HelpdeskWorld) -> None:
    script = [
        Turn(text="I can help: shall I send a code to your phone?"),
    ]
    desk, reply, streamed = ask(helpdesk_world, script)
    assert "holding" not in [e["kind"] for e in streamed]
    assert "turn_budget" not in [e.kind for e in desk.conversations.events(reply.conversation_id)]
    tokens = "".join(e["text"] for e in streamed if e["kind"] == "token")
    assert tokens.strip() == "I can help: shall I send a code to your phone?"


def test_a_models_claim_after_a_refusal_never_streams(helpdesk_world: HelpdeskWorld) -> None:
    script = [
        Turn(text="Let me unlock that.", tool_calls=[("unlock_account", {})]),  # not verified: refused
        Turn(text="Done! Your account is unlocked."),
    ]
    desk, reply, streamed = ask(helpdesk_world, script)
    kinds = [e["kind"] for e in streamed]
    streamed_text = "".join(e["text"] for e in streamed if e["kind"] == "token")
    assert "Let me unlock" in streamed_text and "Done!" not in streamed_text
    last_token = len(kinds) - 1 - kinds[::-1].index("token")
    assert last_token < kinds.index("token_reset") <= kinds.index("tool_refused")  # that draft is withdrawn
    assert "unlocked" not in reply.reply.lower().replace("unlock it", "")  # the desk wrote the reply: facts only
    assert desk.directory.account("r.chen").locked is True


def test_the_holding_message_names_the_ticket_and_what_is_going_on() -> None:
    assert "INC0000042" in holding_text("INC0000042") and "working on your account" in holding_text(
        None, "unlock_account"
    )
    assert "logged as" not in holding_text(None)


def test_each_channel_has_its_budget_and_a_hard_limit() -> None:
    budgets = TurnBudgets({"default": 2.0, "email": 5.0}, limit_factor=3)
    web, email = budgets.start("web"), budgets.start("email")
    assert (web.soft_s, web.hard_s, email.soft_s, email.hard_s) == (2.0, 6.0, 5.0, 15.0)
