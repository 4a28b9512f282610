"""[directory] settings to live backends, and `firstline directory check` against the vendor fakes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from firstline.cli.main import app
from firstline.directory import InMemoryDirectory, SqlDirectory
from firstline.directory.configure import account_rules, build_directory
from firstline.directory.okta import OktaDirectory
from firstline.directory.routed import RoutedDirectory
from firstline.helpdesk.policy import HelpdeskPolicy
from firstline.helpdesk.tools import HelpdeskDeps
from firstline.runtime import demo_org as demo_org_folder
from firstline.settings import Settings
from firstline.testing.directory import demo_org
from firstline.testing.graph_fake import GraphFake
from firstline.testing.okta_fake import OktaFake
from firstline.testing.openapi_check import specs_available
from firstline.ticketing import InMemoryTicketing

needs_specs = pytest.mark.skipif(not specs_available(), reason="the Okta OpenAPI description is in ../shared/specs")


@pytest.fixture
def okta_fake() -> Iterator[OktaFake]:
    with OktaFake.from_org(demo_org()) as fake:
        yield fake
    assert fake.violations == []


@pytest.fixture
def graph_fake() -> Iterator[GraphFake]:
    with GraphFake.from_org(demo_org()) as fake:
        yield fake


def settings(tmp_path: Path, **directory: Any) -> Settings:
    return Settings(data_dir=tmp_path, directory=directory)


def test_the_default_is_the_seeded_sql_store_with_its_sign_in_log(tmp_path: Path) -> None:
    directory = build_directory(settings(tmp_path), demo_org_folder())
    try:
        assert isinstance(directory, SqlDirectory)
        assert len([s for s in directory.sign_ins("d.ogunleye") if not s.success]) == 31  # moved to now on seeding
    finally:
        directory.close()


@needs_specs
def test_okta_alone_hands_the_rest_to_the_sql_store(tmp_path: Path, okta_fake: OktaFake) -> None:
    directory = build_directory(
        settings(tmp_path, backend="okta", okta={"org_url": okta_fake.url, "token": okta_fake.api_token}),
        demo_org_folder(),
    )
    try:
        assert isinstance(directory, OktaDirectory) and isinstance(directory.others, SqlDirectory)
        assert directory.account("r.chen").locked and directory.printer("pr07").name == "LON-F4-HP-02"
    finally:
        directory.close()


@needs_specs
def test_okta_accounts_with_intune_devices_and_exchange_mail(
    tmp_path: Path, okta_fake: OktaFake, graph_fake: GraphFake
) -> None:
    graph = {
        "tenant_id": graph_fake.tenant_id, "client_id": graph_fake.client_id,
        "client_secret": graph_fake.client_secret, "base_url": graph_fake.base_url, "token_url": graph_fake.token_url,
    }  # fmt: skip
    chosen = settings(
        tmp_path,
        backend="okta",
        devices="graph",
        mail="graph",
        okta={"org_url": okta_fake.url, "token": okta_fake.api_token},
        graph=graph,
    )
    directory = build_directory(chosen, demo_org_folder())
    try:
        assert isinstance(directory, RoutedDirectory)
        assert set(directory.backends()) == {"accounts+identity", "devices+mail", "rest"}
        directory.sync_device("NW-L-0301")
        assert any("syncDevice" in r.path for r in graph_fake.seen)
        assert not any("syncDevice" in r.path for r in okta_fake.seen)
    finally:
        directory.close()


def test_an_ad_shop_reads_the_sign_in_log_from_entra(graph_fake: GraphFake) -> None:
    """AD keeps no sign-in log: with the log from Entra ID the spray check works for AD accounts too."""
    from firstline.directory.graph import GraphDirectory

    org = demo_org()
    no_log = InMemoryDirectory(type(org)(**{**org.__dict__, "sign_ins": ()}))  # an AD-like store
    entra = GraphDirectory(
        graph_fake.tenant_id, graph_fake.client_id, graph_fake.client_secret, base_url=graph_fake.base_url,
        token_url=graph_fake.token_url, sleep=lambda _: None,
    )  # fmt: skip
    deps = HelpdeskDeps(RoutedDirectory(no_log, no_log, no_log, no_log, identity=entra), InMemoryTicketing())
    refusal = HelpdeskPolicy().account_refusal(deps, "david.ogunleye@nwmeridian.co.uk", "unlock_account")
    assert refusal is not None and refusal.category == "possible_attack"
    alone = HelpdeskDeps(no_log, InMemoryTicketing())  # without it the check cannot tell
    assert HelpdeskPolicy().account_refusal(alone, "david.ogunleye@nwmeridian.co.uk", "unlock_account") is None
    entra.close()


def test_settings_name_what_a_backend_needs(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"'okta' directory backend needs okta\.org_url, okta\.token"):
        settings(tmp_path, backend="okta")
    with pytest.raises(ValidationError, match=r"'graph' directory backend needs graph\.tenant_id"):
        settings(tmp_path, devices="graph")
    with pytest.raises(ValidationError, match="not a network like"):
        settings(tmp_path, trusted_networks=["the office"])
    chosen = settings(tmp_path, trusted_networks=["198.51.100.0/24"], sign_in_days=7)
    rules = account_rules(chosen.directory)
    assert rules.trusted_networks == ("198.51.100.0/24",) and rules.sign_in_days == 7
    assert chosen.directory.role("devices") == "sql" and chosen.directory.role("identity") == "sql"
    both = settings(tmp_path, backend="ad", identity="graph", ad=AD, graph=GRAPH)
    assert both.directory.role("identity") == "graph" and both.directory.role("mail") == "sql"


AD = {"url": "ldaps://dc1.corp.test:636", "bind_dn": "CN=firstline", "password": "x", "base_dn": "DC=corp,DC=test"}
GRAPH = {"tenant_id": "t", "client_id": "c", "client_secret": "s"}


def test_secrets_are_masked_in_config_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRSTLINE_DIRECTORY__OKTA__TOKEN", "00abcSECRETtoken")
    monkeypatch.setenv("FIRSTLINE_DIRECTORY__OKTA__ORG_URL", "https://example.okta.com")
    monkeypatch.setenv("FIRSTLINE_DIRECTORY__BACKEND", "okta")
    result = CliRunner().invoke(app, ["config", "check", "--json"])
    assert result.exit_code == 0, result.output
    assert "00abcSECRETtoken" not in result.stdout
    assert json.loads(result.stdout)["directory"]["okta"]["token"] == "**********"


@needs_specs
def test_directory_check_names_the_missing_scope(
    tmp_path: Path, okta_fake: OktaFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIRSTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FIRSTLINE_DIRECTORY__BACKEND", "okta")
    monkeypatch.setenv("FIRSTLINE_DIRECTORY__OKTA__ORG_URL", okta_fake.url)
    monkeypatch.setenv("FIRSTLINE_DIRECTORY__OKTA__TOKEN_KIND", "Bearer")
    monkeypatch.setenv("FIRSTLINE_DIRECTORY__OKTA__TOKEN", okta_fake.access_token({"okta.users.read"}))
    result = CliRunner().invoke(app, ["directory", "check", "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["backends"] == {"accounts": "okta", "identity": "okta", "devices": "sql", "mail": "sql"}
    failing = [c for c in report["checks"] if not c["ok"]]
    assert any("okta.logs.read" in c["detail"] and "Security" in c["needed_by"] for c in failing)
    monkeypatch.setenv("FIRSTLINE_DIRECTORY__OKTA__TOKEN", okta_fake.access_token())
    assert CliRunner().invoke(app, ["directory", "check"]).exit_code == 0


def test_directory_check_on_the_built_in_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRSTLINE_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["directory", "check", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["checks"][0]["ok"] is True
