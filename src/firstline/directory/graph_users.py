"""Entra ID users for :class:`~firstline.directory.graph.GraphDirectory`: finding a person's users and reading
their account (groups, roles, methods, sign-in log).

A person may have two users with the same ``employeeId``: their own, and an admin account whose
username starts with the admin prefix (``adm-r.kulkarni``). :meth:`EntraUsers.find` takes a person id,
email address, UPN or username, matched in one advanced query (``ConsistencyLevel: eventual``), and
returns both; :meth:`EntraUsers.account` reads what an :class:`~firstline.directory.models.Account` needs
(``/authentication/methods``, ``/memberOf``, the sign-in log of the last day, see
:func:`~firstline.directory.graph_records.lockout_from`). Without the sign-in log (no ``AuditLog.Read.All``
or no Entra ID P1 / P2 licence) the account is still read, and its notes say the lockout is unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from firstline.directory import rules
from firstline.directory.backend import PersonRef
from firstline.directory.graph_http import AUDIT_LOG, AUTH_METHODS, LIFECYCLE, USER_READ, GraphCalls
from firstline.directory.graph_records import (
    USER_FIELDS,
    Json,
    Lockout,
    account_from,
    graph_time,
    is_admin_name,
    lockout_from,
    person_from,
    sign_in_from,
    username_of,
)
from firstline.directory.models import Account, Person, SignIn
from firstline.errors import DirectoryError, FirstlineError, PermissionDeniedError, PersonNotFoundError

__all__ = ["EntraUsers", "Users"]

log = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass(frozen=True)
class Users:
    """A person's own user in Entra ID, their admin account's user (``None``: none), and the user a key matched."""

    own: Json
    admin: Json | None
    matched: Json

    @property
    def id(self) -> str:
        """The object id of the person's own user."""
        return str(self.own["id"])


@dataclass
class EntraUsers:
    """User lookups and account reads over ``calls``; the options are :class:`GraphDirectory`'s."""

    calls: GraphCalls
    clock: Callable[[], datetime]
    attribute: str
    admin_prefix: str
    service_types: tuple[str, ...]
    password_max_age: timedelta | None
    lockout_duration: timedelta
    lockout_window: timedelta = timedelta(days=1)

    leave_dates: bool = True
    """Whether ``employeeLeaveDateTime`` is read (it needs User-LifeCycleInfo.Read.All; see :meth:`_read`)."""

    @property
    def select(self) -> str:
        fields = [f for f in USER_FIELDS if self.leave_dates or f != "employeeLeaveDateTime"]
        return ",".join(dict.fromkeys((*fields, self.attribute)))

    def find(self, person: PersonRef, *, with_admin: bool = True) -> Users:
        """The users of ``person`` (a Person, or an id, email, UPN or username); the admin account's only
        when ``with_admin`` (it costs a second query unless the key was the employee id)."""
        key = person.id if isinstance(person, Person) else person.strip()
        found = self._match(key) if key else []
        if not found:
            raise PersonNotFoundError(person.id if isinstance(person, Person) else person)
        matched = found[0]
        family = found
        employee = matched.get("employeeId")
        if employee and (with_admin or self._admin(matched)) and str(employee).lower() != key.lower():
            family = self._match(str(employee), "employeeId") or found
        own = [u for u in family if not self._admin(u)]
        admins = [u for u in family if self._admin(u)]
        return Users(own[0] if own else matched, admins[0] if admins else None, matched)

    def target(self, username: str) -> Users:
        """The users a change to ``username`` acts on; an admin account is refused."""
        users = self.find(username)
        if users.matched["id"] != users.own["id"]:
            raise rules.admin_account_refused(username)
        return users

    def find_people(self, text: str) -> list[Person]:
        """Every user, read a page of 999 at a time, filtered here: Graph's ``$search`` matches word starts,
        not the substrings of Firstline's every-word rule, and cannot search the username attribute."""
        terms = rules.search_terms(text)
        people: dict[str, tuple[Person, list[str], list[str]]] = {}
        now = self.clock()
        expand = "manager($select=employeeId)"
        everyone = self._read(
            lambda select: self.calls.items(
                "/users", {"$select": select, "$expand": expand, "$top": "999"}, permission=USER_READ
            )
        )
        for user in everyone:
            person = person_from(user, self.attribute, now, self.leave_dates)
            _, own, admins = people.setdefault(person.id, (person, [], []))
            if self._admin(user):
                admins.append(username_of(user, self.attribute))
            else:
                own.append(username_of(user, self.attribute))
                people[person.id] = (person, own, admins)
        found = [p for p, own, admins in people.values() if rules.matches_text(terms, p, _names(p.id, own, admins))]
        return sorted(found, key=lambda p: p.id)

    def person(self, user_id: str) -> Person:
        """The person of a user id, with their manager."""
        user = self._read(
            lambda select: self.calls.get(
                f"/users/{user_id}",
                {"$select": select, "$expand": "manager($select=employeeId)"},
                permission=USER_READ,
                not_found=_gone(user_id),
            )
        )
        return person_from(user, self.attribute, self.clock(), self.leave_dates)

    def person_id(self, user_id: str) -> str | None:
        """The person id of an Entra user id (for Intune devices); ``None`` when there is no such user."""
        if not user_id:
            return None
        try:
            return self.person(user_id).id
        except PersonNotFoundError:
            return None

    def account(self, users: Users) -> tuple[Account, Lockout]:
        """The account of ``users`` and the lockout its sign-in log shows."""
        user, now = users.own, self.clock()
        methods = self.calls.items(f"/users/{users.id}/authentication/methods", permission=AUTH_METHODS)
        member_of = self.calls.items(f"/users/{users.id}/memberOf", {"$select": "id,displayName"}, permission=USER_READ)
        unread = ""
        try:
            log = self.log(user, now - self.lockout_window)
        except PermissionDeniedError:  # no AuditLog.Read.All, or no Entra ID P1 / P2 licence
            log, unread = [], f"The sign-in log could not be read ({AUDIT_LOG.name} and an Entra ID P1 or P2 licence)."
        lockout = lockout_from(log, bool(user.get("accountEnabled", True)), now, self.lockout_duration)
        account = account_from(
            user,
            attribute=self.attribute,
            admin=users.admin,
            methods=methods,
            member_of=member_of,
            lockout=lockout,
            now=now,
            password_max_age=self.password_max_age,
            service_types=self.service_types,
        )
        return (replace(account, notes=f"{account.notes} {unread}".strip()) if unread else account), lockout

    def reread(self, users: Users) -> Account:
        """The account after a change: the user read again by id."""
        own = self._read(
            lambda select: self.calls.get(
                f"/users/{users.id}", {"$select": select}, permission=USER_READ, not_found=_gone(users.id)
            )
        )
        return self.account(Users(own, users.admin, own))[0]

    def log(self, user: Json, since: datetime) -> list[SignIn]:
        """The user's sign-ins since ``since``, newest first (every page)."""
        person = str(user.get("employeeId") or username_of(user, self.attribute))
        query = f"userId eq '{user['id']}' and createdDateTime ge {graph_time(since)}"
        entries = self.calls.items("/auditLogs/signIns", {"$filter": query}, permission=AUDIT_LOG)
        found = [sign_in_from(entry, person) for entry in entries]
        return sorted((s for s in found if s.at >= since), key=lambda s: s.at, reverse=True)

    def cloud_password(self, users: Users, action: str) -> None:
        """Refuse ``action`` on a password mastered in on-premises Active Directory."""
        if users.own.get("onPremisesSyncEnabled"):
            name = username_of(users.own, self.attribute)
            raise DirectoryError(
                f"{name}'s account is synchronised from on-premises Active Directory (onPremisesSyncEnabled), so its "
                f"password is mastered there and Graph cannot {action}. Do it in Active Directory (or have them use "
                "self-service password reset with password writeback), or escalate to Identity & Access Management."
            )

    def _match(self, key: str, field: str | None = None) -> list[Json]:
        """Users whose ``field`` (or employee id, mail, UPN or username) is ``key``, own accounts first."""
        literal = "'" + key.replace("'", "''") + "'"
        fields: Iterable[str] = [field] if field else ["employeeId", "mail", "userPrincipalName", self.attribute]
        query = " or ".join(f"{name} eq {literal}" for name in dict.fromkeys(fields))
        found = self._read(
            lambda select: self.calls.items(
                "/users", {"$filter": query, "$select": select}, permission=USER_READ, eventual=True
            )
        )
        return sorted(found, key=self._admin)

    def _read(self, call: Callable[[str], R]) -> R:
        """``call`` with the user fields to select; when Graph refuses it while leave dates are selected, once
        more without them (User-LifeCycleInfo.Read.All is missing), which then holds for this directory."""
        try:
            return call(self.select)
        except PermissionDeniedError:
            if not self.leave_dates:
                raise
            self.leave_dates = False
            try:
                answer = call(self.select)
            except PermissionDeniedError:
                self.leave_dates = True
                raise
            log.warning("Microsoft Graph: employeeLeaveDateTime is not readable; grant %s", LIFECYCLE.name)
            return answer

    def _admin(self, user: Json) -> bool:
        return is_admin_name(username_of(user, self.attribute), self.admin_prefix)


def _names(person_id: str, own: list[str], admins: list[str]) -> Account | None:
    if not own and not admins:
        return None
    return Account(person=person_id, username=own[0] if own else admins[0], admin_account=admins[0] if admins else None)


def _gone(user_id: str) -> Callable[[], FirstlineError]:
    return lambda: PersonNotFoundError(user_id)
