"""The helpdesk taxonomy: nine specialists, their intents, and the labels that go to no specialist.

Loaded from ``helpdesk/data/taxonomy.yaml`` (data, not code, so an IT team can extend it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from firstline.errors import ConfigError

__all__ = ["SPECIALISTS", "Intent", "Specialist", "Taxonomy", "load_taxonomy"]

SPECIALISTS: tuple[str, ...] = (
    "device",
    "ticket",
    "network",
    "email",
    "computer",
    "printer",
    "phone",
    "security",
    "lookup",
)

Risk = Literal["read", "write", "destructive"]
ActsOn = Literal["person", "ticket", "none"]
TicketPolicy = Literal["open", "on_escalation"]
FollowUp = Literal["confirm_fix", "none"]
Access = Literal["approval", "none"]


@dataclass(frozen=True, slots=True)
class Specialist:
    key: str
    name: str
    description: str
    assignment_group: str


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    specialist: str
    description: str
    risk: Risk
    slots: tuple[str, ...]
    default_impact: int
    default_urgency: int
    playbook: str = "runbook"  # the offline engine's playbook; "runbook" answers from the runbooks
    acts_on: ActsOn = "none"
    ticket: TicketPolicy = "open"
    follow_up: FollowUp = "confirm_fix"
    runbooks: tuple[str, ...] = ()  # runbook file names (without .md) written for this intent
    access: Access = "none"  # "approval": access it covers is granted by its owner, on a request a person raises
    cues: re.Pattern[str] | None = None  # words a message must have to be read as this intent (else the next best)


@dataclass(frozen=True, slots=True)
class Taxonomy:
    specialists: dict[str, Specialist]
    intents: dict[str, Intent]
    other_labels: tuple[str, ...]

    def intents_of(self, specialist: str) -> list[Intent]:
        return [i for i in self.intents.values() if i.specialist == specialist]

    @property
    def labels(self) -> tuple[str, ...]:
        """Every routing label: the nine specialists, then greeting / gibberish / out_of_scope."""
        return (*self.specialists, *self.other_labels)


def _choice(raw: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> Any:
    value = str(raw.get(key) or default)
    if value not in allowed:
        raise ValueError(f"intent {raw.get('name')}: {key} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def data_dir() -> Path:
    return Path(str(resources.files("firstline") / "helpdesk" / "data"))


def _parse(raw: Any, source: str) -> Taxonomy:
    try:
        specialists = {
            key: Specialist(key, str(v["name"]), str(v["description"]).strip(), str(v["assignment_group"]))
            for key, v in raw["specialists"].items()
        }
        intents = {
            str(i["name"]): Intent(
                str(i["name"]),
                str(i["specialist"]),
                str(i["description"]).strip(),
                i["risk"],
                tuple(i.get("slots") or ()),
                int(i["default_impact"]),
                int(i["default_urgency"]),
                str(i.get("playbook") or "runbook"),
                _choice(i, "acts_on", ("person", "ticket", "none"), "none"),
                _choice(i, "ticket", ("open", "on_escalation"), "open"),
                _choice(i, "follow_up", ("confirm_fix", "none"), "confirm_fix"),
                tuple(str(r) for r in i.get("runbooks") or ()),
                _choice(i, "access", ("approval", "none"), "none"),
                re.compile(str(i["cues"]), re.I) if i.get("cues") else None,
            )
            for i in raw["intents"]
        }
        others = tuple(str(o if isinstance(o, str) else o["name"]) for o in raw["other_labels"])
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise ConfigError(f"{source} is not a valid taxonomy: {exc!r}") from exc
    missing = set(SPECIALISTS) - set(specialists)
    if missing:
        raise ConfigError(f"{source} lacks the specialists {sorted(missing)}")
    for intent in intents.values():
        if intent.specialist not in specialists:
            raise ConfigError(f"{source}: intent {intent.name} names an unknown specialist {intent.specialist!r}")
    return Taxonomy(specialists, intents, others)


@cache
def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """The shipped taxonomy (or one at ``path``)."""
    source = path or data_dir() / "taxonomy.yaml"
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read the taxonomy {source}: {exc}") from exc
    return _parse(raw, str(source))
