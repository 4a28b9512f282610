"""GraphDirectory against GraphFake: the directory contract (with honest replacements where Entra ID has no
lock flag, unlock or failure counter), then Microsoft Graph's own behaviour: tokens, throttling, paging,
the sign-in log, synchronised accounts, permissions, partial MFA resets, Intune receipts and mail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from firstline.directory import InMemoryDirectory
from firstline.directory.backend import CheckableDirectory, DirectoryBackend
from firstline.directory.graph import GraphDirectory
from firstline.directory.rules import AccountRules
from firstline.directory.signins import assess
from firstline.errors import (
    AccountDisabledError,
    AuthenticationError,
    ConfigError,
    DirectoryEntryNotFoundError,
    DirectoryError,
    InputError,
    PermissionDeniedError,
)
from firstline.testing.directory import DirectoryContract, demo_org, run_concurrently
from firstline.testing.graph_fake import GraphFake
from firstline.vendors.http import VendorUnavailableError
from firstline.vendors.receipts import collect_receipts

DEMO_SNAPSHOT = date(2026, 11, 28)  # the demo organisation's snapshot date (its README): password ages count from it
WRITES = ("POST", "PATCH", "DELETE")


def start_fake(**kwargs: Any) -> GraphFake:
    return GraphFake.from_org(demo_org(), as_of=DEMO_SNAPSHOT, **kwargs).start()


def connect(fake: GraphFake, others: DirectoryBackend | None = None, **kwargs: Any) -> GraphDirectory:
    """A directory over the fake, on plain HTTP (no certificate store to load), never really sleeping."""
    kwargs.setdefault("sleep", lambda _: None)
    kwargs.setdefault("password_max_age", timedelta(days=90))
    return GraphDirectory(
        fake.tenant_id,
        fake.client_id,
        kwargs.pop("client_secret", fake.client_secret),
        base_url=fake.base_url,
        token_url=fake.token_url,
        others=others,
        transport=httpx.HTTPTransport(verify=False),
        **kwargs,
    )


def writes(fake: GraphFake) -> list[str]:
    return [f"{r.method} {r.path.split('?')[0]}" for r in fake.seen if r.method in WRITES and "/oauth2/" not in r.path]


def lockout_of(person: str) -> datetime:
    """When the demo log shows ``person``'s account being locked (error 50053)."""
    return max(s.at for s in demo_org().sign_ins if s.person == person and s.reason == "locked_out")


@pytest.fixture
def fake() -> Iterator[GraphFake]:
    running = start_fake()
    yield running
    running.stop()
    assert running.validating and running.violations == []


@pytest.fixture
def graph(fake: GraphFake) -> Iterator[GraphDirectory]:
    directory = connect(fake, InMemoryDirectory(demo_org()))
    yield directory
    directory.close()


class TestGraphDirectory(DirectoryContract):
    """The whole contract; where Entra ID cannot do what a test asks, the test is replaced below by one that
    checks what GraphDirectory honestly does instead (each says why)."""

    lockout_threshold = 10  # Entra ID smart lockout's default threshold

    fake: GraphFake

    @pytest.fixture
    def directory(self, graph: GraphDirectory, fake: GraphFake) -> GraphDirectory:
        self.fake = fake  # the replacement tests below look at what reached the fake
        return graph

    def open_again(self, directory: DirectoryBackend) -> DirectoryBackend:
        assert isinstance(directory, GraphDirectory)
        fake_secret = GraphFake.client_secret
        return GraphDirectory(
            directory.tenant_id,
            directory.client_id,
            fake_secret,
            base_url=directory.base_url,
            token_url=directory.token_url,
            others=directory.others,
            transport=httpx.HTTPTransport(verify=False),
            password_max_age=timedelta(days=90),
        )

    def test_locked_account_is_unlocked(self, directory: DirectoryBackend) -> None:
        """Entra ID keeps no lock flag and has no unlock operation: smart lockout lifts on its own. The account
        is locked while the log's last "account is locked" entry (50053) is younger than the lockout duration;
        then unlocking is a no-op that sends nothing, and before that it is an error that says when it lifts."""
        assert isinstance(directory, GraphDirectory)
        locked_at = lockout_of("p019")
        later = directory.account("r.chen")  # the demo lockout is hours old: it has lifted
        assert (later.locked, later.failed_attempts, later.enabled) == (False, 10, True)
        assert directory.unlock_account("r.chen") == later == directory.account("r.chen")
        during = connect(self.fake, directory.others, clock=lambda: locked_at + timedelta(minutes=4))
        try:
            ruby = during.account("r.chen")
            assert ruby.locked and ruby.failed_attempts == 10 and "lifts on its own" in ruby.notes
            lifts = (locked_at + timedelta(minutes=10)).strftime("%H:%M")
            with pytest.raises(
                DirectoryError, match=f"can't be lifted by hand: it ends on its own at about {lifts} UTC"
            ):
                during.unlock_account("r.chen")
            assert not during.account("s.obrien").locked  # locked that morning: the lockout has lifted since
        finally:
            during.close()
        assert writes(self.fake) == []

    def test_failed_logins_lock_at_the_policy_maximum(self, directory: DirectoryBackend) -> None:
        """Entra ID counts failed sign-ins itself and offers no way to add one: record_failed_login says so
        (after checking the person exists) and changes nothing."""
        before = directory.account("h.marsh")
        with pytest.raises(DirectoryError, match="counts failed sign-ins itself"):
            directory.record_failed_login("h.marsh")
        assert directory.account("h.marsh") == before and writes(self.fake) == []

    def test_concurrent_failed_logins_are_all_counted(self, directory: DirectoryBackend) -> None:
        """There is no failure counter to race on; what must hold under threads is the client: one token for
        every thread, and the same account read by each."""
        results = run_concurrently([lambda: directory.account("o.pemberton")] * 12)
        assert all(a == results[0] for a in results) and self.fake.token_requests == 1

    def test_concurrent_unlocks_and_failures_stay_consistent(self, directory: DirectoryBackend) -> None:
        """Concurrent unlocks of a lockout that has lifted all answer the same account and send no writes;
        concurrent failure reports are all refused."""

        def refused() -> object:
            with pytest.raises(DirectoryError, match="counts failed sign-ins itself"):
                directory.record_failed_login("r.chen")
            return None

        calls: list[Callable[[], object]] = [lambda: directory.unlock_account("r.chen")] * 6 + [refused] * 6
        results = run_concurrently(calls)[:6]
        assert all(a == results[0] for a in results) and writes(self.fake) == []


# --- Graph's own behaviour


def test_every_request_and_answer_follows_the_schemas(fake: GraphFake, graph: GraphDirectory) -> None:
    graph.reset_mfa("h.marsh")
    graph.set_automatic_replies("m.bell", "Away")
    graph.remote_lock("NW-M-0101")
    graph.wipe_device("NW-M-0101")
    assert fake.validating and fake.violations == []
    token = httpx.post(fake.token_url, data=_form(fake)).json()["access_token"]
    wrong = httpx.patch(
        f"{fake.base_url}/users/{fake.user('t.nowicki')['id']}",
        json={"passwordProfile": {"forceChangePasswordNextSignIn": True}, "accountEnabled": False},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert (
        wrong.status_code == 422 and "userUpdate.json" in fake.violations[0] and "accountEnabled" in fake.violations[0]
    )
    fake.violations.clear()


def _form(fake: GraphFake) -> dict[str, str]:
    scope = "https://graph.microsoft.com/.default"
    return {
        "grant_type": "client_credentials",
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "scope": scope,
    }


def test_one_token_serves_many_calls_and_a_401_fetches_another(fake: GraphFake, graph: GraphDirectory) -> None:
    for key in ("r.chen", "p001", "t.nowicki"):
        graph.account(key)
    assert fake.token_requests == 1 and graph.requests_sent > 10
    fake.expire_tokens()
    assert graph.person("r.chen").id == "p019"
    assert fake.token_requests == 2
    assert [status for _, _, status, _ in fake.answered].count(401) == 1


def test_a_wrong_secret_names_the_settings(fake: GraphFake) -> None:
    directory = connect(fake, client_secret="not-the-secret")
    with pytest.raises(AuthenticationError, match=r"AADSTS7000215.*FIRSTLINE_DIRECTORY__GRAPH__CLIENT_SECRET"):
        directory.person("r.chen")
    directory.close()


def test_throttling_waits_for_retry_after(fake: GraphFake) -> None:
    waits: list[float] = []
    directory = connect(fake, sleep=waits.append)
    fake.fail_next(429, 1, {"Retry-After": "7"})
    assert directory.person("r.chen").name == "Ruby Chen"
    assert waits == [7.0]
    directory.close()


def test_four_503s_make_graph_unavailable(fake: GraphFake, graph: GraphDirectory) -> None:
    fake.fail_next(503, 4)
    with pytest.raises(VendorUnavailableError, match=r"Microsoft Graph.*HTTP 503.*directory\.graph\.base_url"):
        graph.person("r.chen")
    assert [status for _, path, status, _ in fake.answered if path.startswith("/v1.0")] == [503] * 4


def test_lists_follow_next_links_to_the_end(fake: GraphFake, graph: GraphDirectory) -> None:
    log = graph.sign_ins("d.ogunleye")
    expected = [s for s in demo_org().sign_ins if s.person == "p072"]
    assert len(log) == len(expected) > 30
    pages = fake.requests("GET", "/auditLogs/signIns")
    assert len(pages) == -(-len(expected) // fake.page_size) and "skiptoken" in pages[-1].path
    everyone = graph.find_people("nwmeridian")
    assert len(everyone) == len({a.person for a in demo_org().accounts})


def test_sign_ins_map_the_log_fields(fake: GraphFake, graph: GraphDirectory) -> None:
    newest = graph.sign_ins("r.chen")[0]
    assert (newest.success, newest.reason, newest.ip, newest.country, newest.city) == (
        False, "locked_out", "192.0.2.40", "GB", "London",
    )  # fmt: skip
    assert (newest.device, newest.client, newest.person) == ("NW-M-0119", "Exchange ActiveSync", "p019")
    assert newest.at == lockout_of("p019") and newest.event_id in {s["id"] for s in fake.tenant.sign_ins}
    stale = assess(graph.sign_ins("r.chen"), graph.devices_of("r.chen"))
    spray = assess(graph.sign_ins("d.ogunleye"), graph.devices_of("d.ogunleye"))
    assert (stale.verdict, spray.verdict) == ("own_devices", "unfamiliar")
    query = fake.requests("GET", "/auditLogs/signIns")[0].path
    assert "userId+eq+%27" + fake.user("r.chen")["id"] in query and "createdDateTime+ge+" in query


def test_synchronised_accounts_are_mastered_in_active_directory() -> None:
    fake = start_fake(synced=["r.chen"])
    directory = connect(fake, clock=lambda: lockout_of("p019") + timedelta(minutes=2))
    try:
        assert "on-premises Active Directory" in directory.account("r.chen").notes
        for change in (directory.set_password_reset_required, lambda u: directory.reset_password(u, "Correct-Horse-7")):
            with pytest.raises(DirectoryError, match=r"synchronised from on-premises Active Directory.*writeback"):
                change("r.chen")
        with pytest.raises(DirectoryError, match=r"ends on its own.*on-premises directory.*Identity & Access"):
            directory.unlock_account("r.chen")
        assert writes(fake) == []
        assert directory.set_password_reset_required("t.nowicki").password_reset_pending  # a cloud account
    finally:
        directory.close()
        fake.stop()
    assert fake.violations == []


def test_device_actions_leave_receipts_with_graphs_request_id(fake: GraphFake, graph: GraphDirectory) -> None:
    with collect_receipts() as receipts:
        locked = graph.remote_lock("NW-M-0101")
    managed = next(d for d in fake.tenant.devices.values() if d["deviceName"] == "NW-M-0101")
    sent = [r for r in receipts if r.changes]
    assert [(r.method, r.path, r.status) for r in sent] == [
        ("POST", f"/deviceManagement/managedDevices/{managed['id']}/remoteLock", 204)
    ]
    answered = [rid for method, path, _, rid in fake.answered if method == "POST" and path.endswith("/remoteLock")]
    assert sent[0].request_id == answered[0] and sent[0].system == "Microsoft Graph"
    assert locked.lock_requested_at is not None and managed["deviceActionResults"][0]["actionName"] == "remoteLock"


def test_a_missing_permission_is_named(fake: GraphFake, graph: GraphDirectory) -> None:
    fake.permissions.discard("AuditLog.Read.All")
    with pytest.raises(PermissionDeniedError, match=r"AuditLog\.Read\.All.*P1 or P2.*Security specialist needs it"):
        graph.sign_ins("r.chen")
    account = graph.account("r.chen")  # still readable, without the log
    assert account.failed_attempts == 0 and "AuditLog.Read.All" in account.notes
    fake.permissions.discard("DeviceManagementManagedDevices.PrivilegedOperations.All")
    with pytest.raises(PermissionDeniedError, match=r"PrivilegedOperations\.All.*Device, Security specialists"):
        graph.wipe_device("NW-M-0101")


def test_a_partial_mfa_reset_says_what_was_removed_and_what_remains(fake: GraphFake, graph: GraphDirectory) -> None:
    fake.set_default_phone("h.marsh")  # Graph will not delete a phone that is the default method
    with pytest.raises(DirectoryError) as caught:
        graph.reset_mfa("h.marsh")
    message = str(caught.value)
    assert "Removed: authenticator app (iPhone 15 Pro" in message and "Still registered: sms (07700 900571" in message
    assert "default MFA method" in message
    assert [f.type for f in graph.account("h.marsh").mfa_factors] == ["sms"]


def test_check_names_each_missing_permission(fake: GraphFake, graph: GraphDirectory) -> None:
    assert isinstance(graph, CheckableDirectory)
    lines = graph.check()
    assert all(line.ok for line in lines) and len(lines) == 8
    assert "User.RevokeSessions.All" in lines[0].detail
    fake.permissions.discard("MailboxSettings.ReadWrite")
    failed = [line for line in graph.check() if not line.ok]
    assert [line.needed_by for line in failed] == [("Email",)]
    assert "MailboxSettings.ReadWrite" in failed[0].name and "Grant admin consent" in failed[0].detail
    wrong = connect(fake, client_secret="expired-secret")
    (token,) = wrong.check()
    assert not token.ok and "directory.graph.client_id" in token.detail
    wrong.close()


def test_without_others_graph_still_serves_what_it_holds(fake: GraphFake) -> None:
    directory = connect(fake)
    try:
        phone = directory.device("NW-M-0119")
        assert (phone.owner, phone.kind, phone.hostname, phone.mdm_enrolled) == ("p019", "mobile", "NW-M-0119", True)
        assert phone.id == next(d["id"] for d in fake.tenant.devices.values() if d["deviceName"] == "NW-M-0119")
        assert directory.sync_device(phone.id).sync_requested_at is not None
        on = directory.set_automatic_replies("m.bell", "Away")
        assert on.automatic_replies == "Away" and "not in Microsoft Graph" in on.notes
        for call in (lambda: directory.printer("LON-F4-HP-02"), lambda: directory.mailbox_of("m.bell")):
            with pytest.raises(ConfigError, match="as `others`"):
                call()
        with pytest.raises(DirectoryEntryNotFoundError):
            directory.device("d076")  # not managed by Intune, and no asset register to look in
    finally:
        directory.close()


def test_temporary_access_pass_returns_only_its_expiry(fake: GraphFake, graph: GraphDirectory) -> None:
    before = datetime.now(UTC)
    issued = graph.issue_temporary_access_pass("t.nowicki", lifetime_minutes=90)
    assert issued.usable_once and before + timedelta(minutes=89) < issued.expires_at < before + timedelta(minutes=91)
    assert set(vars(issued)) == {"expires_at", "usable_once"}
    methods = fake.tenant.methods[fake.user("t.nowicki")["id"]]
    assert any(m["@odata.type"].endswith("temporaryAccessPassAuthenticationMethod") for m in methods)
    with pytest.raises(InputError, match="admin account"):
        graph.issue_temporary_access_pass("adm-r.kulkarni")
    with pytest.raises(AccountDisabledError):
        graph.issue_temporary_access_pass("a.khalil")
    with pytest.raises(InputError, match="10 minutes to 30 days"):
        graph.issue_temporary_access_pass("t.nowicki", lifetime_minutes=5)


def test_roles_and_employee_types_set_the_safety_flags(fake: GraphFake, graph: GraphDirectory) -> None:
    assert graph.account("p009").admin_account == "adm-r.kulkarni" and not graph.account("p009").privileged
    role = next(iter(fake.tenant.roles))
    fake.tenant.role_members[role].append(fake.user("h.marsh")["id"])  # a directory role on her own account
    fake.user("t.nowicki")["employeeType"] = "Service"
    helena, tomasz = graph.account("h.marsh"), graph.account("t.nowicki")
    assert helena.privileged and tomasz.service and not tomasz.privileged
    rules = AccountRules()
    assert "privileged" in rules.categories(graph.person("h.marsh"), helena)
    assert "service" in rules.categories(graph.person("t.nowicki"), tomasz)


def test_people_fields_and_leavers(graph: GraphDirectory) -> None:
    ruby = graph.person("r.chen")
    demo = next(p for p in demo_org().people if p.id == "p019")
    assert (ruby.department, ruby.title, ruby.manager, ruby.location, ruby.floor) == (
        demo.department, demo.title, demo.manager, demo.location, demo.floor,
    )  # fmt: skip
    assert graph.person("p034").employment == "leaver"
    starters = {p.id for p in demo_org().people if p.employment == "new_starter"}
    assert {p.id for p in graph.find_people("nwmeridian") if p.employment == "new_starter"} == starters


def test_classic_distribution_groups_are_changed_in_exchange() -> None:
    address = "social-club-leeds@nwmeridian.co.uk"
    fake = start_fake(classic_lists=[address])
    directory = connect(fake, InMemoryDirectory(demo_org()))
    try:
        demo = next(dl for dl in demo_org().distribution_lists if dl.address == address)
        assert directory.distribution_list(address).members == demo.members  # still read through Graph
        with pytest.raises(DirectoryError, match="Exchange admin centre"):
            directory.add_to_distribution_list(address, "p065")
        assert writes(fake) == []
    finally:
        directory.close()
        fake.stop()
    assert fake.violations == []


def test_automatic_replies_are_sent_as_html_and_read_back_as_text(fake: GraphFake, graph: GraphDirectory) -> None:
    message = "Back <Monday> & Tuesday\nUrgent: call 4357"
    on = graph.set_automatic_replies("m.bell", message)
    stored = fake.tenant.mailboxes[fake.user("m.bell")["id"]]["automaticRepliesSetting"]
    assert stored["internalReplyMessage"] == "Back &lt;Monday&gt; &amp; Tuesday<br>Urgent: call 4357"
    assert stored["status"] == "alwaysEnabled" and stored["externalAudience"] == "all"
    assert on.automatic_replies == message and graph.mailbox_of("m.bell") == on
    assert replace(on, automatic_replies=None) == graph.set_automatic_replies("m.bell", None)


def test_without_the_lifecycle_permission_leavers_are_not_told_apart(fake: GraphFake, graph: GraphDirectory) -> None:
    fake.permissions.discard("User-LifeCycleInfo.Read.All")
    leaver = graph.person("p034")  # refused once with employeeLeaveDateTime selected, then read without it
    assert leaver.employment == "active" and "User-LifeCycleInfo.Read.All" in leaver.notes
    username = next(a.username for a in demo_org().accounts if a.person == "p034")
    assert "employeeLeaveDateTime" not in fake.requests("GET", f"/users/{fake.user(username)['id']}")[-1].path
    (lifecycle,) = [line for line in graph.check() if not line.ok]
    assert "User-LifeCycleInfo.Read.All" in lifecycle.name
    fake.permissions.clear()
    with pytest.raises(PermissionDeniedError, match=r"User\.Read\.All"):
        graph.person("r.chen")
