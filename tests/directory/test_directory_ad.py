"""AdDirectory, in two layers.

1. Against a throw-away slapd loaded with a test slice of the Active Directory schema
   (``ad_schema/ad.ldif``, Microsoft's OIDs): real user objects, real group membership (``memberOf`` derived by
   slapd's memberof overlay, as AD derives the back link), real binds, real access control. It runs the
   account part of the conformance suite; where slapd cannot behave like AD (it does not count
   ``badPwdCount``, lock on failed binds, reset the count on unlock, or set ``pwdLastSet`` after a password
   change) the subclass overrides those tests with honest versions that say why. The ppolicy overlay is loaded
   without lockout only as a witness: its ``pwdFailureTime`` proves that a failed bind reached the server.
   slapd also listens on ldaps:// with a self-signed certificate (made with ``openssl``), for the one password
   write it can take end to end. Without ``slapd`` these tests skip, except in CI (``CI`` set), where they fail.
2. Recorded operations where slapd cannot stand in for AD: ldap3's MOCK_SYNC strategy behind a recording
   connection, holding user objects shaped as AD returns them, asserts the exact LDAP operations AdDirectory
   sends (unlock, required reset, admin-set password over LDAPS only), that a disabled account is never
   written, how AD's constructed attributes are read, and the error for insufficientAccessRights.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from firstline.directory import InMemoryDirectory
from firstline.directory import ad as ad_module  # imports ldap3 quietly: import it before using ldap3 here
from firstline.directory.ad import AdDirectory
from firstline.directory.ad_entries import filetime
from firstline.directory.backend import CheckableDirectory, DirectoryBackend
from firstline.errors import (
    AccountDisabledError,
    BackendResponseError,
    BackendUnavailableError,
    ConfigError,
    DirectoryError,
    InputError,
    PermissionDeniedError,
    PersonNotFoundError,
)
from firstline.testing.ad_slapd import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    BASE_DN,
    HELPDESK_DN,
    HELPDESK_PASSWORD,
    PASSWORD,
    Slapd,
    binds,
)
from firstline.testing.ad_slapd import ad_slapd as start_ad_slapd
from firstline.testing.directory import ACCOUNT_PEOPLE, AccountContract, demo_org
from firstline.testing.live import cannot_start, free_port

MODIFY_REPLACE = ad_module.MODIFY_REPLACE  # ldap3's constant, imported quietly by the AD module


@pytest.fixture(scope="session")
def ad_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    yield from start_ad_slapd(tmp_path_factory)


def slapd_directory(slapd: Slapd, users_ou: str, **options: Any) -> AdDirectory:
    """An AdDirectory bound as the rootDN over ``users_ou``, with the demo org for everything else."""
    return AdDirectory(
        slapd.url, ADMIN_DN, ADMIN_PASSWORD, BASE_DN, users_ou, others=InMemoryDirectory(demo_org()), **options
    )


@pytest.fixture
def ad(ad_slapd: Slapd) -> Iterator[AdDirectory]:
    """An AdDirectory over a fresh users OU holding the contract's people, with the demo org for the rest."""
    directory = slapd_directory(ad_slapd, f"OU=t{uuid.uuid4().hex[:10]}")
    assert directory.seed(demo_org(), PASSWORD, people=ACCOUNT_PEOPLE) == len(ACCOUNT_PEOPLE)
    yield directory
    directory.close()


@pytest.mark.live
class TestAdAccounts(AccountContract):
    has_sign_in_log = False  # AD keeps no sign-in log that LDAP can read
    keeps_sessions = False  # sessions live in Entra ID or Okta

    @pytest.fixture
    def directory(self, ad: AdDirectory) -> AdDirectory:
        return ad

    def test_locked_account_is_unlocked(self, directory: DirectoryBackend, ad_slapd: Slapd) -> None:
        """AD resets ``badPwdCount`` itself when ``lockoutTime`` becomes 0 ([MS-SAMR] 3.1.1.8.3); slapd keeps it.
        So the unlock (``lockoutTime`` replaced with 0) is checked on the server, the count AdDirectory reads
        back is the server's, and the test then writes the 0 AD would have written and reads it through."""
        assert isinstance(directory, AdDirectory)
        before = directory.account("r.chen")
        assert before.locked and before.enabled and before.failed_attempts >= self.lockout_threshold
        unlocked = directory.unlock_account("r.chen")
        dn = ad_slapd.dn("r.chen", directory.users_base)
        assert (unlocked.locked, unlocked.enabled) == (False, True)
        assert ad_slapd.attribute(dn, "lockoutTime") == ["0"]
        assert unlocked.failed_attempts == before.failed_attempts  # slapd kept it; AD would not have
        ad_slapd.replace(dn, badPwdCount=0)  # AD's own part of the unlock
        assert directory.account("r.chen") == replace(unlocked, failed_attempts=0)
        assert directory.unlock_account("r.chen") == replace(unlocked, failed_attempts=0)  # twice is harmless
        assert directory.account("s.obrien").locked  # nobody else changed

    def test_failed_logins_lock_at_the_policy_maximum(self, directory: DirectoryBackend, ad_slapd: Slapd) -> None:
        """AD counts a failed bind in ``badPwdCount`` and locks at the domain's lockoutThreshold by setting
        ``lockoutTime``; slapd refuses the bind but keeps neither. So: each call must make a real bind that the
        server refuses (the ppolicy witness records its ``pwdFailureTime``) and return the account as the
        server holds it; then the test writes the lockout AD would and AdDirectory must read it as one."""
        assert isinstance(directory, AdDirectory)
        dn = ad_slapd.dn("h.marsh", directory.users_base)
        before = directory.account("h.marsh")
        assert before.failed_attempts == 0 and not before.locked
        for attempt in range(1, self.lockout_threshold + 1):
            assert directory.record_failed_login("h.marsh") == before  # slapd counts nothing in badPwdCount
            assert len(ad_slapd.attribute(dn, "pwdFailureTime")) == attempt  # but the wrong bind reached it
        ad_slapd.replace(dn, badPwdCount=self.lockout_threshold, lockoutTime=filetime(datetime.now(UTC)))
        locked = directory.account("h.marsh")
        assert (locked.failed_attempts, locked.locked) == (self.lockout_threshold, True)
        assert not directory.unlock_account("h.marsh").locked
        assert binds(directory.url, dn, PASSWORD)  # the seeded password is still the password

    def test_password_reset_required_then_a_new_password(self, directory: DirectoryBackend, ad_slapd: Slapd) -> None:
        """AdDirectory sets a password only with ``allow_admin_set_password`` and over ``ldaps://`` (AD takes
        ``unicodePwd`` only encrypted), and it is AD that then sets ``pwdLastSet``; this slapd speaks plain
        ldap://. So: the must-change flag is real on the server, a new password is refused with the reason,
        and the ``unicodePwd`` write is checked over ldaps:// by test_admin_set_password_over_real_ldaps and on
        recorded operations by test_admin_set_password_sends_quoted_utf16le_over_ldaps_only."""
        assert isinstance(directory, AdDirectory)
        required = directory.set_password_reset_required("t.nowicki")
        assert required.password_reset_pending and required.password_last_set is None
        assert directory.account("t.nowicki") == required
        assert ad_slapd.attribute(ad_slapd.dn("t.nowicki", directory.users_base), "pwdLastSet") == ["0"]
        with pytest.raises(DirectoryError, match="reset link"):
            directory.reset_password("t.nowicki", "Correct-Horse-7")
        allowed = slapd_directory(ad_slapd, directory.users_ou, allow_admin_set_password=True)
        with pytest.raises(ConfigError, match=r"ldaps://.*allow_admin_set_password"):
            allowed.reset_password("t.nowicki", "Correct-Horse-7")
        assert directory.account("t.nowicki") == required


@pytest.mark.live
@pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning")  # ldap3 2.9.1's host name check
def test_admin_set_password_over_real_ldaps(ad: AdDirectory, ad_slapd: Slapd) -> None:
    """Over ldaps://, with the server's certificate verified, the replace of unicodePwd reaches the server as the
    quoted UTF-16-LE value. (AD would then set pwdLastSet itself; slapd does not, so that is not asserted.)"""
    if ad_slapd.ldaps_url is None:
        cannot_start("openssl is not installed, so the test slapd has no certificate for ldaps://")
    secure = AdDirectory(
        ad_slapd.ldaps_url, ADMIN_DN, ADMIN_PASSWORD, BASE_DN, ad.users_ou,
        allow_admin_set_password=True, ca_file=ad_slapd.ca_file,
    )  # fmt: skip
    assert secure.reset_password("t.nowicki", "Brand-New-Pass-2").username == "t.nowicki"
    admin = ad_slapd.admin()
    admin.search(ad_slapd.dn("t.nowicki", ad.users_base), "(objectClass=*)", "BASE", attributes=["unicodePwd"])
    assert admin.response[0]["raw_attributes"]["unicodePwd"] == ['"Brand-New-Pass-2"'.encode("utf-16-le")]
    admin.unbind()
    untrusted = AdDirectory(ad_slapd.ldaps_url, ADMIN_DN, ADMIN_PASSWORD, BASE_DN, ad.users_ou)
    with pytest.raises(BackendUnavailableError, match=r"certificate verify failed.*directory\.ad\.url"):
        untrusted.person("r.chen")  # the system CAs do not vouch for the test certificate


@pytest.mark.live
def test_seeded_objects_read_like_ad(ad: AdDirectory, ad_slapd: Slapd) -> None:
    ruby = ad.account("r.chen")
    assert set(ruby.groups) == set(next(a for a in demo_org().accounts if a.person == "p019").groups)
    assert ad_slapd.attribute(ad_slapd.dn("r.chen", ad.users_base), "userAccountControl") == ["512"]
    assert not ad.account("a.khalil").enabled  # userAccountControl 514: ACCOUNTDISABLE
    assert (ruby.service, ruby.privileged, ruby.admin_account) == (False, False, None)
    assert ad.person("r.chen@firstline.test") == ad.person("p019") == ad.person("RUBY.CHEN@nwmeridian.co.uk")
    assert ad.seed(demo_org(), PASSWORD, people=ACCOUNT_PEOPLE) == 0  # seeding again adds nothing


@pytest.mark.live
def test_groups_and_privilege_come_from_group_entries(ad: AdDirectory, ad_slapd: Slapd) -> None:
    admin = ad_slapd.admin()
    group = f"CN=Domain Admins,{ad.users_base}"
    member = ad_slapd.dn("r.chen", ad.users_base)
    assert admin.add(group, ["top", "group"], {"groupType": -2147483646, "member": [member]}), admin.result
    admin.unbind()
    ruby = ad.account("r.chen")  # memberOf derived by the server from the group's member values
    assert "Domain Admins" in ruby.groups and ruby.privileged
    assert not ad.account("h.marsh").privileged


@pytest.mark.live
def test_managers_and_admin_accounts(ad_slapd: Slapd) -> None:
    directory = slapd_directory(ad_slapd, f"OU=t{uuid.uuid4().hex[:10]}")
    assert directory.seed(demo_org(), PASSWORD, people=("p004", "p009", "p018", "p019")) == 5
    assert directory.person("r.chen").manager == "p018"  # the manager DN, read back as an employeeID
    assert directory.person("adm-r.kulkarni") == directory.person("p009")
    rajesh = directory.account("p009")
    assert (rajesh.username, rajesh.admin_account, rajesh.privileged) == ("r.kulkarni", "adm-r.kulkarni", False)
    assert [p.id for p in directory.find_people("kulkarni")] == ["p009"]
    for change in (directory.unlock_account, directory.record_failed_login, directory.set_password_reset_required):
        with pytest.raises(InputError, match="admin account"):
            change("adm-r.kulkarni")
    assert directory.account("p009") == rajesh


@pytest.mark.live
def test_missing_delegation_names_the_permission(ad: AdDirectory, ad_slapd: Slapd) -> None:
    helpdesk = AdDirectory(ad_slapd.url, HELPDESK_DN, HELPDESK_PASSWORD, BASE_DN, ad.users_ou)
    assert not helpdesk.unlock_account("r.chen").locked  # lockoutTime is delegated to it
    with pytest.raises(PermissionDeniedError) as caught:
        helpdesk.set_password_reset_required("t.nowicki")  # pwdLastSet is not
    assert "'Read/write pwdLastSet'" in str(caught.value) and ad.users_base in str(caught.value)
    assert not ad.account("t.nowicki").password_reset_pending


@pytest.mark.live
def test_check_on_a_server_that_is_not_ad(ad: AdDirectory) -> None:
    checks = {check.name.split(":")[0]: check for check in ad.check()}
    assert checks["Bind to Active Directory"].ok and checks[f"Read user objects under {ad.users_base}"].ok
    unlock = checks["Unlock accounts"]
    assert not unlock.ok and "may not be Active Directory" in unlock.detail and "'Write lockoutTime'" in unlock.detail


@pytest.mark.live
def test_everything_but_accounts_comes_from_the_other_directory(ad: AdDirectory, ad_slapd: Slapd) -> None:
    assert [d.hostname for d in ad.devices_of("r.chen")] == ["NW-L-0301", "NW-M-0119"]
    joined = ad.add_to_distribution_list("social-club-leeds@nwmeridian.co.uk", "ruby.chen@nwmeridian.co.uk")
    assert "p019" in joined.members and ad.printer("LON-F4-HP-02").name == "LON-F4-HP-02"
    assert ad.sign_ins("r.chen") == []
    with pytest.raises(PersonNotFoundError):
        ad.sign_ins("x.nobody")
    with pytest.raises(DirectoryError, match="MFA methods are not kept in Active Directory"):
        ad.reset_mfa("r.chen")
    alone = AdDirectory(ad_slapd.url, ADMIN_DN, ADMIN_PASSWORD, BASE_DN, ad.users_ou)
    assert alone.person("r.chen").id == "p019"
    with pytest.raises(ConfigError, match=r"directory\.database_url"):
        alone.devices_of("r.chen")


@pytest.mark.live
def test_configuration_mistakes_name_the_setting(ad: AdDirectory, ad_slapd: Slapd) -> None:
    with pytest.raises(ConfigError, match=r"invalidCredentials.*directory\.ad\.bind_dn.*FIRSTLINE_DIRECTORY__AD__"):
        AdDirectory(ad_slapd.url, ADMIN_DN, "wrong", BASE_DN).person("r.chen")
    with pytest.raises(ConfigError, match=r"directory\.ad\.base_dn"):
        AdDirectory(ad_slapd.url, ADMIN_DN, ADMIN_PASSWORD, "dc=elsewhere,dc=test").person("r.chen")
    failed = AdDirectory(ad_slapd.url, ADMIN_DN, "wrong", BASE_DN).check()
    assert [(c.name, c.ok) for c in failed] == [("Bind to Active Directory", False)]
    assert "directory.ad.bind_dn" in failed[0].detail


def test_unreachable_domain_controller_names_the_url_and_the_setting() -> None:
    url = f"ldap://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnavailableError) as caught:
        AdDirectory(url, ADMIN_DN, ADMIN_PASSWORD, BASE_DN, timeout_s=2).account("r.chen")
    assert caught.value.url == url and caught.value.setting == "directory.ad.url"
    assert "FIRSTLINE_DIRECTORY__AD__URL" in str(caught.value)
    with pytest.raises(ConfigError, match=r"`directory\.ad\.url` must look like ldaps://"):
        AdDirectory("https://dc1.corp.test", ADMIN_DN, ADMIN_PASSWORD, BASE_DN)


# --- layer 2: recorded operations against AD-shaped objects (ldap3 MOCK_SYNC)

AD_BASE = "DC=corp,DC=test"
STAFF = f"OU=Staff,{AD_BASE}"
SERVICE_OU = "OU=Service Accounts,OU=Staff"
SVC_DN = f"CN=svc-firstline,OU=Delegated,{AD_BASE}"
SVC_PASSWORD = "svc-secret"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# What AD answers when the bound account lacks the right (a recorded insufficientAccessRights result).
INSUFFICIENT = {
    "result": 50,
    "description": "insufficientAccessRights",
    "message": "00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0\n",
    "dn": "",
    "referrals": None,
    "type": "modifyResponse",
}


def user_object(name: str, username: str, employee: str, ou: str = STAFF, **changes: Any) -> tuple[str, dict]:
    """A user object's DN and attributes as AD returns them: FILETIMEs and flags as decimal strings."""
    first, _, last = name.partition(" ")
    attributes: dict[str, Any] = {
        "objectClass": ["top", "person", "organizationalPerson", "user"],
        "cn": name, "sn": last, "givenName": first, "displayName": name,
        "sAMAccountName": username, "userPrincipalName": f"{username}@corp.test", "sAMAccountType": "805306368",
        "mail": f"{first.lower()}.{last.lower()}@corp.test", "employeeID": employee, "department": "Sales",
        "userAccountControl": "512", "badPwdCount": "0", "lockoutTime": "0",
        "pwdLastSet": str(filetime(NOW - timedelta(days=10))),
    }  # fmt: skip
    for key, value in changes.items():
        if value is None:
            attributes.pop(key, None)
        else:
            attributes[key] = value
    return f"CN={name},{ou}", attributes


MOCK_USERS = [
    user_object("Ruby Chen", "r.chen", "p019", badPwdCount="10", lockoutTime=str(filetime(NOW - timedelta(hours=1))),
                manager=f"CN=Dana Webb,{STAFF}", memberOf=[f"CN=VPN-Users,{STAFF}", f"CN=Dept-Sales,{STAFF}"]),
    user_object("Dana Webb", "d.webb", "p018"),
    user_object("Ahmed Khalil", "a.khalil", "p066", userAccountControl="514", badPwdCount="3",
                lockoutTime=str(filetime(NOW - timedelta(hours=2)))),
    user_object("Tomasz Nowicki", "t.nowicki", "p003", badPwdCount="2"),
    user_object("Rajesh Kulkarni", "r.kulkarni", "p009"),
    user_object("Rajesh Kulkarni (admin)", "adm-r.kulkarni", "p009", mail=None, adminCount="1",
                memberOf=[f"CN=Domain Admins,CN=Users,{AD_BASE}"]),
    user_object("Old Password", "o.password", "p101", pwdLastSet=str(filetime(NOW - timedelta(days=100)))),
    user_object("Never Expires", "n.expires", "p102", userAccountControl="66048",
                pwdLastSet=str(filetime(NOW - timedelta(days=400)))),
    user_object("Computed Flags", "c.flags", "p103", **{"msDS-User-Account-Control-Computed": str(0x10 | 0x800000)}),
    user_object("Sql Backup", "svc-sqlbackup", "p104", servicePrincipalName=["MSSQLSvc/sql1.corp.test:1433"]),
    user_object("Report Runner", "svc-reports", "p105", ou=f"{SERVICE_OU},{AD_BASE}"),
    user_object("Grace Period", "g.period", "p106", lockoutTime=str(filetime(NOW - timedelta(minutes=45)))),
]  # fmt: skip


@dataclass
class Recorder:
    """The LDAP operations AdDirectory sent, and the attributes whose modify AD should refuse (and how)."""

    operations: list[tuple[Any, ...]] = field(default_factory=list)
    refuse: dict[str, dict[str, Any]] = field(default_factory=dict)

    def writes(self) -> list[tuple[Any, ...]]:
        return [op for op in self.operations if op[0] == "modify"]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Every ldap3 connection AdDirectory opens is a MOCK_SYNC one that records binds and modifies."""
    from ldap3 import MOCK_SYNC

    recorded = Recorder()
    base = ad_module.Connection

    class RecordingConnection(base):  # type: ignore[misc, valid-type]
        def __init__(self, server: Any, user: str | None = None, password: str | None = None, **options: Any) -> None:
            options.pop("client_strategy", None)
            super().__init__(server, user=user, password=password, client_strategy=MOCK_SYNC, **options)

        def bind(self, *args: Any, **kwargs: Any) -> bool:
            recorded.operations.append(("bind", self.user, self.password))
            return bool(super().bind(*args, **kwargs))

        def modify(self, dn: str, changes: dict[str, Any], controls: Any = None) -> bool:
            recorded.operations.append(("modify", dn, changes))
            refused = next((recorded.refuse[name] for name in changes if name in recorded.refuse), None)
            if refused is not None:
                self.result = dict(refused)
                return False
            return bool(super().modify(dn, changes, controls))

    monkeypatch.setattr(ad_module, "Connection", RecordingConnection)
    return recorded


def mock_directory(
    url: str = "ldaps://dc1.corp.test:636",
    *,
    password: str = SVC_PASSWORD,
    extra: tuple[tuple[str, dict[str, Any]], ...] = (),
    effective: tuple[str, ...] = (),
    **options: Any,
) -> AdDirectory:
    """An AdDirectory over MOCK_USERS (and ``extra``), bound as a delegated service account, its clock at NOW;
    ``effective`` is the allowedAttributesEffective AD would compute on every user for that account."""
    from ldap3 import MOCK_SYNC, Connection

    settings: dict[str, Any] = {
        "users_ou": "OU=Staff",
        "max_password_age": timedelta(days=90),
        "service_ou": SERVICE_OU,
    }
    directory = AdDirectory(url, SVC_DN, password, AD_BASE, clock=lambda: NOW, **(settings | options))
    dit = Connection(directory.server, user=SVC_DN, password=SVC_PASSWORD, client_strategy=MOCK_SYNC)
    dit.strategy.add_entry(
        SVC_DN, {"objectClass": ["top", "person"], "cn": "svc-firstline", "userPassword": SVC_PASSWORD}
    )
    for dn, attributes in (*MOCK_USERS, *extra):
        dit.strategy.add_entry(dn, attributes | ({"allowedAttributesEffective": list(effective)} if effective else {}))
    return directory


def replaced(value: Any) -> list[tuple[str, list[Any]]]:
    """A modify's change list: replace the attribute with ``value``."""
    return [(MODIFY_REPLACE, [value])]


def test_is_a_checkable_directory_backend() -> None:
    directory = mock_directory()
    assert isinstance(directory, DirectoryBackend) and isinstance(directory, CheckableDirectory)


def test_unlock_replaces_lockout_time_with_zero_and_nothing_else(recorder: Recorder) -> None:
    directory = mock_directory()
    assert directory.account("r.chen").locked
    unlocked = directory.unlock_account("r.chen")
    assert recorder.writes() == [("modify", f"CN=Ruby Chen,{STAFF}", {"lockoutTime": replaced(0)})]
    assert not unlocked.locked
    assert [op[:2] for op in recorder.operations] == [("bind", SVC_DN), ("bind", SVC_DN), recorder.writes()[0][:2]]
    recorder.operations.clear()
    directory.unlock_account("t.nowicki")  # not locked, but 2 failures: the same write makes AD reset them
    assert recorder.writes() == [("modify", f"CN=Tomasz Nowicki,{STAFF}", {"lockoutTime": replaced(0)})]
    recorder.operations.clear()
    directory.unlock_account("d.webb")  # nothing to lift: nothing written
    assert recorder.writes() == []


def test_a_disabled_account_is_never_written(recorder: Recorder) -> None:
    directory = mock_directory(allow_admin_set_password=True)
    with pytest.raises(AccountDisabledError, match=r"disabled, not locked \(userAccountControl has ACCOUNTDISABLE"):
        directory.unlock_account("a.khalil")
    with pytest.raises(AccountDisabledError, match="ACCOUNTDISABLE"):
        directory.reset_password("a.khalil", "New-Pass-2026!")
    assert recorder.writes() == [] and not directory.account("a.khalil").enabled


def test_require_reset_replaces_pwd_last_set_with_zero(recorder: Recorder) -> None:
    directory = mock_directory()
    required = directory.set_password_reset_required("t.nowicki")
    assert recorder.writes() == [("modify", f"CN=Tomasz Nowicki,{STAFF}", {"pwdLastSet": replaced(0)})]
    assert required.password_reset_pending and required.password_last_set is None
    recorder.operations.clear()
    with pytest.raises(InputError, match="Password never expires"):
        directory.set_password_reset_required("n.expires")  # AD would ignore the flag
    assert recorder.writes() == []


def test_admin_set_password_sends_quoted_utf16le_over_ldaps_only(recorder: Recorder) -> None:
    with pytest.raises(DirectoryError, match=r"sends 't\.nowicki' a self-service password reset link"):
        mock_directory().reset_password("t.nowicki", "New-Pass-2026!")  # off by default
    with pytest.raises(ConfigError, match=r"ldaps://.*`directory\.ad\.allow_admin_set_password`"):
        mock_directory("ldap://dc1.corp.test:389", allow_admin_set_password=True).reset_password("t.nowicki", "x-Y-1")
    assert recorder.operations == []  # both refused before connecting
    directory = mock_directory(allow_admin_set_password=True)
    with pytest.raises(InputError, match="empty"):
        directory.reset_password("t.nowicki", " ")
    directory.reset_password("t.nowicki", "Naïve-1!")
    expected = b'"\x00N\x00a\x00\xef\x00v\x00e\x00-\x001\x00!\x00"\x00'  # quotes included, 2 bytes a character
    assert recorder.writes() == [("modify", f"CN=Tomasz Nowicki,{STAFF}", {"unicodePwd": replaced(expected)})]


def test_the_password_policy_refusal_is_an_input_error(recorder: Recorder) -> None:
    recorder.refuse["unicodePwd"] = INSUFFICIENT | {
        "result": 19, "description": "constraintViolation",
        "message": "0000052D: Constraint violation - check_password_restrictions: the password is too short",
    }  # fmt: skip
    with pytest.raises(InputError, match=r"too short.*password policy"):
        mock_directory(allow_admin_set_password=True).reset_password("t.nowicki", "short")


@pytest.mark.parametrize(
    ("attribute", "call", "permission"),
    [
        ("lockoutTime", lambda d: d.unlock_account("r.chen"), "Write lockoutTime"),
        ("pwdLastSet", lambda d: d.set_password_reset_required("t.nowicki"), "Read/write pwdLastSet"),
        ("unicodePwd", lambda d: d.reset_password("t.nowicki", "New-Pass-2026!"), "Reset password"),
    ],
)
def test_insufficient_access_names_the_delegated_permission(
    recorder: Recorder, attribute: str, call: Callable[[AdDirectory], object], permission: str
) -> None:
    recorder.refuse[attribute] = INSUFFICIENT
    with pytest.raises(PermissionDeniedError) as caught:
        call(mock_directory(allow_admin_set_password=True))
    message = str(caught.value)
    assert f"'{permission}' on descendant User objects of {STAFF}" in message
    assert SVC_DN in message and "INSUFF_ACCESS_RIGHTS" in message


def test_a_failed_login_is_a_real_bind_with_a_wrong_password(recorder: Recorder, monkeypatch: Any) -> None:
    directory = mock_directory()
    account = directory.record_failed_login("t.nowicki")
    attempts = [op for op in recorder.operations if op[0] == "bind" and op[1] != SVC_DN]
    assert [op[1] for op in attempts] == [f"CN=Tomasz Nowicki,{STAFF}"]
    assert attempts[0][2] not in (SVC_PASSWORD, PASSWORD) and len(attempts[0][2]) >= 24
    assert recorder.writes() == [] and account == directory.account("t.nowicki")  # AD counts it, not Firstline
    # A server that accepts the "wrong" password (here: the random one happens to be the user's) is a fault.
    monkeypatch.setattr(ad_module.secrets, "token_urlsafe", lambda size: "not-so-random")
    lax = mock_directory(extra=(user_object("Open Door", "o.door", "p109", userPassword="not-so-random"),))
    with pytest.raises(BackendResponseError, match="random password succeeded"):
        lax.record_failed_login("o.door")


def test_accounts_read_ad_attributes(recorder: Recorder) -> None:
    directory = mock_directory()
    ruby = directory.account("r.chen")
    assert (ruby.locked, ruby.failed_attempts, ruby.enabled) == (True, 10, True)
    assert ruby.groups == ("Dept-Sales", "VPN-Users") and ruby.password_last_set == (NOW - timedelta(days=10)).date()
    assert directory.person("r.chen").manager == "p018" and directory.person("p018").manager is None
    assert directory.person("ruby.chen@corp.test") == directory.person("R.CHEN@corp.test") == directory.person("p019")
    assert directory.account("o.password").password_expired  # pwdLastSet + 90 days < now
    never = directory.account("n.expires")
    assert not never.password_expired and not never.password_reset_pending  # DONT_EXPIRE_PASSWORD
    flags = directory.account("c.flags")  # AD's constructed attribute decides: locked and expired
    assert flags.locked and flags.password_expired and flags.failed_attempts == 0
    assert directory.account("svc-sqlbackup").service  # a servicePrincipalName
    assert directory.account("svc-reports").service and not directory.account("r.chen").service  # the service OU
    assert mock_directory(lockout_duration=timedelta(minutes=30)).account("g.period").locked is False
    assert mock_directory(lockout_duration=timedelta(hours=1)).account("g.period").locked
    assert directory.account("g.period").locked  # no duration: until an administrator unlocks
    with pytest.raises(PersonNotFoundError, match=r"'x\.nobody'"):
        directory.account("x.nobody")


def test_admin_accounts_are_found_but_never_changed(recorder: Recorder) -> None:
    directory = mock_directory()
    assert directory.person("adm-r.kulkarni") == directory.person("r.kulkarni")
    rajesh = directory.account("adm-r.kulkarni")
    assert (rajesh.username, rajesh.admin_account, rajesh.privileged) == ("r.kulkarni", "adm-r.kulkarni", False)
    for change in (directory.unlock_account, directory.record_failed_login, directory.set_password_reset_required):
        with pytest.raises(InputError, match="admin account"):
            change("adm-r.kulkarni")
    assert recorder.writes() == [] and [p.id for p in directory.find_people("rajesh")] == ["p009"]


def test_privileged_from_admin_count_or_a_protected_group(recorder: Recorder) -> None:
    extra = (
        user_object("Group Admin", "g.admin", "p107", memberOf=[f"CN=Enterprise Admins,CN=Users,{AD_BASE}"]),
        user_object("Count Admin", "c.admin", "p108", adminCount="1"),
    )
    directory, only_count = mock_directory(extra=extra), mock_directory(extra=extra, privileged_groups=())
    assert directory.account("g.admin").privileged and directory.account("c.admin").privileged
    assert not only_count.account("g.admin").privileged and only_count.account("c.admin").privileged
    assert not directory.account("d.webb").privileged


def test_check_reads_allowed_attributes_effective_without_writing(recorder: Recorder) -> None:
    directory = mock_directory(allow_admin_set_password=True, effective=("lockoutTime", "badPwdCount", "description"))
    checks = {c.name: c for c in directory.check()}
    assert recorder.writes() == [] and all(c.needed_by == ("Security",) for c in checks.values())
    assert checks["Bind to Active Directory"].ok and checks[f"Read user objects under {STAFF}"].ok
    assert checks["Unlock accounts: write lockoutTime"].ok
    missing = checks["Require a new password: write pwdLastSet"]
    assert (
        not missing.ok and f"Delegate 'Read/write pwdLastSet' on descendant User objects of {STAFF}" in missing.detail
    )
    assert checks["Set passwords from the reset-link flow: unicodePwd"].ok
    plain = {c.name: c for c in mock_directory("ldap://dc1.corp.test:389", allow_admin_set_password=True).check()}
    assert not plain["Set passwords from the reset-link flow: unicodePwd"].ok
    assert "ldaps://" in plain["Set passwords from the reset-link flow: unicodePwd"].detail
    nowhere = mock_directory(users_ou="OU=Nobody").check()
    assert [c.ok for c in nowhere] == [True, False] and "directory.ad.users_ou" in nowhere[1].detail


def test_no_sessions_mfa_or_sign_in_log_in_ad(recorder: Recorder) -> None:
    directory = mock_directory()
    with pytest.raises(DirectoryError, match="identity provider"):
        directory.revoke_sessions("r.chen")
    with pytest.raises(DirectoryError, match="MFA methods are not kept"):
        directory.reset_mfa("r.chen")
    assert directory.sign_ins("r.chen") == [] and recorder.writes() == []


def test_a_refused_service_bind_names_the_bind_dn_setting(recorder: Recorder) -> None:
    stale = mock_directory(password="stale")  # what a stale FIRSTLINE_DIRECTORY__AD__PASSWORD looks like
    with pytest.raises(ConfigError, match=r"refused the bind as .*svc-firstline.*`directory\.ad\.bind_dn`"):
        stale.person("r.chen")
    assert [c.ok for c in stale.check()] == [False]
