"""Language-model plumbing: the message vocabulary, the ``ChatModel`` protocol, scripted models.

The OpenAI-compatible client, model profiles, the catalog and fallbacks arrive with the LLM
engine; the offline engine is one more ``ChatModel``.
"""

from firstline.llm.messages import ChatModel, ChatRequest, Message, ModelResponse, ToolCall, ToolSpec, Usage
from firstline.llm.testing import ScriptedModel

__all__ = ["ChatModel", "ChatRequest", "Message", "ModelResponse", "ScriptedModel", "ToolCall", "ToolSpec", "Usage"]
