"""Read an organisation from a folder of YAML files into :class:`~firstline.directory.models.OrgData`.

The folder holds ``people.yaml`` (required), ``accounts.yaml``, ``devices.yaml``, ``printers.yaml``,
``phones.yaml``, ``mailboxes.yaml``, ``incidents.yaml`` and ``signins.yaml`` (each optional), every one a top-level
list; the demo organisation's README (``firstline/helpdesk/seed/org/README.md``) describes the
fields. This package never imports the helpdesk: the caller passes the folder::

    org = load_org(Path(firstline.__file__).parent / "helpdesk" / "seed" / "org")

Every problem is a :class:`~firstline.errors.ConfigError` naming the file, the entry and what to
fix: a missing field, a value of the wrong type, a duplicate key (ids, emails, usernames, hostnames,
extensions, addresses, ...) or a reference that does not resolve (managers, owners, members,
forwarding targets, an incident's printers and extensions).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from firstline.directory.models import (
    DEVICE_STATUSES,
    EXTENSION_PATTERN,
    FORWARDING_MODES,
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
from firstline.directory.records import from_record
from firstline.errors import ConfigError

__all__ = ["load_org"]

R = TypeVar("R")
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAILBOX_KINDS: dict[str, type[Any]] = {
    "user": Mailbox,
    "shared": SharedMailbox,
    "distribution_list": DistributionList,
}


def load_org(folder: str | os.PathLike[str] | Traversable) -> OrgData:
    """The organisation described by the YAML files in ``folder``, checked for consistency."""
    root: Traversable = Path(folder) if isinstance(folder, str | os.PathLike) else folder
    if not root.joinpath("people.yaml").is_file():
        raise ConfigError(
            f"{root} has no people.yaml, so it is not an organisation folder. Point at a folder of org YAML "
            "files; the demo organisation is firstline/helpdesk/seed/org."
        )
    mailboxes = _rows(root, "mailboxes.yaml")
    for index, row in enumerate(mailboxes):
        if row.get("kind") not in _MAILBOX_KINDS:
            raise ConfigError(
                f"mailboxes.yaml[{index}]: `kind` is {row.get('kind')!r}; use one of: {', '.join(_MAILBOX_KINDS)}."
            )

    def boxes(kind: str, cls: type[R]) -> tuple[R, ...]:
        return tuple(
            from_record(
                cls, {k: v for k, v in row.items() if k != "kind"}, f"mailboxes.yaml[{i}] ({row.get('address')})"
            )
            for i, row in enumerate(mailboxes)
            if row["kind"] == kind
        )

    org = OrgData(
        people=_read(root, "people.yaml", Person, "id"),
        accounts=_read(root, "accounts.yaml", Account, "username"),
        devices=_read(root, "devices.yaml", Device, "id"),
        printers=_read(root, "printers.yaml", Printer, "name"),
        phones=_read(root, "phones.yaml", Phone, "extension"),
        mailboxes=boxes("user", Mailbox),
        shared_mailboxes=boxes("shared", SharedMailbox),
        distribution_lists=boxes("distribution_list", DistributionList),
        incidents=_read(root, "incidents.yaml", KnownIncident, "id"),
        sign_ins=_read(root, "signins.yaml", SignIn, "person"),
    )
    _check(org)
    return org


def _rows(root: Traversable, name: str) -> list[dict[str, Any]]:
    file = root.joinpath(name)
    if not file.is_file():
        return []
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as error:
        raise ConfigError(f"{name} in {root} is not valid YAML: {error}. Fix the file and load it again.") from None
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise ConfigError(f"{name} in {root} must be a list of mappings (one `- key: value` block per entry).")
    return data


def _read(root: Traversable, name: str, cls: type[R], label: str) -> tuple[R, ...]:
    return tuple(from_record(cls, row, f"{name}[{i}] ({row.get(label)})") for i, row in enumerate(_rows(root, name)))


def _unique(file: str, what: str, values: Iterable[str | None]) -> None:
    seen: set[str] = set()
    for value in values:
        if value is None:
            continue
        key = value.lower()
        if key in seen:
            raise ConfigError(f"{file}: {what} {value!r} appears twice; every {what} must be unique.")
        seen.add(key)


def _refs(
    file: str, what: str, pairs: Iterable[tuple[str, str | None]], known: Mapping[str, object] | set[str]
) -> None:
    for owner, ref in pairs:
        if ref is not None and ref not in known:
            raise ConfigError(
                f"{file} ({owner}): {what} {ref!r} does not exist. Use an id from the matching file, "
                "or add the missing entry there."
            )


def _enum(file: str, what: str, pairs: Iterable[tuple[str, str]], allowed: tuple[str, ...]) -> None:
    for owner, value in pairs:
        if value not in allowed:
            raise ConfigError(f"{file} ({owner}): {what} is {value!r}; use one of: {', '.join(allowed)}.")


def _check(org: OrgData) -> None:
    people = {p.id: p for p in org.people}
    _unique("people.yaml", "person id", (p.id for p in org.people))
    _unique("people.yaml", "email", (p.email for p in org.people))
    _refs("people.yaml", "manager", ((p.id, p.manager) for p in org.people), people)

    _unique("accounts.yaml", "username", [a.username for a in org.accounts] + [a.admin_account for a in org.accounts])
    _unique("accounts.yaml", "account person", (a.person for a in org.accounts))
    _refs("accounts.yaml", "person", ((a.username, a.person) for a in org.accounts), people)

    for what, attribute in (
        ("device id", "id"),
        ("hostname", "hostname"),
        ("serial", "serial"),
        ("asset tag", "asset_tag"),
    ):
        _unique("devices.yaml", what, (getattr(device, attribute) for device in org.devices))
    _refs("devices.yaml", "owner", ((d.id, d.owner) for d in org.devices), people)
    _enum("devices.yaml", "`status`", ((d.id, d.status) for d in org.devices), DEVICE_STATUSES)

    jobs = [(p.name, job) for p in org.printers for job in p.queue]
    _unique("printers.yaml", "printer id", (p.id for p in org.printers))
    _unique("printers.yaml", "printer name", (p.name for p in org.printers))
    _unique("printers.yaml", "print job id", (job.id for _, job in jobs))
    _refs("printers.yaml", "job owner", ((f"{name} {job.id}", job.owner) for name, job in jobs), people)

    extensions = {phone.extension for phone in org.phones}
    _unique("phones.yaml", "extension", (phone.extension for phone in org.phones))
    _refs("phones.yaml", "person", ((ph.extension, ph.person) for ph in org.phones), people)
    forwards = [(ph.extension, ph.call_forwarding) for ph in org.phones if ph.call_forwarding is not None]
    _enum("phones.yaml", "forwarding `mode`", ((ext, f.mode) for ext, f in forwards), FORWARDING_MODES)
    internal = ((ext, f.to) for ext, f in forwards if EXTENSION_PATTERN.fullmatch(f.to))
    _refs("phones.yaml", "forwarding target extension", internal, extensions)

    boxes: tuple[Mailbox | SharedMailbox | DistributionList, ...] = (
        *org.mailboxes,
        *org.shared_mailboxes,
        *org.distribution_lists,
    )
    _unique("mailboxes.yaml", "address", (box.address for box in boxes))
    _refs("mailboxes.yaml", "owner", ((m.address, m.owner) for m in org.mailboxes), people)
    shared = ((m.address, ref) for m in org.shared_mailboxes for ref in (*m.owners, *m.members, *m.send_as))
    _refs("mailboxes.yaml", "person", shared, people)
    lists = ((d.address, ref) for d in org.distribution_lists for ref in (*d.owners, *d.members, *d.allowed_senders))
    _refs("mailboxes.yaml", "person", lists, people)

    _refs("signins.yaml", "person", ((f"{s.at:%Y-%m-%d %H:%M}", s.person) for s in org.sign_ins), people)
    hostnames = {d.hostname for d in org.devices}
    devices = ((f"{s.person} {s.at:%Y-%m-%d %H:%M}", s.device) for s in org.sign_ins if s.device)
    _refs("signins.yaml", "device hostname", devices, hostnames)

    printer_ids = {p.id for p in org.printers}
    _unique("incidents.yaml", "incident id", (i.id for i in org.incidents))
    _refs("incidents.yaml", "printer", ((i.id, p) for i in org.incidents for p in i.related_printers), printer_ids)
    _refs("incidents.yaml", "extension", ((i.id, e) for i in org.incidents for e in i.related_extensions), extensions)
