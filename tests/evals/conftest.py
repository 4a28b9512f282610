"""What the scenario suites share: the world every scenario plays in (triage model, runbooks, demo org)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from firstline.directory.models import OrgData
from firstline.helpdesk.taxonomy import load_taxonomy
from firstline.helpdesk.triage import Triage, TriageModel, packaged_model_path
from firstline.knowledge.base import KnowledgeBase
from firstline.knowledge.embedders import LocalEmbedder
from firstline.knowledge.stores.memory import InMemoryStore
from firstline.runtime import demo_runbooks
from firstline.testing.directory import demo_org as moved_demo_org  # the sign-in log moved to now


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Triage, KnowledgeBase, OrgData]]:
    embedder = LocalEmbedder()
    knowledge = KnowledgeBase(Path(tmp_path_factory.mktemp("kb")), InMemoryStore(), embedder)
    knowledge.ingest([demo_runbooks()])
    triage = Triage(load_taxonomy(), TriageModel.load(packaged_model_path()), embedder)
    yield triage, knowledge, moved_demo_org()
    knowledge.close()
