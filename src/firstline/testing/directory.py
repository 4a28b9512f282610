"""The conformance suite every :class:`~firstline.directory.DirectoryBackend` must pass.

Subclass :class:`DirectoryContract` in a ``Test*`` class and override the ``directory`` fixture so it
returns (or yields, then closes) a fresh backend holding the demo organisation, :func:`demo_org`::

    class TestInMemoryDirectory(DirectoryContract):
        @pytest.fixture
        def directory(self) -> DirectoryBackend:
            return InMemoryDirectory(demo_org())

The tests use the scenario hooks of the demo organisation's README (Ruby Chen locked out, the
CEO's lost iPhone, the stuck board pack on LON-F4-HP-02, ...). A backend that only holds people and
accounts (LDAP) subclasses :class:`AccountContract` instead, seeds at least :data:`ACCOUNT_PEOPLE`,
and sets ``lockout_threshold`` to its server's policy. Backends that must not be called from
several threads set ``thread_safe = False``; persistent ones override
:meth:`DirectoryContract.open_again` so the suite can check that changes survive a restart.
"""

from __future__ import annotations

import functools
import importlib.resources
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib.resources.abc import Traversable
from typing import TypeVar

import pytest

from firstline.directory import (
    DEVICE_STATUSES,
    LOCKOUT_THRESHOLD,
    CallForwarding,
    Device,
    DirectoryBackend,
    OrgData,
    SharedMailbox,
    load_org,
)
from firstline.directory.backend import ReportsDirectory
from firstline.directory.signins import assess, moved_sign_ins
from firstline.errors import (
    AccountDisabledError,
    DirectoryEntryNotFoundError,
    DirectoryError,
    InputError,
    PersonNotFoundError,
)

__all__ = ["ACCOUNT_PEOPLE", "AccountContract", "DirectoryContract", "demo_org", "demo_org_folder", "run_concurrently"]

# The people AccountContract uses: h.marsh (no failures), t.nowicki (3 failures), r.chen (locked),
# s.obrien (locked, password expired) and a.khalil (disabled by Security Operations).
ACCOUNT_PEOPLE = ("p001", "p003", "p019", "p045", "p066")
T = TypeVar("T")


def demo_org_folder() -> Traversable:
    """The demo organisation shipped in the package (``firstline/helpdesk/seed/org``), read as plain files."""
    return importlib.resources.files("firstline").joinpath("helpdesk", "seed", "org")


@functools.cache
def demo_org() -> OrgData:
    """The demo organisation, loaded once per process (the records are immutable, so sharing is safe), its
    sign-in log moved so the newest entry is an hour old (:func:`~firstline.directory.signins.moved_sign_ins`)."""
    return moved_sign_ins(load_org(demo_org_folder()), datetime.now(UTC))


def run_concurrently(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run ``calls`` on as many threads, released together by a barrier; results in call order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


class AccountContract:
    """People and account tests: every directory backend passes them, LDAP included.

    ``has_sign_in_log = False`` for a store that keeps no sign-in log (LDAP): ``sign_ins`` is then empty.
    ``keeps_sessions = False`` for one that cannot revoke sessions (LDAP): it says so with a DirectoryError.
    """

    lockout_threshold = LOCKOUT_THRESHOLD
    thread_safe = True
    has_sign_in_log = True
    keeps_sessions = True

    @pytest.fixture
    def directory(self) -> DirectoryBackend:
        """A fresh backend holding the demo organisation; subclasses must override this fixture."""
        pytest.fail("override the `directory` fixture in your contract subclass")

    def require_threads(self) -> None:
        if not self.thread_safe:
            pytest.skip("backend is not thread-safe")

    def test_is_a_directory_backend(self, directory: DirectoryBackend) -> None:
        assert isinstance(directory, DirectoryBackend)

    def test_person_by_id_email_or_username(self, directory: DirectoryBackend) -> None:
        ruby = directory.person("p019")
        assert (ruby.id, ruby.name, ruby.email) == ("p019", "Ruby Chen", "ruby.chen@nwmeridian.co.uk")
        assert directory.person("RUBY.CHEN@nwmeridian.co.uk") == ruby
        assert directory.person(" r.chen ") == ruby
        assert directory.account(ruby) == directory.account("r.chen") == directory.account("p019")
        assert directory.account(ruby).person == "p019" and directory.account(ruby).username == "r.chen"

    def test_unknown_person_names_the_key_and_how_to_search(self, directory: DirectoryBackend) -> None:
        calls: list[Callable[[], object]] = [
            lambda: directory.person("x.nobody"),
            lambda: directory.account("x.nobody"),
            lambda: directory.unlock_account("x.nobody"),
            lambda: directory.record_failed_login("x.nobody"),
            lambda: directory.set_password_reset_required("x.nobody"),
        ]
        for call in calls:
            with pytest.raises(PersonNotFoundError, match=r"x\.nobody") as caught:
                call()
            assert caught.value.key == "x.nobody" and "find_people" in str(caught.value)

    def test_find_people_matches_every_word(self, directory: DirectoryBackend) -> None:
        assert [p.id for p in directory.find_people("Ruby Chen")] == ["p019"]
        assert "p019" in [p.id for p in directory.find_people("CHEN")]
        assert [p.id for p in directory.find_people("r.chen")] == ["p019"]
        assert directory.find_people("zz-no-such-person") == []
        with pytest.raises(InputError, match="search is empty"):
            directory.find_people("   ")

    def test_reports_lookup_agrees_with_listing_the_domain(self, directory: DirectoryBackend) -> None:
        if not isinstance(directory, ReportsDirectory):
            pytest.skip("this backend has no reports lookup: audiences list the domain's people")
        everyone = directory.find_people("@nwmeridian.co.uk")
        listed = {p.id: any(r.manager == p.id and r.is_current for r in everyone) for p in everyone}
        assert {p.id: directory.has_current_reports(p) for p in everyone} == listed
        assert True in listed.values() and False in listed.values()
        leaver_managers = {r.manager for r in everyone if not r.is_current and r.manager} - {
            r.manager for r in everyone if r.is_current
        }
        for manager in leaver_managers:  # only leavers report to them: they manage no one now
            assert not directory.has_current_reports(directory.person(manager))
        boss = next(p for p in everyone if listed[p.id])
        stranger = replace(boss, email=boss.email.replace("@nwmeridian.co.uk", "@elsewhere.example"))
        assert not directory.has_current_reports(stranger)  # reports in another domain do not count

    def test_locked_account_is_unlocked(self, directory: DirectoryBackend) -> None:
        before = directory.account("r.chen")
        assert before.locked and before.enabled and before.failed_attempts >= self.lockout_threshold
        unlocked = directory.unlock_account("r.chen")
        assert (unlocked.locked, unlocked.failed_attempts, unlocked.enabled) == (False, 0, True)
        assert directory.account("r.chen") == unlocked
        assert directory.unlock_account("r.chen") == unlocked  # unlocking twice is harmless
        assert directory.account("s.obrien").locked  # nobody else changed

    def test_failed_logins_lock_at_the_policy_maximum(self, directory: DirectoryBackend) -> None:
        assert directory.account("h.marsh").failed_attempts == 0
        for attempt in range(1, self.lockout_threshold):
            account = directory.record_failed_login("h.marsh")
            assert (account.failed_attempts, account.locked) == (attempt, False)
        locked = directory.record_failed_login("h.marsh")
        assert (locked.failed_attempts, locked.locked) == (self.lockout_threshold, True)
        assert directory.account("h.marsh") == locked
        assert directory.unlock_account("h.marsh").failed_attempts == 0

    def test_disabled_account_is_never_unlocked(self, directory: DirectoryBackend) -> None:
        before = directory.account("a.khalil")
        assert not before.enabled and not before.locked
        with pytest.raises(AccountDisabledError, match="Identity & Access Management") as caught:
            directory.unlock_account("a.khalil")
        assert caught.value.username == "a.khalil" and "disabled, not locked" in str(caught.value)
        assert directory.account("a.khalil") == before

    def test_password_reset_required_then_a_new_password(self, directory: DirectoryBackend) -> None:
        today = datetime.now(UTC).date()
        required = directory.set_password_reset_required("t.nowicki")
        assert required.password_reset_pending and directory.account("t.nowicki").password_reset_pending
        with pytest.raises(InputError, match="empty"):
            directory.reset_password("t.nowicki", "")
        changed = directory.reset_password("t.nowicki", "Correct-Horse-7")
        assert not changed.password_reset_pending and not changed.password_expired
        assert changed.password_last_set is not None and changed.password_last_set >= today - timedelta(days=1)
        assert directory.account("t.nowicki") == changed

    def test_sign_in_log_tells_a_stale_password_from_a_spray(self, directory: DirectoryBackend) -> None:
        with pytest.raises(PersonNotFoundError):
            directory.sign_ins("x.nobody")
        if not self.has_sign_in_log:
            assert directory.sign_ins("r.chen") == []
            assert assess(None).verdict == "no_log"
            return
        ruby = directory.sign_ins("r.chen")
        assert [s.at for s in ruby] == sorted((s.at for s in ruby), reverse=True)
        assert {s.person for s in ruby} == {"p019"}
        failures = [s for s in ruby if not s.success]
        assert len(failures) == 10 and {(s.device, s.client, s.country) for s in failures} == {
            ("NW-M-0119", "Exchange ActiveSync", "GB")
        }
        assert directory.sign_ins(directory.person("p019")) == ruby
        report = assess(ruby, _devices_of("p019"))
        assert report.verdict == "own_devices" and report.sources == ("NW-M-0119 (Exchange ActiveSync)",)
        ben = assess(directory.sign_ins("b.carter"), _devices_of("p028"))
        assert ben.verdict == "own_devices" and "NW-L-0288 (Windows Sign In)" in ben.sources
        david = directory.sign_ins("d.ogunleye")
        spray = assess(david, _devices_of("p072"))
        assert spray.verdict == "unfamiliar" and len(spray.unfamiliar) == 31 and not spray.safe_to_unlock
        assert {s.country for s in spray.unfamiliar} == {"RU", "VN", "BR", "NG", "CN"}
        assert {s.ip for s in spray.unfamiliar} == {f"203.0.113.{n}" for n in (14, 52, 88, 121, 200)}
        assert assess(directory.sign_ins("h.marsh"), _devices_of("p001")).verdict == "no_failures"
        assert directory.sign_ins("d.ogunleye", days=0) == []  # the newest entry is an hour old

    def test_sessions_are_revoked(self, directory: DirectoryBackend) -> None:
        if not self.keeps_sessions:
            with pytest.raises(DirectoryError, match="identity provider"):
                directory.revoke_sessions("t.nowicki")
            return
        before = directory.account("t.nowicki")
        started = datetime.now(UTC) - timedelta(seconds=5)
        after = directory.revoke_sessions("t.nowicki")
        assert after.sessions_revoked_at is not None and after.sessions_revoked_at >= started
        assert replace(after, sessions_revoked_at=None) == replace(before, sessions_revoked_at=None)
        with pytest.raises(PersonNotFoundError):
            directory.revoke_sessions("x.nobody")


def _devices_of(person_id: str) -> list[Device]:
    """The demo devices of a person, for backends that hold accounts but not devices."""
    return [d for d in demo_org().devices if d.owner == person_id]


class DirectoryContract(AccountContract):
    """Every test a complete directory backend (people, accounts and everything else) must pass."""

    def open_again(self, directory: DirectoryBackend) -> DirectoryBackend:
        """A second backend over the same storage as ``directory``; persistent backends override this."""
        pytest.skip("not persistent")

    def test_accounts_hold_the_seeded_details(self, directory: DirectoryBackend) -> None:
        ruby = directory.account("r.chen")
        assert ruby.failed_attempts == 10 and [f.type for f in ruby.mfa_factors] == ["authenticator_app"]
        assert {"Dept-Sales", "All-London", "VPN-Users"} <= set(ruby.groups)
        assert directory.account("s.obrien").password_expired and not directory.account("h.marsh").password_expired

    def test_admin_accounts_are_found_but_never_changed(self, directory: DirectoryBackend) -> None:
        assert directory.person("adm-r.kulkarni").id == "p009"
        before = directory.account("p009")
        for change in (directory.unlock_account, directory.record_failed_login, directory.reset_mfa):
            with pytest.raises(InputError, match="admin account"):
                change("adm-r.kulkarni")
        assert directory.account("p009") == before

    def test_reset_mfa_removes_every_method(self, directory: DirectoryBackend) -> None:
        before = directory.account("h.marsh")
        assert len(before.mfa_factors) == 2
        after = directory.reset_mfa("h.marsh")
        assert after.mfa_factors == () and (after.locked, after.groups) == (before.locked, before.groups)
        assert directory.account("h.marsh") == after

    def test_devices_by_owner_id_hostname_serial_and_tag(self, directory: DirectoryBackend) -> None:
        devices = directory.devices_of("r.chen")
        assert [d.hostname for d in devices] == ["NW-L-0301", "NW-M-0119"]
        phone = devices[1]
        for key in ("d086", "nw-m-0119", "VDXQJM7DXH", "NWM-M-00119"):
            assert directory.device(key) == phone
        assert directory.devices_of(directory.person("p019")) == devices

    def test_lost_phone_is_marked_and_locked_remotely(self, directory: DirectoryBackend) -> None:
        assert directory.device("NW-M-0101").status == "lost"
        stolen = directory.set_device_status("NW-M-0101", " Stolen ")
        assert (stolen.status, stolen.owner) == ("stolen", "p001")
        before = datetime.now(UTC)
        locked = directory.remote_lock("d077")
        assert locked.lock_requested_at is not None and before <= locked.lock_requested_at <= datetime.now(UTC)
        assert directory.device("d077") == locked
        with pytest.raises(InputError, match="not enrolled"):
            directory.remote_lock("d076")  # a retired, unenrolled laptop

    def test_device_status_rules(self, directory: DirectoryBackend) -> None:
        with pytest.raises(InputError) as caught:
            directory.set_device_status("d001", "misplaced")
        assert all(status in str(caught.value) for status in DEVICE_STATUSES)
        with pytest.raises(InputError, match="no owner"):
            directory.set_device_status("NW-M-0255", "lost")  # the CEO's earmarked spare
        retired = directory.set_device_status("NW-L-0303", "retired")
        assert (retired.status, retired.owner) == ("retired", None)

    def test_unknown_keys_say_what_was_looked_up(self, directory: DirectoryBackend) -> None:
        calls: list[tuple[str, str, Callable[[], object]]] = [
            ("device", "NW-L-9999", lambda: directory.device("NW-L-9999")),
            ("device", "d999", lambda: directory.set_device_status("d999", "lost")),
            ("printer", "LON-F9-HP-01", lambda: directory.printer("LON-F9-HP-01")),
            ("printer", "LON-F9-HP-01", lambda: directory.clear_print_queue("LON-F9-HP-01")),
            ("extension", "9999", lambda: directory.phone("9999")),
            ("extension", "9999", lambda: directory.set_voicemail_pin_reset("9999")),
            ("mailbox", "nobody@nwmeridian.co.uk", lambda: directory.mailbox("nobody@nwmeridian.co.uk")),
            ("distribution list", "no-list@x.test", lambda: directory.distribution_list("no-list@x.test")),
        ]
        for kind, key, call in calls:
            with pytest.raises(DirectoryEntryNotFoundError) as caught:
                call()
            assert (caught.value.kind, caught.value.key) == (kind, key) and key in str(caught.value)

    def test_clear_one_stuck_job_then_the_whole_queue(self, directory: DirectoryBackend) -> None:
        printer = directory.printer("lon-f4-hp-02")
        assert [j.id for j in printer.queue if j.status == "stuck"] == ["PC-58282", "PC-58307", "PC-58324"]
        cleared = directory.clear_print_queue("LON-F4-HP-02", ["PC-58282"])
        assert [j.id for j in cleared.queue] == ["PC-58307", "PC-58324"]
        with pytest.raises(DirectoryEntryNotFoundError, match="PC-58307, PC-58324"):
            directory.clear_print_queue("LON-F4-HP-02", ["PC-00000", "PC-58307"])
        assert directory.printer("pr07") == cleared  # nothing half-done
        assert directory.clear_print_queue("pr07").queue == () and directory.printer("pr07").queue == ()
        assert len(directory.printer("LDS-F1-HP-01").queue) == 2

    def test_printers_by_location_and_floor(self, directory: DirectoryBackend) -> None:
        assert [p.name for p in directory.printers("london", 4)] == ["LON-F4-HP-01", "LON-F4-HP-02", "LON-F4-LX-01"]
        assert len(directory.printers(location="leeds")) == 6 and len(directory.printers()) == 16
        assert {p.location for p in directory.printers(floor=2)} == {"london", "leeds"}

    def test_toner_order(self, directory: DirectoryBackend) -> None:
        ordered = directory.set_toner_order("LDS-F2-LX-01", "Black")
        assert ordered.toner_ordered == ("black",) and ordered.toner["black"] == 0
        assert directory.set_toner_order("LDS-F2-LX-01", "black") == ordered  # ordering twice changes nothing
        with pytest.raises(InputError, match="takes black toner"):
            directory.set_toner_order("LON-F4-HP-02", "cyan")

    def test_voicemail_pin_reset(self, directory: DirectoryBackend) -> None:
        phone = directory.phone_of("m.lloyd")
        assert phone is not None and phone.extension == "4535" and phone.voicemail_locked
        reset = directory.set_voicemail_pin_reset("4535")
        assert (reset.voicemail_locked, reset.voicemail_pin_set, reset.temporary_pin_sent) == (False, True, True)
        assert directory.phone("4535") == reset

    def test_call_forwarding_set_and_cleared(self, directory: DirectoryBackend) -> None:
        assert directory.phone("4818").call_forwarding == CallForwarding("4525", "always")  # to a leaver
        assert directory.set_call_forwarding("4818", None).call_forwarding is None
        assert directory.phone("4818").call_forwarding is None
        busy = directory.set_call_forwarding("4818", "4357", "busy")
        assert busy.call_forwarding == CallForwarding("4357", "busy") and directory.phone("4818") == busy
        mobile = directory.set_call_forwarding("4818", "07700 900123", "no_answer").call_forwarding
        assert mobile == CallForwarding("07700 900123", "no_answer")
        for target, mode, message in (
            ("4357", "sometimes", "not a forwarding mode"),
            ("9999", "always", "no extension 9999"),
            ("4818", "always", "cannot forward to itself"),
            ("12345", "always", "neither a 4-digit extension nor a UK phone number"),
        ):
            with pytest.raises(InputError, match=message):
                directory.set_call_forwarding("4818", target, mode)
        assert directory.phone("4818").call_forwarding == mobile

    def test_distribution_list_add_and_remove(self, directory: DirectoryBackend) -> None:
        address = "social-club-leeds@nwmeridian.co.uk"
        assert "p065" not in directory.distribution_list(address).members
        added = directory.add_to_distribution_list(address, "rebecca.ingram@nwmeridian.co.uk")
        assert added.members[-1] == "p065" and directory.distribution_list(address.upper()) == added
        assert directory.add_to_distribution_list(address, directory.person("p065")) == added  # no duplicate
        removed = directory.remove_from_distribution_list(address, "r.ingram")
        assert "p065" not in removed.members and len(removed.members) == len(added.members) - 1
        assert directory.remove_from_distribution_list(address, "p065") == removed

    def test_dynamic_lists_and_leavers_are_refused(self, directory: DirectoryBackend) -> None:
        with pytest.raises(InputError, match="dynamic list"):
            directory.add_to_distribution_list("london-all@nwmeridian.co.uk", "p065")
        with pytest.raises(InputError, match="left the company"):
            directory.add_to_distribution_list("project-harbour@nwmeridian.co.uk", "p034")
        with pytest.raises(PersonNotFoundError):
            directory.add_to_distribution_list("project-harbour@nwmeridian.co.uk", "x.nobody")

    def test_mailboxes_and_phones_of_people(self, directory: DirectoryBackend) -> None:
        full = directory.mailbox_of("m.bell")
        assert full is not None and (full.used_gb, full.quota_gb) == (49.8, 50.0)
        assert directory.mailbox("MARCUS.BELL@nwmeridian.co.uk") == full
        shared = directory.mailbox("ap@nwmeridian.co.uk")
        assert isinstance(shared, SharedMailbox) and shared.owners == ("p012",) and "p014" not in shared.members
        assert directory.mailbox_of("p034") is None and directory.phone_of("p034") is None  # a leaver

    def test_known_incidents(self, directory: DirectoryBackend) -> None:
        incidents = directory.incidents()
        assert [i.id for i in incidents] == ["INC0049001", "INC0049002", "INC0049003", "INC0049004"]
        printers = incidents[0]
        assert printers.related_printers == ("pr06", "pr07") and printers.assignment_group == "Print Services"
        assert printers.started.tzinfo is not None and printers.active
        assert directory.incidents(active_only=False) == incidents

    def test_concurrent_failed_logins_are_all_counted(self, directory: DirectoryBackend) -> None:
        self.require_threads()
        results = run_concurrently([lambda: directory.record_failed_login("o.pemberton")] * 12)
        assert sorted(a.failed_attempts for a in results) == list(range(1, 13))
        final = directory.account("o.pemberton")
        assert final.failed_attempts == 12 and final.locked

    def test_concurrent_unlocks_and_failures_stay_consistent(self, directory: DirectoryBackend) -> None:
        self.require_threads()
        calls: list[Callable[[], object]] = [lambda: directory.record_failed_login("r.chen")] * 12
        calls += [lambda: directory.unlock_account("r.chen")] * 6
        run_concurrently(calls)
        final = directory.account("r.chen")
        assert final.failed_attempts <= 12 and final.locked == (final.failed_attempts >= self.lockout_threshold)

    def test_device_sync_retire_and_wipe_are_recorded(self, directory: DirectoryBackend) -> None:
        started = datetime.now(UTC) - timedelta(seconds=5)
        synced = directory.sync_device("NW-L-0301")
        assert synced.sync_requested_at is not None and synced.sync_requested_at >= started
        assert (synced.retire_requested_at, synced.wipe_requested_at, synced.owner) == (None, None, "p019")
        assert directory.device("NW-L-0301") == synced
        wiped = directory.wipe_device("NW-M-0101")  # the CEO's lost iPhone
        assert wiped.wipe_requested_at is not None and directory.device("NW-M-0101").wipe_requested_at is not None
        retired = directory.retire_device("NW-M-0119")
        assert retired.retire_requested_at is not None and retired.owner == "p019"
        for action in (directory.sync_device, directory.retire_device, directory.wipe_device):
            with pytest.raises(InputError, match="not enrolled"):
                action("d076")  # a retired, unenrolled laptop
            with pytest.raises(DirectoryEntryNotFoundError):
                action("NW-L-9999")

    def test_automatic_replies_on_and_off(self, directory: DirectoryBackend) -> None:
        on = directory.set_automatic_replies("m.bell", "  Away until Monday; urgent: sales@nwmeridian.co.uk  ")
        assert on.automatic_replies == "Away until Monday; urgent: sales@nwmeridian.co.uk"
        assert directory.mailbox_of("m.bell") == on
        with pytest.raises(InputError, match="empty"):
            directory.set_automatic_replies("m.bell", "   ")
        off = directory.set_automatic_replies(directory.person("m.bell"), None)
        assert off.automatic_replies is None and directory.mailbox("marcus.bell@nwmeridian.co.uk") == off
        with pytest.raises(DirectoryEntryNotFoundError):
            directory.set_automatic_replies("p034", "gone")  # a leaver has no mailbox

    def test_changes_survive_a_restart(self, directory: DirectoryBackend) -> None:
        directory.unlock_account("r.chen")
        directory.clear_print_queue("LON-F4-HP-02", ["PC-58282"])
        directory.set_call_forwarding("4818", None)
        directory.add_to_distribution_list("social-club-leeds@nwmeridian.co.uk", "p065")
        directory.remote_lock("NW-M-0101")
        again = self.open_again(directory)
        try:
            for key in ("r.chen", "m.bell"):
                assert again.account(key) == directory.account(key)
            assert again.printer("LON-F4-HP-02") == directory.printer("LON-F4-HP-02")
            assert again.phone("4818").call_forwarding is None
            assert "p065" in again.distribution_list("social-club-leeds@nwmeridian.co.uk").members
            assert again.device("NW-M-0101") == directory.device("NW-M-0101")
            directory.set_automatic_replies("m.bell", "Out today")
            directory.sync_device("NW-L-0301")
            assert again.mailbox_of("m.bell") == directory.mailbox_of("m.bell")
            assert again.device("NW-L-0301") == directory.device("NW-L-0301")
        finally:
            again.close()
