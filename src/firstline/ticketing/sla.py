"""Priority and service levels: ITIL impact x urgency -> priority, and the SLA targets per priority.

The numbers are data, so a deployment can read its own matrix and targets from configuration
later without touching the lifecycle code. Targets are calendar time (no business-hours calendar).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

__all__ = [
    "SLA_TARGETS",
    "Impact",
    "Priority",
    "SlaTarget",
    "Urgency",
    "due_at",
    "priority_for",
    "respond_by",
]


class Impact(IntEnum):
    """How many people or how much of the business is affected."""

    HIGH = 1
    MEDIUM = 2
    LOW = 3


class Urgency(IntEnum):
    """How soon the business needs it fixed."""

    HIGH = 1
    MEDIUM = 2
    LOW = 3


class Priority(IntEnum):
    """ITIL priority, 1 (Critical) to 5 (Planning); computed by :func:`priority_for`, never set directly."""

    CRITICAL = 1
    HIGH = 2
    MODERATE = 3
    LOW = 4
    PLANNING = 5

    @property
    def label(self) -> str:
        """ServiceNow's display form, e.g. ``"1 - Critical"``."""
        return f"{self.value} - {self.name.capitalize()}"


_PRIORITY_MATRIX: dict[tuple[Impact, Urgency], Priority] = {
    (Impact.HIGH, Urgency.HIGH): Priority.CRITICAL,
    (Impact.HIGH, Urgency.MEDIUM): Priority.HIGH,
    (Impact.HIGH, Urgency.LOW): Priority.MODERATE,
    (Impact.MEDIUM, Urgency.HIGH): Priority.HIGH,
    (Impact.MEDIUM, Urgency.MEDIUM): Priority.MODERATE,
    (Impact.MEDIUM, Urgency.LOW): Priority.LOW,
    (Impact.LOW, Urgency.HIGH): Priority.MODERATE,
    (Impact.LOW, Urgency.MEDIUM): Priority.LOW,
    (Impact.LOW, Urgency.LOW): Priority.PLANNING,
}


def priority_for(impact: Impact, urgency: Urgency) -> Priority:
    """ServiceNow's default priority lookup, e.g. high impact x medium urgency -> ``Priority.HIGH``."""
    return _PRIORITY_MATRIX[(Impact(impact), Urgency(urgency))]


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """How soon a ticket of one priority must get a first response and be resolved (calendar time)."""

    response: timedelta
    resolution: timedelta


SLA_TARGETS: dict[Priority, SlaTarget] = {
    Priority.CRITICAL: SlaTarget(response=timedelta(minutes=15), resolution=timedelta(hours=4)),
    Priority.HIGH: SlaTarget(response=timedelta(hours=1), resolution=timedelta(hours=8)),
    Priority.MODERATE: SlaTarget(response=timedelta(hours=4), resolution=timedelta(hours=72)),
    Priority.LOW: SlaTarget(response=timedelta(hours=8), resolution=timedelta(hours=120)),
    Priority.PLANNING: SlaTarget(response=timedelta(hours=24), resolution=timedelta(hours=240)),
}


def due_at(opened_at: datetime, priority: Priority) -> datetime:
    """When a ticket opened at ``opened_at`` must be resolved, e.g. four hours later for P1."""
    return opened_at + SLA_TARGETS[Priority(priority)].resolution


def respond_by(opened_at: datetime, priority: Priority) -> datetime:
    """When a ticket opened at ``opened_at`` must get its first response."""
    return opened_at + SLA_TARGETS[Priority(priority)].response
