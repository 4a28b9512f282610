"""RoutedDirectory: accounts, devices, mail and the rest from four stores, against the whole contract."""

from __future__ import annotations

from dataclasses import replace

import pytest

from firstline.directory import DirectoryCheck, InMemoryDirectory
from firstline.directory.routed import RoutedDirectory
from firstline.errors import PersonNotFoundError
from firstline.testing.directory import DirectoryContract, demo_org


def four() -> RoutedDirectory:
    return RoutedDirectory(*(InMemoryDirectory(demo_org()) for _ in range(4)))


class TestRoutedDirectory(DirectoryContract):
    @pytest.fixture
    def directory(self) -> RoutedDirectory:
        return four()


def test_each_call_reaches_the_store_that_owns_it() -> None:
    routed = four()
    assert isinstance(routed.accounts, InMemoryDirectory) and isinstance(routed.devices, InMemoryDirectory)
    routed.unlock_account("r.chen")
    routed.sync_device("NW-L-0301")
    routed.set_automatic_replies("m.bell", "Away")
    routed.clear_print_queue("LON-F4-HP-02")
    assert not routed.accounts.account("r.chen").locked and routed.devices.account("r.chen").locked
    assert routed.devices.device("NW-L-0301").sync_requested_at is not None
    assert routed.accounts.device("NW-L-0301").sync_requested_at is None
    assert routed.mail.mailbox_of("m.bell") is not None and routed.mail.mailbox_of("m.bell").automatic_replies  # type: ignore[union-attr]
    assert routed.rest.printer("LON-F4-HP-02").queue == () and routed.mail.printer("LON-F4-HP-02").queue != ()


def test_a_person_is_resolved_once_by_the_accounts_store() -> None:
    accounts = InMemoryDirectory(demo_org())
    empty = InMemoryDirectory()  # knows nobody: it must be handed the Person, not a key to look up
    routed = RoutedDirectory(accounts, InMemoryDirectory(demo_org()), InMemoryDirectory(demo_org()), empty)
    assert routed.phone_of("r.chen") is None  # the empty store answers for the person it was given
    with pytest.raises(PersonNotFoundError):
        routed.devices_of("x.nobody")


def test_check_prefixes_each_backend_by_its_roles() -> None:
    class Checked(InMemoryDirectory):
        def check(self) -> list[DirectoryCheck]:
            return [DirectoryCheck("read users", False, "grant User.Read.All", ("Security",))]

    vendor, sql = Checked(demo_org()), InMemoryDirectory(demo_org())
    routed = RoutedDirectory(vendor, vendor, sql, sql)
    assert set(routed.backends()) == {"accounts+identity+devices", "mail+rest"}
    expected = DirectoryCheck("accounts+identity+devices: read users", False, "grant User.Read.All", ("Security",))
    assert routed.check() == [expected]


def test_mfa_sessions_and_the_log_come_from_the_identity_provider() -> None:
    """An AD account synchronised to Entra ID: passwords and lockouts in AD, MFA, sessions and sign-ins in Entra."""
    org = demo_org()
    ad = InMemoryDirectory(replace(org, sign_ins=(), accounts=tuple(replace(a, mfa_factors=()) for a in org.accounts)))
    entra = InMemoryDirectory(org)
    routed = RoutedDirectory(ad, ad, ad, ad, identity=entra)
    assert [f.type for f in routed.account("h.marsh").mfa_factors] == ["authenticator_app", "sms"]
    assert len(routed.sign_ins("d.ogunleye")) == 33 and ad.sign_ins("d.ogunleye") == []
    assert routed.reset_mfa("h.marsh").mfa_factors == () and entra.account("h.marsh").mfa_factors == ()
    assert routed.revoke_sessions("t.nowicki").sessions_revoked_at is not None
    assert ad.account("t.nowicki").sessions_revoked_at is None
    routed.unlock_account("r.chen")  # the lockout is AD's
    assert not ad.account("r.chen").locked and entra.account("r.chen").locked
    assert set(routed.backends()) == {"accounts+devices+mail+rest", "identity"}
