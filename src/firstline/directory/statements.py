"""The directory's statements of every turn, prepared once: building a statement costs more CPU than SQLite
running it (:class:`~firstline.sqlstore.prepared.Prepared`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, and_, bindparam, func, literal_column, or_, select

from firstline.directory.models import INACTIVE_INCIDENT_STATUSES
from firstline.directory.schema import accounts, incidents, people, phones
from firstline.sqlstore.prepared import Prepared

__all__ = ["ACCOUNT_OF", "ACTIVE_INCIDENTS", "INACTIVE", "PERSON_BY_KEY", "PHONE_OF", "like_escaped", "people_search"]

PERSON_BY_KEY = Prepared(  # a few times a turn
    select(people).where(
        or_(func.lower(people.c.id) == bindparam("key"), func.lower(people.c.email) == bindparam("key"))
    )
)
ACCOUNT_OF = Prepared(select(accounts).where(accounts.c.person == bindparam("person")))
# NOT IN written out (a prepared statement has no expanding lists); the column is NOT NULL, so it is the same.
INACTIVE = {f"inactive_{i}": status for i, status in enumerate(INACTIVE_INCIDENT_STATUSES)}
ACTIVE_INCIDENTS = Prepared(
    select(incidents)
    .where(and_(*(incidents.c.status != bindparam(name) for name in INACTIVE)))
    .order_by(incidents.c.id)
)
PHONE_OF = Prepared(select(phones).where(phones.c.person == bindparam("person")).order_by(phones.c.extension))  # first


_SEARCHES: dict[int, Prepared] = {}  # by the number of words searched


def people_search(words: int) -> Prepared:
    """People whose id, name, e-mail, department, title or usernames contain each of ``words`` search words
    (``term0``, ``term1``, ... as LIKE patterns: :func:`like_escaped`, between ``%``)."""
    if (found := _SEARCHES.get(words)) is not None:
        return found
    columns: tuple[ColumnElement[Any], ...] = (
        *(people.c.id, people.c.name, people.c.email, people.c.department, people.c.title),
        *(accounts.c.username, func.coalesce(accounts.c.admin_account, literal_column("''"))),
    )
    conditions = [
        or_(*(func.lower(column).like(bindparam(f"term{i}", type_=String), escape="/") for column in columns))
        for i in range(words)
    ]
    joined = people.outerjoin(accounts, accounts.c.person == people.c.id)
    statement = select(people).select_from(joined).where(and_(*conditions)).order_by(people.c.id)
    prepared = Prepared(statement)
    return _SEARCHES.setdefault(words, prepared) if words <= 8 else prepared  # a long search is rare: not kept


def like_escaped(term: str) -> str:
    """``term`` matched literally by ``LIKE ... ESCAPE '/'`` (its ``%``, ``_`` and ``/`` escaped)."""
    return term.replace("/", "//").replace("%", "/%").replace("_", "/_")
