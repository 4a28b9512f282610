"""How people and accounts map onto Active Directory ``user`` objects (facts from [MS-ADA1..3], [MS-ADTS]).

===========================  ==================================================================================
Firstline                    Active Directory
===========================  ==================================================================================
``Person.id``                ``employeeID`` (the ``sAMAccountName`` when it is missing)
``name`` / ``email``         ``displayName`` (else ``givenName sn``, else ``cn``) / ``mail`` (else the UPN)
``department`` / ``title``   ``department`` / ``title``
``manager``                  the ``employeeID`` of the entry the ``manager`` DN names
``location`` / mobile        ``l`` (lower case) / ``mobile``
``floor``                    the number in ``physicalDeliveryOfficeName`` ("Floor 4", "Leeds, floor 2")
``employment``               ``employeeType`` (``active`` when missing)
``Account.username``         ``sAMAccountName`` (``r.chen``)
``enabled=False``            ``userAccountControl`` has ACCOUNTDISABLE (0x2)
``locked``                   ``msDS-User-Account-Control-Computed`` has LOCKOUT (0x10) when AD returns it; else
                             ``lockoutTime`` > 0 and, with a lockout duration, not yet over
``failed_attempts``          ``badPwdCount``
``password_last_set``        ``pwdLastSet`` (FILETIME: 100-ns intervals since 1601-01-01 UTC; 0 = none)
``password_reset_pending``   ``pwdLastSet`` = 0 without DONT_EXPIRE_PASSWORD (0x10000): "must change at next logon"
``password_expired``         PASSWORD_EXPIRED (0x800000) in the computed attribute or ``userAccountControl``, or
                             ``pwdLastSet`` + the domain's maximum password age < now (never with 0x10000)
``groups``                   the CN of each ``memberOf`` DN (AD leaves out the primary group, Domain Users)
``privileged``               ``adminCount`` = 1 (AdminSDHolder protects it), or a protected group in ``groups``
``service``                  a ``servicePrincipalName``, or the entry lies under the service-accounts OU
===========================  ==================================================================================

``adminCount`` can outlive a membership (AD does not clear it when someone leaves Domain Admins); Firstline
reads such an account as privileged all the same, which errs on the safe side. MFA methods are not in AD.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

with warnings.catch_warnings():
    # ldap3 2.9.1 imports names that pyasn1 >= 0.6.1 deprecates (tagMap, typeMap); harmless, but noisy.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ldap3\.")
    from ldap3.utils.dn import escape_rdn, parse_dn

from firstline.directory.backend import DirectoryCheck
from firstline.directory.models import Account, OrgData, Person

__all__ = [
    "ACCOUNTDISABLE",
    "ACCOUNT_ATTRIBUTES",
    "DONT_EXPIRE_PASSWORD",
    "GLOBAL_SECURITY_GROUP",
    "LOCKOUT",
    "NEEDED",
    "NORMAL_ACCOUNT",
    "PASSWORD_EXPIRED",
    "PERMISSIONS",
    "PERSON_ATTRIBUTES",
    "PROTECTED_GROUPS",
    "SAM_NORMAL_USER_ACCOUNT",
    "USERS_FILTER",
    "USER_CLASSES",
    "SeedPlan",
    "UserObject",
    "account_from_entry",
    "bind_refusal",
    "dn_key",
    "entry_attributes",
    "filetime",
    "group_names",
    "integer",
    "is_privileged",
    "is_under",
    "parse_filetime",
    "password_check",
    "person_from_entry",
    "seed_plan",
    "unicode_pwd",
    "write_checks",
]

# userAccountControl bits (ADS_USER_FLAG_ENUM, iads.h) and the computed ones ([MS-ADTS] 3.1.1.4.5.17).
ACCOUNTDISABLE = 0x2
LOCKOUT = 0x10
NORMAL_ACCOUNT = 0x200
DONT_EXPIRE_PASSWORD = 0x10000
PASSWORD_EXPIRED = 0x800000
SAM_NORMAL_USER_ACCOUNT = 0x30000000  # sAMAccountType of user objects; computers are 0x30000001
GLOBAL_SECURITY_GROUP = -2147483646  # groupType: GROUP_TYPE_SECURITY_ENABLED | ACCOUNT_GROUP
# Ordinary people: user objects that are normal user accounts (not computers, trusts or contacts). AD derives
# sAMAccountType itself and indexes it; this is equivalent to (&(objectCategory=person)(objectClass=user)).
USERS_FILTER = f"(&(objectClass=user)(sAMAccountType={SAM_NORMAL_USER_ACCOUNT}))"
# Groups whose members AdminSDHolder protects ([MS-ADTS] 3.1.1.6.1.2 Protected Objects).
PROTECTED_GROUPS = (
    "Administrators", "Account Operators", "Server Operators", "Print Operators", "Backup Operators",
    "Replicator", "Domain Admins", "Schema Admins", "Enterprise Admins",
)  # fmt: skip

PERSON_ATTRIBUTES = (
    "sAMAccountName", "userPrincipalName", "mail", "employeeID", "displayName", "givenName", "sn", "cn",
    "department", "title", "mobile", "manager", "l", "employeeType", "physicalDeliveryOfficeName",
)  # fmt: skip
ACCOUNT_ATTRIBUTES = (
    "userAccountControl", "msDS-User-Account-Control-Computed", "lockoutTime", "badPwdCount", "pwdLastSet",
    "memberOf", "adminCount", "servicePrincipalName",
)  # fmt: skip
USER_CLASSES = ("top", "person", "organizationalPerson", "user")
# The permission to delegate for each write (Delegation of Control Wizard: custom task on descendant User objects);
# an admin reset of unicodePwd needs the "Reset password" extended right (User-Force-Change-Password).
PERMISSIONS = {
    "lockoutTime": "Write lockoutTime",
    "pwdLastSet": "Read/write pwdLastSet",
    "unicodePwd": "Reset password",
    "read": "Read all properties",
}
NEEDED = ("Security",)  # the specialist that unlocks and resets accounts
# The "data" code AD puts in a refused bind's message (AcceptSecurityContext sub-codes).
_BIND_DATA = {"525": "no such user", "52e": "wrong password", "532": "password expired", "533": "account disabled",
              "701": "account expired", "773": "must change password", "775": "account locked out"}  # fmt: skip
_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)

Entry = Mapping[str, Any]


@dataclass(frozen=True)
class UserObject:
    """A user object as an LDAP search returned it: its DN and attributes (values as ldap3 decoded them)."""

    dn: str
    attributes: dict[str, Any]

    def values(self, name: str) -> list[str]:
        return _all(self.attributes, name)

    def value(self, name: str) -> str | None:
        return _first(self.attributes, name)


def _all(entry: Entry, name: str) -> list[str]:
    values = entry.get(name) or []
    if isinstance(values, str | bytes | int):
        values = [values]
    return [value.decode() if isinstance(value, bytes) else str(value) for value in values]


def _first(entry: Entry, name: str) -> str | None:
    values = _all(entry, name)
    return values[0] if values else None


def integer(entry: Entry, name: str) -> int | None:
    """The attribute as an integer, ``None`` when it is missing or not a number."""
    text = _first(entry, name)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def filetime(moment: datetime) -> int:
    """``moment`` as a Windows FILETIME: 100-ns intervals since 1601-01-01 UTC (``pwdLastSet``, ``lockoutTime``)."""
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def parse_filetime(value: int | None) -> datetime | None:
    """The aware UTC time of a FILETIME; ``None`` for 0, negative or missing values (never set)."""
    if not value or value <= 0:
        return None
    return _EPOCH + timedelta(microseconds=value // 10)


def dn_key(dn: str) -> tuple[tuple[str, str], ...]:
    """A DN as (attribute, value) pairs in lower case, for comparing DNs written differently."""
    return tuple((attr.strip().lower(), value.strip().lower()) for attr, value, _ in parse_dn(dn))


def is_under(dn: str, base: str) -> bool:
    """Whether ``dn`` is ``base`` or lies below it."""
    entry, parent = dn_key(dn), dn_key(base)
    return len(entry) >= len(parent) and entry[len(entry) - len(parent) :] == parent


def group_names(entry: Entry) -> tuple[str, ...]:
    """The CN of each group in ``memberOf``, sorted."""
    names = []
    for dn in _all(entry, "memberOf"):
        first = parse_dn(dn)[:1]
        names.append(first[0][1] if first else dn)
    return tuple(sorted(names, key=str.lower))


def is_privileged(entry: Entry, privileged_groups: Collection[str]) -> bool:
    """``adminCount`` = 1, or membership of one of ``privileged_groups`` (by CN, any case)."""
    wanted = {name.lower() for name in privileged_groups}
    return integer(entry, "adminCount") == 1 or any(name.lower() in wanted for name in group_names(entry))


def person_from_entry(entry: Entry, manager: str | None = None) -> Person:
    """The :class:`Person` of a user object; ``manager`` is the person id the ``manager`` DN resolved to."""
    username = _first(entry, "sAMAccountName") or ""
    given, surname = _first(entry, "givenName"), _first(entry, "sn")
    name = _first(entry, "displayName") or " ".join(p for p in (given, surname) if p) or _first(entry, "cn")
    return Person(
        id=_first(entry, "employeeID") or username,
        name=name or username,
        email=_first(entry, "mail") or _first(entry, "userPrincipalName") or "",
        department=_first(entry, "department") or "",
        title=_first(entry, "title") or "",
        manager=manager,
        location=(_first(entry, "l") or "").lower(),
        floor=_floor(_first(entry, "physicalDeliveryOfficeName")),
        phone_mobile=_first(entry, "mobile") or "",
        employment=_first(entry, "employeeType") or "active",
    )


def account_from_entry(
    dn: str,
    entry: Entry,
    *,
    now: datetime,
    max_password_age: timedelta | None = None,
    lockout_duration: timedelta | None = None,
    service_base: str | None = None,
    privileged_groups: Collection[str] = PROTECTED_GROUPS,
    admin_account: str | None = None,
) -> Account:
    """The :class:`Account` of the user object at ``dn``, read with :data:`ACCOUNT_ATTRIBUTES`.

    ``lockout_duration`` is the domain's: a lockout older than that is over (``None``: until an administrator
    unlocks). ``service_base`` is the DN of the service-accounts OU.
    """
    control = integer(entry, "userAccountControl") or 0
    computed = integer(entry, "msDS-User-Account-Control-Computed")
    locked_at = parse_filetime(integer(entry, "lockoutTime"))
    if computed is not None:
        locked = bool(computed & LOCKOUT)
    else:
        locked = locked_at is not None and (lockout_duration is None or now < locked_at + lockout_duration)
    pwd_last_set = integer(entry, "pwdLastSet")
    last_set = parse_filetime(pwd_last_set)
    never_expires = bool(control & DONT_EXPIRE_PASSWORD)
    aged = bool(max_password_age and last_set and now - last_set > max_password_age)
    expired = bool((computed or 0) & PASSWORD_EXPIRED or control & PASSWORD_EXPIRED) or (aged and not never_expires)
    spns = _all(entry, "servicePrincipalName")
    return Account(
        person=person_from_entry(entry).id,
        username=_first(entry, "sAMAccountName") or "",
        enabled=not control & ACCOUNTDISABLE,
        locked=locked,
        failed_attempts=integer(entry, "badPwdCount") or 0,
        password_last_set=last_set.date() if last_set else None,
        password_expired=expired,
        groups=group_names(entry),
        admin_account=admin_account,
        password_reset_pending=pwd_last_set == 0 and not never_expires,
        service=bool(spns) or bool(service_base and is_under(dn, service_base)),
        privileged=is_privileged(entry, privileged_groups),
    )


def unicode_pwd(password: str) -> bytes:
    """The ``unicodePwd`` value AD expects ([MS-ADTS] 3.1.1.3.1.5.1): the password in double quotes, UTF-16-LE."""
    return f'"{password}"'.encode("utf-16-le")


def entry_attributes(
    person: Person,
    account: Account,
    *,
    password: str,
    now: datetime,
    domain: str,
    manager_dn: str | None = None,
) -> dict[str, Any]:
    """The attributes of a test user object for ``person`` with ``account``'s state, as AD would hold them.

    For a server loaded with the Firstline test schema (``tests/directory/ad_schema``): AD itself derives
    ``sAMAccountType``, ``badPwdCount``, ``lockoutTime`` and ``pwdLastSet`` and refuses most of these writes.
    ``password_expired`` is not written: AD derives it from ``pwdLastSet`` and the maximum password age.
    ``password`` goes into ``userPassword``, which such a server binds with; ``domain`` is the UPN suffix.
    """
    words = person.name.split()
    control = NORMAL_ACCOUNT | (0 if account.enabled else ACCOUNTDISABLE)
    last_set = datetime.combine(account.password_last_set, time(), UTC) if account.password_last_set else None
    attributes: dict[str, Any] = {
        "cn": person.name,
        "sn": words[-1] if words else account.username,
        "sAMAccountName": account.username,
        "userPrincipalName": f"{account.username}@{domain}",
        "sAMAccountType": SAM_NORMAL_USER_ACCOUNT,
        "employeeID": person.id,
        "displayName": person.name,
        "employeeType": person.employment,
        "userAccountControl": control,
        "lockoutTime": filetime(now) if account.locked and account.enabled else 0,
        "badPwdCount": account.failed_attempts,
        "pwdLastSet": 0 if account.password_reset_pending or last_set is None else filetime(last_set),
        "userPassword": password,
    }
    optional = {
        "givenName": " ".join(words[:-1]),
        "mail": person.email,
        "department": person.department,
        "title": person.title,
        "l": person.location,
        "physicalDeliveryOfficeName": f"Floor {person.floor}" if person.floor is not None else "",
        "mobile": person.phone_mobile,
        "manager": manager_dn,
    }
    attributes |= {name: value for name, value in optional.items() if value}
    if account.privileged:
        attributes["adminCount"] = 1
    if account.service:
        attributes["servicePrincipalName"] = f"HTTP/{account.username}.{domain}"
    return attributes


def bind_refusal(message: str) -> str:
    """What AD's "data" code in a refused bind's message means (``wrong password``), or ``""``."""
    return next((why for code, why in _BIND_DATA.items() if f"data {code}" in message.lower()), "")


def write_checks(writable: Collection[str], *, bind_dn: str, users_base: str, sample_dn: str) -> list[DirectoryCheck]:
    """One check per attribute Firstline writes, from the (lower-case) ``allowedAttributesEffective`` of a user."""
    found = []
    for name, attribute in (("Unlock accounts", "lockoutTime"), ("Require a new password", "pwdLastSet")):
        ok = attribute.lower() in writable
        why = "" if writable else "; the server listed nothing, so it may not be Active Directory"
        detail = "" if ok else (
            f"{bind_dn!r} may not write {attribute} on {sample_dn} (allowedAttributesEffective does not list it"
            f"{why}). Delegate '{PERMISSIONS[attribute]}' on descendant User objects of {users_base} to that account."
        )  # fmt: skip
        found.append(DirectoryCheck(f"{name}: write {attribute}", ok, detail, NEEDED))
    return found


def password_check(url: str, setting: str) -> DirectoryCheck:
    """Setting passwords needs LDAPS; the "Reset password" right itself shows only when it is used."""
    secure = urlsplit(url).scheme == "ldaps"
    detail = (
        "LDAPS in use; AD lists no attribute for the 'Reset password' right, so only a reset can test it"
        if secure
        else f"`{setting}` is {url!r}: AD accepts unicodePwd only over ldaps://"
    )
    return DirectoryCheck("Set passwords from the reset-link flow: unicodePwd", secure, detail, NEEDED)


@dataclass(frozen=True)
class SeedPlan:
    """The test objects to add: user objects as (DN, attributes), then groups as CN -> member DNs."""

    users: tuple[tuple[str, dict[str, Any]], ...]
    groups: dict[str, list[str]]


def seed_plan(
    org: OrgData,
    users_base: str,
    password: str | Callable[[Account], str],
    *,
    now: datetime,
    people: Collection[str] | None = None,
) -> SeedPlan:
    """The user objects for the accounts of ``org`` (or of the person ids in ``people``) under ``users_base``.

    A person's admin account (``adm-r.kulkarni``) becomes a second user object with the same ``employeeID``,
    ``adminCount`` = 1 and no mail; it and privileged accounts join ``Domain Admins``. The UPN suffix is the
    DNS name of the ``DC=`` parts of ``users_base``.
    """
    persons = {person.id: person for person in org.people}
    chosen = [a for a in org.accounts if people is None or a.person in people]
    dns = {a.person: f"CN={escape_rdn(persons[a.person].name)},{users_base}" for a in chosen}
    domain = ".".join(value for attr, value, _ in parse_dn(users_base) if attr.lower() == "dc")
    users: list[tuple[str, dict[str, Any]]] = []
    groups: dict[str, list[str]] = {}
    for account in chosen:
        person, dn = persons[account.person], dns[account.person]
        secret = password(account) if callable(password) else password
        manager = dns.get(person.manager or "")
        users.append(
            (dn, entry_attributes(person, account, password=secret, now=now, domain=domain, manager_dn=manager))
        )
        for group in (*account.groups, *(("Domain Admins",) if account.privileged else ())):
            groups.setdefault(group, []).append(dn)
        if account.admin_account:
            label = f"{person.name} (admin)"
            admin = Account(account.person, account.admin_account, password_last_set=account.password_last_set,
                            privileged=True)  # fmt: skip
            attributes = entry_attributes(replace(person, email=""), admin, password=secret, now=now, domain=domain)
            users.append((f"CN={escape_rdn(label)},{users_base}", attributes | {"cn": label, "displayName": label}))
            groups.setdefault("Domain Admins", []).append(users[-1][0])
    return SeedPlan(tuple(users), groups)


def _floor(office: str | None) -> int | None:
    """The floor in an office field such as "Floor 4" or "Leeds, floor 2" (``None`` when it names none)."""
    found = re.search(r"\bfloor\s*(\d+)", office or "", re.I)
    return int(found.group(1)) if found else None
