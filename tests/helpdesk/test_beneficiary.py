"""Whose thing a request acts on: decided by meaning (a classifier on our own examples) and the directory."""

from __future__ import annotations

import asyncio

import pytest

from firstline.helpdesk.beneficiary import Beneficiary, load_beneficiary_examples, others_referred_to
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
