"""The pieces of a notification mail: templates, Markdown for mail, unsubscribe tokens, preferences, rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from firstline.channels.notify_mail import MailTemplates, person_name
from firstline.channels.notify_rules import NoticeRules, Wanted, may_matter, what_to_approve
from firstline.channels.notify_text import plain_text, simple_html
from firstline.channels.notify_tokens import UnsubscribeTokens
from firstline.conversations import Notice, SqlConversations
from firstline.conversations.preferences import NotificationPreferences
from firstline.errors import InputError
from firstline.localdb import open_database
from firstline.sqlstore.transactions import Transactions

RUBY = "ruby.chen@nwmeridian.co.uk"
MARCUS = "marcus.bell@nwmeridian.co.uk"
SECRET = b"0123456789abcdef0123456789abcdef"
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Transactions]:
    db = open_database(f"sqlite:///{tmp_path / 'firstline.db'}")
    yield db
    db.close()


# -- Markdown for mail ------------------------------------------------------------------------------


def test_markdown_becomes_plain_text() -> None:
    text = plain_text("## Fix\n**Restart** the *router*, then see [the guide](https://aka.ms/sspr).\n* one\n`ipconfig`")
    assert text == "Fix\nRestart the router, then see the guide (https://aka.ms/sspr).\n- one\nipconfig"
    assert plain_text("snake_case_name and 2*3*4") == "snake_case_name and 2*3*4"  # not emphasis


def test_markdown_becomes_escaped_simple_html() -> None:
    made = simple_html(
        "**Try** this <img src=x onerror=alert(1)>:\n\n- [guide](https://x.example/a?b=1&c=2)\n"
        '- [bad](javascript:alert(1))\n- `<b>` "quoted"'
    )
    assert made.startswith("<p><strong>Try</strong> this &lt;img src=x onerror=alert(1)&gt;:</p>")
    assert '<li><a href="https://x.example/a?b=1&amp;c=2">guide</a></li>' in made
    assert "<li>bad (javascript:alert(1))</li>" in made and "<code>&lt;b&gt;</code> &quot;quoted&quot;" in made
    assert "<img" not in made and 'href="javascript' not in made


# -- unsubscribe tokens ---------------------------------------------------------------------------------


def test_a_token_names_one_person_and_one_kind() -> None:
    tokens = UnsubscribeTokens(SECRET)
    token = tokens.make("Ruby.Chen@nwmeridian.co.uk", "reply")
    assert tokens.read(token) == (RUBY, "reply")
    assert all(c.isalnum() or c in "-_." for c in token)  # URL-safe as it is
    assert tokens.read(tokens.make(RUBY, "resolved")) == (RUBY, "resolved")


def test_tampered_and_foreign_tokens_are_refused() -> None:
    tokens = UnsubscribeTokens(SECRET)
    payload, signature = tokens.make(RUBY, "reply").split(".")
    marcus_payload = tokens.make(MARCUS, "reply").split(".")[0]
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for bad in (f"{marcus_payload}.{signature}", f"{payload}.{flipped}", payload, "", "a.b.c", f"{payload}.!!"):
        with pytest.raises(InputError, match="not valid"):
            tokens.read(bad)
    with pytest.raises(InputError):  # another deployment's secret
        UnsubscribeTokens(b"another secret of 32 bytes......").read(tokens.make(RUBY, "reply"))


# -- preferences -------------------------------------------------------------------------------------


def test_preferences_are_on_until_turned_off(database: Transactions) -> None:
    prefs = NotificationPreferences(database)
    assert prefs.all(RUBY) == {"approval": True, "reply": True, "resolved": True}
    prefs.set("Ruby.Chen@nwmeridian.co.uk", "reply", False)
    prefs.set(RUBY, "reply", False)  # idempotent
    assert prefs.enabled(RUBY, "reply") is False and prefs.enabled(MARCUS, "reply") is True
    assert prefs.all(RUBY) == {"approval": True, "reply": False, "resolved": True}
    prefs.set(RUBY, "reply", True)
    assert prefs.enabled(RUBY, "reply") is True
    with pytest.raises(InputError, match="Unknown notification kind"):
        prefs.set(RUBY, "newsletter", False)
    with pytest.raises(InputError, match="not an e-mail address"):
        prefs.enabled("nobody", "reply")


# -- rendering ----------------------------------------------------------------------------------------


def _reply(text: str, seq: int = 5) -> Wanted:
    return Wanted("reply", RUBY, "c0ffee", seq, AT, text=text)


def test_a_reply_mail_escapes_everything_and_links_back() -> None:
    templates = MailTemplates("https://help.example.com/", UnsubscribeTokens(SECRET))
    mail = templates.render("reply", [_reply('**Done**: <script>alert("x")</script>')], None, "INC0001234")
    assert mail.subject == "[INC0001234] New reply on your request"
    assert "Done: <script>" in mail.text and "https://help.example.com/?conversation=c0ffee" in mail.text
    assert "<script>" not in mail.html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in mail.html
    assert "<strong>Done</strong>" in mail.html
    link = mail.headers["List-Unsubscribe"]
    assert link.startswith("<https://help.example.com/v1/notifications/unsubscribe?token=") and link.endswith(">")
    token = link[link.index("token=") + 6 : -1]
    assert UnsubscribeTokens(SECRET).read(token) == (RUBY, "reply")
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.headers["Auto-Submitted"] == "auto-generated"
    assert link[1:-1].replace("&", "&amp;") in mail.html and "replies on your requests" in mail.text


def test_several_replies_in_one_mail_carry_their_times() -> None:
    templates = MailTemplates("https://help.example.com", UnsubscribeTokens(SECRET))
    mail = templates.render("reply", [_reply("first"), _reply("second", 6)], None, None)
    assert mail.subject == "New reply on your request (2 new messages)"
    assert mail.text.count("[02 Mar 09:30 UTC]") == 2 and mail.text.index("first") < mail.text.index("second")


def test_what_an_approver_reads() -> None:
    assert what_to_approve("add_to_distribution_list", {"address": "a@b.c"}, RUBY) == "add Ruby Chen to the list a@b.c"
    assert what_to_approve("wipe_laptop", {"device": "LT-1"}, RUBY) == "wipe laptop for Ruby Chen (device: LT-1)"
    assert what_to_approve("remote_lock", {}, RUBY) == "remote lock for Ruby Chen"  # arguments missing
    assert person_name("mary-jane.o_neil@x.com") == "Mary Jane O Neil"


# -- rules -------------------------------------------------------------------------------------------


def _notice(cid: str, seq: int, kind: str, agent: str, **data: object) -> Notice:
    return Notice(cid, seq, kind, agent, RUBY, AT, dict(data))


def test_which_events_call_for_mail(database: Transactions) -> None:
    store = SqlConversations(database)
    rules = NoticeRules(store, lambda: [])
    cid = store.create(RUBY, "web").id
    store.append(cid, "user_message", "desk", {"text": "vpn"})
    own = store.append(cid, "assistant_message", "network", {"text": "Try this."})
    assert rules.read(_notice(cid, own.seq, own.kind, own.agent, text="Try this.")) == []
    staff = store.append(cid, "assistant_message", "service desk", {"text": "We fixed it."})
    (reply,) = rules.read(_notice(cid, staff.seq, staff.kind, staff.agent, text="We fixed it."))
    assert (reply.kind, reply.recipient, reply.text) == ("reply", RUBY, "We fixed it.")
    store.append(cid, "approval_decided", "network", {"id": "x"})
    resumed = store.append(cid, "assistant_message", "network", {"text": "Done after approval."})
    assert [w.kind for w in rules.read(_notice(cid, resumed.seq, resumed.kind, resumed.agent, text="x"))] == ["reply"]
    update = _notice(cid, 9, "ticket_update", "servicenow", ticket="INC0000007", changes={"state": "resolved"})
    (resolved,) = rules.read(update)
    assert (resolved.kind, resolved.ticket) == ("resolved", "INC0000007")
    assert rules.read(_notice(cid, 9, "ticket_update", "servicenow", ticket="INC7", changes={"state": "on_hold"})) == []
    assert not may_matter(_notice(cid, 9, "tool_finished", "network", tool="ping_host", ok=True))
    assert may_matter(_notice(cid, 9, "tool_finished", "network", tool="mark_resolved", ok=True))
    store.append(cid, "user_message", "desk", {"text": "it works now"})
    card = {"number": "INC0000007", "state": "resolved"}
    mine = store.append(cid, "ticket_change", "desk", {"action": "resolved", "ticket": card})
    assert rules.read(_notice(cid, mine.seq, mine.kind, mine.agent, action="resolved", ticket=card)) == []
