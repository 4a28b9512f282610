"""Writing Firstline's mail: a threaded answer with a text part and a simple, safe HTML part.

* :func:`markdown_text` / :func:`markdown_html`: the helpdesk answers in Markdown. The text part keeps
  what reads well in plain text (lists, ``text (link)``) and drops emphasis markers; the HTML part is
  markdown-it's CommonMark rendering with raw HTML off, sanitised again by nh3, so nothing the answer
  quotes can smuggle markup into the mail.
* :func:`reply_subject`: ``Re: <subject> [INC0001234]``: the ticket number in brackets is how a reply that
  lost its headers still finds the conversation.
* :func:`reply_headers`: ``In-Reply-To`` / ``References`` (the thread so far, at most 20 ids, the first kept
  as RFC 5322 suggests) and ``Auto-Submitted: auto-replied`` (RFC 3834: other robots must not answer).
"""

from __future__ import annotations

import html
import re

from firstline.channels.email_parse import ticket_numbers

__all__ = ["link_text", "markdown_html", "markdown_text", "reply_headers", "reply_subject"]

_MAX_REFERENCES = 20
_LINK = re.compile(r"\[([^\]]+)\]\((\S+?)\)")
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_CODE = re.compile(r"`([^`]+)`")


def markdown_text(markdown: str) -> str:
    """The answer as plain text: ``**bold**`` -> ``bold``, ``[a](url)`` -> ``a (url)``, lists kept."""
    text = _LINK.sub(lambda m: m.group(1) if m.group(1) == m.group(2) else f"{m.group(1)} ({m.group(2)})", markdown)
    text = _EMPHASIS.sub(r"\2", text)
    text = _CODE.sub(r"\1", text)
    return text.strip() + "\n"


def markdown_html(markdown: str) -> str:
    """The answer as a small HTML document (CommonMark, raw HTML off, sanitised, links open safely)."""
    import nh3
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).render(markdown)
    safe = nh3.clean(rendered, link_rel="noopener noreferrer")
    return (
        '<!DOCTYPE html><html><body style="font-family: sans-serif; font-size: 14px; line-height: 1.4">'
        f"{safe}</body></html>"
    )


def _base_subject(subject: str) -> str:
    bare = subject.strip()
    while True:
        stripped = re.sub(r"^\s*(re|aw|sv|fw|fwd|wg)\s*:\s*", "", bare, flags=re.IGNORECASE)
        if stripped == bare:
            break
        bare = stripped
    for number in ticket_numbers(bare):
        bare = re.sub(rf"\s*\[?{number}\]?", "", bare, flags=re.IGNORECASE)
    return bare.strip() or "Your request"


def reply_subject(subject: str, ticket: str | None) -> str:
    """``Re: <subject>`` with ``[ticket]`` once at the end when there is a ticket."""
    base = _base_subject(subject)
    return f"Re: {base} [{ticket}]" if ticket else f"Re: {base}"


def reply_headers(answered: str, references: list[str], own_address: str) -> dict[str, str]:
    """Headers of an answer to the mail ``answered`` whose thread so far is ``references``."""
    chain = [mid for mid in references if mid != answered] + [answered]
    if len(chain) > _MAX_REFERENCES:
        chain = [chain[0], *chain[-(_MAX_REFERENCES - 1) :]]
    return {
        "From": own_address,
        "In-Reply-To": answered,
        "References": " ".join(chain),
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
    }


def link_text(code: str, public_url: str, address: str, minutes: int = 15) -> tuple[str, str]:
    """(text, html) of the one answer an unknown sender gets: how to link their address."""
    url = public_url.rstrip("/") + "/"
    text = (
        f"Hello,\n\nThis is the IT help desk. We don't know who {address} belongs to yet, so we can't act on "
        "your mail.\n\nTo link this address to your account:\n"
        f"1. Sign in to the help desk web chat at {url}\n"
        f"2. Enter this link code there: {code}  (it works for {minutes} minutes)\n\n"
        "Then send your mail again. If you didn't write to the help desk, you can ignore this message.\n"
    )
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in text.strip().split("\n\n"))
    safe_url = html.escape(url, quote=True)
    body = body.replace(html.escape(url), f'<a href="{safe_url}">{html.escape(url)}</a>', 1)
    return text, f"<!DOCTYPE html><html><body>{body}</body></html>"
