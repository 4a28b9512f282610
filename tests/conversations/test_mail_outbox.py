"""The outgoing-mail queue: stored before it is sent, claimed once, retried or given up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firstline.conversations.mail import MailOutbox, domain_of
from firstline.errors import InputError
from firstline.localdb import open_database
from firstline.sqlstore.transactions import Transactions
from firstline.testing.clock import FixedClock

START = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Transactions]:
    db = open_database(f"sqlite:///{tmp_path / 'mail.db'}")
    yield db
    db.close()


def test_enqueue_stores_the_mail_with_a_message_id_of_the_sender_domain(database: Transactions) -> None:
    outbox = MailOutbox(database, domain=domain_of("IT help <it-helpdesk@NWMeridian.co.uk>"))
    woken: list[int] = []
    outbox.watch(lambda: woken.append(1))
    mail = outbox.enqueue("reply", "ruby.chen@nwmeridian.co.uk", "Re: VPN", "text", "<p>text</p>", {"X-Kind": "a"})
    assert mail.message_id.startswith("<") and mail.message_id.endswith("@nwmeridian.co.uk>")
    stored = MailOutbox(database).list()
    assert [(m.id, m.status, m.message_id, m.headers, m.body_html) for m in stored] == [
        (mail.id, "pending", mail.message_id, {"X-Kind": "a"}, "<p>text</p>")
    ]
    assert woken == [1]
    assert outbox.list(status="sent") == []


def test_enqueue_inside_a_unit_of_work_is_rolled_back_with_it(database: Transactions) -> None:
    outbox = MailOutbox(database)
    woken: list[int] = []
    outbox.watch(lambda: woken.append(1))
    with pytest.raises(RuntimeError), database.unit_of_work():
        outbox.enqueue("reply", "a@example.com", "s", "b")
        raise RuntimeError("the change it tells about failed")
    assert outbox.list() == [] and woken == []


@pytest.mark.parametrize(
    ("recipient", "subject", "headers", "message"),
    [
        ("not-an-address", "s", {}, "not an e-mail address"),
        ("a@example.com", "s\r\nBcc: evil@x", {}, "one line"),
        ("a@example.com", "s", {"X-A": "v\nBcc: evil@x"}, "one line"),
        ("a@example.com", "s", {"Bad Name": "v"}, "valid header name"),
    ],
)
def test_bad_mail_is_refused_clearly_and_nothing_is_stored(
    database: Transactions, recipient: str, subject: str, headers: dict[str, str], message: str
) -> None:
    outbox = MailOutbox(database)
    with pytest.raises(InputError, match=message):
        outbox.enqueue("reply", recipient, subject, "body", headers=headers)
    assert outbox.list() == []


def test_claim_takes_due_mail_once_and_reclaims_a_stale_claim(database: Transactions) -> None:
    clock = FixedClock(START)
    outbox = MailOutbox(database, clock=clock, lease=timedelta(minutes=5))
    first = outbox.enqueue("reply", "a@example.com", "one", "1")
    second = outbox.enqueue("reply", "b@example.com", "two", "2")
    claimed = outbox.claim(1, "w1")
    assert [(m.id, m.status, m.attempts) for m in claimed] == [(first.id, "sending", 1)]
    assert [m.id for m in outbox.claim(10, "w2")] == [second.id]
    assert outbox.claim(10, "w3") == []  # both are being sent
    clock.now += timedelta(minutes=6)  # the workers died: their leases ran out
    again = outbox.claim(10, "w3")
    assert sorted((m.id, m.attempts) for m in again) == [(first.id, 2), (second.id, 2)]


def test_sent_and_failed_end_an_attempt(database: Transactions) -> None:
    clock = FixedClock(START)
    outbox = MailOutbox(database, clock=clock)
    a = outbox.enqueue("reply", "a@example.com", "a", "a")
    b = outbox.enqueue("reply", "b@example.com", "b", "b")
    c = outbox.enqueue("reply", "c@example.com", "c", "c")
    outbox.claim(10, "w")
    outbox.sent(a.id)
    outbox.failed(b.id, "421 try later", clock.now + timedelta(minutes=1))
    outbox.failed(c.id, "550 no such user", None)
    assert {m.id: (m.status, m.last_error) for m in outbox.list()} == {
        a.id: ("sent", ""),
        b.id: ("pending", "421 try later"),
        c.id: ("failed", "550 no such user"),
    }
    assert outbox.get(a.id) is not None and outbox.get(a.id).sent_at == clock.now  # type: ignore[union-attr]
    assert outbox.claim(10, "w") == []  # b waits for its retry time
    assert outbox.next_due() == clock.now + timedelta(minutes=1)
    clock.now += timedelta(minutes=1)
    assert [m.id for m in outbox.claim(10, "w")] == [b.id]
