"""How a chat template lays a request body out before tokenizing: the text the prompt meter counts.

ChatML messages (SmolLM2's and Qwen's template), with the tools ahead of the conversation either as their JSON
(``json``: Qwen's, Hermes' and Mistral's templates) or as typed signatures (``signatures``: as OpenAI describes
for its models). See ``firstline.evals.prompt_tokens``.
"""

from __future__ import annotations

import json
from typing import Any

from firstline.llm.messages import ModelResponse

__all__ = ["LAYOUTS", "render", "render_completion"]

LAYOUTS = ("json", "signatures")


def render(body: dict[str, Any], layout: str = "json") -> str:
    """A request body laid out as a chat template lays it out before tokenizing (ChatML, SmolLM2's and Qwen's).

    The tools come first, in a system block ahead of the conversation: ``json`` pastes each tool's JSON, one
    per line, as Qwen's, Hermes' and Mistral's templates do; ``signatures`` writes each as a typed function
    signature with its descriptions as comments, as OpenAI describes for its models. Then each message
    between ``<|im_start|>role`` and ``<|im_end|>``, an assistant's tool calls as ``<tool_call>`` JSON; then the
    generation prompt."""
    parts = []
    if body.get("tools"):
        if layout == "signatures":
            listed = "\n\n".join(_signature(t["function"]) for t in body["tools"])
            parts.append(f"<|im_start|>system\n# Tools\nnamespace functions {{\n{listed}\n}}<|im_end|>\n")
        else:
            listed = "\n".join(json.dumps(t, ensure_ascii=False) for t in body["tools"])
            parts.append(f"<|im_start|>system\n# Tools\n<tools>\n{listed}\n</tools><|im_end|>\n")
    for message in body.get("messages", ()):
        content = message.get("content") or ""
        for call in message.get("tool_calls") or ():
            function = call["function"]
            payload = {"name": function["name"], "arguments": json.loads(function["arguments"] or "{}")}
            content += f"\n<tool_call>\n{json.dumps(payload, ensure_ascii=False)}\n</tool_call>"
        parts.append(f"<|im_start|>{message['role']}\n{content}<|im_end|>\n")
    parts.append("<|im_start|>assistant\n")
    return "".join(parts)


def _signature(function: dict[str, Any]) -> str:
    """One tool as a typed signature: ``// description`` then ``type name = (_: {arg: type, ...}) => any;``."""
    params = function.get("parameters") or {}
    properties: dict[str, Any] = params.get("properties") or {}
    required = set(params.get("required") or ())
    lines = [f"// {function['description']}"] if function.get("description") else []
    if not properties:
        return "\n".join([*lines, f"type {function['name']} = () => any;"])
    lines.append(f"type {function['name']} = (_: {{")
    for name, prop in properties.items():
        if prop.get("description"):
            lines.append(f"// {prop['description']}")
        default = f" // default: {json.dumps(prop['default'], ensure_ascii=False)}" if "default" in prop else ""
        lines.append(f"{name}{'' if name in required else '?'}: {_type(prop)},{default}")
    return "\n".join([*lines, "}) => any;"])


def _type(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in prop["enum"])
    kind = prop.get("type", "any")
    if isinstance(kind, list):
        return " | ".join(_type({**prop, "type": k}) for k in kind)
    if kind == "array":
        return f"{_type(prop.get('items') or {})}[]"
    return {"integer": "number"}.get(str(kind), str(kind))


def render_completion(response: ModelResponse) -> str:
    """What a model writes for ``response``: its text, or its tool calls as JSON, then the end marker."""
    calls = "".join(
        f"<tool_call>\n{json.dumps({'name': c.name, 'arguments': c.arguments}, ensure_ascii=False)}\n</tool_call>"
        for c in response.tool_calls
    )
    return f"{response.text}{calls}<|im_end|>"
