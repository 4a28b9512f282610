"""A ready helpdesk for tests and benchmarks: the real triage model, ingested runbooks, the demo org."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firstline.conversations import SqlConversations
from firstline.directory import InMemoryDirectory
from firstline.directory.models import OrgData
from firstline.helpdesk.desk import Helpdesk
from firstline.helpdesk.tools.deps import OneTimeCodes
from firstline.helpdesk.triage import Triage
from firstline.knowledge.base import KnowledgeBase
from firstline.localdb import open_database
from firstline.ticketing import SqlTicketing

__all__ = ["HelpdeskWorld"]


@dataclass(frozen=True)
class HelpdeskWorld:
    """What every helpdesk test shares: the real triage model, the ingested runbooks, the demo org."""

    triage: Triage
    knowledge: KnowledgeBase
    org: OrgData

    def desk(self, **overrides: Any) -> tuple[Helpdesk, dict[str, str]]:
        """A helpdesk on a fresh copy of the organisation and an empty ticket store, and the codes it sends."""
        sent: dict[str, str] = {}
        database = open_database("sqlite://")
        codes = OneTimeCodes(deliver=lambda who, code, channel: sent.__setitem__(who.lower(), code))
        options: dict[str, Any] = {
            "directory": InMemoryDirectory(self.org),
            "tickets": SqlTicketing(database),
            "conversations": SqlConversations(database),
            "triage": self.triage,
            "knowledge": self.knowledge,
            "codes": codes,
        }
        return Helpdesk(**(options | overrides)), sent
