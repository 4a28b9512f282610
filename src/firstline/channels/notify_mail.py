"""Notification mails from templates: subject, text and HTML parts, and the unsubscribe headers.

The templates are files in ``firstline/channels/templates`` (package data): ``<kind>.txt`` and
``<kind>.html`` per kind, ``footer.txt`` under every text part and ``layout.html`` around every HTML
part. They are :class:`string.Template` texts (``$name``); every value put into an HTML template is
HTML-escaped, except the fragments this module builds itself from escaped text (:mod:`notify_text`).
A template that names a value nobody provides fails loudly (``substitute``, never ``safe_substitute``).

Every mail carries, besides the subject with the ticket number (``[INC0001234] Resolved: ...``):

* ``List-Unsubscribe: <https://.../v1/notifications/unsubscribe?token=...>`` and
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 2369, RFC 8058: a mail client may switch the
  kind off with one POST; a GET only shows a confirmation page, since mail scanners follow links);
* ``Auto-Submitted: auto-generated`` (RFC 3834: auto-responders must not answer it) and
  ``X-Auto-Response-Suppress: All`` (the same for Exchange's out-of-office replies).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from urllib.parse import quote

from firstline.channel_settings import NoticeKind
from firstline.channels.notify_rules import Wanted
from firstline.channels.notify_text import plain_text, simple_html
from firstline.channels.notify_tokens import UnsubscribeTokens
from firstline.ticketing.models import Ticket

__all__ = ["KIND_LABELS", "MailTemplates", "RenderedMail", "person_name"]

KIND_LABELS: dict[str, str] = {
    "approval": "approval requests",
    "reply": "replies on your requests",
    "resolved": "resolved requests",
}
_REASONS: dict[str, str] = {
    "approval": "you can approve requests made to the IT help desk",
    "reply": "you asked the IT help desk for help",
    "resolved": "you asked the IT help desk for help",
}
_BOX = "border-left:3px solid #c9d1dc;padding:2px 12px;margin:12px 0"


@cache
def _template(name: str) -> Template:
    return Template((resources.files("firstline.channels") / "templates" / name).read_text(encoding="utf-8"))


def person_name(email: str) -> str:
    """How a mail greets someone: ``ana.silva@example.com`` -> ``Ana Silva``."""
    local = email.split("@")[0]
    return local.replace(".", " ").replace("_", " ").replace("-", " ").title() or email


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str
    headers: dict[str, str]


class MailTemplates:
    """Renders one notification mail per kind, with links under ``public_url``."""

    def __init__(self, public_url: str, tokens: UnsubscribeTokens) -> None:
        self.public_url = public_url.rstrip("/")
        self.tokens = tokens

    def unsubscribe_url(self, email: str, kind: NoticeKind) -> str:
        token = self.tokens.make(email, kind)
        return f"{self.public_url}/v1/notifications/unsubscribe?token={quote(token, safe='')}"

    def conversation_url(self, conversation_id: str) -> str:
        return f"{self.public_url}/?conversation={quote(conversation_id, safe='')}"

    def render(
        self, kind: NoticeKind, items: Sequence[Wanted], ticket: Ticket | None, number: str | None
    ) -> RenderedMail:
        """The mail telling ``items[0].recipient`` about ``items`` (one or more of the same kind and conversation;
        a ``resolved`` mail may carry ``reply`` items too: the messages that came with the resolution)."""
        first = items[0]
        recipient = first.recipient
        title = _one_line(ticket.short_description) if ticket is not None else ""
        ticket_line = number or "in your conversation with the IT help desk"
        if number and ticket is not None:
            ticket_line = f"{number} ({title}, now {ticket.state.value.replace('_', ' ')})"
        values = {
            "name": person_name(recipient),
            "ticket_line": ticket_line,
            "conversation_url": self.conversation_url(first.conversation_id),
        }
        fragments: dict[str, str] = {}
        if kind == "approval":
            asks = [i for i in items if i.kind == "approval"]
            values["requester"] = person_name(asks[0].requester) + f" ({asks[0].requester})"
            values["console_url"] = f"{self.public_url}/console"
            values["items"] = "\n".join(f"  - {i.what} (approval {i.approval})" for i in asks) + "\n"
            fragments["items"] = "\n".join(
                f"<li>{html.escape(i.what)} <small>(approval {html.escape(i.approval)})</small></li>" for i in asks
            )
            what = _one_line(asks[0].what, 80) if len(asks) == 1 else f"{len(asks)} requests"
            subject = f"Approval needed: {what}"
        else:
            messages = [i for i in items if i.kind == "reply"]
            values["messages"], fragments["messages"] = self._messages(messages, heading=kind == "resolved")
            if kind == "resolved":
                note = next((i.text for i in items if i.kind == "resolved" and i.text), "")
                note = note or (ticket.resolution_note if ticket is not None else "") or "no note was given."
                values["note"] = plain_text(note)
                fragments["note"] = html.escape(plain_text(note))
                subject = f"Resolved: {title or 'your request'}"
            else:
                count = f" ({len(messages)} new messages)" if len(messages) > 1 else ""
                subject = f"New reply on {title or 'your request'}{count}"
        if number:
            subject = f"[{number}] {subject}"
        return self._finish(kind, recipient, _one_line(subject, 250), values, fragments)

    def _messages(self, messages: Sequence[Wanted], heading: bool) -> tuple[str, str]:
        """The messages as text and HTML; each with its time when there are several."""
        if not messages:
            return "", ""
        several = len(messages) > 1
        texts: list[str] = []
        blocks: list[str] = []
        for item in messages:
            when = item.at.strftime("%d %b %H:%M UTC")
            texts.append((f"[{when}]\n" if several else "") + plain_text(item.text))
            stamp = f'<p style="color:#4a5563;font-size:13px">{html.escape(when)}</p>' if several else ""
            blocks.append(f'<div style="{_BOX}">{simple_html(item.text)}{stamp}</div>')
        text = "\n\n".join(texts)
        if heading:
            return f"\nThe latest message:\n\n{text}\n", "<p>The latest message:</p>\n" + "\n".join(blocks)
        return text, "\n".join(blocks)

    def _finish(
        self, kind: NoticeKind, recipient: str, subject: str, values: Mapping[str, str], fragments: Mapping[str, str]
    ) -> RenderedMail:
        unsubscribe = self.unsubscribe_url(recipient, kind)
        common = {"reason": _REASONS[kind], "kind_label": KIND_LABELS[kind], "unsubscribe_url": unsubscribe}
        text = _template(f"{kind}.txt").substitute(values) + _template("footer.txt").substitute(common)
        escaped = {name: html.escape(value, quote=True) for name, value in {**values, **common}.items()}
        content = _template(f"{kind}.html").substitute({**escaped, **fragments})
        page = _template("layout.html").substitute(
            {**escaped, "subject": html.escape(subject, quote=True), "content": content}
        )
        headers = {
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
            "X-Auto-Response-Suppress": "All",
        }
        return RenderedMail(subject, text, page, headers)
