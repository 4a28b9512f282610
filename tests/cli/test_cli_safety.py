"""The CLI against hostile stored text (escape sequences, bidi controls, rich markup) and who may decide approvals."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from firstline.cli.main import app
from firstline.conversations import SqlConversations
from firstline.conversations.store import ApprovalRecord
from firstline.localdb import open_database
from firstline.settings import load_settings

runner = CliRunner()

# What a terminal would obey: C0 controls but tab and newline, DEL, C1 controls, bidi controls.
OBEYED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
HOSTILE = [
    "retitle \x1b]0;pwned\x07 now",
    "clear \x1b[2J\x1b[H screen",
    "c1 \x9b31m red",
    "dcs \x1bP+q\x1b\\ done",
    "invoice\u202eexe.txt",
    "isolate \u2066hidden\u2069",
    "[bold red]URGENT[/] [link=https://evil.example]click[/link] :warning:",
]
RUBY, MARCUS = "ruby.chen@nwmeridian.co.uk", "marcus.bell@nwmeridian.co.uk"
OWNER = "patrick.nolan@nwmeridian.co.uk"  # owner of first-aiders@, the distribution list's named approver
AGENT = "sarah.lindqvist@nwmeridian.co.uk"
PASSWORD = "a long passphrase"


def run(*args: str) -> tuple[int, str, str]:
    """Exit code, stdout, and stderr on one line (rich wraps long errors at 80 columns)."""
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


@contextmanager
def store() -> Iterator[SqlConversations]:
    database = open_database(load_settings().ticket_database_url)
    try:
        yield SqlConversations(database)
    finally:
        database.close()


def assert_shown_not_obeyed(out: str) -> None:
    assert not OBEYED.search(out), ascii(out)
    for shown in ("\\x1b]0;pwned\\x07", "\\x1b[2J\\x1b[H", "\\x9b31m", "\\x1bP+q\\x1b\\", "<U+202E>", "<U+2066>"):
        assert shown in out
    assert "[bold red]URGENT[/]" in out and "[link=https://evil.example]click[/link]" in out  # markup not obeyed
    assert ":warning:" in out  # no emoji substitution either


# -- hostile stored text ---------------------------------------------------------------------------------


@pytest.fixture
def hostile_conversation() -> str:
    with store() as conversations:
        conversation = conversations.create(RUBY, channel="api")
        for text in HOSTILE:
            conversations.append(conversation.id, "user_message", "triage", {"text": text})
    return conversation.id


def test_conversation_show_shows_escape_sequences_and_bidi_controls_instead_of_sending_them(
    hostile_conversation: str,
) -> None:
    code, out, err = run("conversation", "show", hostile_conversation)
    assert code == 0, err
    assert_shown_not_obeyed(out)


def test_conversation_show_json_escapes_them_and_still_parses_to_the_stored_text(hostile_conversation: str) -> None:
    code, out, _ = run("conversation", "show", hostile_conversation, "--json")
    assert code == 0 and not OBEYED.search(out)
    assert [e["data"]["text"] for e in json.loads(out)] == HOSTILE


def test_ask_shows_a_hostile_reply_ticket_and_citation_inertly(monkeypatch: pytest.MonkeyPatch) -> None:
    from firstline.cli import chat

    text = "\n".join(HOSTILE)
    reply = {
        "conversation_id": "c1",
        "agent": "network\x1b[2J",
        "reply": text,
        "status": "done",
        "ticket": {"number": "INC0000001", "state": "new", "priority": 3, "assignment_group": "[bold]Net\u202eOps"},
        "citations": [{"title": "VPN [link=https://evil.example]guide[/link]", "section": "Fix\x1b]0;x\x07"}],
    }

    class Desk:
        async def ask(self, *_: Any, **__: Any) -> SimpleNamespace:
            return SimpleNamespace(as_dict=lambda: reply)

    @contextmanager
    def runtime() -> Iterator[SimpleNamespace]:
        yield SimpleNamespace(helpdesk=Desk())

    monkeypatch.setattr(chat, "_runtime", runtime)
    monkeypatch.setattr(chat, "_ready", lambda _: None)
    monkeypatch.setattr("firstline.cli.main.console.width", 200)  # no wrapping inside what is asserted
    code, out, err = run("ask", "hi", "--user", RUBY)
    assert code == 0, err
    assert_shown_not_obeyed(out)
    assert "[bold]Net<U+202E>Ops" in out and "VPN [link=https://evil.example]guide[/link]" in out
    assert "Fix\\x1b]0;x\\x07" in out and "network\\x1b[2J" in out


# -- who may decide an approval ---------------------------------------------------------------------------


@pytest.fixture
def hostile_approval() -> str:
    """A pending approval whose stored fields carry escape sequences, bidi controls and markup."""
    with store() as conversations:
        conversation = conversations.create(MARCUS, channel="api")
        record = ApprovalRecord(
            id="a" * 32,
            conversation_id=conversation.id,
            tool="remote_lock\x1b]0;pwned\x07",
            arguments={"device": "NW-M-0101"},
            requested_by="[bold red]marcus\u202e@nwmeridian.co.uk",
            approvers=("owner\x9b2J@nwmeridian.co.uk",),
        )
        return conversations.add_approval(record).id


def paused_remote_lock() -> tuple[str, str]:
    """Marcus reports his phone lost and verifies: the remote lock waits for any agent. (conversation, approval)"""
    code, out, err = run("ask", "I lost my work iPhone on the train", "--user", MARCUS, "--json")
    assert code == 0, err
    cid = json.loads(out)["conversation_id"]
    reply = json.loads(run("ask", "123456", "--conversation", cid, "--user", MARCUS, "--json")[1])
    if reply["status"] != "paused":  # it asked which device
        device = reply["reply"].split("Yours are: ")[-1].split(" ")[0]
        reply = json.loads(run("ask", device, "--conversation", cid, "--user", MARCUS, "--json")[1])
    assert reply["status"] == "paused" and reply["approval"]["approvers"] == []
    return cid, reply["approval"]["id"]


@pytest.fixture
def one_time_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "randbelow", lambda _: 123456)  # the demo code the "phone" receives (deps.secrets)
    monkeypatch.setenv("FIRSTLINE_KNOWLEDGE__INGEST_DEMO_RUNBOOKS", "false")  # these flows need no runbooks


@pytest.fixture
def any_agent_approval(one_time_code: None) -> str:
    """A real paused remote lock that any service desk agent may decide (no named approvers)."""
    return paused_remote_lock()[1]


def pending(approval_id: str) -> bool:
    with store() as conversations:
        return conversations.approval(approval_id).status == "pending"


def add_account(email: str, role: str) -> None:
    code, _, err = run("accounts", "add", email, "--role", role, "--password", PASSWORD)
    assert code == 0, err


def test_approvals_list_shows_hostile_fields_inertly(hostile_approval: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("firstline.cli.main.console.width", 300)  # whole cells, not "…"
    code, out, _ = run("approvals", "list")
    assert code == 0 and not OBEYED.search(out), ascii(out)
    assert "[bold red]marcus<U+202E>@" in out and "\\x1b]0;pwned\\x07" in out and "owner\\x9b2J@" in out


def test_an_unknown_address_cannot_approve(any_agent_approval: str) -> None:
    code, _, err = run("approvals", "approve", any_agent_approval, "--by", "finance.clerk@nwmeridian.co.uk")
    assert code == 2
    assert "has no Firstline account" in err and "service desk agent only" in err
    assert pending(any_agent_approval)


def test_a_requester_account_cannot_approve_or_deny(any_agent_approval: str) -> None:
    add_account("finance.clerk@nwmeridian.co.uk", "requester")
    code, _, err = run("approvals", "approve", any_agent_approval, "--by", "finance.clerk@nwmeridian.co.uk")
    assert code == 2 and "is a requester, not an agent" in err
    code, _, err = run(
        "approvals", "deny", any_agent_approval, "--by", "finance.clerk@nwmeridian.co.uk", "--reason", "x"
    )
    assert code == 2 and "is a requester, not an agent" in err
    assert pending(any_agent_approval)


def test_a_disabled_agent_account_cannot_approve(any_agent_approval: str) -> None:
    add_account(AGENT, "agent")
    assert run("accounts", "disable", AGENT)[0] == 0
    code, _, err = run("approvals", "approve", any_agent_approval, "--by", AGENT)
    assert code == 2 and "disabled account" in err
    assert pending(any_agent_approval)


def test_the_refusal_leaves_the_approval_pending_and_undecided(any_agent_approval: str) -> None:
    run("approvals", "approve", any_agent_approval, "--by", "someone@example.com")
    with store() as conversations:
        record = conversations.approval(any_agent_approval)
        events = [e.kind for e in conversations.events(record.conversation_id)]
    assert (record.status, record.decided_by, record.decided_at) == ("pending", None, None)
    assert "approval_decided" not in events
    assert [a["id"] for a in json.loads(run("approvals", "list", "--json")[1])] == [any_agent_approval]


def test_an_agent_account_approves_and_is_recorded_by_its_normalised_address(one_time_code: None) -> None:
    cid, approval_id = paused_remote_lock()
    add_account(AGENT, "agent")

    code, out, err = run("approvals", "approve", approval_id, "--by", "  Sarah.Lindqvist@NWMeridian.co.uk ", "--json")
    assert code == 0, err
    with store() as conversations:
        record = conversations.approval(approval_id)
    assert (record.status, record.decided_by) == ("approved", AGENT)
    code, out, _ = run("conversation", "show", cid, "--json")
    decided = [e["data"] for e in json.loads(out) if e["kind"] == "approval_decided"]
    assert [d["decided_by"] for d in decided] == [AGENT]


def test_a_listed_approver_decides_without_an_account_and_others_cannot(one_time_code: None) -> None:
    code, out, _ = run("ask", "please add me to first-aiders@nwmeridian.co.uk", "--user", RUBY, "--json")
    cid = json.loads(out)["conversation_id"]
    paused = json.loads(run("ask", "123456", "--conversation", cid, "--user", RUBY, "--json")[1])
    assert paused["status"] == "paused" and paused["approval"]["approvers"] == [OWNER]
    approval_id = paused["approval"]["id"]
    add_account(AGENT, "admin")  # even an admin is not the list's owner
    code, _, err = run("approvals", "approve", approval_id, "--by", AGENT)
    assert code == 2 and f"Only {OWNER} may decide" in err
    assert pending(approval_id)

    code, out, err = run(
        "approvals", "deny", approval_id, "--by", OWNER.upper(), "--reason", "not a first-aider", "--json"
    )
    assert code == 0, err
    with store() as conversations:
        record = conversations.approval(approval_id)
    assert (record.status, record.decided_by) == ("denied", OWNER)
