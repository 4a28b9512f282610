"""Slot filling reads details as people type them, and finds nothing rather than guessing."""

from __future__ import annotations

import pytest

from firstline.helpdesk import slots
from firstline.helpdesk.compose import FOLLOW_UP, HOW_TO_FOLLOW_UP, follow_up


@pytest.mark.parametrize(
    ("extract", "text", "value"),
    [
        (slots.code, "the code is 482 913", "482913"),
        (slots.code, "my extension is 4357", None),
        (slots.ticket_number, "what's happening with inc 12345?", "INC0012345"),
        (slots.ticket_number, "INC0049001", "INC0049001"),
        (slots.printer_name, "lon f4 hp 2 is jammed", "LON-F4-HP-02"),
        (slots.printer_name, "the printer by the kitchen", None),
        (slots.forwarding_target, "forward my calls to 07700 900123", "07700900123"),
        (slots.forwarding_target, "send them to 4357 please", "4357"),
        (slots.forwarding_mode, "only when I'm busy", "busy"),
        (slots.forwarding_mode, "if I don't answer", "no_answer"),
        (slots.platform, "enrol my new iPhone", "ios"),
        (slots.device_kind, "I left my laptop on the train", "laptop"),
        (slots.colour, "cyan toner is low", "cyan"),
        (slots.floor, "its the one on 3rd floor", 3),
        (slots.floor, "the printer on floor 2 by the lifts", 2),
        (slots.floor, "the second floor one", 2),
        (slots.floor, "it's on the second floor", 2),
        (slots.floor, "my 2 printers", None),
    ],
)
def test_extractors(extract, text, value) -> None:  # type: ignore[no-untyped-def]
    assert extract(text) == value


def test_yes_no_and_someone_else() -> None:
    assert slots.affirmative("yes that worked, thanks") and not slots.negative("yes that worked")
    assert slots.negative("no, still broken") and not slots.affirmative("no, still broken")
    me = "ruby.chen@nwmeridian.co.uk"
    assert slots.mentions_someone_else("reset the CEO's password", me)
    assert slots.mentions_someone_else("unlock marcus.bell@nwmeridian.co.uk", me)
    assert not slots.mentions_someone_else(f"I am {me} and I'm locked out", me)
    assert not slots.mentions_someone_else("add me to first-aiders@nwmeridian.co.uk", me, addresses_are_people=False)


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("what now?", True),
        ("thanks, what else should i do", True),
        ("ok so how do I get it back", True),
        ("whats the pin to start with", True),
        ("I need a new monitor, is that possible", True),
        ("its everyone on my floor", False),
        ("yes im on the vpn, working from home today", False),
        ("the whole of finance has lost it", False),
    ],
)
def test_a_question_is_told_from_a_statement_after_a_thanks_or_a_comma(text: str, asks: bool) -> None:
    assert slots.asks(text) is asks


@pytest.mark.parametrize(
    ("text", "wants"),
    [
        ("hi, i need access to the finance share", True),
        ("could I have access to the finance share", True),
        ("I need write access to the Engineering share", True),
        ("can you give me access to the finance shared mailbox", True),
        ("please add me to the finance share", True),
        ("i want edit rights on the projects folder", True),
        ("I get access denied on the Finance share since this morning", False),  # a fault: it worked before
        ("I lost access to the S drive", False),
        ("I have access to the share but it is slow", False),
        ("my S: drive is missing", False),
    ],
)
def test_asking_to_be_given_access_is_told_from_losing_it(text: str, wants: bool) -> None:
    assert slots.asks_for_access(text) is wants


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("is my ticket about the laptop still open?", ["laptop"]),
        ("any news on the printer ticket", ["printer"]),
        ("the ticket for the broken monitor", ["broken", "monitor"]),
        ("whats happening with my ticket", []),
        ("is there a ticket for that now?", []),
        ("the other ticket", []),
        ("what is the status of INC0000001", []),
    ],
)
def test_what_a_ticket_question_says_the_ticket_is_about(text: str, subject: list[str]) -> None:
    assert slots.ticket_subject(text) == subject


@pytest.mark.parametrize(
    ("request_text", "how_to"),
    [
        ("can you tell me how to set up my out of office", True),
        ("how do you add a signature in outlook", True),
        ("is there a way to recall an email", True),
        ("hi, im new - how do i get my work email on my iphone?", True),
        ("my vpn keeps dropping", False),
        ("outlook keeps asking for my password", False),
    ],
)
def test_a_how_to_is_asked_if_it_answered_the_question_a_fault_if_it_fixed_it(request_text: str, how_to: bool) -> None:
    assert (follow_up(request_text) == HOW_TO_FOLLOW_UP) is how_to
    assert (follow_up(request_text) == FOLLOW_UP) is not how_to
