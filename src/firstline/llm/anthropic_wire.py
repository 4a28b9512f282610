"""Our messages in the shapes of Anthropic's Messages API: ``system`` blocks apart, tool calls as ``tool_use``
blocks, tool results as ``tool_result`` blocks of a user message, roles alternating with the user first. Images
(screenshots) are ``image`` blocks after a user message's text or inside a ``tool_result``'s content.

A result that answers no ``tool_use`` of the message before is sent as text, and a call left unanswered
gets an ``is_error`` result, so a trimmed or paused history is still accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from firstline.llm.messages import Message
from firstline.llm.vision import anthropic_image_block

__all__ = ["NOT_RUN", "OPENING", "text_blocks", "to_anthropic_messages", "tool_choice"]

OPENING = "(The conversation so far follows.)"  # opens a history that starts with the assistant
NOT_RUN = "Not run: no result was recorded."  # the result of a call whose result is missing
_FAILED = {"failed", "retry", "unknown_tool"}


def text_blocks(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}] if text.strip() else []


def _tool_result(message: Message) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id or ""}
    if message.images:  # a screenshot: the text, then image blocks
        block["content"] = text_blocks(message.content) + [anthropic_image_block(i) for i in message.images]
    elif message.content:
        block["content"] = message.content
    if message.result is not None and message.result.get("outcome") in _FAILED:
        block["is_error"] = True
    return block


def to_anthropic_messages(messages: Sequence[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Our messages as Messages-API ``(system blocks, messages)`` (see the module docstring)."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            system += text_blocks(m.content)
            continue
        if m.role == "tool":
            role, blocks = "user", [_tool_result(m)]
        elif m.role == "assistant":
            role = "assistant"
            blocks = text_blocks(m.content) + [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in m.tool_calls
            ]
        else:
            role, blocks = "user", text_blocks(m.content) + [anthropic_image_block(i) for i in m.images]
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    _pair_tool_results(turns)
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": text_blocks(OPENING)})
    return system, turns


def _pair_tool_results(turns: list[dict[str, Any]]) -> None:
    """Each ``tool_use`` answered by a ``tool_result`` in the next (user) message, results first, no strays."""
    if turns and turns[-1]["role"] == "assistant" and any(b["type"] == "tool_use" for b in turns[-1]["content"]):
        turns.append({"role": "user", "content": []})
    asked: list[str] = []
    for turn in turns:  # roles alternate here: a user message follows each assistant message
        if turn["role"] == "assistant":
            asked = [b["id"] for b in turn["content"] if b["type"] == "tool_use"]
            continue
        results: dict[str, dict[str, Any]] = {}
        others: list[dict[str, Any]] = []
        for block in turn["content"]:
            if block["type"] != "tool_result":
                others.append(block)
            elif block["tool_use_id"] in asked and block["tool_use_id"] not in results:
                results[block["tool_use_id"]] = block
            else:  # it answers no call of the message before: keep what it says, as text
                content = block.get("content", "")
                if isinstance(content, list):  # text and images: keep both
                    others += text_blocks(f"Result of tool call {block['tool_use_id']}:")
                    others += [b for b in content if b["type"] == "image" or b.get("text", "").strip()]
                else:
                    others += text_blocks(f"Result of tool call {block['tool_use_id']}: {content}")
        missing = [{"type": "tool_result", "tool_use_id": i, "content": NOT_RUN, "is_error": True} for i in asked]
        turn["content"] = [*results.values(), *[m for m in missing if m["tool_use_id"] not in results], *others]
        asked = []


def tool_choice(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, dict):
        name = choice.get("name") or (choice.get("function") or {}).get("name")
        return {"type": "tool", "name": name} if name else {"type": "auto"}
    return {"none": {"type": "none"}, "required": {"type": "any"}, "any": {"type": "any"}}.get(choice, {"type": "auto"})
