"""The in-memory directory against the conformance suite, plus the YAML loader and its error messages."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

import firstline.directory
from firstline.directory import InMemoryDirectory, OrgData, load_org
from firstline.errors import ConfigError, PersonNotFoundError
from firstline.testing.directory import DirectoryContract, demo_org, demo_org_folder


class TestInMemoryDirectory(DirectoryContract):
    @pytest.fixture
    def directory(self) -> InMemoryDirectory:
        return InMemoryDirectory(demo_org())


def test_the_public_names_resolve() -> None:
    names = firstline.directory.__all__
    assert len(names) == len(set(names))
    assert all(getattr(firstline.directory, name) is not None for name in names)


def test_load_org_reads_every_file_of_the_demo_organisation() -> None:
    org = demo_org()
    counts = [len(getattr(org, name)) for name in OrgData.__dataclass_fields__]
    assert counts == [72, 72, 111, 16, 70, 68, 8, 12, 4, 107]
    assert load_org(str(demo_org_folder())).people == org.people  # a plain path works too
    ruby = next(a for a in org.accounts if a.username == "r.chen")
    assert ruby.mfa_factors[0].registered is not None and ruby.mfa_factors[0].registered.year == 2022
    assert org.incidents[0].started == datetime(2026, 11, 27, 8, 30, tzinfo=UTC)


def test_the_lockout_threshold_and_the_clock_are_settings() -> None:
    frozen = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    directory = InMemoryDirectory(demo_org(), lockout_threshold=2, clock=lambda: frozen)
    assert not directory.record_failed_login("h.marsh").locked
    assert directory.record_failed_login("h.marsh").locked
    assert directory.remote_lock("NW-M-0101").lock_requested_at == frozen
    assert directory.reset_password("t.nowicki", "Correct-Horse-7").password_last_set == frozen.date()


def test_an_empty_directory_knows_nobody() -> None:
    with pytest.raises(PersonNotFoundError):
        InMemoryDirectory().person("p001")
    assert InMemoryDirectory().incidents() == [] and repr(InMemoryDirectory()) == "InMemoryDirectory(0 people)"


@pytest.fixture
def org_copy(tmp_path: Path) -> Path:
    """A writable copy of the demo organisation's YAML files."""
    folder = tmp_path / "org"
    folder.mkdir()
    for name in ("people", "accounts", "devices", "printers", "phones", "mailboxes", "incidents"):
        shutil.copy(Path(str(demo_org_folder())) / f"{name}.yaml", folder / f"{name}.yaml")
    return folder


def edit(folder: Path, file: str, index: int, changes: dict[str, object]) -> None:
    """Change fields of entry ``index`` of ``file``.yaml (a value of ``...`` removes the field)."""
    rows = yaml.safe_load((folder / f"{file}.yaml").read_text())
    for field, value in changes.items():
        if value is ...:
            del rows[index][field]
        else:
            rows[index][field] = value
    (folder / f"{file}.yaml").write_text(yaml.safe_dump(rows))


@pytest.mark.parametrize(
    ("name", "index", "changes", "message"),
    [
        ("people", 1, {"manager": "p999"}, r"people\.yaml \(p002\): manager 'p999' does not exist"),
        ("people", 1, {"email": "Helena.Marsh@nwmeridian.co.uk"}, "'Helena.Marsh@nwmeridian.co.uk' appears twice"),
        ("people", 0, {"vip": "yes"}, r"people\.yaml\[0\] \(p001\): `vip` must be true or false, got 'yes'"),
        ("people", 0, {"name": ...}, "the field `name` is missing"),
        ("people", 0, {"nickname": "Hel"}, "unknown field 'nickname'"),
        ("accounts", 0, {"username": "p.raman"}, "username 'p.raman' appears twice"),
        ("accounts", 0, {"password_last_set": "last week"}, "must be a date like 2026-11-28, got 'last week'"),
        ("accounts", 0, {"failed_attempts": "3"}, "`failed_attempts` must be a number"),
        ("devices", 0, {"status": "misplaced"}, "`status` is 'misplaced'; use one of: in_use"),
        ("devices", 0, {"last_check_in": "2026-11-28T08:38:00"}, "must be a UTC time with its zone"),
        ("phones", 0, {"extension": 4100}, "must be text, got 4100 .int.; quote it"),
        ("phones", 0, {"call_forwarding": {"to": "4999", "mode": "busy"}}, "forwarding target extension '4999'"),
        ("printers", 6, {"queue": [{"id": "PC-1", "owner": "p999", "document": "x", "pages": 1,
                                     "submitted": "2026-11-27T08:00:00Z", "status": "stuck"}]}, "job owner 'p999'"),
        ("mailboxes", 0, {"kind": "public_folder"}, "`kind` is 'public_folder'"),
        ("incidents", 0, {"related_printers": ["pr99"]}, "printer 'pr99' does not exist"),
    ],
)  # fmt: skip
def test_load_org_names_the_file_entry_and_fix(
    org_copy: Path, name: str, index: int, changes: dict[str, object], message: str
) -> None:
    edit(org_copy, name, index, changes)
    with pytest.raises(ConfigError, match=message):
        load_org(org_copy)


def test_load_org_without_people_or_with_broken_yaml(org_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"has no people\.yaml"):
        load_org(tmp_path / "nowhere")
    (org_copy / "phones.yaml").write_text("- extension: '4100'\n  person: [p001\n")
    with pytest.raises(ConfigError, match=r"phones\.yaml .* is not valid YAML"):
        load_org(org_copy)
    (org_copy / "phones.yaml").write_text("extension: '4100'\n")
    with pytest.raises(ConfigError, match="must be a list of mappings"):
        load_org(org_copy)
    (org_copy / "phones.yaml").write_text("[]\n")
    (org_copy / "incidents.yaml").unlink()  # every file but people.yaml is optional
    assert (load_org(org_copy).phones, load_org(org_copy).incidents) == ((), ())
