"""``ScriptedModel``: a ``ChatModel`` that plays back prepared turns, for tests and docs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from firstline.llm.messages import ChatRequest, ModelResponse, StreamItem, ToolCall

__all__ = ["ScriptedModel", "call", "say"]

Turn = ModelResponse | Callable[[ChatRequest], ModelResponse]


def say(text: str) -> ModelResponse:
    """A turn that answers with text."""
    return ModelResponse(text=text, model="scripted")


def call(name: str, call_id: str | None = None, /, **arguments: object) -> ModelResponse:
    """A turn that calls one tool."""
    return ModelResponse(tool_calls=(ToolCall(call_id or f"call_{name}", name, dict(arguments)),), model="scripted")


class ScriptedModel:
    """Answers each request with the next scripted turn (a response, or a function of the request).

    Every request is kept in ``requests`` so a test can check what the model was shown. Running
    out of turns is an ``AssertionError``: the test scripted fewer turns than the run needed.
    """

    name = "scripted"

    def __init__(self, turns: Sequence[Turn]) -> None:
        self.turns = list(turns)
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> ModelResponse:
        self.requests.append(request)
        if not self.turns:
            raise AssertionError(f"ScriptedModel ran out of turns after {len(self.requests) - 1} requests")
        turn = self.turns.pop(0)
        return turn(request) if callable(turn) else turn

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        response = await self.complete(request)
        for word in response.text.split(" ") if response.text else []:
            yield word + " "
        yield response
