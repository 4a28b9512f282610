"""What the real APIs reject in requests with images or the computer tool, for the fake servers.

``FakeOpenAIServer`` and ``FakeAnthropicServer`` call these on every request (``""``: nothing wrong), so a
test that sends screenshots or offers the computer tool fails the way the real API would.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from firstline.llm.vision import ANTHROPIC_COMPUTER_BETAS

__all__ = ["check_anthropic_vision", "check_openai_vision"]

MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def _base64(data: Any) -> bool:
    if not isinstance(data, str) or not data:
        return False
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def check_openai_vision(body: dict[str, Any]) -> str:
    """Content-part lists (text and ``image_url`` parts; images on user messages only)."""
    for n, message in enumerate(body.get("messages") or ()):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for i, part in enumerate(content):
            where = f"messages[{n}].content[{i}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                continue
            if kind != "image_url":
                return f"{where}: unknown content part {part!r:.80}"
            if message.get("role") != "user":
                return f"{where}: image_url parts are only valid in user messages, not {message.get('role')!r}"
            url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
            if not isinstance(url, str):
                return f"{where}: image_url must be an object with a url"
            if url.startswith("data:"):
                head, _, data = url.partition(",")
                if head[5:].split(";")[0] not in MEDIA_TYPES or not head.endswith(";base64") or not _base64(data):
                    return f"{where}: a data URL must be data:<image type>;base64,<data>, got {url[:40]!r}"
            elif not url.startswith(("http://", "https://")):
                return f"{where}: image url must be http(s) or a data URL, got {url[:40]!r}"
    return ""


def _image(block: dict[str, Any], where: str) -> str:
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") != "base64":
        return f"{where}.source: must be {{'type': 'base64', 'media_type': ..., 'data': ...}}"
    if source.get("media_type") not in MEDIA_TYPES:
        return f"{where}.source.media_type: must be one of {MEDIA_TYPES}, got {source.get('media_type')!r}"
    if not _base64(source.get("data")):
        return f"{where}.source.data: must be base64 image data"
    return ""


def check_anthropic_vision(headers: dict[str, str], body: dict[str, Any]) -> str:
    """Server tools (the computer tool and its beta header) and image blocks, also inside tool results."""
    betas = {b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()}
    for n, tool in enumerate(body.get("tools") or ()):
        kind = tool.get("type", "custom") if isinstance(tool, dict) else "custom"
        if kind == "custom":
            continue
        if kind not in ANTHROPIC_COMPUTER_BETAS:
            return f"tools.{n}.type: unknown tool type {kind!r}"
        if ANTHROPIC_COMPUTER_BETAS[kind] not in betas:
            return f"tools.{n}: {kind} needs the header anthropic-beta: {ANTHROPIC_COMPUTER_BETAS[kind]}"
        if tool.get("name") != "computer":
            return f"tools.{n}.name: a {kind} tool must be named 'computer'"
        for size in ("display_width_px", "display_height_px"):
            value = tool.get(size)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                return f"tools.{n}.{size}: a positive integer is required"
        if "input_schema" in tool:
            return f"tools.{n}.input_schema: Extra inputs are not permitted"
    for n, message in enumerate(body.get("messages") or ()):
        content = message.get("content") if isinstance(message, dict) else None
        for i, block in enumerate(content if isinstance(content, list) else ()):
            where = f"messages.{n}.content.{i}"
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "image":
                problem = _image(block, where)
                if problem:
                    return problem
            inner = block.get("content") if kind == "tool_result" else None
            for j, part in enumerate(inner if isinstance(inner, list) else ()):
                part_kind = part.get("type") if isinstance(part, dict) else None
                if part_kind == "image":
                    problem = _image(part, f"{where}.content.{j}")
                elif part_kind == "text":
                    ok = isinstance(part.get("text"), str) and part["text"]
                    problem = "" if ok else f"{where}.content.{j}: text content blocks must be non-empty"
                else:
                    problem = f"{where}.content.{j}: a tool_result cannot hold a {part_kind!r} block"
                if problem:
                    return problem
    return ""
