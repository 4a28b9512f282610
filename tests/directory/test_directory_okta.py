"""OktaDirectory against OktaFake: the account part of the conformance suite, then Okta's own behaviour.

Every request the backend sends and every answer the fake gives is checked against Okta's published
OpenAPI description (``../shared/specs/okta``); the ``fake`` fixture fails a test that caused a
violation. Without the specs the tests skip (CI has them).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from firstline.directory import InMemoryDirectory
from firstline.directory.okta import OktaDirectory
from firstline.directory.okta_records import country_code, people_search, quoted
from firstline.errors import (
    AccountDisabledError,
    AuthenticationError,
    ConfigError,
    DirectoryError,
    InputError,
    PermissionDeniedError,
    PersonNotFoundError,
)
from firstline.testing.directory import AccountContract, demo_org
from firstline.testing.okta_fake import ALL_SCOPES, OktaFake
from firstline.testing.openapi_check import specs_available
from firstline.vendors import VendorUnavailableError, collect_receipts

pytestmark = pytest.mark.skipif(not specs_available(), reason="the vendor specs in ../shared/specs are missing")

LOCKOUT = 5
PASSWORD = "Demo-Pass-1"


@pytest.fixture
def fake() -> Iterator[OktaFake]:
    with OktaFake.from_org(demo_org(), password=PASSWORD, lockout_threshold=LOCKOUT) as server:
        yield server
    assert server.violations == [], "a request or an answer broke Okta's OpenAPI description"


@pytest.fixture
def sleeps() -> list[float]:
    return []


def connect(fake: OktaFake, sleeps: list[float], token: str | None = None, **options: Any) -> OktaDirectory:
    kind = "SSWS" if token is None else "Bearer"
    return OktaDirectory(
        fake.url,
        token or fake.api_token,
        token_kind=kind,
        others=InMemoryDirectory(demo_org()),
        lockout_threshold=LOCKOUT,
        sleep=sleeps.append,
        **options,
    )


@pytest.fixture
def okta(fake: OktaFake, sleeps: list[float]) -> Iterator[OktaDirectory]:
    directory = connect(fake, sleeps)
    yield directory
    directory.close()


class TestOktaAccounts(AccountContract):
    lockout_threshold = LOCKOUT

    @pytest.fixture
    def directory(self, okta: OktaDirectory) -> OktaDirectory:
        return okta


def sent(fake: OktaFake, method: str, part: str = "") -> list[str]:
    """The paths (with queries) of the requests of ``method`` whose path contains ``part``."""
    return [r.path for r in fake.seen if r.method == method and part in r.path]


def test_requests_and_answers_follow_the_spec_and_a_bad_request_is_caught(fake: OktaFake, okta: OktaDirectory) -> None:
    assert [p.id for p in okta.find_people("o'brien")] == ["p045"]
    okta.sign_ins("d.ogunleye")
    okta.unlock_account("r.chen")
    okta.set_password_reset_required("t.nowicki")
    okta.reset_password("t.nowicki", "Correct-Horse-7")
    okta.reset_mfa("h.marsh")
    okta.revoke_sessions("h.marsh")
    okta.record_failed_login("h.marsh")
    assert okta.check() and fake.violations == []
    checked = fake._spec.checked if fake._spec else 0
    assert checked == len([r for r in fake.seen if r.path != "/api/v1/authn"]) > 40
    user = fake.user("r.chen")["id"]
    answer = httpx.post(
        f"{fake.url}/api/v1/users/{user}/lifecycle/reset_password",
        headers={"Authorization": f"SSWS {fake.api_token}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 422 and "sendEmail" in fake.violations[0]
    fake.violations.clear()
    listed = httpx.get(f"{fake.url}/api/v1/users?limit=1", headers={"Authorization": f"SSWS {fake.api_token}"})
    assert {"x-okta-request-id", "x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= set(
        listed.headers
    )


def test_quotes_in_keys_cannot_change_the_search(fake: OktaFake, okta: OktaDirectory) -> None:
    assert quoted('a "b" \\ c') == '"a \\"b\\" \\\\ c"'
    with pytest.raises(PersonNotFoundError):
        okta.person('x" or profile.login sw "')
    assert okta.find_people('chen" or profile.login sw "') == []
    assert "profile.department co" not in people_search(["it"], "samAccountName")  # Okta allows co on four only


def test_disabled_accounts_are_refused_before_any_write(fake: OktaFake, okta: OktaDirectory) -> None:
    assert fake.user("a.khalil")["status"] == "SUSPENDED" and fake.user("g.whitfield")["status"] == "DEPROVISIONED"
    for username, why in (("a.khalil", "suspended in Okta"), ("g.whitfield", "deactivated in Okta")):
        with pytest.raises(AccountDisabledError, match="Identity & Access Management") as caught:
            okta.unlock_account(username)
        assert "disabled, not locked" in str(caught.value) and why in str(caught.value)
        with pytest.raises(AccountDisabledError):
            okta.set_password_reset_required(username)
    assert sent(fake, "POST") == [] and okta.person("g.whitfield").employment == "leaver"


def test_admin_accounts_and_role_holders_are_never_changed(fake: OktaFake, okta: OktaDirectory) -> None:
    kulkarni = okta.account("r.kulkarni")
    assert kulkarni.privileged and not kulkarni.service and not okta.account("h.marsh").privileged
    before = len(fake.seen)
    with pytest.raises(InputError, match="admin account"):
        okta.unlock_account("adm-r.kulkarni")
    assert len(fake.seen) == before  # refused by name, before asking Okta
    for change in (okta.unlock_account, okta.record_failed_login, okta.reset_mfa, okta.revoke_sessions):
        with pytest.raises(InputError, match="holds Okta admin roles \\(Help Desk Administrator\\)"):
            change("r.kulkarni")
    assert sent(fake, "POST") == sent(fake, "DELETE") == []


def test_service_accounts_come_from_the_user_type(fake: OktaFake, okta: OktaDirectory) -> None:
    assert not okta.account("t.nowicki").service
    fake.set_profile("t.nowicki", userType="Service")
    assert okta.account("t.nowicki").service


def test_a_403_names_the_scope_and_the_role(fake: OktaFake, okta: OktaDirectory, sleeps: list[float]) -> None:
    fake.scopes.discard("okta.logs.read")
    with pytest.raises(PermissionDeniedError, match=r"okta\.logs\.read") as caught:
        okta.sign_ins("r.chen")
    assert "Report or Help Desk Administrator" in str(caught.value)
    bearer = connect(fake, sleeps, fake.access_token(ALL_SCOPES - {"okta.users.manage"}))
    with pytest.raises(PermissionDeniedError, match=r"okta\.users\.manage") as refused:
        bearer.set_password_reset_required("t.nowicki")
    assert "service app" in str(refused.value) and fake.user("t.nowicki")["status"] == "ACTIVE"


def test_a_bad_token_names_the_setting(fake: OktaFake, sleeps: list[float]) -> None:
    wrong = OktaDirectory(fake.url, "not-the-token", others=InMemoryDirectory(demo_org()), sleep=sleeps.append)
    with pytest.raises(AuthenticationError, match=r"directory\.okta\.token.*FIRSTLINE_DIRECTORY__OKTA__TOKEN"):
        wrong.person("r.chen")


def test_a_429_waits_for_the_rate_limit_reset(fake: OktaFake, sleeps: list[float]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    okta = connect(fake, sleeps, clock=lambda: now)
    fake.fail_next(429, headers={"X-Rate-Limit-Reset": str(int(now.timestamp()) + 7)})
    assert okta.person("r.chen").id == "p019"
    assert sleeps == [7.0] and [a[2] for a in fake.answered] == [429, 200]


def test_5xx_four_times_is_unavailable(fake: OktaFake, okta: OktaDirectory, sleeps: list[float]) -> None:
    fake.fail_next(500, times=4)
    with pytest.raises(VendorUnavailableError, match=r"directory\.okta\.org_url") as caught:
        okta.account("r.chen")
    assert caught.value.url == fake.url and len(sleeps) == 3 and len(fake.seen) == 4
    fake.down = True
    with pytest.raises(VendorUnavailableError, match="HTTP 503"):
        okta.person("r.chen")


def test_the_system_log_is_read_page_by_page(sleeps: list[float]) -> None:
    with OktaFake.from_org(demo_org(), page_size=4) as fake:
        okta = connect(fake, sleeps)
        start = datetime.now(UTC) - timedelta(hours=5)
        for n in range(9):
            fake.add_sign_in("h.marsh", start + timedelta(minutes=n), success=n % 3 != 0, city="Leeds")
        found = okta.sign_ins("h.marsh", days=14)
        pages = sent(fake, "GET", "/api/v1/logs")
        assert len(found) == 11 and [s.at for s in found] == sorted((s.at for s in found), reverse=True)
        assert len(pages) == 3 and all("after=" in p for p in pages[1:]) and "after=" not in pages[0]
        assert len({s.event_id for s in found}) == 11 and sum(not s.success for s in found) == 3
        assert okta.account("h.marsh").failed_attempts == 0  # the newest attempt succeeded
        assert fake.violations == []


def test_countries_are_mapped_to_iso_codes(fake: OktaFake, okta: OktaDirectory) -> None:
    at = datetime.now(UTC) - timedelta(minutes=30)
    for n, name in enumerate(("Viet Nam", "Russian Federation", "Netherlands", "Atlantis", "United Kingdom")):
        fake.add_sign_in("h.marsh", at + timedelta(seconds=n), success=False, country=name, reason="bad_password")
    newest = okta.sign_ins("h.marsh")[:5]
    assert [s.country for s in newest] == ["GB", "Atlantis", "NL", "RU", "VN"]
    assert {s.reason for s in newest} == {"bad_password"} and newest[0].client == "Browser"
    assert country_code("vietnam") == "VN" and country_code("br") == "BR" and country_code("Brazil") == "BR"


def test_failures_count_since_the_last_success_or_unlock(fake: OktaFake, okta: OktaDirectory) -> None:
    assert okta.account("g.adeyemi").failed_attempts == 1  # the seeded count, logged by the fake
    fake.add_sign_in("g.adeyemi", datetime.now(UTC) - timedelta(seconds=5), success=True)
    assert okta.account("g.adeyemi").failed_attempts == 0
    assert okta.account("b.carter").failed_attempts == 23
    fake.set_status("b.carter", "ACTIVE")  # unlocked in the Admin Console; the log may lag behind
    assert okta.account("b.carter").failed_attempts == 0


def test_write_calls_leave_receipts_with_oktas_request_ids(fake: OktaFake, okta: OktaDirectory) -> None:
    with collect_receipts() as receipts:
        okta.unlock_account("r.chen")
        okta.record_failed_login("t.nowicki")
    ids = {(method, path.split("?")[0]): rid for method, path, _, rid in fake.answered}
    writes = [r for r in receipts if r.changes]
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in writes] == [("POST", "unlock"), ("POST", "authn")]
    for receipt in writes:
        assert receipt.system == "Okta" and receipt.request_id == ids[(receipt.method, receipt.path)]
    assert len(receipts) == len(fake.answered) and all(r.request_id for r in receipts)


def test_a_failed_sign_in_is_a_real_one(fake: OktaFake, okta: OktaDirectory) -> None:
    account = okta.record_failed_login("t.nowicki")
    (authn,) = [r for r in fake.seen if r.path == "/api/v1/authn"]
    assert "authorization" not in authn.headers and authn.json()["username"] == "tomasz.nowicki@nwmeridian.co.uk"
    assert authn.json()["password"] != PASSWORD and account.failed_attempts == 4 and not account.locked
    assert okta.record_failed_login("t.nowicki").locked and fake.user("t.nowicki")["status"] == "LOCKED_OUT"
    assert [e["eventType"] for e in fake.events()][-1] == "user.account.lock"


def test_a_reset_link_is_emailed_by_okta(fake: OktaFake, okta: OktaDirectory) -> None:
    account = okta.set_password_reset_required("h.marsh")
    assert sent(fake, "POST") == [f"/api/v1/users/{fake.user('h.marsh')['id']}/lifecycle/reset_password?sendEmail=true"]
    assert account.password_reset_pending and fake.user("h.marsh")["status"] == "RECOVERY"
    with pytest.raises(InputError, match="Password requirements were not met"):
        okta.reset_password("h.marsh", "helena")
    assert okta.account("h.marsh").password_reset_pending


def test_reset_mfa_that_fails_part_way_says_what_was_done(fake: OktaFake, okta: OktaDirectory) -> None:
    first, second = fake.factor_ids("h.marsh")
    fake.fail_next(403, method="DELETE", path=second)
    with pytest.raises(DirectoryError) as caught:
        okta.reset_mfa("h.marsh")
    message = str(caught.value)
    assert "Removed 1 of 2 MFA methods" in message and "authenticator_app (iPhone 15 Pro" in message
    assert "these remain: sms (+447700900571)" in message and "Reset Multifactor" in message
    assert fake.factor_ids("h.marsh") == [second] and [f.type for f in okta.account("h.marsh").mfa_factors] == ["sms"]
    assert [p.rsplit("/", 1)[-1] for p in sent(fake, "DELETE")] == [first, second]


def test_sign_out_everywhere_revokes_oauth_tokens_too(fake: OktaFake, okta: OktaDirectory) -> None:
    okta.revoke_sessions("t.nowicki")
    assert sent(fake, "DELETE") == [f"/api/v1/users/{fake.user('t.nowicki')['id']}/sessions?oauthTokens=true"]
    (cleared,) = fake.events("user.session.clear")
    assert okta.account("t.nowicki").sessions_revoked_at == datetime.fromisoformat(cleared["published"])


def test_check_passes_with_every_permission(fake: OktaFake, okta: OktaDirectory, sleeps: list[float]) -> None:
    checks = okta.check()
    assert [c.ok for c in checks] == [True] * 4 and all("Security" in c.needed_by for c in checks)
    assert all(c.ok for c in connect(fake, sleeps, fake.access_token()).check())
    assert sent(fake, "POST") == sent(fake, "DELETE") == []  # checking changes nothing


def test_check_names_each_missing_scope(fake: OktaFake, sleeps: list[float]) -> None:
    token = fake.access_token({"okta.users.read", "okta.roles.read"})
    checks = {c.name: c for c in connect(fake, sleeps, token).check()}
    users, logs = checks["Okta: read users"], checks["Okta: read the System Log (sign-in history)"]
    writes = checks["Okta: change accounts (unlock, reset link, MFA reset, sign-out)"]
    assert users.ok and not logs.ok and "okta.logs.read" in logs.detail and logs.needed_by == ("Security",)
    assert not writes.ok and "lacks the scope okta.users.manage" in writes.detail
    fake.integration_roles = ["READ_ONLY_ADMIN"]
    (write,) = [c for c in connect(fake, sleeps).check() if not c.ok]
    assert "READ_ONLY_ADMIN" in write.detail and "Help Desk Administrator" in write.detail


def test_check_reports_a_bad_token_without_raising(fake: OktaFake, sleeps: list[float]) -> None:
    wrong = OktaDirectory(fake.url, "expired", others=None, sleep=sleeps.append)
    (line,) = wrong.check()
    assert not line.ok and "directory.okta.token" in line.detail


def test_everything_else_comes_from_the_other_directory(fake: OktaFake, okta: OktaDirectory) -> None:
    assert [d.hostname for d in okta.devices_of("r.chen")] == ["NW-L-0301", "NW-M-0119"]
    assert okta.mailbox_of("ruby.chen@nwmeridian.co.uk") is not None and okta.printer("pr07").name == "LON-F4-HP-02"
    alone = OktaDirectory(fake.url, fake.api_token)
    with pytest.raises(ConfigError, match=r"directory\.database_url"):
        alone.devices_of("r.chen")
    alone.close()


def test_configuration_mistakes_name_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"directory\.okta\.org_url"):
        OktaDirectory("example.okta.com", "token")
    with pytest.raises(ConfigError, match=r"directory\.okta\.token_kind"):
        OktaDirectory("https://example.okta.com", "token", token_kind="Basic")
    with pytest.raises(ConfigError, match=r"directory\.okta\.username_attribute"):
        OktaDirectory("https://example.okta.com", "token", username_attribute='x" or "')
