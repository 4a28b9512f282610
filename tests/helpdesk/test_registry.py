"""The taxonomy is the one intent registry: a new intent is an entry, its utterances and its playbook.

No engine, desk, agent or tool module is touched to add one (docs/adding-an-intent.md).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from firstline.errors import ConfigError
from firstline.helpdesk.offline import OfflineEngine, Say, View
from firstline.helpdesk.offline.playbooks import REGISTRY, register
from firstline.helpdesk.taxonomy import data_dir, load_taxonomy
from firstline.helpdesk.triage import Example, Triage, TriageModel, load_examples
from firstline.testing.helpdesk import HelpdeskWorld

MARCUS = "marcus.bell@nwmeridian.co.uk"
TOY_UTTERANCES = [
    "how do I book a hot desk in the office",
    "can I reserve a desk for tomorrow on floor 3",
    "where do I book a desk for Thursday",
    "hot desk booking for next week please",
    "I need to reserve a desk near my team",
    "how do desk bookings work in the London office",
]


def _toy_taxonomy(tmp_path: Path) -> Path:
    raw = yaml.safe_load((data_dir() / "taxonomy.yaml").read_text(encoding="utf-8"))
    raw["intents"].append(
        {
            "name": "desk_booking",
            "specialist": "lookup",
            "description": "Booking a hot desk in the office.",
            "risk": "read",
            "slots": [],
            "default_impact": 3,
            "default_urgency": 3,
            "playbook": "toy_desk_booking",
            "acts_on": "none",
            "ticket": "on_escalation",
            "follow_up": "none",
        }
    )
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_a_new_intent_needs_only_its_entry_its_utterances_and_its_playbook(
    helpdesk_world: HelpdeskWorld, tmp_path: Path
) -> None:
    taxonomy = load_taxonomy(_toy_taxonomy(tmp_path))
    embedder = helpdesk_world.triage.embedder
    examples = load_examples(data_dir() / "utterances" / "train.jsonl")
    examples += [Example(text, "lookup", "desk_booking") for text in TOY_UTTERANCES]
    triage = Triage(taxonomy, TriageModel.train(examples, embedder), embedder)

    def toy_desk_booking(v: View) -> Say:
        return Say("Book a desk in the Northwind Spaces app: pick the floor, the day and a free desk.")

    register("toy_desk_booking", toy_desk_booking)
    try:
        desk, _ = helpdesk_world.desk(triage=triage)
        reply = asyncio.run(desk.ask("how can I book a hot desk for Friday?", requester=MARCUS))
    finally:
        REGISTRY.pop("toy_desk_booking")
    assert (reply.agent, reply.intent) == ("lookup", "desk_booking")
    assert "Northwind Spaces" in reply.reply
    assert reply.ticket is None  # the entry's ticket policy: only if handed to a person
    assert "Did that fix it?" not in reply.reply  # the entry's follow-up policy: none


def test_an_intent_naming_a_playbook_nobody_registered_is_refused_at_start(
    helpdesk_world: HelpdeskWorld, tmp_path: Path
) -> None:
    taxonomy = load_taxonomy(_toy_taxonomy(tmp_path))
    triage = Triage(taxonomy, helpdesk_world.triage.model, helpdesk_world.triage.embedder)
    with pytest.raises(ConfigError, match="toy_desk_booking"):
        OfflineEngine(triage)


def test_every_shipped_intent_names_a_registered_playbook_and_existing_runbooks() -> None:
    taxonomy = load_taxonomy()
    runbooks = {p.stem for p in (data_dir().parent / "seed" / "runbooks").glob("*.md")}
    for intent in taxonomy.intents.values():
        assert intent.playbook in REGISTRY, intent.name
        assert set(intent.runbooks) <= runbooks, intent.name
        if intent.acts_on == "person":
            assert intent.risk in ("write", "destructive"), intent.name


def test_a_bad_registry_value_is_a_clear_error(tmp_path: Path) -> None:
    raw = yaml.safe_load((data_dir() / "taxonomy.yaml").read_text(encoding="utf-8"))
    raw["intents"][0]["follow_up"] = "sometimes"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="follow_up must be one of"):
        load_taxonomy(path)
