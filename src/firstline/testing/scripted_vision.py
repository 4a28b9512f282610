"""``ScriptedComputer``: a vision ``ChatModel`` that plays back computer actions, for tests and docs.

Each request gets the next step of the script: an action (a dict such as ``click(412, 230)``, answered
as a ``computer`` tool call), a text (the final answer, e.g. ``"CALL-000124"``), a whole ``ModelResponse``
(text beside several calls, say), or a function of the request that returns one of those, for a script
that decides by what it was shown. With ``repeat_last`` the last step answers every request after the
script ends (a model that never finishes). Every request is kept in ``requests``, so a test can check
that each one carried a screenshot and offered the tool.

Step functions run on the thread that calls the model (``ComputerUse`` uses a worker thread of its own),
so they must not drive a Playwright page: work out coordinates (``locator.bounding_box()``) before the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from firstline.llm.messages import ChatRequest, Image, ModelResponse, StreamItem, ToolCall
from firstline.llm.vision import COMPUTER

__all__ = ["ScriptedComputer", "Step", "click", "done", "key", "latest_image", "scroll", "type_text", "wait"]

Action = dict[str, Any]
Step = Action | str | ModelResponse | Callable[[ChatRequest], "Action | str | ModelResponse"]


def click(x: float, y: float, action: str = "left_click") -> Action:
    """Click at ``(x, y)`` (rounded to whole pixels); ``action`` may be ``double_click`` and the like."""
    return {"action": action, "coordinate": [round(x), round(y)]}


def type_text(text: str) -> Action:
    return {"action": "type", "text": text}


def key(text: str) -> Action:
    """Press a key or combination, in the computer tool's names: ``Return``, ``Tab``, ``ctrl+a``."""
    return {"action": "key", "text": text}


def scroll(direction: str = "down", amount: int = 3, at: tuple[int, int] | None = None) -> Action:
    action: Action = {"action": "scroll", "scroll_direction": direction, "scroll_amount": amount}
    return action | ({"coordinate": list(at)} if at is not None else {})


def wait(seconds: float = 1.0) -> Action:
    return {"action": "wait", "duration": seconds}


def done(text: str) -> Action:
    """Finish with ``text`` as the result, through the tool (the other way is a plain text answer)."""
    return {"action": "done", "text": text}


def latest_image(request: ChatRequest) -> Image | None:
    """The newest picture in a request (the screenshot the model is meant to look at)."""
    return next((m.images[-1] for m in reversed(request.messages) if m.images), None)


class ScriptedComputer:
    """Answers each request with the next scripted step (see the module docstring). Running out of steps
    (without ``repeat_last``) is an ``AssertionError``: the test scripted fewer steps than the run needed."""

    name = "scripted-computer"

    def __init__(self, steps: Sequence[Step], *, repeat_last: bool = False, thought: str = "") -> None:
        self.steps = list(steps)
        self.repeat_last = repeat_last
        self.thought = thought  # text said beside each action, as models often do
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> ModelResponse:
        self.requests.append(request)
        if not self.steps:
            raise AssertionError(f"ScriptedComputer ran out of steps after {len(self.requests) - 1} requests")
        step = self.steps[0] if self.repeat_last and len(self.steps) == 1 else self.steps.pop(0)
        answer = step(request) if callable(step) else step
        if isinstance(answer, ModelResponse):
            return answer
        if isinstance(answer, str):
            return ModelResponse(text=answer, model=self.name)
        call = ToolCall(f"call_{len(self.requests)}", COMPUTER, dict(answer))
        return ModelResponse(text=self.thought, tool_calls=(call,), model=self.name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        response = await self.complete(request)
        if response.text:
            yield response.text
        yield response
