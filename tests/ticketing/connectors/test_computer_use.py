"""ComputerUse in Chromium on an old-fashioned call-logging form served on 127.0.0.1: a scripted vision model
(and the real model adapters against the fake APIs) fills it in from element boxes, with evidence per step.

Without /usr/bin/chromium the tests skip, except in CI (``CI=true``), where they must run.
"""

from __future__ import annotations

import json
import os
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from firstline.agents.computer_use import ComputerUse, ComputerUseResult
from firstline.llm.anthropic import AnthropicModel
from firstline.llm.messages import ChatModel, ChatRequest, ComputerTool, ModelResponse, ToolCall
from firstline.llm.openai_compat import OpenAICompatModel
from firstline.llm.pool import ModelIO
from firstline.testing.anthropic_server import FakeAnthropicServer
from firstline.testing.anthropic_server import Turn as ClaudeTurn
from firstline.testing.browser import CHROMIUM, CHROMIUM_ARGS
from firstline.testing.openai_server import FakeOpenAIServer
from firstline.testing.openai_server import Turn as OpenAITurn
from firstline.testing.scripted_vision import ScriptedComputer, click, done, key, latest_image, type_text, wait
from firstline.ticketing.connectors.webform.connector import FallbackResult

pytestmark = pytest.mark.live

FORM = """<html><head><title>HelpDesk 2003 - Log Call</title></head>
<body bgcolor="#d4d0c8"><font face="Tahoma" size="2">
<h3>Log a new call</h3>
<form method="post" action="/log">
<table border="1" cellpadding="4">
<tr><td><label for="caller">Caller</label></td><td><input id="caller" name="caller" size="30"></td></tr>
<tr><td><label for="ext">Extension</label></td><td><input id="ext" name="ext" size="6"></td></tr>
<tr><td><label for="summary">Summary</label></td>
<td><textarea id="summary" name="summary" rows="3" cols="40"></textarea></td></tr>
<tr><td><label for="pin">Agent PIN</label></td><td><input id="pin" name="pin" type="password" size="8"></td></tr>
</table>
<p><input id="submit" type="submit" value="Log Call"></p>
</form></font></body></html>"""
DONE = """<html><head><title>HelpDesk 2003</title></head><body bgcolor="#d4d0c8">
<p><b>Call logged: CALL-000124</b></p></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    server: _Desk

    def do_GET(self) -> None:
        self._send(FORM)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0)).decode()
        self.server.posts.append({k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()})
        self._send(DONE)

    def _send(self, html: str) -> None:
        data = html.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Desk(ThreadingHTTPServer):
    daemon_threads = True
    posts: list[dict[str, str]]


@pytest.fixture(scope="module")
def desk() -> Iterator[_Desk]:
    server = _Desk(("127.0.0.1", 0), _Handler)
    server.posts = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: browser tests must run)")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, desk: _Desk) -> Iterator[Any]:
    desk.posts.clear()
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    context.set_default_timeout(10_000)
    page = context.new_page()
    host, port = desk.server_address[:2]
    page.goto(f"http://{host!s}:{port}/")
    yield page
    context.close()


def centre(page: Any, selector: str) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def log_lines(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "actions.jsonl").read_text().splitlines()]


def fill_the_form(page: Any) -> list[Any]:
    """The actions a person would take, at the centres of the fields (Tab from Caller to Extension)."""
    return [
        click(*centre(page, "#caller")),
        type_text("Robin Chen"),
        key("Tab"),
        type_text("4471"),
        click(*centre(page, "#summary")),
        type_text("Printer on floor 3 jams"),
        click(*centre(page, "#pin")),
        type_text("2468"),
        # A model that says the PIN aloud and asks for two actions at once: only the first is done.
        ModelResponse(
            "PIN 2468 is in; submitting.",
            (ToolCall("c_submit", "computer", click(*centre(page, "#submit"))), ToolCall("c_more", "computer", wait())),
        ),
    ]


def test_a_scripted_model_fills_the_form_and_every_step_is_evidence(page: Any, desk: _Desk, tmp_path: Path) -> None:
    model = ScriptedComputer([*fill_the_form(page), "CALL-000124"], thought="Next field.")
    result = ComputerUse(model, max_steps=15)(page, "Log a call for Robin Chen, ext 4471: printer jams", tmp_path)

    assert result == ComputerUseResult(True, "CALL-000124", 9, result.evidence)
    assert isinstance(result, FallbackResult)  # so a ComputerUse is the web-form connector's fallback
    assert desk.posts == [{"caller": "Robin Chen", "ext": "4471", "summary": "Printer on floor 3 jams", "pin": "2468"}]
    assert "Call logged: CALL-000124" in page.content()
    # Each request showed the model exactly one screenshot (the latest) and offered the computer tool.
    assert len(model.requests) == 10
    for request in model.requests:
        assert request.computer == ComputerTool(1024, 768)
        assert latest_image(request) is not None
        assert sum(len(m.images) for m in request.messages) == 1
    assert "Task: Log a call for Robin Chen" in model.requests[0].messages[1].content
    # Evidence: a screenshot before the first step and after each, and one log line per step plus the answer.
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[:3] == ["00-start.png", "01-left_click.png", "02-type.png"] and "09-left_click.png" in names
    assert {p.name for p in result.evidence} == set(names)
    assert all(png_size(p) == (1024, 768) for p in tmp_path.glob("*.png"))
    lines = log_lines(tmp_path)
    assert [line["step"] for line in lines] == [*range(1, 10), 9]
    assert [line["action"] for line in lines][:4] == ["left_click", "type", "key", "type"]
    assert all(line["outcome"].startswith("ok") and line["time"] for line in lines[:-1])
    assert lines[-1] == {**lines[-1], "action": "answer", "outcome": "finished", "said": "CALL-000124"}
    # The PIN never went back to the model, nor into the evidence log.
    assert "2468" not in (tmp_path / "actions.jsonl").read_text()
    assert lines[7]["args"] == {"text": "[4 characters typed into a password field]"}
    for request in model.requests:
        echoed = json.dumps([c.arguments for m in request.messages for c in m.tool_calls])
        assert "2468" not in echoed and all("2468" not in m.content for m in request.messages)
    assert "Robin Chen" in json.dumps([c.arguments for m in model.requests[-1].messages for c in m.tool_calls])
    said, *results = model.requests[-1].messages[-3:]
    assert said.content == "PIN [password] is in; submitting." and lines[8]["said"] == said.content
    assert [c.id for c in said.tool_calls] == ["c_submit", "c_more"]
    assert results[0].content.startswith("Did left_click at [") and results[0].images
    assert results[1].content == "Not run: one action per turn." and not results[1].images


def test_max_steps_stops_a_model_that_never_finishes(page: Any, tmp_path: Path) -> None:
    model = ScriptedComputer([wait(0)], repeat_last=True)
    result = ComputerUse(model, max_steps=3).run(page, "Log a call", tmp_path)

    assert not result.ok and result.steps == 3
    assert "no answer after 3 actions (max_steps)" in result.result_text
    assert len(model.requests) == 4  # three actions, then one last chance to answer
    assert "last action allowed" in model.requests[-1].messages[-1].content
    lines = log_lines(tmp_path)
    assert [line["action"] for line in lines] == ["wait", "wait", "wait", "gave_up"]
    assert lines[-1]["outcome"] == "failed"


def test_a_second_run_into_the_same_folder_keeps_the_first_runs_evidence(page: Any, tmp_path: Path) -> None:
    first = ComputerUse(ScriptedComputer([wait(0)], repeat_last=True), max_steps=1).run(page, "Log a call", tmp_path)
    kept = {p.name: p.read_bytes() for p in tmp_path.glob("*.png")}
    second = ComputerUse(ScriptedComputer([wait(0)], repeat_last=True), max_steps=1).run(page, "Log a call", tmp_path)
    assert {p.name for p in first.evidence if p.suffix == ".png"} == {"00-start.png", "01-wait.png"}
    assert {p.name for p in second.evidence if p.suffix == ".png"} == {"r2-00-start.png", "r2-01-wait.png"}
    assert {name: (tmp_path / name).read_bytes() for name in kept} == kept  # nothing overwritten
    lines = log_lines(tmp_path)
    assert [line["run"] for line in lines] == ["r1"] * 2 + ["r2"] * 2
    assert [line.get("screenshot") for line in lines] == ["01-wait.png", None, "r2-01-wait.png", None]


def test_off_screen_clicks_and_unknown_actions_are_refused_and_count(page: Any, desk: _Desk, tmp_path: Path) -> None:
    def check_told(request: ChatRequest) -> str:
        told = request.messages[-1].content
        assert told.startswith("Refused: unknown action 'teleport'"), told
        return "FAILED: the form is out of reach"

    model = ScriptedComputer([click(1500, 20), {"action": "teleport", "coordinate": [5, 5]}, check_told])
    result = ComputerUse(model).run(page, "Log a call", tmp_path)

    assert result == ComputerUseResult(False, "FAILED: the form is out of reach", 2, result.evidence)
    assert model.requests[1].messages[-1].content == "Refused: [1500, 20] is outside the 1024x768 screen"
    assert [line["outcome"].split(":")[0] for line in log_lines(tmp_path)] == ["refused", "refused", "failed"]
    assert desk.posts == []
    assert (tmp_path / "01-left_click.png").exists() and (tmp_path / "02-teleport.png").exists()


def test_the_done_action_scrolling_and_bad_fields(page: Any, tmp_path: Path) -> None:
    model = ScriptedComputer(
        [
            {"action": "scroll", "scroll_direction": "down", "scroll_amount": 2, "coordinate": [500, 400]},
            {"action": "scroll", "scroll_direction": "sideways"},
            {"action": "wait", "duration": 60},
            {"action": "key", "text": "ctrl+a"},
            done("CALL-000777"),
        ]
    )
    result = ComputerUse(model, display=(800, 600)).run(page, "Look around", tmp_path)

    assert result.ok and result.result_text == "CALL-000777" and result.steps == 4
    assert page.viewport_size == {"width": 1024, "height": 768}  # put back after the run
    outcomes = [line["outcome"] for line in log_lines(tmp_path)]
    assert outcomes[0] == "ok: Scrolled down by 2."
    assert outcomes[1].startswith("refused: scroll needs scroll_direction")
    assert outcomes[2].startswith("refused: duration must be")
    assert outcomes[3] == "ok: Pressed ctrl+a."
    assert png_size(tmp_path / "00-start.png") == (800, 600)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_through_the_model_adapters_against_the_fake_apis(
    page: Any, desk: _Desk, tmp_path: Path, provider: str
) -> None:
    """The same run with the real adapters: every request (screenshot, computer tool, tool results) must pass
    the fake API's checks."""
    actions = [click(*centre(page, "#caller")), type_text("Robin Chen"), click(*centre(page, "#submit"))]
    io = ModelIO()
    fake: FakeOpenAIServer | FakeAnthropicServer
    model: ChatModel
    if provider == "openai":
        fake = FakeOpenAIServer(script=[OpenAITurn(tool_calls=[("computer", a)]) for a in actions])
        fake.script.append(OpenAITurn(text="Call logged: CALL-000124"))
        fake.start()
        model = OpenAICompatModel("vision-model", base_url=fake.url, io=io)
    else:
        fake = FakeAnthropicServer(
            api_key="sk-ant-test", script=[ClaudeTurn(tool_calls=[("computer", a)]) for a in actions]
        )
        fake.script.append(ClaudeTurn(text="Call logged: CALL-000124"))
        fake.start()
        model = AnthropicModel("claude-sonnet-4-5", base_url=fake.url, api_key="sk-ant-test", io=io)
    try:
        result = ComputerUse(model).run(page, "Log a call for Robin Chen", tmp_path)
    finally:
        fake.stop()
        io.close()

    assert fake.violations == []
    assert result.ok and result.result_text == "Call logged: CALL-000124" and result.steps == 3
    assert desk.posts == [{"caller": "Robin Chen", "ext": "", "summary": "", "pin": ""}]
    assert len(fake.requests) == 4
    last = json.dumps(fake.requests[-1])
    assert last.count("base64") == 1  # only the newest screenshot
    if isinstance(fake, FakeAnthropicServer):
        assert all(h["anthropic-beta"] == "computer-use-2025-01-24" for h in fake.headers)
        assert fake.requests[-1]["tools"][0]["type"] == "computer_20250124"
    else:
        assert fake.requests[-1]["tools"][0]["function"]["name"] == "computer"


def test_a_failing_model_call_ends_the_run_with_the_reason(page: Any, tmp_path: Path) -> None:
    io = ModelIO()
    with FakeOpenAIServer(script=[OpenAITurn(tool_calls=[("computer", wait(0))]), OpenAITurn(status=400)]) as fake:
        model = OpenAICompatModel("vision-model", base_url=fake.url, io=io)
        result = ComputerUse(model).run(page, "Log a call", tmp_path)
    io.close()

    assert not result.ok and result.steps == 1
    assert result.result_text.startswith("FAILED: the model call failed") and "HTTP 400" in result.result_text
    assert [line["action"] for line in log_lines(tmp_path)] == ["wait", "gave_up"]
