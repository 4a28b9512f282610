"""How people and accounts map onto LDAP ``inetOrgPerson`` entries and the ppolicy overlay's attributes.

==========================  =========================================================================
Firstline                   LDAP
==========================  =========================================================================
``Person.id``               ``employeeNumber`` (the ``uid`` when it is missing)
``name`` / ``email``        ``cn`` / ``mail``
``department`` / ``title``  ``ou`` / ``title``
``location``                ``l``
``phone_mobile``            ``mobile``
``employment``              ``employeeType`` (``active`` when missing)
``Account.username``        ``uid``
``locked``                  ``pwdAccountLockedTime`` present (operational; ppolicy sets it on lockout)
``enabled=False``           ``pwdAccountLockedTime: 000001010000Z`` (ppolicy's "locked by an administrator")
``failed_attempts``         the number of ``pwdFailureTime`` values
``password_last_set``       ``pwdChangedTime``
``password_reset_pending``  ``pwdReset: TRUE``
``groups``                  ``cn`` of the ``groupOfNames`` / ``groupOfUniqueNames`` that list the entry
==========================  =========================================================================

Operational attributes are only returned when asked for by name, so every search lists
:data:`ACCOUNT_ATTRIBUTES` explicitly. MFA methods are not kept in LDAP. The manager, floor, VIP
flag and dates of a person are not mapped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from firstline.directory.models import Account, Person

__all__ = [
    "ACCOUNT_ATTRIBUTES",
    "ADMIN_LOCK",
    "PERSON_ATTRIBUTES",
    "RELAX_RULES",
    "account_from_entry",
    "entry_attributes",
    "generalized_time",
    "parse_generalized_time",
    "person_from_entry",
]

PERSON_ATTRIBUTES = ("uid", "cn", "sn", "mail", "ou", "title", "employeeNumber", "l", "mobile", "employeeType")
ACCOUNT_ATTRIBUTES = ("pwdAccountLockedTime", "pwdFailureTime", "pwdChangedTime", "pwdReset")
ADMIN_LOCK = "000001010000Z"  # ppolicy: locked until an administrator removes it; Firstline reads it as disabled
# The Relax Rules control lets the administrator write the ppolicy's NO-USER-MODIFICATION attributes.
RELAX_RULES = ("1.3.6.1.4.1.4203.666.5.12", True, None)

Entry = Mapping[str, Any]


def _first(entry: Entry, name: str) -> str | None:
    values = entry.get(name) or []
    if isinstance(values, str | bytes):
        values = [values]
    value = values[0] if values else None
    return value.decode() if isinstance(value, bytes) else value


def _all(entry: Entry, name: str) -> list[str]:
    values = entry.get(name) or []
    return [values] if isinstance(values, str) else [str(v) for v in values]


def generalized_time(moment: datetime) -> str:
    """``moment`` as LDAP GeneralizedTime in UTC, e.g. ``20261128090000Z``."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def parse_generalized_time(text: str) -> datetime:
    """An aware UTC datetime from GeneralizedTime (``20261128090000Z``, ``20261128090000.123456Z``)."""
    whole, _, rest = text.rstrip("Z").partition(".")
    moment = datetime.strptime(whole, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return moment + timedelta(microseconds=int(rest.ljust(6, "0")[:6])) if rest else moment


def person_from_entry(attributes: Entry) -> Person:
    """The :class:`Person` of an ``inetOrgPerson`` entry's attributes."""
    uid = _first(attributes, "uid") or ""
    return Person(
        id=_first(attributes, "employeeNumber") or uid,
        name=_first(attributes, "cn") or uid,
        email=_first(attributes, "mail") or "",
        department=_first(attributes, "ou") or "",
        title=_first(attributes, "title") or "",
        location=(_first(attributes, "l") or "").lower(),
        phone_mobile=_first(attributes, "mobile") or "",
        employment=_first(attributes, "employeeType") or "active",
    )


def account_from_entry(
    attributes: Entry, groups: Sequence[str], now: datetime, password_max_age: timedelta | None
) -> Account:
    """The :class:`Account` of an entry read with :data:`ACCOUNT_ATTRIBUTES`, plus the names of its ``groups``."""
    lock = _first(attributes, "pwdAccountLockedTime")
    changed_text = _first(attributes, "pwdChangedTime")
    changed = parse_generalized_time(changed_text) if changed_text else None
    expired = bool(password_max_age and changed and now - changed > password_max_age)
    return Account(
        person=person_from_entry(attributes).id,
        username=_first(attributes, "uid") or "",
        enabled=lock != ADMIN_LOCK,
        locked=lock is not None and lock != ADMIN_LOCK,
        failed_attempts=len(_all(attributes, "pwdFailureTime")),
        password_last_set=changed.date() if changed else None,
        password_expired=expired,
        groups=tuple(groups),
        password_reset_pending=(_first(attributes, "pwdReset") or "").upper() == "TRUE",
    )


def entry_attributes(person: Person, account: Account, password: str, now: datetime) -> dict[str, Any]:
    """The attributes of a new entry for ``person`` with ``account``'s lock and password state.

    The ppolicy attributes (``pwdAccountLockedTime``, ``pwdFailureTime``, ``pwdChangedTime``) must be
    added with the :data:`RELAX_RULES` control.
    """
    attributes: dict[str, Any] = {
        "uid": account.username,
        "cn": person.name,
        "sn": person.name.split()[-1] if person.name.split() else account.username,
        "employeeNumber": person.id,
        "employeeType": person.employment,
        "userPassword": password,
    }
    optional = {
        "mail": person.email,
        "ou": person.department,
        "title": person.title,
        "l": person.location,
        "mobile": person.phone_mobile,
    }
    attributes |= {name: value for name, value in optional.items() if value}
    if not account.enabled:
        attributes["pwdAccountLockedTime"] = ADMIN_LOCK
    elif account.locked:
        attributes["pwdAccountLockedTime"] = generalized_time(now)
    if account.failed_attempts:
        # Distinct values: one failure per microsecond, ending now.
        moments = (now.astimezone(UTC) - timedelta(microseconds=i) for i in range(account.failed_attempts))
        attributes["pwdFailureTime"] = sorted(f"{moment:%Y%m%d%H%M%S.%f}Z" for moment in moments)
    if account.password_last_set is not None:
        attributes["pwdChangedTime"] = generalized_time(datetime.combine(account.password_last_set, time(), UTC))
    if account.password_reset_pending:
        attributes["pwdReset"] = "TRUE"
    return attributes
