"""The model catalog and `firstline models list | choose | breakeven`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firstline.cli.main import app
from firstline.llm.catalog import load_catalog

runner = CliRunner()
CATALOG = {m.id: m for m in load_catalog()}


def test_the_shipped_catalog_has_the_figures_and_sources() -> None:
    pro = CATALOG["deepseek-v4-pro"]
    assert (pro.license, pro.params_total_b, pro.params_active_b, pro.price_in, pro.price_out) == (
        "mit",
        1600,
        49,
        1.74,
        3.48,
    )
    assert pro.benchmarks == {"mmlu_pro": 87.5, "gpqa_diamond": 90.1, "swe_bench_verified": 80.6}
    assert CATALOG["qwen-3.5"].license == "apache-2.0" and CATALOG["qwen-3.5"].benchmarks["gpqa_diamond"] == 88.4
    mistral = CATALOG["mistral-large-3"]
    assert "eu" in mistral.residency and (mistral.price_in, mistral.price_out) == (0.5, 1.5)
    assert CATALOG["deepseek-v4-flash"].price_out == 0.28 and CATALOG["claude-sonnet-4.5"].price_out == 15.0
    assert all(m.source and m.as_of and m.sources for m in CATALOG.values())
    assert CATALOG["qwen-3.5"].missing() == ["price_in", "price_out", "price_cached_in"]  # no source gave them


def test_cost_per_ticket() -> None:
    assert CATALOG["deepseek-v4-pro"].cost(12_000, 1_500) == pytest.approx((12_000 * 1.74 + 1_500 * 3.48) / 1e6)
    assert CATALOG["claude-sonnet-4.5"].cost(1_000_000, 0, cached_in=1_000_000) == pytest.approx(0.3)  # cache reads
    assert CATALOG["llama-4-maverick"].cost(1_000_000, 0, cached_in=1_000_000) == pytest.approx(0.24)  # no cache price
    assert CATALOG["qwen-3.5"].cost(1, 1) is None  # no published price


def test_a_user_catalog_adds_and_overrides(tmp_path: Path) -> None:
    extra = tmp_path / "models.yaml"
    extra.write_text(
        "- {id: qwen-3.5, name: Qwen 3.5 (our contract), license: apache-2.0, open_weights: true, "
        "price_in: 0.2, price_out: 0.6, residency: [eu]}\n"
        "- {id: our-llm, name: Our fine-tune, license: mit, open_weights: true, price_in: 0, price_out: 0}\n"
    )
    models = {m.id: m for m in load_catalog(extra)}
    assert models["qwen-3.5"].price_in == 0.2 and "our-llm" in models and "deepseek-v4-pro" in models


def test_models_commands() -> None:
    listed = runner.invoke(app, ["models", "list", "--license", "mit", "--json"])
    assert listed.exit_code == 0 and {m["license"] for m in json.loads(listed.stdout)} == {"mit"}
    chosen = runner.invoke(app, ["models", "choose", "--license", "apache-2.0", "--json"])
    assert chosen.exit_code == 0
    ranked = json.loads(chosen.stdout)["rows"]
    assert ranked[0]["id"] == "qwen-3.5" and ranked[0]["cost_estimated"]  # best figure; no price: self-host estimate
    even = runner.invoke(app, ["models", "breakeven", "--tickets-per-month", "50000", "--json"])
    assert even.exit_code == 0 and json.loads(even.stdout)["hosted_monthly_usd"] == pytest.approx(1_305.0, abs=0.01)
    assert runner.invoke(app, ["models", "list", "--license", "gpl"]).exit_code == 2
    bad = runner.invoke(app, ["models", "breakeven", "--tickets-per-month", "10", "--gpu-hourly", "five"])
    assert bad.exit_code == 2 and "range like 2..5" in bad.stderr
