"""The scenario suite with people and accounts (and devices and mail) in the vendors' directories.

Each scenario gets a fresh vendor fake holding the demo organisation: Okta (checked against Okta's
OpenAPI description), Microsoft Graph (Entra ID, Intune, Exchange Online; checked against the JSON
Schemas written from Microsoft's documentation), Okta accounts with Intune devices and Exchange mail,
and Active Directory (the test slapd with AD's schema, a fresh OU per scenario) with its sign-in log,
MFA methods and sessions in Entra ID; printers, phones and incidents are in the in-memory store. The
tickets stay in the built-in SQL store: the ticket backends have their own suite run.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
import pytest

from firstline.conversations import SqlConversations
from firstline.directory import DirectoryBackend, InMemoryDirectory
from firstline.directory.ad import AdDirectory
from firstline.directory.ad_entries import filetime
from firstline.directory.graph import GraphDirectory
from firstline.directory.models import Account, OrgData
from firstline.directory.okta import OktaDirectory
from firstline.directory.routed import RoutedDirectory
from firstline.directory.rules import AccountRules
from firstline.evals.scenarios import ScenarioResult, load_scenarios, run_scenario
from firstline.helpdesk.desk import Helpdesk
from firstline.helpdesk.tools.deps import OneTimeCodes
from firstline.testing.ad_slapd import ADMIN_DN, ADMIN_PASSWORD, BASE_DN, PASSWORD, Slapd
from firstline.testing.ad_slapd import ad_slapd as start_ad_slapd
from firstline.testing.graph_fake import GraphFake
from firstline.testing.okta_fake import OktaFake
from firstline.testing.openapi_check import specs_available
from firstline.ticketing import TicketingBackend

SCENARIOS = load_scenarios()
NEEDS_UNLOCK = {s.id for s in SCENARIOS if "unlock_account" in s.expect.get("tools_called", [])}
# A scenario's `setup: lock` signs in with wrong passwords through the vendor, from this machine: the vendor
# logs 127.0.0.1, which stands for the office network here (the attackers' 203.0.113.x stay unfamiliar).
OFFICE = AccountRules(trusted_networks=("127.0.0.0/8",))
# Entra ID's smart lockout lifts on its own; the demo's lockouts are an hour old, so the tenant here locks for a day.
LOCKOUT = timedelta(hours=24)
Fakes = list[OktaFake | GraphFake]


def okta(fakes: Fakes) -> Callable[[OrgData], DirectoryBackend]:
    def build(org: OrgData) -> DirectoryBackend:
        fake = OktaFake.from_org(org, lockout_threshold=5).start()
        fakes.append(fake)
        return OktaDirectory(fake.url, fake.api_token, others=InMemoryDirectory(org), sleep=lambda _: None)

    return build


class EntraDirectory(GraphDirectory):
    """Graph, where a scenario's ``setup: lock`` types wrong passwords at the fake's Entra ID (which counts them
    itself and locks on the fifth), since Graph has no call that records a failed sign-in."""

    fake: GraphFake
    typed: dict[str, int]

    def record_failed_login(self, username: str) -> Account:
        person = self.person(username).id
        self.typed[person] = self.typed.get(person, 0) + 1
        self.fake.sign_in_failed(person, locked=self.typed[person] >= 5)
        return self.account(username)


def graph(fakes: Fakes, org: OrgData) -> GraphDirectory:
    fake = GraphFake.from_org(org).start()
    fakes.append(fake)
    directory = EntraDirectory(
        fake.tenant_id, fake.client_id, fake.client_secret, base_url=fake.base_url, token_url=fake.token_url,
        others=InMemoryDirectory(org), transport=httpx.HTTPTransport(verify=False), sleep=lambda _: None,
        password_max_age=timedelta(days=90), lockout_duration=LOCKOUT,
    )  # fmt: skip
    directory.fake, directory.typed = fake, {}
    return directory


def okta_and_graph(fakes: Fakes) -> Callable[[OrgData], DirectoryBackend]:
    """Accounts in Okta, devices in Intune, mail in Exchange Online, the rest in Firstline's store."""

    def build(org: OrgData) -> DirectoryBackend:
        microsoft = graph(fakes, org)
        return RoutedDirectory(okta(fakes)(org), microsoft, microsoft, InMemoryDirectory(org))

    return build


class DomainController(AdDirectory):
    """AD on the test slapd, where a wrong password is counted and locks at the fifth as AD does itself (slapd
    takes the failed bind but keeps no badPwdCount, so the count and the lockoutTime are written for it)."""

    slapd: Slapd

    def record_failed_login(self, username: str) -> Account:
        before = self.account(username)
        super().record_failed_login(username)  # the real failed bind
        dn = self.slapd.dn(before.username, self.users_base)
        count = before.failed_attempts + 1
        locked = {"lockoutTime": str(filetime(self._clock()))} if count >= 5 else {}
        self.slapd.replace(dn, badPwdCount=str(count), **locked)
        return self.account(username)


def ad_with_entra_log(fakes: Fakes, slapd: Slapd) -> Callable[[OrgData], DirectoryBackend]:
    """Accounts in Active Directory (passwords and lockouts) and, from Entra ID, the sign-in log, MFA methods and
    sessions: the hybrid set-up of a Microsoft shop; devices, mail and the rest in Firstline's store."""

    def build(org: OrgData) -> DirectoryBackend:
        rest = InMemoryDirectory(org)
        ad = DomainController(slapd.url, ADMIN_DN, ADMIN_PASSWORD, BASE_DN, f"OU=s{uuid.uuid4().hex[:10]}", others=rest)
        ad.slapd = slapd
        ad.seed(org, PASSWORD)
        return RoutedDirectory(ad, rest, rest, rest, identity=graph(fakes, org))

    return build


DIRECTORIES: dict[str, Callable[..., Callable[[OrgData], DirectoryBackend]]] = {
    "okta": okta,
    "graph": lambda fakes: lambda org: graph(fakes, org),
    "okta+graph": okta_and_graph,
    "ad+entra": ad_with_entra_log,
}


@pytest.fixture(scope="session")
def ad_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    yield from start_ad_slapd(tmp_path_factory)


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    started: Fakes = []
    yield started
    for fake in started:
        fake.stop()
        assert fake.violations == [], f"{type(fake).__name__}: a request or an answer broke the vendor's API shape"


@pytest.mark.skipif(not specs_available(), reason="the Okta OpenAPI description lives in ../shared/specs")
@pytest.mark.parametrize("backend", DIRECTORIES)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario, world, backend: str, fakes: Fakes, request: pytest.FixtureRequest) -> None:  # type: ignore[no-untyped-def]
    triage, knowledge, org = world

    def make(
        directory: DirectoryBackend, tickets: TicketingBackend, conversations: SqlConversations, codes: OneTimeCodes
    ) -> Helpdesk:
        return Helpdesk(
            directory=directory, tickets=tickets, conversations=conversations, triage=triage, knowledge=knowledge,
            codes=codes, account_rules=OFFICE,
        )  # fmt: skip

    extra = [request.getfixturevalue("ad_slapd")] if backend == "ad+entra" else []
    result = asyncio.run(run_scenario(scenario, org, make, directory_on=DIRECTORIES[backend](fakes, *extra)))
    if backend == "graph" and scenario.id in NEEDS_UNLOCK:
        return entra_cannot_unlock(result)
    assert result.passed, "\n".join(result.failures) + "\n\n" + result.transcript()


def entra_cannot_unlock(result: ScenarioResult) -> None:
    """Entra ID has no unlock operation (smart lockout lifts on its own): where a scenario expects an unlock, the
    employee is told when the lock ends and what to do, and nothing is unlocked or claimed to be."""
    actions = [a for reply in result.replies for a in reply.actions]
    assert not any(a["tool"] == "unlock_account" and a["outcome"] == "ok" for a in actions), result.transcript()
    assert not any(re.search(r"\bis unlocked\b", reply.reply) for reply in result.replies), result.transcript()
    if any(a["tool"] == "unlock_account" for a in actions):  # it got as far as trying
        assert any("can't be lifted by hand" in reply.reply for reply in result.replies), result.transcript()
