"""The IMAP watcher against a real Dovecot: IDLE, the UID cursor, UIDVALIDITY changes and reconnecting."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from firstline.channel_settings import EmailChannelSettings
from firstline.channels.email_watch import ImapWatcher, MailCursors
from firstline.localdb import open_database
from firstline.sqlstore.transactions import Transactions
from firstline.testing.dovecot import Dovecot
from firstline.testing.live import cannot_start

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    if Dovecot.available() is None:
        cannot_start("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
    server = Dovecot().start()
    yield server
    server.remove()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Transactions]:
    db = open_database(f"sqlite:///{tmp_path / 'cursor.db'}")
    yield db
    db.close()


class Recorder:
    """A handler that keeps what it was given, with the time, and lets tests wait for it."""

    def __init__(self) -> None:
        self.subjects: list[str] = []
        self.times: list[float] = []
        self._changed = threading.Condition()

    def __call__(self, raw: bytes) -> None:
        subject = next((line[9:].decode() for line in raw.splitlines() if line.startswith(b"Subject: ")), "")
        with self._changed:
            self.subjects.append(subject)
            self.times.append(time.perf_counter())
            self._changed.notify_all()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(self.subjects) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"expected {count} messages, the watcher handed over {self.subjects}"
                self._changed.wait(left)
            return list(self.subjects)


def _raw(subject: str) -> bytes:
    return (
        f"From: ruby.chen@nwmeridian.co.uk\r\nSubject: {subject}\r\nMessage-ID: <{subject}@t>\r\n\r\nbody\r\n".encode()
    )


def _settings(server: Dovecot, mailbox: str) -> EmailChannelSettings:
    return EmailChannelSettings(
        enabled=True, imap_host=server.host, imap_port=server.port, imap_security="none", username=server.user,
        password=SecretStr(server.password), mailbox=mailbox, reconnect_max_s=1, timeout_s=5,
    )  # fmt: skip


def _mailbox(server: Dovecot, name: str) -> str:
    client = server.client()
    try:
        client.create_folder(name)
    finally:
        client.logout()
    return name


def _wait_idle(watcher: ImapWatcher, timeout_s: float = 10.0) -> None:
    assert watcher.idling.wait(timeout_s), "the watcher never reached IDLE"


def test_idle_hands_over_a_new_message_within_a_second(dovecot: Dovecot, database: Transactions) -> None:
    mailbox = _mailbox(dovecot, "Idle")
    dovecot.append(_raw("before-start"), mailbox)  # mail from before the first start is not answered
    recorder = Recorder()
    watcher = ImapWatcher(_settings(dovecot, mailbox), MailCursors(database), recorder)
    watcher.start()
    try:
        waits = []
        for n in range(5):
            _wait_idle(watcher)
            time.sleep(0.1)
            appended = time.perf_counter()
            dovecot.append(_raw(f"idle-{n}"), mailbox)
            recorder.wait_for(n + 1)
            waits.append(recorder.times[n] - appended)
        assert recorder.subjects == [f"idle-{n}" for n in range(5)]
        print(f"\nIMAP APPEND -> watcher hands the mail over: {[round(w * 1000) for w in waits]} ms")
        assert max(waits) < 1.0, waits
    finally:
        watcher.stop()


def test_a_restart_resumes_after_the_last_uid_without_duplicates(dovecot: Dovecot, database: Transactions) -> None:
    mailbox = _mailbox(dovecot, "Restart")
    settings = _settings(dovecot, mailbox)
    first = Recorder()
    watcher = ImapWatcher(settings, MailCursors(database), first)
    watcher.start()
    _wait_idle(watcher)
    dovecot.append(_raw("one"), mailbox)
    first.wait_for(1)
    watcher.stop()
    uidvalidity, last_uid = MailCursors(database).get(watcher.key) or (0, 0)
    assert last_uid == 1 and uidvalidity > 0
    dovecot.append(_raw("two"), mailbox)  # arrives while Firstline is down
    dovecot.append(_raw("three"), mailbox)
    second = Recorder()
    again = ImapWatcher(settings, MailCursors(database), second)
    again.start()
    try:
        assert second.wait_for(2) == ["two", "three"]
        _wait_idle(again)
        time.sleep(0.5)
        assert second.subjects == ["two", "three"]  # "one" is not handed over again
        assert MailCursors(database).get(again.key) == (uidvalidity, 3)
    finally:
        again.stop()


def test_a_handler_failure_flags_the_message_and_moves_on(dovecot: Dovecot, database: Transactions) -> None:
    mailbox = _mailbox(dovecot, "Poison")
    recorder = Recorder()

    def handle(raw: bytes) -> None:
        if b"Subject: poison" in raw:
            raise ValueError("cannot read this mail")
        recorder(raw)

    watcher = ImapWatcher(_settings(dovecot, mailbox), MailCursors(database), handle)
    watcher.start()
    try:
        _wait_idle(watcher)
        dovecot.append(_raw("poison"), mailbox)
        dovecot.append(_raw("fine"), mailbox)
        assert recorder.wait_for(1) == ["fine"]
    finally:
        watcher.stop()
    client = dovecot.client()
    try:
        client.select_folder(mailbox)
        assert client.search(["FLAGGED"]) == [1]
    finally:
        client.logout()


def test_a_uidvalidity_change_starts_after_the_newest_message(dovecot: Dovecot, database: Transactions) -> None:
    mailbox = _mailbox(dovecot, "Renumbered")
    settings = _settings(dovecot, mailbox)
    recorder = Recorder()
    watcher = ImapWatcher(settings, MailCursors(database), recorder)
    watcher.start()
    try:
        _wait_idle(watcher)
        dovecot.append(_raw("old-1"), mailbox)
        recorder.wait_for(1)
        old_validity = (MailCursors(database).get(watcher.key) or (0, 0))[0]
    finally:
        watcher.stop()
    client = dovecot.client()  # the mailbox is rebuilt: same name, new UIDVALIDITY, UIDs from 1 again
    try:
        client.delete_folder(mailbox)
        client.create_folder(mailbox)
    finally:
        client.logout()
    time.sleep(1.1)  # Dovecot's UIDVALIDITY is a timestamp
    dovecot.append(_raw("restored-1"), mailbox)
    dovecot.append(_raw("restored-2"), mailbox)
    again = ImapWatcher(settings, MailCursors(database), recorder)
    again.start()
    try:
        _wait_idle(again)
        validity, last = MailCursors(database).get(again.key) or (0, 0)
        assert validity != old_validity and last == 2
        dovecot.append(_raw("new-after-change"), mailbox)
        assert recorder.wait_for(2) == ["old-1", "new-after-change"]
    finally:
        again.stop()


def test_the_watcher_reconnects_when_the_server_comes_back(dovecot: Dovecot, database: Transactions) -> None:
    mailbox = _mailbox(dovecot, "Outage")
    recorder = Recorder()
    watcher = ImapWatcher(_settings(dovecot, mailbox), MailCursors(database), recorder)
    watcher.start()
    try:
        _wait_idle(watcher)
        dovecot.stop()
        deadline = time.monotonic() + 5
        while watcher.idling.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not watcher.idling.is_set()  # it noticed the server went away
        time.sleep(1.5)  # a reconnect attempt or two fail meanwhile
        dovecot.start()
        dovecot.append(_raw("after-outage"), mailbox)
        assert recorder.wait_for(1, timeout_s=15) == ["after-outage"]
        assert watcher.connections >= 2
    finally:
        watcher.stop()
