"""The model catalog and `firstline models list | choose | breakeven`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firstline.cli.main import app
from firstline.llm.catalog import TicketProfile, breakeven, choose, load_catalog

runner = CliRunner()
CATALOG = {m.id: m for m in load_catalog()}


def test_the_shipped_catalog_has_the_figures_and_sources() -> None:
    pro = CATALOG["deepseek-v4-pro"]
    assert (pro.license, pro.params_total_b, pro.params_active_b, pro.price_in, pro.price_out) == (
        "mit",
        1600,
        49,
        0.55,
        0.87,
    )
    assert pro.benchmarks == {"mmlu_pro": 87.5, "gpqa_diamond": 90.1, "swe_bench_verified": 80.6}
    assert CATALOG["qwen-3.5"].license == "apache-2.0" and CATALOG["qwen-3.5"].benchmarks["gpqa_diamond"] == 88.4
    assert "eu" in CATALOG["mistral-large-3"].residency and CATALOG["claude-sonnet-4.5"].price_out == 15.0
    assert all(m.source and m.as_of for m in CATALOG.values())


def test_cost_per_ticket() -> None:
    assert CATALOG["deepseek-v4-pro"].cost(12_000, 1_500) == pytest.approx((12_000 * 0.55 + 1_500 * 0.87) / 1e6)
    assert CATALOG["claude-sonnet-4.5"].cost(1_000_000, 0, cached_in=1_000_000) == pytest.approx(0.3)  # cache reads
    assert CATALOG["llama-4-maverick"].cost(1_000_000, 0, cached_in=1_000_000) == pytest.approx(0.15)  # no cache price
    assert CATALOG["deepseek-v4-flash"].cost(1, 1) is None  # no published output price


def test_choose_explains_every_exclusion() -> None:
    rows = choose(tuple(CATALOG.values()), "permissive", "eu", 20.0)
    eligible = [r["id"] for r in rows if r["eligible"]]
    assert eligible[:2] == ["deepseek-v4-pro", "qwen-3.5"]  # best published figure first, within budget
    claude = next(r for r in rows if r["id"] == "claude-sonnet-4.5")
    assert not claude["eligible"] and "not permissive" in claude["why"] and "over the $20 budget" in claude["why"]
    assert "no published price" in next(r for r in rows if r["id"] == "mistral-large-3")["why"]


def test_breakeven_accounts_for_the_nodes_the_volume_needs() -> None:
    pro = CATALOG["deepseek-v4-pro"]
    result = breakeven(pro, 200_000, TicketProfile(), gpu_hourly=(2.0, 2.0), req_per_sec_per_node=(80.0, 80.0))
    first = result["self_hosted"][0]
    assert first["self_hosted_monthly_usd"] == 8 * 2.0 * 730 and first["nodes"] == 1
    assert first["breakeven_tickets_per_month"] == math.ceil(11_680 / pro.cost(12_000, 1_500))  # type: ignore[operator]
    tiny = breakeven(pro, 200_000, TicketProfile(), gpu_hourly=(2.0, 2.0), req_per_sec_per_node=(1.0, 1.0))
    assert tiny["self_hosted"][0]["breakeven_tickets_per_month"] is None  # a node serves too few tickets to pay off
    busy = breakeven(pro, 50_000_000, TicketProfile(), gpu_hourly=(2.0, 2.0), req_per_sec_per_node=(80.0, 80.0))
    assert busy["self_hosted"][0]["nodes"] == math.ceil(busy["peak_requests_per_sec"] / 80) > 1
    assert busy["cheaper"][0] == "self-hosted"


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
    assert chosen.exit_code == 0 and json.loads(chosen.stdout)[0]["id"] == "qwen-3.5"
    even = runner.invoke(app, ["models", "breakeven", "--tickets-per-month", "50000", "--json"])
    assert even.exit_code == 0 and json.loads(even.stdout)["hosted_monthly_usd"] == pytest.approx(395.25, abs=0.01)
    assert runner.invoke(app, ["models", "list", "--license", "gpl"]).exit_code == 2
    bad = runner.invoke(app, ["models", "breakeven", "--tickets-per-month", "10", "--gpu-hourly", "five"])
    assert bad.exit_code == 2 and "range like 2..5" in bad.stderr
