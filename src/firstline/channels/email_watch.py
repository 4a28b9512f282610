"""Watching the help desk's mailbox over IMAP: IDLE, UIDs, a stored cursor, and reconnecting.

:class:`ImapWatcher` runs on a thread of its own. It connects (plain, STARTTLS or TLS), logs in, selects
the mailbox and reads its ``UIDVALIDITY``. The cursor in ``mail_cursors`` (:class:`MailCursors`) holds the
last UID handled under that UIDVALIDITY; every message with a higher UID is fetched (``BODY.PEEK[]``, so
the \\Seen flag stays as people left it) and handed to ``handle``, oldest first. The cursor moves past a
message only once ``handle`` returned, i.e. once what the message asked for is stored: a crash in between
means the message is read again on restart (the channel's delivery dedupe then knows it), never skipped.

Then it waits with IDLE (RFC 2177) and fetches again when the server reports ``EXISTS``. IDLE is renewed
every ``idle_s`` seconds (at most 29 minutes: servers may drop an IDLE after 30). A server without IDLE is
polled every ``poll_s`` seconds. When the connection breaks (the server restarts, the network goes away)
the watcher reconnects, waiting 1, 2, 4 ... seconds up to ``reconnect_max_s`` between attempts.

A message that ``handle`` cannot take for a reason retrying will not fix (a bug, a mail it cannot parse)
is flagged ``\\Flagged`` in the mailbox for a person to look at and passed over; when Firstline's own
database or a backend is unavailable the watcher instead reconnects later and tries the same message again.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert, select, update

from firstline.channel_settings import EmailChannelSettings
from firstline.errors import BackendUnavailableError
from firstline.localdb.database import utc_now
from firstline.localdb.schema import mail_cursors
from firstline.sqlstore.transactions import Transactions

__all__ = ["ImapWatcher", "MailCursors"]

log = logging.getLogger(__name__)

MAX_IDLE_S = 29 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes
_IDLE_CHECK_S = 0.5  # how often an IDLE wait looks at the stop flag


class MailCursors:
    """``(uidvalidity, last_uid)`` per watched mailbox, in Firstline's database."""

    def __init__(self, db: Transactions) -> None:
        self._db = db

    def get(self, mailbox: str) -> tuple[int, int] | None:
        with self._db.read() as conn:
            row = conn.execute(select(mail_cursors).where(mail_cursors.c.mailbox == mailbox)).first()
        return (int(row.uidvalidity), int(row.last_uid)) if row is not None else None

    def set(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        values = {"uidvalidity": uidvalidity, "last_uid": last_uid, "updated_at": utc_now()}
        with self._db.write() as conn:
            done = conn.execute(update(mail_cursors).where(mail_cursors.c.mailbox == mailbox).values(**values))
            if done.rowcount == 0:
                conn.execute(insert(mail_cursors).values(mailbox=mailbox, **values))


class _Reconnect(Exception):
    """The server said goodbye or the session is unusable: connect again."""


class ImapWatcher:
    """Hands each new message in ``settings.mailbox`` to ``handle(raw_bytes)``, once, in UID order."""

    def __init__(
        self,
        settings: EmailChannelSettings,
        cursors: MailCursors,
        handle: Callable[[bytes], object],
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.cursors = cursors
        self._handle = handle
        self._ssl = ssl_context
        self.key = f"{settings.username}@{settings.imap_host}:{settings.imap_port}/{settings.mailbox}"[:200]
        self.idling = threading.Event()  # set while the watcher waits in IDLE (or between polls)
        self.connections = 0  # how many times it connected (1 + reconnects)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="firstline-imap", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        self._stopping.set()
        if thread is not None:
            thread.join(timeout_s)

    def _run(self) -> None:
        wait = 1.0
        while not self._stopping.is_set():
            try:
                self._session()
                wait = 1.0
            except Exception as error:  # the server went away, refused us, or the database is down
                self.idling.clear()
                if self._stopping.is_set():
                    break
                log.warning("IMAP %s: %s: %s; reconnecting in %.0f s", self.key, type(error).__name__, error, wait)
                self._stopping.wait(wait)
                wait = min(wait * 2, float(self.settings.reconnect_max_s))
        self.idling.clear()

    # -- one connection ---------------------------------------------------------------------------------

    def _connect(self) -> Any:
        from imapclient import IMAPClient

        s = self.settings
        context = self._ssl or ssl.create_default_context()
        client = IMAPClient(
            s.imap_host, port=s.imap_port, ssl=s.imap_security == "tls", ssl_context=context, timeout=s.timeout_s
        )
        if s.imap_security == "starttls":
            client.starttls(context)
        client.login(s.username, s.password.get_secret_value() if s.password else "")
        return client

    def _session(self) -> None:
        client = self._connect()
        self._client = client
        self.connections += 1
        try:
            info = client.select_folder(self.settings.mailbox)
            uidvalidity = int(info[b"UIDVALIDITY"])
            last = self._start_uid(client, info, uidvalidity)
            can_idle = client.has_capability("IDLE")
            while not self._stopping.is_set():
                last = self._fetch_new(client, uidvalidity, last)
                if can_idle:
                    self._idle(client)
                else:
                    self.idling.set()
                    self._stopping.wait(self.settings.poll_s)
                    client.noop()
        finally:
            self._client = None
            self.idling.clear()
            try:
                client.logout()
            except Exception:  # the connection is already gone: just close the socket
                log.debug("IMAP %s: logout failed; closing", self.key, exc_info=True)
                try:
                    client.shutdown()
                except Exception:
                    log.debug("IMAP %s: the socket was already closed", self.key, exc_info=True)

    def _start_uid(self, client: Any, info: dict[bytes, Any], uidvalidity: int) -> int:
        """The last UID already handled under ``uidvalidity``."""
        cursor = self.cursors.get(self.key)
        if cursor is not None and cursor[0] == uidvalidity:
            return cursor[1]
        # First start, or the server renumbered the mailbox (UIDVALIDITY changed: it was recreated or restored,
        # and the old UIDs mean nothing now). Begin after the newest message there is: answering the whole
        # mailbox again would re-answer old threads, mail that was handled under the old numbering has its
        # Message-ID in the delivery dedupe, and the gap can only hold the few mails that arrived while the
        # mailbox was being rebuilt, which stay in the mailbox for a person to see.
        highest = int(info.get(b"UIDNEXT", 1)) - 1
        if highest <= 0 or b"UIDNEXT" not in info:
            uids = client.search(["ALL"])
            highest = max((int(u) for u in uids), default=0)
        if cursor is not None:
            log.warning(
                "IMAP %s: UIDVALIDITY changed from %s to %s; continuing after UID %s",
                self.key, cursor[0], uidvalidity, highest,
            )  # fmt: skip
        self.cursors.set(self.key, uidvalidity, highest)
        return highest

    def _fetch_new(self, client: Any, uidvalidity: int, last: int) -> int:
        """Hand every message after UID ``last`` to the handler, until a search finds nothing new; the new last UID.

        Searching again after each batch matters: a message that arrived while the batch was handled was
        announced (``* n EXISTS``) inside the answer to a FETCH, which the IDLE that follows does not repeat.
        """
        while True:
            # "UID n:*" always matches the highest UID, even below n: keep only the new ones
            uids = sorted(int(u) for u in client.search(["UID", f"{last + 1}:*"]) if int(u) > last)
            if not uids or self._stopping.is_set():
                return last
            last = self._hand_over(client, uidvalidity, uids, last)

    def _hand_over(self, client: Any, uidvalidity: int, uids: list[int], last: int) -> int:
        for uid in uids:
            if self._stopping.is_set():
                break
            fetched = client.fetch([uid], ["BODY.PEEK[]"])
            raw = fetched.get(uid, {}).get(b"BODY[]")
            if isinstance(raw, bytes):
                try:
                    self._handle(raw)
                except BackendUnavailableError:
                    raise  # our database or a backend is down: try this message again after reconnecting
                except Exception:
                    log.exception(
                        "IMAP %s: could not handle UID %s; flagged for a person and passed over", self.key, uid
                    )
                    client.add_flags([uid], [b"\\Flagged"])
            self.cursors.set(self.key, uidvalidity, uid)
            last = uid
        return last

    def _idle(self, client: Any) -> None:
        """Wait in IDLE until the server reports new mail, the renewal time, or stop."""
        renew_at = time.monotonic() + min(float(self.settings.idle_s), MAX_IDLE_S)
        client.idle()
        self.idling.set()
        try:
            woken_empty = 0
            while not self._stopping.is_set() and time.monotonic() < renew_at:
                started = time.monotonic()
                responses = client.idle_check(timeout=_IDLE_CHECK_S)
                # imapclient swallows end-of-file during IDLE and returns nothing: a socket that wakes the
                # wait without a response, twice in a row, is a connection the server has closed
                woken_empty = woken_empty + 1 if not responses and time.monotonic() - started < _IDLE_CHECK_S / 2 else 0
                if woken_empty >= 2:
                    raise _Reconnect("the server closed the connection")
                for response in responses:
                    if (len(response) >= 1 and response[0] == b"BYE") or (len(response) > 1 and response[1] == b"BYE"):
                        raise _Reconnect(f"the server said goodbye: {response!r}")
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    break
        finally:
            self.idling.clear()
        client.idle_done()
