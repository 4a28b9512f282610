"""Structural checks for the triage taxonomy and labelled utterances in firstline.helpdesk.data."""

from __future__ import annotations

import importlib.resources
import json
import re
from collections import Counter
from functools import cache
from importlib.resources.abc import Traversable
from typing import Any

import pytest
import yaml

SPECIALISTS = frozenset({"device", "ticket", "network", "email", "computer", "printer", "phone", "security", "lookup"})
OTHER_LABELS = frozenset({"greeting", "gibberish", "out_of_scope"})
RISKS = frozenset({"read", "write", "destructive"})
REQUIRED_INTENTS = frozenset(
    {
        "password_reset", "account_unlock", "mfa_reset", "phishing_report", "suspicious_signin",
        "lost_device", "mdm_enrolment", "device_compliance", "new_phone_setup", "broken_hardware",
        "vpn_drops", "vpn_cannot_connect", "wifi", "network_share", "slow_internet",
        "mailbox_full", "distribution_list", "shared_mailbox", "outlook_password_prompt", "email_stuck_outbox",
        "calendar_delegation",
        "print_queue_stuck", "paper_jam", "toner", "add_printer", "scan_to_email",
        "desk_phone_down", "voicemail_pin", "call_forwarding", "softphone_headset",
        "slow_computer", "software_request", "app_crash", "disk_space", "os_update", "monitor_dock", "peripherals",
        "ticket_status", "ticket_update", "ticket_close", "ticket_escalate", "ticket_reopen",
        "policy_question", "equipment_request", "onboarding", "offboarding", "how_to",
    }
)  # fmt: skip
MIN_INTENTS = 45
MIN_INTENTS_PER_SPECIALIST = 3
MIN_TRAIN_PER_SPECIALIST = 25
MIN_HELDOUT_PER_SPECIALIST = 12
MIN_TRAIN_PER_INTENT = 6
MIN_TRAIN_PER_OTHER = {"greeting": 10, "gibberish": 10, "out_of_scope": 15}
MIN_HELDOUT_PER_OTHER = 5
NGRAM = 5

SNAKE_CASE_RE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
WORD_RE = re.compile(r"[\w']+")
SPLITS = ("train", "heldout")


def _data_dir() -> Traversable:
    return importlib.resources.files("firstline") / "helpdesk" / "data"


@cache
def _taxonomy() -> dict[str, Any]:
    data = yaml.safe_load((_data_dir() / "taxonomy.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict), "taxonomy.yaml is not a mapping"
    return data


@cache
def _intents() -> dict[str, dict[str, Any]]:
    return {intent["name"]: intent for intent in _taxonomy()["intents"]}


@cache
def _utterances(split: str) -> tuple[dict[str, str], ...]:
    file = _data_dir() / "utterances" / f"{split}.jsonl"
    rows: list[dict[str, str]] = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        assert line.strip(), f"{split}.jsonl:{number}: blank line"
        row = json.loads(line)
        assert isinstance(row, dict), f"{split}.jsonl:{number}: not a JSON object"
        assert set(row) == {"text", "agent", "intent"}, f"{split}.jsonl:{number}: keys are {sorted(row)}"
        for key in ("text", "agent", "intent"):
            assert isinstance(row[key], str) and row[key].strip(), f"{split}.jsonl:{number}: empty {key}"
        rows.append(row)
    return tuple(rows)


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    words = WORD_RE.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


# --- taxonomy ----------------------------------------------------------------


def test_taxonomy_has_exactly_the_nine_specialists() -> None:
    specialists = _taxonomy()["specialists"]
    assert set(specialists) == SPECIALISTS


@pytest.mark.parametrize("key", sorted(SPECIALISTS))
def test_specialist_has_required_fields(key: str) -> None:
    spec = _taxonomy()["specialists"][key]
    for field in ("name", "description", "assignment_group"):
        assert isinstance(spec.get(field), str) and spec[field].strip(), f"{key}: missing {field}"
    assert spec["name"].lower() == key, f"{key}: name {spec['name']!r} does not match its key"


def test_other_labels_are_listed_separately() -> None:
    other = _taxonomy()["other_labels"]
    assert set(other) == OTHER_LABELS
    assert not OTHER_LABELS & set(_taxonomy()["specialists"])


def test_intent_names_are_unique_snake_case_and_enough() -> None:
    names = [intent["name"] for intent in _taxonomy()["intents"]]
    duplicates = [name for name, count in Counter(names).items() if count > 1]
    assert not duplicates, f"duplicate intent names: {duplicates}"
    assert len(names) >= MIN_INTENTS
    bad = [name for name in names if not SNAKE_CASE_RE.match(name)]
    assert not bad, f"intent names not snake_case: {bad}"
    assert not set(names) & (SPECIALISTS | OTHER_LABELS), "an intent reuses a specialist or other label name"


def test_required_intents_present() -> None:
    missing = REQUIRED_INTENTS - set(_intents())
    assert not missing, f"missing intents: {sorted(missing)}"


def _intent_problems(intent: dict[str, Any]) -> list[str]:
    name = intent.get("name")
    problems: list[str] = []
    if intent.get("specialist") not in SPECIALISTS:
        problems.append(f"{name}: unknown specialist {intent.get('specialist')!r}")
    if not (isinstance(intent.get("description"), str) and intent["description"].strip()):
        problems.append(f"{name}: no description")
    if intent.get("risk") not in RISKS:
        problems.append(f"{name}: risk {intent.get('risk')!r} not in {sorted(RISKS)}")
    slots = intent.get("slots")
    if not (isinstance(slots, list) and all(isinstance(s, str) and SNAKE_CASE_RE.match(s) for s in slots)):
        problems.append(f"{name}: slots must be a list of snake_case names, got {slots!r}")
    elif len(set(slots)) != len(slots):
        problems.append(f"{name}: duplicate slots {slots!r}")
    for field in ("default_impact", "default_urgency"):
        value = intent.get(field)
        if not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 3):
            problems.append(f"{name}: {field}={value!r} not in 1..3")
    return problems


def test_every_intent_has_valid_fields() -> None:
    problems = [problem for intent in _taxonomy()["intents"] for problem in _intent_problems(intent)]
    assert not problems, "\n".join(problems)


def test_each_specialist_has_enough_intents() -> None:
    counts = Counter(intent["specialist"] for intent in _taxonomy()["intents"])
    thin = {key: counts[key] for key in SPECIALISTS if counts[key] < MIN_INTENTS_PER_SPECIALIST}
    assert not thin, f"specialists with fewer than {MIN_INTENTS_PER_SPECIALIST} intents: {thin}"


# --- utterances ----------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_labels_are_consistent_with_taxonomy(split: str) -> None:
    intents = _intents()
    problems: list[str] = []
    for row in _utterances(split):
        agent, intent = row["agent"], row["intent"]
        if agent in OTHER_LABELS:
            if intent != agent:
                problems.append(f"{row['text']!r}: intent {intent!r} should equal agent {agent!r}")
        elif agent in SPECIALISTS:
            if intent not in intents:
                problems.append(f"{row['text']!r}: unknown intent {intent!r}")
            elif intents[intent]["specialist"] != agent:
                problems.append(f"{row['text']!r}: intent {intent!r} belongs to {intents[intent]['specialist']!r}")
        else:
            problems.append(f"{row['text']!r}: unknown agent {agent!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("split", "minimum"), [("train", MIN_TRAIN_PER_SPECIALIST), ("heldout", MIN_HELDOUT_PER_SPECIALIST)]
)
def test_enough_utterances_per_specialist(split: str, minimum: int) -> None:
    counts = Counter(row["agent"] for row in _utterances(split))
    thin = {key: counts[key] for key in sorted(SPECIALISTS) if counts[key] < minimum}
    assert not thin, f"{split}: specialists under {minimum}: {thin}"


def test_enough_other_labels() -> None:
    train = Counter(row["agent"] for row in _utterances("train"))
    heldout = Counter(row["agent"] for row in _utterances("heldout"))
    for label, minimum in MIN_TRAIN_PER_OTHER.items():
        assert train[label] >= minimum, f"train: {label} has {train[label]} < {minimum}"
        assert heldout[label] >= MIN_HELDOUT_PER_OTHER, f"heldout: {label} has {heldout[label]}"


def test_every_intent_has_enough_train_utterances() -> None:
    counts = Counter(row["intent"] for row in _utterances("train"))
    thin = {name: counts[name] for name in _intents() if counts[name] < MIN_TRAIN_PER_INTENT}
    assert not thin, f"intents with fewer than {MIN_TRAIN_PER_INTENT} train utterances: {thin}"


@pytest.mark.parametrize("split", SPLITS)
def test_no_duplicates_within_split(split: str) -> None:
    counts = Counter(_normalise(row["text"]) for row in _utterances(split))
    duplicates = [text for text, count in counts.items() if count > 1]
    assert not duplicates, f"{split}: duplicate texts: {duplicates}"


def test_no_duplicates_across_splits() -> None:
    train = {_normalise(row["text"]) for row in _utterances("train")}
    shared = [row["text"] for row in _utterances("heldout") if _normalise(row["text"]) in train]
    assert not shared, f"heldout texts also in train: {shared}"


def test_heldout_shares_no_five_word_run_with_train() -> None:
    train_ngrams: dict[tuple[str, ...], str] = {}
    for row in _utterances("train"):
        for gram in _ngrams(row["text"]):
            train_ngrams.setdefault(gram, row["text"])
    overlaps = [
        f"{row['text']!r} ~ {train_ngrams[gram]!r} ({' '.join(gram)})"
        for row in _utterances("heldout")
        for gram in sorted(_ngrams(row["text"]))
        if gram in train_ngrams
    ]
    assert not overlaps, "heldout lines too close to train:\n" + "\n".join(overlaps)
