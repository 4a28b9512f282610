"""Structural checks for the demo knowledge base shipped in firstline.helpdesk.seed.runbooks."""

from __future__ import annotations

import datetime as dt
import importlib.resources
import re
from collections import Counter
from dataclasses import dataclass
from importlib.resources.abc import Traversable

import pytest
import yaml

CATEGORIES = frozenset({"device", "ticket", "network", "email", "computer", "printer", "phone", "security", "lookup"})
AUDIENCES = frozenset({"employee", "it-staff", "manager", "all"})
MIN_FILES = 45
MIN_PER_CATEGORY = 4
MIN_LOOKUP = 8

FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(?P<meta>.*?)\n---[ \t]*\n(?P<body>.*)\Z", re.DOTALL)
NUMBERED_ITEM_RE = re.compile(r"^\d+\. ", re.MULTILINE)
FENCE_RE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Runbook:
    name: str
    meta: dict[str, object]
    body: str


def _runbook_dir() -> Traversable:
    return importlib.resources.files("firstline") / "helpdesk" / "seed" / "runbooks"


def _markdown_files() -> list[Traversable]:
    folder = _runbook_dir()
    return sorted((f for f in folder.iterdir() if f.is_file() and f.name.endswith(".md")), key=lambda f: f.name)


def _parse(file: Traversable) -> Runbook:
    text = file.read_text(encoding="utf-8").replace("\r\n", "\n")
    match = FRONT_MATTER_RE.match(text)
    assert match is not None, f"{file.name}: missing or malformed YAML front matter"
    meta = yaml.safe_load(match.group("meta"))
    assert isinstance(meta, dict), f"{file.name}: front matter is not a mapping"
    return Runbook(name=file.name, meta=meta, body=match.group("body"))


def _lines_outside_fences(body: str) -> list[str]:
    lines: list[str] = []
    in_fence = False
    for line in body.splitlines():
        if FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            lines.append(line)
    return lines


def _h2_headings(body: str) -> list[str]:
    return [line[3:].strip() for line in _lines_outside_fences(body) if line.startswith("## ")]


RUNBOOK_FILES = _markdown_files()
RUNBOOKS = [_parse(f) for f in RUNBOOK_FILES]
IDS = [rb.name for rb in RUNBOOKS]


def test_runbook_folder_has_enough_files() -> None:
    assert len(RUNBOOK_FILES) >= MIN_FILES, f"expected >= {MIN_FILES} runbooks, found {len(RUNBOOK_FILES)}"


def test_no_subfolders_or_stray_files() -> None:
    for entry in _runbook_dir().iterdir():
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        assert entry.is_file(), f"unexpected subfolder {entry.name}"
        assert entry.name.endswith(".md"), f"unexpected non-markdown file {entry.name}"


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=IDS)
def test_front_matter_fields(runbook: Runbook) -> None:
    meta = runbook.meta
    title = meta.get("title")
    assert isinstance(title, str) and title.strip(), f"{runbook.name}: title missing"

    category = meta.get("category")
    assert category in CATEGORIES, f"{runbook.name}: bad category {category!r}"

    audience = meta.get("audience")
    assert audience in AUDIENCES, f"{runbook.name}: bad audience {audience!r}"

    tags = meta.get("tags")
    assert isinstance(tags, list) and tags, f"{runbook.name}: tags must be a non-empty list"
    for tag in tags:
        assert isinstance(tag, str) and tag, f"{runbook.name}: tag {tag!r} is not a non-empty string"
        assert tag == tag.lower(), f"{runbook.name}: tag {tag!r} is not lowercase"

    reviewed = meta.get("last_reviewed")
    assert isinstance(reviewed, dt.date) and not isinstance(reviewed, dt.datetime), (
        f"{runbook.name}: last_reviewed must be an ISO date, got {reviewed!r}"
    )


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=IDS)
def test_file_name_matches_category(runbook: Runbook) -> None:
    category = str(runbook.meta.get("category"))
    assert runbook.name.startswith(f"{category}-"), f"{runbook.name}: file name must start with '{category}-'"
    assert re.fullmatch(r"[a-z]+-[a-z0-9]+(?:-[a-z0-9]+)*\.md", runbook.name), f"{runbook.name}: bad file name"


def test_category_coverage() -> None:
    counts = Counter(str(rb.meta.get("category")) for rb in RUNBOOKS)
    for category in sorted(CATEGORIES):
        minimum = MIN_LOOKUP if category == "lookup" else MIN_PER_CATEGORY
        assert counts[category] >= minimum, f"category {category}: {counts[category]} files, need >= {minimum}"


def test_titles_are_unique() -> None:
    counts = Counter(str(rb.meta.get("title")).strip().casefold() for rb in RUNBOOKS)
    duplicates = sorted(title for title, n in counts.items() if n > 1)
    assert not duplicates, f"duplicate titles: {duplicates}"


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=IDS)
def test_single_h1_matches_title(runbook: Runbook) -> None:
    h1s = [line[2:].strip() for line in _lines_outside_fences(runbook.body) if line.startswith("# ")]
    assert len(h1s) == 1, f"{runbook.name}: expected exactly one H1, found {len(h1s)}"
    assert h1s[0] == str(runbook.meta["title"]).strip(), f"{runbook.name}: H1 {h1s[0]!r} differs from title"


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=IDS)
def test_required_sections(runbook: Runbook) -> None:
    headings = _h2_headings(runbook.body)
    assert "When to escalate" in headings, f"{runbook.name}: missing '## When to escalate'"
    if runbook.meta.get("category") != "lookup":
        assert "What Tier-1 may and may not do" in headings, (
            f"{runbook.name}: missing '## What Tier-1 may and may not do'"
        )
        assert "Symptoms" in headings, f"{runbook.name}: missing '## Symptoms'"
        assert "Steps" in headings, f"{runbook.name}: missing '## Steps'"
    else:
        assert "When this applies" in headings, f"{runbook.name}: missing '## When this applies'"


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=IDS)
def test_has_numbered_steps(runbook: Runbook) -> None:
    visible = "\n".join(_lines_outside_fences(runbook.body))
    assert NUMBERED_ITEM_RE.search(visible), f"{runbook.name}: no numbered list found"


# Sections written for the IT team; the chat never shows them to employees (helpdesk/tools/lookup.py).
IT_SECTIONS = ("When to escalate", "What Tier-1 may and may not do")
TECHNICIAN_VOICE = re.compile(
    r"ask the user|tell the user|contact the user|the requester|\bthe user\b|\bthe caller\b|tier-1|tier 1|"
    r"\b(?:my|get|set|send|check|mark|escalate|verify|report|clear|order|reset|unlock)_[a-z_]+\b",
    re.I,
)


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=IDS)
def test_what_employees_read_is_written_to_them(runbook: Runbook) -> None:
    """Everything outside the IT sections is shown in the chat as it is: it speaks to the employee."""
    shown, wrong = True, []
    for line in runbook.body.splitlines():
        if line.startswith("## "):
            shown = line[3:].strip() not in IT_SECTIONS
        if shown and (match := TECHNICIAN_VOICE.search(line)):
            wrong.append(f"{match.group(0)!r} in: {line.strip()[:100]}")
    assert not wrong, "\n".join(wrong)
