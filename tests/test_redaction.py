"""The redactor leaves what a helpdesk needs: runbook prose, ordinary messages, ticket numbers; and it stays
linear on hostile input. (What it must remove is tested against the independent corpus in tests/security.)"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import pytest

from firstline.helpdesk.taxonomy import data_dir
from firstline.redaction import redact, redact_text


def test_every_shipped_runbook_comes_through_unchanged() -> None:
    folder = resources.files("firstline") / "helpdesk" / "seed" / "runbooks"
    changed = [
        p.name for p in folder.iterdir() if p.name.endswith(".md") and redact(p.read_text()).text != p.read_text()
    ]
    assert changed == []


def test_ordinary_messages_change_only_where_they_type_a_code() -> None:
    changed = []
    for name in ("utterances/train", "utterances/heldout", "acts/train", "acts/heldout"):
        for line in (data_dir() / f"{name}.jsonl").read_text().splitlines():
            text = json.loads(line)["text"]
            out = redact(text).text
            if out != text:
                changed.append(out)
    assert changed and all("[code]" in out for out in changed), changed


@pytest.mark.parametrize(
    "text",
    [
        '"the guest network, the code is..." (INC0000011)',
        "error code 80180014 when enrolling",
        "my password expired, ticket RITM0012345",
        "the password prompt keeps appearing in Outlook 16.0.17928",
        "Tier-1 may reset a 6-digit PIN for NW-L-0206",
    ],
)
def test_what_looks_like_a_secret_but_is_not_is_kept(text: str) -> None:
    assert redact(text).text == text


def test_hostile_input_stays_linear() -> None:
    started = time.perf_counter()
    for text in ("PASSWORD_" * 9000, "a." * 40000, "password " * 20000, "pwd:" * 30000, "Cookie: " + "a=b; " * 20000):
        redact(text, expect_code=True)
    assert time.perf_counter() - started < 10  # each is 80-180 kB; a quadratic pattern took 10 s for one


def test_the_held_out_corpus_measures_how_far_the_rules_reach() -> None:
    """tests/security/data/*_heldout.jsonl was written after the redactor was tuned on the first corpus, and not
    used to tune it: its rates are the honest measure (bench/redaction.py prints them) and must not fall."""
    folder = Path(__file__).parent / "security" / "data"
    rows = [json.loads(line) for line in (folder / "secrets_heldout.jsonl").read_text().splitlines() if line.strip()]
    removed = sum(
        all(s not in redact(r["text"], expect_code=r["kind"] == "one_time_code").text for s in r["secrets"])
        for r in rows
    )
    alike = [json.loads(line) for line in (folder / "not_secrets_heldout.jsonl").read_text().splitlines() if line]
    kept = sum(all(k in redact(r["text"]).text for k in r["keep"]) for r in alike)
    assert len(rows) >= 120 and removed / len(rows) >= 0.85, (removed, len(rows))
    assert len(alike) >= 60 and kept / len(alike) >= 0.95, (kept, len(alike))


def test_remembered_texts_never_include_a_found_secret() -> None:
    """redact_text remembers short texts only when nothing was removed, so its memory holds no found secret."""
    from firstline import redaction

    clean, secret = "printer jammed in tray 2 again", "my password is Tr0ub4dor&3xyz"
    for _ in range(2):
        assert redact_text(clean) == clean
        assert "Tr0ub4dor&3xyz" not in redact_text(secret)
    assert clean in redaction._CLEAN
    assert secret not in redaction._CLEAN
    long_secret = secret + " " + "and the VPN drops every few minutes. " * 10
    assert "Tr0ub4dor&3xyz" not in redact_text(long_secret) == redact_text(long_secret)
    remembered = [*redaction._CLEAN, *map(repr, redaction._SEEN), *redaction._SEEN.values()]
    assert not any("Tr0ub4dor" in text for text in remembered)


def test_old_one_was_needs_a_password_word_or_a_made_up_value() -> None:
    """'old one was wiped' (a phone) stays; with a password word in the message, or a made-up value, it goes."""
    assert redact("my new phone needs the authenticator app, old one was wiped").kinds == ()
    assert redact("the old one was broken, the new one is fine").kinds == ()
    changed = redact("changed my password, old one was hunter and the new one is fishing")
    assert "hunter" not in changed.text and "fishing" not in changed.text
    assert "tr0ub4dor" not in redact("the old one was tr0ub4dor").text


@pytest.mark.parametrize(
    ("text", "only"),
    [
        ("my new password is Summer2026!x", True),
        ("password: Qwerty!234x", True),
        ("fyi my password is now Hunter22!x", True),
        ("here's the key sk-abcdefghijklmnopqrstuvwxyz123456", True),
        ("my password Summer2026!x doesn't work, reset it please", False),  # a request comes with it
        ("reset my password, set it to Summer2026!x", False),
        ("my password is expired", False),  # no secret at all
    ],
)
def test_a_message_that_only_hands_over_a_secret_is_told_apart(text: str, only: bool) -> None:
    assert redact(text).only_secret is only


def test_a_typed_code_is_an_answer_not_a_disclosure() -> None:
    code = redact("483920", expect_code=True)
    assert code.kinds == ("code",) and not code.only_secret


def _passages(score: float, secret: str = "") -> str:
    """A tool result as a model reads it: runbook passages with their scores, JSON-encoded."""
    rows = [
        {"title": "Slow computer", "text": "1. Restart, not shut down.\n2. Open Task Manager and sort by CPU. " * 4,
         "score": score, "chunk_id": "91fbc0ad"},
        {"title": "Printer jams", "text": "Open tray 2 and remove the paper gently. " * 5 + secret,
         "score": round(score / 2, 3), "chunk_id": "5dedc922"},
    ]  # fmt: skip
    return json.dumps(rows)


def test_a_json_tool_result_is_redacted_field_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tool result that differs from an earlier one only in a score is not scanned again whole: its passages
    are known; a secret inside one of them is still replaced, and the rest of the document kept."""
    from firstline import redaction
    from firstline.redaction import redact_data

    first = _passages(0.979)
    assert redact_data(first) is first  # nothing to take out: the same string back
    redact_data({"role": "tool", "content": first})
    scanned: list[int] = []
    real = redaction.redact

    def counted(text: str, **kwargs: bool) -> redaction.Redacted:
        scanned.append(len(text))
        return real(text, **kwargs)

    monkeypatch.setattr(redaction, "redact", counted)
    again = _passages(0.812)
    assert redact_data({"role": "tool", "content": again}) == {"role": "tool", "content": again}
    assert scanned == []  # every passage was seen before; the changed score is not text
    leaked = _passages(0.5, secret=" My password is Hunter2!Blue")
    stored = redact_data({"content": leaked})["content"]
    assert "Hunter2!Blue" not in stored and "[password]" in stored
    rows = json.loads(stored)
    assert [r["chunk_id"] for r in rows] == ["91fbc0ad", "5dedc922"] and rows[0] == json.loads(leaked)[0]
    assert max(scanned) < 400  # the passage with the new words, not the 800-character document


def test_text_that_only_looks_like_json_is_redacted_as_text() -> None:
    from firstline.redaction import redact_data

    text = "[urgent] " + "my laptop will not start and the screen stays black. " * 5 + "password: Hunter2!Blue {x}"
    assert "Hunter2!Blue" not in redact_data(text) and "[password]" in redact_data(text)
    broken = '[{"title": "x", "text": "' + "a" * 300 + ' password: Hunter2!Blue"'  # cut off: not JSON
    assert "Hunter2!Blue" not in redact_data(broken)


def test_a_state_saved_again_is_redacted_where_it_changed_and_only_there(monkeypatch: pytest.MonkeyPatch) -> None:
    """``redact_data_since`` takes the parts equal to the last saved (redacted) state as they are, and redacts
    everything new, however deep: a secret in a new reply, in a new list item, under a secret-sounding key."""
    from firstline import redaction
    from firstline.redaction import redact_data, redact_data_since

    earlier = redact_data({
        "dialogue": {"topics": [{"run": {"messages": [{"role": "user", "content": "vpn drops " * 40}]}}],
                     "last_reply": "Try reconnecting."},
        "usage": {"turns": 1},
    })  # fmt: skip
    scanned: list[str] = []
    real = redaction.redact

    def counted(text: str, **kwargs: bool) -> redaction.Redacted:
        scanned.append(text)
        return real(text, **kwargs)

    monkeypatch.setattr(redaction, "redact", counted)
    now = {
        "dialogue": {
            "topics": [
                {"run": {"messages": [{"role": "user", "content": "vpn drops " * 40}]}},
                {"run": {"messages": [{"role": "user", "content": "my password is Hunter2!Blue and it fails"}]}},
            ],
            "last_reply": "Your new one-time pin: 448812, token=sk-live-ABCDEF0123456789abcdef",
        },
        "usage": {"turns": 2},
        "pin": "448812",
    }
    clean = redact_data_since(now, earlier)
    assert clean == redact_data(now)  # the same result as redacting all of it
    text = str(clean)
    assert "Hunter2!Blue" not in text and "sk-live-ABCDEF0123456789abcdef" not in text and "448812" not in text
    assert clean["dialogue"]["topics"][0] is earlier["dialogue"]["topics"][0]  # the unchanged topic, as it was
    assert not any("vpn drops" in s for s in scanned)  # ...and not scanned again
    assert redact_data_since(earlier, earlier) is earlier


def test_the_json_codec_writes_what_the_standard_library_writes() -> None:
    """Compact JSON with non-ASCII kept, int keys as strings, datetimes to ``default`` (or refused as the
    standard library refuses them), integers over 64 bits through the standard library."""
    import datetime as dt

    from firstline import jsoncodec

    value = {"text": "café ✓ ‘quoted’", 1: [1.5, None, True], "nested": {"big": 2**70}, "t": ("a", "b")}
    assert jsoncodec.dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert jsoncodec.loads(jsoncodec.dumps(value)) == json.loads(json.dumps(value))
    when = dt.datetime(2026, 12, 6, 19, 30, tzinfo=dt.UTC)
    assert jsoncodec.loads(jsoncodec.dumps({"at": when}, default=str)) == {"at": str(when)}
    with pytest.raises(TypeError):
        jsoncodec.dumps({"at": when})
    assert jsoncodec.loads("[NaN]")[0] != jsoncodec.loads("[NaN]")[0]  # old text with NaN still reads
    with pytest.raises(ValueError):
        jsoncodec.loads("{not json")
