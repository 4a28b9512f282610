"""Which runbook audiences a requester may read, from who they are in the directory and their service role.

Everyone reads ``all`` and ``employee``. People who manage others (someone's ``Person.manager`` is
them) read ``manager``. The IT team — members of an IT group (``Dept-IT`` in the demo organisation)
or anyone whose service account is an ``agent`` or ``admin`` — reads ``it-staff``. And each
directory group a person belongs to opens ``group:<name>``. The result is the retrieval filter, so the
vector store and the keyword index leave everything else out of the search itself
(``firstline.knowledge.audience`` describes the values and the section marker).
"""

from __future__ import annotations

import logging

from firstline.accounts import SqlAccounts, role_at_least
from firstline.directory import DirectoryBackend
from firstline.directory.backend import ReportsDirectory
from firstline.directory.models import Account, Person
from firstline.errors import FirstlineError
from firstline.knowledge.audience import IT_STAFF, normalise

__all__ = ["EVERYONE", "IT_GROUPS", "readable_audiences", "requester_audiences"]

log = logging.getLogger(__name__)

EVERYONE = ("all", "employee")
IT_GROUPS = frozenset({"dept-it"})
"""Directory groups whose members are the IT team (lower case)."""


def readable_audiences(
    person: Person | None, account: Account | None = None, *, manages: bool = False, role: str | None = None
) -> tuple[str, ...]:
    """The audiences ``person`` (with directory ``account`` and service ``role``) may read, broadest first."""
    out = list(EVERYONE)
    if person is None or not person.is_current:
        return tuple(out)
    groups = sorted({g for g in (normalise(name) for name in (account.groups if account else ())) if g})
    if manages:
        out.append("manager")
    if (role is not None and role_at_least(role, "agent")) or IT_GROUPS & set(groups):
        out.append(IT_STAFF)
    out += [f"group:{group}" for group in groups]
    return tuple(out)


def manages_anyone(directory: DirectoryBackend, person: Person) -> bool:
    """Whether anyone current in ``person``'s e-mail domain has them as their manager."""
    if isinstance(directory, ReportsDirectory):  # one query rather than the whole domain
        return directory.has_current_reports(person)
    domain = person.email.partition("@")[2]
    if not domain:
        return False
    return any(p.manager == person.id and p.is_current for p in directory.find_people(f"@{domain}"))


def service_role(accounts: SqlAccounts | None, email: str) -> str | None:
    """The role of ``email``'s active service account (``requester``, ``agent``, ``admin``), if it has one."""
    if accounts is None:
        return None
    try:
        account = accounts.get(email)
    except FirstlineError:
        return None
    return account.role if account.active else None


def requester_audiences(
    directory: DirectoryBackend, email: str | None, *, accounts: SqlAccounts | None = None, role: str | None = None
) -> tuple[str, ...]:
    """The audiences the person with ``email`` may read (``role``: their service role, else looked up in ``accounts``).

    Anyone not found in the directory reads what everyone reads, plus ``it-staff`` for an agent role.
    """
    if not email:
        return EVERYONE
    role = role or service_role(accounts, email)
    try:
        person = directory.person(email)
    except FirstlineError:
        person = None
    if person is None:
        return (*EVERYONE, IT_STAFF) if role is not None and role_at_least(role, "agent") else EVERYONE
    try:
        account: Account | None = directory.account(person)
    except FirstlineError:
        account = None
    try:
        manages = manages_anyone(directory, person)
    except FirstlineError as exc:  # the directory could not list people: no manager-only runbooks this time
        log.warning("could not tell whether %s manages anyone: %s", person.id, exc)
        manages = False
    return readable_audiences(person, account, manages=manages, role=role)
