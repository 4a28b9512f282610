"""The scenario suite on the offline engine: every scenario must reach its expected end state."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from firstline.directory import DirectoryBackend, load_org
from firstline.directory.models import OrgData
from firstline.evals.scenarios import load_scenarios, run_scenario, summarise
from firstline.helpdesk.desk import Helpdesk
from firstline.helpdesk.taxonomy import SPECIALISTS, load_taxonomy
from firstline.helpdesk.tools.deps import OneTimeCodes
from firstline.helpdesk.triage import Triage, TriageModel, packaged_model_path
from firstline.knowledge.base import KnowledgeBase
from firstline.knowledge.embedders import LocalEmbedder
from firstline.knowledge.stores.memory import InMemoryStore
from firstline.runtime import demo_org, demo_runbooks
from firstline.ticketing import SqlTicketing

SCENARIOS = load_scenarios()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Triage, KnowledgeBase, OrgData]]:
    embedder = LocalEmbedder()
    knowledge = KnowledgeBase(Path(tmp_path_factory.mktemp("kb")), InMemoryStore(), embedder)
    knowledge.ingest([demo_runbooks()])
    triage = Triage(load_taxonomy(), TriageModel.load(packaged_model_path()), embedder)
    yield triage, knowledge, load_org(demo_org())
    knowledge.close()


def test_the_suite_covers_every_specialist_and_the_hard_cases() -> None:
    assert len(SCENARIOS) >= 40
    counts = Counter(s.specialist for s in SCENARIOS)
    assert set(counts) >= set(SPECIALISTS), f"missing: {set(SPECIALISTS) - set(counts)}"
    tags = " ".join(s.id for s in SCENARIOS)
    for case in ("unverified", "denied", "unknown-user", "known-incident", "someone-else", "injection"):
        assert case in tags, f"no scenario id mentions {case!r}"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario, world) -> None:  # type: ignore[no-untyped-def]
    triage, knowledge, org = world

    def make(directory: DirectoryBackend, tickets: SqlTicketing, codes: OneTimeCodes) -> Helpdesk:
        return Helpdesk(directory=directory, tickets=tickets, triage=triage, knowledge=knowledge, codes=codes)

    result = asyncio.run(run_scenario(scenario, org, make))
    assert result.passed, "\n".join(result.failures) + "\n\n" + result.transcript()
    assert summarise([result])["passed"] == 1
