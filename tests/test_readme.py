"""The README's examples must stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firstline.settings import load_settings

README = Path(__file__).parents[1] / "README.md"


def test_readme_config_example_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block = re.search(r"```toml\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    config = tmp_path / "firstline.toml"
    config.write_text(block.group(1))
    monkeypatch.setenv("FIRSTLINE_DIRECTORY__OKTA__TOKEN", "from-the-environment")
    monkeypatch.setenv("FIRSTLINE_DIRECTORY__GRAPH__CLIENT_SECRET", "from-the-environment")
    for secret in ("SSO__CLIENT_SECRET", "CHANNELS__SLACK__SIGNING_SECRET", "CHANNELS__SLACK__BOT_TOKEN",
                   "CHANNELS__TEAMS__APP_PASSWORD", "CHANNELS__EMAIL__PASSWORD"):  # fmt: skip
        monkeypatch.setenv(f"FIRSTLINE_{secret}", "from-the-environment")
    settings = load_settings(config)
    assert settings.knowledge.store == "qdrant-server"
    assert (settings.directory.backend, settings.directory.role("devices")) == ("okta", "graph")
    assert settings.directory.okta.token is not None and settings.directory.role("identity") == "okta"
    assert settings.ticketing.database_url is not None
    assert settings.sso.enabled and settings.notifications.smtp.security == "starttls"
    assert [name for name in ("slack", "teams", "email") if getattr(settings.channels, name).enabled] == [
        "slack", "teams", "email"
    ]  # fmt: skip


def test_readme_names_the_commands_that_exist() -> None:
    from typer.testing import CliRunner

    from firstline.cli.main import app

    text = README.read_text()
    for command in re.findall(r"\.venv/bin/firstline ([a-z]+(?: [a-z]+)?)", text):
        parts = command.split()
        result = CliRunner().invoke(app, [*parts[:2], "--help"] if parts[0] != "triage" else ["triage", "--help"])
        assert result.exit_code == 0, (command, result.output)
