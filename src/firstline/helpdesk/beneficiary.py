"""Whose thing a request acts on: the requester's own ("self") or another person's ("other").

Tier-1 acts only on the requester's own account, devices, line, mailbox and tickets. Whether "reset
the voicemail PIN for megan.lloyd" or "forward my calls to 4818, that's David's desk" asks that is a
question of meaning, not of names or pronouns: the second names someone else and is the requester's
own request. The evidence:

* a classifier trained like the dialogue-act model (MiniLM embedding plus similarity to the training
  utterances of each label, into a logistic regression) on our own examples
  (``helpdesk/data/beneficiary/train.jsonl``; measured on ``heldout.jsonl``);
* the wording: a thing of one other person named as what is acted on ("my manager's laptop was stolen",
  "reset her PIN", "Kwame Mensah's voicemail PIN"; not "forward my calls to Megan's extension");
* whether anyone besides the requester is mentioned at all ("forgot pwd after the bank holiday" mentions
  nobody, so it cannot be about someone else, whatever the classifier says);
* the directory: a message that refers to another person Firstline knows (their e-mail address,
  username, full name in any case, or an extension or device registered to them).

A request is about someone else when it names another person's thing, or when it mentions someone and the
classifier is sure on its own, or leans that way and the message refers to another known person
(:meth:`Beneficiary.about_someone_else`). On the held-out examples with the demo directory this refuses 2
of 88 requests of the requester's own and lets 10 of 88 about someone else through (the classifier alone
at 0.8 with the directory: 3 and 36).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from firstline.directory import DirectoryBackend
from firstline.directory.models import Person
from firstline.helpdesk.labelled import LabelModel, load_labelled
from firstline.helpdesk.spelling import default_vocabulary
from firstline.helpdesk.taxonomy import data_dir
from firstline.helpdesk.triage import embed
from firstline.knowledge.embedders import Embedder

__all__ = [
    "LABELS",
    "Beneficiary",
    "BeneficiaryModel",
    "load_beneficiary_examples",
    "mentions_a_person",
    "names_anothers_thing",
    "others_referred_to",
    "packaged_beneficiary_model_path",
]

LABELS = ("other", "self")
SURE = 0.65  # the classifier alone decides at this probability of "other"
LEANS = 0.5  # with a reference to another known person, this is enough

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_USERNAME = re.compile(r"(?<![\w@.])([a-z][a-z'-]*\.[a-z][a-z'-]+|[a-z]\.[a-z]+)(?![\w@])", re.I)
# two or three words typed one after the other (overlapping: "manager megan lloyd" gives every run), any case
_WORD_RUN = re.compile(r"\b(?=([A-Za-z][A-Za-z'’-]*)\s+([A-Za-z][A-Za-z'’-]*)(?:\s+([A-Za-z][A-Za-z'’-]*))?)")
_MAX_NAME_LOOKUPS = 12
# Things Tier-1 acts on that belong to one person, and people an employee names by their role.
_THINGS = (
    r"laptops?|computers?|pc|desktop|mac|macbook|phones?|mobile|iphone|ipad|tablet|devices?|accounts?|passwords?"
    r"|pin|voicemail|mailbox|inbox|e-?mails?|calendar|extension|line|calls|mfa|authenticator|onedrive|vpn"
    r"|certificate|login|sign-in|tickets?"
)
_ROLES = (
    r"manager|boss|colleague|co-?worker|team-?mate|assistant|director|supervisor|team lead|lead|intern|deputy"
    r"|wife|husband|partner|son|daughter|friend|mum|mom|dad|pa|ea"
)
_MINE = r"(?:my|mine|me|i|our|a|an|the)"  # "give her my laptop", "I sent her an e-mail": not hers
_BETWEEN = rf"(?:\s+(?!{_MINE}\b)[\w-]+){{0,2}}?"
# "my manager's laptop", "her voicemail PIN", "Kwame Mensah's phone": a thing of one person, who is not the
# requester. Group 1 is a possessive word that may be a name (the directory decides).
_PERSON_WORDS = re.compile(
    rf"\b(?:he|she|him|his|her|hers|they|them|their|someone|somebody|everyone|(?:{_ROLES})s?|team|staff|people"
    r"|users?|temps?|contractors?|leavers?|starters?|new hires?|students?|grads?|graduates?|visitors?"
    r"|receptionists?|employees?|members?|deskmates?|lady|ladies|gentleman|guy|guys|woman|women|man|men|apprentices?"
    r"|trainees?|analysts?|controllers?|engineers?|developers?|designers?|accountants?|secretary|nurses?|doctors?"
    r"|consultants?|officers?|executives?|clerks?|cfo|ceo|cto|coo|vp|head of|whoever|anyone|anybody)\b",
    re.I,
)
_WORDS_ANY = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_WHERE = re.compile(r"\b(?:to|from|on|onto|into|with|at|via|in|off)(?:\s+(?:my|our|the|a|an))?\s*$", re.I)
_TO = re.compile(
    r"\b(?:to|onto|into)(?:\s+(?:my|our|the|a|an))?(?:\s+[\w-]+['’]s)?"
    r"(?:\s+(?:extension|ext\.?|phone|number|mobile|desk|line|laptop))?\s*$",
    re.I,
)
_HAS_THE_PROBLEM = re.compile(  # what follows the name of the person with the problem ("from my team" between)
    r"(?:,?\s+(?:from|in|on|at|of)\s+(?:my|our|the)\s+[\w-]+(?:\s+(?:team|office|department|floor))?,?)?"
    r"\s+(?:(?:is|was|got|has been|gets)\s+(?:locked|blocked|stuck|unable|disabled|suspended)"
    r"|(?:can't|cant|cannot|can not|couldn't|could not|is not able to|isn't able to)\s+"
    r"(?:log|sign|get|access|connect|open|print|send|see|use|reach|receive|remember)"
    r"|(?:needs|wants|requires)\s+(?:a|an|access|her|his|their|the|to be|new|password|reset|help)"
    r"|forgot|has forgotten|lost|has lost|dropped|broke|has broken)\b",
    re.I,
)
_ACTED_ON = re.compile(
    r"\b(?:add|unlock|reset|enrol|enroll|remove|give|grant|re-?enable|disable|wipe|lock|for)\s+(?:user\s+)?$", re.I
)
_POSSESSED = re.compile(
    rf"\b(?:(?:{_ROLES})['’]s?|(?:his|her)|([A-Za-z][a-z'-]*)['’]s){_BETWEEN}\s+(?:{_THINGS})\b", re.I
)
_WORDS = re.compile(r"[a-z]+")
_EXTENSION = re.compile(r"(?<![\d+])([46]\d{3})(?!\d)")
_HOSTNAME = re.compile(r"\bNW-?([A-Z])-?(\d{4})\b", re.I)


def packaged_beneficiary_model_path() -> Path:
    return data_dir() / "beneficiary-model.npz"


def load_beneficiary_examples(path: Path) -> list[tuple[str, str]]:
    """``(text, label)`` pairs from a JSONL file of ``{"text", "label"}`` lines."""
    return load_labelled(path, "label", LABELS)


class BeneficiaryModel(LabelModel):
    """One logistic regression over (embedding, similarity to the "self" and "other" examples)."""

    GROUPS = LABELS
    NAME = "beneficiary model"

    def p_other(self, vectors: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(self.probabilities(self.features(vectors))[:, self.labels.index("other")], dtype=np.float64)


class Beneficiary:
    """Decides whether a message asks to act on someone else's things (see the module docstring)."""

    def __init__(self, model: BeneficiaryModel, embedder: Embedder) -> None:
        model.check_embedder(embedder)
        self.model = model
        self.embedder = embedder
        self._cache: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def packaged(cls, embedder: Embedder) -> Beneficiary:
        return cls(BeneficiaryModel.load(packaged_beneficiary_model_path()), embedder)

    def p_other(self, text: str) -> float:
        """The classifier's probability that ``text`` acts on another person's things."""
        text = " ".join(text.split())
        with self._lock:
            if (hit := self._cache.get(text)) is not None:
                return hit
        p = float(self.model.p_other(embed(self.embedder, [text]))[0])
        with self._lock:
            self._cache[text] = p
            while len(self._cache) > 1024:
                self._cache.popitem(last=False)
        return p

    def about_someone_else(self, text: str, requester: Person, directory: DirectoryBackend | None) -> bool:
        directory = _searched_once(directory)
        if names_anothers_thing(text, requester, directory):
            return True
        if not mentions_a_person(text, requester):
            return False  # "forgot pwd after the bank holiday": nobody else is in it
        p = self.p_other(text)
        if p >= SURE:
            return True
        return p >= LEANS and bool(directory is not None and others_referred_to(text, requester, directory))

    def answer_about_someone_else(self, text: str, requester: Person, directory: DirectoryBackend | None) -> bool:
        """For a message that goes on with a request already under way ("please add Oscar Bennett to
        exec-team@..." after "what's the list's address?"): stricter than :meth:`about_someone_else`, since a bare
        answer (an address, "yes", a hostname) is short and the classifier reads little in it. It names another
        person's thing, or refers to another known person and the classifier leans that way."""
        directory = _searched_once(directory)
        if names_anothers_thing(text, requester, directory):
            return True
        if directory is None or not others_referred_to(text, requester, directory):
            return False
        return self.p_other(text) >= LEANS

    def evaluate(self, examples: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """Accuracy, and recall per label, of the classifier alone at 0.5 on labelled ``examples``."""
        p = self.model.p_other(embed(self.embedder, [t for t, _ in examples]))
        predicted = ["other" if x >= LEANS else "self" for x in p]
        correct = [a == b for a, (_, b) in zip(predicted, examples, strict=True)]
        recall = {
            label: round(sum(c for c, (_, b) in zip(correct, examples, strict=True) if b == label) / n, 3)
            for label in LABELS
            if (n := sum(1 for _, b in examples if b == label))
        }
        return {"examples": len(examples), "accuracy": round(sum(correct) / len(examples), 4), "recall": recall}


def mentions_a_person(text: str, requester: Person) -> bool:
    """Whether ``text`` mentions anyone besides the requester: a third-person pronoun, a role or group of people
    ("my manager", "the temps", "our leaver"), an address, username, extension or hostname, or a word typed with
    word the spelling vocabulary does not know (a name: "Lorenzo needs access", "zsofia's"; the desk has
    corrected typos by then, and kept names as typed). Without any of these a
    request can only be the requester's own."""
    if _PERSON_WORDS.search(text) or _EMAIL.search(text) or _USERNAME.search(text):
        return True
    if _EXTENSION.search(text) or _HOSTNAME.search(text):
        return True
    own = {w.lower() for w in _WORDS_ANY.findall(requester.name)}
    ordinary = default_vocabulary()
    for word in _WORDS_ANY.findall(text):  # "Lorenzo", "zsofia's", "rajesh kulkarni"; not "what's"
        bare = _bare(word).lower()
        if len(bare) >= 3 and bare not in own and bare not in ordinary:
            return True
    return False


def names_anothers_thing(text: str, requester: Person, directory: DirectoryBackend | None) -> bool:
    """Whether ``text`` names a thing of one other person: by their role ("my manager's laptop"), a pronoun
    ("reset her PIN") or a name the directory knows as someone else's ("Kwame Mensah's voicemail PIN"; not
    "Outlook's password prompt", and not the requester's own name); or names another person the directory
    knows as the one with the problem ("Hamza Siddiqui is locked out") or as what is acted on ("add Bethany
    Cole to the list", "unlock hamza siddiqui")."""
    own = set(_WORDS.findall(requester.name.lower())) | set(_WORDS.findall(requester.email.partition("@")[0].lower()))
    for match in _POSSESSED.finditer(text):
        if _WHERE.search(text, 0, match.start()):
            continue  # "forward my calls to Megan's extension", "typing from Sarah's laptop": not what is acted on
        word = match.group(1)
        if word is None:
            return True
        word = word.lower()
        if directory is not None and word not in own and _is_name_word(directory, word):
            return True
    if directory is None:
        return False
    for name in _possible_full_names(text):  # "Hamza Siddiqui is locked out", "add bethany cole to ..."
        at = text.lower().find(name)
        people = _search(directory, name)
        if len(people) != 1 or people[0].name.lower() != name or people[0].id == requester.id:
            continue
        if _HAS_THE_PROBLEM.match(text, at + len(name)) or _ACTED_ON.search(text, 0, at):
            return True
    return False


def others_referred_to(text: str, requester: Person, directory: DirectoryBackend) -> list[str]:
    """Other people the directory knows whom ``text`` refers to (their ids): by e-mail address, username,
    full name, or an extension or device registered to them; not where something is sent ("to 4818")."""
    found: set[str] = set()

    def add(person: Person | None) -> None:
        if person is not None and person.id != requester.id:
            found.add(person.id)

    for match in _EMAIL.finditer(text):
        if not _destination(text, match.start()):
            add(_lookup(directory, match.group(0)))
    domain = requester.email.rsplit("@", 1)[-1]
    for match in _USERNAME.finditer(text):  # a username (o.grant) or an address without its domain
        if not _destination(text, match.start()):
            username = match.group(1)
            add(_lookup(directory, username) or _lookup(directory, f"{username}@{domain}"))
    for name in _possible_full_names(text):
        people = _search(directory, name)
        if len(people) == 1 and people[0].name.lower() == name and not _destination(text, text.lower().find(name)):
            add(people[0])
    for match in _EXTENSION.finditer(text):
        if _destination(text, match.start()):
            continue
        try:
            owner = directory.phone(match.group(1)).person
        except Exception:
            continue
        add(_lookup(directory, owner) if owner else None)
    for match in _HOSTNAME.finditer(text):
        if _destination(text, match.start()):
            continue
        try:
            device = directory.device(f"NW-{match.group(1).upper()}-{match.group(2)}")
        except Exception:
            continue
        add(_lookup(directory, device.owner) if device.owner else None)
    return sorted(found)


def _destination(text: str, start: int) -> bool:
    """Whether what starts at ``start`` is where something goes ("forward my calls to Megan's extension 4818"),
    not whose thing is acted on."""
    return bool(_TO.search(text, 0, max(start, 0)))


def _possible_full_names(text: str) -> list[str]:
    """Pairs of words in ``text`` that may be someone's full name, lower-cased: capitalised ("Megan Lloyd"),
    or typed in lower case with at least one word the spelling vocabulary does not know ("megan lloyd";
    not "reset the"). At most :data:`_MAX_NAME_LOOKUPS`, so a long message costs a bounded number of
    directory searches."""
    ordinary = default_vocabulary()
    names: list[str] = []
    for run in _WORD_RUN.findall(text):
        words = [_bare(w) for w in run if w]
        for count in (2, 3):
            typed = words[:count]
            if len(typed) < count or not all(typed):
                continue
            capitalised = all(w[0].isupper() for w in typed)
            if not capitalised and all(w.lower() in ordinary for w in typed):
                continue
            name = " ".join(typed).lower()
            if name not in names:
                names.append(name)
            if len(names) == _MAX_NAME_LOOKUPS:
                return names
    return names


class _SearchedOnce:
    """``directory`` with its people searches kept for one decision: the wording, the mentions and the references
    ask about the same names, and each search may be a query or a request to an identity provider."""

    def __init__(self, directory: DirectoryBackend) -> None:
        self._directory = directory
        self._found: dict[str, list[Person]] = {}

    def find_people(self, text: str) -> list[Person]:
        if text not in self._found:
            self._found[text] = self._directory.find_people(text)
        return self._found[text]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._directory, name)


def _searched_once(directory: DirectoryBackend | None) -> DirectoryBackend | None:
    return None if directory is None else cast(DirectoryBackend, _SearchedOnce(directory))


def _is_name_word(directory: DirectoryBackend, word: str) -> bool:
    """Whether lower-case ``word`` is a whole word of someone's name or username in ``directory``."""
    for person in _search(directory, word):
        if word in _WORDS.findall(person.name.lower()) or word in _WORDS.findall(
            person.email.partition("@")[0].lower()
        ):
            return True
    return False


def _bare(word: str) -> str:
    return word.removesuffix("'s").removesuffix("’s").strip("'’-")


def _lookup(directory: DirectoryBackend, key: str) -> Person | None:
    try:
        return directory.person(key)
    except Exception:
        return None


def _search(directory: DirectoryBackend, text: str) -> list[Person]:
    try:
        return directory.find_people(text)
    except Exception:
        return []
