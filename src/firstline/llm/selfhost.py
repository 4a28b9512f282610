"""What running an open-weight model on your own GPUs costs, from first principles, and when it beats a hosted API.

The estimate is a stated model, not a measurement; every figure it uses is in :class:`Hosting` and is
printed with the result:

- **GPUs a replica needs** = (weights + KV cache) / usable GPU memory, rounded up to 1, 2, 4 or 8 GPUs
  (tensor parallel within a node), or to whole nodes beyond one. Weights = total parameters x bytes per
  parameter (FP8: 1). KV cache = ``kv_kib_per_token_per_b_active`` x active parameters x the configured
  context x the sequences in flight (70B-class dense models with grouped-query attention store about
  320 KiB a token in BF16, i.e. ~4.6 KiB per billion parameters; MoE models are scaled by active
  parameters, which overstates the cache of latent-attention models such as DeepSeek's: safe side).
- **Requests a replica serves** per second: the published decode throughput of a 70B-class active model on
  one 8xH100 node (``ref_output_tokens_per_s``, measured on requests of ~2,000 prompt tokens, like a
  ticket's calls: 2,573 output tokens/s with vLLM, Lambda 2024; ~11,800 scaling SGLang's 22,300 a node for
  DeepSeek-V3's 37B active parameters, LMSYS 2025), scaled by the replica's share of a node and by
  70 / active parameters (work per token follows the active parameters), divided by a call's output
  tokens.
- **Monthly cost** = GPUs x $/GPU-hour x 730 h (they run all month) + operations staff per month; the
  replicas needed follow from the peak request rate (a ticket's model calls over the busy hours, times
  the peak factor).

``breakeven`` then answers a buyer's questions: the hosted spend at which self-hosting becomes cheaper,
the payback time of a one-off setup cost, the peak request rate and the GPUs and nodes it takes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from firstline.errors import ConfigError
from firstline.llm.catalog import ModelInfo, TicketProfile

__all__ = ["DEFAULT_HOSTING", "Hosting", "Replica", "breakeven", "replica", "self_hosted_monthly"]

HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class Hosting:
    """The assumptions of a self-hosting estimate (defaults: rented H100s, FP8 weights)."""

    gpu: str = "H100 80GB"
    gpu_memory_gb: float = 80.0
    gpus_per_node: int = 8
    gpu_hourly_usd: float = 2.5
    bytes_per_param: float = 1.0  # FP8 weights; 2.0 for BF16
    kv_kib_per_token_per_b_active: float = 4.6
    context_tokens: int = 8_192  # per sequence in flight
    sequences_in_flight: int = 32  # per replica
    usable_memory: float = 0.9  # of each GPU's memory (the rest: activations, CUDA graphs, fragmentation)
    ref_output_tokens_per_s: float = 2_600.0  # per 8-GPU node, 70B-class active model, ~2,000-token prompts
    ref_active_b: float = 70.0
    busy_hours_per_month: float = 22 * 10  # working days x hours the helpdesk is busy
    peak_factor: float = 3.0  # the busiest hour over the busy-hour average
    ops_monthly_usd: float = 0.0  # people and tooling to run the GPUs, per month
    setup_usd: float = 0.0  # one-off: integration, evaluation, deployment

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_HOSTING = Hosting()
_TICKET = TicketProfile()


@dataclass(frozen=True)
class Replica:
    """One copy of the model serving requests: its GPUs, the memory it needs, the requests it serves."""

    gpus: int
    weights_gb: float
    kv_cache_gb: float
    requests_per_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "gpus": self.gpus,
            "weights_gb": round(self.weights_gb, 1),
            "kv_cache_gb": round(self.kv_cache_gb, 1),
            "requests_per_s": round(self.requests_per_s, 2),
        }


def replica(model: ModelInfo, ticket: TicketProfile, hosting: Hosting) -> Replica:
    """The GPUs one replica of ``model`` needs and the ticket requests it serves per second."""
    total, active = model.params_total_b, model.params_active_b or model.params_total_b
    if not model.open_weights or total is None or active is None:
        raise ConfigError(
            f"{model.name}: self-hosting needs open weights and the parameter counts (params_total_b, "
            "params_active_b) in the catalog."
        )
    weights_gb = total * hosting.bytes_per_param
    kv_tokens = hosting.context_tokens * hosting.sequences_in_flight
    kv_gb = hosting.kv_kib_per_token_per_b_active * active * kv_tokens * 1024 / 1e9
    per_gpu = hosting.gpu_memory_gb * hosting.usable_memory
    needed = max(1, math.ceil((weights_gb + kv_gb) / per_gpu))
    if needed <= hosting.gpus_per_node:
        gpus = 1 << (needed - 1).bit_length()  # tensor parallel over 1, 2, 4 or 8 GPUs
        gpus = min(gpus, hosting.gpus_per_node)
    else:
        gpus = math.ceil(needed / hosting.gpus_per_node) * hosting.gpus_per_node
    output_per_call = max(1.0, ticket.tokens_out / ticket.calls)
    tokens_per_s = hosting.ref_output_tokens_per_s * (gpus / hosting.gpus_per_node) * (hosting.ref_active_b / active)
    rate = tokens_per_s / output_per_call
    return Replica(gpus, weights_gb, kv_gb, rate)


def peak_requests_per_s(tickets_per_month: float, ticket: TicketProfile, hosting: Hosting) -> float:
    return tickets_per_month * ticket.calls / (hosting.busy_hours_per_month * 3600) * hosting.peak_factor


def self_hosted_monthly(
    model: ModelInfo, tickets_per_month: float, ticket: TicketProfile, hosting: Hosting
) -> dict[str, Any]:
    """Replicas, GPUs, nodes and the monthly bill to serve ``tickets_per_month`` at the peak hour."""
    one = replica(model, ticket, hosting)
    peak = peak_requests_per_s(tickets_per_month, ticket, hosting)
    replicas = max(1, math.ceil(peak / one.requests_per_s))
    gpus = replicas * one.gpus
    monthly = gpus * hosting.gpu_hourly_usd * HOURS_PER_MONTH + hosting.ops_monthly_usd
    return {
        "replica": one.as_dict(),
        "replicas": replicas,
        "gpus": gpus,
        "nodes": math.ceil(gpus / hosting.gpus_per_node),
        "peak_requests_per_s": round(peak, 3),
        "monthly_usd": round(monthly, 2),
        "cost_per_1k_tickets_usd": round(monthly / tickets_per_month * 1000, 2) if tickets_per_month > 0 else None,
    }


def _threshold(hosted_per_ticket: float, one: Replica, ticket: TicketProfile, hosting: Hosting) -> dict[str, Any]:
    """The smallest volume at which the self-hosted bill is no higher than the hosted one.

    ``r`` replicas cost ``r * a + ops`` a month and carry up to ``r * b`` tickets; hosted costs ``p`` a
    ticket. They meet at ``(r * a + ops) / p`` tickets, which ``r`` replicas carry once
    ``r >= ops / (p * b - a)``; with ``p * b <= a`` a replica costs more than the tickets it can carry
    would cost hosted, and self-hosting never pays."""
    a = one.gpus * hosting.gpu_hourly_usd * HOURS_PER_MONTH
    b = one.requests_per_s * hosting.busy_hours_per_month * 3600 / (ticket.calls * hosting.peak_factor)
    p = hosted_per_ticket
    if p <= 0 or p * b <= a:
        return {"tickets_per_month": None, "hosted_monthly_usd": None, "replicas": None}
    r = max(1, math.ceil(hosting.ops_monthly_usd / (p * b - a))) if hosting.ops_monthly_usd else 1
    cost = r * a + hosting.ops_monthly_usd
    return {"tickets_per_month": math.ceil(cost / p), "hosted_monthly_usd": round(cost, 2), "replicas": r}


def breakeven(
    hosted: ModelInfo,
    tickets_per_month: int,
    ticket: TicketProfile = _TICKET,
    self_hosted: ModelInfo | None = None,
    hosting: Hosting = DEFAULT_HOSTING,
    gpu_hourly: tuple[float, ...] = (),
    output_tokens_per_s: tuple[float, ...] = (),
) -> dict[str, Any]:
    """``hosted``'s monthly bill against self-hosting ``self_hosted`` (the same model when it has open weights),
    for every combination of ``gpu_hourly`` and ``output_tokens_per_s`` (the hosting defaults when empty)."""
    per_ticket = hosted.cost(ticket.tokens_in, ticket.tokens_out)
    if per_ticket is None:
        raise ConfigError(f"{hosted.name} has no published price in the catalog: add price_in/price_out to compare")
    target = self_hosted or hosted
    if not target.open_weights:
        raise ConfigError(f"{hosted.name} has no open weights: name the open model to self-host (--self-host).")
    hosted_monthly = per_ticket * tickets_per_month
    scenarios: list[dict[str, Any]] = []
    for hourly in gpu_hourly or (hosting.gpu_hourly_usd,):
        for rate in output_tokens_per_s or (hosting.ref_output_tokens_per_s,):
            assumed = replace(hosting, gpu_hourly_usd=hourly, ref_output_tokens_per_s=rate)
            bill = self_hosted_monthly(target, tickets_per_month, ticket, assumed)
            threshold = _threshold(per_ticket, replica(target, ticket, assumed), ticket, assumed)
            saving = hosted_monthly - bill["monthly_usd"]
            payback = None
            if saving > 0:
                payback = round(assumed.setup_usd / saving, 1) if assumed.setup_usd else 0.0
            scenarios.append(
                {
                    "gpu_hourly_usd": hourly,
                    "ref_output_tokens_per_s": rate,
                    **bill,
                    "cheaper": "self-hosted" if saving > 0 else "hosted",
                    "monthly_saving_usd": round(saving, 2),
                    "payback_months": payback,
                    "breakeven_tickets_per_month": threshold["tickets_per_month"],
                    "breakeven_hosted_spend_usd": threshold["hosted_monthly_usd"],
                }
            )
    return {
        "hosted_model": hosted.id,
        "self_hosted_model": target.id,
        "tickets_per_month": tickets_per_month,
        "tokens_per_ticket": {"in": ticket.tokens_in, "out": ticket.tokens_out, "calls": ticket.calls},
        "hosted_cost_per_ticket_usd": round(per_ticket, 6),
        "hosted_monthly_usd": round(hosted_monthly, 2),
        "peak_requests_per_s": round(peak_requests_per_s(tickets_per_month, ticket, hosting), 3),
        "assumptions": hosting.as_dict(),
        "scenarios": scenarios,
    }
