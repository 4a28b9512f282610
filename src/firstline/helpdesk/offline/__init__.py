"""The offline engine: tool calling and replies decided by rules, no language model (see ``engine.py``).

``engine.py`` holds :class:`OfflineEngine` and the vocabulary playbooks use (``View``, ``Say``,
``call``, the shared steps); ``playbooks/`` holds one checklist per intent, registered by name.
"""

from firstline.helpdesk.offline.engine import (
    Call,
    Done,
    OfflineEngine,
    Say,
    Step,
    View,
    as_data,
    call,
    citation_text,
    digest,
    escalate_and_say,
    kb_answer,
    known_incident,
    sentence,
    summary_for_humans,
    verification,
)

__all__ = [
    "Call",
    "Done",
    "OfflineEngine",
    "Say",
    "Step",
    "View",
    "as_data",
    "call",
    "citation_text",
    "digest",
    "escalate_and_say",
    "kb_answer",
    "known_incident",
    "sentence",
    "summary_for_humans",
    "verification",
]
