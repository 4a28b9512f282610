"""Reading incoming mail: quotes and signatures of real clients stripped, encodings decoded, robots spotted."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from firstline.channels.email_clean import clean_reply, html_to_text
from firstline.channels.email_compose import markdown_html, markdown_text, reply_headers, reply_subject
from firstline.channels.email_identity import authentication_result
from firstline.channels.email_parse import automatic, parse_mail, ticket_numbers

OWN = ("it-helpdesk@nwmeridian.co.uk",)

GMAIL = """Still dropping every 20 minutes, even on the office wifi.

On Thu, 4 Dec 2026 at 10:02, IT help desk <it-helpdesk@nwmeridian.co.uk> wrote:
> I've opened INC0000042 for the VPN.
>
> Try reconnecting.
"""

GMAIL_WRAPPED = """It works now, thanks!

On Thu, Dec 4, 2026 at 10:02 AM Northwind Meridian IT help desk <
it-helpdesk@nwmeridian.co.uk> wrote:

> I've opened INC0000042 for the VPN.
"""

OUTLOOK = """Yes, please go ahead and reset it.

Kind regards
Ruby

________________________________
From: IT help desk <it-helpdesk@nwmeridian.co.uk>
Sent: Thursday, December 4, 2026 10:02 AM
To: Ruby Chen <ruby.chen@nwmeridian.co.uk>
Subject: Re: Locked out [INC0000042]

Shall I reset your password?
"""

OUTLOOK_ORIGINAL = """Done, the printer works.

-----Original Message-----
From: IT help desk
Sent: 04 December 2026 10:02
Subject: Printer

Please power-cycle it.
"""

APPLE = """The laptop still won't charge.

Sent from my iPhone

> On 4 Dec 2026, at 10:02, IT help desk <it-helpdesk@nwmeridian.co.uk> wrote:
>
> Which charger do you use?
"""

SIGNATURE = "My monitor flickers when I dock.\n\n-- \nRuby Chen | Finance | Northwind Meridian\n+44 20 7946 0000\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (GMAIL, "Still dropping every 20 minutes, even on the office wifi."),
        (GMAIL_WRAPPED, "It works now, thanks!"),
        (OUTLOOK, "Yes, please go ahead and reset it.\n\nKind regards\nRuby"),
        (OUTLOOK_ORIGINAL, "Done, the printer works."),
        (APPLE, "The laptop still won't charge."),
        (SIGNATURE, "My monitor flickers when I dock."),
        (
            "> quoted above\nmy answer in between\n> more quoted\nand another line",
            "my answer in between\nand another line",
        ),
    ],
    ids=["gmail", "gmail-wrapped", "outlook", "outlook-original", "apple-mail", "signature", "interleaved"],
)
def test_quotes_and_signatures_are_stripped(body: str, expected: str) -> None:
    assert clean_reply(body) == expected


def test_a_sentence_starting_with_on_is_kept() -> None:
    text = "On Monday my VPN stopped working.\nOn Tuesday it came back."
    assert clean_reply(text) == text


def test_html_only_mail_becomes_text_without_the_quoted_part() -> None:
    gmail_html = (
        '<div dir="ltr">The <b>VPN</b> drops:<ul><li>at home</li><li>on <a href="https://aka.ms/sspr">the '
        'portal</a></li></ul></div><br><div class="gmail_quote"><div class="gmail_attr">On Thu wrote:</div>'
        "<blockquote>old text</blockquote></div>"
    )
    text = html_to_text(gmail_html)
    assert "The VPN drops:" in text and "- at home" in text and "the portal (https://aka.ms/sspr)" in text
    assert "old text" not in text and "wrote" not in text
    outlook_html = (
        "<html><body><p>Please reset it.</p><div id=appendonsend></div><hr><div id=divRplyFwdMsg>"
        "<b>From:</b> IT</div><div>Shall I reset your password?</div></body></html>"
    )
    assert html_to_text(outlook_html) == "Please reset it."


def _mail(**headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = headers.pop("From", "Ruby Chen <ruby.chen@nwmeridian.co.uk>")
    message["To"] = "it-helpdesk@nwmeridian.co.uk"
    message["Subject"] = headers.pop("Subject", "VPN")
    message["Message-ID"] = headers.pop("Message_ID", "<m1@nwmeridian.co.uk>")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("hello")
    return bytes(message)


def test_encoded_words_charsets_and_attachments() -> None:
    raw = (
        b"From: =?utf-8?q?Zo=C3=AB_M=C3=BCller?= <Zoe.Muller@NWMeridian.co.uk>\r\n"
        b"Subject: =?iso-8859-1?q?Drucker_h=E4ngt?= [inc0000042]\r\n"
        b"Message-ID: <abc@x>\r\nIn-Reply-To: <ours-2@nw>\r\nReferences: <first@x> <ours-1@nw> <ours-2@nw>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Der Drucker h=E4ngt seit heute fr=FCh.\r\n"
        b"--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=screen.png\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n"
    )
    mail = parse_mail(raw)
    assert (mail.address, mail.display_name) == ("zoe.muller@nwmeridian.co.uk", "Zoë Müller")
    assert mail.subject == "Drucker hängt [inc0000042]" and ticket_numbers(mail.subject) == ["INC0000042"]
    assert mail.text == "Der Drucker hängt seit heute früh." and mail.attachments == ["screen.png"]
    assert mail.refers_to == ["<ours-2@nw>", "<ours-1@nw>", "<first@x>"]


def test_a_mail_without_message_id_gets_a_stable_key() -> None:
    raw = b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
    assert parse_mail(raw).message_id == parse_mail(raw).message_id != parse_mail(raw + b"x").message_id


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto_Submitted": "auto-replied"}, "Auto-Submitted"),
        ({"Auto_Submitted": "auto-generated"}, "Auto-Submitted"),
        ({"X_Auto_Response_Suppress": "All"}, "X-Auto-Response-Suppress"),
        ({"Precedence": "bulk"}, "Precedence"),
        ({"Precedence": "junk"}, "Precedence"),
        ({"Precedence": "list"}, "Precedence"),
        ({"List_Id": "<it-news.nwmeridian.co.uk>"}, "List-Id"),
        ({"X_Autoreply": "yes"}, "X-Autoreply"),
        ({"X_Autorespond": "yes"}, "X-Autorespond"),
        ({"Return_Path": "<>"}, "null return path"),
        ({"From": "MAILER-DAEMON@mx.nwmeridian.co.uk"}, "bounce"),
        ({"From": "IT help desk <IT-Helpdesk@nwmeridian.co.uk>"}, "loop"),
    ],
)
def test_mail_no_person_wrote_is_recognised(headers: dict[str, str], reason: str) -> None:
    found = automatic(parse_mail(_mail(**headers)), OWN)
    assert found is not None and reason in found


def test_a_person_s_mail_is_answered() -> None:
    assert automatic(parse_mail(_mail(Auto_Submitted="no")), OWN) is None
    assert automatic(parse_mail(_mail()), OWN) is None


def test_replies_thread_and_carry_the_ticket() -> None:
    assert reply_subject("RE: Fwd: VPN drops [INC0000042]", "INC0000042") == "Re: VPN drops [INC0000042]"
    assert reply_subject("VPN drops", None) == "Re: VPN drops"
    headers = reply_headers("<c@x>", [f"<{i}@x>" for i in range(30)], "IT <it@x>")
    chain = headers["References"].split()
    assert headers["In-Reply-To"] == "<c@x>" and chain[0] == "<0@x>" and chain[-1] == "<c@x>" and len(chain) == 20
    assert headers["Auto-Submitted"] == "auto-replied"


def test_markdown_answers_become_text_and_safe_html() -> None:
    answer = (
        "**Reset** your password at [the portal](https://aka.ms/sspr):\n\n- open it\n- sign in\n\n<script>x</script>"
    )
    text = markdown_text(answer)
    assert "Reset your password at the portal (https://aka.ms/sspr)" in text and "- open it" in text
    html = markdown_html(answer)
    assert "<strong>Reset</strong>" in html and '<a href="https://aka.ms/sspr"' in html and "<li>open it</li>" in html
    assert "<script>" not in html


def test_authentication_results_are_read_per_method() -> None:
    server, methods = authentication_result(
        "mx.nwmeridian.co.uk 1; spf=pass smtp.mailfrom=nwmeridian.co.uk; dkim=pass (good) header.d=nwmeridian.co.uk;"
        " dmarc=pass (p=reject) header.from=NWMeridian.co.uk"
    )
    assert server == "mx.nwmeridian.co.uk"
    assert methods["dmarc"] == ("pass", {"header.from": "nwmeridian.co.uk"})
    assert methods["spf"][0] == "pass"
