"""What a helpdesk turn returns (:class:`DeskReply`) and the sums behind it: ticket card, usage, citations."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from firstline.agents import RunEvent
from firstline.ticketing import Ticket

__all__ = ["DeskReply", "add_usage", "citations", "ticket_card", "usage_of"]


@dataclass
class DeskReply:
    """What one turn produced, as ``firstline ask --json`` and ``POST /v1/ask`` return it."""

    conversation_id: str
    agent: str
    intent: str
    reply: str
    status: str = "done"  # done | paused | failed | needs_identity | rejected | waiting
    citations: list[dict[str, Any]] = field(default_factory=list)
    ticket: dict[str, Any] | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    approval: dict[str, Any] | None = None
    known_incident: dict[str, Any] | None = None
    secondary: dict[str, Any] | None = None
    engine: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    topics: list[dict[str, Any]] = field(default_factory=list)  # every topic raised, with its status
    awaiting: str | None = None  # what the reply waits for: code, choice, detail, confirmation, approval, ...

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "agent": self.agent,
            "intent": self.intent,
            "reply": self.reply,
            "citations": self.citations,
            "ticket": self.ticket,
            "actions": self.actions,
            "status": self.status,
            "approval": self.approval,
            "known_incident": self.known_incident,
            "secondary": self.secondary,
            "engine": self.engine,
            "usage": self.usage,
            "topics": self.topics,
            "awaiting": self.awaiting,
        }


def ticket_card(ticket: Ticket | None) -> dict[str, Any] | None:
    if ticket is None:
        return None
    return {
        "number": ticket.number,
        "state": ticket.state.value,
        "priority": int(ticket.priority),
        "short_description": ticket.short_description,
        "assignment_group": ticket.assignment_group,
        "parent": ticket.parent_number,
        "major_incident": "major_incident" in ticket.tags,
    }


def usage_of(calls: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Tokens, cost and latency of one turn's model calls, and which models answered."""
    out: dict[str, Any] = {
        "calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0, "cost_usd": 0.0,
        "model_ms": 0.0, "models": [], "fallbacks": [], "first_token_ms": [],
    }  # fmt: skip
    for call in calls:
        out["calls"] += 1
        for key in ("prompt_tokens", "completion_tokens", "cached_tokens"):
            out[key] += int(call.get(key) or 0)
        out["cost_usd"] += float(call.get("cost_usd") or 0.0)
        out["model_ms"] += float(call.get("latency_ms") or 0.0)
        if call.get("model") and call["model"] not in out["models"]:
            out["models"].append(call["model"])
        out["fallbacks"] += list(call.get("fallbacks") or [])
        if call.get("first_token_ms") is not None:
            out["first_token_ms"].append(call["first_token_ms"])
    out["cost_usd"] = round(out["cost_usd"], 6)
    out["model_ms"] = round(out["model_ms"], 2)
    return out


def add_usage(total: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
    merged = dict(total)
    for key in ("calls", "prompt_tokens", "completion_tokens", "cached_tokens"):
        merged[key] = int(merged.get(key, 0)) + int(turn[key])
    merged["cost_usd"] = round(float(merged.get("cost_usd", 0.0)) + turn["cost_usd"], 6)
    merged["models"] = sorted(set(merged.get("models", [])) | set(turn["models"]))
    return merged


def citations(events: list[RunEvent], reply: str) -> list[dict[str, Any]]:
    """The runbook sections behind the reply: the top hit of each search, and any other hit it names."""
    out: list[dict[str, Any]] = []
    for event in events:
        if event.kind != "tool_finished" or event.data.get("tool") != "kb_search" or not event.data.get("ok"):
            continue
        hits = event.data.get("data")
        for rank, hit in enumerate(hits if isinstance(hits, list) else []):
            if rank == 0 or str(hit.get("title", "")) in reply:
                citation = {
                    "title": hit.get("title"),
                    "section": hit.get("section"),
                    "section_path": hit.get("section") or "",
                    "source": hit.get("source"),
                    "chunk_id": hit.get("chunk_id") or "",
                    "score": hit.get("score"),
                }
                if all(c["chunk_id"] != citation["chunk_id"] or c["title"] != citation["title"] for c in out):
                    out.append(citation)
    return out
