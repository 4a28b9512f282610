"""Idempotency keys of API messages (the store): one claim runs, a finished one replays, a dead one runs again."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from firstline.conversations.message_keys import Claim, SqlMessageKeys, request_digest
from firstline.sqlstore.transactions import Transactions
from firstline.testing.clock import FixedClock

DIGEST = request_digest("messages", "c1", "ruby.chen@nwmeridian.co.uk", "my vpn keeps dropping")
REPLY = {"reply": "Try the steps below.", "status": "done", "conversation_id": "c1", "note": "password: Hunter2!x9"}


START = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def database(both_databases: Transactions) -> Transactions:
    return both_databases


def test_a_key_runs_once_then_replays_its_reply(database: Transactions) -> None:
    clock = FixedClock(START)
    keys = SqlMessageKeys(database, clock=clock)
    assert keys.claim("account:ruby", "k1", DIGEST) == Claim("run")
    assert keys.claim("account:ruby", "k1", DIGEST) == Claim("running")  # the first try has not finished
    keys.finish("account:ruby", "k1", REPLY, 200)
    replay = keys.claim("account:ruby", "k1", DIGEST)
    assert replay.kind == "replay" and replay.status == 200
    assert replay.reply is not None and replay.reply["reply"] == REPLY["reply"]
    assert "Hunter2" not in str(replay.reply)  # stored redacted, like every other reply
    clock.now += timedelta(hours=1)
    assert keys.claim("account:ruby", "k1", DIGEST).kind == "replay"  # a finished reply never runs again


def test_keys_belong_to_their_principal_and_their_message(database: Transactions) -> None:
    keys = SqlMessageKeys(database)
    assert keys.claim("account:ruby", "k1", DIGEST).kind == "run"
    keys.finish("account:ruby", "k1", REPLY, 200)
    assert keys.claim("account:marcus", "k1", DIGEST).kind == "run"  # another caller's key space
    other = request_digest("messages", "c1", "ruby.chen@nwmeridian.co.uk", "printer jammed")
    assert keys.claim("account:ruby", "k1", other).kind == "mismatch"


def test_a_claim_whose_turn_died_runs_again_after_the_lease(database: Transactions) -> None:
    clock = FixedClock(START)
    keys = SqlMessageKeys(database, clock=clock, lease=timedelta(minutes=2))
    assert keys.claim("account:ruby", "k2", DIGEST).kind == "run"
    clock.now += timedelta(seconds=119)
    assert keys.claim("account:ruby", "k2", DIGEST).kind == "running"
    clock.now += timedelta(seconds=2)
    assert keys.claim("account:ruby", "k2", DIGEST).kind == "run"  # its worker died before storing a reply
    assert keys.claim("account:ruby", "k2", DIGEST).kind == "running"  # and this new try holds it now


def test_a_failed_turn_releases_its_key_but_never_a_finished_one(database: Transactions) -> None:
    keys = SqlMessageKeys(database)
    keys.claim("account:ruby", "k3", DIGEST)
    keys.release("account:ruby", "k3")
    assert keys.claim("account:ruby", "k3", DIGEST).kind == "run"
    keys.finish("account:ruby", "k3", REPLY, 200)
    keys.release("account:ruby", "k3")
    assert keys.claim("account:ruby", "k3", DIGEST).kind == "replay"


def test_concurrent_first_claims_let_exactly_one_run(database: Transactions) -> None:
    keys = SqlMessageKeys(database)
    barrier = threading.Barrier(8)
    kinds: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        barrier.wait()
        kind = keys.claim("account:ruby", "k4", DIGEST).kind
        with lock:
            kinds.append(kind)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(kinds) == ["run"] + ["running"] * 7
