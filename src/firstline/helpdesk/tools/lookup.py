"""Lookup specialist tool: search the runbooks and policies, with citations."""

from __future__ import annotations

from typing import Any

from firstline.agents import RunContext, Tool, tool
from firstline.errors import InputError, ToolFailed, ToolRetry
from firstline.helpdesk.tools.deps import deps_of
from firstline.knowledge.models import Filters

__all__ = ["LOOKUP_TOOLS"]


EMPLOYEE_AUDIENCES = ("all", "employee", "manager")  # everything but "it-staff"


@tool
def kb_search(ctx: RunContext, query: str, category: str | None = None) -> list[dict[str, Any]]:
    """Search the IT runbooks and policies; answer only from what comes back, and cite it.

    Args:
        query: the question or symptom in a few words, e.g. "VPN drops every few minutes".
        category: optionally one of device, ticket, network, email, computer, printer, phone, security, lookup.
    """
    knowledge = deps_of(ctx).knowledge
    if knowledge is None:
        raise ToolFailed("the knowledge base is not available right now: offer to raise a ticket instead")
    try:
        # The chat talks to employees: runbooks written for the IT team (audience it-staff) stay out of it.
        filters = Filters.of(category=category, audience=EMPLOYEE_AUDIENCES)
        hits = knowledge.search(query, k=3, filters=filters, by_document=True)
    except InputError as exc:
        raise ToolRetry(str(exc)) from exc
    return [
        {
            "title": h.chunk.title,
            "section": h.chunk.section_path,
            "text": h.chunk.text[:1200],
            "source": h.chunk.url or h.chunk.source,
            "score": round(h.score, 3),
            "chunk_id": h.chunk.id,
        }
        for h in hits
    ]


LOOKUP_TOOLS: tuple[Tool, ...] = (kb_search,)
