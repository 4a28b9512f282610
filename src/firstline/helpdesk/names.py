"""Whether a typed word is part of a colleague's name, so that spelling correction leaves it as typed.

The spelling vocabulary is the training messages and the runbooks: it knows "names" but not "james", so
"can you unlock james whitfield's account" was read as "names whitfield's" — the beneficiary check then
missed the colleague and the refusal quoted words nobody typed. The directory knows who works here.
:class:`DirectoryNames` is asked only about the few words the corrector is about to replace, and answers
from the directory's people search: a word is a name when it is a whole word of a person's name, or of
the local part of their e-mail address (``j.whitfield``). :meth:`DirectoryNames.keeper` also keeps a word
typed beside such a name ("james whitfield's" when the directory has only a George Whitfield: the
employee means a person, misremembered or not, and the reply should quote what they typed). Answers are
kept for ``ttl_s`` (a new starter's name is known within that time); a directory that cannot be reached
answers "not a name" and is asked again next time.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Container

from firstline.directory import DirectoryBackend
from firstline.directory.models import Person
from firstline.errors import FirstlineError
from firstline.helpdesk.spelling import default_vocabulary

__all__ = ["DirectoryNames"]

log = logging.getLogger(__name__)

_WORDS = re.compile(r"[a-z]+")
_TYPED = re.compile(r"[a-z]+(?:['’]s)?", re.I)


def _name_words(person: Person) -> set[str]:
    local = person.email.partition("@")[0]
    return set(_WORDS.findall(person.name.lower())) | set(_WORDS.findall(local.lower()))


class DirectoryNames:
    """``names(word)``: whether lower-case ``word`` is a word of the name of someone in ``directory``."""

    def __init__(
        self, directory: DirectoryBackend, *, ttl_s: float = 600.0, size: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._directory, self._ttl, self._size, self._clock = directory, ttl_s, size, clock
        self._known: OrderedDict[str, tuple[bool, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, word: str) -> bool:
        word = word.lower()
        now = self._clock()
        with self._lock:
            cached = self._known.get(word)
            if cached is not None and now - cached[1] < self._ttl:
                self._known.move_to_end(word)
                return cached[0]
        try:
            found = any(word in _name_words(person) for person in self._directory.find_people(word))
        except FirstlineError as exc:  # the directory is down or refused: correct as if it were not a name
            log.warning("could not ask the directory whether %r is a name: %s", word, exc)
            return False
        with self._lock:
            self._known[word] = (found, now)
            self._known.move_to_end(word)
            while len(self._known) > self._size:
                self._known.popitem(last=False)
        return found

    def keeper(self, text: str, ordinary: Container[str] | None = None) -> Callable[[str], bool]:
        """``keep(word)`` for :meth:`SpellingCorrector.correct` on ``text``: ``word`` is a name, or is typed
        right before or after one. Neighbours in ``ordinary`` (the spelling vocabulary unless given: "can",
        "unlock") are not looked up."""
        ordinary = default_vocabulary() if ordinary is None else ordinary
        words = [w.lower().removesuffix("'s").removesuffix("’s") for w in _TYPED.findall(text)]

        def keep(word: str) -> bool:
            if self(word):
                return True
            at = [i for i, w in enumerate(words) if w == word]
            near = {words[j] for i in at for j in (i - 1, i + 1) if 0 <= j < len(words) and words[j] != word}
            return any(len(w) >= 3 and w not in ordinary and self(w) for w in near)

        return keep
