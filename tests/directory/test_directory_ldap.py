"""LdapDirectory against a real OpenLDAP server with the ppolicy overlay: lockouts from real failed
binds, unlocks, password changes and resets, plus the account part of the conformance suite.

One throw-away slapd per test session: its cn=config is written with ``slapadd`` into a temporary
folder, it listens on a free port on 127.0.0.1, and it is stopped through its pid file at the end.
The test password policy locks after 3 failures (``pwdMaxFailure: 3``). Each test gets its own
people OU, seeded from the demo organisation. Without ``slapd`` the tests skip, except in CI (``CI``
set), where they fail. Set ``SLAPD_MODULE_PATH`` / ``SLAPD_SCHEMA_PATH`` for non-Debian layouts.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from firstline.directory import InMemoryDirectory
from firstline.directory.ldap import LdapDirectory  # imports ldap3 quietly: import it before using ldap3 here
from firstline.errors import BackendUnavailableError, ConfigError, DirectoryError, PersonNotFoundError
from firstline.testing.directory import ACCOUNT_PEOPLE, AccountContract, demo_org
from firstline.testing.live import cannot_start, free_port
from firstline.testing.slapd import START_TIMEOUT_S, answers, binds, connect, find_folder, find_program, stop

pytestmark = pytest.mark.live

BASE_DN = "dc=firstline,dc=test"
ADMIN_DN = f"cn=admin,{BASE_DN}"
ADMIN_PASSWORD = "admin-secret"
PASSWORD = "Demo-Pass-1"  # every seeded person's password
MAX_FAILURE = 3


def config_ldif(root: Path, modules: Path, schemas: Path) -> str:
    includes = "\n".join(
        f"include: file://{schemas / name}.ldif" for name in ("core", "cosine", "inetorgperson", "nis")
    )
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {root / "slapd.pid"}

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {modules}
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{includes}

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE_DN}
olcRootDN: {ADMIN_DN}
olcRootPW: {ADMIN_PASSWORD}
olcDbDirectory: {root / "data"}
olcDbMaxSize: 104857600
olcDbNoSync: TRUE
olcAccess: to attrs=userPassword by self write by anonymous auth by * none
olcAccess: to * by * read

dn: olcOverlay={{0}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{0}}ppolicy
olcPPolicyDefault: cn=default,ou=policies,{BASE_DN}
olcPPolicyUseLockout: TRUE
olcPPolicyHashCleartext: TRUE
"""


@dataclass(frozen=True)
class Slapd:
    url: str
    start_seconds: float  # from launching slapd to its first answer

    def admin(self) -> Any:
        connection = connect(self.url, ADMIN_DN, ADMIN_PASSWORD)
        assert connection.bind(), connection.result
        return connection

    def attribute(self, dn: str, name: str) -> list[str]:
        admin = self.admin()
        try:
            admin.search(dn, "(objectClass=*)", search_scope="BASE", attributes=[name])
            return [str(value) for value in admin.response[0]["attributes"][name]]
        finally:
            admin.unbind()


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    server, slapadd = find_program("slapd"), find_program("slapadd")
    if server is None or slapadd is None:
        cannot_start("OpenLDAP is not installed (no slapd/slapadd): apt-get install slapd ldap-utils")
    modules = find_folder("SLAPD_MODULE_PATH", "/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap")
    schemas = find_folder("SLAPD_SCHEMA_PATH", "/etc/ldap/schema", "/etc/openldap/schema")
    if modules is None or schemas is None:
        cannot_start(
            "slapd is installed but its modules or schema folder was not found: set SLAPD_MODULE_PATH/SCHEMA_PATH"
        )
    root = tmp_path_factory.mktemp("slapd")
    (root / "slapd.d").mkdir()
    (root / "data").mkdir()
    (root / "config.ldif").write_text(config_ldif(root, modules, schemas))
    done = subprocess.run(
        [slapadd, "-n", "0", "-F", str(root / "slapd.d"), "-l", str(root / "config.ldif")],
        capture_output=True, text=True, timeout=START_TIMEOUT_S,
    )  # fmt: skip
    if done.returncode != 0:
        cannot_start(f"slapadd could not write the test configuration: {done.stderr.strip()}")
    url = f"ldap://127.0.0.1:{free_port()}"
    started = time.perf_counter()
    done = subprocess.run([server, "-h", f"{url}/", "-F", str(root / "slapd.d")], capture_output=True, text=True)
    if done.returncode != 0:
        cannot_start(f"slapd did not start: {done.stderr.strip()[-2000:]}")
    try:
        while not answers(url):
            if time.perf_counter() - started > START_TIMEOUT_S:
                cannot_start(f"slapd did not answer on {url} within {START_TIMEOUT_S} s")
            time.sleep(0.02)
        instance = Slapd(url, time.perf_counter() - started)
        _add_base_entries(instance)
        yield instance
    finally:
        stop(root / "slapd.pid")


def _add_base_entries(slapd: Slapd) -> None:
    admin = slapd.admin()
    entries: list[tuple[str, list[str], dict[str, Any]]] = [
        (BASE_DN, ["dcObject", "organization"], {"o": "Firstline Test", "dc": "firstline"}),
        (f"ou=policies,{BASE_DN}", ["organizationalUnit"], {"ou": "policies"}),
        (
            f"cn=default,ou=policies,{BASE_DN}",
            ["pwdPolicy", "device"],
            {"cn": "default", "pwdAttribute": "userPassword", "pwdLockout": "TRUE", "pwdMaxFailure": str(MAX_FAILURE),
             "pwdLockoutDuration": "0", "pwdFailureCountInterval": "0"},
        ),
    ]  # fmt: skip
    try:
        for dn, classes, attributes in entries:
            assert admin.add(dn, classes, attributes), admin.result
    finally:
        admin.unbind()


@pytest.fixture
def ldap(slapd: Slapd) -> Iterator[LdapDirectory]:
    """An LdapDirectory over a fresh people OU holding the contract's people, with the demo org for the rest."""
    directory = LdapDirectory(
        slapd.url,
        ADMIN_DN,
        ADMIN_PASSWORD,
        BASE_DN,
        f"ou=t{uuid.uuid4().hex[:10]}",
        others=InMemoryDirectory(demo_org()),
    )
    assert directory.seed(demo_org(), PASSWORD, people=ACCOUNT_PEOPLE) == len(ACCOUNT_PEOPLE)
    yield directory
    directory.close()


class TestLdapAccounts(AccountContract):
    lockout_threshold = MAX_FAILURE
    has_sign_in_log = False  # ppolicy keeps failure times, not where they came from
    keeps_sessions = False

    @pytest.fixture
    def directory(self, ldap: LdapDirectory) -> LdapDirectory:
        return ldap


def dn_of(directory: LdapDirectory, username: str) -> str:
    return f"uid={username},{directory.people_base}"


def test_slapd_started_quickly(slapd: Slapd) -> None:
    assert slapd.start_seconds < 5, f"slapd took {slapd.start_seconds:.2f} s to answer"


def test_real_failed_binds_lock_the_account_and_firstline_unlocks_it(ldap: LdapDirectory) -> None:
    dn = dn_of(ldap, "h.marsh")
    assert binds(ldap.url, dn, PASSWORD)
    for _ in range(MAX_FAILURE):
        assert not binds(ldap.url, dn, "wrong password")
    assert not binds(ldap.url, dn, PASSWORD)  # locked: even the right password fails now
    account = ldap.account("h.marsh")
    assert (account.locked, account.failed_attempts, account.enabled) == (True, MAX_FAILURE, True)
    unlocked = ldap.unlock_account("h.marsh")
    assert (unlocked.locked, unlocked.failed_attempts) == (False, 0)
    assert binds(ldap.url, dn, PASSWORD)


def test_seeded_lockouts_are_real_lockouts(ldap: LdapDirectory) -> None:
    assert not binds(ldap.url, dn_of(ldap, "r.chen"), PASSWORD)  # seeded locked
    ldap.unlock_account("r.chen")
    assert binds(ldap.url, dn_of(ldap, "r.chen"), PASSWORD)
    assert not binds(ldap.url, dn_of(ldap, "a.khalil"), PASSWORD)  # disabled, and stays so
    assert ldap.seed(demo_org(), PASSWORD, people=ACCOUNT_PEOPLE) == 0  # seeding again adds nothing


def test_reset_password_through_firstline(ldap: LdapDirectory) -> None:
    dn = dn_of(ldap, "t.nowicki")
    account = ldap.reset_password("t.nowicki", "Brand-New-Pass-2")
    assert binds(ldap.url, dn, "Brand-New-Pass-2") and not binds(ldap.url, dn, PASSWORD)
    assert account.password_last_set is not None and not account.password_reset_pending


def test_set_password_reset_required_sets_pwd_reset(ldap: LdapDirectory, slapd: Slapd) -> None:
    assert slapd.attribute(dn_of(ldap, "h.marsh"), "pwdReset") == []
    assert ldap.set_password_reset_required("h.marsh").password_reset_pending
    assert slapd.attribute(dn_of(ldap, "h.marsh"), "pwdReset") == ["TRUE"]


def test_unknown_uid_is_person_not_found(ldap: LdapDirectory) -> None:
    with pytest.raises(PersonNotFoundError, match=r"'nobody'.*find_people"):
        ldap.account("nobody")


def test_groups_come_from_group_entries(ldap: LdapDirectory, slapd: Slapd) -> None:
    admin = slapd.admin()
    group = f"cn=VPN-Users-{uuid.uuid4().hex[:6]},{BASE_DN}"
    assert admin.add(group, ["groupOfNames"], {"member": [dn_of(ldap, "r.chen")]}), admin.result
    admin.unbind()
    assert ldap.account("r.chen").groups == (group.split(",")[0][3:],)
    assert ldap.account("h.marsh").groups == ()


def test_everything_but_accounts_comes_from_the_other_directory(ldap: LdapDirectory, slapd: Slapd) -> None:
    assert [d.hostname for d in ldap.devices_of("r.chen")] == ["NW-L-0301", "NW-M-0119"]
    joined = ldap.add_to_distribution_list("social-club-leeds@nwmeridian.co.uk", "ruby.chen@nwmeridian.co.uk")
    assert "p019" in joined.members and ldap.printer("LON-F4-HP-02").name == "LON-F4-HP-02"
    with pytest.raises(DirectoryError, match="MFA methods are not kept in LDAP"):
        ldap.reset_mfa("r.chen")
    alone = LdapDirectory(slapd.url, ADMIN_DN, ADMIN_PASSWORD, BASE_DN, ldap.people_ou)
    assert alone.person("r.chen").id == "p019"
    with pytest.raises(ConfigError, match=r"directory\.database_url"):
        alone.devices_of("r.chen")


def test_configuration_mistakes_name_the_setting(slapd: Slapd) -> None:
    with pytest.raises(ConfigError, match=r"directory\.ldap_bind_dn"):
        LdapDirectory(slapd.url, ADMIN_DN, "wrong", BASE_DN).person("r.chen")
    with pytest.raises(ConfigError, match=r"directory\.ldap_base_dn"):
        LdapDirectory(slapd.url, ADMIN_DN, ADMIN_PASSWORD, "dc=elsewhere,dc=test").person("r.chen")
    with pytest.raises(ConfigError, match=r"`directory\.ldap_url` must look like ldap://host:389"):
        LdapDirectory("http://127.0.0.1:389", ADMIN_DN, ADMIN_PASSWORD, BASE_DN)


def test_unreachable_server_names_the_url_and_the_setting() -> None:
    url = f"ldap://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnavailableError) as caught:
        LdapDirectory(url, ADMIN_DN, ADMIN_PASSWORD, BASE_DN, timeout_s=2).account("r.chen")
    assert caught.value.url == url and caught.value.setting == "directory.ldap_url"
    assert url in str(caught.value) and "FIRSTLINE_DIRECTORY__LDAP_URL" in str(caught.value)
