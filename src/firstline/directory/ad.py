"""People and accounts from Microsoft Active Directory over LDAP(S), through ldap3.

:class:`AdDirectory` reads ``user`` objects under ``users_ou,base_dn`` (see
:mod:`firstline.directory.ad_entries` for the attribute mapping) and changes them the way a delegated
helpdesk account would. Devices, printers, phones, mailboxes, lists and incidents are not in AD: they go to
``others``, as with :class:`~firstline.directory.ldap.LdapDirectory`, passing the person found in AD
(whose ``employeeID`` must be their id there). What differs from OpenLDAP with ppolicy:

* **People** are user objects that are normal user accounts (``sAMAccountType`` 0x30000000, which AD derives
  and indexes; the same set as ``objectCategory=person`` + ``objectClass=user``, without computers). A key is
  a ``sAMAccountName`` (``r.chen``), ``userPrincipalName``, ``mail`` or ``employeeID`` (``p019``). A second
  user object with the same ``employeeID`` that is privileged is the person's admin account
  (``Account.admin_account``); Firstline never changes it (:func:`~firstline.directory.rules.admin_account_refused`).
* **Disabled** is ``userAccountControl`` bit ACCOUNTDISABLE (0x2): never unlocked, nothing written.
* **Locked** is ``lockoutTime`` > 0 ("a value of zero means that the account is not currently locked out",
  [MS-ADA1] 2.373), within ``lockout_duration`` when one is set; AD's constructed
  ``msDS-User-Account-Control-Computed`` (LOCKOUT 0x10, PASSWORD_EXPIRED 0x800000, [MS-ADTS] 3.1.1.4.5.17)
  decides instead whenever AD returns it. An unlock replaces ``lockoutTime`` with 0, the only value a client
  may write; "if the lockoutTime attribute value is 0, badPwdCount MUST be updated to the value of 0"
  ([MS-SAMR] 3.1.1.8.3), so AD resets the failure count itself.
* **Failed sign-ins** are counted by AD in ``badPwdCount`` (system-maintained, not replicated between domain
  controllers: each DC has its own count). :meth:`AdDirectory.record_failed_login` is a real bind with a
  wrong password, so AD counts it and applies its own lockout policy.
* **Passwords**: ``pwdLastSet`` is a FILETIME (100-ns intervals since 1601-01-01 UTC). Requiring a change
  replaces it with 0, the only value besides -1 a client may write ("User Must Change Password at Next Logon",
  which AD ignores for accounts with DONT_EXPIRE_PASSWORD 0x10000, so Firstline refuses those). A password
  is expired when ``pwdLastSet`` + ``max_password_age`` (the domain's maxPwdAge) is past, or AD says so.
  Setting one writes ``unicodePwd``: the password in double quotes, UTF-16-LE, as a replace (an administrator
  reset, which needs the "Reset password" extended right). AD accepts it only over an encrypted connection
  and never returns it ([MS-ADTS] 3.1.1.3.1.5.1), so Firstline sends it only over ``ldaps://`` and only with
  ``allow_admin_set_password=True``; otherwise it sends the user a self-service reset link instead.
* **Groups** are the CNs of ``memberOf`` (without the primary group). **Privileged**: ``adminCount`` = 1
  (AdminSDHolder protects the object) or membership of a protected group ([MS-ADTS] 3.1.1.6.1.2: Domain,
  Enterprise and Schema Admins, Administrators, Account/Server/Print/Backup Operators, Replicator).
  **Service**: a ``servicePrincipalName``, or the object lies under ``service_ou``.
* **Not in AD**: no sign-in log over LDAP (:meth:`sign_ins` is empty), no sessions to revoke (they live in
  Entra ID or Okta) and no MFA methods: those calls raise :class:`~firstline.errors.DirectoryError`.
* **Faults**: a refused bind is a :class:`~firstline.errors.ConfigError` naming ``directory.ad.bind_dn``;
  insufficientAccessRights a :class:`~firstline.errors.PermissionDeniedError` naming the permission to
  delegate on the users OU ("Write lockoutTime", "Read/write pwdLastSet", "Reset password"); an unreachable
  domain controller :class:`~firstline.errors.BackendUnavailableError`.
  :meth:`AdDirectory.check` reads ``allowedAttributesEffective`` on a user, AD's list of the attributes the
  bound account may write there, so it checks the write permissions without writing anything.

Each call opens its own connection, binds as ``bind_dn`` and closes it, so the directory is thread-safe.
Over ``ldaps://`` the certificate is verified (system CAs, or ``ca_file``).
"""

from __future__ import annotations

import secrets
import ssl
import warnings
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import urlsplit

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 >= 0.6.1 deprecates (tagMap, typeMap); harmless, but noisy.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ldap3\.")
    from ldap3 import BASE, MODIFY_ADD, MODIFY_REPLACE, NONE, SUBTREE, Connection, Server, Tls
    from ldap3.core.exceptions import LDAPCommunicationError, LDAPException
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import escape_rdn

from firstline.directory import ad_entries as entries
from firstline.directory import rules
from firstline.directory.ad_entries import ACCOUNTDISABLE, NEEDED, USERS_FILTER, UserObject, integer, is_privileged
from firstline.directory.backend import DirectoryBackend, DirectoryCheck, PersonRef
from firstline.directory.delegated import Delegating
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
    FirstlineError,
    InputError,
    PermissionDeniedError,
    PersonNotFoundError,
)

__all__ = ["AdDirectory"]

SETTING = "directory.ad.url"
_READ = (*entries.PERSON_ATTRIBUTES, *entries.ACCOUNT_ATTRIBUTES)
_SIZE_LIMIT_EXCEEDED, _STRONGER_AUTH, _CONSTRAINT, _NO_SUCH_OBJECT = 4, 8, 19, 32
_VALUE_EXISTS, _INSUFFICIENT_ACCESS, _UNWILLING, _ALREADY_EXISTS = 20, 50, 53, 68


class AdDirectory(Delegating):
    """A :class:`~firstline.directory.backend.DirectoryBackend` and
    :class:`~firstline.directory.backend.CheckableDirectory` whose people and accounts live in Active Directory.

    ``url`` is ``ldaps://dc1.corp.example:636`` (or ``ldap://...:389``, which cannot set passwords); people are
    looked up under ``users_ou,base_dn``. ``others`` answers everything that is not a person or an account.
    ``max_password_age`` and ``lockout_duration`` are the domain's maxPwdAge and lockoutDuration (``None``:
    passwords never expire; lockouts last until an administrator unlocks).
    """

    system = "Active Directory"

    def __init__(
        self,
        url: str,
        bind_dn: str,
        password: str,
        base_dn: str,
        users_ou: str = "CN=Users",
        *,
        others: DirectoryBackend | None = None,
        max_password_age: timedelta | None = None,
        lockout_duration: timedelta | None = None,
        allow_admin_set_password: bool = False,
        service_ou: str | None = None,
        privileged_groups: Collection[str] = entries.PROTECTED_GROUPS,
        ca_file: str | None = None,
        timeout_s: int = 10,
        clock: Callable[[], datetime] = rules.utc_now,
    ) -> None:
        self.url, self.bind_dn, self.base_dn, self.users_ou = url, bind_dn, base_dn, users_ou
        self.users_base = _join(users_ou, base_dn)
        self.service_base = _join(service_ou, base_dn) if service_ou else None
        self.others = others
        self.max_password_age, self.lockout_duration = max_password_age, lockout_duration
        self.allow_admin_set_password = allow_admin_set_password
        self.privileged_groups = tuple(privileged_groups)
        self.timeout_s = timeout_s
        self._password = password
        self._clock = clock
        self.server = _server(url, timeout_s, ca_file)

    def __repr__(self) -> str:
        return f"AdDirectory({self.url!r}, users under {self.users_base!r})"

    # --- people and accounts, from AD

    def person(self, key: str) -> Person:
        with self._session() as conn:
            return self._person_of(conn, self._find(conn, key)[0], {})

    def find_people(self, text: str) -> list[Person]:
        columns = ("displayName", "cn", "mail", "sAMAccountName", "department", "title", "employeeID")
        terms = [escape_filter_chars(term) for term in rules.search_terms(text)]
        words = "".join("(|" + "".join(f"({c}=*{t}*)" for c in columns) + ")" for t in terms)
        found: dict[str, Person] = {}
        with self._session() as conn:
            managers: dict[str, str | None] = {}
            for user in sorted(self._search(conn, self.users_base, f"(&{USERS_FILTER}{words})"), key=self._rank):
                person = self._person_of(conn, user, managers)
                found.setdefault(person.id, person)  # an admin account names the same person: keep the primary
        return sorted(found.values(), key=lambda p: p.id)

    def account(self, person: PersonRef) -> Account:
        with self._session() as conn:
            return self._account(conn, self._find(conn, _key(person))[0].dn)

    def unlock_account(self, username: str) -> Account:
        with self._session() as conn:
            user = self._for_change(conn, username)
            attributes = user.attributes
            if (integer(attributes, "userAccountControl") or 0) & ACCOUNTDISABLE:
                raise AccountDisabledError(username, "userAccountControl has ACCOUNTDISABLE (0x2) set")
            locked = (integer(attributes, "lockoutTime") or 0) > 0
            computed = (integer(attributes, "msDS-User-Account-Control-Computed") or 0) & entries.LOCKOUT
            if locked or computed or integer(attributes, "badPwdCount"):
                # 0 is the only value AD accepts; it resets badPwdCount with it ([MS-SAMR] 3.1.1.8.3).
                self._modify(conn, user.dn, {"lockoutTime": [(MODIFY_REPLACE, [0])]}, "unlock the account")
            return self._account(conn, user.dn)

    def record_failed_login(self, username: str) -> Account:
        with self._session() as conn:
            user = self._for_change(conn, username)
            attempt = Connection(
                self.server, user=user.dn, password=secrets.token_urlsafe(24), receive_timeout=self.timeout_s
            )
            try:
                with _translate(self.url):
                    if attempt.bind():
                        raise BackendResponseError(
                            f"A bind as {user.dn} with a random password succeeded: check the domain controller."
                        )
            finally:
                _close(attempt)
            return self._account(conn, user.dn)

    def set_password_reset_required(self, username: str) -> Account:
        with self._session() as conn:
            user = self._for_change(conn, username)
            if (integer(user.attributes, "userAccountControl") or 0) & entries.DONT_EXPIRE_PASSWORD:
                raise InputError(
                    f"{username!r} has 'Password never expires' (DONT_EXPIRE_PASSWORD) set, and Active Directory "
                    "ignores 'must change password at next logon' for such accounts. Escalate to Identity & "
                    "Access Management."
                )
            self._modify(conn, user.dn, {"pwdLastSet": [(MODIFY_REPLACE, [0])]}, "require a new password")
            return self._account(conn, user.dn)

    def reset_password(self, username: str, new_password: str) -> Account:
        if not self.allow_admin_set_password:
            raise DirectoryError(
                f"Firstline does not set passwords in Active Directory: it sends {username!r} a self-service "
                "password reset link instead. To let that flow set the new password here, set "
                "`directory.ad.allow_admin_set_password = true` (LDAPS only) and delegate 'Reset password'."
            )
        if urlsplit(self.url).scheme != "ldaps":
            raise ConfigError(
                f"Active Directory accepts a new password (unicodePwd) only over an encrypted connection, and "
                f"`{SETTING}` is {self.url!r}: point it at ldaps://<domain controller>:636, or turn "
                "`directory.ad.allow_admin_set_password` off."
            )
        rules.check_new_password(new_password)
        with self._session() as conn:
            user = self._for_change(conn, username)
            if (integer(user.attributes, "userAccountControl") or 0) & ACCOUNTDISABLE:
                raise AccountDisabledError(username, "userAccountControl has ACCOUNTDISABLE (0x2) set")
            if not conn.modify(user.dn, {"unicodePwd": [(MODIFY_REPLACE, [entries.unicode_pwd(new_password)])]}):
                if (conn.result or {}).get("result") in (_CONSTRAINT, _UNWILLING):
                    raise InputError(
                        "Active Directory refused the new password "
                        f"({(conn.result or {}).get('message', '').strip()}): it must meet the domain's password "
                        "policy (length, complexity, not a recent one). Choose another."
                    )
                self._fail(conn, "set the new password", "unicodePwd")
            return self._account(conn, user.dn)

    def reset_mfa(self, username: str) -> Account:
        raise DirectoryError(
            f"MFA methods are not kept in Active Directory, so Firstline cannot reset them for {username!r} here. "
            "Reset them in the identity provider (Entra ID: Authentication methods) or escalate to Identity & "
            "Access Management."
        )

    def revoke_sessions(self, username: str) -> Account:
        raise DirectoryError(
            f"Sign-in sessions are not kept in Active Directory, so Firstline cannot sign {username!r} out "
            "everywhere here. Revoke them in the identity provider (Entra ID or Okta) or escalate to Identity & "
            "Access Management."
        )

    def sign_ins(self, person: PersonRef, days: int = 14) -> list[SignIn]:
        """AD counts failures (``badPwdCount``, per domain controller) but keeps no sign-in log over LDAP."""
        self._person(person)  # an unknown person is still an error
        return []

    def check(self) -> list[DirectoryCheck]:
        """Bind, read a user, and read ``allowedAttributesEffective`` on it to check each write permission.

        The sample user is one without ``adminCount`` = 1: AdminSDHolder replaces the permissions of protected
        accounts, so delegated rights never show there. Nothing is written.
        """
        try:
            with self._session() as conn:
                return self._checks(conn)
        except FirstlineError as error:
            return [DirectoryCheck("Bind to Active Directory", False, str(error), NEEDED)]

    def seed(
        self, org: OrgData, password: str | Callable[[Account], str], *, people: Collection[str] | None = None
    ) -> int:
        """Add a user object for each account of ``org`` (or of the person ids in ``people``) that is missing,
        plus their admin accounts and groups (``member``); returns how many user objects were added.

        For a test server loaded with the Firstline test schema only (``firstline/testing/ad_schema.ldif``): it writes
        attributes AD maintains itself (badPwdCount, lockoutTime, pwdLastSet dates), so never run it against
        Active Directory. Creates the users OU when it is an ``OU=``.
        """
        plan = entries.seed_plan(org, self.users_base, password, now=self._clock(), people=people)
        with self._session() as conn:
            kind, _, name = self.users_ou.partition("=")
            if kind.strip().lower() == "ou":
                self._add(conn, self.users_base, ["top", "organizationalUnit"], {"ou": name})
            added = sum(self._add(conn, dn, list(entries.USER_CLASSES), attributes) for dn, attributes in plan.users)
            for group, members in plan.groups.items():
                group_dn = f"CN={escape_rdn(group)},{self.users_base}"
                entry = {"cn": group, "groupType": entries.GLOBAL_SECURITY_GROUP, "member": members}
                for member in members if not self._add(conn, group_dn, ["top", "group"], entry) else ():
                    joined = conn.modify(group_dn, {"member": [(MODIFY_ADD, [member])]})
                    if not joined and conn.result.get("result") != _VALUE_EXISTS:
                        self._fail(conn, f"add {member} to {group_dn}")
        return added

    # --- plumbing

    def _rank(self, user: UserObject) -> tuple[bool, str]:
        """Primary accounts first: the unprivileged one, then by DN."""
        return is_privileged(user.attributes, self.privileged_groups), user.dn.lower()

    @contextmanager
    def _session(self) -> Iterator[Any]:
        """A connection bound as ``bind_dn``, closed afterwards."""
        conn = Connection(self.server, user=self.bind_dn, password=self._password, receive_timeout=self.timeout_s)
        try:
            with _translate(self.url):
                if not conn.bind():
                    result = conn.result or {}
                    message = str(result.get("message") or "")
                    data = entries.bind_refusal(message)
                    hint = (
                        " The domain controller wants signing or TLS: use ldaps://."
                        if result.get("result") == _STRONGER_AUTH
                        else ""
                    )
                    raise ConfigError(
                        f"Active Directory at {self.url} refused the bind as {self.bind_dn!r} "
                        f"({result.get('description')}{': ' + data if data else ''}).{hint} Check "
                        "`directory.ad.bind_dn` and the password in FIRSTLINE_DIRECTORY__AD__PASSWORD."
                    )
                yield conn
        finally:
            _close(conn)

    def _search(
        self, conn: Any, base: str, query: str, scope: str = SUBTREE, names: Collection[str] = _READ, limit: int = 0
    ) -> list[UserObject]:
        ok = conn.search(base, query, search_scope=scope, attributes=list(names), size_limit=limit)
        if not ok and (conn.result or {}).get("result") not in (0, _SIZE_LIMIT_EXCEEDED, None):
            self._fail(conn, f"search {base}")
        return [
            UserObject(e["dn"], dict(e["attributes"])) for e in conn.response or [] if e.get("type") == "searchResEntry"
        ]

    def _find(self, conn: Any, key: str) -> tuple[UserObject, UserObject]:
        """The person's primary user object, and the one ``key`` named (an admin account, or the same)."""
        wanted = escape_filter_chars(key.strip())
        either = "".join(f"({name}={wanted})" for name in ("sAMAccountName", "userPrincipalName", "mail", "employeeID"))
        found = self._search(conn, self.users_base, f"(&{USERS_FILTER}(|{either}))")
        if not found:
            raise PersonNotFoundError(key)
        named = [u for u in found if str(u.value("sAMAccountName")).lower() == key.strip().lower()]
        matched = named[0] if named else min(found, key=self._rank)
        return min(self._family(conn, matched), key=self._rank), matched

    def _family(self, conn: Any, user: UserObject) -> list[UserObject]:
        """Every user object with ``user``'s employeeID (its primary and admin accounts)."""
        employee = user.value("employeeID")
        if not employee:
            return [user]
        query = f"(&{USERS_FILTER}(employeeID={escape_filter_chars(str(employee))}))"
        return self._search(conn, self.users_base, query) or [user]

    def _for_change(self, conn: Any, username: str) -> UserObject:
        primary, matched = self._find(conn, username)
        if entries.dn_key(primary.dn) != entries.dn_key(matched.dn):
            raise rules.admin_account_refused(username)
        return primary

    def _person_of(self, conn: Any, user: UserObject, managers: dict[str, str | None]) -> Person:
        manager_dn = user.value("manager")
        if manager_dn and manager_dn not in managers:
            managers[manager_dn] = self._employee_id(conn, manager_dn)
        return entries.person_from_entry(user.attributes, managers.get(manager_dn) if manager_dn else None)

    def _employee_id(self, conn: Any, dn: str) -> str | None:
        """The employeeID of the object at ``dn`` (a manager); ``None`` when it is gone or has none."""
        if not conn.search(dn, "(objectClass=*)", search_scope=BASE, attributes=["employeeID"]):
            return None
        found = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
        return UserObject(dn, dict(found[0]["attributes"])).value("employeeID") if found else None

    def _account(self, conn: Any, dn: str) -> Account:
        """The account at ``dn``, read with a base search (AD computes some attributes only for those)."""
        found = self._search(conn, dn, "(objectClass=*)", scope=BASE)
        if not found:
            raise BackendResponseError(f"The user object {dn} vanished while Firstline was changing it; look again.")
        user = found[0]
        others = [u for u in sorted(self._family(conn, user), key=self._rank) if u.dn.lower() != user.dn.lower()]
        admin = next(
            (str(u.value("sAMAccountName")) for u in others if is_privileged(u.attributes, self.privileged_groups)),
            None,
        )
        return entries.account_from_entry(
            user.dn,
            user.attributes,
            now=self._clock(),
            max_password_age=self.max_password_age,
            lockout_duration=self.lockout_duration,
            service_base=self.service_base,
            privileged_groups=self.privileged_groups,
            admin_account=admin,
        )

    def _modify(self, conn: Any, dn: str, changes: dict[str, Any], action: str) -> None:
        if not conn.modify(dn, changes):
            self._fail(conn, action, next(iter(changes)))

    def _add(self, conn: Any, dn: str, classes: list[str], attributes: dict[str, Any]) -> int:
        if conn.add(dn, classes, attributes):
            return 1
        if conn.result.get("result") != _ALREADY_EXISTS:
            self._fail(conn, f"add {dn}")
        return 0

    def _checks(self, conn: Any) -> list[DirectoryCheck]:
        found = [DirectoryCheck("Bind to Active Directory", True, f"bound to {self.url} as {self.bind_dn}", NEEDED)]
        read = f"Read user objects under {self.users_base}"
        try:
            sample = self._search(conn, self.users_base, f"(&{USERS_FILTER}(!(adminCount=1)))", limit=1)
            wanted = ("allowedAttributesEffective",)
            effective = self._search(conn, sample[0].dn, "(objectClass=*)", BASE, wanted) if sample else []
        except FirstlineError as error:
            return [*found, DirectoryCheck(read, False, str(error), NEEDED)]
        if not sample:
            detail = (f"No user objects under {self.users_base}: check `directory.ad.users_ou` ({self.users_ou!r}) "
                      f"and that {self.bind_dn!r} has 'Read all properties' there.")  # fmt: skip
            return [*found, DirectoryCheck(read, False, detail, NEEDED)]
        dn = sample[0].dn
        writable = {name.lower() for user in effective for name in user.values("allowedAttributesEffective")}
        found.append(DirectoryCheck(read, True, f"read {sample[0].value('sAMAccountName')} ({dn})", NEEDED))
        found += entries.write_checks(writable, bind_dn=self.bind_dn, users_base=self.users_base, sample_dn=dn)
        if self.allow_admin_set_password:
            found.append(entries.password_check(self.url, SETTING))
        return found

    def _fail(self, conn: Any, action: str, attribute: str | None = None) -> NoReturn:
        result = conn.result or {}
        code, description, message = result.get("result"), result.get("description"), str(result.get("message") or "")
        if code == _NO_SUCH_OBJECT:
            raise ConfigError(
                f"Could not {action} on {self.url}: {message.strip() or 'no such object'}. Check "
                f"`directory.ad.base_dn` ({self.base_dn!r}) and `directory.ad.users_ou` ({self.users_ou!r})."
            )
        if code == _INSUFFICIENT_ACCESS:
            why = f": {message.strip()}" if message.strip() else ""
            raise PermissionDeniedError(
                f"{self.bind_dn!r} may not {action} on {self.url} (insufficientAccessRights{why}). Delegate "
                f"'{entries.PERMISSIONS[attribute or 'read']}' on descendant User objects of {self.users_base} to "
                "that account (Active Directory Users and Computers: Delegate Control, custom task)."
            )
        raise BackendResponseError(
            f"Active Directory at {self.url} refused to {action}: {description} {message}".strip()
        )


def _join(relative: str, base: str) -> str:
    """``relative`` under ``base``, unless it already names a DN there (``OU=Staff`` or ``OU=Staff,DC=corp,...``)."""
    if not relative.strip():
        return base
    return relative if entries.is_under(relative, base) else f"{relative},{base}"


def _close(conn: Any) -> None:
    """Unbind, and close the socket ldap3 leaves behind when it could not connect."""
    with suppress(LDAPException):
        conn.unbind()
    if getattr(conn, "socket", None) is not None:
        with suppress(OSError):
            conn.socket.close()


def _key(person: PersonRef) -> str:
    return person.id if isinstance(person, Person) else person


def _server(url: str, timeout_s: int, ca_file: str | None) -> Any:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname or port == -1:
        raise ConfigError(f"`{SETTING}` must look like ldaps://dc1.corp.example:636 (or ldap://...:389), not {url!r}.")
    secure = parts.scheme == "ldaps"
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file) if secure else None
    return Server(parts.hostname, port=port or (636 if secure else 389), use_ssl=secure, tls=tls, get_info=NONE,
                  connect_timeout=timeout_s)  # fmt: skip


@contextmanager
def _translate(url: str) -> Iterator[None]:
    try:
        yield
    except LDAPCommunicationError as error:
        raise BackendUnavailableError("Active Directory domain controller", url, SETTING, str(error)) from error
    except LDAPException as error:
        raise BackendResponseError(
            f"Active Directory at {url} failed: {error}. Check the domain controller."
        ) from error
