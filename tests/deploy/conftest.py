"""Fixtures for the deployment tests: where the files are, and whether a ``FIRSTLINE_*`` name is a setting.

The deployment files (``compose.yaml``, ``deploy/``, ``Dockerfile``) are configuration, not code: what
can go wrong is a name Firstline does not know, a value it refuses, a probe on the wrong path, or a
reference between two files that no longer match. These fixtures give the tests the two checks they
all need: the path of the repository, and :func:`setting_name_problem`, which walks a
``FIRSTLINE_A__B__C`` name down :class:`firstline.settings.Settings` the way pydantic-settings reads
the environment (``__`` between levels, any key under a ``dict`` field). pydantic-settings ignores an
unknown top-level name (``FIRSTLINE_TYPO``) without a word, so loading the settings alone does not
catch every misspelling.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from firstline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo() -> Path:
    return ROOT


def _models_in(annotation: Any) -> list[Any]:
    """The annotation itself, or its members when it is a union (``X | None``)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def setting_name_problem(name: str) -> str | None:
    """None when ``name`` (``FIRSTLINE_SECTION__FIELD``) sets a real setting, else what is wrong."""
    if not name.startswith("FIRSTLINE_"):
        return f"{name} does not start with FIRSTLINE_"
    if name == "FIRSTLINE_CONFIG":  # read by load_settings itself: the path of firstline.toml
        return None
    parts = name.removeprefix("FIRSTLINE_").lower().split("__")
    current: Any = Settings
    for depth, part in enumerate(parts):
        candidates = _models_in(current)
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        mapping = next((c for c in candidates if typing.get_origin(c) is dict), None)
        if model is not None:
            field = model.model_fields.get(part)
            if field is None:
                return f"{name}: {'.'.join(parts[:depth]) or 'the settings'} has no field {part!r}"
            current = field.annotation
        elif mapping is not None:  # any key names an entry; the next part is inside its value
            current = typing.get_args(mapping)[1]
        else:
            return f"{name}: {'.'.join(parts[:depth])} is a plain value and has no {part!r}"
    if any(isinstance(c, type) and issubclass(c, BaseModel) for c in _models_in(current)):
        return f"{name} names a whole section, not one setting"
    return None


@pytest.fixture(scope="session")
def name_problem() -> Callable[[str], str | None]:
    return setting_name_problem
