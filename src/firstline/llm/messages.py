"""The chat vocabulary every model and the runner share (OpenAI-shaped, but our own types)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "ChatModel",
    "ChatRequest",
    "ComputerTool",
    "Image",
    "Message",
    "ModelResponse",
    "Role",
    "StreamItem",
    "StreamReset",
    "ToolCall",
    "ToolSpec",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to run one tool; ``arguments`` is already parsed JSON."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Image:
    """A picture a model is shown (a screenshot): ``data`` is the file's bytes in base64, no ``data:`` prefix."""

    media_type: Literal["image/png", "image/jpeg", "image/gif", "image/webp"]
    data: str

    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.data}"


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    # A tool message's structured result (outcome, data, what the employee may read): the runner
    # fills it and the offline engine reads it; a model reads ``content`` only.
    result: dict[str, Any] | None = None
    # Pictures shown with ``content``, on a user or tool message (a tool's screenshot): each server gets
    # them in its own shape (``firstline.llm.vision``).
    images: tuple[Image, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            data["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in self.tool_calls]
        if self.tool_call_id:
            data["tool_call_id"] = self.tool_call_id
        if self.name:
            data["name"] = self.name
        if self.result is not None:
            data["result"] = self.result
        if self.images:
            data["images"] = [{"media_type": i.media_type, "data": i.data} for i in self.images]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        calls = tuple(ToolCall(c["id"], c["name"], dict(c["arguments"])) for c in data.get("tool_calls") or ())
        return cls(
            data["role"],
            data.get("content") or "",
            calls,
            data.get("tool_call_id"),
            data.get("name"),
            data.get("result"),
            tuple(Image(i["media_type"], i["data"]) for i in data.get("images") or ()),
        )


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What a model is told about a tool: name, description, JSON schema of the arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ComputerTool:
    """Offer the model a screen to operate: the ``computer`` tool, on a display of this size in pixels.

    Claude gets Anthropic's own computer-use tool; an OpenAI-compatible server a function tool named
    ``computer`` whose arguments are the same actions (``firstline.llm.vision``). Either way the model's
    actions come back as ``ToolCall(name="computer", arguments={"action": "left_click", ...})``.
    """

    display_width: int
    display_height: int


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One model turn's input. ``json_schema`` asks for a reply that is JSON matching the schema
    (each server gets it in its own dialect); ``computer`` offers the computer-use tool beside ``tools``;
    ``metadata`` never leaves the process."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str | dict[str, Any] = "auto"  # "auto" | "none" | "required" | {"type": "function", ...}
    metadata: dict[str, Any] = field(default_factory=dict)
    json_schema: dict[str, Any] | None = None
    computer: ComputerTool | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
        )


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """One model turn: text and/or tool calls, with usage and latency."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Usage()
    latency_ms: float = 0.0
    model: str = ""
    first_token_ms: float | None = None  # streaming only: when the first text or tool delta arrived
    reasoning: str = ""  # reasoning text some servers send apart from the reply (never shown to users)
    cost_usd: float = 0.0  # from the model catalog's prices, when known
    fallbacks: tuple[str, ...] = ()  # models that failed before this one answered
    # What a reply waits for, when the engine knows: "code", "choice", "detail" or "confirmation".
    # The offline engine says so; for a language model the helpdesk infers it from what happened.
    expects: str | None = None


@dataclass(frozen=True, slots=True)
class StreamReset:
    """In a stream: the text streamed so far is void (``model`` failed mid-answer, for ``reason``); what
    follows replaces it. A fallback chain sends one before the next model's answer."""

    model: str
    reason: str


StreamItem = str | StreamReset | ModelResponse


@runtime_checkable
class ChatModel(Protocol):
    """Anything that answers a chat request: an LLM endpoint, the offline engine, a script."""

    name: str

    async def complete(self, request: ChatRequest) -> ModelResponse:
        """One full turn."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        """Text deltas as they come (``""`` is a heartbeat: the model started a tool call), a ``StreamReset``
        when what came so far is void, then the final ``ModelResponse``."""
        ...
