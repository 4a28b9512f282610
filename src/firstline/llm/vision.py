"""Pictures and the computer-use tool in each server's shape, and a model's computer actions read back.

A :class:`~firstline.llm.messages.Message` carries ``images`` (screenshots); a
:class:`~firstline.llm.messages.ChatRequest` asks for the ``computer`` tool with ``computer``
(a :class:`~firstline.llm.messages.ComputerTool`: the display size). On the wire:

OpenAI-compatible ``/v1/chat/completions`` (OpenAI, vLLM, SGLang, llama.cpp):

* a user message with images has a list of content parts: ``{"type": "text", "text": ...}`` then one
  ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}`` per image;
* a tool message's content is text only, so its images follow the run of tool messages in one user
  message (``"Screenshot after tool call <id>:"`` and the images);
* there is no standard computer tool: a function tool named ``computer`` takes the actions of
  :data:`ACTIONS` as JSON arguments (:func:`computer_schema`), Anthropic's names and fields.

Anthropic Messages API:

* images are ``{"type": "image", "source": {"type": "base64", "media_type": ..., "data": ...}}`` blocks, after
  the text of a user message or inside a ``tool_result``'s content list (after its text);
* the computer tool is Anthropic's own, ``{"type": "computer_20250124", "name": "computer",
  "display_width_px": W, "display_height_px": H}``, sent with the header
  ``anthropic-beta: computer-use-2025-01-24`` (:data:`ANTHROPIC_COMPUTER_BETAS`).

Either way the model's action comes back as a tool call named ``computer`` whose arguments are the action,
e.g. ``{"action": "left_click", "coordinate": [412, 230]}``; :func:`read_action` tidies the forms small
open models use instead (``"[412, 230]"``, ``x``/``y``, ``click``).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from typing import Any

from firstline.llm.messages import ComputerTool, Image, Message

__all__ = [
    "ACTIONS",
    "ANTHROPIC_COMPUTER_BETAS",
    "COMPUTER",
    "anthropic_computer_tool",
    "anthropic_image_block",
    "computer_schema",
    "openai_computer_tool",
    "openai_image_message",
    "openai_user_content",
    "read_action",
]

COMPUTER = "computer"  # the tool's name, for every server
# What a model may ask for: Anthropic's computer_20250124 actions, plus ``done`` (the result, as ``text``).
ACTIONS = (
    "screenshot", "left_click", "right_click", "middle_click", "double_click", "triple_click", "mouse_move",
    "left_click_drag", "left_mouse_down", "left_mouse_up", "type", "key", "hold_key", "scroll", "wait",
    "cursor_position", "done",
)  # fmt: skip
# Anthropic's computer tool versions and the beta each needs (anthropic-beta header).
ANTHROPIC_COMPUTER_BETAS = {
    "computer_20250124": "computer-use-2025-01-24",
    "computer_20251124": "computer-use-2025-11-24",
}
_ALIASES = {"click": "left_click", "double": "double_click", "press": "key", "type_text": "type", "finish": "done"}
_NUMBERS = re.compile(r"-?\d+(?:\.\d+)?")


def computer_schema(tool: ComputerTool) -> dict[str, Any]:
    """The JSON schema of the ``computer`` function tool's arguments (for servers without a computer tool)."""
    point = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}
    return {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": list(ACTIONS), "description": "What to do, one action per call."},
            "coordinate": {
                **point,
                "description": f"[x, y] in pixels from the top-left corner of the {tool.display_width}x"
                f"{tool.display_height} screenshot, e.g. [412, 230]. For clicks, mouse_move, scroll and the "
                "end of left_click_drag.",
            },
            "start_coordinate": {**point, "description": "left_click_drag: where the drag starts, [x, y]."},
            "text": {
                "type": "string",
                "description": "type: the text to type, e.g. 'Printer on floor 3 jams'. key and hold_key: a key "
                "or combination, e.g. 'Return', 'Tab', 'ctrl+a'. done: the result, e.g. 'CALL-000124'.",
            },
            "scroll_direction": {"type": "string", "enum": ["up", "down", "left", "right"]},
            "scroll_amount": {"type": "integer", "minimum": 1, "maximum": 20, "description": "Wheel clicks, e.g. 3."},
            "duration": {"type": "number", "minimum": 0, "maximum": 10, "description": "wait, hold_key: seconds."},
        },
        "required": ["action"],
    }


def openai_computer_tool(tool: ComputerTool) -> dict[str, Any]:
    """The ``computer`` function tool of an OpenAI-compatible request."""
    description = (
        f"Operate the {tool.display_width}x{tool.display_height} screen shown in the latest screenshot: click, "
        "type, press keys, scroll, wait. One action per call; a new screenshot follows each action. Call "
        "action 'done' with the result as text when the task is finished."
    )
    return {"type": "function", "function": {"name": COMPUTER, "description": description,
                                             "parameters": computer_schema(tool)}}  # fmt: skip


def openai_user_content(text: str, images: Sequence[Image]) -> list[dict[str, Any]]:
    """A user message's content parts: its text, then its images as ``data:`` URLs."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    return parts + [{"type": "image_url", "image_url": {"url": image.data_url()}} for image in images]


def openai_image_message(tool_messages: Sequence[Message]) -> dict[str, Any]:
    """The user message that carries the images of a run of tool messages (tool content is text only)."""
    parts: list[dict[str, Any]] = []
    for m in tool_messages:
        if m.images:
            parts += openai_user_content(f"Screenshot after tool call {m.tool_call_id}:", m.images)
    return {"role": "user", "content": parts}


def anthropic_image_block(image: Image) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": image.media_type, "data": image.data}}


def anthropic_computer_tool(tool: ComputerTool, version: str = "computer_20250124") -> dict[str, Any]:
    """Anthropic's computer-use tool; the request needs ``anthropic-beta: ANTHROPIC_COMPUTER_BETAS[version]``."""
    if version not in ANTHROPIC_COMPUTER_BETAS:
        raise ValueError(f"unknown computer tool {version!r}: use one of {sorted(ANTHROPIC_COMPUTER_BETAS)}")
    return {"type": version, "name": COMPUTER, "display_width_px": tool.display_width,
            "display_height_px": tool.display_height}  # fmt: skip


def read_action(arguments: dict[str, Any]) -> dict[str, Any]:
    """A ``computer`` call's arguments in Anthropic's form: ``action`` lower-case (``click`` is ``left_click``),
    ``coordinate`` and ``start_coordinate`` as ``[x, y]`` integers (from a list, a ``"[x, y]"`` or ``"x,y"``
    string, or ``x``/``y`` fields), ``scroll_amount`` an integer. Anything it cannot read is left as is, for
    the caller to refuse."""
    action = dict(arguments)
    name = str(action.get("action", "")).strip().lower()
    action["action"] = _ALIASES.get(name, name)
    if "coordinate" not in action and "x" in action and "y" in action:
        action["coordinate"] = [action.pop("x"), action.pop("y")]
    for key in ("coordinate", "start_coordinate"):
        if key in action:
            point = _point(action[key])
            if point is not None:
                action[key] = point
    if isinstance(action.get("scroll_amount"), (str, float)):
        with contextlib.suppress(ValueError):
            action["scroll_amount"] = int(float(action["scroll_amount"]))
    return action


def _point(value: Any) -> list[int] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = _NUMBERS.findall(value)
    if isinstance(value, dict):
        value = [value.get("x"), value.get("y")]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    try:
        return [round(float(v)) for v in value]
    except (TypeError, ValueError):
        return None
