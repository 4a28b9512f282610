"""Who sent a mail: only a verified mapping says so (issue item 9), never the name in ``From:``.

Anyone can write any ``From:`` header, display name and address alike, so a sender's address becomes a
directory person only through :meth:`SqlChannels.person` (``channel_identities``), a mapping made

* by the person: the help desk answers an unknown address once with a link code, which they enter in the
  signed-in web chat (``POST /v1/me/links``): proof they own both the address and the account; or
* by an administrator (``SqlChannels.link(..., verified_via="admin")``); or
* optionally, by the organisation's own mail server (:func:`dmarc_vouches`), **off by default**
  (``[channels.email] trust_authentication_results``). When it is on, a mail whose topmost
  ``Authentication-Results`` header was written by the configured ``authserv_id`` and says ``dmarc=pass``
  for the From domain (``header.from``), from an address that is a directory person's own e-mail, links
  that address to that person (``verified_via="dmarc"``). Only the topmost header counts: it is the one
  the receiving server added last, above anything the sender wrote; RFC 8601 has that server remove
  headers claiming its own authserv-id from incoming mail, and a deployment that turns this on must make
  sure its server does (and that mail cannot reach the mailbox around it). DMARC pass proves the mail came
  through a server allowed to send for the domain, not which user of that domain wrote it, so this is
  only for domains whose servers authenticate their users (your own tenant).

:class:`LinkReplies` limits the answer to an unknown sender to one per address per
``link_reply_interval_s``, counted in the outgoing-mail queue (so a restart does not reset it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from firstline.conversations.mail import MailOutbox
from firstline.directory.backend import DirectoryBackend
from firstline.errors import DirectoryError

__all__ = ["LINK_KIND", "LinkReplies", "authentication_result", "dmarc_vouches"]

LINK_KIND = "email-link"
_RESULT = re.compile(r"(?P<method>[a-z0-9-]+)\s*=\s*(?P<result>[a-z]+)(?P<props>[^;]*)", re.IGNORECASE)
_PROP = re.compile(r"(?P<name>[a-z0-9.-]+)\s*=\s*(?P<value>\"[^\"]*\"|[^\s;]+)", re.IGNORECASE)


def authentication_result(header: str) -> tuple[str, dict[str, tuple[str, dict[str, str]]]]:
    """An ``Authentication-Results`` value as (authserv-id, {method: (result, {property: value})})."""
    without_comments = re.sub(r"\([^()]*\)", " ", header)
    first, _, rest = without_comments.partition(";")
    authserv_id = first.strip().split()[0].lower() if first.strip() else ""
    methods: dict[str, tuple[str, dict[str, str]]] = {}
    for clause in rest.split(";"):
        match = _RESULT.search(clause)
        if match is None:
            continue
        props = {p["name"].lower(): p["value"].strip('"').lower() for p in _PROP.finditer(match["props"])}
        methods.setdefault(match["method"].lower(), (match["result"].lower(), props))
    return authserv_id, methods


def dmarc_vouches(headers: list[str], address: str, authserv_id: str, directory: DirectoryBackend) -> str | None:
    """The directory person's e-mail when the topmost Authentication-Results of ``authserv_id`` says DMARC
    passed for ``address``'s domain and ``address`` is that person's own address; None otherwise."""
    if not headers or not authserv_id.strip() or "@" not in address:
        return None
    server, methods = authentication_result(headers[0])
    if server != authserv_id.strip().lower():
        return None
    result, props = methods.get("dmarc", ("none", {}))
    domain = address.rpartition("@")[2].lower()
    if result != "pass" or props.get("header.from", "") != domain:
        return None
    try:
        person = directory.person(address)
    except DirectoryError:
        return None
    return person.email.lower() if person.email.lower() == address.lower() else None


class LinkReplies:
    """At most one how-to-link answer per address per ``interval``."""

    def __init__(self, outbox: MailOutbox, interval: timedelta, clock: Callable[[], datetime]) -> None:
        self._outbox = outbox
        self._interval = interval
        self._clock = clock

    def may_answer(self, address: str) -> bool:
        return self._outbox.count_since(LINK_KIND, address, self._clock() - self._interval) == 0
