"""The self-hosting cost model, the buyer's break-even questions and the ranking, against hand-computed cases."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firstline.cli.main import app
from firstline.errors import ConfigError
from firstline.llm.catalog import ModelInfo, TicketProfile, load_catalog
from firstline.llm.choice import Measured, choose, measured_tokens
from firstline.llm.selfhost import Hosting, breakeven, replica, self_hosted_monthly

TICKET = TicketProfile(12_000, 1_500, 6)  # 2,250 tokens a call


def model(id: str, total: float | None, active: float | None, **more: object) -> ModelInfo:
    fields: dict[str, object] = dict(
        id=id, name=id, vendor="v", license="apache-2.0", open_weights=True, params_total_b=total,
        params_active_b=active, context_tokens=None, price_in=None, price_out=None, price_cached_in=None,
        residency=("self-hosted",),
    )  # fmt: skip
    fields.update(more)
    return ModelInfo(**fields)  # type: ignore[arg-type]


MOE = model("moe-397b", 397, 17, price_in=0.4, price_out=1.2)  # hosted $0.0066 a ticket


def test_a_400b_moe_needs_one_node_and_serves_by_its_active_parameters() -> None:
    one = replica(MOE, TICKET, Hosting())
    # weights 397 GB (FP8) + KV 4.6 KiB x 17 x 8,192 x 32 tokens = 20.99 GB -> 418 GB / 72 GB = 5.8 -> 6 -> 8 GPUs
    assert one.weights_gb == 397 and one.kv_cache_gb == pytest.approx(20.9917, abs=1e-3) and one.gpus == 8
    # 2,600 output tokens/s x 8/8 of a node x 70/17, over 1,500 / 6 = 250 output tokens a call
    assert one.requests_per_s == pytest.approx(2600 * 70 / 17 / 250)


def test_sizes_round_to_tensor_parallel_groups_and_whole_nodes() -> None:
    small = replica(model("dense-8b", 8, 8), TICKET, Hosting())
    assert small.gpus == 1  # 8 GB + 9.9 GB of cache fit one GPU
    assert small.requests_per_s == pytest.approx(2600 / 8 * 70 / 8 / 250)
    mid = replica(model("dense-120b", 120, 120), TICKET, Hosting(context_tokens=4096, sequences_in_flight=16))
    # 120 GB + 4.6 x 120 x 65,536 KiB = 37.04 GB -> 157 / 72 = 2.2 -> 3 -> 4 GPUs
    assert mid.gpus == 4
    huge = replica(model("moe-1600b", 1600, 49), TICKET, Hosting())
    # 1,600 GB + 60.5 GB -> 23.06 -> 24 GPUs: three whole nodes, three nodes' worth of requests
    assert huge.gpus == 24 and huge.requests_per_s == pytest.approx(2600 * 3 * 70 / 49 / 250)
    bf16 = replica(model("dense-8b", 8, 8), TICKET, Hosting(bytes_per_param=2.0))
    assert bf16.weights_gb == 16


def test_the_monthly_bill_follows_the_peak_hour() -> None:
    bill = self_hosted_monthly(MOE, 200_000, TICKET, Hosting())
    # 200,000 x 6 calls / (220 h x 3,600 s) x 3 = 4.545 req/s: one replica of 8 GPUs, all month
    assert bill["peak_requests_per_s"] == pytest.approx(4.545, abs=1e-3)
    assert (bill["replicas"], bill["gpus"], bill["nodes"]) == (1, 8, 1)
    assert bill["monthly_usd"] == 8 * 2.5 * 730 == 14_600
    assert bill["cost_per_1k_tickets_usd"] == 73.0
    busy = self_hosted_monthly(MOE, 3_000_000, TICKET, Hosting())
    peak = 3_000_000 * 6 / 792_000 * 3  # 68.2 req/s over 42.8 per replica
    assert busy["replicas"] == math.ceil(peak / (2600 * 70 / 17 / 250)) == 2
    assert (busy["gpus"], busy["nodes"], busy["monthly_usd"]) == (16, 2, 29_200)
    staffed = self_hosted_monthly(MOE, 200_000, TICKET, Hosting(ops_monthly_usd=5_000))
    assert staffed["monthly_usd"] == 19_600


FAST = Hosting(ref_output_tokens_per_s=11_800)  # SGLang-class serving: 194.4 requests/s a replica


def test_breakeven_answers_the_spend_threshold_and_the_payback() -> None:
    result = breakeven(MOE, 5_000_000, TICKET, hosting=replace(FAST, setup_usd=30_000))
    (s,) = result["scenarios"]
    assert result["hosted_monthly_usd"] == pytest.approx(33_000)  # 5M x $0.0066
    assert s["monthly_usd"] == 14_600 and s["cheaper"] == "self-hosted"
    assert s["monthly_saving_usd"] == pytest.approx(18_400)
    assert s["payback_months"] == 1.6  # 30,000 / 18,400
    # one replica's month is $14,600: hosted costs as much at 14,600 / 0.0066 = 2,212,121.2 tickets
    assert s["breakeven_hosted_spend_usd"] == 14_600 and s["breakeven_tickets_per_month"] == 2_212_122
    staffed = breakeven(MOE, 5_000_000, TICKET, hosting=replace(FAST, ops_monthly_usd=5_000))["scenarios"][0]
    assert staffed["breakeven_hosted_spend_usd"] == 19_600 and staffed["breakeven_tickets_per_month"] == 2_969_697
    small = breakeven(MOE, 100_000, TICKET, hosting=FAST)["scenarios"][0]
    assert small["cheaper"] == "hosted" and small["payback_months"] is None  # $660 hosted against $14,600


def test_breakeven_never_when_a_replica_costs_more_than_what_it_carries_would_cost_hosted() -> None:
    # at 2,600 tokens/s a replica carries 42.8 x 792,000 / 18 = 1.88M tickets a month: $12,436 hosted at
    # $0.0066 a ticket, less than the replica's $14,600
    s = breakeven(MOE, 1_000_000, TICKET)["scenarios"][0]
    assert s["breakeven_tickets_per_month"] is None and s["breakeven_hosted_spend_usd"] is None
    cheap = replace(MOE, price_in=0.01, price_out=0.01)  # $0.000135 a ticket: never, even at SGLang speed
    assert breakeven(cheap, 1_000_000, TICKET, hosting=FAST)["scenarios"][0]["breakeven_hosted_spend_usd"] is None


def test_breakeven_ranges_and_a_closed_model_against_an_open_one() -> None:
    closed = replace(MOE, id="closed", open_weights=False, params_total_b=None, price_in=3.0, price_out=15.0)
    with pytest.raises(ConfigError, match="no open weights"):
        breakeven(closed, 100_000, TICKET)
    result = breakeven(
        closed, 100_000, TICKET, self_hosted=MOE, gpu_hourly=(2.0, 5.0), output_tokens_per_s=(2600, 11800)
    )
    assert [(s["gpu_hourly_usd"], s["ref_output_tokens_per_s"]) for s in result["scenarios"]] == [
        (2.0, 2600), (2.0, 11800), (5.0, 2600), (5.0, 11800)
    ]  # fmt: skip
    assert result["scenarios"][0]["monthly_usd"] == 8 * 2.0 * 730
    assert result["self_hosted_model"] == "moe-397b" and result["hosted_monthly_usd"] == pytest.approx(5_850)
    with pytest.raises(ConfigError, match="no published price"):
        breakeven(model("unpriced", 10, 10), 1000, TICKET)


def test_choose_ranks_only_real_candidates_and_says_how_each_cost_was_found() -> None:
    models = (
        model("tiny-test", 0.135, 0.135, price_in=0.0, price_out=0.0, testing=True),
        model("no-evidence", 8, 8, price_in=0.1, price_out=0.1),
        model("eu-hosted", 675, 41, price_in=0.5, price_out=1.5, residency=("eu", "self-hosted"),
              benchmarks={"gpqa_diamond": 80.0}),
        model("self-only", 397, 17, benchmarks={"gpqa_diamond": 80.0}),
        model("cn-hosted", 1600, 49, price_in=0.55, price_out=0.87, residency=("cn",),
              benchmarks={"gpqa_diamond": 90.0}),
    )  # fmt: skip
    result = choose(models, "permissive", "eu", None, TICKET, tickets_per_month=200_000)
    rows = {r["id"]: r for r in result["rows"]}
    assert "tiny-test" not in rows and result["left_out"][0]["id"] == "tiny-test"
    # EU-hosted: its price, (12,000 x 0.5 + 1,500 x 1.5) / 1M x 1,000 = $8.25
    assert rows["eu-hosted"]["cost_per_1k_tickets_usd"] == 8.25 and not rows["eu-hosted"]["cost_estimated"]
    # not hosted in the EU: estimated self-hosted, never the CN price
    assert rows["self-only"]["cost_per_1k_tickets_usd"] == 73.0 and rows["self-only"]["cost_estimated"]
    assert rows["cn-hosted"]["cost_estimated"] and rows["cn-hosted"]["cost_per_1k_tickets_usd"] == 24 * 2.5 * 730 / 200
    assert [r["id"] for r in result["rows"]] == ["cn-hosted", "eu-hosted", "self-only", "no-evidence"]
    assert "tied with eu-hosted on gpqa_diamond 80" in rows["self-only"]["why"]
    assert "no published quality figure" in rows["no-evidence"]["why"]
    assert result["tokens_per_ticket"]["basis"].startswith("Firstline's default")
    within = choose(models, "permissive", "eu", 20.0, TICKET, tickets_per_month=200_000)["rows"]
    assert [r["id"] for r in within if r["eligible"]] == ["eu-hosted", "no-evidence"]
    assert "over the $20 budget" in next(r["why"] for r in within if r["id"] == "self-only")


def test_measured_tokens_from_a_matchup_are_used(tmp_path: Path) -> None:
    models = (model("qwen", 397, 17, price_in=0.4, price_out=1.2), model("smol", 0.1, 0.1, testing=True))
    results = tmp_path / "results.json"
    results.write_text(json.dumps({
        "date": "2026-12-01",
        "catalog_ids": {"local-qwen": "qwen", "smollm2": "smol"},
        "rows": [
            {"name": "offline", "tokens_in_per_ticket": 0, "tokens_out_per_ticket": 0},
            {"name": "smollm2", "tokens_in_per_ticket": 14_000, "tokens_out_per_ticket": 60},
            {"name": "local-qwen", "tokens_in_per_ticket": 20_000.4, "tokens_out_per_ticket": 900},
        ],
    }))  # fmt: skip
    measured = measured_tokens(results, models)
    assert measured.overall == TicketProfile(20_000, 900) and set(measured.per_model) == {"qwen"}
    result = choose(models, measured=measured)
    assert result["tokens_per_ticket"]["in"] == 20_000 and "2026-12-01" in result["tokens_per_ticket"]["basis"]
    assert result["rows"][0]["cost_per_1k_tickets_usd"] == round((20_000 * 0.4 + 900 * 1.2) / 1000, 2)
    assert measured_tokens(tmp_path / "none.json", models) == Measured(None)
    results.write_text("{not json")
    with pytest.raises(ConfigError, match="not a `firstline matchup` results file"):
        measured_tokens(results, models)


def test_every_shipped_figure_names_its_source_and_the_test_model_is_flagged() -> None:
    catalog = load_catalog()
    for m in catalog:
        assert m.unsourced() == [], f"{m.id}: {m.unsourced()} have no source"
        assert all(s.publisher and s.title and s.date for s in m.sources), m.id
    assert [m.id for m in catalog if m.testing] == ["smollm2-135m-instruct"]


def test_choose_for_permissive_eu_lists_mistral_and_qwen_with_costs_and_never_the_test_model() -> None:
    result = choose(load_catalog(), "permissive", "eu", 20.0)
    rows = {r["id"]: r for r in result["rows"]}
    assert "smollm2-135m-instruct" not in rows
    for wanted in ("mistral-large-3", "qwen-3.5"):
        assert rows[wanted]["cost_per_1k_tickets_usd"] is not None, rows[wanted]


runner = CliRunner()


def test_breakeven_command_reports_the_buyers_questions_and_draws_the_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from firstline.cli import main as cli_main

    monkeypatch.setattr(cli_main.console, "width", 240)  # the table's headers on one line, whatever the terminal
    chart = tmp_path / "cost.png"
    done = runner.invoke(
        app,
        ["models", "breakeven", "--tickets-per-month", "3000000", "--model", "mistral-large-3", "--gpu-hourly", "2..5",
         "--setup-usd", "30000", "--plot", str(chart), "--json"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert {"breakeven_hosted_spend_usd", "payback_months", "gpus", "nodes"} <= set(result["scenarios"][0])
    assert result["peak_requests_per_s"] > 0 and result["assumptions"]["setup_usd"] == 30_000
    data = chart.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    table = runner.invoke(app, ["models", "breakeven", "--tickets-per-month", "3000000", "--model", "mistral-large-3"])
    assert table.exit_code == 0 and "pays above" in table.stdout and "payback" in table.stdout
    bad = runner.invoke(app, ["models", "breakeven", "--tickets-per-month", "10", "--setup-usd", "-5"])
    assert bad.exit_code == 2 and "cannot be negative" in bad.stderr
    closed = runner.invoke(app, ["models", "breakeven", "--tickets-per-month", "10", "--model", "claude-sonnet-4.5"])
    assert closed.exit_code == 2 and "--self-host" in closed.stderr
