"""Colleagues' names are not typos: the directory decides, the spelling corrector asks it (helpdesk/names.py)."""

from __future__ import annotations

from firstline.directory import InMemoryDirectory
from firstline.directory.models import Person
from firstline.errors import DirectoryError
from firstline.helpdesk.cleaning import understood
from firstline.helpdesk.names import DirectoryNames
from firstline.helpdesk.spelling import default_vocabulary
from firstline.testing.directory import demo_org


class Counting(InMemoryDirectory):
    """The demo directory, counting people searches; ``down`` makes them fail as an unreachable directory does."""

    def __init__(self) -> None:
        super().__init__(demo_org())
        self.searches: list[str] = []
        self.down = False

    def find_people(self, text: str) -> list[Person]:
        self.searches.append(text)
        if self.down:
            raise DirectoryError("the directory did not answer")
        return super().find_people(text)


def test_the_corrector_keeps_a_colleagues_name_it_would_have_changed() -> None:
    speller = default_vocabulary()
    assert speller.correct("unlock megan lloyd please") == "unlock mean lloyd please"  # what went wrong
    names = DirectoryNames(Counting())
    assert speller.correct("unlock megan lloyd please", keep=names) == "unlock megan lloyd please"
    assert speller.correct("ruby chen needs a new laptop", keep=names) == "ruby chen needs a new laptop"
    assert speller.correct("my pasword expired", keep=names) == "my password expired"  # typos are still typos


def test_a_name_is_a_whole_word_of_a_name_or_address() -> None:
    names = DirectoryNames(Counting())
    assert names("megan") and names("Lloyd") and names("chen")
    assert not names("mean") and not names("lloy")  # a search hit inside a longer name is not the name


def test_answers_are_kept_for_a_while_and_a_directory_that_is_down_is_asked_again() -> None:
    now = [0.0]
    directory = Counting()
    names = DirectoryNames(directory, ttl_s=60, clock=lambda: now[0])
    assert names("megan") and names("megan")
    assert directory.searches == ["megan"]
    now[0] = 61.0
    assert names("megan") and directory.searches == ["megan", "megan"]
    directory.down = True
    assert not names("theo")  # not a name as far as we can tell: the typo correction goes ahead
    directory.down = False
    assert names("theo")  # asked again, not remembered as "no"


def test_a_word_typed_beside_a_name_is_kept() -> None:
    """ "james whitfield's": the directory has a George Whitfield only; James is still a person's name."""
    directory = Counting()
    keep = DirectoryNames(directory).keeper("can you unlock james whitfield's account?")
    assert keep("james")
    assert not keep("accont")
    prepared = understood("can you unlock james whitfield's account?", keep=keep)
    assert prepared.text == "can you unlock james whitfield's account?"
    # the ordinary words around a typo are not looked up in the directory
    directory.searches.clear()
    assert not DirectoryNames(directory).keeper("my pasword expired")("pasword")
    assert directory.searches == ["pasword"]
