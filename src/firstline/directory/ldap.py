"""People and accounts from an LDAP server (OpenLDAP with the ppolicy overlay), through ldap3.

:class:`LdapDirectory` reads ``inetOrgPerson`` entries under ``people_ou,base_dn`` and their
password-policy state (see :mod:`firstline.directory.ldap_entries` for the mapping), and changes
that state the way an administrator would: an unlock deletes the ``pwdAccountLockedTime`` value it
read (so a lock an administrator set meanwhile is never lifted) and with it ``pwdFailureTime``, a
required reset sets ``pwdReset: TRUE``, a new password goes through the Password Modify extended
operation (RFC 3062), and a failed sign-in is a real failed bind, so the server's own policy counts
it and decides on the lockout.

Devices, printers, phones, mailboxes, lists and incidents are not in LDAP. By composition, an
:class:`LdapDirectory` hands those calls to ``others`` (usually a seeded
:class:`~firstline.directory.sql.SqlDirectory`), passing the person it found in LDAP; the person's
``employeeNumber`` must be their id there. Without ``others`` those calls raise
:class:`~firstline.errors.ConfigError`.

Each call opens its own connection, binds as ``bind_dn`` and closes it, so the directory is
thread-safe and survives server restarts. ``bind_dn`` needs write access to the people entries and
the right to use the Relax Rules control (the rootDN, or ``manage`` access), which :meth:`seed` and
clearing failure times need: ``pwdFailureTime`` is a NO-USER-MODIFICATION attribute.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import urlsplit

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 >= 0.6.1 deprecates (tagMap, typeMap); harmless, but noisy.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ldap3\.")
    from ldap3 import BASE, MODIFY_DELETE, MODIFY_REPLACE, NONE, SUBTREE, Connection, Server
    from ldap3.core.exceptions import LDAPCommunicationError, LDAPException
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import escape_rdn

from firstline.directory import rules
from firstline.directory.backend import DirectoryBackend, PersonRef
from firstline.directory.delegated import Delegating
from firstline.directory.ldap_entries import (
    ACCOUNT_ATTRIBUTES,
    PERSON_ATTRIBUTES,
    RELAX_RULES,
    account_from_entry,
    entry_attributes,
    person_from_entry,
)
from firstline.directory.models import (
    Account,
    OrgData,
    Person,
    SignIn,
)
from firstline.errors import (
    AccountDisabledError,
    BackendResponseError,
    BackendUnavailableError,
    ConfigError,
    DirectoryError,
    InputError,
    PersonNotFoundError,
)

__all__ = ["LdapDirectory"]

SETTING = "directory.ldap_url"
_ATTRIBUTES = [*PERSON_ATTRIBUTES, *ACCOUNT_ATTRIBUTES]
_Entry = tuple[str, dict[str, Any]]
_NO_SUCH_ATTRIBUTE, _NO_SUCH_OBJECT, _ALREADY_EXISTS = 16, 32, 68


class LdapDirectory(Delegating):
    """A :class:`~firstline.directory.backend.DirectoryBackend` whose people and accounts live in LDAP.

    ``url`` is ``ldap://host:389`` or ``ldaps://host:636``; people are looked up under
    ``people_ou,base_dn``. ``others`` answers everything that is not a person or an account.
    ``password_max_age`` (the policy's ``pwdMaxAge``) makes ``Account.password_expired`` meaningful.
    """

    system = "The LDAP directory"

    def __init__(
        self,
        url: str,
        bind_dn: str,
        password: str,
        base_dn: str,
        people_ou: str = "ou=people",
        *,
        others: DirectoryBackend | None = None,
        password_max_age: timedelta | None = None,
        timeout_s: int = 10,
        clock: Callable[[], datetime] = rules.utc_now,
    ) -> None:
        self.url, self.bind_dn, self.base_dn, self.people_ou = url, bind_dn, base_dn, people_ou
        self.people_base = f"{people_ou},{base_dn}"
        self.others = others
        self.password_max_age = password_max_age
        self.timeout_s = timeout_s
        self._password = password
        self._clock = clock
        self._server = _server(url, timeout_s)

    def __repr__(self) -> str:
        return f"LdapDirectory({self.url!r}, people under {self.people_base!r})"

    def seed(
        self, org: OrgData, password: str | Callable[[Account], str], *, people: Collection[str] | None = None
    ) -> int:
        """Add an entry for each account of ``org`` (or of the person ids in ``people``) that is missing.

        Entries carry the account's lock, failure count, password date and reset flag; ``password``
        is the password of every entry, or a function of the account. Existing entries are left as
        they are; returns how many were added. Creates the people OU when it is an ``ou=``.
        """
        persons = {person.id: person for person in org.people}
        chosen = [a for a in org.accounts if people is None or a.person in people]
        added = 0
        with self._session() as conn:
            kind, _, name = self.people_ou.partition("=")
            if kind.strip().lower() == "ou":
                self._add(conn, self.people_base, ["organizationalUnit"], {"ou": name})
            for account in chosen:
                secret = password(account) if callable(password) else password
                attributes = entry_attributes(persons[account.person], account, secret, self._clock())
                dn = f"uid={escape_rdn(account.username)},{self.people_base}"
                added += self._add(conn, dn, ["inetOrgPerson"], attributes)
        return added

    # --- people and accounts, from LDAP

    def person(self, key: str) -> Person:
        with self._session() as conn:
            return person_from_entry(self._entry(conn, key)[1])

    def find_people(self, text: str) -> list[Person]:
        columns = ("cn", "mail", "uid", "ou", "title", "employeeNumber")
        terms = [escape_filter_chars(term) for term in rules.search_terms(text)]
        query = (
            "(&(objectClass=person)"
            + "".join("(|" + "".join(f"({c}=*{t}*)" for c in columns) + ")" for t in terms)
            + ")"
        )
        with self._session() as conn:
            found = [person_from_entry(attributes) for _, attributes in self._search(conn, self.people_base, query)]
        return sorted(found, key=lambda p: p.id)

    def account(self, person: PersonRef) -> Account:
        with self._session() as conn:
            dn, attributes = self._entry(conn, _key(person))
            return self._account(conn, dn, attributes)

    def unlock_account(self, username: str) -> Account:
        with self._session() as conn:
            for _ in range(3):
                dn, attributes = self._entry(conn, username)
                if not self._account(conn, dn, attributes).enabled:
                    raise AccountDisabledError(
                        username, "locked by an administrator: pwdAccountLockedTime 000001010000Z"
                    )
                # Delete the very lock value we read: if an administrator changed it meanwhile, the modify
                # fails as a whole (noSuchAttribute) and we look again, so an admin lock is never lifted.
                # Deleting the lock makes ppolicy drop pwdFailureTime too; clear any the server kept.
                lock = attributes.get("pwdAccountLockedTime")
                if lock and not conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_DELETE, list(lock))]}):
                    if conn.result.get("result") == _NO_SUCH_ATTRIBUTE:
                        continue
                    self._fail(conn, "unlock the account")
                account = self._reread(conn, dn)
                if account.failed_attempts:
                    self._modify(conn, dn, {"pwdFailureTime": [(MODIFY_REPLACE, [])]}, "clear the failed sign-ins")
                    account = self._reread(conn, dn)
                return account
            self._fail(conn, "unlock the account (its lock kept changing)")

    def record_failed_login(self, username: str) -> Account:
        with self._session() as conn:
            dn, _ = self._entry(conn, username)
            attempt = Connection(self._server, user=dn, password=secrets.token_urlsafe(24))
            try:
                with _translate(self.url):
                    if attempt.bind():
                        raise BackendResponseError(
                            f"A bind as {dn} with a random password succeeded: check the server."
                        )
            finally:
                _close(attempt)
            return self._reread(conn, dn)

    def set_password_reset_required(self, username: str) -> Account:
        with self._session() as conn:
            dn, _ = self._entry(conn, username)
            self._modify(conn, dn, {"pwdReset": [(MODIFY_REPLACE, ["TRUE"])]}, "require a password reset")
            return self._reread(conn, dn)

    def reset_password(self, username: str, new_password: str) -> Account:
        rules.check_new_password(new_password)
        with self._session() as conn:
            dn, _ = self._entry(conn, username)
            if not conn.extend.standard.modify_password(user=dn, new_password=new_password):
                if conn.result.get("result") == 19:  # constraintViolation: the policy's quality checks
                    raise InputError(
                        f"The LDAP password policy refused the new password ({conn.result.get('message')}). "
                        "Choose a longer password that is not a recent one."
                    )
                self._fail(conn, "set the new password")
            account = self._reread(conn, dn)
            if account.password_reset_pending:  # pwdMustChange policies flag admin changes; the user chose it
                self._modify(conn, dn, {"pwdReset": [(MODIFY_REPLACE, [])]}, "clear the reset flag")
                account = self._reread(conn, dn)
            return account

    def reset_mfa(self, username: str) -> Account:
        raise DirectoryError(
            f"MFA methods are not kept in LDAP, so Firstline cannot reset them for {username!r} here. Reset them "
            "in the identity provider (Entra ID: Authentication methods) or escalate to Identity & Access Management."
        )

    def revoke_sessions(self, username: str) -> Account:
        raise DirectoryError(
            f"Sign-in sessions are not kept in LDAP, so Firstline cannot sign {username!r} out everywhere here. "
            "Revoke them in the identity provider (Okta or Entra ID) or escalate to Identity & Access Management."
        )

    def sign_ins(self, person: PersonRef, days: int = 14) -> list[SignIn]:
        """LDAP keeps failure times (``pwdFailureTime``) but not where they came from: no sign-in log."""
        self._person(person)  # an unknown person is still an error
        return []

    # --- plumbing

    @contextmanager
    def _session(self) -> Iterator[Any]:
        """A connection bound as ``bind_dn``, closed afterwards."""
        conn = Connection(self._server, user=self.bind_dn, password=self._password, receive_timeout=self.timeout_s)
        try:
            with _translate(self.url):
                if not conn.bind():
                    raise ConfigError(
                        f"The LDAP server at {self.url} refused the bind as {self.bind_dn!r} "
                        f"({(conn.result or {}).get('description')}). Check `directory.ldap_bind_dn` and the password "
                        "in FIRSTLINE_DIRECTORY__LDAP_PASSWORD."
                    )
                yield conn
        finally:
            _close(conn)

    def _search(self, conn: Any, base: str, query: str, scope: str = SUBTREE) -> list[_Entry]:
        if not conn.search(base, query, search_scope=scope, attributes=_ATTRIBUTES) and conn.result.get("result"):
            self._fail(conn, f"search {base}")
        return [
            (entry["dn"], dict(entry["attributes"])) for entry in conn.response if entry.get("type") == "searchResEntry"
        ]

    def _entry(self, conn: Any, key: str) -> _Entry:
        wanted = escape_filter_chars(key.strip())
        found = self._search(
            conn, self.people_base, f"(&(objectClass=person)(|(uid={wanted})(mail={wanted})(employeeNumber={wanted})))"
        )
        if not found:
            raise PersonNotFoundError(key)
        return min(found, key=lambda entry: entry[0])

    def _account(self, conn: Any, dn: str, attributes: dict[str, Any]) -> Account:
        member = escape_filter_chars(dn)
        query = (
            f"(|(&(objectClass=groupOfNames)(member={member}))"
            f"(&(objectClass=groupOfUniqueNames)(uniqueMember={member})))"
        )
        if not conn.search(self.base_dn, query, search_scope=SUBTREE, attributes=["cn"]) and conn.result.get("result"):
            self._fail(conn, "search the groups")
        groups = sorted(str(e["attributes"]["cn"][0]) for e in conn.response if e.get("type") == "searchResEntry")
        return account_from_entry(attributes, groups, self._clock(), self.password_max_age)

    def _reread(self, conn: Any, dn: str) -> Account:
        (entry,) = self._search(conn, dn, "(objectClass=*)", scope=BASE)
        return self._account(conn, *entry)

    def _modify(self, conn: Any, dn: str, changes: dict[str, Any], action: str) -> None:
        if not conn.modify(dn, changes, controls=[RELAX_RULES]):
            self._fail(conn, action)

    def _add(self, conn: Any, dn: str, classes: list[str], attributes: dict[str, Any]) -> int:
        if conn.add(dn, classes, attributes, controls=[RELAX_RULES]):
            return 1
        if conn.result.get("result") != _ALREADY_EXISTS:
            self._fail(conn, f"add {dn}")
        return 0

    def _fail(self, conn: Any, action: str) -> NoReturn:
        result = conn.result or {}
        code, description, message = result.get("result"), result.get("description"), result.get("message") or ""
        if code == _NO_SUCH_OBJECT:
            raise ConfigError(
                f"Could not {action} on {self.url}: {message or 'no such entry'}. Check `directory.ldap_base_dn` "
                f"({self.base_dn!r}) and `directory.ldap_people_ou` ({self.people_ou!r})."
            )
        if description in ("insufficientAccessRights", "unavailableCriticalExtension"):
            raise ConfigError(
                f"{self.bind_dn!r} may not {action} on {self.url} ({description}). Bind as a DN with write access "
                "to the people entries and the Relax Rules control (the rootDN, or `manage` access)."
            )
        raise BackendResponseError(
            f"The LDAP server at {self.url} refused to {action}: {description} {message}".strip()
        )


def _close(conn: Any) -> None:
    """Unbind, and close the socket ldap3 leaves behind when it could not connect."""
    with suppress(LDAPException):
        conn.unbind()
    if conn.socket is not None:
        with suppress(OSError):
            conn.socket.close()


def _key(person: PersonRef) -> str:
    return person.id if isinstance(person, Person) else person


def _server(url: str, timeout_s: int) -> Any:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname or port == -1:
        raise ConfigError(f"`{SETTING}` must look like ldap://host:389 or ldaps://host:636, not {url!r}.")
    default = 636 if parts.scheme == "ldaps" else 389
    return Server(
        parts.hostname, port=port or default, use_ssl=parts.scheme == "ldaps", get_info=NONE, connect_timeout=timeout_s
    )


@contextmanager
def _translate(url: str) -> Iterator[None]:
    try:
        yield
    except LDAPCommunicationError as error:
        raise BackendUnavailableError("LDAP server", url, SETTING, str(error)) from error
    except LDAPException as error:
        raise BackendResponseError(f"The LDAP server at {url} failed: {error}. Check its log.") from error
