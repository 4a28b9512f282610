"""[ticketing] backend and its vendor section: validated, secrets from the environment and masked, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from firstline.errors import ConfigError
from firstline.settings import load_settings, redacted
from firstline.ticketing.connectors.configure import build_connector
from firstline.ticketing.connectors.servicenow import ServiceNowConnector


def settings_from(tmp_path: Path, toml: str) -> object:
    path = tmp_path / "firstline.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n' + toml)
    return load_settings(path)


def test_a_vendor_backend_needs_its_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[ticketing.jira\]"):
        settings_from(tmp_path, '[ticketing]\nbackend = "jira"\n')
    with pytest.raises(ConfigError, match="backend"):
        settings_from(tmp_path, '[ticketing]\nbackend = "remedy"\n')


def test_secrets_come_from_the_environment_and_are_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRSTLINE_TICKETING__SERVICENOW__USER", "firstline.integration")
    monkeypatch.setenv("FIRSTLINE_TICKETING__SERVICENOW__PASSWORD", "s3cret-pa55")
    settings = load_settings(data_dir=tmp_path, ticketing={"backend": "servicenow", "servicenow": {
        "url": "https://acme.service-now.com", "map": {"groups": {"Network Operations": "Network"}}}})  # fmt: skip
    connector = build_connector(settings.ticketing)
    try:
        assert isinstance(connector, ServiceNowConnector)
    finally:
        connector.close()
    shown = redacted(settings)["ticketing"]["servicenow"]
    assert shown["password"] == "**********" and shown["user"] == "firstline.integration"
    assert shown["map"]["groups"] == {"Network Operations": "Network"}
    assert "s3cret-pa55" not in str(redacted(settings))


def test_unknown_and_missing_keys_name_the_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRSTLINE_TICKETING__CONNECTWISE__PUBLIC_KEY", "pub")
    typo = load_settings(data_dir=tmp_path, ticketing={"backend": "connectwise", "connectwise": {
        "url": "https://api-na.myconnectwise.net", "compnay": "acme"}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"\[ticketing.connectwise\] has unknown keys compnay; it takes: .*company"):
        build_connector(typo.ticketing)
    missing = load_settings(data_dir=tmp_path, ticketing={"backend": "connectwise", "connectwise": {
        "url": "https://api-na.myconnectwise.net"}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"\[ticketing.connectwise\] is incomplete"):
        build_connector(missing.ticketing)


def test_the_runtime_builds_the_webform_connector_with_a_computer_use_fallback(tmp_path: Path) -> None:
    from firstline.agents.computer_use import ComputerUse
    from firstline.runtime import Runtime
    from firstline.testing.legacy_desk import FORM_MAP
    from firstline.ticketing.connectors.webform.connector import WebformConnector
    from firstline.ticketing.synced import SyncedTicketing

    settings = load_settings(
        data_dir=tmp_path,
        llm={"endpoints": {"vision": {"base_url": "http://127.0.0.1:9/v1", "model": "a-vision-model"}}},
        ticketing={"backend": "webform", "webform": {
            "url": "http://127.0.0.1:9", "user": "firstline", "password": "pw", "form_map": str(FORM_MAP),
            "computer_use_endpoint": "vision", "max_steps": 12}},
    )  # fmt: skip
    with Runtime(settings) as runtime:
        assert isinstance(runtime.tickets, SyncedTicketing) and runtime.syncer is not None
        connector = runtime.connector
        assert isinstance(connector, WebformConnector)
        fallback = connector.options.fallback
        assert isinstance(fallback, ComputerUse) and fallback.max_steps == 12
    wrong = load_settings(data_dir=tmp_path, ticketing={"backend": "webform", "webform": {
        "url": "http://127.0.0.1:9", "form_map": str(FORM_MAP), "computer_use_endpoint": "nope"}})  # fmt: skip
    with Runtime(wrong) as runtime, pytest.raises(ConfigError, match="nope"):
        runtime.tickets  # noqa: B018 - building the backend is what fails
