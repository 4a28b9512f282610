"""Whose thing a request acts on: decided by meaning (a classifier on our own examples) and the directory."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from firstline.helpdesk.beneficiary import (
    Beneficiary,
    load_beneficiary_examples,
    mentions_a_person,
    names_anothers_thing,
    others_referred_to,
)
from firstline.helpdesk.taxonomy import data_dir
from firstline.testing.helpdesk import HelpdeskWorld

RUBY = "ruby.chen@nwmeridian.co.uk"


@pytest.fixture(scope="module")
def beneficiary(helpdesk_world: HelpdeskWorld) -> Beneficiary:
    return Beneficiary.packaged(helpdesk_world.triage.embedder)


def test_the_packaged_model_holds_up_on_the_held_out_examples(beneficiary: Beneficiary) -> None:
    held = load_beneficiary_examples(data_dir() / "beneficiary" / "heldout.jsonl")
    result = beneficiary.evaluate(held)
    assert result["examples"] >= 150
    assert result["accuracy"] >= 0.85, result
    assert min(result["recall"].values()) >= 0.8, result


def test_the_directory_says_who_a_message_refers_to(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    ruby = desk.directory.person(RUBY)
    megan = desk.directory.person("megan.lloyd@nwmeridian.co.uk")
    david = desk.directory.person("david.ogunleye@nwmeridian.co.uk")
    assert others_referred_to("reset the voicemail PIN for megan.lloyd", ruby, desk.directory) == [megan.id]
    extension = desk.directory.phone_of(david.id)
    assert extension is not None
    assert others_referred_to(f"stop forwarding on {extension.extension}", ruby, desk.directory) == [david.id]
    forward = f"forward my calls to David's extension {extension.extension}"  # where the calls go, not whose line
    assert others_referred_to(forward, ruby, desk.directory) == []
    assert others_referred_to("my own voicemail PIN please, I'm ruby.chen", ruby, desk.directory) == []


@pytest.mark.parametrize(
    "text",
    [
        "Reset the voicemail PIN for megan.lloyd",
        "stop forwarding for extension {david_ext} which belongs to david.ogunleye",
        "my colleague Priya is locked out, can you unlock her?",
        "wipe Dave's laptop please, he left it on the train",
    ],
)
def test_requests_about_someone_else_are_refused_and_nothing_is_done_on_the_requester(
    helpdesk_world: HelpdeskWorld, text: str
) -> None:
    desk, sent = helpdesk_world.desk()
    david = desk.directory.phone_of(desk.directory.person("david.ogunleye@nwmeridian.co.uk").id)
    assert david is not None
    before = desk.directory.phone_of(desk.directory.person(RUBY).id)
    reply = asyncio.run(desk.ask(text.format(david_ext=david.extension), requester=RUBY))
    assert "only act on your own" in reply.reply
    assert reply.actions == [] and sent == {}
    assert desk.directory.phone_of(desk.directory.person(RUBY).id) == before


@pytest.mark.parametrize(
    "text",
    [
        "can you unlock megan lloyd's account? she's locked out",  # "megan" is one letter from "mean"
        "can you unlock james whitfield's account? he's locked out",  # only a George Whitfield works here
    ],
)
def test_a_refusal_quotes_the_names_as_typed(helpdesk_world: HelpdeskWorld, text: str) -> None:
    desk, sent = helpdesk_world.desk()
    reply = asyncio.run(desk.ask(text, requester=RUBY))
    assert "only act on your own" in reply.reply
    assert f'"{text}"' in reply.reply  # not "mean lloyd's" or "names whitfield's"
    assert reply.actions == [] and sent == {}


def test_naming_someone_else_is_fine_when_the_request_is_the_requesters_own(helpdesk_world: HelpdeskWorld) -> None:
    desk, sent = helpdesk_world.desk()
    reply = asyncio.run(desk.ask("I'm locked out of my account, Priya from IT said to ask you", requester=RUBY))
    assert "only act on your own" not in reply.reply
    assert RUBY in sent  # the identity check for the requester's own unlock started


def test_full_names_are_found_in_any_case_and_of_three_words(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    ruby = desk.directory.person(RUBY)
    megan = desk.directory.person("megan.lloyd@nwmeridian.co.uk")
    mei = next(p for p in desk.directory.find_people("Mei Lin") if p.name == "Mei Lin Wong")
    said = "hi can you reset the password for my manager megan lloyd she is locked out"
    assert others_referred_to(said, ruby, desk.directory) == [megan.id]
    assert others_referred_to("please add Mei Lin Wong to it-oncall@nwmeridian.co.uk", ruby, desk.directory) == [mei.id]
    assert others_referred_to("ruby chen here, reset my password", ruby, desk.directory) == []  # the requester


@pytest.mark.parametrize(
    ("text", "theirs"),
    [
        ("my manager's laptop was stolen", True),
        ("reset her voicemail PIN please", True),
        ("Kwame Mensah's voicemail PIN needs resetting too", True),  # a name the directory knows
        ("my boss's mailbox is full", True),
        ("forward my calls to Megan's extension 4818", False),  # where to, not what is acted on
        ("im typing this from Sarah's laptop cos mine is locked", False),
        ("I sent her an email and now Outlook crashes", False),
        ("Outlook's password prompt keeps coming back", False),  # not a person
        ("Ruby's laptop won't boot", False),  # the requester's own name
        ("Hamza Siddiqui is locked out", True),  # a colleague the directory knows has the problem
        ("oscar bennett from my team can't log in, can you unlock the account", True),  # with who they are between
        ("Oscar Bennett from my team said to ask you: my laptop is slow", False),
        ("please add bethany cole to leeds-social@nwmeridian.co.uk", True),  # or is the one acted on
        ("my password expired, Helena Marsh is my manager", False),
        ("my laptop is slow, Helena Marsh has the same model and it's fine", False),
    ],
)
def test_another_persons_thing_is_named_by_role_pronoun_or_known_name(
    helpdesk_world: HelpdeskWorld, text: str, theirs: bool
) -> None:
    desk, _ = helpdesk_world.desk()
    assert names_anothers_thing(text, desk.directory.person(RUBY), desk.directory) is theirs


@pytest.mark.parametrize(
    ("text", "someone"),
    [
        ("forgot pwd after the bank holiday", False),
        ("what's the status of INC0000001?", False),
        ("What are the rules for a strong password?", False),
        ("Lorenzo needs read access to the legal share", True),
        ("the apprentice starting next week needs a handset", True),
        ("fix my password and zsofia's too", True),
        ("can you unlock him", True),
    ],
)
def test_a_request_that_mentions_nobody_else_is_the_requesters_own(
    helpdesk_world: HelpdeskWorld, text: str, someone: bool
) -> None:
    desk, _ = helpdesk_world.desk()
    assert mentions_a_person(text, desk.directory.person(RUBY)) is someone


@pytest.mark.parametrize(
    "text",
    [
        "hi can you reset the password for my manager megan lloyd she is locked out",
        "my manager's laptop was stolen",
        "Mei Lin Wong's voicemail PIN needs resetting too",
    ],
)
def test_a_role_or_a_name_in_lower_case_is_someone_else_and_nothing_starts_on_the_requester(
    helpdesk_world: HelpdeskWorld, text: str
) -> None:
    desk, sent = helpdesk_world.desk()
    reply = asyncio.run(desk.ask(text, requester=RUBY))
    assert "only act on your own" in reply.reply
    assert reply.actions == [] and sent == {}  # no identity check, no remote lock of Ruby's own laptop


@pytest.mark.parametrize("text", ["forgot pwd after the bank holiday", "forward my calls to Megan's extension 4818"])
def test_own_requests_that_once_looked_like_someone_elses_are_served(helpdesk_world: HelpdeskWorld, text: str) -> None:
    desk, _ = helpdesk_world.desk()
    reply = asyncio.run(desk.ask(text, requester=RUBY))
    assert "only act on your own" not in reply.reply


def test_an_answer_that_asks_for_someone_else_is_refused_and_the_question_still_stands(
    helpdesk_world: HelpdeskWorld,
) -> None:
    desk, sent = helpdesk_world.desk()
    first = asyncio.run(desk.ask("can I join the marketing-news mailing list", requester=RUBY))
    assert "address" in first.reply
    other = desk.directory.find_people("Oscar Bennett")[0]
    reply = asyncio.run(
        desk.ask(
            f"please add {other.name} to exec-team@nwmeridian.co.uk",
            requester=RUBY,
            conversation_id=first.conversation_id,
        )
    )
    assert "only act on your own" in reply.reply
    assert reply.actions == [] and sent == {}
    state = desk.conversations.get(first.conversation_id).state
    assert state["dialogue"]["pending"] is not None  # "what's the list's address?" is still asked


OWN = (
    "I'm locked out, {name} from IT said to ask you",
    "my password expired, {name} is my manager",
    "add me to the leeds-social list, {name} owns it",
    "my laptop is slow, {name} has the same model and it's fine",
    "forward my calls to {name} while I'm away",
)
THEIRS = (
    "please add {name} to leeds-social@nwmeridian.co.uk",
    "{name} is locked out",
    "reset {name}'s voicemail pin",
    "{name} can't sign in, unlock the account please",
    "{lower} needs a password reset",
)


def test_requests_naming_colleagues_the_directory_knows(
    helpdesk_world: HelpdeskWorld, beneficiary: Beneficiary
) -> None:
    desk, _ = helpdesk_world.desk()
    ruby = desk.directory.person(RUBY)
    names = ["Hamza Siddiqui", "Bethany Cole", "Isabel Ferreira", "Helena Marsh", "Rajesh Kulkarni", "Grace Adeyemi"]
    assert all(desk.directory.find_people(name) for name in names)

    def refused(template: str, name: str) -> bool:
        return beneficiary.about_someone_else(template.format(name=name, lower=name.lower()), ruby, desk.directory)

    own = [t.format(name=n) for t in OWN for n in names if refused(t, n)]
    theirs = [t.format(name=n, lower=n.lower()) for t in THEIRS for n in names if not refused(t, n)]
    assert own == [] and theirs == []


def test_after_a_refusal_how_the_other_person_gets_it_done_is_answered(helpdesk_world: HelpdeskWorld) -> None:
    desk, sent = helpdesk_world.desk()
    refused = asyncio.run(desk.ask("can you reset the password for my manager megan lloyd", requester=RUBY))
    assert "only act on your own" in refused.reply
    reply = asyncio.run(
        desk.ask("ok how would she do it herself then?", requester=RUBY, conversation_id=refused.conversation_id)
    )
    assert "ask me themselves" in reply.reply and "outside what" not in reply.reply
    assert "aka.ms/sspr" in reply.reply  # a password she can reset on her own
    assert reply.actions == [] and sent == {}


def test_one_decision_searches_the_directory_once_per_name(
    helpdesk_world: HelpdeskWorld, beneficiary: Beneficiary
) -> None:
    desk, _ = helpdesk_world.desk()
    ruby = desk.directory.person(RUBY)
    searched: list[str] = []
    real = desk.directory.find_people

    def counted(text: str) -> list[Any]:
        searched.append(text)
        return real(text)

    desk.directory.find_people = counted  # type: ignore[method-assign]
    texts = [t.format(name="Sophie Laurent", lower="sophie laurent") for t in (*OWN, *THEIRS)]
    texts.append("reset my voicemail pin please, Sophie Laurent told me how")  # the wording and the references ask
    for text in texts:
        searched.clear()
        beneficiary.about_someone_else(text, ruby, desk.directory)
        assert len(searched) == len(set(searched)), (text, searched)
