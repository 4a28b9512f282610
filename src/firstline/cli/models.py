"""``firstline models``: the model catalog — list, choose under constraints, hosted vs self-hosted break-even."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from firstline.errors import FirstlineError

__all__ = ["models_app"]

models_app = typer.Typer(help="The model catalog: list, choose, breakeven.", no_args_is_help=True)

License = Annotated[str, typer.Option("--license", help="mit | apache-2.0 | permissive | open | any")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


def _catalog() -> Any:
    from firstline.cli.main import settings_or_exit
    from firstline.llm.catalog import load_catalog

    settings = settings_or_exit()
    return load_catalog(settings.data_dir / "models.yaml")


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


@models_app.command("list")
def models_list(license: License = "any", as_json: AsJson = False) -> None:
    """Models in the catalog (shipped + <data_dir>/models.yaml) with license, size, prices, benchmarks."""
    from firstline.cli.main import console, fail, print_json, printable
    from firstline.llm.catalog import LICENSE_FILTERS

    if license not in LICENSE_FILTERS:
        fail(FirstlineError(f"--license must be one of {', '.join(LICENSE_FILTERS)}"))
    try:
        models = [m for m in _catalog() if m.matches_license(license)]
    except FirstlineError as exc:
        fail(exc)
    if as_json:
        print_json([m.as_dict() for m in models])
        return
    table = Table("id", "license", "params (total/active B)", "$/1M in", "$/1M out", "benchmarks", "as of")
    for m in models:
        size = f"{m.params_total_b or '?'} / {m.params_active_b or '?'}"
        marks = printable(", ".join(f"{k} {v:g}" for k, v in m.benchmarks.items()) or "-")
        prices = (_money(m.price_in), _money(m.price_out))
        table.add_row(printable(m.id), printable(m.license), size, *prices, marks, printable(m.as_of))
    console.print(table)


Hourly = Annotated[str, typer.Option(help="USD per GPU-hour, a value or a range like 2..5")]
Throughput = Annotated[
    str,
    typer.Option(help="output tokens/s one 8xH100 node serves for a 70B-class active model, e.g. 2600..11800"),
]
TokensIn = Annotated[
    int | None, typer.Option(help="input tokens per ticket (default: measured by matchup, else 12000)")
]
TokensOut = Annotated[int | None, typer.Option(help="output tokens per ticket (default: measured, else 1500)")]
Matchup = Annotated[
    Path | None, typer.Option(help="a `firstline matchup` results.json (default: <data_dir>/matchup/results.json)")
]


def _tickets(models: Any, tokens_in: int | None, tokens_out: int | None, matchup: Path | None) -> tuple[Any, Any]:
    """The ticket profile (options, else measured, else the default) and what was measured."""
    from firstline.cli.main import settings_or_exit
    from firstline.llm.catalog import TicketProfile
    from firstline.llm.choice import Measured, measured_tokens

    path = matchup or settings_or_exit().data_dir / "matchup" / "results.json"
    measured = measured_tokens(path, models)
    if tokens_in is not None or tokens_out is not None:  # the buyer's own figures win over any measurement
        base = measured.overall or TicketProfile()
        given = TicketProfile(tokens_in or base.tokens_in, tokens_out or base.tokens_out)
        return given, Measured(given, {}, "given on the command line")
    return measured.overall or TicketProfile(), measured


@models_app.command("choose")
def models_choose(
    license: License = "any",
    residency: Annotated[str | None, typer.Option(help="data residency, e.g. eu")] = None,
    max_cost_per_1k_tickets: Annotated[float | None, typer.Option(help="USD budget per 1,000 tickets")] = None,
    tokens_in: TokensIn = None,
    tokens_out: TokensOut = None,
    tickets_per_month: Annotated[int, typer.Option(help="volume for self-hosting estimates")] = 100_000,
    gpu_hourly: Annotated[float, typer.Option(help="USD per GPU-hour for self-hosting estimates")] = 2.5,
    matchup: Matchup = None,
    as_json: AsJson = False,
) -> None:
    """Rank the catalog for Tier-1 support under license, residency and budget constraints, and say why."""
    from firstline.cli.main import console, fail, print_json, printable
    from firstline.llm.choice import choose
    from firstline.llm.selfhost import Hosting

    try:
        models = _catalog()
        ticket, measured = _tickets(models, tokens_in, tokens_out, matchup)
        hosting = Hosting(gpu_hourly_usd=_positive(gpu_hourly, "--gpu-hourly"))
        result = choose(
            models, license, residency, max_cost_per_1k_tickets, ticket, tickets_per_month, hosting, measured
        )
    except FirstlineError as exc:
        fail(exc)
    if as_json:
        print_json(result)
        return
    t = result["tokens_per_ticket"]
    console.print(
        f"Tokens per ticket: {t['in']:,} in, {t['out']:,} out over {t['calls']} calls ({printable(t['basis'])}). "
        f"Self-hosting estimates: {tickets_per_month:,} tickets a month, ${gpu_hourly:g}/GPU-hour.",
        highlight=False,
    )
    table = Table("rank", "model", "license", "$/1k tickets", "why")
    for r in result["rows"]:
        cost = _money(r["cost_per_1k_tickets_usd"]) + (" (est.)" if r["cost_estimated"] else "")
        table.add_row(str(r["rank"] or "-"), printable(r["id"]), printable(r["license"]), cost, printable(r["why"]))
    console.print(table)
    for left in result["left_out"]:
        console.print(f"Not ranked: {printable(left['id'])}, {printable(left['why'])}.", highlight=False)


@models_app.command("breakeven")
def models_breakeven(
    tickets_per_month: Annotated[int, typer.Option(help="tickets per month")],
    model: Annotated[str, typer.Option(help="catalog id of the hosted model to compare")] = "deepseek-v4-pro",
    self_host: Annotated[
        str | None, typer.Option(help="catalog id of the open model to self-host (default: the same model)")
    ] = None,
    tokens_in: TokensIn = None,
    tokens_out: TokensOut = None,
    gpu_hourly: Hourly = "2..5",
    output_tokens_per_node: Throughput = "2600..11800",
    setup_usd: Annotated[float, typer.Option(help="one-off cost to set up self-hosting, for the payback")] = 30_000,
    ops_monthly_usd: Annotated[float, typer.Option(help="monthly cost of people running the GPUs")] = 0,
    matchup: Matchup = None,
    plot: Annotated[Path | None, typer.Option(help="write a PNG: cost per 1k tickets against volume")] = None,
    as_json: AsJson = False,
) -> None:
    """Hosted against self-hosted: the monthly bills, the spend where self-hosting pays, payback, GPUs and nodes."""
    from firstline.cli.main import console, fail, print_json, printable
    from firstline.llm.selfhost import Hosting, breakeven

    try:
        models = {m.id: m for m in _catalog()}
        for name in (model, self_host):
            if name is not None and name not in models:
                raise FirstlineError(f"No model {name!r} in the catalog; see `firstline models list`.")
        if tickets_per_month <= 0:
            raise FirstlineError("--tickets-per-month must be positive.")
        ticket, _ = _tickets(tuple(models.values()), tokens_in, tokens_out, matchup)
        hosting = Hosting(setup_usd=_non_negative(setup_usd, "--setup-usd"),
                          ops_monthly_usd=_non_negative(ops_monthly_usd, "--ops-monthly-usd"))  # fmt: skip
        result = breakeven(
            models[model],
            tickets_per_month,
            ticket,
            models[self_host] if self_host else None,
            hosting,
            _range(gpu_hourly, "--gpu-hourly"),
            _range(output_tokens_per_node, "--output-tokens-per-node"),
        )
        if plot is not None:
            from firstline.llm.costplot import cost_chart

            first = result["scenarios"][0]  # the chart draws the first (cheapest, slowest) assumptions
            drawn = replace(hosting, gpu_hourly_usd=first["gpu_hourly_usd"],
                            ref_output_tokens_per_s=first["ref_output_tokens_per_s"])  # fmt: skip
            result["plot"] = str(cost_chart(list(models.values()), ticket, drawn, plot))
    except FirstlineError as exc:
        fail(exc)
    if as_json:
        print_json(result)
        return
    console.print(
        f"{printable(model)} hosted: {_money(result['hosted_cost_per_ticket_usd'] * 1000)} per 1k tickets -> "
        f"{_money(result['hosted_monthly_usd'])} a month for {tickets_per_month:,} tickets; peak "
        f"{result['peak_requests_per_s']} requests/s. Self-hosting {printable(result['self_hosted_model'])}; "
        f"tokens per ticket {ticket.tokens_in:,} in / {ticket.tokens_out:,} out.",
        highlight=False,
    )
    table = Table(
        "$/GPU-h", "out tok/s per node (70B)", "GPUs (nodes)", "self-hosted / month", "cheaper",
        "pays above (hosted spend)", "payback",
    )  # fmt: skip
    for s in result["scenarios"]:
        spend = s["breakeven_hosted_spend_usd"]
        table.add_row(
            _money(s["gpu_hourly_usd"]),
            f"{s['ref_output_tokens_per_s']:g}",
            f"{s['gpus']} ({s['nodes']})",
            _money(s["monthly_usd"]),
            s["cheaper"],
            f"{_money(spend)}/month ({s['breakeven_tickets_per_month']:,} tickets)" if spend else "never",
            "-" if s["payback_months"] is None else f"{s['payback_months']:g} months",
        )
    console.print(table)
    console.print(
        f"Estimate: FP8 weights on {hosting.gpu} GPUs, KV cache for {hosting.sequences_in_flight} sequences of "
        f"{hosting.context_tokens:,} tokens, {hosting.busy_hours_per_month:g} busy hours a month at "
        f"{hosting.peak_factor:g}x peak, setup {_money(hosting.setup_usd)}; see docs/llm.md.",
        highlight=False,
    )
    if plot is not None:
        console.print(f"Chart: {printable(result['plot'])}", highlight=False)


def _positive(value: float, option: str) -> float:
    if not value > 0:
        raise FirstlineError(f"{option} must be positive, not {value:g}")
    return value


def _non_negative(value: float, option: str) -> float:
    if not value >= 0:
        raise FirstlineError(f"{option} cannot be negative ({value:g})")
    return value


def _range(text: str, option: str) -> tuple[float, float]:
    try:
        low, _, high = text.partition("..")
        values = (float(low), float(high or low))
    except ValueError:
        raise FirstlineError(f"{option} takes a number or a range like 2..5, not {text!r}") from None
    if values[0] <= 0 or values[1] < values[0]:
        raise FirstlineError(f"{option} needs positive numbers, low..high, not {text!r}")
    return values
