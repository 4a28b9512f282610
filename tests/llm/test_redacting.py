"""What leaves for a model: secrets never; e-mail addresses and phone numbers only where allowed."""

from __future__ import annotations

import asyncio

from firstline.assembly import masks_personal
from firstline.llm.messages import ChatRequest, Message, ToolCall
from firstline.llm.redacting import RedactingModel
from firstline.llm.testing import ScriptedModel, say
from firstline.settings import EndpointSettings, Settings


def _sent(personal: bool) -> list[Message]:
    inner = ScriptedModel([say("ok")])
    model = RedactingModel(inner, personal=personal)
    request = ChatRequest(
        (
            Message("system", "requester: ruby.chen@nwmeridian.co.uk, mobile 07700 900606"),
            Message("user", "my new password is Summer2026! and my card 4111 1111 1111 1111"),
            Message("assistant", tool_calls=(ToolCall("c1", "add_ticket_note", {"note": "pwd: hunter2x"}),)),
        )
    )
    reply = asyncio.run(model.complete(request))
    assert reply.text == "ok" and model.name == inner.name
    return list(inner.requests[-1].messages)


def test_secrets_never_reach_a_model() -> None:
    system, user, assistant = _sent(personal=False)
    assert "Summer2026" not in user.content and "4111" not in user.content and "[password]" in user.content
    assert assistant.tool_calls[0].arguments == {"note": "pwd: [password]"}
    assert "ruby.chen@nwmeridian.co.uk" in system.content  # personal data goes where the deployment allows it


def test_personal_data_is_masked_for_providers_set_so() -> None:
    system, _, _ = _sent(personal=True)
    assert "ruby.chen@" not in system.content and "900606" not in system.content
    assert "[email]" in system.content and "[phone]" in system.content


def test_hosted_means_anything_off_this_machine_and_private_networks() -> None:
    settings = Settings(security={"redact_personal_for": ["hosted"]})
    local = EndpointSettings(base_url="http://127.0.0.1:8080/v1", model="m")
    private = EndpointSettings(base_url="http://10.1.2.3:8000/v1", model="m")
    hosted = EndpointSettings(base_url="https://api.example.com/v1", model="m")
    assert [masks_personal(settings, "x", e) for e in (local, private, hosted)] == [False, False, True]
    named = Settings(security={"redact_personal_for": ["together"]})
    assert masks_personal(named, "together", local) and not masks_personal(named, "other", hosted)
