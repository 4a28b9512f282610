from __future__ import annotations

import random
import time

import pytest

from firstline.helpdesk.cleaning import KINDS, Cleaned, clean_message, prepare
from firstline.helpdesk.spelling import SpellingCorrector, default_vocabulary, edit_distance

OUTLOOK_FORWARD = """\
Hi service desk,

Can you look at this? Three people in Finance have the same thing since Monday.

Kind regards,
Mark Okafor
Finance Systems Lead | Northwind Meridian | +44 20 7946 0958

________________________________
From: Priya Shah <priya.shah@nwmeridian.co.uk>
Sent: Tuesday, March 3, 2026 9:12 AM
To: Mark Okafor <mark.okafor@nwmeridian.co.uk>
Subject: FW: VPN keeps dropping

Hi Mark,

Since this morning GlobalProtect disconnects every five minutes when I work from home.
I have to log in again each time and lose what I was typing in the finance app.

Sent from my iPhone
"""

GMAIL_FORWARD = """\
---------- Forwarded message ---------
From: Priya Shah <priya.shah@nwmeridian.co.uk>
Date: Tue, 3 Mar 2026 at 09:12
Subject: VPN keeps dropping
To: <servicedesk@nwmeridian.co.uk>


the tunnel drops every few minutes on my home wifi, teams calls are fine
"""

IPHONE = """\
my laptop screen flickers when I plug in the dock at my desk

Sent from my iPhone"""

REPLY_CHAIN = """\
Still not working I'm afraid, the printer on floor 4 shows offline again after lunch.

On Tue, 3 Mar 2026 at 09:12, Service Desk <servicedesk@nwmeridian.co.uk> wrote:
> Hi Ruby, please switch the printer off and on again and tell us if it helps.
>
> Thanks,
> Service Desk
>
> > my print job to LON-F4-HP-02 is stuck
"""

OUTLOOK_REPLY = """\
It happened again this morning, same error when I open the shared mailbox.

From: Service Desk <servicedesk@nwmeridian.co.uk>
Sent: Monday, March 2, 2026 4:40 PM
To: Ruby Chen <ruby.chen@nwmeridian.co.uk>
Subject: RE: Shared mailbox not showing

Hi Ruby, we re-added your permissions. Please restart Outlook.
"""

JAVA = """\
The finance app crashes when I export the monthly report. Error below:

Exception in thread "main" java.lang.IllegalStateException: Connection pool exhausted
\tat com.nwm.finance.db.Pool.acquire(Pool.java:88)
\tat com.nwm.finance.report.Exporter.run(Exporter.java:41)
\tat com.nwm.finance.Main.main(Main.java:12)
Caused by: java.net.SocketTimeoutException: Read timed out
\tat java.base/java.net.SocketInputStream.read(SocketInputStream.java:168)
\t... 3 more

Can someone have a look please?
"""

WINDOWS_UPDATE = """\
Windows update keeps failing on my laptop LON-LT-0412, the log says:

2026-03-03 09:12:44:123    1234    5678    Agent   * START * Installing updates CallerId = UpdateOrchestrator
2026-03-03 09:12:44:130    1234    5678    Handler FATAL: Failed to install update KB5034441, error 0x80070005
2026-03-03 09:12:45:002    1234    5678    Agent   Reporting status event for KB5034441

It asks me to restart and then fails again every time.
"""

EVENT_VIEWER = """\
Update fails again. Here is the entry from event viewer:

Log Name:      System
Source:        Microsoft-Windows-WindowsUpdateClient
Date:          03/03/2026 09:12:44
Event ID:      20
Task Category: Windows Update Agent
Level:         Error
Keywords:      Failure,Installation
User:          SYSTEM
Computer:      LON-LT-0412.nwmeridian.local
Description:
Installation Failure: Windows failed to install the following update with error 0x80070005.
"""

PYTHON = """\
The expenses script I run every month stopped working today:
Traceback (most recent call last):
  File "C:\\Users\\ruby\\expenses.py", line 12, in <module>
    book = open(r"S:\\Finance\\expenses.xlsx", "rb")
PermissionError: [Errno 13] Permission denied: 'S:\\Finance\\expenses.xlsx'
Did my access to the S drive change?"""

BROWSER = """\
Intranet won't load from home, Chrome says:
[0303/091244.512:ERROR:network_service.cc(88)] net::ERR_CONNECTION_RESET
[0303/091245.020:ERROR:network_service.cc(88)] net::ERR_CONNECTION_RESET
other websites are fine"""

DISCLAIMER = """\
Please reset the voicemail PIN on my desk phone, extension 4417, I have forgotten it.

This e-mail and any attachments are confidential and intended solely for the addressee.
If you are not the intended recipient, please notify the sender immediately and delete it.
Northwind Meridian Ltd is registered in England and Wales.
"""

TICKET_WITH_NOTES = """\
User cannot connect to NW-Corp wifi on floor 3, phone and other laptops connect fine.

Technician note: called user 09:30, no answer. Will retry after lunch.
2026-03-03 10:02 - J. Walker (Work notes)
Checked the RADIUS logs, machine certificate expired on the laptop.

Internal note:
reimaged last month by Leeds desk
"""

HEX_DUMP = """\
Laptop shows a blue screen when docking, dump attached:
0000: 4d 5a 90 00 03 00 00 00 04 00 00 00 ff ff 00 00
0010: b8 00 00 00 00 00 00 00 40 00 00 00 00 00 00 00
0020: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
it only happens with the USB-C dock, not with the HDMI cable"""

SAMPLES = {
    "outlook_forward": OUTLOOK_FORWARD,
    "gmail_forward": GMAIL_FORWARD,
    "iphone": IPHONE,
    "reply_chain": REPLY_CHAIN,
    "outlook_reply": OUTLOOK_REPLY,
    "java": JAVA,
    "windows_update": WINDOWS_UPDATE,
    "event_viewer": EVENT_VIEWER,
    "python": PYTHON,
    "browser": BROWSER,
    "disclaimer": DISCLAIMER,
    "notes": TICKET_WITH_NOTES,
    "hex": HEX_DUMP,
}


def test_outlook_forward_keeps_the_note_the_subject_and_the_forwarded_body() -> None:
    cleaned = clean_message(OUTLOOK_FORWARD)
    assert cleaned.removed == ("forwarded_header", "signature")
    assert cleaned.text == (
        "Hi service desk,\n\n"
        "Can you look at this? Three people in Finance have the same thing since Monday.\n\n"
        "VPN keeps dropping\n\n"
        "Hi Mark,\n\n"
        "Since this morning GlobalProtect disconnects every five minutes when I work from home.\n"
        "I have to log in again each time and lose what I was typing in the finance app."
    )
    assert cleaned.error_lines == ()


def test_gmail_forward_keeps_the_subject_without_headers() -> None:
    cleaned = clean_message(GMAIL_FORWARD)
    assert cleaned.removed == ("forwarded_header",)
    assert cleaned.text == (
        "VPN keeps dropping\n\nthe tunnel drops every few minutes on my home wifi, teams calls are fine"
    )


def test_iphone_signature() -> None:
    cleaned = clean_message(IPHONE)
    assert cleaned == Cleaned("my laptop screen flickers when I plug in the dock at my desk", ("signature",))


def test_sign_off_with_name_and_job_title() -> None:
    text = (
        "The scanner on the second floor sends blank pages to my e-mail.\n\n"
        "Best regards,\n\nTomasz Nowak\nSenior Accountant | Accounts Payable\nNorthwind Meridian | +44 113 496 0011\n"
        "www.nwmeridian.co.uk"
    )
    cleaned = clean_message(text)
    assert cleaned.text == "The scanner on the second floor sends blank pages to my e-mail."
    assert cleaned.removed == ("signature",)


def test_dash_dash_signature_separator() -> None:
    cleaned = clean_message(
        "Teams will not start on my laptop since the update.\n-- \nJane Smith\nHR Advisor, ext 4321"
    )
    assert cleaned.text == "Teams will not start on my laptop since the update."


def test_a_sign_off_followed_by_sentences_is_content() -> None:
    text = "My headset is not detected.\nThanks\nIt worked yesterday and now the laptop does not see it at all."
    assert clean_message(text).text == text


@pytest.mark.parametrize("text", [REPLY_CHAIN, OUTLOOK_REPLY])
def test_quoted_earlier_replies_are_removed(text: str) -> None:
    cleaned = clean_message(text)
    assert cleaned.removed == ("quoted_reply",)
    assert cleaned.text == text.split("\n\n")[0]


def test_quote_without_angle_brackets_runs_to_the_end() -> None:
    text = (
        "Thanks, but the shared drive is still missing on my laptop.\n\n"
        "On Mon, 2 Mar 2026, 16:40 Service Desk <servicedesk@nwmeridian.co.uk>\n"
        "wrote:\n\nHi Ruby, please reconnect to the VPN and restart."
    )
    assert clean_message(text).text == "Thanks, but the shared drive is still missing on my laptop."


def test_java_stack_trace_keeps_the_exceptions() -> None:
    cleaned = clean_message(JAVA)
    assert cleaned.removed == ("log",)
    assert cleaned.text == (
        "The finance app crashes when I export the monthly report. Error below:\n\nCan someone have a look please?"
    )
    assert cleaned.error_lines == (
        'Exception in thread "main" java.lang.IllegalStateException: Connection pool exhausted',
        "Caused by: java.net.SocketTimeoutException: Read timed out",
    )


def test_windows_update_log_keeps_the_hresult_line() -> None:
    cleaned = clean_message(WINDOWS_UPDATE)
    assert cleaned.removed == ("log",)
    assert cleaned.text == (
        "Windows update keeps failing on my laptop LON-LT-0412, the log says:\n\n"
        "It asks me to restart and then fails again every time."
    )
    assert cleaned.error_lines == ("Handler FATAL: Failed to install update KB5034441, error 0x80070005",)


def test_event_viewer_dump() -> None:
    cleaned = clean_message(EVENT_VIEWER)
    assert cleaned.text == "Update fails again. Here is the entry from event viewer:"
    assert cleaned.removed == ("log",)
    assert cleaned.error_lines == (
        "Installation Failure: Windows failed to install the following update with error 0x80070005.",
    )


def test_python_traceback() -> None:
    cleaned = clean_message(PYTHON)
    assert cleaned.text == (
        "The expenses script I run every month stopped working today:\n\nDid my access to the S drive change?"
    )
    assert cleaned.error_lines == ("PermissionError: [Errno 13] Permission denied: 'S:\\Finance\\expenses.xlsx'",)


def test_browser_log_keeps_the_error_name_once() -> None:
    cleaned = clean_message(BROWSER)
    assert cleaned.text == "Intranet won't load from home, Chrome says:\n\nother websites are fine"
    assert cleaned.error_lines == ("[0303/091244.512:ERROR:network_service.cc(88)] net::ERR_CONNECTION_RESET",)


def test_hex_dump() -> None:
    cleaned = clean_message(HEX_DUMP)
    assert cleaned.removed == ("log",)
    assert "4d 5a" not in cleaned.text and "USB-C dock" in cleaned.text


def test_confidentiality_disclaimer() -> None:
    cleaned = clean_message(DISCLAIMER)
    assert cleaned.removed == ("disclaimer",)
    assert cleaned.text == "Please reset the voicemail PIN on my desk phone, extension 4417, I have forgotten it."


def test_technician_and_internal_notes() -> None:
    cleaned = clean_message(TICKET_WITH_NOTES)
    assert cleaned.removed == ("technician_note",)
    assert cleaned.text == "User cannot connect to NW-Corp wifi on floor 3, phone and other laptops connect fine."


def test_everything_at_once() -> None:
    text = "\n".join((OUTLOOK_FORWARD.replace("Sent from my iPhone", WINDOWS_UPDATE), DISCLAIMER, TICKET_WITH_NOTES))
    cleaned = clean_message(text)
    assert cleaned.removed == ("forwarded_header", "signature", "disclaimer", "technician_note", "log")
    assert "VPN keeps dropping" in cleaned.text and "voicemail PIN" in cleaned.text
    assert "From:" not in cleaned.text and "0x80070005" not in cleaned.text and "confidential" not in cleaned.text
    assert cleaned.error_lines == ("Handler FATAL: Failed to install update KB5034441, error 0x80070005",)


@pytest.mark.parametrize(
    "text",
    [
        "my vpn keeps dropping every 5 minutes since the update on 2026-03-03, error 809",
        "On Monday my laptop would not start.\nFrom then on it beeps three times.",
        "Outlook says: ERR_CONNECTION_RESET when I open the calendar, 0x80070005 in the details",
        "To: whoever reads this\nmy printer LON-F4-HP-02 prints blank pages",
        "Work notes in OneNote will not sync since Friday",
        "Thanks for fixing the VPN yesterday, but now Teams will not start.",
        "Best time to call me is after 2pm on 07700 900123",
        "- laptop slow\n- outlook crashes\n- printer offline",
    ],
)
def test_content_is_left_alone(text: str) -> None:
    assert clean_message(text) == Cleaned(text)


def test_whitespace_is_normalised_and_line_breaks_kept() -> None:
    cleaned = clean_message("  my   laptop\u00a0is slow\t\t\n\n\n\nand   outlook \u200bfreezes  \n\n")
    assert cleaned == Cleaned("my laptop is slow\n\nand outlook freezes")


@pytest.mark.parametrize(
    "text",
    ["thanks!", "vpn down\n\nSent from my iPhone", "hi\n\n> my printer is broken and nobody helps", "", "   \n "],
)
def test_less_than_three_words_left_returns_the_original(text: str) -> None:
    assert clean_message(text) == Cleaned(text)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_cleaning_twice_is_cleaning_once(name: str) -> None:
    once = clean_message(SAMPLES[name])
    assert clean_message(once.text).text == once.text


def test_cleaning_combinations_twice_is_cleaning_once() -> None:
    for first in SAMPLES.values():
        for second in SAMPLES.values():
            once = clean_message(f"{first}\n{second}").text
            assert clean_message(once).text == once


def test_removed_kinds_are_known_and_ordered() -> None:
    for text in SAMPLES.values():
        removed = clean_message(text).removed
        assert removed and list(removed) == [kind for kind in KINDS if kind in removed]


def test_random_input_never_raises_and_never_comes_back_empty() -> None:
    rng = random.Random(20260303)
    lines = [line for text in SAMPLES.values() for line in text.splitlines()]
    alphabet = "ab xyz-_>:.\n\t\r\u00a0\u200b\u2028é€0123456789@/\\*#[]()\"'"
    for _ in range(2000):
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80)))
        else:
            text = "\n".join(rng.choice(lines) for _ in range(rng.randint(1, 15)))
        cleaned = clean_message(text)
        assert cleaned.text or not text
        assert len(cleaned.error_lines) <= 3 and all(len(line) <= 121 for line in cleaned.error_lines)
        assert set(cleaned.removed) <= set(KINDS)


@pytest.mark.parametrize("text", ["\x00\x01", "\ud800 lone surrogate here ok", "\u2028\u2029\x85", "a" * 50_000])
def test_odd_strings(text: str) -> None:
    assert clean_message(text).text


def test_pathological_input_stays_linear() -> None:
    started = time.perf_counter()
    for text in (" " * 50_000 + "x", "To: x\n" * 5_000, "\n" * 50_000, "Thanks,\n" * 5_000, "ab" * 50_000 + "!"):
        clean_message(text)
    assert time.perf_counter() - started < 2


# --- spelling ---------------------------------------------------------------------------------


def test_the_example_message() -> None:
    assert default_vocabulary().correct("outlok wont open pasword pls hlp") == "outlook won't open password please help"


@pytest.mark.parametrize(
    ("typed", "fixed"),
    [
        ("my laptop is realy slow", "my laptop is really slow"),
        ("the printr is offline", "the printer is offline"),
        ("Outlok keeps crashing", "Outlook keeps crashing"),
        ("VPN keeps disconecting", "VPN keeps disconnecting"),
        ("cant acess my mailbox thx", "can't access my mailbox thanks"),
        ("im locked out, plz reset my pwd", "I'm locked out, please reset my password"),
        ("Pls help, u there?", "Please help, you there?"),
        ("I dont know, it isnt working and doesnt print", "I don't know, it isn't working and doesn't print"),
        ("my mailbox is ful and i cant send anything", "my mailbox is full and i can't send anything"),
        # "dies" was a word outside the vocabulary, one letter from "does": the battery runbook (ours) uses it
        ("my laptop battery dies really fast now", "my laptop battery dies really fast now"),
    ],
)
def test_typos_and_shorthand(typed: str, fixed: str) -> None:
    assert default_vocabulary().correct(typed) == fixed


@pytest.mark.parametrize(
    "text",
    [
        "laptop NW-L-0450 and printer LON-F4-HP-02, ticket INC0000123, VPN",
        "mail ruby.chen@nwmeridian.co.uk or see https://intranet.nwmeridian.co.uk/helpdsk/vpn",
        "my U: drive and the U drive are gone",
        "GlobalProtct and OneDrve say ERRR",
        "win11 kb5034441 x64 3rd",
        "the S:\\Finnance\\expenses.xlsx file",
        "a café résumé naïve",
    ],
)
def test_codes_addresses_and_names_are_never_touched(text: str) -> None:
    assert default_vocabulary().correct(text) == text


def test_long_and_repetitive_input_stays_fast() -> None:
    speller = default_vocabulary()
    started = time.perf_counter()
    assert speller.correct("u " * 20_000) == "you " * 20_000
    assert speller.correct("x" * 100_000) == "x" * 100_000
    assert speller.suggest("a" * 1000) is None
    assert time.perf_counter() - started < 1


def test_small_vocabulary_rules() -> None:
    speller = SpellingCorrector.from_texts(["the office printer", "connection connection", "print print print"])
    assert speller.correct("ofice") == "office"  # distance 1
    assert speller.correct("ofce") == "ofce"  # distance 2 is too far for a short word
    assert speller.correct("conectoin") == "connection"  # distance 2 allowed from seven letters
    assert speller.correct("printr") == "printer"  # keeps every letter typed, though "print" is more frequent
    assert speller.correct("teh") == "teh"  # shorter than four letters
    short = SpellingCorrector.from_texts(["my mailbox is full", "call me", "it will print"])
    assert short.correct("mailbox ful, cal me, it wil") == "mailbox full, call me, it will"  # a letter typed once
    assert short.correct("teh fll ill") == "teh fll ill"  # no other three-letter typo is guessed
    assert short.correct("ask Wil") == "ask Wil"  # a short word with a capital is a name
    assert speller.correct("zebra") == "zebra"  # nothing near
    assert speller.correct("weconnection") == "weconnection"  # a known word inside a longer one: a name, no typo
    assert speller.correct("connectionn") == "connection"  # one letter too many is a typo


def test_the_most_frequent_of_equally_near_words_wins() -> None:
    speller = SpellingCorrector.from_texts(["cable " * 5, "table"])
    assert speller.correct("xable") == "cable"


def test_rare_misspellings_in_the_texts_are_not_vocabulary() -> None:
    speller = SpellingCorrector.from_texts(["password " * 20, "pasword", "minute", "minutes " * 40])
    assert "pasword" not in speller and "minute" in speller
    assert speller.correct("pasword") == "password"


def test_edit_distance() -> None:
    assert edit_distance("outlook", "outlook") == 0
    assert edit_distance("outlok", "outlook") == 1
    assert edit_distance("pirnter", "printer") == 1  # a transposition is one edit
    assert edit_distance("conectoin", "connection") == 2
    assert edit_distance("abc", "xyzuvw", limit=2) == 3


def test_default_vocabulary_is_built_once_from_the_packaged_texts() -> None:
    speller = default_vocabulary()
    assert speller is default_vocabulary()
    assert {"globalprotect", "password", "printer", "voicemail"} <= set(speller.counts)


# --- prepare ----------------------------------------------------------------------------------


def test_prepare_cleans_corrects_and_appends_the_error_lines() -> None:
    text = "windows updat keeps failing, log below\n" + WINDOWS_UPDATE.split("\n\n")[1]
    prepared = prepare(text)
    assert prepared.original == text
    assert prepared.removed == ("log",) and prepared.corrected
    assert prepared.text == (
        "windows update keeps failing, log below\nHandler FATAL: Failed to install update KB5034441, error 0x80070005"
    )


def test_prepare_a_clean_message() -> None:
    prepared = prepare("my printer is offline")
    assert (prepared.text, prepared.removed, prepared.corrected) == ("my printer is offline", (), False)


def test_prepare_with_a_given_corrector() -> None:
    prepared = prepare(GMAIL_FORWARD.replace("tunnel", "tunel"), SpellingCorrector.from_texts(["tunnel"]))
    assert prepared.text.startswith("VPN keeps dropping\n\nthe tunnel drops") and prepared.corrected


def _timed(call: object, times: int) -> float:
    assert callable(call)
    started = time.perf_counter()
    for _ in range(times):
        call()
    return (time.perf_counter() - started) / times


def test_two_swapped_letters_beat_a_more_frequent_word_one_letter_away() -> None:
    assert default_vocabulary().correct("I wnat a real person") == "I want a real person"  # not "what"


def test_understood_corrects_chat_but_leaves_long_ticket_texts_as_written() -> None:
    from firstline.helpdesk.cleaning import understood

    assert understood("outlok wont open pasword pls hlp").text.startswith("outlook won't open")
    assert understood("a persn please").text == "a person please"
    long = "outlok " + " ".join(["the quarterly report macro in the budgt workbook fails"] * 4)
    read = understood(long)
    assert read.text.startswith("outlok") and not read.corrected  # a ticket-length text: as written
