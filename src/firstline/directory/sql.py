"""The built-in directory store: SQLAlchemy Core over SQLite (the default) or PostgreSQL.

Every write is one transaction: the record is read under a row lock (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite write transactions are serialised by ``BEGIN IMMEDIATE``), changed by the rule
in :mod:`firstline.directory.rules` and written back, so concurrent unlocks and failed sign-ins
never lose an update. :meth:`SqlDirectory.seed` loads an organisation idempotently. The sign-in log
(``directory_sign_ins``) is read-only here: only :meth:`SqlDirectory.seed` writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    URL,
    ColumnElement,
    Table,
    and_,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from firstline.directory import rules
from firstline.directory.backend import PersonRef
from firstline.directory.database import (
    DATABASE,
    display_url,
    parse_url,
    translate_errors,
)
from firstline.directory.migrations import upgrade
from firstline.directory.models import (
    Account,
    Device,
    DistributionList,
    KnownIncident,
    Mailbox,
    OrgData,
    Person,
    Phone,
    Printer,
    SharedMailbox,
    SignIn,
)
from firstline.directory.records import from_record, to_row
from firstline.directory.schema import (
    accounts,
    devices,
    distribution_lists,
    incidents,
    mailboxes,
    people,
    phones,
    printers,
    shared_mailboxes,
    sign_ins,
)
from firstline.directory.statements import (
    ACCOUNT_OF,
    ACTIVE_INCIDENTS,
    INACTIVE,
    PERSON_BY_KEY,
    PHONE_OF,
    like_escaped,
    people_search,
)
from firstline.errors import PersonNotFoundError
from firstline.sqlstore.remembered import Remembered
from firstline.sqlstore.transactions import Transactions

__all__ = ["SqlDirectory"]

R = TypeVar("R")
_TABLES: dict[type[Any], Table] = {
    Person: people,
    Account: accounts,
    Device: devices,
    Printer: printers,
    Phone: phones,
    Mailbox: mailboxes,
    SharedMailbox: shared_mailboxes,
    DistributionList: distribution_lists,
    KnownIncident: incidents,
    SignIn: sign_ins,
}
_SIGN_IN_FIELDS = [column for column in sign_ins.c if column.name != "id"]  # the record has no surrogate key


class SqlDirectory:
    """A :class:`~firstline.directory.backend.DirectoryBackend` in a SQL database.

    ``url`` is ``sqlite:///path/to/directory.db`` (folders are created) or
    ``postgresql+psycopg://user:password@host:5432/db``. Opening migrates the database to the newest
    schema; :meth:`seed` fills it. ``lockout_threshold`` failed sign-ins lock an account; ``clock``
    returns the current time (aware UTC). People are looked up several times a turn and change only when
    the directory is seeded or synced: with ``remember_s`` > 0 a person found by a key is kept that long
    (``directory.people_remember_s``); seeding here forgets them at once. Thread-safe.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        lockout_threshold: int = rules.LOCKOUT_THRESHOLD,
        clock: Callable[[], datetime] = rules.utc_now,
        remember_s: float = 0.0,
    ) -> None:
        self.url = parse_url(url)
        self.lockout_threshold = lockout_threshold
        self._clock = clock
        self._db = Transactions(DATABASE, self.url, upgrade)
        self._people: Remembered[str, Person] = Remembered(remember_s)
        self._reports: Remembered[str, bool] = Remembered(remember_s)  # whether a person manages anyone
        self._searches: Remembered[str, tuple[Person, ...]] = Remembered(remember_s)  # people found by words

    def __repr__(self) -> str:
        return f"SqlDirectory({display_url(self.url)!r})"

    def seed(self, org: OrgData) -> int:
        """Insert the records of ``org`` that are not there yet (by key); returns how many were inserted.

        Records already present are left as they are, with their changes: seeding a seeded database
        again changes nothing. Sign-ins have no key of their own, so ``org.sign_ins`` is loaded whole
        into a store that holds no sign-in yet, and never added to a log that is already there.
        """
        self._forget()
        with translate_errors(self.url):
            try:
                return self._seed(org)
            except IntegrityError:
                return self._seed(org)  # another process seeded the same keys at the same moment
            finally:
                self._forget()

    def _forget(self) -> None:
        self._people.forget()
        self._reports.forget()
        self._searches.forget()

    # --- reads

    def person(self, key: str) -> Person:
        if (remembered := self._people.get(key.strip().lower())) is not None:
            return remembered
        with self._db.read() as conn:
            return self._person(conn, key)

    def find_people(self, text: str) -> list[Person]:
        """People whose id, name, e-mail, department, title or usernames contain every word of ``text``; remembered
        like people (each message's possible names are looked up, and the same words come back all day)."""
        terms = rules.search_terms(text)
        key = " ".join(terms)
        if (remembered := self._searches.get(key)) is not None:
            return list(remembered)
        read_at = self._searches.generation
        params = {f"term{i}": "%" + like_escaped(term) + "%" for i, term in enumerate(terms)}
        with self._db.read() as conn:
            rows = people_search(len(terms)).all(conn, params)
            found = [_record(Person, row.mapping()) for row in rows]
        self._searches.put(key, tuple(found), read_at)
        return found

    def has_current_reports(self, person: Person) -> bool:
        """One EXISTS query instead of listing the domain (:class:`~firstline.directory.backend.ReportsDirectory`);
        remembered like people (asked on every turn, for who may read the conversation's events)."""
        domain = person.email.partition("@")[2].lower()
        if not domain:
            return False
        key = f"{person.id}@{domain}"
        if (remembered := self._reports.get(key)) is not None:
            return remembered
        read_at = self._reports.generation
        statement = select(
            select(people.c.id)
            .where(
                people.c.manager == person.id,
                people.c.employment != "leaver",
                func.lower(people.c.email).endswith(f"@{domain}", autoescape=True),
            )
            .exists()
        )
        with self._db.read() as conn:
            found = bool(conn.execute(statement).scalar())
        self._reports.put(key, found, read_at)
        return found

    def account(self, person: PersonRef) -> Account:
        with self._db.read() as conn:
            owner = self._resolve(conn, person)
            row = ACCOUNT_OF.first(conn, {"person": owner.id})
        found = None if row is None else _record(Account, row.mapping())
        if found is None:
            raise rules.not_found("account", owner.id)
        return found

    def devices_of(self, person: PersonRef) -> list[Device]:
        with self._db.read() as conn:
            owner = self._resolve(conn, person)
            return _all(conn, Device, devices.c.owner == owner.id, order_by=devices.c.id)

    def device(self, key: str) -> Device:
        with self._db.read() as conn:
            return _found(_first(conn, Device, _device_key(key)), "device", key)

    def printer(self, name: str) -> Printer:
        with self._db.read() as conn:
            return _found(_first(conn, Printer, _printer_key(name)), "printer", name)

    def printers(self, location: str | None = None, floor: int | None = None) -> list[Printer]:
        conditions: list[ColumnElement[bool]] = []
        if location is not None:
            conditions.append(printers.c.location == location.strip().lower())
        if floor is not None:
            conditions.append(printers.c.floor == floor)
        with self._db.read() as conn:
            return _all(conn, Printer, and_(True, *conditions), order_by=printers.c.name)

    def phone(self, extension: str) -> Phone:
        with self._db.read() as conn:
            return _found(_first(conn, Phone, phones.c.extension == extension.strip()), "extension", extension)

    def phone_of(self, person: PersonRef) -> Phone | None:
        with self._db.read() as conn:
            owner = self._resolve(conn, person)
            row = PHONE_OF.first(conn, {"person": owner.id})
        return None if row is None else _record(Phone, row.mapping())

    def mailbox(self, address: str) -> Mailbox | SharedMailbox:
        wanted = address.strip().lower()
        with self._db.read() as conn:
            found: Mailbox | SharedMailbox | None = _first(conn, Mailbox, func.lower(mailboxes.c.address) == wanted)
            if found is None:
                found = _first(conn, SharedMailbox, func.lower(shared_mailboxes.c.address) == wanted)
        if found is None:
            raise rules.not_found("mailbox", address)
        return found

    def mailbox_of(self, person: PersonRef) -> Mailbox | None:
        with self._db.read() as conn:
            owner = self._resolve(conn, person)
            found = _all(conn, Mailbox, mailboxes.c.owner == owner.id, order_by=mailboxes.c.address)
        return found[0] if found else None

    def distribution_list(self, address: str) -> DistributionList:
        with self._db.read() as conn:
            return _found(_first(conn, DistributionList, _list_key(address)), "distribution list", address)

    def incidents(self, active_only: bool = True) -> list[KnownIncident]:
        with self._db.read() as conn:
            if active_only:
                rows = ACTIVE_INCIDENTS.all(conn, INACTIVE)
                return [_record(KnownIncident, row.mapping()) for row in rows]
            statement = select(incidents).order_by(incidents.c.id)
            return [_record(KnownIncident, row) for row in conn.execute(statement).mappings()]

    def sign_ins(self, person: PersonRef, days: int = 14) -> list[SignIn]:
        since = self._clock() - timedelta(days=days)
        with self._db.read() as conn:
            owner = self._resolve(conn, person)
            statement = (
                select(*_SIGN_IN_FIELDS)
                .where(sign_ins.c.person == owner.id, sign_ins.c.at >= since)
                .order_by(sign_ins.c.at.desc(), sign_ins.c.id)
            )
            return [_record(SignIn, row) for row in conn.execute(statement).mappings()]

    # --- writes

    def unlock_account(self, username: str) -> Account:
        return self._change_account(username, rules.unlocked)

    def record_failed_login(self, username: str) -> Account:
        return self._change_account(username, lambda a: rules.failed_login(a, self.lockout_threshold))

    def set_password_reset_required(self, username: str) -> Account:
        return self._change_account(username, rules.password_reset_required)

    def reset_password(self, username: str, new_password: str) -> Account:
        return self._change_account(username, lambda a: rules.password_changed(a, new_password, self._clock().date()))

    def reset_mfa(self, username: str) -> Account:
        return self._change_account(username, rules.mfa_reset)

    def revoke_sessions(self, username: str) -> Account:
        return self._change_account(username, lambda a: rules.sessions_revoked(a, self._clock()))

    def set_device_status(self, device_id: str, status: str) -> Device:
        return self._change(
            Device, _device_key(device_id), "device", device_id, lambda d: rules.device_with_status(d, status)
        )

    def remote_lock(self, device_id: str) -> Device:
        change = lambda d: rules.remote_lock_requested(d, self._clock())  # noqa: E731
        return self._change(Device, _device_key(device_id), "device", device_id, change)

    def sync_device(self, device_id: str) -> Device:
        return self._device_action(device_id, "sync")

    def retire_device(self, device_id: str) -> Device:
        return self._device_action(device_id, "retire")

    def wipe_device(self, device_id: str) -> Device:
        return self._device_action(device_id, "wipe")

    def set_automatic_replies(self, person: PersonRef, message: str | None) -> Mailbox:
        with self._db.write() as conn:
            owner = self._resolve(conn, person)
            own = select(mailboxes.c.address).where(mailboxes.c.owner == owner.id).order_by(mailboxes.c.address)
            address = conn.execute(own.limit(1)).scalar()
            if address is None:
                raise rules.not_found("mailbox", owner.email)
            change = lambda m: rules.automatic_replies(m, message)  # noqa: E731
            return self._change_in(conn, Mailbox, mailboxes.c.address == address, "mailbox", owner.email, change)

    def clear_print_queue(self, printer: str, job_ids: Iterable[str] | None = None) -> Printer:
        wanted = None if job_ids is None else list(job_ids)
        return self._change(
            Printer, _printer_key(printer), "printer", printer, lambda p: rules.cleared_queue(p, wanted)
        )

    def set_toner_order(self, printer: str, colour: str) -> Printer:
        return self._change(
            Printer, _printer_key(printer), "printer", printer, lambda p: rules.toner_ordered(p, colour)
        )

    def set_voicemail_pin_reset(self, extension: str) -> Phone:
        return self._change(
            Phone, phones.c.extension == extension.strip(), "extension", extension, rules.voicemail_reset
        )

    def set_call_forwarding(self, extension: str, target: str | None, mode: str = "always") -> Phone:
        with self._db.write() as conn:
            existing: set[str] = set()
            if target is not None:
                existing = set(
                    conn.execute(select(phones.c.extension).where(phones.c.extension == target.strip())).scalars()
                )
            change = lambda p: rules.forwarded(p, target, mode, existing)  # noqa: E731
            return self._change_in(conn, Phone, phones.c.extension == extension.strip(), "extension", extension, change)

    def add_to_distribution_list(self, address: str, person: PersonRef) -> DistributionList:
        with self._db.write() as conn:
            member = self._resolve(conn, person)
            change = lambda dl: rules.joined(dl, member)  # noqa: E731
            return self._change_in(conn, DistributionList, _list_key(address), "distribution list", address, change)

    def remove_from_distribution_list(self, address: str, person: PersonRef) -> DistributionList:
        with self._db.write() as conn:
            member = self._resolve(conn, person)
            change = lambda dl: rules.left(dl, member)  # noqa: E731
            return self._change_in(conn, DistributionList, _list_key(address), "distribution list", address, change)

    def close(self) -> None:
        """Close every pooled connection; harmless to call twice."""
        self._db.close()

    # --- shared steps

    def _device_action(self, device_id: str, action: str) -> Device:
        change = lambda d: rules.device_action_requested(d, action, self._clock())  # noqa: E731
        return self._change(Device, _device_key(device_id), "device", device_id, change)

    def _seed(self, org: OrgData) -> int:
        inserted = 0
        with self._db.transaction() as conn:
            if conn.dialect.name == "postgresql":
                # One seeder at a time, so two cannot both find the sign-in log empty and both load it
                # (SQLite's BEGIN IMMEDIATE already serialises them). Readers are not blocked.
                log = conn.dialect.identifier_preparer.format_table(sign_ins)
                conn.execute(text(f"LOCK TABLE {log} IN SHARE ROW EXCLUSIVE MODE"))
            for cls, records in _seed_order(org):
                table = _TABLES[cls]
                key = _primary_key(table)
                present = set(conn.execute(select(table.c[key])).scalars())
                rows = [to_row(record) for record in records if getattr(record, key) not in present]
                if rows:
                    conn.execute(insert(table), rows)
                    inserted += len(rows)
            if org.sign_ins and conn.execute(select(sign_ins.c.id).limit(1)).first() is None:
                conn.execute(insert(sign_ins), [to_row(entry) for entry in org.sign_ins])
                inserted += len(org.sign_ins)
        return inserted

    def _person(self, conn: Connection, key: str) -> Person:
        wanted = key.strip().lower()
        if (remembered := self._people.get(wanted)) is not None:
            return remembered
        read_at = self._people.generation
        row = PERSON_BY_KEY.first(conn, {"key": wanted})
        found = None if row is None else _record(Person, row.mapping())
        if found is None:
            by_username = or_(func.lower(accounts.c.username) == wanted, func.lower(accounts.c.admin_account) == wanted)
            owner = conn.execute(select(accounts.c.person).where(by_username)).scalar()
            found = _first(conn, Person, people.c.id == owner) if owner is not None else None
        if found is None:
            raise PersonNotFoundError(key)
        self._people.put(wanted, found, read_at)
        return found

    def _resolve(self, conn: Connection, person: PersonRef) -> Person:
        return person if isinstance(person, Person) else self._person(conn, person)

    def _change_account(self, username: str, change: Callable[[Account], Account]) -> Account:
        wanted = username.strip().lower()
        with self._db.write() as conn:
            condition: ColumnElement[bool] = func.lower(accounts.c.username) == wanted
            if conn.execute(select(accounts.c.username).where(condition)).first() is None:
                if conn.execute(
                    select(accounts.c.username).where(func.lower(accounts.c.admin_account) == wanted)
                ).first():
                    raise rules.admin_account_refused(username)
                condition = accounts.c.person == self._person(conn, username).id
            return self._change_in(conn, Account, condition, "account", username, change)

    def _change(self, cls: type[R], condition: ColumnElement[bool], kind: str, key: str, change: Callable[[R], R]) -> R:
        with self._db.write() as conn:
            return self._change_in(conn, cls, condition, kind, key, change)

    def _change_in(
        self,
        conn: Connection,
        cls: type[R],
        condition: ColumnElement[bool],
        kind: str,
        key: str,
        change: Callable[[R], R],
    ) -> R:
        table = _TABLES[cls]
        row = conn.execute(select(table).where(condition).with_for_update()).mappings().first()
        before = _found(None if row is None else _record(cls, row), kind, key)
        after = change(before)
        old, new = to_row(before), to_row(after)
        changed = {name: value for name, value in new.items() if value != old[name]}
        if changed:
            primary = _primary_key(table)
            conn.execute(update(table).where(table.c[primary] == old[primary]).values(**changed))
        return after


def _seed_order(org: OrgData) -> list[tuple[type[Any], tuple[Any, ...]]]:
    return [
        (Person, org.people),  # first: the other tables refer to people
        (Account, org.accounts),
        (Device, org.devices),
        (Printer, org.printers),
        (Phone, org.phones),
        (Mailbox, org.mailboxes),
        (SharedMailbox, org.shared_mailboxes),
        (DistributionList, org.distribution_lists),
        (KnownIncident, org.incidents),
    ]


def _primary_key(table: Table) -> str:
    (column,) = table.primary_key.columns
    return column.name


def _record(cls: type[R], row: Mapping[Any, Any]) -> R:
    return from_record(cls, row, f"{_TABLES[cls].name} row")


def _first(conn: Connection, cls: type[R], condition: ColumnElement[bool]) -> R | None:
    row = conn.execute(select(_TABLES[cls]).where(condition)).mappings().first()
    return None if row is None else _record(cls, row)


def _all(conn: Connection, cls: type[R], condition: ColumnElement[bool], *, order_by: Any) -> list[R]:
    rows = conn.execute(select(_TABLES[cls]).where(condition).order_by(order_by)).mappings()
    return [_record(cls, row) for row in rows]


def _found(record: R | None, kind: str, key: str) -> R:
    if record is None:
        raise rules.not_found(kind, key)
    return record


def _device_key(key: str) -> ColumnElement[bool]:
    wanted = key.strip().lower()
    columns = (devices.c.id, devices.c.hostname, devices.c.serial, devices.c.asset_tag)
    return or_(*(func.lower(column) == wanted for column in columns))


def _printer_key(name: str) -> ColumnElement[bool]:
    wanted = name.strip().lower()
    return or_(func.lower(printers.c.name) == wanted, func.lower(printers.c.id) == wanted)


def _list_key(address: str) -> ColumnElement[bool]:
    return func.lower(distribution_lists.c.address) == address.strip().lower()
