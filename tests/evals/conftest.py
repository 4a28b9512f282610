"""What the scenario suites share: the world every scenario plays in (triage model, runbooks, demo org)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from firstline.directory import load_org
from firstline.directory.models import OrgData
from firstline.helpdesk.taxonomy import load_taxonomy
from firstline.helpdesk.triage import Triage, TriageModel, packaged_model_path
from firstline.knowledge.base import KnowledgeBase
from firstline.knowledge.embedders import LocalEmbedder
from firstline.knowledge.stores.memory import InMemoryStore
from firstline.runtime import demo_org, demo_runbooks


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Triage, KnowledgeBase, OrgData]]:
    embedder = LocalEmbedder()
    knowledge = KnowledgeBase(Path(tmp_path_factory.mktemp("kb")), InMemoryStore(), embedder)
    knowledge.ingest([demo_runbooks()])
    triage = Triage(load_taxonomy(), TriageModel.load(packaged_model_path()), embedder)
    yield triage, knowledge, load_org(demo_org())
    knowledge.close()
