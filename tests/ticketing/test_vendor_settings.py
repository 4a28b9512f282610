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
