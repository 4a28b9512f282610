"""What leaves for a model endpoint: secrets never, personal data only where the provider is trusted with it.

:class:`RedactingModel` wraps any :class:`~firstline.llm.messages.ChatModel`. Every message it sends
(the briefing, the user's words, tool results, earlier tool-call arguments) has its secrets replaced by
placeholders first — the helpdesk already redacts what employees type, so this is the second line,
for anything a tool or a document brought in. With ``personal=True`` (``security.redact_personal_for``)
e-mail addresses and phone numbers are masked too, for hosted providers a deployment does not want to
receive them. The model's answer comes back unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from firstline.llm.messages import ChatModel, ChatRequest, Message, ModelResponse, StreamItem, ToolCall
from firstline.redaction import redact_data, redact_personal, redact_text

__all__ = ["RedactingModel"]


class RedactingModel:
    """``inner`` with every outgoing message redacted (see the module docstring)."""

    def __init__(self, inner: ChatModel, personal: bool = False) -> None:
        self.inner = inner
        self.personal = personal
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:  # pricing, model id, ... of the wrapped client
        return getattr(self.inner, name)

    def _text(self, text: str) -> str:
        return redact_personal(text) if self.personal else redact_text(text)

    def _message(self, message: Message) -> Message:
        calls = tuple(
            ToolCall(c.id, c.name, redact_data(c.arguments)) if c.arguments else c for c in message.tool_calls
        )
        return replace(message, content=self._text(message.content) if message.content else "", tool_calls=calls)

    def request(self, request: ChatRequest) -> ChatRequest:
        """``request`` as it may leave the process."""
        return replace(request, messages=tuple(self._message(m) for m in request.messages))

    async def complete(self, request: ChatRequest) -> ModelResponse:
        return await self.inner.complete(self.request(request))

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        async for item in self.inner.stream(self.request(request)):
            yield item
