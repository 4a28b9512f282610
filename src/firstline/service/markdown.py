"""Markdown to safe HTML for chat replies, agents' comments and runbook pages: :func:`render`.

Two steps, each with a kept library doing the part it is good at:

1. **markdown-it-py** (CommonMark) parses the text with raw HTML *off*: ``<script>`` in a reply
   becomes visible text, never markup. Headings move down two levels (``#`` is ``<h3>``), so a reply
   cannot shout over the page; single newlines are line breaks, as people write in a chat (not in
   runbooks: ``line_breaks=False``). Bare
   links (``https://example.com/x``, and ``aka.ms/sspr`` as a runbook writes it) become links through
   a small core rule here (the ``linkify-it`` package is not installed): a link without a scheme is
   given ``https://``, and only the text outside existing links is touched.
2. **nh3** (the Rust ``ammonia`` sanitiser) then keeps an allow-list of tags and attributes, drops any
   URL whose scheme is not http, https or mailto (``javascript:``, ``data:``), and gives every link
   ``rel="noopener noreferrer"`` and ``target="_blank"``. Step 1 already escapes HTML; step 2 is the
   guarantee that holds even if a renderer option or plugin changes later.

The browser inserts this HTML as is (``innerHTML``), so this module is the one place that decides what
markup a message may carry. Images are shown as their alt text: a chat loads nothing from elsewhere.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

__all__ = ["ALLOWED_TAGS", "render"]

ALLOWED_TAGS = frozenset(
    {"p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "a", "blockquote", "h3", "h4", "h5", "h6", "hr"}
)
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
_SCHEMES = {"http", "https", "mailto"}

# A link written without markup: a URL with its scheme, a host with a dot and a path ("aka.ms/sspr"), a
# www. host, or one of Firstline's own runbook pages ("/kb/<chunk id>#<section>", as replies cite them).
# Not after a letter, digit, "@", "/" or "." (e-mail addresses, paths, the middle of a word).
_BARE_LINK = re.compile(
    r"(?<![\w@/.:-])"
    r"(?:https?://[^\s<>\"'`]+"
    r"|/kb/[A-Za-z0-9_-]+(?:#[A-Za-z0-9_.~-]*)?"
    r"|www\.[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}(?:/[^\s<>\"'`]*)?"
    r"|(?:[a-z0-9-]+\.)+[a-z]{2,24}/[^\s<>\"'`]*)",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?*_~'\""


def _trim(url: str) -> str:
    """Drop the sentence's punctuation from a link's end; keep a ")" only when the link opened one."""
    while url:
        if url[-1] in _TRAILING or (url[-1] == ")" and url.count(")") > url.count("(")):
            url = url[:-1]
        else:
            break
    return url


def _href(text: str) -> str:
    return text if text.startswith("/kb/") or re.match(r"https?://", text, re.IGNORECASE) else f"https://{text}"


def _split(token: Token, state: StateCore) -> list[Token]:
    """``token`` (a text token outside any link) as text and link tokens."""
    text = token.content
    out: list[Token] = []
    cursor = 0
    for match in _BARE_LINK.finditer(text):
        url = _trim(match.group(0))
        if not url.startswith("/kb/") and "." not in url.split("//", 1)[-1].split("/", 1)[0]:
            continue  # "https://localhost" and the like: not a link anyone would click in a chat
        href = state.md.normalizeLink(_href(url))
        if not state.md.validateLink(href):
            continue
        start, end = match.start(), match.start() + len(url)
        if start > cursor:
            out.append(_text(text[cursor:start], token.level))
        opening = Token("link_open", "a", 1, attrs={"href": href}, level=token.level, markup="linkify", info="auto")
        out += [opening, _text(url, token.level + 1), Token("link_close", "a", -1, level=token.level, markup="linkify")]
        cursor = end
    if not out:
        return [token]
    if cursor < len(text):
        out.append(_text(text[cursor:], token.level))
    return out


def _text(content: str, level: int) -> Token:
    token = Token("text", "", 0, level=level)
    token.content = content
    return token


def _bare_links(state: StateCore) -> None:
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        depth = 0  # inside [text](url) or <url>: leave alone
        for child in block.children:
            if child.type == "link_open":
                depth += 1
            elif child.type == "link_close":
                depth -= 1
            children.extend(_split(child, state) if child.type == "text" and depth == 0 else [child])
        block.children = children


def _lower_headings(state: StateCore) -> None:
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 2, 6)}"


def _image_as_text(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    """Images are not shown in a chat (no tracking pixels, no remote content): their alt text is."""
    alt: str = self.renderInlineAsText(tokens[idx].children or [], options, env)
    return escapeHtml(alt)


def _parser(breaks: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": breaks, "linkify": False, "typographer": False})
    md.add_render_rule("image", _image_as_text)
    md.core.ruler.push("firstline_bare_links", _bare_links)
    md.core.ruler.push("firstline_lower_headings", _lower_headings)
    return md


_CHAT = _parser(breaks=True)
_DOCUMENT = _parser(breaks=False)


def render(text: str, *, line_breaks: bool = True) -> str:
    """``text`` (Markdown, from anyone) as HTML that is safe to insert into a page ("" for no text).

    ``line_breaks``: a single newline is a line break, as in a chat message; False for documents written
    with wrapped lines (runbooks), where it is a space as CommonMark says. The same text gives the same
    HTML, so the last few thousand short texts are kept rendered (replies repeat: a runbook's steps, "Did
    that fix it?"); parsing and sanitising cost more than the rest of sending a reply.
    """
    if not text:
        return ""
    if len(text) <= _KEEP_CHARS:
        return _render_kept(text, line_breaks)
    return _render(text, line_breaks)


_KEEP_CHARS = 4000


def _render(text: str, line_breaks: bool) -> str:
    raw = (_CHAT if line_breaks else _DOCUMENT).render(text)
    return nh3.clean(
        raw,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        url_schemes=set(_SCHEMES),
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    ).strip()


_render_kept = functools.lru_cache(maxsize=2048)(_render)
