"""What one turn works with: the stores, the directory, triage and the incident linker, passed explicitly.

:class:`~firstline.helpdesk.desk.Helpdesk` builds one :class:`DeskServices` and hands it to each
:class:`~firstline.helpdesk.turn.Turn` and to the dialogue-act handling (:mod:`.repair`), so those
never reach back into the desk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from firstline import jsoncodec
from firstline.conversations import SqlConversations
from firstline.directory import DirectoryBackend
from firstline.helpdesk.incidents import IncidentLinker
from firstline.helpdesk.tools.deps import HelpdeskDeps
from firstline.helpdesk.triage import Triage
from firstline.ticketing import Ticket, TicketingBackend

__all__ = ["DeskServices"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeskServices:
    directory: DirectoryBackend
    tickets: TicketingBackend
    conversations: SqlConversations
    triage: Triage
    incidents: IncidentLinker
    clock: Callable[[], datetime]
    engine_name: str
    deps: HelpdeskDeps

    def event(self, cid: str, kind: str, agent: str, data: dict[str, Any]) -> None:
        """Append an event to the conversation's log (inside the caller's unit of work)."""
        self.events(cid, [(kind, agent, data)])

    def events(self, cid: str, items: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Append ``(kind, agent, data)`` events in order, in one write (inside the caller's unit of work)."""
        self.conversations.append_many(
            cid,
            [(kind, agent, jsoncodec.loads(jsoncodec.dumps_bytes(data, default=str))) for kind, agent, data in items],
        )

    def ticket_or_none(self, number: str | None) -> Ticket | None:
        """The ticket, or None when there is none or it cannot be loaded (a reply never fails for it)."""
        if not number:
            return None
        try:
            return self.tickets.get(number)
        except Exception:  # a missing ticket must not break the reply
            log.warning("conversation ticket %s could not be loaded", number)
            return None
