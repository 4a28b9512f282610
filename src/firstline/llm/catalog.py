"""The model catalog: licenses, sizes, prices and published benchmark figures, and the sums on top of it.

``load_catalog()`` reads ``llm/data/models.yaml`` plus, when given, a user file whose entries add to
or replace the shipped ones by ``id``. ``choose`` ranks models for Tier-1 support under license,
residency and cost constraints and says why; ``breakeven`` compares a hosted model's monthly bill
with running an open-weight model on your own GPU nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from firstline.errors import ConfigError

__all__ = [
    "FIGURES",
    "LICENSE_FILTERS",
    "ModelInfo",
    "Source",
    "TicketProfile",
    "load_catalog",
]

PERMISSIVE = ("mit", "apache-2.0")
LICENSE_FILTERS = ("mit", "apache-2.0", "permissive", "open", "any")
_QUALITY_ORDER = ("gpqa_diamond", "mmlu_pro", "mmlu")  # the figure a model is compared on, first found
# The figures a source can back; a benchmark is "benchmarks.<name>" (or all of them: "benchmarks").
FIGURES = (
    "license",
    "params_total_b",
    "params_active_b",
    "context_tokens",
    "price_in",
    "price_out",
    "price_cached_in",
    "residency",
)


@dataclass(frozen=True)
class Source:
    """Where catalog figures come from: a publisher's page or article a buyer can check."""

    publisher: str
    title: str
    url: str
    date: str
    figures: tuple[str, ...]  # the fields it backs (see FIGURES), "benchmarks.<name>" for one benchmark

    def backs(self, figure: str) -> bool:
        return figure in self.figures or (figure.startswith("benchmarks.") and "benchmarks" in self.figures)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "figures": list(self.figures)}


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
    sources: tuple[Source, ...] = ()
    testing: bool = False  # a model for Firstline's own tests (plumbing), never recommended

    def given(self) -> list[str]:
        """The figures this entry gives (not null)."""
        names = [f for f in FIGURES if getattr(self, f) not in (None, (), "", "unknown")]
        if set(self.residency) <= {"self-hosted"}:  # follows from open weights: not a vendor's figure
            names = [f for f in names if f != "residency"]
        return names + [f"benchmarks.{name}" for name in self.benchmarks]

    def unsourced(self) -> list[str]:
        """Figures given without a source that backs them."""
        return [f for f in self.given() if not any(s.backs(f) for s in self.sources)]

    def missing(self) -> list[str]:
        """Figures no source gave (null in the catalog)."""
        closed = ("params_total_b", "params_active_b")  # closed-weight vendors do not publish sizes
        return [
            f
            for f in FIGURES
            if getattr(self, f) in (None, ())
            and not (f == "residency" and self.open_weights)
            and not (f in closed and not self.open_weights)
        ]

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
            "sources": [source.as_dict() for source in self.sources],
            "testing": self.testing,
            "unsourced": self.unsourced(),
            "missing": self.missing(),
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
                sources=tuple(
                    Source(
                        publisher=str(x["publisher"]),
                        title=str(x["title"]),
                        url=str(x.get("url", "")),
                        date=str(x["date"]),
                        figures=tuple(str(f) for f in x.get("figures") or ()),
                    )
                    for x in e.get("sources") or ()
                ),
                testing=bool(e.get("testing", False)),
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
