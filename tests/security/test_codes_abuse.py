"""One-time codes under attack (issue 11, part d).

The finding: "60 guesses in 1.8 s texted the victim 10 codes". Here the same 60 wrong guesses go through
the helpdesk (offline engine, codes kept in the ticket database as in production), in one conversation
and across new conversations, and then: how many codes were texted, when verification locked, whether
Security Operations got the ticket, whether the right code still works while locked (it must not), and
whether a new conversation can get a new code (it must not). The stored digest is brute-forced over
the 10^6 codes with plain SHA-256; codes expire and the lock lifts, on a fake clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from firstline.errors import ToolFailed
from firstline.helpdesk.desk import DeskReply, Helpdesk
from firstline.helpdesk.tools.deps import MemoryCodeStore, OneTimeCodes
from firstline.ticketing import EntryKind, TicketQuery

RUBY = "ruby.chen@nwmeridian.co.uk"  # locked out (r.chen)
SECOPS = "Security Operations"
LOCKED_OUT = "I'm locked out of my account"


def _ask(desk: Helpdesk, text: str, conversation_id: str | None = None, who: str = RUBY) -> DeskReply:
    return asyncio.run(desk.ask(text, requester=who, conversation_id=conversation_id))


def _wrong_codes(avoid: list[str]) -> Any:
    """Six-digit guesses, none of them a code that was sent (checked against ``avoid`` as it grows)."""
    n = 0
    while True:
        n += 1
        guess = f"{(n * 7919 + 104729) % 10**6:06d}"
        if guess not in avoid:
            yield guess


def _escalations_to_secops(desk: Helpdesk) -> list[str]:
    """Ruby's tickets with Security Operations, escalated (state in progress, an escalation entry)."""
    found = []
    for ticket in desk.tickets.search(TicketQuery(requester=RUBY, limit=500)):
        history = desk.tickets.history(ticket.number)
        if ticket.assignment_group == SECOPS and any(e.kind == EntryKind.ESCALATION for e in history):
            found.append(f"{ticket.number} ({ticket.state.value})")
    return found


def test_sixty_wrong_guesses_in_one_conversation(secure_desk: Any) -> None:
    secure = secure_desk()
    desk, codes = secure.desk, secure.codes
    first = _ask(desk, LOCKED_OUT)
    assert first.awaiting == "code" and len(secure.delivered) == 1
    guesses = _wrong_codes(secure.codes_for(RUBY))
    locked_at, sent_after_lock, start = None, 0, time.perf_counter()
    for n in range(1, 61):
        sent = len(secure.delivered)
        reply = _ask(desk, next(guesses), first.conversation_id)
        if locked_at is not None:
            sent_after_lock += len(secure.delivered) - sent
        if locked_at is None and codes.locked(RUBY):
            locked_at = n
            assert "Security Operations" in reply.reply, reply.reply
    elapsed = time.perf_counter() - start
    print(
        f"\n60 wrong guesses in one conversation: {elapsed:.1f} s, {len(secure.delivered)} code(s) texted, "
        f"locked after guess {locked_at}, {sent_after_lock} sent after the lock"
    )
    assert len(secure.delivered) <= codes.max_sends and sent_after_lock == 0
    assert locked_at == codes.max_wrong, f"verification locked after {locked_at} wrong codes, not {codes.max_wrong}"
    assert _escalations_to_secops(desk) != [], "the lockout was not handed to Security Operations"
    # The right code, typed while locked, is refused.
    right = secure.last_code(RUBY)
    assert right is not None
    late = _ask(desk, right, first.conversation_id)
    assert desk.directory.account("r.chen").locked is True, late.reply
    assert ("verify_identity", "ok") not in [(a["tool"], a["outcome"]) for a in late.actions]
    # A new conversation by the same requester gets no new code.
    before = len(secure.delivered)
    again = _ask(desk, LOCKED_OUT)
    assert len(secure.delivered) == before, f"a new code was sent while locked: {again.reply!r}"
    assert desk.directory.account("r.chen").locked is True


def test_a_second_process_on_the_same_database_sends_no_code_while_locked(desk_factory: Any, tmp_path: Path) -> None:
    secure = desk_factory(tmp_path / "tickets.db")
    first = _ask(secure.desk, LOCKED_OUT)
    for guess in list(_take(_wrong_codes(secure.codes_for(RUBY)), secure.codes.max_wrong)):
        _ask(secure.desk, guess, first.conversation_id)
    assert secure.codes.locked(RUBY)
    second = desk_factory(tmp_path / "tickets.db", tickets=secure.desk.tickets)  # same store and secret
    reply = _ask(second.desk, LOCKED_OUT)
    assert second.delivered == [] and second.codes.locked(RUBY), reply.reply
    assert second.desk.directory.account("r.chen").locked is True


def _take(iterator: Any, n: int) -> list[Any]:
    return [next(iterator) for _ in range(n)]


def test_sixty_guesses_across_new_conversations(secure_desk: Any) -> None:
    """The attacker opens a new conversation for each guess, so each could bring a fresh code."""
    secure = secure_desk()
    desk, codes = secure.desk, secure.codes
    guesses = _wrong_codes(secure.codes_for(RUBY))
    start = time.perf_counter()
    for _ in range(30):
        opened = _ask(desk, LOCKED_OUT)
        _ask(desk, next(guesses), opened.conversation_id)
    elapsed = time.perf_counter() - start
    print(
        f"\n30 new conversations x (ask, guess) = 60 messages: {elapsed:.1f} s, {len(secure.delivered)} code(s) "
        f"texted, locked={codes.locked(RUBY)}"
    )
    assert len(secure.delivered) <= codes.max_sends
    assert codes.locked(RUBY) and _escalations_to_secops(desk) != []
    assert desk.directory.account("r.chen").locked is True


def _stored_digests(db: Path, subject: str) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [row[0] for row in conn.execute("SELECT digest FROM verification_codes WHERE subject = ?", (subject,))]


def test_the_stored_digest_is_not_a_plain_sha256_of_the_code(secure_desk: Any) -> None:
    secure = secure_desk()
    _ask(secure.desk, LOCKED_OUT)
    code = secure.last_code(RUBY)
    assert code is not None
    with sqlite3.connect(f"file:{secure.db}?mode=ro", uri=True) as conn:
        everything = "\n".join(
            str(cell)
            for table in ("verification_codes", "conversations", "conversation_events")
            for row in conn.execute(f"SELECT * FROM {table}")
            for cell in row
        )
    assert code not in everything
    digests = _stored_digests(secure.db, RUBY)
    assert len(digests) == 1 and "$" in digests[0]
    salt, stored = digests[0].split("$", 1)
    # A control target with a known code, hashed the naive way: the search must find it.
    control_code = "271828"
    control = hashlib.sha256(f"{salt}:{control_code}".encode()).hexdigest()
    formats = {
        "salt:code": (f"{salt}:".encode(), b""),
        "salt:subject:code": (f"{salt}:{RUBY}:".encode(), b""),
        "salt+code": (salt.encode(), b""),
        "code:salt": (b"", f":{salt}".encode()),
        "subject:code": (f"{RUBY}:".encode(), b""),
    }
    found, start = [], time.perf_counter()
    for name, (prefix, suffix) in formats.items():
        base = hashlib.sha256(prefix)
        for n in range(10**6):
            h = base.copy()
            h.update(b"%06d" % n + suffix)
            digest = h.hexdigest()
            if digest == stored:
                found.append(f"{name}: {n:06d}")
            elif digest == control:
                found.append(f"control via {name}: {n:06d}")
    print(f"\nbrute force of 10^6 codes x {len(formats)} SHA-256 layouts: {time.perf_counter() - start:.1f} s, {found}")
    assert found == [f"control via salt:code: {control_code}"], found


def test_a_copy_of_the_database_without_the_server_secret_cannot_check_a_code(
    desk_factory: Any, tmp_path: Path
) -> None:
    db = tmp_path / "tickets.db"
    secure = desk_factory(db)
    first = _ask(secure.desk, LOCKED_OUT)
    code = secure.last_code(RUBY)
    assert code is not None
    stolen = desk_factory(db, tickets=secure.desk.tickets, secret=b"a different secret, as on a stolen copy")
    reply = _ask(stolen.desk, code, first.conversation_id)
    assert stolen.desk.directory.account("r.chen").locked is True, reply.reply
    # Control: the same code, checked with the server's secret (another process of the same service), works.
    secure2 = desk_factory(tmp_path / "control.db")
    first2 = _ask(secure2.desk, LOCKED_OUT)
    same = desk_factory(tmp_path / "control.db", tickets=secure2.desk.tickets)
    _ask(same.desk, secure2.last_code(RUBY) or "", first2.conversation_id)
    assert same.desk.directory.account("r.chen").locked is False


def test_an_expired_code_is_refused_and_a_new_one_works(secure_desk: Any) -> None:
    now = [1_900_000_000.0]
    secure = secure_desk(clock=lambda: now[0])
    first = _ask(secure.desk, LOCKED_OUT)
    old = secure.last_code(RUBY)
    assert old is not None
    now[0] += secure.codes.ttl_s + 1
    expired = _ask(secure.desk, old, first.conversation_id)
    assert secure.desk.directory.account("r.chen").locked is True, expired.reply
    assert ("verify_identity", "ok") not in [(a["tool"], a["outcome"]) for a in expired.actions]
    new = secure.last_code(RUBY)
    if new == old:  # the desk did not send a new one by itself: ask for it
        _ask(secure.desk, "please send me a new code", first.conversation_id)
        new = secure.last_code(RUBY)
    assert new is not None and new != old
    _ask(secure.desk, new, first.conversation_id)
    assert secure.desk.directory.account("r.chen").locked is False


def _clocked_codes(**options: Any) -> tuple[OneTimeCodes, list[float], list[str]]:
    now, sent = [1_900_000_000.0], []
    codes = OneTimeCodes(
        deliver=lambda who, code, channel: sent.append(code), clock=lambda: now[0], store=MemoryCodeStore(), **options
    )
    return codes, now, sent


def _wrong(codes: OneTimeCodes, sent: list[str], who: str = RUBY) -> Any:
    guess = next(g for g in (f"{n:06d}" for n in range(10**6)) if g not in sent)
    try:
        return codes.check(who, guess)
    except ToolFailed as exc:
        return exc


def test_the_lock_lasts_thirty_minutes_then_lifts() -> None:
    codes, now, sent = _clocked_codes()
    codes.issue(RUBY, "sms")
    results = [_wrong(codes, sent) for _ in range(5)]
    assert results[:4] == [False] * 4 and isinstance(results[4], ToolFailed) and codes.locked(RUBY)
    now[0] += 29 * 60
    with pytest.raises(ToolFailed):
        codes.issue(RUBY, "sms")
    with pytest.raises(ToolFailed):
        codes.check(RUBY, sent[-1])
    assert len(sent) == 1
    now[0] += 2 * 60
    codes.issue(RUBY, "sms")
    assert len(sent) == 2 and codes.check(RUBY, sent[-1]) is True


def test_wrong_codes_count_per_requester_across_codes_and_spellings() -> None:
    codes, _, sent = _clocked_codes()
    codes.issue(RUBY, "sms")
    assert [_wrong(codes, sent) for _ in range(3)] == [False] * 3
    codes.issue(RUBY.upper(), "sms")  # a new code, the address spelt differently
    assert _wrong(codes, sent, RUBY.title()) is False
    assert isinstance(_wrong(codes, sent), ToolFailed) and codes.locked(RUBY.upper())


def test_at_most_five_codes_per_fifteen_minutes() -> None:
    codes, now, sent = _clocked_codes()
    for _ in range(codes.max_sends):
        codes.issue(RUBY, "sms")
    with pytest.raises(ToolFailed):
        codes.issue(RUBY, "sms")
    assert len(sent) == 5 == codes.max_sends
    now[0] += codes.window_s + 1
    codes.issue(RUBY, "sms")
    assert len(sent) == 6
