"""The helpdesk's Markdown, made fit for an e-mail: plain text for the text part, simple escaped HTML for the
HTML part.

Replies are written in a small Markdown subset (bold, emphasis, lists, links, inline code). The service's
Markdown renderer sits above the channels, so mail gets its own deliberately small converter:

* :func:`plain_text` drops the markup (``**VPN**`` -> ``VPN``, ``[reset](https://x)`` -> ``reset (https://x)``);
* :func:`simple_html` escapes every character of the text first, then adds only ``p``, ``br``, ``ul``/``ol``,
  ``li``, ``strong``, ``em``, ``code`` and links to ``http(s)``/``mailto`` addresses. Nothing written by a
  person or a model can add markup of its own.
"""

from __future__ import annotations

import html
import re

__all__ = ["plain_text", "simple_html"]

_FENCE = re.compile(r"^\s*```.*$\n?", re.M)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.M)
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^>\s]+)>")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])")
_CODE = re.compile(r"`([^`\n]+)`")
_BULLET = re.compile(r"^(\s*)[*+-]\s+", re.M)
_ITEM = re.compile(r"^\s*(?:[*+-]|\d{1,3}[.)])\s+")
_NUMBERED = re.compile(r"^\s*\d{1,3}[.)]\s+")
_ESCAPED_AUTOLINK = re.compile(r"&lt;((?:https?://|mailto:)\S+?)&gt;")
_SAFE_URL = re.compile(r"^(?:https?://|mailto:)", re.I)


def plain_text(markdown: str) -> str:
    """``markdown`` without its markup, for the text/plain part."""
    text = _FENCE.sub("", markdown.replace("\r\n", "\n"))
    text = _HEADING.sub("", text)
    text = _LINK.sub(lambda m: m.group(2) if m.group(1) == m.group(2) else f"{m.group(1)} ({m.group(2)})", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _CODE.sub(r"\1", text)
    text = _BOLD.sub(r"\2", text)
    text = _EMPHASIS.sub(r"\1", text)
    return _BULLET.sub(r"\1- ", text).strip()


def _link(match: re.Match[str]) -> str:
    label, url = match.group(1), match.group(2)  # both already escaped
    if not _SAFE_URL.match(html.unescape(url)):
        return f"{label} ({url})"
    return f'<a href="{url}">{label}</a>'


def _inline(line: str) -> str:
    """One line: escaped, with code spans, bold, emphasis and safe links."""
    out: list[str] = []
    for index, part in enumerate(re.split(r"`([^`\n]+)`", line)):
        escaped = html.escape(part, quote=True)
        if index % 2:
            out.append(f"<code>{escaped}</code>")
            continue
        escaped = _LINK.sub(_link, escaped)
        escaped = _ESCAPED_AUTOLINK.sub(r'<a href="\1">\1</a>', escaped)
        escaped = _BOLD.sub(r"<strong>\2</strong>", escaped)
        out.append(_EMPHASIS.sub(r"<em>\1</em>", escaped))
    return "".join(out)


def simple_html(markdown: str) -> str:
    """``markdown`` as a few escaped paragraphs and lists, for the text/html part."""
    text = _HEADING.sub("", _FENCE.sub("", markdown.replace("\r\n", "\n"))).strip()
    blocks: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        if all(_ITEM.match(line) for line in lines):
            tag = "ol" if _NUMBERED.match(lines[0]) else "ul"
            items = "".join(f"<li>{_inline(_ITEM.sub('', line, count=1))}</li>" for line in lines)
            blocks.append(f"<{tag}>{items}</{tag}>")
        else:
            blocks.append("<p>" + "<br>".join(_inline(line.strip()) for line in lines) + "</p>")
    return "\n".join(blocks)
