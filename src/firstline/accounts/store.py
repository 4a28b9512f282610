"""Who may use the service: accounts with roles, login sessions and API keys, in the ticket database.

Passwords are kept as argon2id hashes; session tokens and API keys as SHA-256 digests (they are
long random strings, so a fast hash is enough and a stolen table reveals none of them)::

    accounts = SqlTicketing("sqlite:///tickets.db").accounts
    accounts.add("ruby.chen@nwmeridian.co.uk", "Ruby Chen", "requester", "a long passphrase")
    token, expires = accounts.login("ruby.chen@nwmeridian.co.uk", "a long passphrase")
    accounts.session(token).role  # "requester"

An account signed in through single sign-on may have no password at all (``password_hash`` NULL):
:meth:`SqlAccounts.upsert_sso` creates or refreshes it with the role the identity provider's groups
give, :meth:`SqlAccounts.start_session` opens a session for it once the service has verified the
person's ID token, and :meth:`SqlAccounts.login` tells anyone who tries a password on it to use the
company sign-in instead.

A service checks a credential on every request. With ``remember_s`` > 0 the record behind a key or a
session token is kept in this process for that many seconds after it was read, so a burst of requests
(a message, its stream, the next message) costs one lookup. Revoking a key, signing out, disabling an
account, changing a password or a role forgets every remembered credential **in this process at once**;
another worker of the same deployment sees the change within ``remember_s`` (``security.auth_remember_s``,
default 10 s; 0 reads the database on every request). An expired session is refused even while remembered.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Row, delete, func, insert, select, update

from firstline.errors import AuthenticationError, ConflictError, InputError
from firstline.localdb.database import utc_now
from firstline.localdb.schema import accounts, api_keys, login_sessions
from firstline.sqlstore.remembered import Remembered
from firstline.sqlstore.transactions import Transactions

__all__ = ["ROLES", "Account", "ApiKey", "Role", "SqlAccounts", "role_at_least"]

Role = Literal["requester", "agent", "admin"]
ROLES: tuple[Role, ...] = ("requester", "agent", "admin")  # each includes the rights of the ones before
MIN_PASSWORD = 12
KEY_PREFIX = "fl_"


def clean_email(name: str, value: str) -> str:
    """An e-mail address, trimmed and lower-cased; :class:`InputError` if it does not look like one."""
    email = value.strip().lower()
    local, _, domain = email.partition("@")
    if not email or not local or not domain or "@" in domain or any(c.isspace() for c in email) or len(email) > 254:
        raise InputError(f"`{name}` must be an e-mail address like 'alice@example.com', not {value!r}.")
    return email


def role_at_least(role: str, needed: Role) -> bool:
    """Whether ``role`` has the rights of ``needed`` (admin > agent > requester)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _role(value: str) -> Role:
    for role in ROLES:
        if value == role:
            return role
    raise InputError(f"Unknown role {value!r}; choose one of {', '.join(ROLES)}.")


@dataclass(frozen=True, slots=True)
class Account:
    """A person who may sign in, and what they may do."""

    email: str
    name: str
    role: Role
    active: bool
    created_at: datetime
    last_login_at: datetime | None = None
    has_password: bool = True  # False: signs in only through single sign-on

    def as_dict(self) -> dict[str, Any]:
        return {"email": self.email, "name": self.name, "role": self.role, "active": self.active}


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An integration's key (the key itself is shown once, at creation, and never stored)."""

    id: str
    name: str
    role: Role
    subject: str | None  # the person a requester-role key speaks for
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "subject": self.subject,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked": self.revoked_at is not None,
        }


class SqlAccounts:
    """Accounts, sessions and API keys (shares the ticket store's transactions)."""

    def __init__(
        self,
        db: Transactions,
        clock: Callable[[], datetime] = utc_now,
        session_ttl: timedelta = timedelta(hours=8),
        hasher: PasswordHasher | None = None,
        remember_s: float = 0.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self.session_ttl = session_ttl
        self._hasher = hasher or PasswordHasher()
        self._decoy: str | None = None
        # digest of a key or session token -> what it stands for (see the module's docstring)
        self._remembered: Remembered[str, Any] = Remembered(remember_s)

    def remembered_key(self, key: str) -> ApiKey | None:
        """The record behind ``key`` if this worker checked it within ``remember_s``; None: ask :meth:`key`."""
        found = self._remembered.get("k" + _digest(key)) if key.startswith(KEY_PREFIX) else None
        return cast(ApiKey, found) if found is not None else None

    def remembered_session(self, token: str) -> Account | None:
        """The account behind a session token this worker checked within ``remember_s`` and that has not expired
        since; None: ask :meth:`session`."""
        found = self._remembered.get("s" + _digest(token))
        return cast(Account, found[0]) if found is not None and found[1] > self._clock() else None

    def forget_credentials(self) -> None:
        """Drop every remembered key and session (called by every change that could withdraw one)."""
        self._remembered.forget()

    # -- accounts ---------------------------------------------------------------------------------

    def add(self, email: str, name: str, role: str, password: str) -> Account:
        """Create an account; :class:`ConflictError` if the e-mail already has one."""
        address = clean_email("email", email)
        if len(password) < MIN_PASSWORD:
            raise InputError(f"The password is {len(password)} characters; use at least {MIN_PASSWORD}.")
        values = {
            "email": address,
            "name": name.strip()[:200] or address,
            "role": _role(role),
            "password_hash": self._hasher.hash(password),
            "active": True,
            "created_at": self._clock(),
            "last_login_at": None,
        }
        with self._db.write() as conn:
            if conn.execute(select(accounts.c.email).where(accounts.c.email == address)).first() is not None:
                raise ConflictError(f"{address} already has an account.")
            conn.execute(insert(accounts).values(**values))
        return self.get(address)

    def upsert_sso(self, email: str, name: str, role: str) -> Account:
        """Create or refresh the account of a person the identity provider vouched for.

        A new account gets no password (single sign-on only). An existing one keeps its password, takes
        the provider's display name when it gives one, and takes ``role`` every time: the provider's
        groups decide the role, so leaving an agent group takes the agent rights away at the next sign-in.
        """
        address = clean_email("email", email)
        checked = _role(role)
        label = name.strip()[:200]
        with self._db.write() as conn:
            found = conn.execute(select(accounts.c.email).where(accounts.c.email == address)).first()
            if found is None:
                conn.execute(insert(accounts).values(
                    email=address, name=label or address, role=checked, password_hash=None, active=True,
                    created_at=self._clock(), last_login_at=None))  # fmt: skip
            else:
                values: dict[str, Any] = {"role": checked, **({"name": label} if label else {})}
                conn.execute(update(accounts).where(accounts.c.email == address).values(**values))
        self.forget_credentials()  # the role may have changed
        return self.get(address)

    def find(self, email: str) -> Account | None:
        """The account of ``email``, or None when there is none."""
        with self._db.read() as conn:
            row = conn.execute(select(accounts).where(accounts.c.email == email.strip().lower())).first()
        return _account(row) if row is not None else None

    def get(self, email: str) -> Account:
        with self._db.read() as conn:
            row = conn.execute(select(accounts).where(accounts.c.email == email.strip().lower())).first()
        if row is None:
            raise InputError(f"No account for {email!r}.")
        return _account(row)

    def all(self) -> list[Account]:
        with self._db.read() as conn:
            return [_account(row) for row in conn.execute(select(accounts).order_by(accounts.c.email))]

    def count(self) -> int:
        with self._db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(accounts)).scalar() or 0)

    def set_password(self, email: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise InputError(f"The password is {len(password)} characters; use at least {MIN_PASSWORD}.")
        account = self.get(email)
        with self._db.write() as conn:
            conn.execute(
                update(accounts)
                .where(accounts.c.email == account.email)
                .values(password_hash=self._hasher.hash(password))
            )
            conn.execute(delete(login_sessions).where(login_sessions.c.email == account.email))
        self.forget_credentials()

    def set_active(self, email: str, active: bool) -> None:
        account = self.get(email)
        with self._db.write() as conn:
            conn.execute(update(accounts).where(accounts.c.email == account.email).values(active=active))
            if not active:
                conn.execute(delete(login_sessions).where(login_sessions.c.email == account.email))
        self.forget_credentials()

    # -- sessions -----------------------------------------------------------------------------------

    def login(self, email: str, password: str) -> tuple[str, datetime]:
        """A new session token and its expiry; :class:`AuthenticationError` for any wrong detail."""
        address = email.strip().lower()
        with self._db.read() as conn:
            row = conn.execute(select(accounts).where(accounts.c.email == address)).first()
        if row is None and self._decoy is None:
            # Verified against when the e-mail is unknown, so a wrong address costs as long as a wrong password.
            self._decoy = self._hasher.hash(secrets.token_urlsafe(16))
        if row is not None and row.password_hash is None:
            if self._decoy is None:
                self._decoy = self._hasher.hash(secrets.token_urlsafe(16))
            stored: str | None = self._decoy  # same cost as a real check, then the clear answer
        else:
            stored = row.password_hash if row is not None else self._decoy
        assert stored is not None
        try:
            self._hasher.verify(stored, password)
            ok = row is not None and bool(row.active) and row.password_hash is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if row is not None and row.password_hash is None:
            raise AuthenticationError(
                "This account signs in with the company sign-in (single sign-on), not a password: "
                "use the 'Sign in with' button."
            )
        if not ok:
            raise AuthenticationError("Wrong e-mail address or password.")
        assert row is not None
        with self._db.write() as conn:
            token, expires = self._new_session(conn, address)
            if self._hasher.check_needs_rehash(row.password_hash):
                conn.execute(
                    update(accounts)
                    .where(accounts.c.email == address)
                    .values(password_hash=self._hasher.hash(password))
                )
        return token, expires

    def start_session(self, email: str) -> tuple[str, datetime]:
        """A new session for an account whose owner the service has verified another way (an OIDC ID token).

        No password is checked here: only call it after that verification. :class:`AuthenticationError`
        when the account is unknown or disabled.
        """
        address = email.strip().lower()
        with self._db.write() as conn:
            row = conn.execute(select(accounts.c.active).where(accounts.c.email == address)).first()
            if row is None:
                raise AuthenticationError(f"No account for {address}.")
            if not row.active:
                raise AuthenticationError(f"The account {address} is disabled: ask an administrator to enable it.")
            return self._new_session(conn, address)

    def _new_session(self, conn: Any, address: str) -> tuple[str, datetime]:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        expires = now + self.session_ttl
        conn.execute(insert(login_sessions).values(digest=_digest(token), email=address, created_at=now,
                                                   expires_at=expires))  # fmt: skip
        conn.execute(update(accounts).where(accounts.c.email == address).values(last_login_at=now))
        conn.execute(delete(login_sessions).where(login_sessions.c.expires_at < now))
        return token, expires

    def session(self, token: str) -> Account:
        """The account behind a session token, sliding its expiry; :class:`AuthenticationError` if none."""
        if (remembered := self.remembered_session(token)) is not None:
            return remembered
        now = self._clock()
        digest = _digest(token)
        read_at = self._remembered.generation
        with self._db.read() as conn:
            row = conn.execute(
                select(login_sessions.c.expires_at, accounts)
                .join(accounts, accounts.c.email == login_sessions.c.email)
                .where(login_sessions.c.digest == digest)
            ).first()
        if row is None or row.expires_at <= now or not row.active:
            raise AuthenticationError("Your session has expired: sign in again.")
        expires = row.expires_at
        # Slide the expiry, but write at most once a minute per session.
        if row.expires_at - now < self.session_ttl - timedelta(minutes=1):
            expires = now + self.session_ttl
            with self._db.write() as conn:
                conn.execute(update(login_sessions).where(login_sessions.c.digest == digest).values(expires_at=expires))
        account = _account(row)
        self._remembered.put("s" + digest, (account, expires), read_at)
        return account

    def logout(self, token: str) -> None:
        with self._db.write() as conn:
            conn.execute(delete(login_sessions).where(login_sessions.c.digest == _digest(token)))
        self.forget_credentials()

    # -- API keys -----------------------------------------------------------------------------------

    def create_key(self, name: str, role: str, subject: str | None = None) -> tuple[str, ApiKey]:
        """A new key (returned once, in clear) and its record; a requester key must name its person."""
        checked = _role(role)
        person = clean_email("subject", subject) if subject else None
        if checked == "requester" and person is None:
            raise InputError("A requester key speaks for one person: give their e-mail address as the subject.")
        label = name.strip()[:100]
        if not label:
            raise InputError("Give the key a name that says which integration uses it, e.g. 'teams-bot'.")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        values: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "name": label,
            "role": checked,
            "subject": person,
            "digest": _digest(key),
            "created_at": self._clock(),
        }
        with self._db.write() as conn:
            conn.execute(insert(api_keys).values(**values))
        return key, ApiKey(values["id"], label, checked, person, values["created_at"])

    def key(self, key: str) -> ApiKey:
        """The record behind a presented key; :class:`AuthenticationError` when unknown or revoked."""
        if not key.startswith(KEY_PREFIX):
            raise AuthenticationError("That is not a Firstline API key (they start with 'fl_').")
        if (remembered := self.remembered_key(key)) is not None:
            return remembered
        digest = _digest(key)
        read_at = self._remembered.generation
        with self._db.read() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.digest == digest)).first()
        if row is None or row.revoked_at is not None:
            raise AuthenticationError("Unknown or revoked API key.")
        now = self._clock()
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
            with self._db.write() as conn:
                conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(last_used_at=now))
        record = _key(row)
        self._remembered.put("k" + digest, record, read_at)
        return record

    def list_keys(self) -> list[ApiKey]:
        with self._db.read() as conn:
            return [_key(row) for row in conn.execute(select(api_keys).order_by(api_keys.c.created_at))]

    def revoke_key(self, key_id: str) -> ApiKey:
        with self._db.write() as conn:
            found = conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id.strip(), api_keys.c.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            ).rowcount
        self.forget_credentials()
        if not found:
            raise InputError(f"No active API key has the id {key_id!r}.")
        return next(k for k in self.list_keys() if k.id == key_id.strip())


def _account(row: Row[Any]) -> Account:
    return Account(row.email, row.name, cast(Role, row.role), bool(row.active), row.created_at, row.last_login_at,
                   row.password_hash is not None)  # fmt: skip


def _key(row: Row[Any]) -> ApiKey:
    return ApiKey(row.id, row.name, cast(Role, row.role), row.subject, row.created_at, row.last_used_at,
                  row.revoked_at)  # fmt: skip
