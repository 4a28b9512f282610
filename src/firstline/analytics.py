"""The numbers on the console's analytics page, computed from the stored conversations and tickets.

Each metric comes with the sentence that defines it (:data:`DEFINITIONS`), which the console shows
beside the chart, so nobody has to guess what "deflection" means here.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from firstline.localdb.schema import conversation_events, conversations, ticket_entries, tickets
from firstline.sqlstore.transactions import Transactions

__all__ = ["DEFINITIONS", "analytics", "report", "tickets_by_state", "window"]

HANDOFF_TOOLS = {"escalate_to_human"}

DEFINITIONS = {
    "conversations": "Conversations started in the window.",
    "routed_conversations": "Of those, the ones triage handed to a specialist (greetings, chit-chat and "
    "identity questions that never reached one are left out of the rates below).",
    "tickets": "Tickets opened in the window, whoever opened them.",
    "resolved_tickets": "Of those, the ones resolved or closed (the ones the median time to resolution uses).",
    "deflection_rate": "Resolved without a human: routed conversations whose ticket Firstline resolved itself, "
    "or that were answered from the runbooks without a ticket, with no approval, no hand-off "
    "(escalate_to_human) and no escalation on the ticket - divided by all routed conversations.",
    "escalation_rate": "Routed conversations handed to a person: an escalate_to_human call, or an escalation "
    "entry on their ticket - divided by all routed conversations.",
    "median_time_to_resolution_s": "Median of (resolved at - opened at) over tickets opened in the window that "
    "are resolved or closed; open tickets are not counted until they are resolved.",
    "top_intents": "Conversations in the window by the intent triage gave them, most frequent first.",
    "tickets_by_specialist_per_day": "Tickets opened per UTC day, split by the specialist that owns them.",
    "cost_per_conversation_usd": "Sum of the model cost of every model call in the window's conversations "
    "(from the model catalog's prices), divided by the number of conversations; the offline engine costs 0.",
    "total_cost_usd": "Sum of the model cost of every model call in the window's conversations.",
    "cost_by_model": "Model calls, tokens and cost in the window, per model that answered.",
}


def analytics(db: Transactions, since: datetime, until: datetime) -> dict[str, Any]:
    """Every metric of :data:`DEFINITIONS` over conversations and tickets created in ``[since, until)``."""
    with db.read() as conn:
        convs = conn.execute(
            select(conversations.c.id, conversations.c.intent, conversations.c.ticket_number).where(
                conversations.c.created_at >= since, conversations.c.created_at < until
            )
        ).all()
        events = conn.execute(
            select(conversation_events.c.conversation_id, conversation_events.c.kind, conversation_events.c.data)
            .join(conversations, conversations.c.id == conversation_events.c.conversation_id)
            .where(
                conversations.c.created_at >= since,
                conversations.c.created_at < until,
                conversation_events.c.kind.in_(("routed", "tool_started", "approval_needed", "model_call")),
            )
        ).all()
        opened = conn.execute(
            select(
                tickets.c.id, tickets.c.number, tickets.c.specialist, tickets.c.state, tickets.c.opened_at,
                tickets.c.resolved_at,
            ).where(tickets.c.opened_at >= since, tickets.c.opened_at < until)
        ).all()  # fmt: skip
        escalated_ids = {
            row.ticket_id
            for row in conn.execute(
                select(ticket_entries.c.ticket_id)
                .join(tickets, tickets.c.id == ticket_entries.c.ticket_id)
                .where(ticket_entries.c.kind == "escalation", tickets.c.opened_at >= since)
            )
        }
    by_number = {t.number: t for t in opened}
    escalated_numbers = {t.number for t in opened if t.id in escalated_ids}

    routed: set[str] = set()
    handed_off: set[str] = set()
    approvals: set[str] = set()
    cost_by_conversation: dict[str, float] = defaultdict(float)
    models: dict[str, dict[str, Any]] = {}
    for event in events:
        data = event.data or {}
        if event.kind == "routed":
            routed.add(event.conversation_id)
        elif event.kind == "tool_started" and data.get("tool") in HANDOFF_TOOLS:
            handed_off.add(event.conversation_id)
        elif event.kind == "approval_needed":
            approvals.add(event.conversation_id)
        elif event.kind == "model_call":
            cost = float(data.get("cost_usd") or 0.0)
            cost_by_conversation[event.conversation_id] += cost
            name = str(data.get("model") or "unknown")
            entry = models.setdefault(
                name, {"model": name, "calls": 0, "cost_usd": 0.0, "prompt_tokens": 0, "completion_tokens": 0}
            )
            entry["calls"] += 1
            entry["cost_usd"] += cost
            entry["prompt_tokens"] += int(data.get("prompt_tokens") or 0)
            entry["completion_tokens"] += int(data.get("completion_tokens") or 0)

    deflected = escalated = 0
    for conv in convs:
        if conv.id not in routed:
            continue
        ticket = by_number.get(conv.ticket_number or "")
        human = conv.id in handed_off or conv.id in approvals or (conv.ticket_number in escalated_numbers)
        if human:
            escalated += conv.id in handed_off or conv.ticket_number in escalated_numbers
            continue
        if conv.ticket_number is None or (ticket is not None and ticket.state in ("resolved", "closed")):
            deflected += 1
    routed_in_window = sum(1 for c in convs if c.id in routed)

    durations = [
        (t.resolved_at - t.opened_at).total_seconds()
        for t in opened
        if t.state in ("resolved", "closed") and t.resolved_at is not None
    ]
    per_day: Counter[tuple[str, str]] = Counter(
        (t.opened_at.date().isoformat(), t.specialist or "unassigned") for t in opened
    )
    intents = Counter(c.intent for c in convs if c.intent)
    total_cost = sum(cost_by_conversation.values())
    return {
        "conversations": len(convs),
        "routed_conversations": routed_in_window,
        "tickets": len(opened),
        "deflection_rate": round(deflected / routed_in_window, 4) if routed_in_window else None,
        "escalation_rate": round(escalated / routed_in_window, 4) if routed_in_window else None,
        "median_time_to_resolution_s": round(statistics.median(durations), 1) if durations else None,
        "resolved_tickets": len(durations),
        "top_intents": [{"intent": k, "count": v} for k, v in intents.most_common(10)],
        "tickets_by_specialist_per_day": [
            {"day": day, "specialist": spec, "count": n} for (day, spec), n in sorted(per_day.items())
        ],
        "cost_per_conversation_usd": round(total_cost / len(convs), 6) if convs else None,
        "total_cost_usd": round(total_cost, 6),
        "cost_by_model": sorted(
            ({**m, "cost_usd": round(m["cost_usd"], 6)} for m in models.values()), key=lambda m: -m["calls"]
        ),
    }


def window(days: int, now: datetime) -> tuple[datetime, datetime]:
    """The last ``days`` days up to ``now``."""
    return now - timedelta(days=days), now + timedelta(seconds=1)


def tickets_by_state(db: Transactions) -> dict[str, int]:
    """How many tickets (built-in, or a vendor backend's mirror) are in each state, for the Prometheus gauge."""
    with db.read() as conn:
        rows = conn.execute(select(tickets.c.state, func.count()).group_by(tickets.c.state)).all()
    return {str(state): int(n) for state, n in rows}


def report(db: Transactions, days: int, now: datetime) -> dict[str, Any]:
    """The console's analytics page: every metric over the last ``days`` days, with its definition."""
    since, until = window(days, now)
    return {
        "window": {"days": days, "since": since.isoformat(), "until": until.isoformat()},
        "metrics": analytics(db, since, until),
        "definitions": dict(DEFINITIONS),
    }
