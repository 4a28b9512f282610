"""RoutedDirectory: accounts, devices, mail and the rest from four stores, against the whole contract."""

from __future__ import annotations

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
    assert set(routed.backends()) == {"accounts+sign_ins+devices", "mail+rest"}
    expected = DirectoryCheck("accounts+sign_ins+devices: read users", False, "grant User.Read.All", ("Security",))
    assert routed.check() == [expected]
