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


@pytest.fixture
def accounts_store(database: Transactions, clock: FixedClock) -> SqlAccounts:
    return SqlAccounts(database, clock)


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
