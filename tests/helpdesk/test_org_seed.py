"""Consistency checks for the fictional Northwind Meridian organisation in firstline.helpdesk.seed.org.

The data is a snapshot taken on 2026-11-28 at 09:00 UTC. These tests pin the invariants described in the
folder's README.md: every cross-reference resolves, identifiers are unique, derived flags agree with the
facts they derive from, and the data holds enough of each helpdesk situation to make demos interesting.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import ipaddress
import re
from collections import Counter
from importlib.resources.abc import Traversable
from typing import Any

import pytest
import yaml

SNAPSHOT_DATE = dt.date(2026, 11, 28)
SNAPSHOT_TIME = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
PASSWORD_MAX_AGE_DAYS = 90
DOMAIN = "@nwmeridian.co.uk"

YAML_FILES = (
    "people.yaml",
    "accounts.yaml",
    "devices.yaml",
    "printers.yaml",
    "phones.yaml",
    "mailboxes.yaml",
    "incidents.yaml",
    "signins.yaml",
)
REQUIRED_DEPARTMENTS = {"Finance", "Sales", "Engineering", "HR", "Legal", "Operations", "Marketing", "IT"}
LOCATIONS = {"london": range(1, 6), "leeds": range(1, 4), "remote": None}
EMPLOYMENT = {"active", "leaver", "new_starter"}
MFA_TYPES = {"authenticator_app", "sms", "fido2_key", "phone_call"}
DEVICE_KINDS = {"laptop": "L", "desktop": "D", "mobile": "M", "tablet": "T"}
DEVICE_STATUS = {"in_use", "lost", "stolen", "in_repair", "spare", "retired"}
COMPLIANCE = {"compliant", "noncompliant", "unknown"}
PRINTER_STATUS = {"online", "offline", "error"}
JOB_STATUS = {"printing", "held", "error", "stuck"}
TONER_COLOURS = {"black", "cyan", "magenta", "yellow"}
PHONE_MODELS = {"Cisco 8845", "Cisco 8865"}
PHONE_STATUS = {"registered", "unregistered", "no_service"}
FORWARD_MODES = {"always", "busy", "no_answer"}
MAILBOX_KINDS = {"user", "shared", "distribution_list"}
INCIDENT_STATUS = {"investigating", "identified", "monitoring"}
ASSIGNMENT_GROUPS = {
    "Service Desk",
    "End User Computing",
    "Network Operations",
    "Messaging",
    "Security Operations",
    "Telephony",
    "Print Services",
    "Identity & Access Management",
}

PERSON_ID_RE = re.compile(r"p\d{3}")
USERNAME_RE = re.compile(r"(adm-)?[a-z]\.[a-z]+")
EXTENSION_RE = re.compile(r"\d{4}")
MOBILE_RE = re.compile(r"07700 900\d{3}")
UK_NUMBER_RE = re.compile(r"(0\d{3,4} ?\d{3} ?\d{3,4}|\+44 \d{4} \d{6}|07\d{3} \d{6})")
MAC_RE = re.compile(r"([0-9A-F]{2}:){5}[0-9A-F]{2}")
PRINTER_NAME_RE = re.compile(r"(?P<site>LON|LDS)-F(?P<floor>\d)-(?P<vendor>HP|LX)-\d{2}")
GROUP_RE = re.compile(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*")
INCIDENT_ID_RE = re.compile(r"INC\d{7}")

Row = dict[str, Any]


# --------------------------------------------------------------------------- loading


def _org_dir() -> Traversable:
    return importlib.resources.files("firstline") / "helpdesk" / "seed" / "org"


@functools.cache
def _load(name: str) -> tuple[Row, ...]:
    data = yaml.safe_load((_org_dir() / name).read_text(encoding="utf-8"))
    assert isinstance(data, list), f"{name}: top level must be a list"
    for i, row in enumerate(data):
        assert isinstance(row, dict), f"{name}[{i}]: entries must be mappings"
    return tuple(data)


def _people() -> tuple[Row, ...]:
    return _load("people.yaml")


def _by_id() -> dict[str, Row]:
    return {p["id"]: p for p in _people()}


def _current_ids() -> set[str]:
    return {p["id"] for p in _people() if p["employment"] != "leaver"}


def _leaver_ids() -> set[str]:
    return {p["id"] for p in _people() if p["employment"] == "leaver"}


def _mailboxes(kind: str) -> list[Row]:
    return [m for m in _load("mailboxes.yaml") if m["kind"] == kind]


def _is_date(value: object) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _is_aware_datetime(value: object) -> bool:
    return isinstance(value, dt.datetime) and value.tzinfo is not None


def _duplicates(values: list[Any]) -> list[Any]:
    return [v for v, n in Counter(values).items() if n > 1]


# --------------------------------------------------------------------------- files


def test_folder_holds_the_yaml_files_and_readme() -> None:
    names = {entry.name for entry in _org_dir().iterdir() if entry.is_file()}
    for name in (*YAML_FILES, "README.md"):
        assert name in names, f"missing {name}"
    stray = {n for n in names if not n.startswith(".") and n not in {*YAML_FILES, "README.md"}}
    assert not stray, f"unexpected files in the org folder: {sorted(stray)}"


@pytest.mark.parametrize("name", YAML_FILES)
def test_yaml_is_a_non_empty_list_of_mappings(name: str) -> None:
    assert _load(name), f"{name} is empty"


def test_readme_says_the_data_is_fictional_and_hooks_resolve() -> None:
    text = (_org_dir() / "README.md").read_text(encoding="utf-8")
    assert "fictional" in text.lower()
    people = _by_id()
    mentioned = set(PERSON_ID_RE.findall(text))
    assert len(mentioned) >= 15, "README should name at least 15 people in its scenario hooks"
    assert mentioned <= people.keys(), f"README mentions unknown people: {sorted(mentioned - people.keys())}"
    for name in YAML_FILES:
        assert name in text, f"README does not describe {name}"


# --------------------------------------------------------------------------- people


def test_people_fields_and_uniqueness() -> None:
    people = _people()
    assert len(people) >= 64
    ids = [p["id"] for p in people]
    assert not _duplicates(ids), f"duplicate person ids {_duplicates(ids)}"
    emails = [p["email"] for p in people]
    assert not _duplicates(emails), f"duplicate emails {_duplicates(emails)}"
    mobiles = [p["phone_mobile"] for p in people]
    assert not _duplicates(mobiles), f"duplicate mobile numbers {_duplicates(mobiles)}"
    for p in people:
        pid = p["id"]
        assert PERSON_ID_RE.fullmatch(pid), f"bad person id {pid!r}"
        assert isinstance(p["name"], str) and " " in p["name"], f"{pid}: name"
        assert p["email"] == p["email"].lower() and p["email"].endswith(DOMAIN), f"{pid}: email {p['email']!r}"
        assert isinstance(p["department"], str) and p["department"], f"{pid}: department"
        assert isinstance(p["title"], str) and p["title"], f"{pid}: title"
        assert p["location"] in LOCATIONS, f"{pid}: location {p['location']!r}"
        floors = LOCATIONS[p["location"]]
        if floors is None:
            assert p["floor"] is None, f"{pid}: remote workers have no floor"
        else:
            assert isinstance(p["floor"], int) and p["floor"] in floors, f"{pid}: floor {p['floor']!r}"
        assert isinstance(p["phone_mobile"], str) and MOBILE_RE.fullmatch(p["phone_mobile"]), f"{pid}: mobile"
        assert isinstance(p["vip"], bool), f"{pid}: vip must be a bool"
        assert p["employment"] in EMPLOYMENT, f"{pid}: employment {p['employment']!r}"
        assert _is_date(p["start_date"]), f"{pid}: start_date must be an ISO date"


def test_departments() -> None:
    departments = {p["department"] for p in _people()}
    assert len(departments) >= 8
    assert departments >= REQUIRED_DEPARTMENTS, f"missing departments {REQUIRED_DEPARTMENTS - departments}"


def test_employment_mix_and_dates() -> None:
    counts = Counter(p["employment"] for p in _people())
    assert counts["leaver"] >= 2 and counts["new_starter"] >= 2 and counts["active"] >= 50, counts
    for p in _people():
        if p["employment"] == "leaver":
            assert _is_date(p.get("leaving_date")), f"{p['id']}: leavers need a leaving_date"
            leaving: dt.date = p["leaving_date"]
            assert p["start_date"] < leaving <= SNAPSHOT_DATE, f"{p['id']}: leaving_date out of range"
        else:
            assert "leaving_date" not in p, f"{p['id']}: only leavers have a leaving_date"
            if p["employment"] == "active":
                assert p["start_date"] <= SNAPSHOT_DATE, f"{p['id']}: active staff have already started"
        if p["employment"] == "new_starter":
            assert p["start_date"] >= SNAPSHOT_DATE - dt.timedelta(days=30), f"{p['id']}: not a recent starter"


def test_manager_tree() -> None:
    people = _by_id()
    roots = [pid for pid, p in people.items() if p["manager"] is None]
    assert len(roots) == 1, f"exactly one person may lack a manager, found {roots}"
    ceo = people[roots[0]]
    assert "Chief Executive" in ceo["title"] and ceo["vip"] and ceo["employment"] == "active"
    for pid, p in people.items():
        seen = {pid}
        cursor = p
        while cursor["manager"] is not None:
            manager = cursor["manager"]
            assert manager in people, f"{pid}: manager {manager!r} does not exist"
            assert manager not in seen, f"{pid}: manager chain has a cycle through {manager}"
            seen.add(manager)
            cursor = people[manager]
        assert cursor["id"] == ceo["id"], f"{pid}: manager chain does not reach the CEO"
    leavers = _leaver_ids()
    for pid, p in people.items():
        if p["employment"] != "leaver" and p["manager"] is not None:
            assert p["manager"] not in leavers, f"{pid}: current staff must report to current staff"
    managers = {p["manager"] for p in people.values()}
    assert not managers & leavers, f"leavers still have direct reports: {sorted(managers & leavers)}"
    assert len(managers - {None}) >= 15, "expect directors and managers below the CEO"


def test_vips() -> None:
    vips = [p for p in _people() if p["vip"]]
    assert 3 <= len(vips) <= 8
    titles = " ".join(p["title"] for p in vips)
    assert "Chief Executive Officer" in titles and "Chief Financial Officer" in titles


# --------------------------------------------------------------------------- accounts


def test_one_account_per_person_with_unique_usernames() -> None:
    accounts = _load("accounts.yaml")
    persons = [a["person"] for a in accounts]
    assert not _duplicates(persons), f"several accounts for {_duplicates(persons)}"
    assert set(persons) == set(_by_id()), "every person needs exactly one account"
    names = [a["username"] for a in accounts] + [a["admin_account"] for a in accounts if "admin_account" in a]
    assert not _duplicates(names), f"duplicate usernames {_duplicates(names)}"
    for a in accounts:
        assert USERNAME_RE.fullmatch(a["username"]) and not a["username"].startswith("adm-"), a["username"]
        if "admin_account" in a:
            assert a["admin_account"].startswith("adm-") and USERNAME_RE.fullmatch(a["admin_account"])


def test_account_flags() -> None:
    people = _by_id()
    for a in _load("accounts.yaml"):
        pid = a["person"]
        for flag in ("enabled", "locked", "password_expired"):
            assert isinstance(a[flag], bool), f"{pid}: {flag} must be a bool"
        assert isinstance(a["failed_attempts"], int) and a["failed_attempts"] >= 0, f"{pid}: failed_attempts"
        if a["locked"]:
            assert a["failed_attempts"] >= 10, f"{pid}: lockout needs 10 bad attempts"
            assert a["enabled"], f"{pid}: a disabled account is not 'locked'"
        else:
            assert a["failed_attempts"] < 10, f"{pid}: 10+ bad attempts but not locked"
        if people[pid]["employment"] == "leaver":
            assert a["enabled"] is False, f"{pid}: leaver account must be disabled"
            assert a["mfa_factors"] == [] and a["groups"] == [], f"{pid}: leavers keep no MFA methods or groups"
        elif not a["enabled"]:
            assert a.get("notes"), f"{pid}: a disabled current employee needs a note saying why"


def test_password_expiry_rule() -> None:
    for a in _load("accounts.yaml"):
        last_set = a["password_last_set"]
        assert _is_date(last_set) and last_set <= SNAPSHOT_DATE, f"{a['person']}: password_last_set"
        expected = (SNAPSHOT_DATE - last_set).days > PASSWORD_MAX_AGE_DAYS
        assert a["password_expired"] is expected, f"{a['person']}: password_expired should be {expected}"
    expired = [a for a in _load("accounts.yaml") if a["password_expired"] and a["enabled"]]
    assert len(expired) >= 3


def test_mfa_factors() -> None:
    people = _by_id()
    for a in _load("accounts.yaml"):
        assert isinstance(a["mfa_factors"], list)
        for factor in a["mfa_factors"]:
            assert factor["type"] in MFA_TYPES, f"{a['person']}: MFA type {factor['type']!r}"
            assert _is_date(factor["registered"]) and factor["registered"] <= SNAPSHOT_DATE
            assert isinstance(factor["device"], str) and factor["device"]
        person = people[a["person"]]
        if person["employment"] == "active":
            assert a["mfa_factors"], f"{a['person']}: active staff must have MFA registered"
    fido = [a for a in _load("accounts.yaml") if any(f["type"] == "fido2_key" for f in a["mfa_factors"])]
    assert all("FIDO2-Required" in a["groups"] for a in fido)


def test_account_groups() -> None:
    people = _by_id()
    all_groups: Counter[str] = Counter()
    for a in _load("accounts.yaml"):
        groups = a["groups"]
        assert isinstance(groups, list) and not _duplicates(groups), f"{a['person']}: groups"
        for g in groups:
            assert isinstance(g, str) and GROUP_RE.fullmatch(g), f"{a['person']}: group name {g!r}"
        all_groups.update(groups)
        person = people[a["person"]]
        if person["employment"] == "leaver":
            continue
        dept_group = "Dept-" + person["department"].replace(" ", "-")
        assert dept_group in groups, f"{a['person']}: missing {dept_group}"
        site_group = {"london": "All-London", "leeds": "All-Leeds", "remote": "All-Remote"}[person["location"]]
        assert site_group in groups, f"{a['person']}: missing {site_group}"
        assert sum(g.startswith("LIC-M365-") for g in groups) == 1, f"{a['person']}: one M365 licence group"
        assert ("VIP-Executives" in groups) is person["vip"], f"{a['person']}: VIP group disagrees with HR flag"
    for g in ("VPN-Users", "Finance-Share-RW", "All-London", "All-Leeds", "All-Remote"):
        assert all_groups[g] > 0, f"nobody is in {g}"


# --------------------------------------------------------------------------- devices


def test_device_fields_and_uniqueness() -> None:
    devices = _load("devices.yaml")
    assert len(devices) >= 70
    for key in ("id", "serial", "hostname"):
        values = [d[key] for d in devices]
        assert not _duplicates(values), f"duplicate device {key}s {_duplicates(values)}"
    tags = [d["asset_tag"] for d in devices if d["asset_tag"] is not None]
    assert not _duplicates(tags), f"duplicate asset tags {_duplicates(tags)}"
    people = _by_id()
    for d in devices:
        did = d["id"]
        assert d["kind"] in DEVICE_KINDS, f"{did}: kind"
        assert d["status"] in DEVICE_STATUS, f"{did}: status"
        assert d["compliance"] in COMPLIANCE, f"{did}: compliance"
        assert d["ownership"] in {"corporate", "personal"}, f"{did}: ownership"
        assert d["owner"] is None or d["owner"] in people, f"{did}: owner {d['owner']!r} does not exist"
        if d["status"] in {"spare", "retired"}:
            assert d["owner"] is None, f"{did}: spare and retired devices have no owner"
        if d["status"] in {"in_use", "lost", "stolen"}:
            assert d["owner"] is not None, f"{did}: {d['status']} devices need an owner"
        for key in ("model", "serial", "hostname", "os", "os_version"):
            assert isinstance(d[key], str) and d[key], f"{did}: {key}"
        if d["ownership"] == "corporate":
            letter = DEVICE_KINDS[d["kind"]]
            match = re.fullmatch(rf"NW-{letter}-(\d{{4}})", d["hostname"])
            assert match, f"{did}: hostname {d['hostname']!r} does not follow NW-{letter}-0000"
            assert d["asset_tag"] == f"NWM-{letter}-0{match.group(1)}", f"{did}: asset tag disagrees with hostname"
        else:
            assert d["asset_tag"] is None, f"{did}: personal devices carry no asset tag"
        assert _is_aware_datetime(d["last_check_in"]) and d["last_check_in"] <= SNAPSHOT_TIME, f"{did}: last_check_in"


def test_device_compliance_rules() -> None:
    for d in _load("devices.yaml"):
        did, issues = d["id"], d["compliance_issues"]
        assert isinstance(issues, list) and all(isinstance(i, str) and i for i in issues), f"{did}: issues"
        assert isinstance(d["mdm_enrolled"], bool) and isinstance(d["encrypted"], bool), f"{did}: flags"
        if d["compliance"] == "noncompliant":
            assert issues, f"{did}: non-compliant devices must say why"
        else:
            assert not issues, f"{did}: only non-compliant devices list issues"
        if not d["mdm_enrolled"]:
            assert d["compliance"] == "unknown", f"{did}: unenrolled devices have unknown compliance"
        if d["kind"] in {"laptop", "desktop"} and d["mdm_enrolled"] and not d["encrypted"]:
            assert d["compliance"] == "noncompliant", f"{did}: unencrypted computers cannot be compliant"


def test_device_disks() -> None:
    for d in _load("devices.yaml"):
        total, free = d["disk_total_gb"], d["disk_free_gb"]
        assert isinstance(total, int) and total > 0, f"{d['id']}: disk_total_gb"
        assert isinstance(free, (int, float)) and 0 <= free <= total, f"{d['id']}: disk_free_gb {free} of {total}"
    nearly_full = [d for d in _load("devices.yaml") if d["disk_free_gb"] < 0.1 * d["disk_total_gb"]]
    assert len(nearly_full) >= 2


def test_every_current_employee_has_a_laptop() -> None:
    owners = {d["owner"] for d in _load("devices.yaml") if d["kind"] == "laptop" and d["status"] != "retired"}
    missing = _current_ids() - owners
    assert not missing, f"no laptop for {sorted(missing)}"


def test_device_counts() -> None:
    devices = _load("devices.yaml")
    assert sum(d["compliance"] == "noncompliant" for d in devices) >= 5
    assert sum(d["status"] in {"lost", "stolen"} for d in devices) >= 2
    kinds = Counter(d["kind"] for d in devices)
    assert all(kinds[k] > 0 for k in DEVICE_KINDS), kinds


# --------------------------------------------------------------------------- printers


def test_printers() -> None:
    printers = _load("printers.yaml")
    assert len(printers) >= 12
    for key in ("id", "name", "ip"):
        values = [p[key] for p in printers]
        assert not _duplicates(values), f"duplicate printer {key}s {_duplicates(values)}"
    for p in printers:
        name = p["name"]
        match = PRINTER_NAME_RE.fullmatch(name)
        assert match, f"bad printer name {name!r}"
        assert p["location"] == {"LON": "london", "LDS": "leeds"}[match.group("site")], f"{name}: location"
        assert p["floor"] == int(match.group("floor")), f"{name}: floor"
        floors = LOCATIONS[p["location"]]
        assert floors is not None and p["floor"] in floors, f"{name}: floor out of range"
        assert ("HP" in p["model"]) == (match.group("vendor") == "HP"), f"{name}: model disagrees with name"
        ip = ipaddress.IPv4Address(p["ip"])
        assert ip in ipaddress.IPv4Network("10.0.0.0/8"), f"{name}: ip must be in 10.0.0.0/8"
        assert p["status"] in PRINTER_STATUS, f"{name}: status"
        if p["status"] == "error":
            assert isinstance(p["error"], str) and p["error"], f"{name}: error status needs an error text"
        if p["status"] == "online":
            assert p["error"] is None, f"{name}: online printers have no error"
        assert isinstance(p["followme"], bool), f"{name}: followme"


def test_printer_toner() -> None:
    for p in _load("printers.yaml"):
        toner = p["toner"]
        assert isinstance(toner, dict) and "black" in toner, f"{p['name']}: toner needs black"
        assert set(toner) <= TONER_COLOURS, f"{p['name']}: toner colours {sorted(toner)}"
        expected = {"black"} if p["name"].split("-")[2] == "HP" else TONER_COLOURS
        assert set(toner) == expected, f"{p['name']}: mono HP has black only, colour Lexmark has CMYK"
        for colour, percent in toner.items():
            assert isinstance(percent, int) and 0 <= percent <= 100, f"{p['name']}: {colour} toner {percent!r}"
    assert any(0 in p["toner"].values() for p in _load("printers.yaml")), "one printer should be out of toner"


def test_print_queues() -> None:
    people = _by_id()
    current = _current_ids()
    job_ids: list[str] = []
    for p in _load("printers.yaml"):
        assert isinstance(p["queue"], list), f"{p['name']}: queue"
        for job in p["queue"]:
            job_ids.append(job["id"])
            assert job["owner"] in people, f"{p['name']}: job owner {job['owner']!r} does not exist"
            assert job["owner"] in current, f"{p['name']}: job owned by a leaver"
            assert isinstance(job["document"], str) and job["document"]
            assert isinstance(job["pages"], int) and job["pages"] > 0
            assert _is_aware_datetime(job["submitted"]) and job["submitted"] <= SNAPSHOT_TIME
            assert job["status"] in JOB_STATUS, f"{p['name']}: job status {job['status']!r}"
    assert not _duplicates(job_ids), f"duplicate job ids {_duplicates(job_ids)}"
    stuck = [p for p in _load("printers.yaml") if any(j["status"] == "stuck" for j in p["queue"])]
    assert len(stuck) >= 2


# --------------------------------------------------------------------------- phones


def test_phones() -> None:
    phones = _load("phones.yaml")
    assert len(phones) >= 50
    people = _by_id()
    extensions = [p["extension"] for p in phones]
    assert not _duplicates(extensions), f"duplicate extensions {_duplicates(extensions)}"
    macs = [p["mac"] for p in phones if p["mac"] is not None]
    assert not _duplicates(macs), f"duplicate MAC addresses {_duplicates(macs)}"
    dials = [p["direct_dial"] for p in phones]
    assert not _duplicates(dials), f"duplicate direct dials {_duplicates(dials)}"
    for p in phones:
        ext = p["extension"]
        assert isinstance(ext, str) and EXTENSION_RE.fullmatch(ext), f"extension {ext!r} must be 4 digits"
        site_prefix = {"4": "020 7946 0", "6": "0113 496 0"}
        assert ext[0] in site_prefix and p["direct_dial"] == site_prefix[ext[0]] + ext[1:], f"{ext}: direct_dial"
        assert p["person"] in people, f"{ext}: person {p['person']!r} does not exist"
        assert p["status"] in PHONE_STATUS, f"{ext}: status"
        for flag in ("voicemail_pin_set", "voicemail_locked", "softphone"):
            assert isinstance(p[flag], bool), f"{ext}: {flag}"
        if p["voicemail_locked"]:
            assert p["voicemail_pin_set"], f"{ext}: only a set PIN can lock"
        if p["model"] is None:
            assert p["mac"] is None and p["softphone"], f"{ext}: no desk phone means softphone only"
            assert people[p["person"]]["location"] == "remote", f"{ext}: only remote staff go without a desk phone"
        else:
            assert p["model"] in PHONE_MODELS, f"{ext}: model {p['model']!r}"
            assert isinstance(p["mac"], str) and MAC_RE.fullmatch(p["mac"]), f"{ext}: mac"


def test_call_forwarding() -> None:
    phones = _load("phones.yaml")
    extensions = {p["extension"] for p in phones}
    forwarded = 0
    for p in phones:
        fwd = p["call_forwarding"]
        if fwd is None:
            continue
        forwarded += 1
        assert set(fwd) == {"to", "mode"} and fwd["mode"] in FORWARD_MODES, f"{p['extension']}: forwarding {fwd}"
        target = fwd["to"]
        assert isinstance(target, str) and target != p["extension"], f"{p['extension']}: forwarding target"
        if EXTENSION_RE.fullmatch(target):
            assert target in extensions, f"{p['extension']}: forwards to unknown extension {target}"
        else:
            assert UK_NUMBER_RE.fullmatch(target), f"{p['extension']}: {target!r} is not a UK number"
    assert forwarded >= 3


def test_every_current_employee_has_an_extension() -> None:
    people = _by_id()
    by_person = Counter(p["person"] for p in _load("phones.yaml"))
    assert not [pid for pid, n in by_person.items() if n > 1], "one extension per person"
    for pid in _current_ids():
        assert by_person[pid] == 1, f"{pid}: no extension"
    desk = {p["person"] for p in _load("phones.yaml") if p["model"] is not None}
    for pid in _current_ids():
        if people[pid]["location"] != "remote":
            assert pid in desk, f"{pid}: office-based staff need a desk phone"
    assert sum(p["voicemail_locked"] for p in _load("phones.yaml")) >= 1
    assert sum(p["status"] != "registered" for p in _load("phones.yaml")) >= 2


# --------------------------------------------------------------------------- mailboxes


def test_mailbox_addresses() -> None:
    rows = _load("mailboxes.yaml")
    for m in rows:
        assert m["kind"] in MAILBOX_KINDS, f"bad mailbox kind {m['kind']!r}"
        assert m["address"] == m["address"].lower() and m["address"].endswith(DOMAIN), m["address"]
    addresses = [m["address"] for m in rows]
    assert not _duplicates(addresses), f"duplicate addresses {_duplicates(addresses)}"


def test_user_mailboxes() -> None:
    people = _by_id()
    users = _mailboxes("user")
    owners = [m["owner"] for m in users]
    assert not _duplicates(owners), f"several user mailboxes for {_duplicates(owners)}"
    assert set(owners) == _current_ids(), "every current employee (and nobody else) has a user mailbox"
    for m in users:
        assert m["address"] == people[m["owner"]]["email"], f"{m['owner']}: mailbox address differs from email"
        assert m["quota_gb"] == 50, f"{m['address']}: quota is 50 GB"
        assert isinstance(m["archive_enabled"], bool)
    for m in [*users, *_mailboxes("shared")]:
        assert isinstance(m["used_gb"], (int, float)) and 0 <= m["used_gb"] <= m["quota_gb"], m["address"]
    assert sum(m["used_gb"] >= 45 for m in users) >= 3
    assert any(m["used_gb"] == 49.8 for m in users), "one mailbox sits at 49.8 GB"


def test_shared_mailboxes() -> None:
    people = _by_id()
    shared = _mailboxes("shared")
    assert len(shared) >= 5
    for m in shared:
        assert m["owners"], f"{m['address']}: needs an owner"
        for key in ("owners", "members", "send_as"):
            for pid in m[key]:
                assert pid in people, f"{m['address']}: {key} has unknown person {pid!r}"
        assert set(m["send_as"]) <= set(m["members"]) | set(m["owners"]), f"{m['address']}: send_as outsiders"
    user_addresses = {m["address"] for m in _mailboxes("user")}
    for m in shared:
        assert m["address"] not in user_addresses


def test_distribution_lists() -> None:
    people = _by_id()
    current = _current_ids()
    lists = _mailboxes("distribution_list")
    assert len(lists) >= 8
    for dl in lists:
        addr = dl["address"]
        assert isinstance(dl["name"], str) and dl["name"], addr
        assert dl["owners"], f"{addr}: a DL needs an owner to approve joins"
        for key in ("owners", "members", "allowed_senders"):
            for pid in dl[key]:
                assert pid in people, f"{addr}: {key} has unknown person {pid!r}"
        assert not _duplicates(dl["members"]), f"{addr}: duplicate members"
        assert set(dl["members"]) <= current, f"{addr}: leavers still members"
        for flag in ("restricted", "dynamic", "open_join"):
            assert isinstance(dl[flag], bool), f"{addr}: {flag}"
        if dl["restricted"]:
            assert dl["allowed_senders"], f"{addr}: restricted lists name their allowed senders"
        if dl["dynamic"]:
            rule = dl["rule"]
            assert isinstance(rule, dict) and set(rule) <= {"location", "department"}, f"{addr}: rule"
            expected = {pid for pid in current if all(people[pid][k] == v for k, v in rule.items())}
            assert set(dl["members"]) == expected, f"{addr}: dynamic members disagree with HR data"
        else:
            assert "rule" not in dl, f"{addr}: static lists have no rule"
    assert any(set(dl["owners"]) & _leaver_ids() for dl in lists), "one DL should be owned by a leaver"


# --------------------------------------------------------------------------- incidents


def test_incidents() -> None:
    incidents = _load("incidents.yaml")
    assert len(incidents) >= 2
    ids = [i["id"] for i in incidents]
    assert not _duplicates(ids)
    printers = {p["id"] for p in _load("printers.yaml")}
    printer_names = {p["name"] for p in _load("printers.yaml")}
    extensions = {p["extension"] for p in _load("phones.yaml")}
    for inc in incidents:
        iid = inc["id"]
        assert INCIDENT_ID_RE.fullmatch(iid), f"bad incident id {iid!r}"
        for key in ("title", "description", "workaround"):
            assert isinstance(inc[key], str) and inc[key].strip(), f"{iid}: {key}"
        assert isinstance(inc["affected"], list) and inc["affected"], f"{iid}: affected"
        assert inc["status"] in INCIDENT_STATUS, f"{iid}: status"
        assert inc["assignment_group"] in ASSIGNMENT_GROUPS, f"{iid}: assignment group"
        assert inc["priority"] in {"P1", "P2", "P3", "P4"}, f"{iid}: priority"
        assert _is_aware_datetime(inc["started"]) and inc["started"] <= SNAPSHOT_TIME, f"{iid}: started"
        assert _is_aware_datetime(inc["update_eta"]) and inc["update_eta"] > SNAPSHOT_TIME, f"{iid}: update_eta"
        assert set(inc.get("related_printers", [])) <= printers, f"{iid}: unknown printer"
        assert set(inc.get("related_extensions", [])) <= extensions, f"{iid}: unknown extension"
        for item in inc["affected"]:
            if PRINTER_NAME_RE.fullmatch(item):
                assert item in printer_names, f"{iid}: affected printer {item} does not exist"


# --------------------------------------------------------------------------- scenario coverage


def test_scenario_counts() -> None:
    accounts = _load("accounts.yaml")
    assert sum(a["locked"] for a in accounts) >= 3
    people = _by_id()
    vip_lost = [
        d
        for d in _load("devices.yaml")
        if d["status"] in {"lost", "stolen"} and d["owner"] is not None and people[d["owner"]]["vip"]
    ]
    assert vip_lost, "a VIP should have a lost or stolen device"
    shared_leaver_owned = [m for m in _mailboxes("shared") if set(m["owners"]) & _leaver_ids()]
    assert shared_leaver_owned, "a shared mailbox should be owned by a leaver"
