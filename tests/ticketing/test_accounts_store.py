"""Accounts, login sessions and API keys in the ticket database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from firstline.errors import AuthenticationError, ConflictError, InputError
from firstline.ticketing import SqlTicketing
from firstline.ticketing.accounts import role_at_least
from firstline.ticketing.schema import accounts, api_keys, login_sessions

RUBY = "ruby.chen@nwmeridian.co.uk"
PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[SqlTicketing]:
    tickets = SqlTicketing(f"sqlite:///{tmp_path / 'tickets.db'}", clock=clock)
    yield tickets
    tickets.close()


def test_passwords_are_argon2_hashes_and_sessions_digests(store: SqlTicketing) -> None:
    store.accounts.add(" Ruby.Chen@nwmeridian.co.uk ", "Ruby Chen", "requester", PASSWORD)
    token, expires = store.accounts.login(RUBY, PASSWORD)
    with store._db.read() as conn:
        stored_hash = conn.execute(select(accounts.c.password_hash)).scalar_one()
        digests = conn.execute(select(login_sessions.c.digest)).scalars().all()
    assert stored_hash.startswith("$argon2id$") and PASSWORD not in stored_hash
    assert len(digests) == 1 and token not in digests[0] and len(digests[0]) == 64
    account = store.accounts.session(token)
    assert (account.email, account.role, account.name) == (RUBY, "requester", "Ruby Chen")
    assert expires == store.accounts.get(RUBY).last_login_at + timedelta(hours=8)  # type: ignore[operator]


def test_wrong_details_are_one_answer(store: SqlTicketing) -> None:
    store.accounts.add(RUBY, "Ruby Chen", "requester", PASSWORD)
    for email, password in [(RUBY, "wrong password!!"), ("nobody@nwmeridian.co.uk", PASSWORD), (RUBY, "")]:
        with pytest.raises(AuthenticationError, match="Wrong e-mail address or password"):
            store.accounts.login(email, password)
    store.accounts.set_active(RUBY, False)
    with pytest.raises(AuthenticationError):
        store.accounts.login(RUBY, PASSWORD)


def test_sessions_slide_expire_and_end(store: SqlTicketing, clock: Clock) -> None:
    store.accounts.add(RUBY, "Ruby Chen", "requester", PASSWORD)
    token, _ = store.accounts.login(RUBY, PASSWORD)
    clock.now += timedelta(hours=7)
    store.accounts.session(token)  # used: the expiry moves to 8 h from now
    clock.now += timedelta(hours=7)
    assert store.accounts.session(token).email == RUBY
    clock.now += timedelta(hours=8, seconds=1)
    with pytest.raises(AuthenticationError, match="expired"):
        store.accounts.session(token)
    second, _ = store.accounts.login(RUBY, PASSWORD)
    store.accounts.logout(second)
    with pytest.raises(AuthenticationError):
        store.accounts.session(second)
    third, _ = store.accounts.login(RUBY, PASSWORD)
    store.accounts.set_password(RUBY, "another long passphrase")
    with pytest.raises(AuthenticationError):
        store.accounts.session(third)  # a new password ends every session


def test_account_rules(store: SqlTicketing) -> None:
    store.accounts.add(RUBY, "Ruby Chen", "requester", PASSWORD)
    with pytest.raises(ConflictError, match="already has an account"):
        store.accounts.add(RUBY, "Ruby", "agent", PASSWORD)
    with pytest.raises(InputError, match="at least 12"):
        store.accounts.add("x@nwmeridian.co.uk", "X", "agent", "short")
    with pytest.raises(InputError, match="Unknown role"):
        store.accounts.add("x@nwmeridian.co.uk", "X", "superuser", PASSWORD)
    with pytest.raises(InputError, match="e-mail address"):
        store.accounts.add("not-an-address", "X", "agent", PASSWORD)
    assert [a.email for a in store.accounts.all()] == [RUBY]


def test_api_keys_are_shown_once_and_revocable(store: SqlTicketing) -> None:
    key, record = store.accounts.create_key("teams-bot", "agent")
    assert key.startswith("fl_") and len(key) > 40
    with store._db.read() as conn:
        assert conn.execute(select(api_keys.c.digest)).scalar_one() != key
    found = store.accounts.key(key)
    assert (found.id, found.role, found.subject) == (record.id, "agent", None)
    with pytest.raises(AuthenticationError, match="Unknown or revoked"):
        store.accounts.key(key + "x")
    with pytest.raises(AuthenticationError, match="start with 'fl_'"):
        store.accounts.key("sk-something")
    store.accounts.revoke_key(record.id)
    with pytest.raises(AuthenticationError):
        store.accounts.key(key)
    with pytest.raises(InputError, match="No active API key"):
        store.accounts.revoke_key(record.id)
    with pytest.raises(InputError, match="speaks for one person"):
        store.accounts.create_key("kiosk", "requester")
    _, personal = store.accounts.create_key("kiosk", "requester", RUBY.upper())
    assert personal.subject == RUBY and [k.revoked_at is not None for k in store.accounts.list_keys()] == [True, False]


def test_roles_are_ordered() -> None:
    assert role_at_least("admin", "agent") and role_at_least("agent", "agent") and role_at_least("agent", "requester")
    assert not role_at_least("requester", "agent") and not role_at_least("agent", "admin")
    assert not role_at_least("root", "requester")
