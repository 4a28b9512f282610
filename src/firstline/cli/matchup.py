"""``firstline matchup``: run the scenario suite through configured models and the offline engine, side by side."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from firstline.errors import ConfigError, FirstlineError

__all__ = ["matchup"]


def matchup(
    models: Annotated[
        str,
        typer.Option("--models", help="endpoint names from [llm.endpoints], comma-separated; 'offline' alone is fine"),
    ] = "offline",
    scenarios: Annotated[
        Path | None, typer.Option(help="a folder of scenario YAML (default: the shipped suite)")
    ] = None,
    repeats: Annotated[int, typer.Option(min=1, max=20, help="runs per scenario, for pass^k")] = 1,
    limit: Annotated[int | None, typer.Option(min=1, help="only the first N scenarios (by id)")] = None,
    out: Annotated[Path | None, typer.Option(help="write results.json and matchup.png here")] = None,
    first_token_s: Annotated[float, typer.Option(help="first-token budget per model call")] = 60.0,
    turn_s: Annotated[float, typer.Option(help="budget per model call")] = 300.0,
    max_turns: Annotated[int, typer.Option(min=1, max=20, help="model calls allowed per user turn")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    prompts: Annotated[
        bool,
        typer.Option(
            "--prompts",
            help="instead: meter the prompts a model making the offline engine's calls is sent, and report tokens "
            "and cost per 1,000 tickets for every catalog model (no endpoint needed)",
        ),
    ] = False,
    layout: Annotated[
        str, typer.Option(help="with --prompts: how the server lays out tools, json (Qwen, Mistral) or signatures")
    ] = "json",
) -> None:
    """Score each model on the helpdesk scenarios: task success, pass^k, latency, tokens and cost, license."""
    if prompts:
        _prompt_report(scenarios, limit, out, max_turns, as_json, layout)
        return
    from firstline.cli.main import console, err, fail, print_json, printable, settings_or_exit
    from firstline.directory import load_org
    from firstline.evals.matchup import Contender, chart, run_matchup
    from firstline.evals.scenarios import load_scenarios
    from firstline.helpdesk.offline import OfflineEngine
    from firstline.llm.catalog import load_catalog
    from firstline.llm.fallback import Budget, FallbackChain
    from firstline.runtime import Runtime, build_model, demo_org, demo_runbooks

    settings = settings_or_exit()
    names = [n.strip() for n in models.split(",") if n.strip()]
    try:
        suite = load_scenarios(scenarios)[:limit] if limit else load_scenarios(scenarios)
        if not suite:
            raise ConfigError(f"No scenarios found in {scenarios}")
        catalog = {m.id: m for m in load_catalog(settings.data_dir / "models.yaml")}
        catalog_ids: dict[str, str] = {}
        with Runtime(settings) as runtime:
            if runtime.knowledge.stats().chunks == 0:
                runtime.knowledge.ingest([demo_runbooks()])
            contenders = [Contender("offline", OfflineEngine(runtime.triage), "apache-2.0 (Firstline)")]
            for name in names:
                if name == "offline":
                    continue
                endpoint = settings.llm.endpoints.get(name)
                if endpoint is None:
                    known = ", ".join(settings.llm.endpoints) or "none configured"
                    raise ConfigError(f"No endpoint {name!r} in [llm.endpoints] (known: {known}).")
                info = catalog.get(endpoint.catalog_id or "")
                if info is not None:
                    catalog_ids[name] = info.id
                model = build_model(name, endpoint, catalog, runtime.model_io)
                # No last resort: a failing call fails the turn, so the row measures this model alone.
                engine = FallbackChain([model], budget=Budget(first_token_s, turn_s), name=name)
                contenders.append(Contender(name, engine, info.license if info else "unknown"))
            rows = asyncio.run(
                run_matchup(
                    contenders,
                    suite,
                    org=load_org(demo_org()),
                    triage=runtime.triage,
                    knowledge=runtime.knowledge,
                    repeats=repeats,
                    max_turns=max_turns,
                    progress=None if as_json else lambda line: err.print(f"[dim]{printable(line)}[/]", highlight=False),
                )
            )
    except FirstlineError as exc:
        fail(exc)
    data = {
        "scenarios": len(suite),
        "repeats": repeats,
        "date": datetime.now(UTC).date().isoformat(),
        "catalog_ids": catalog_ids,
        "rows": [r.as_dict() for r in rows],
    }
    # The latest measurement is where `firstline models choose` and `breakeven` read tokens per ticket.
    kept = settings.data_dir / "matchup"
    kept.mkdir(parents=True, exist_ok=True)
    (kept / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    chart(rows, kept / "matchup.png")
    if out is not None and out.resolve() != kept.resolve():  # the chart is drawn once, then copied
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kept / "results.json", out / "results.json")
        shutil.copyfile(kept / "matchup.png", out / "matchup.png")
    if as_json:
        print_json(data)
        return
    table = Table(
        "engine", "license", "success", "pass^k", "TTFT p50/p95 ms", "turn p50/p95 ms", "tokens in/out per ticket",
        "$ / 1k tickets",
    )  # fmt: skip
    for r in rows:
        ttft = "-" if r.ttft_p50_ms is None else f"{r.ttft_p50_ms:g} / {r.ttft_p95_ms:g}"
        table.add_row(
            printable(r.name),
            printable(r.license),
            f"{r.task_success:.0%} ({r.passed}/{r.runs})",
            f"{r.pass_k:.0%}",
            ttft,
            f"{r.turn_p50_ms:g} / {r.turn_p95_ms:g}",
            f"{r.tokens_in_per_ticket:g} / {r.tokens_out_per_ticket:g}",
            f"{r.cost_per_1k_tickets_usd:.2f}",
        )
    console.print(table)
    if out is not None:
        console.print(f"wrote {out / 'results.json'} and {out / 'matchup.png'}")


def _prompt_report(
    scenarios: Path | None, limit: int | None, out: Path | None, max_turns: int, as_json: bool, layout: str
) -> None:
    """``matchup --prompts``: the scenario suite through the prompt meter, one row per catalog model."""
    from firstline.cli.main import console, err, fail, print_json, printable, settings_or_exit
    from firstline.directory import load_org
    from firstline.evals.prompt_tokens import LAYOUTS, measure, meter_suite, summary
    from firstline.evals.scenarios import load_scenarios
    from firstline.llm.catalog import load_catalog
    from firstline.runtime import Runtime, demo_org, demo_runbooks

    settings = settings_or_exit()
    try:
        if layout not in LAYOUTS:
            raise ConfigError(f"--layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
        suite = load_scenarios(scenarios)[:limit] if limit else load_scenarios(scenarios)
        if not suite:
            raise ConfigError(f"No scenarios found in {scenarios}")
        catalog = load_catalog(settings.data_dir / "models.yaml")
        with Runtime(settings) as runtime:
            if runtime.knowledge.stats().chunks == 0:
                runtime.knowledge.ingest([demo_runbooks()])
            tickets, failed = asyncio.run(
                meter_suite(
                    suite,
                    org=load_org(demo_org()),
                    triage=runtime.triage,
                    knowledge=runtime.knowledge,
                    max_turns=max_turns,
                    progress=None if as_json else lambda line: err.print(f"[dim]{printable(line)}[/]", highlight=False),
                )
            )
        rows = measure(tickets, catalog, layout=layout)
    except FirstlineError as exc:
        fail(exc)
    data = {**summary(tickets, failed), "layout": layout, "rows": [r.as_dict() for r in rows]}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "prompt_tokens.json").write_text(json.dumps(data, indent=2) + "\n")
    if as_json:
        print_json(data)
        return
    table = Table(
        "model", "tokenizer", "prompt tokens / ticket (p95, max)", "per call", "cached / ticket",
        "completion / ticket", "$ / 1k tickets",
    )  # fmt: skip
    for r in rows:
        cost = "-" if r.cost_per_1k_tickets_usd is None else f"{r.cost_per_1k_tickets_usd:.2f}"
        table.add_row(
            printable(r.model),
            printable(r.tokenizer),
            f"{r.prompt_tokens_per_ticket:,.0f} ({r.prompt_tokens_p95:,.0f}, {r.prompt_tokens_max:,.0f})",
            f"{r.prompt_tokens_per_call:,.0f}",
            f"{r.cached_tokens_per_ticket:,.0f}",
            f"{r.completion_tokens_per_ticket:,.0f}",
            cost,
        )
    console.print(table)
    console.print(
        f"{data['tickets']} tickets (one per scenario), {data['calls_per_ticket']} model calls per ticket as the "
        f"offline engine makes them; tools laid out as {layout}. Method: docs/llm.md, 'Prompt size and cost'."
    )
    if failed:
        console.print(f"[yellow]scenarios that missed their end state under the meter: {', '.join(failed)}[/]")
