"""A question about an answer already given, answered from the page that answer came from.

"whats the password for it" right after the Wi-Fi steps is about that page: its introduction says NW-Corp has
no password. :func:`answer_from_cited` finds, on the page a topic's last answer cited, the passage (for this
employee) that names most of the question's words and was not said yet; the desk answers with it, cited, for
every engine alike. Nothing found: the caller repeats the earlier answer.
"""

from __future__ import annotations

from typing import Any

from firstline.errors import FirstlineError
from firstline.helpdesk.audience import EVERYONE, requester_audiences
from firstline.helpdesk.dialogue import Topic
from firstline.helpdesk.offline.engine import citation_text
from firstline.helpdesk.tools.deps import HelpdeskDeps
from firstline.helpdesk.tools.lookup import passage_for_follow_up

__all__ = ["answer_from_cited"]


def answer_from_cited(deps: HelpdeskDeps, email: str, state: dict[str, Any], topic: Topic, question: str) -> str:
    """The passage answering ``question`` on the page ``topic`` last cited, with its citation ("" when none)."""
    knowledge = deps.knowledge
    if knowledge is None or not topic.cited:
        return ""
    try:
        first = knowledge.catalog.get(topic.cited[:1]).get(topic.cited[0])
        if first is None:  # the page was re-ingested or removed since
            return ""
        unproven = state.get("identity") == "typed" and not state.get("verified")
        readable = EVERYONE if unproven else requester_audiences(deps.directory, email, accounts=deps.accounts)
        document = [c for c in knowledge.document(first.doc_id) if (c.audience or "") in readable]
    except FirstlineError:
        return ""  # the runbooks are unavailable: the earlier answer is repeated instead
    found = passage_for_follow_up(document, question, topic.last_reply)
    if found is None:
        return ""
    chunk, text = found
    return f"{text}\n\n(Source: {citation_text({'title': chunk.title, 'section': chunk.section_path})})"
