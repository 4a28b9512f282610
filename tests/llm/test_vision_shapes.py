"""Screenshots and the computer-use tool on the wire: the OpenAI-compatible and the Anthropic shapes, checked
over real HTTP against the fake servers, and the model's computer actions read back as ``ToolCall``s."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from firstline.llm.anthropic import AnthropicModel
from firstline.llm.anthropic_wire import to_anthropic_messages
from firstline.llm.messages import ChatRequest, ComputerTool, Image, Message, ModelResponse, ToolCall
from firstline.llm.openai_compat import OpenAICompatModel, to_openai_messages
from firstline.llm.pool import ModelIO
from firstline.llm.redacting import RedactingModel
from firstline.llm.vision import computer_schema, read_action
from firstline.testing.anthropic_server import FakeAnthropicServer
from firstline.testing.anthropic_server import Turn as ClaudeTurn
from firstline.testing.chat_models import UNLOCK
from firstline.testing.openai_server import FakeOpenAIServer
from firstline.testing.openai_server import Turn as OpenAITurn
from firstline.testing.scripted_vision import ScriptedComputer
from firstline.testing.vision_checks import check_anthropic_vision, check_openai_vision

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
SHOT = Image("image/png", PNG)
SCREEN = ComputerTool(1024, 768)
CLICK = {"action": "left_click", "coordinate": [412, 230]}
KEY = "sk-ant-test"


def screen_history() -> tuple[Message, ...]:
    """A computer-use conversation: the task with a screenshot, one action, its result with a new screenshot."""
    return (
        Message("system", "You operate a browser."),
        Message("user", "Task: log a call.", images=(SHOT,)),
        Message("assistant", "Clicking the name field.", (ToolCall("call_1", "computer", CLICK),)),
        Message("tool", "Did left_click.", tool_call_id="call_1", name="computer", images=(SHOT,)),
    )


@pytest.fixture
def io() -> Iterator[ModelIO]:
    io = ModelIO()
    yield io
    io.close()


def collect(model: Any, request: ChatRequest) -> ModelResponse:
    async def run() -> ModelResponse:
        final = None
        async for item in model.stream(request):
            final = item
        assert isinstance(final, ModelResponse)
        return final

    return asyncio.run(run())


# -- the vocabulary ------------------------------------------------------------------------------------


def test_images_round_trip_through_dicts_and_are_absent_when_there_are_none() -> None:
    message = Message("tool", "Did left_click.", tool_call_id="c1", images=(SHOT,))
    assert message.as_dict()["images"] == [{"media_type": "image/png", "data": PNG}]
    assert Message.from_dict(message.as_dict()) == message
    assert "images" not in Message("user", "hi").as_dict()
    assert SHOT.data_url() == f"data:image/png;base64,{PNG}"


def test_redaction_keeps_the_screenshots() -> None:
    request = ChatRequest(screen_history(), computer=SCREEN)
    sent = RedactingModel(ScriptedComputer([])).request(request)
    assert [m.images for m in sent.messages] == [m.images for m in request.messages]
    assert sent.computer == SCREEN


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"action": "click", "x": 10.4, "y": "20"}, {"action": "left_click", "coordinate": [10, 20]}),
        ({"action": "Left_Click", "coordinate": "[412, 230]"}, {"action": "left_click", "coordinate": [412, 230]}),
        ({"action": "left_click", "coordinate": "(5, 6)"}, {"action": "left_click", "coordinate": [5, 6]}),
        ({"action": "scroll", "scroll_amount": "3"}, {"action": "scroll", "scroll_amount": 3}),
        ({"action": "left_click", "coordinate": "nowhere"}, {"action": "left_click", "coordinate": "nowhere"}),
    ],
)
def test_read_action_tidies_what_small_models_send(given: dict[str, Any], expected: dict[str, Any]) -> None:
    assert read_action(given) == expected


# -- OpenAI-compatible ---------------------------------------------------------------------------------


def test_openai_images_are_content_parts_and_tool_screenshots_follow_in_a_user_message() -> None:
    wire = to_openai_messages(
        [
            *screen_history()[:3],
            Message("assistant", "", (ToolCall("call_1", "computer", CLICK), ToolCall("call_2", "computer", CLICK))),
            Message("tool", "Did left_click.", tool_call_id="call_1", images=(SHOT,)),
            Message("tool", "Did it again.", tool_call_id="call_2", images=(SHOT,)),
        ]
    )
    url = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    assert wire[1] == {"role": "user", "content": [{"type": "text", "text": "Task: log a call."}, url]}
    assert [m["role"] for m in wire] == ["system", "user", "assistant", "assistant", "tool", "tool", "user"]
    assert wire[4]["content"] == "Did left_click." and wire[5]["content"] == "Did it again."
    assert wire[6]["content"] == [
        {"type": "text", "text": "Screenshot after tool call call_1:"},
        url,
        {"type": "text", "text": "Screenshot after tool call call_2:"},
        url,
    ]
    assert check_openai_vision({"messages": wire}) == ""


def test_openai_request_without_images_or_computer_is_unchanged() -> None:
    model = OpenAICompatModel("m", base_url="http://127.0.0.1:1/v1")
    plain = ChatRequest((Message("system", "s"), Message("user", "hi")), (UNLOCK,))
    body = model.body(plain)
    assert body["messages"] == [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]
    assert [t["function"]["name"] for t in body["tools"]] == ["unlock_account"]
    assert "tools" not in model.body(ChatRequest((Message("user", "hi"),)))


def test_openai_offers_a_computer_function_and_reads_the_action_back() -> None:
    with FakeOpenAIServer(script=[OpenAITurn(tool_calls=[("computer", CLICK)])]) as fake:
        model = OpenAICompatModel("vision-model", base_url=fake.url)
        response = asyncio.run(model.complete(ChatRequest(screen_history(), (UNLOCK,), computer=SCREEN)))
    assert fake.violations == []
    assert response.tool_calls == (ToolCall("call_0", "computer", CLICK),)
    body = fake.requests[0]
    computer = body["tools"][-1]
    assert [t["function"]["name"] for t in body["tools"]] == ["unlock_account", "computer"]
    assert computer["type"] == "function" and computer["function"]["parameters"] == computer_schema(SCREEN)
    assert "1024x768" in computer["function"]["description"]
    assert body["tool_choice"] == "auto"
    assert body["messages"][-1]["role"] == "user" and body["messages"][-2]["role"] == "tool"
    assert body["messages"][-1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_openai_streams_a_computer_action() -> None:
    with FakeOpenAIServer(script=[OpenAITurn(text="On it.", tool_calls=[("computer", CLICK)])]) as fake:
        model = OpenAICompatModel("vision-model", base_url=fake.url)
        final = collect(model, ChatRequest(screen_history(), computer=SCREEN))
    assert fake.violations == []
    assert final.text == "On it." and final.tool_calls[0].name == "computer"
    assert final.tool_calls[0].arguments == CLICK
    assert [t["function"]["name"] for t in fake.requests[0]["tools"]] == ["computer"]


def test_the_openai_fake_rejects_malformed_image_parts() -> None:
    def body(role: str, url: str) -> dict[str, Any]:
        return {"messages": [{"role": role, "content": [{"type": "image_url", "image_url": {"url": url}}]}]}

    assert check_openai_vision(body("user", f"data:image/png;base64,{PNG}")) == ""
    assert check_openai_vision(body("user", "https://example.com/shot.png")) == ""
    assert "only valid in user messages" in check_openai_vision(body("system", f"data:image/png;base64,{PNG}"))
    assert "data URL" in check_openai_vision(body("user", "data:image/png;base64,not base64!"))
    assert "data URL" in check_openai_vision(body("user", f"data:text/plain;base64,{PNG}"))
    assert "unknown content part" in check_openai_vision({"messages": [{"role": "user", "content": [{"x": 1}]}]})


# -- Anthropic -----------------------------------------------------------------------------------------


def claude(server: FakeAnthropicServer, io: ModelIO, **options: Any) -> AnthropicModel:
    return AnthropicModel("claude-sonnet-4-5", base_url=server.url, api_key=KEY, io=io, **options)


def test_anthropic_images_are_blocks_in_user_messages_and_tool_results() -> None:
    system, wire = to_anthropic_messages(screen_history())
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    assert system == [{"type": "text", "text": "You operate a browser."}]
    assert wire[0] == {"role": "user", "content": [{"type": "text", "text": "Task: log a call."}, image]}
    assert wire[2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "call_1",
            "content": [{"type": "text", "text": "Did left_click."}, image],
        }
    ]
    assert FakeAnthropicServer._check_messages(wire) == ""
    assert check_anthropic_vision({}, {"messages": wire}) == ""


def test_a_stray_screenshot_result_keeps_its_image_as_a_user_block() -> None:
    _, wire = to_anthropic_messages(
        [Message("user", "go"), Message("tool", "late", tool_call_id="gone", images=(SHOT,))]
    )
    assert [b["type"] for b in wire[0]["content"]] == ["text", "text", "text", "image"]
    assert wire[0]["content"][2]["text"] == "late"


def test_anthropic_computer_tool_and_beta_header() -> None:
    model = AnthropicModel("claude-sonnet-4-5", base_url="http://127.0.0.1:1", api_key=KEY)
    request = ChatRequest(screen_history(), (UNLOCK,), computer=SCREEN)
    body = model.body(request)
    assert body["tools"][0] == {
        "type": "computer_20250124", "name": "computer", "display_width_px": 1024, "display_height_px": 768,
    }  # fmt: skip
    assert body["tools"][1]["name"] == "unlock_account" and body["tools"][1]["cache_control"] == {"type": "ephemeral"}
    assert model.headers(request) == {"anthropic-beta": "computer-use-2025-01-24"}
    assert model.headers(ChatRequest(screen_history())) == {}
    only = model.body(ChatRequest(screen_history(), computer=SCREEN))["tools"]
    assert only[0]["type"] == "computer_20250124" and only[0]["cache_control"] == {"type": "ephemeral"}
    newer = AnthropicModel(
        "claude-opus-4-5", base_url="http://127.0.0.1:1", api_key=KEY, computer_tool="computer_20251124"
    )
    assert newer.headers(request) == {"anthropic-beta": "computer-use-2025-11-24"}
    with pytest.raises(ValueError, match="computer_tool must be one of"):
        AnthropicModel("claude", api_key=KEY, computer_tool="computer_1999")


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_computer_use_over_http(io: ModelIO, stream: bool) -> None:
    with FakeAnthropicServer(
        api_key=KEY, script=[ClaudeTurn(text="Clicking.", tool_calls=[("computer", CLICK)])]
    ) as fake:
        model = claude(fake, io)
        request = ChatRequest(screen_history(), computer=SCREEN)
        response = collect(model, request) if stream else asyncio.run(model.complete(request))
    assert fake.violations == []
    assert fake.headers[0]["anthropic-beta"] == "computer-use-2025-01-24"
    assert fake.requests[0]["tools"][0]["type"] == "computer_20250124"
    assert response.text == "Clicking."
    assert response.tool_calls == (ToolCall("toolu_1_0", "computer", CLICK),)
    result = fake.requests[0]["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["content"][1]["type"] == "image"


def test_plain_anthropic_requests_send_no_beta_header(io: ModelIO) -> None:
    with FakeAnthropicServer(api_key=KEY) as fake:
        asyncio.run(claude(fake, io).complete(ChatRequest((Message("user", "hi"),))))
    assert fake.violations == [] and "anthropic-beta" not in fake.headers[0]
    assert "computer" not in json.dumps(fake.requests[0])


def test_the_anthropic_fake_rejects_what_the_api_would() -> None:
    tool = {"type": "computer_20250124", "name": "computer", "display_width_px": 1024, "display_height_px": 768}
    beta = {"anthropic-beta": "computer-use-2025-01-24"}
    assert check_anthropic_vision(beta, {"tools": [tool]}) == ""
    assert "needs the header anthropic-beta" in check_anthropic_vision({}, {"tools": [tool]})
    assert "positive integer" in check_anthropic_vision(beta, {"tools": [{**tool, "display_width_px": "wide"}]})
    assert "must be named 'computer'" in check_anthropic_vision(beta, {"tools": [{**tool, "name": "screen"}]})
    assert "unknown tool type" in check_anthropic_vision(beta, {"tools": [{**tool, "type": "computer_1999"}]})
    bad = {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": PNG}}
    message = {"role": "user", "content": [bad]}
    assert "media_type" in check_anthropic_vision({}, {"messages": [message]})
    nested = {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "document"}]}
    assert "cannot hold a 'document'" in check_anthropic_vision(
        {}, {"messages": [{"role": "user", "content": [nested]}]}
    )
