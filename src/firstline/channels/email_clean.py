"""What the person wrote in a mail, without the quoted thread below it or their signature.

Mail clients quote differently, so :func:`clean_reply` cuts at the first of these, from the top:

* a reply header: Gmail and Apple Mail's ``On <date>, <name> wrote:`` (Gmail wraps it over two lines when
  the name is long; a few other languages too), Outlook's ``From: ... / Sent: ...`` block (often after a
  line of underscores), ``-----Original Message-----``, ``Begin forwarded message:``;
* the signature delimiter ``-- `` (RFC 3676) and common mobile footers ("Sent from my iPhone", "Get Outlook
  for iOS", ...);

and drops ``>`` quoted lines anywhere (interleaved answers keep the person's own lines). Everything below a
cut is gone: what follows a reply header is the earlier thread, which Firstline already has.

HTML-only mail becomes text with :func:`html_to_text` (BeautifulSoup): the quoted parts clients mark in HTML
(``blockquote``, Gmail's ``gmail_quote``, Outlook's ``divRplyFwdMsg`` and ``appendonsend``, Apple's
``type=cite``) are removed first, then block elements become line breaks.
"""

from __future__ import annotations

import re

__all__ = ["clean_reply", "html_to_text"]

_WROTE = re.compile(
    r"^\s*(on\b.{0,200}\bwrote:|am\b.{0,200}\bschrieb\b.{0,80}:|le\b.{0,200}\ba écrit\s*:|el\b.{0,200}\bescribió:"
    r"|op\b.{0,200}\bschreef\b.{0,80}:)\s*$",
    re.IGNORECASE,
)
_WROTE_START = re.compile(r"^\s*(on|am|le|el|op)\s.{6,}$", re.IGNORECASE)  # may continue on the next line
_OUTLOOK_FROM = re.compile(r"^\s*\**(from|von|de|van)\s*:\**\s*\S", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^\s*\**(sent|date|gesendet|envoyé|enviado|verzonden|to|subject)\s*:", re.IGNORECASE)
_SEPARATORS = re.compile(
    r"^\s*(-{2,}\s*original message\s*-{2,}|-{2,}\s*forwarded message\s*-{2,}|begin forwarded message:"
    r"|_{10,})\s*$",
    re.IGNORECASE,
)
_MOBILE = re.compile(
    r"^\s*(sent from my \w+|sent from (outlook|mail|yahoo mail|gmail|samsung)\b.*|get outlook for (ios|android)\b.*"
    r"|sent from my (iphone|ipad|android|samsung|galaxy|mobile)\b.*|von meinem \w+ gesendet|envoyé de mon \w+)\s*$",
    re.IGNORECASE,
)


def _cut_at(lines: list[str]) -> int:
    """The index of the first line that starts the quoted thread or the signature (len(lines) if none)."""
    for index, line in enumerate(lines):
        bare = line.rstrip("\r")
        if bare in ("-- ", "--"):
            return index
        if _WROTE.match(bare) or _SEPARATORS.match(bare) or _MOBILE.match(bare):
            return index
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if _WROTE_START.match(bare) and _WROTE.match(f"{bare} {following.strip()}"):
            return index
        if _OUTLOOK_FROM.match(bare) and any(_OUTLOOK_NEXT.match(n) for n in lines[index + 1 : index + 4]):
            return index
    return len(lines)


def clean_reply(text: str) -> str:
    """The person's own words in ``text`` (a mail body as text): no quoted thread, no signature."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = lines[: _cut_at(lines)]
    kept = [line.rstrip() for line in lines if not line.lstrip().startswith(">")]
    cleaned = "\n".join(kept)
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned)
    return cleaned.strip()


_QUOTE_SELECTORS = (
    "blockquote",
    "div.gmail_quote",
    "div.gmail_signature",
    "div#divRplyFwdMsg",
    "div#appendonsend",
    "div.moz-cite-prefix",
    "div.yahoo_quoted",
    "[type=cite]",
)
_BLOCKS = ("p", "div", "br", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "ul", "ol", "hr")


def html_to_text(html: str) -> str:
    """The readable text of an HTML mail body, without the parts clients mark as quoted."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for hidden in soup(["script", "style", "head", "title"]):
        hidden.decompose()
    outlook_cut = soup.select_one("div#appendonsend, div#divRplyFwdMsg")
    if outlook_cut is not None:  # Outlook puts the earlier thread after this marker, as siblings
        for later in list(outlook_cut.find_all_next()):
            later.extract()
    for selector in _QUOTE_SELECTORS:
        for quoted in soup.select(selector):
            quoted.decompose()
    for item in soup.find_all("li"):
        item.insert_before("\n- ")
    for link in soup.find_all("a"):
        href = link.get("href")
        if isinstance(href, str) and href.startswith(("http://", "https://")) and href != link.get_text().strip():
            link.append(f" ({href})")
    for block in soup.find_all(_BLOCKS):
        block.insert_before("\n")
        block.insert_after("\n")
    text = soup.get_text()
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
