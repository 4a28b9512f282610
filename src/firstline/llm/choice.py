"""Which model to run Firstline on: the catalog ranked under license, residency and budget, each choice explained.

Only real candidates are ranked: models the catalog flags ``testing`` (the tiny model Firstline's tests
run) are left out and listed as such. A model's cost per 1,000 tickets is its hosted price where it is
hosted in the wanted region, else (open weights) the self-hosting estimate of :mod:`firstline.llm.selfhost`
at the given monthly volume, marked as an estimate. Models with a published quality figure rank before
those without, which are marked; equal figures are broken by cost, and the tie is said.

Tokens per ticket: the figure ``firstline matchup`` measured (``<data_dir>/matchup/results.json``) when
there is one, else the stated default; the result says which.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firstline.errors import ConfigError
from firstline.llm.catalog import LICENSE_FILTERS, ModelInfo, TicketProfile
from firstline.llm.selfhost import DEFAULT_HOSTING, Hosting, self_hosted_monthly

__all__ = ["Measured", "choose", "measured_tokens"]

_TICKET = TicketProfile()


@dataclass(frozen=True)
class Measured:
    """Tokens per ticket measured by ``firstline matchup``: overall, and per catalog id where a row named one."""

    overall: TicketProfile | None
    per_model: dict[str, TicketProfile] = field(default_factory=dict)
    source: str = ""


def measured_tokens(path: Path, models: tuple[ModelInfo, ...]) -> Measured:
    """What a matchup's ``results.json`` measured (rows of the offline engine and of test models aside)."""
    if not path.exists():
        return Measured(None)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = list(data["rows"])
        ids: dict[str, str] = dict(data.get("catalog_ids") or {})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a `firstline matchup` results file ({exc})") from exc
    testing = {m.id for m in models if m.testing}
    per_model: dict[str, TicketProfile] = {}
    real: list[TicketProfile] = []
    for row in rows:
        name = str(row.get("name", ""))
        model_id = ids.get(name, name)
        tokens_in, tokens_out = (
            float(row.get("tokens_in_per_ticket") or 0),
            float(row.get("tokens_out_per_ticket") or 0),
        )
        if name == "offline" or model_id in testing or tokens_in <= 0:
            continue
        profile = TicketProfile(round(tokens_in), round(tokens_out))
        per_model[model_id] = profile
        real.append(profile)
    overall = None
    if real:
        overall = TicketProfile(
            round(statistics.fmean(p.tokens_in for p in real)), round(statistics.fmean(p.tokens_out for p in real))
        )
    when = f" on {data['date']}" if data.get("date") else ""
    return Measured(overall, per_model, f"measured by `firstline matchup`{when} ({path})" if real else "")


def choose(
    models: tuple[ModelInfo, ...],
    license: str = "any",
    residency: str | None = None,
    max_cost_per_1k_tickets: float | None = None,
    ticket: TicketProfile = _TICKET,
    tickets_per_month: int = 100_000,
    hosting: Hosting = DEFAULT_HOSTING,
    measured: Measured = Measured(None),
) -> dict[str, Any]:
    """The ranking: ``rows`` (eligible first, each with ``why``), the tokens-per-ticket basis and what was left out."""
    if license not in LICENSE_FILTERS:
        raise ConfigError(f"--license must be one of {', '.join(LICENSE_FILTERS)}, not {license!r}")
    if tickets_per_month <= 0:
        raise ConfigError("--tickets-per-month must be positive.")
    base = measured.overall or ticket
    rows = [
        _row(m, license, residency, max_cost_per_1k_tickets, measured.per_model.get(m.id, base), tickets_per_month,
             hosting, m.id in measured.per_model)
        for m in models
        if not m.testing
    ]  # fmt: skip
    rows.sort(
        key=lambda r: (
            not r["eligible"],
            r["quality"] is None,
            -(r["quality"]["score"] if r["quality"] else 0.0),
            r["cost_per_1k_tickets_usd"] if r["cost_per_1k_tickets_usd"] is not None else math.inf,
        )
    )
    _explain_ties(rows)
    rank = 0
    for row in rows:
        row["rank"] = (rank := rank + 1) if row["eligible"] else None
    return {
        "tokens_per_ticket": {
            "in": base.tokens_in,
            "out": base.tokens_out,
            "calls": base.calls,
            "basis": measured.source or "Firstline's default assumption (no `firstline matchup` results yet)",
        },
        "self_hosting": {"tickets_per_month": tickets_per_month, **hosting.as_dict()},
        "left_out": [
            {"id": m.id, "why": "a test model (plumbing checks), never recommended"} for m in models if m.testing
        ],
        "rows": rows,
    }


def _row(
    m: ModelInfo,
    license: str,
    residency: str | None,
    budget: float | None,
    ticket: TicketProfile,
    tickets_per_month: int,
    hosting: Hosting,
    measured: bool,
) -> dict[str, Any]:
    reasons: list[str] = []
    ok = True
    if not m.matches_license(license):
        ok = False
        reasons.append(f"license {m.license} is not {license}")
    hosted_here = True
    if residency is not None:
        wanted = residency.lower()
        hosted_here = wanted in m.residency
        if hosted_here:
            reasons.append(f"hosted with {wanted.upper()} residency")
        elif m.open_weights:
            reasons.append(f"open weights: self-host it in the {wanted.upper()}")
        else:
            ok = False
            reasons.append(f"no {wanted.upper()} residency and no open weights")
    per_1k, basis = _cost(m, hosted_here, ticket, tickets_per_month, hosting)
    if basis:
        reasons.append(basis)
    if measured:
        reasons.append(
            f"tokens per ticket measured for this model ({ticket.tokens_in:,} in / {ticket.tokens_out:,} out)"
        )
    if budget is not None:
        if per_1k is None:
            ok = False
            reasons.append("no price and no estimate to check the budget against")
        elif per_1k > budget:
            ok = False
            reasons.append(f"${per_1k:,.2f}/1k tickets is over the ${budget:g} budget")
        else:
            reasons.append(f"${per_1k:,.2f}/1k tickets fits the ${budget:g} budget")
    quality = m.quality()
    if quality:
        reasons.append(f"{quality[0]} {quality[1]:g}")
    else:
        reasons.append("no published quality figure: ranked after the models with one")
    if m.missing():
        reasons.append(f"not in any source: {', '.join(m.missing())}")
    return {
        "id": m.id,
        "name": m.name,
        "license": m.license,
        "eligible": ok,
        "cost_per_1k_tickets_usd": per_1k,
        "cost_estimated": basis.startswith("estimated"),
        "quality": {"benchmark": quality[0], "score": quality[1]} if quality else None,
        "why": "; ".join(reasons),
    }


def _cost(
    m: ModelInfo, hosted_here: bool, ticket: TicketProfile, tickets_per_month: int, hosting: Hosting
) -> tuple[float | None, str]:
    """Cost per 1k tickets and where it comes from: the hosted price, or the self-hosting estimate."""
    if hosted_here and m.priced:
        per_ticket = m.cost(ticket.tokens_in, ticket.tokens_out)
        assert per_ticket is not None
        return round(per_ticket * 1000, 2), ""
    if m.open_weights and m.params_total_b is not None:
        bill = self_hosted_monthly(m, tickets_per_month, ticket, hosting)
        per_1k = float(bill["cost_per_1k_tickets_usd"])
        return per_1k, (
            f"estimated self-hosted: {bill['gpus']} x {hosting.gpu} at ${hosting.gpu_hourly_usd:g}/GPU-hour for "
            f"{tickets_per_month:,} tickets a month"
        )
    if m.priced:  # hosted, but not where wanted: the price stands only when residency was not asked
        return None, "its hosted price is for another region"
    return None, "no published price, and no parameter counts to estimate self-hosting"


def _explain_ties(rows: list[dict[str, Any]]) -> None:
    for before, after in itertools.pairwise(rows):
        if not (before["eligible"] and after["eligible"] and before["quality"] and after["quality"]):
            continue
        if before["quality"] == after["quality"]:
            figure = f"{after['quality']['benchmark']} {after['quality']['score']:g}"
            after["why"] += f"; tied with {before['id']} on {figure}: the cheaper ranks first"
