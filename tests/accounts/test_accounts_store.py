"""Accounts, login sessions and API keys in the ticket database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from firstline.accounts import SqlAccounts, role_at_least
from firstline.errors import AuthenticationError, ConflictError, InputError
from firstline.localdb import open_database
from firstline.localdb.schema import accounts, api_keys, login_sessions
from firstline.sqlstore.transactions import Transactions
from firstline.testing.clock import FixedClock

RUBY = "ruby.chen@nwmeridian.co.uk"
PASSWORD = "correct horse battery staple"


START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Transactions]:
    database = open_database(f"sqlite:///{tmp_path / 'tickets.db'}")
    yield database
    database.close()


@pytest.fixture(params=[0.0, 60.0], ids=["checked-every-time", "remembered"])
def accounts_store(database: Transactions, clock: FixedClock, request: pytest.FixtureRequest) -> SqlAccounts:
    """Every rule below holds whether or not checked credentials are remembered."""
    return SqlAccounts(database, clock, remember_s=request.param)


def test_passwords_are_argon2_hashes_and_sessions_digests(accounts_store: SqlAccounts, database: Transactions) -> None:
    accounts_store.add(" Ruby.Chen@nwmeridian.co.uk ", "Ruby Chen", "requester", PASSWORD)
    token, expires = accounts_store.login(RUBY, PASSWORD)
    with database.read() as conn:
        stored_hash = conn.execute(select(accounts.c.password_hash)).scalar_one()
        digests = conn.execute(select(login_sessions.c.digest)).scalars().all()
    assert stored_hash.startswith("$argon2id$") and PASSWORD not in stored_hash
    assert len(digests) == 1 and token not in digests[0] and len(digests[0]) == 64
    account = accounts_store.session(token)
    assert (account.email, account.role, account.name) == (RUBY, "requester", "Ruby Chen")
    assert expires == accounts_store.get(RUBY).last_login_at + timedelta(hours=8)  # type: ignore[operator]


def test_wrong_details_are_one_answer(accounts_store: SqlAccounts) -> None:
    accounts_store.add(RUBY, "Ruby Chen", "requester", PASSWORD)
    for email, password in [(RUBY, "wrong password!!"), ("nobody@nwmeridian.co.uk", PASSWORD), (RUBY, "")]:
        with pytest.raises(AuthenticationError, match="Wrong e-mail address or password"):
            accounts_store.login(email, password)
    accounts_store.set_active(RUBY, False)
    with pytest.raises(AuthenticationError):
        accounts_store.login(RUBY, PASSWORD)


def test_sessions_slide_expire_and_end(accounts_store: SqlAccounts, clock: FixedClock) -> None:
    accounts_store.add(RUBY, "Ruby Chen", "requester", PASSWORD)
    token, _ = accounts_store.login(RUBY, PASSWORD)
    clock.now += timedelta(hours=7)
    accounts_store.session(token)  # used: the expiry moves to 8 h from now
    clock.now += timedelta(hours=7)
    assert accounts_store.session(token).email == RUBY
    clock.now += timedelta(hours=8, seconds=1)
    with pytest.raises(AuthenticationError, match="expired"):
        accounts_store.session(token)
    second, _ = accounts_store.login(RUBY, PASSWORD)
    accounts_store.logout(second)
    with pytest.raises(AuthenticationError):
        accounts_store.session(second)
    third, _ = accounts_store.login(RUBY, PASSWORD)
    accounts_store.set_password(RUBY, "another long passphrase")
    with pytest.raises(AuthenticationError):
        accounts_store.session(third)  # a new password ends every session


def test_account_rules(accounts_store: SqlAccounts) -> None:
    accounts_store.add(RUBY, "Ruby Chen", "requester", PASSWORD)
    with pytest.raises(ConflictError, match="already has an account"):
        accounts_store.add(RUBY, "Ruby", "agent", PASSWORD)
    with pytest.raises(InputError, match="at least 12"):
        accounts_store.add("x@nwmeridian.co.uk", "X", "agent", "short")
    with pytest.raises(InputError, match="Unknown role"):
        accounts_store.add("x@nwmeridian.co.uk", "X", "superuser", PASSWORD)
    with pytest.raises(InputError, match="e-mail address"):
        accounts_store.add("not-an-address", "X", "agent", PASSWORD)
    assert [a.email for a in accounts_store.all()] == [RUBY]


def test_api_keys_are_shown_once_and_revocable(accounts_store: SqlAccounts, database: Transactions) -> None:
    key, record = accounts_store.create_key("teams-bot", "agent")
    assert key.startswith("fl_") and len(key) > 40
    with database.read() as conn:
        assert conn.execute(select(api_keys.c.digest)).scalar_one() != key
    found = accounts_store.key(key)
    assert (found.id, found.role, found.subject) == (record.id, "agent", None)
    with pytest.raises(AuthenticationError, match="Unknown or revoked"):
        accounts_store.key(key + "x")
    with pytest.raises(AuthenticationError, match="start with 'fl_'"):
        accounts_store.key("sk-something")
    accounts_store.revoke_key(record.id)
    with pytest.raises(AuthenticationError):
        accounts_store.key(key)
    with pytest.raises(InputError, match="No active API key"):
        accounts_store.revoke_key(record.id)
    with pytest.raises(InputError, match="speaks for one person"):
        accounts_store.create_key("kiosk", "requester")
    _, personal = accounts_store.create_key("kiosk", "requester", RUBY.upper())
    assert personal.subject == RUBY and [k.revoked_at is not None for k in accounts_store.list_keys()] == [True, False]


def test_roles_are_ordered() -> None:
    assert role_at_least("admin", "agent") and role_at_least("agent", "agent") and role_at_least("agent", "requester")
    assert not role_at_least("requester", "agent") and not role_at_least("agent", "admin")
    assert not role_at_least("root", "requester")


class _Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_remembered_credentials_and_what_withdraws_them(
    database: Transactions, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker keeps a checked key or session for ``remember_s``: a change made through it applies at once, one
    made by another worker of the deployment within ``remember_s``; an expired session is never accepted."""
    monotonic = _Monotonic()
    monkeypatch.setattr("firstline.sqlstore.remembered.time.monotonic", monotonic)
    here = SqlAccounts(database, clock, remember_s=10.0)
    other = SqlAccounts(database, clock, remember_s=10.0)  # another worker on the same database
    here.add(RUBY, "Ruby Chen", "agent", PASSWORD)
    key, record = here.create_key("teams-bot", "agent")
    token, _ = here.login(RUBY, PASSWORD)
    assert here.key(key).id == record.id and here.session(token).role == "agent"

    statements: list[str] = []
    engine = database.engine
    from sqlalchemy import event

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            here.key(key)
            here.session(token)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == []  # remembered: no lookup

    other.revoke_key(record.id)
    other.set_active(RUBY, False)
    monotonic.now += 9.0
    assert here.key(key).id == record.id and here.session(token).email == RUBY  # not seen yet here
    monotonic.now += 2.0
    with pytest.raises(AuthenticationError, match="Unknown or revoked"):
        here.key(key)
    with pytest.raises(AuthenticationError, match="expired"):
        here.session(token)

    # A change made in this process applies to this process at once.
    here.set_active(RUBY, True)
    token, _ = here.login(RUBY, PASSWORD)
    key, record = here.create_key("kiosk", "agent")
    assert here.session(token).role == "agent" and here.key(key).id == record.id
    here.upsert_sso(RUBY, "Ruby Chen", "requester")
    assert here.session(token).role == "requester"
    here.revoke_key(record.id)
    with pytest.raises(AuthenticationError):
        here.key(key)
    here.logout(token)
    with pytest.raises(AuthenticationError):
        here.session(token)

    # A remembered session still ends when it expires.
    token, expires = here.login(RUBY, PASSWORD)
    assert here.session(token).email == RUBY
    clock.now = expires + timedelta(seconds=1)
    with pytest.raises(AuthenticationError, match="expired"):
        here.session(token)


def test_remembering_is_off_with_zero(database: Transactions, clock: FixedClock) -> None:
    here = SqlAccounts(database, clock, remember_s=0.0)
    other = SqlAccounts(database, clock, remember_s=0.0)
    key, record = here.create_key("teams-bot", "agent")
    assert here.key(key).id == record.id
    other.revoke_key(record.id)
    with pytest.raises(AuthenticationError):
        here.key(key)  # seen at once


def test_a_revocation_racing_a_lookup_is_not_undone_by_it(
    database: Transactions, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that read a key just before it was revoked may finish with it, but must not remember it: the
    revocation's forgetting happened between that read and the remembering."""
    from firstline.accounts import store

    here = SqlAccounts(database, clock, remember_s=60.0)
    key, record = here.create_key("teams-bot", "agent")
    real = store._key
    raced: list[bool] = []

    def revoked_meanwhile(row: object) -> object:
        if not raced:
            raced.append(True)
            here.revoke_key(record.id)  # lands after this request's read, before it remembers
        return real(row)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_key", revoked_meanwhile)
    assert here.key(key).id == record.id  # the racing request itself
    with pytest.raises(AuthenticationError, match="Unknown or revoked"):
        here.key(key)  # the next one: not remembered from the racing read


def test_remembered_keeps_nothing_read_before_a_forget() -> None:
    from firstline.sqlstore.remembered import Remembered

    kept: Remembered[str, int] = Remembered(60.0)
    before = kept.generation
    kept.put("a", 1, before)
    kept.forget()
    kept.put("b", 2, before)  # read before the forget
    kept.put("c", 3, kept.generation)
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (None, None, 3)
