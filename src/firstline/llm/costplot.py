"""A chart of cost per 1,000 tickets against tickets per month: hosted prices flat, self-hosting falling with volume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from firstline.errors import ConfigError
from firstline.llm.catalog import ModelInfo, TicketProfile
from firstline.llm.selfhost import Hosting, self_hosted_monthly

__all__ = ["cost_chart", "cost_curves"]

VOLUMES = tuple(round(10 ** (3 + i / 8)) for i in range(0, 33))  # 1,000 to 10,000,000 a month


def cost_curves(
    models: list[ModelInfo], ticket: TicketProfile, hosting: Hosting, volumes: tuple[int, ...] = VOLUMES
) -> list[dict[str, Any]]:
    """Per model: its hosted cost per 1k tickets (flat) and its self-hosted one at each volume (open weights)."""
    curves: list[dict[str, Any]] = []
    for m in models:
        if m.testing:
            continue
        per_ticket = m.cost(ticket.tokens_in, ticket.tokens_out)
        if per_ticket is not None:
            curves.append({"model": m.id, "kind": "hosted", "points": [(v, per_ticket * 1000) for v in volumes]})
        if m.open_weights and m.params_total_b is not None:
            points = [
                (v, float(self_hosted_monthly(m, v, ticket, hosting)["cost_per_1k_tickets_usd"])) for v in volumes
            ]
            curves.append({"model": m.id, "kind": "self-hosted (est.)", "points": points})
    return curves


def cost_chart(models: list[ModelInfo], ticket: TicketProfile, hosting: Hosting, path: Path) -> Path:
    """Write the chart as a PNG at ``path`` (a folder gets ``breakeven.png``) and return where it is."""
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = path / "breakeven.png" if path.is_dir() else path
    if target.suffix.lower() != ".png":
        raise ConfigError(f"--plot writes a PNG: give a path ending in .png, not {path}")
    curves = cost_curves(models, ticket, hosting)
    fig, ax = plt.subplots(figsize=(10, 6))
    colours: dict[str, Any] = {}
    for curve in curves:
        xs, ys = zip(*curve["points"], strict=True)
        hosted = curve["kind"] == "hosted"
        line = ax.plot(
            xs,
            ys,
            linestyle="-" if hosted else "--",
            drawstyle="default" if hosted else "steps-post",
            color=colours.get(curve["model"]),
            label=f"{curve['model']} {curve['kind']}",
        )[0]
        colours.setdefault(curve["model"], line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tickets per month")
    ax.set_ylabel("USD per 1,000 tickets")
    ax.set_title(
        f"Hosted price vs self-hosting estimate ({ticket.tokens_in:,} in / {ticket.tokens_out:,} out tokens a ticket; "
        f"{hosting.gpu} at ${hosting.gpu_hourly_usd:g}/h, {hosting.ref_output_tokens_per_s:,.0f} output tokens/s "
        "a node for 70B active)",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target
