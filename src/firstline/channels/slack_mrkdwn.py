"""The help desk's Markdown as Slack ``mrkdwn``: :func:`to_mrkdwn`, and :func:`chunks` for Block Kit sections.

Slack does not read Markdown: bold is ``*x*``, italics ``_x_``, strikes ``~x~``, links ``<url|text>``, and
it has no lists or headings. The reply is parsed with markdown-it-py (CommonMark, raw HTML off, the same
parser the web chat renders with) and its tokens are written out again for Slack:

* ``**bold**`` -> ``*bold*``, ``*em*`` -> ``_em_``, ``~~gone~~`` -> ``~gone~``, headings -> a bold line;
* ``[text](https://x)`` -> ``<https://x|text>`` (only http, https and mailto links; any other scheme is
  kept as plain text), and a bare ``aka.ms/sspr`` becomes a link as it does in the web chat;
* lists -> ``•`` (``◦`` when nested, indented) or ``1.`` lines, code spans and fences kept, quotes ``>``;
* ``&``, ``<`` and ``>`` in the text are escaped as Slack requires, so nothing a user or a runbook wrote
  can become a mention (``<!channel>``) or a link it did not ask for.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = ["chunks", "escape", "to_mrkdwn"]

_MD = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False}).enable("strikethrough")
_SCHEMES = ("http://", "https://", "mailto:")
# A URL with its scheme, a www. host, or a host with a dot and a path ("aka.ms/sspr"); not inside a word,
# a path or an e-mail address.
_BARE_LINK = re.compile(
    r"(?<![\w@/.:-])(?:https?://[^\s<>\"'`|]+|www\.[a-z0-9-]+(?:\.[a-z0-9-]+)+(?:/[^\s<>\"'`|]*)?"
    r"|(?:[a-z0-9-]+\.)+[a-z]{2,24}/[^\s<>\"'`|]*)",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?*_~'\""


def escape(text: str) -> str:
    """Text as Slack shows it literally: ``&``, ``<`` and ``>`` escaped (no mentions, no links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str:
    safe_url = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{safe_url}|{escape(label).replace('|', '¦')}>"


def _bare_links(text: str) -> str:
    """Escape ``text`` and turn the links written without markup into Slack links."""
    out, last = [], 0
    for match in _BARE_LINK.finditer(text):
        found = match.group(0)
        while found and (found[-1] in _TRAILING or (found[-1] == ")" and found.count(")") > found.count("("))):
            found = found[:-1]
        if not found:
            continue
        start = match.start()
        out.append(escape(text[last:start]))
        url = found if found.lower().startswith(("http://", "https://")) else f"https://{found}"
        out.append(_link(url, found))
        last = start + len(found)
    out.append(escape(text[last:]))
    return "".join(out)


def _inline(children: list[Token]) -> str:
    out: list[str] = []
    href: str | None = None
    label: list[str] = []
    for token in children:
        kind = token.type
        if href is not None and kind != "link_close":  # inside a link: keep its text only
            label.append(token.content if kind in ("text", "code_inline") else "")
            continue
        if kind == "text":
            out.append(_bare_links(token.content))
        elif kind in ("strong_open", "strong_close"):
            out.append("*")
        elif kind in ("em_open", "em_close"):
            out.append("_")
        elif kind in ("s_open", "s_close"):
            out.append("~")
        elif kind == "code_inline":
            out.append(f"`{escape(token.content)}`")
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "link_open":
            href = str(token.attrGet("href") or "")
            label = []
        elif kind == "link_close":
            text = "".join(label) or (href or "")
            out.append(_link(href, text) if href and href.lower().startswith(_SCHEMES) else escape(text))
            href = None
        elif kind == "image":  # a chat shows no remote images: their alt text is kept
            out.append(escape(token.content))
        else:
            out.append(escape(token.content))
    return "".join(out)


class _Writer:
    def __init__(self) -> None:
        self.buffers: list[list[str]] = [[]]
        self.lists: list[list[int]] = []  # per open list: [kind (0 bullet, 1 ordered), next number]

    def emit(self, text: str) -> None:
        self.buffers[-1].append(text)

    def block_end(self) -> None:
        if not self.lists:
            self.emit("\n\n")
        else:
            self.emit("\n")

    def write(self, tokens: list[Token]) -> str:
        for token in tokens:
            kind = token.type
            if kind == "inline":
                self.emit(_inline(token.children or []))
            elif kind == "paragraph_close":
                self.block_end()
            elif kind == "heading_open":
                self.emit("*")
            elif kind == "heading_close":
                self.emit("*")
                self.block_end()
            elif kind in ("bullet_list_open", "ordered_list_open"):
                start = int(token.attrGet("start") or 1) if kind == "ordered_list_open" else 0
                self.lists.append([int(kind == "ordered_list_open"), start])
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.lists.pop()
                if not self.lists:
                    self.emit("\n")
            elif kind == "list_item_open":
                ordered, number = self.lists[-1]
                indent = "    " * (len(self.lists) - 1)
                marker = f"{number}." if ordered else ("•" if len(self.lists) == 1 else "◦")
                self.lists[-1][1] += 1
                self.emit(f"{indent}{marker} ")
            elif kind in ("fence", "code_block"):
                self.emit(f"```\n{escape(token.content.rstrip())}\n```")
                self.block_end()
            elif kind == "blockquote_open":
                self.buffers.append([])
            elif kind == "blockquote_close":
                inner = "".join(self.buffers.pop()).strip("\n")
                self.emit("\n".join(f"> {line}" if line else ">" for line in inner.split("\n")))
                self.block_end()
            elif kind == "hr":
                self.emit("───")
                self.block_end()
        text = "".join(self.buffers[0])
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def to_mrkdwn(markdown: str) -> str:
    """``markdown`` (a help desk reply, an agent's comment) written as Slack ``mrkdwn``."""
    if not markdown.strip():
        return ""
    return _Writer().write(_MD.parse(markdown))


def chunks(text: str, limit: int = 3000) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` characters (a section block's text), between paragraphs
    where it can, then between lines, then anywhere."""
    pieces: list[str] = []
    current = ""
    for paragraph in text.split("\n\n"):
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = ""
        for line in paragraph.split("\n"):
            candidate = f"{current}\n{line}" if current else line
            if len(candidate) <= limit:
                current = candidate
                continue
            if current:
                pieces.append(current)
            while len(line) > limit:
                pieces.append(line[:limit])
                line = line[limit:]
            current = line
    if current:
        pieces.append(current)
    return pieces
