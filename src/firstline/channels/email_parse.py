"""Reading one incoming mail: who sent it, what it answers, what it says, and whether a person wrote it.

:func:`parse_mail` decodes the raw RFC 5322 bytes (MIME parts, charsets, RFC 2047 encoded words) into an
:class:`IncomingMail`: the sender's bare address (lower case; the display name is kept only for logs and
is never used to decide who someone is), the Message-IDs it refers to (``In-Reply-To`` first, then
``References`` newest first), ticket numbers in the subject, the text the person wrote (``text/plain``
preferred, else the HTML as text; cleaned by :mod:`firstline.channels.email_clean`), and the names of
attachments, which Firstline does not read.

:func:`automatic` says why a mail must not be answered (RFC 3834 and what real systems send): an
``Auto-Submitted`` other than ``no``, ``X-Auto-Response-Suppress``, ``Precedence: bulk/junk/list``,
``List-Id``/``List-Unsubscribe`` (mailing lists), ``X-Autoreply``/``X-Autorespond``, a delivery report,
a null return path or a ``MAILER-DAEMON``/``postmaster`` sender (bounces), and mail from the help desk's
own address (a loop).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr

from firstline.channels.email_clean import clean_reply, html_to_text

__all__ = ["IncomingMail", "automatic", "message_ids", "parse_mail", "ticket_numbers"]

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_TICKET = re.compile(r"(?<![A-Za-z0-9])\[?(INC\d{7})\]?(?![0-9])", re.IGNORECASE)
_BOUNCERS = ("mailer-daemon", "postmaster")


def message_ids(value: str | None) -> list[str]:
    """The ``<id@domain>`` tokens in a header value, in order."""
    return _MESSAGE_ID.findall(value or "")


def ticket_numbers(subject: str) -> list[str]:
    """Ticket numbers in a subject (``[INC0001234]`` or ``INC0001234``), upper case, first first."""
    found: list[str] = []
    for match in _TICKET.finditer(subject):
        number = match.group(1).upper()
        if number not in found:
            found.append(number)
    return found


@dataclass(frozen=True, slots=True)
class IncomingMail:
    message_id: str
    address: str  # the sender's bare address, lower case
    display_name: str  # never used to decide who the sender is
    subject: str
    text: str  # what the person wrote: no quoted thread, no signature
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    headers: EmailMessage | None = None

    @property
    def refers_to(self) -> list[str]:
        """Message-IDs this mail answers, the most specific first (In-Reply-To, then References newest first)."""
        ordered: list[str] = []
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            if mid not in ordered:
                ordered.append(mid)
        return ordered

    def header(self, name: str) -> str:
        return str(self.headers.get(name, "")) if self.headers is not None else ""

    def all_headers(self, name: str) -> list[str]:
        return [str(v) for v in (self.headers.get_all(name) or [])] if self.headers is not None else []


def _decode_part(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name: read it as UTF-8 rather than lose the mail
        return payload.decode("utf-8", errors="replace")


def _body(message: EmailMessage) -> tuple[str, list[str]]:
    """(the text the person wrote, attachment names)."""
    attachments: list[str] = []
    plain: str | None = None
    html: str | None = None
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if (
            disposition == "attachment"
            or (filename and disposition != "inline")
            or (disposition == "inline" and part.get_content_maintype() not in ("text",))
        ):
            attachments.append(filename or part.get_content_type())
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = _decode_part(part)
        elif kind == "text/html" and html is None:
            html = _decode_part(part)
        elif part.get_content_maintype() in ("image", "application", "audio", "video"):
            attachments.append(filename or kind)
    if plain is not None and plain.strip():
        text = plain
    elif html is not None:
        text = html_to_text(html)
    else:
        text = ""
    return clean_reply(text), attachments


def parse_mail(raw: bytes) -> IncomingMail:
    """Read one mail (raw RFC 5322 bytes as IMAP fetched them)."""
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)  # policy.default always builds EmailMessage
    name, address = parseaddr(str(parsed.get("From", "")))
    subject = re.sub(r"\s+", " ", str(parsed.get("Subject", ""))).strip()
    found = message_ids(str(parsed.get("Message-ID", "")))
    # a mail without a Message-ID still needs a stable key (dedupe, threading): a digest of its bytes
    message_id = found[0] if found else f"<sha256-{hashlib.sha256(raw).hexdigest()[:32]}@firstline.invalid>"
    text, attachments = _body(parsed)
    return IncomingMail(
        message_id=message_id,
        address=address.strip().lower(),
        display_name=name,
        subject=subject,
        text=text,
        in_reply_to=message_ids(str(parsed.get("In-Reply-To", ""))),
        references=message_ids(str(parsed.get("References", ""))),
        attachments=attachments,
        headers=parsed,
    )


def automatic(mail: IncomingMail, own_addresses: tuple[str, ...]) -> str | None:
    """Why ``mail`` must not be answered (an auto-reply, a list, a bounce, our own mail); None for a person's."""
    auto_submitted = mail.header("Auto-Submitted").strip().lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto_submitted}"
    if mail.header("X-Auto-Response-Suppress"):
        return "X-Auto-Response-Suppress"
    precedence = mail.header("Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("List-Id", "List-Unsubscribe", "X-Autoreply", "X-Autorespond", "X-Auto-Reply", "X-Autoresponder"):
        if mail.header(name):
            return name
    if mail.headers is not None and mail.headers.get_content_type() == "multipart/report":
        return "a delivery or read report"
    return_path = mail.header("Return-Path").strip()
    if return_path and return_path.strip("<> ") == "":
        return "a null return path (a bounce)"
    if not mail.address or mail.address.split("@")[0] in _BOUNCERS:
        return f"sent by {mail.address or 'nobody'} (a bounce)"
    own = {a.lower() for a in own_addresses if a}
    if mail.address in own:
        return "sent from the help desk's own address (a loop)"
    senders = {a.lower() for _, a in getaddresses(mail.all_headers("Sender"))}
    if senders & own:
        return "sent on behalf of the help desk's own address (a loop)"
    return None
