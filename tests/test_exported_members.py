from __future__ import annotations

import subprocess
import sys

import firstline


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert firstline.__all__ == sorted(firstline.__all__)
    assert set(firstline.__all__) == {*firstline._EXPORTS, "__version__"}
    for name in firstline.__all__:
        assert getattr(firstline, name) is not None, name


def test_unknown_attribute() -> None:
    try:
        firstline.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_import_is_cheap() -> None:
    """`import firstline` must not import torch, chromadb or the knowledge engine."""
    heavy = "('torch', 'chromadb', 'firstline.knowledge')"
    code = f"import sys, firstline; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
