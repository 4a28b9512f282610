"""`firstline matchup`: the offline baseline against a model served over the OpenAI wire format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firstline.cli.main import app
from firstline.testing.openai_server import FakeOpenAIServer, Turn


def test_matchup_scores_engines_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    shipped = Path(__file__).resolve().parents[2] / "src" / "firstline" / "evals" / "scenarios"
    for name in ("triage-greeting.yaml", "security-unlock-happy.yaml"):
        (suite / name).write_text((shipped / name).read_text())
    # A model that only ever chats: it greets fine but never unlocks anyone.
    with FakeOpenAIServer(default=Turn(text="Hello! How can I help?", usage=(300, 10, 0))) as server:
        config = tmp_path / "matchup.toml"
        config.write_text(
            f'[llm.endpoints.chatty]\npreset = "llamacpp"\nbase_url = "{server.url}"\nmodel = "chatty"\n'
            'catalog_id = "claude-sonnet-4.5"\n'
        )
        monkeypatch.setenv("FIRSTLINE_CONFIG", str(config))
        result = CliRunner().invoke(
            app,
            [
                "matchup",
                "--models",
                "chatty",
                "--scenarios",
                str(suite),
                "--repeats",
                "2",
                "--json",
                "--out",
                str(tmp_path / "out"),
            ],
        )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {r["name"]: r for r in data["rows"]}
    assert rows["offline"]["task_success"] == 1.0 and rows["offline"]["pass_k"] == 1.0
    chatty = rows["chatty"]
    assert chatty["runs"] == 4 and chatty["passed"] == 2 and chatty["pass_k"] == 0.5  # the greeting only
    assert chatty["license"] == "proprietary" and chatty["ttft_p50_ms"] is not None
    assert (
        chatty["tokens_in_per_ticket"] >= 150
    )  # the greeting costs no model call: the desk answers it and chatty["cost_per_1k_tickets_usd"] > 0
    assert "security-unlock-happy" in chatty["failures"]
    assert (tmp_path / "out" / "matchup.png").stat().st_size > 1000
    assert json.loads((tmp_path / "out" / "results.json").read_text())["rows"][0]["name"] == "offline"
    # The measurement is kept where `models choose` reads tokens per ticket, under the endpoint's catalog id.
    kept = json.loads((tmp_path / "data" / "matchup" / "results.json").read_text())
    assert kept["catalog_ids"] == {"chatty": "claude-sonnet-4.5"} and kept["date"]
    chosen = CliRunner().invoke(app, ["models", "choose", "--json"])
    assert chosen.exit_code == 0, chosen.output
    basis = json.loads(chosen.stdout)["tokens_per_ticket"]
    assert "measured by `firstline matchup`" in basis["basis"]
    assert basis["in"] == round(chatty["tokens_in_per_ticket"])
