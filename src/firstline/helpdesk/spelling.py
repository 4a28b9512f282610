"""Spelling tolerance for triage: fix the typos and chat shorthand of hurried helpdesk messages.

A :class:`SpellingCorrector` knows a vocabulary with word counts. For each lower-case or
capitalised word of four letters or more that it does not know, it picks the closest known word:
Damerau-Levenshtein distance 1 (2 for words of seven letters or more); among the closest, one
that keeps every letter typed, then the most frequent. Candidates come from a symmetric-delete
index: each vocabulary word is filed under every string left by deleting up to two of its
letters, so a typo is looked up under its own deletions and only the handful of words found are
measured. Chat shorthand (``pls``, ``thx``, ``cant``) is always expanded from a fixed map.

Words with digits, e-mail addresses, URLs, paths, hyphenated names and ALL-CAPS codes
(``NW-L-0450``, ``INC0000123``, ``VPN``) are never changed, nor are mixed-case product names
(``GlobalProtect``). Texts people typed carry typos of their own: a word seen once that is a
frequent word with a doubled letter made single (``pasword`` beside ``password``, seen at least
twenty times as often) is taken for a typo, not vocabulary.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from firstline.helpdesk.taxonomy import data_dir

__all__ = ["ABBREVIATIONS", "SpellingCorrector", "default_vocabulary", "edit_distance"]

ABBREVIATIONS: Mapping[str, str] = {
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "thnx": "thanks",
    "pwd": "password",
    "pw": "password",
    "u": "you",
    "hlp": "help",
    "cant": "can't",
    "wont": "won't",
    "dont": "don't",
    "doesnt": "doesn't",
    "isnt": "isn't",
    "didnt": "didn't",
    "im": "I'm",
    "ive": "I've",
}

_MIN_LENGTH = 4  # shorter words are only fixed by a doubled letter: too many real words are one edit apart
_LONG = 7  # words this long may be two edits from the right one
_MAX_LENGTH = 30  # longer "words" are not words: left alone, and not indexed
_TYPO_COUNT = 1  # a word seen this often or less ...
_TYPO_DOMINANCE = 20  # ... that is a word this many times as frequent, less one of a double letter, is a typo

_COUNTED = re.compile(r"[a-z]+")
_CHUNK = re.compile(r"\S+")
_LEADING = "\"'([{<*_"
_TRAILING = ".,!?;:\"')]}>*_"
_PLAIN = re.compile(r"[A-Za-z]+")
_DRIVE = re.compile(r"\s*drive\b", re.I)  # "u drive" is the U: drive, not "you drive"


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Damerau-Levenshtein distance (optimal string alignment) of ``a`` and ``b``, or ``limit + 1`` when above it."""
    if a == b:
        return 0
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, before[j - 2] + 1)
            current[j] = value
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return min(previous[-1], limit + 1)


def _deletions(word: str, depth: int) -> set[str]:
    """``word`` and every string left by deleting up to ``depth`` of its letters."""
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))} - found
        found |= frontier
    return found


def _undoubled(word: str, count: int, counts: Mapping[str, int]) -> bool:
    """Whether ``word`` is a far more frequent word with one of its double letters typed once."""
    return len(word) >= _MIN_LENGTH and any(
        counts.get(word[: i + 1] + word[i:], 0) >= _TYPO_DOMINANCE * count for i in range(len(word))
    )


def _subsequence(short: str, long: str) -> bool:
    """Whether every letter of ``short`` appears in ``long`` in order (only letters were left out)."""
    letters = iter(long)
    return all(ch in letters for ch in short)


def _depth(length: int) -> int:
    return 2 if length >= _LONG else 1


@dataclass(frozen=True, slots=True)
class SpellingCorrector:
    """Corrects words against a vocabulary of ``word -> count`` (build it with :meth:`from_texts`).

    ``index`` files each word under the strings left by deleting one or two of its letters.
    """

    counts: Mapping[str, int] = field(repr=False)
    index: Mapping[str, tuple[str, ...]] = field(repr=False)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int]) -> SpellingCorrector:
        """A corrector for this vocabulary, taken as spelled right (lower-case words)."""
        index: dict[str, list[str]] = {}
        for word in (w for w in counts if len(w) <= _MAX_LENGTH):
            # A query of length L >= _LONG searches two deletions deep; its matches are >= _LONG - 2 long.
            for key in _deletions(word, 2 if len(word) >= _LONG - 2 else 1):
                index.setdefault(key, []).append(word)
        return cls(dict(counts), {key: tuple(words) for key, words in index.items()})

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> SpellingCorrector:
        """Count the words of ``texts`` (lower-cased); rare misspellings of frequent words are left out."""
        counts = Counter(w for text in texts for w in _COUNTED.findall(text.lower()) if len(w) <= _MAX_LENGTH)
        typos = {word for word, count in counts.items() if count <= _TYPO_COUNT and _undoubled(word, count, counts)}
        return cls.from_counts({word: count for word, count in counts.items() if word not in typos})

    def __contains__(self, word: object) -> bool:
        return word in self.counts

    def suggest(self, word: str) -> str | None:
        """The known word nearest to lower-case ``word``, or ``None`` when none is near enough.

        Among the nearest, a word with exactly the letters typed wins (two swapped letters: ``wnat`` is
        ``want``), then one that keeps every letter typed (a dropped letter is the commonest typo:
        ``printr`` is ``printer``, not ``print``), then the most frequent. A known word found whole inside a
        word two or more letters longer is no correction of it (``wetransfer`` is not ``transfer``).
        """
        if len(word) > _MAX_LENGTH:
            return None
        limit = _depth(len(word))
        best: tuple[int, bool, bool, int, str] | None = None
        for candidate in self._near(word, limit):
            if len(word) - len(candidate) >= 2 and candidate in word:
                continue  # "wetransfer" holds "transfer" whole: a compound or a name, not two letters typed too many
            distance = edit_distance(word, candidate, limit)
            if distance <= limit:
                same_letters = sorted(word) == sorted(candidate)  # "wnat" is "want" swapped, not "what"
                key = (
                    distance,
                    not same_letters,
                    not _subsequence(word, candidate),
                    -self.counts[candidate],
                    candidate,
                )
                best = key if best is None or key < best else best
        return best[-1] if best else None

    def correct(self, text: str, keep: Callable[[str], bool] | None = None) -> str:
        """``text`` with shorthand expanded and unknown words replaced by their closest known word.

        ``keep(word)`` is asked about each lower-case word just before it would be replaced (not for the
        shorthand): true leaves it as typed. The desk asks the directory, so "unlock james whitfield"
        keeps a colleague's name that is one letter from "names".
        """
        return _CHUNK.sub(lambda m: self._fix_chunk(m.group(), text, m.end(), keep), text)

    def doubled(self, word: str) -> str | None:
        """For a word too short for :meth:`suggest`: the most frequent known word that is ``word`` with one
        of its letters typed twice ("ful" is "full", "wil" is "will"; a doubled letter is the one short-word
        typo that rarely makes another word), or ``None``."""
        found = {word[: i + 1] + word[i:] for i in range(len(word)) if word[i].isalpha()} & self.counts.keys()
        return max(sorted(found), key=lambda w: self.counts[w]) if found else None

    def _near(self, word: str, depth: int) -> Iterator[str]:
        seen: set[str] = set()
        for key in _deletions(word, depth):
            for candidate in self.index.get(key, ()):
                if candidate not in seen:
                    seen.add(candidate)
                    yield candidate

    def _fix_chunk(self, chunk: str, text: str, end: int, keep: Callable[[str], bool] | None) -> str:
        core = chunk.lstrip(_LEADING)
        lead = chunk[: len(chunk) - len(core)]
        core = core.rstrip(_TRAILING)
        trail = chunk[len(lead) + len(core) :]
        if len(core) > _MAX_LENGTH or not _PLAIN.fullmatch(core):
            return chunk  # digits, '@', '/', '.', '-' or non-ASCII inside: a code, an address, a name
        lower = core.lower()
        if not (core == lower or core == lower.capitalize()) or (len(core) > 1 and core.isupper()):
            return chunk  # ALL-CAPS code or MixedCase product name
        start = end - len(chunk)
        if core != lower and (_CAPITALISED_NEXT.match(text, end) or _CAPITALISED_BEFORE.search(text, 0, start)):
            return chunk  # a run of capitalised words is a name ("Megan Lloyd"), not a typo
        fixed = ABBREVIATIONS.get(lower)
        if fixed is not None:
            if lower == "u" and (trail.startswith(":") or _DRIVE.match(text, end)):
                return chunk  # the U: drive
        elif lower not in self.counts and len(lower) >= _MIN_LENGTH - 1:
            # a short word typed with a capital is more likely a name ("Ben") than a typo
            fixed = (
                self.suggest(lower) if len(lower) >= _MIN_LENGTH else (self.doubled(lower) if core == lower else None)
            )
            if fixed is not None and keep is not None and keep(lower):
                return chunk  # a word the caller knows (a colleague's name)
        if fixed is None or fixed == lower:
            return chunk
        if core != lower and fixed[0].islower():
            fixed = fixed[0].upper() + fixed[1:]
        return f"{lead}{fixed}{trail}"


_CAPITALISED_NEXT = re.compile(r"\s+[A-Z][a-z'’]+")
_CAPITALISED_BEFORE = re.compile(r"(?<![.!?]\s)\b[A-Z][a-z'’]+\s+$")


def _runbooks_dir() -> Path:
    return Path(str(resources.files("firstline") / "helpdesk" / "seed" / "runbooks"))


def _packaged_texts() -> Iterator[str]:
    # the triage and the dialogue-act training messages: "nope", "cheers" and "ta" are words too
    for path in (data_dir() / "utterances" / "train.jsonl", data_dir() / "acts" / "train.jsonl"):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield str(json.loads(line).get("text", ""))
    for runbook in sorted(_runbooks_dir().glob("*.md")):
        yield runbook.read_text(encoding="utf-8")


@cache
def default_vocabulary() -> SpellingCorrector:
    """The corrector for the packaged vocabulary: the training messages and the demo runbooks (built once)."""
    return SpellingCorrector.from_texts(_packaged_texts())
