"""The model catalog: licenses, sizes, prices and published benchmark figures, and the sums on top of it.

``load_catalog()`` reads ``llm/data/models.yaml`` plus, when given, a user file whose entries add to
or replace the shipped ones by ``id``. ``choose`` ranks models for Tier-1 support under license,
residency and cost constraints and says why; ``breakeven`` compares a hosted model's monthly bill
with running an open-weight model on your own GPU nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from firstline.errors import ConfigError

__all__ = [
    "LICENSE_FILTERS",
    "ModelInfo",
    "TicketProfile",
    "breakeven",
    "choose",
    "load_catalog",
]

PERMISSIVE = ("mit", "apache-2.0")
LICENSE_FILTERS = ("mit", "apache-2.0", "permissive", "open", "any")
_QUALITY_ORDER = ("gpqa_diamond", "mmlu_pro", "mmlu")  # the figure a model is compared on, first found


@dataclass(frozen=True)
class ModelInfo:
    id: str
    name: str
    vendor: str
    license: str
    open_weights: bool
    params_total_b: float | None
    params_active_b: float | None
    context_tokens: int | None
    price_in: float | None  # USD per 1M input tokens
    price_out: float | None
    price_cached_in: float | None
    residency: tuple[str, ...]
    benchmarks: dict[str, float] = field(default_factory=dict)
    source: str = ""
    as_of: str = ""
    # How prompts are counted for this model: "gguf:<python package>" (the tokenizer of the GGUF that package
    # ships), or None for Firstline's stated estimate (firstline.evals.prompt_tokens).
    tokenizer: str | None = None
    cache_min_tokens: int | None = None  # the provider's shortest cacheable prompt prefix; None: 1,024

    @property
    def priced(self) -> bool:
        return self.price_in is not None and self.price_out is not None

    def cost(self, tokens_in: int, tokens_out: int, cached_in: int = 0) -> float | None:
        """USD for one call (or one ticket's worth of calls) at the catalog prices; None if unpriced."""
        if not self.priced:
            return None
        assert self.price_in is not None and self.price_out is not None
        cached_price = self.price_cached_in if self.price_cached_in is not None else self.price_in
        fresh = max(0, tokens_in - cached_in)
        return (fresh * self.price_in + cached_in * cached_price + tokens_out * self.price_out) / 1_000_000

    def matches_license(self, wanted: str) -> bool:
        if wanted == "any":
            return True
        if wanted == "permissive":
            return self.license in PERMISSIVE
        if wanted == "open":
            return self.open_weights
        return self.license == wanted

    def quality(self) -> tuple[str, float] | None:
        for name in _QUALITY_ORDER:
            if name in self.benchmarks:
                return name, float(self.benchmarks[name])
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "vendor": self.vendor,
            "license": self.license,
            "open_weights": self.open_weights,
            "params_total_b": self.params_total_b,
            "params_active_b": self.params_active_b,
            "context_tokens": self.context_tokens,
            "price_in_per_m": self.price_in,
            "price_out_per_m": self.price_out,
            "price_cached_in_per_m": self.price_cached_in,
            "residency": list(self.residency),
            "benchmarks": dict(self.benchmarks),
            "source": self.source,
            "as_of": self.as_of,
            "tokenizer": self.tokenizer,
            "cache_min_tokens": self.cache_min_tokens,
        }


def _shipped() -> Path:
    return Path(__file__).parent / "data" / "models.yaml"


def _parse(path: Path) -> list[ModelInfo]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        return [
            ModelInfo(
                id=str(e["id"]),
                name=str(e.get("name", e["id"])),
                vendor=str(e.get("vendor", "")),
                license=str(e.get("license", "unknown")).lower(),
                open_weights=bool(e.get("open_weights", False)),
                params_total_b=e.get("params_total_b"),
                params_active_b=e.get("params_active_b"),
                context_tokens=e.get("context_tokens"),
                price_in=e.get("price_in"),
                price_out=e.get("price_out"),
                price_cached_in=e.get("price_cached_in"),
                residency=tuple(str(r).lower() for r in e.get("residency") or ()),
                benchmarks={str(k): float(v) for k, v in (e.get("benchmarks") or {}).items()},
                source=str(e.get("source", "")),
                as_of=str(e.get("as_of", "")),
                tokenizer=str(e["tokenizer"]) if e.get("tokenizer") else None,
                cache_min_tokens=int(e["cache_min_tokens"]) if e.get("cache_min_tokens") is not None else None,
            )
            for e in raw
        ]
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a valid model catalog ({exc}); see {_shipped()} for the fields") from exc


@cache
def _cached(extra: Path | None) -> tuple[ModelInfo, ...]:
    models = {m.id: m for m in _parse(_shipped())}
    if extra is not None and extra.exists():
        models.update({m.id: m for m in _parse(extra)})
    return tuple(models.values())


def load_catalog(extra: Path | None = None) -> tuple[ModelInfo, ...]:
    """The shipped catalog, extended (or overridden by id) with ``extra`` when it exists."""
    return _cached(extra)


@dataclass(frozen=True)
class TicketProfile:
    """What one ticket costs in model tokens (all calls of a conversation together)."""

    tokens_in: int = 12_000
    tokens_out: int = 1_500
    calls: int = 6


def choose(
    models: tuple[ModelInfo, ...],
    license: str = "any",
    residency: str | None = None,
    max_cost_per_1k_tickets: float | None = None,
    ticket: TicketProfile = TicketProfile(),
) -> list[dict[str, Any]]:
    """Every model with ``eligible`` and ``why``: eligible first, best published quality, then cheapest."""
    if license not in LICENSE_FILTERS:
        raise ConfigError(f"--license must be one of {', '.join(LICENSE_FILTERS)}, not {license!r}")
    rows: list[dict[str, Any]] = []
    for m in models:
        reasons, ok = [], True
        if not m.matches_license(license):
            ok = False
            reasons.append(f"license {m.license} is not {license}")
        if residency is not None:
            wanted = residency.lower()
            if wanted in m.residency:
                reasons.append(f"hosted with {wanted.upper()} residency")
            elif m.open_weights:
                reasons.append(f"open weights: self-host it in the {wanted.upper()}")
            else:
                ok = False
                reasons.append(f"no {wanted.upper()} residency and no open weights")
        per_ticket = m.cost(ticket.tokens_in, ticket.tokens_out)
        per_1k = None if per_ticket is None else round(per_ticket * 1000, 2)
        if max_cost_per_1k_tickets is not None:
            if per_1k is None:
                ok = False
                reasons.append("no published price to check the budget against")
            elif per_1k > max_cost_per_1k_tickets:
                ok = False
                reasons.append(f"${per_1k}/1k tickets is over the ${max_cost_per_1k_tickets:g} budget")
            else:
                reasons.append(f"${per_1k}/1k tickets fits the ${max_cost_per_1k_tickets:g} budget")
        quality = m.quality()
        reasons.append(f"{quality[0]} {quality[1]:g}" if quality else "no published benchmark figure")
        rows.append(
            {
                "id": m.id,
                "name": m.name,
                "license": m.license,
                "eligible": ok,
                "cost_per_1k_tickets_usd": per_1k,
                "quality": {"benchmark": quality[0], "score": quality[1]} if quality else None,
                "why": "; ".join(reasons),
            }
        )
    rows.sort(
        key=lambda r: (
            not r["eligible"],
            -(r["quality"]["score"] if r["quality"] else -1.0),
            r["cost_per_1k_tickets_usd"] if r["cost_per_1k_tickets_usd"] is not None else math.inf,
        )
    )
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank if row["eligible"] else None
    return rows


def breakeven(
    model: ModelInfo,
    tickets_per_month: int,
    ticket: TicketProfile = TicketProfile(),
    gpu_hourly: tuple[float, float] = (2.0, 5.0),
    req_per_sec_per_node: tuple[float, float] = (80.0, 200.0),
    gpus_per_node: int = 8,
    busy_hours_per_month: float = 22 * 10,
    peak_factor: float = 3.0,
) -> dict[str, Any]:
    """Hosted monthly cost of ``model`` against self-hosting on ``gpus_per_node``-GPU nodes.

    Self-hosted cost counts whole nodes running all month (730 h); the nodes needed follow from the
    peak request rate (calls per ticket spread over the busy hours, times ``peak_factor``). The
    break-even volume is the monthly ticket count at which the hosted bill equals the self-hosted one;
    ``None`` when a node costs more per ticket it can serve than the hosted model (never breaks even).
    """
    per_ticket = model.cost(ticket.tokens_in, ticket.tokens_out)
    if per_ticket is None:
        raise ConfigError(f"{model.name} has no published price in the catalog: add price_in/price_out to compare")
    hosted = per_ticket * tickets_per_month
    peak_rps = tickets_per_month * ticket.calls / (busy_hours_per_month * 3600) * peak_factor

    per_node_tickets = {c: c * busy_hours_per_month * 3600 / (ticket.calls * peak_factor) for c in req_per_sec_per_node}
    scenarios: list[dict[str, Any]] = []
    for hourly in gpu_hourly:
        for capacity in req_per_sec_per_node:
            node_month = gpus_per_node * hourly * 730
            nodes = max(1, math.ceil(peak_rps / capacity))
            # Bills meet at node_month / cost-per-ticket tickets. If one node cannot carry that volume, a
            # node costs more per ticket it serves than the hosted model does: self-hosting never wins.
            even = math.ceil(node_month / per_ticket) if per_ticket > 0 else None
            if even is not None and even > per_node_tickets[capacity]:
                even = None
            scenarios.append(
                {
                    "gpu_hourly_usd": hourly,
                    "req_per_sec_per_node": capacity,
                    "nodes": nodes,
                    "tickets_per_node_per_month": round(per_node_tickets[capacity]),
                    "self_hosted_monthly_usd": round(nodes * node_month, 0),
                    "breakeven_tickets_per_month": even,
                }
            )
    return {
        "model": model.id,
        "tickets_per_month": tickets_per_month,
        "tokens_per_ticket": {"in": ticket.tokens_in, "out": ticket.tokens_out, "calls": ticket.calls},
        "hosted_cost_per_ticket_usd": round(per_ticket, 6),
        "hosted_monthly_usd": round(hosted, 2),
        "peak_requests_per_sec": round(peak_rps, 3),
        "self_hosted": scenarios,
        "cheaper": ["self-hosted" if s["self_hosted_monthly_usd"] < hosted else "hosted" for s in scenarios],
    }
