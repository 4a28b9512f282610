"""``firstline models``: the model catalog — list, choose under constraints, hosted vs self-hosted break-even."""

from __future__ import annotations

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


@models_app.command("choose")
def models_choose(
    license: License = "any",
    residency: Annotated[str | None, typer.Option(help="data residency, e.g. eu")] = None,
    max_cost_per_1k_tickets: Annotated[float | None, typer.Option(help="USD budget per 1,000 tickets")] = None,
    tokens_in: Annotated[int, typer.Option(help="input tokens per ticket (all model calls)")] = 12_000,
    tokens_out: Annotated[int, typer.Option(help="output tokens per ticket")] = 1_500,
    as_json: AsJson = False,
) -> None:
    """Rank the catalog for Tier-1 support under license, residency and budget constraints, and say why."""
    from firstline.cli.main import console, fail, print_json, printable
    from firstline.llm.catalog import TicketProfile, choose

    try:
        rows = choose(_catalog(), license, residency, max_cost_per_1k_tickets, TicketProfile(tokens_in, tokens_out))
    except FirstlineError as exc:
        fail(exc)
    if as_json:
        print_json(rows)
        return
    table = Table("rank", "model", "license", "$/1k tickets", "why")
    for r in rows:
        cost = _money(r["cost_per_1k_tickets_usd"])
        table.add_row(str(r["rank"] or "-"), printable(r["id"]), printable(r["license"]), cost, printable(r["why"]))
    console.print(table)


@models_app.command("breakeven")
def models_breakeven(
    tickets_per_month: Annotated[int, typer.Option(help="tickets per month")],
    model: Annotated[str, typer.Option(help="catalog id of the hosted model to compare")] = "deepseek-v4-pro",
    tokens_in: Annotated[int, typer.Option(help="input tokens per ticket")] = 12_000,
    tokens_out: Annotated[int, typer.Option(help="output tokens per ticket")] = 1_500,
    gpu_hourly: Annotated[str, typer.Option(help="USD per GPU-hour, a value or a range like 2..5")] = "2..5",
    req_per_sec_per_node: Annotated[str, typer.Option(help="requests/s one node serves, e.g. 80..200")] = "80..200",
    as_json: AsJson = False,
) -> None:
    """Hosted monthly cost against self-hosting on 8xH100 nodes, and the break-even ticket volume."""
    from firstline.cli.main import console, fail, print_json, printable
    from firstline.llm.catalog import TicketProfile, breakeven

    try:
        models = {m.id: m for m in _catalog()}
        if model not in models:
            raise FirstlineError(f"No model {model!r} in the catalog; see `firstline models list`.")
        if tickets_per_month <= 0:
            raise FirstlineError("--tickets-per-month must be positive.")
        result = breakeven(
            models[model],
            tickets_per_month,
            TicketProfile(tokens_in, tokens_out),
            _range(gpu_hourly, "--gpu-hourly"),
            _range(req_per_sec_per_node, "--req-per-sec-per-node"),
        )
    except FirstlineError as exc:
        fail(exc)
    if as_json:
        print_json(result)
        return
    console.print(
        f"{printable(model)}: {_money(result['hosted_cost_per_ticket_usd'] * 1000)} per 1k tickets hosted -> "
        f"{_money(result['hosted_monthly_usd'])} a month for {tickets_per_month:,} tickets "
        f"(peak {result['peak_requests_per_sec']} req/s)",
        highlight=False,
    )
    table = Table("$/GPU-h", "req/s per node", "nodes", "self-hosted / month", "break-even tickets / month", "cheaper")
    for s, cheaper in zip(result["self_hosted"], result["cheaper"], strict=True):
        table.add_row(
            _money(s["gpu_hourly_usd"]),
            f"{s['req_per_sec_per_node']:g}",
            str(s["nodes"]),
            _money(s["self_hosted_monthly_usd"]),
            f"{s['breakeven_tickets_per_month']:,}" if s["breakeven_tickets_per_month"] else "-",
            cheaper,
        )
    console.print(table)


def _range(text: str, option: str) -> tuple[float, float]:
    try:
        low, _, high = text.partition("..")
        values = (float(low), float(high or low))
    except ValueError:
        raise FirstlineError(f"{option} takes a number or a range like 2..5, not {text!r}") from None
    if values[0] <= 0 or values[1] < values[0]:
        raise FirstlineError(f"{option} needs positive numbers, low..high, not {text!r}")
    return values
