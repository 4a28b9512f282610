from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from firstline.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def docs(tmp_path: Path, runbooks_dir: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("network-vpn-keeps-disconnecting.md", "printer-paper-jam.md", "security-report-phishing.md"):
        (folder / name).write_text((runbooks_dir / name).read_text())
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.5 not really")
    return folder


def test_config_check_prints_resolved_config_with_secrets_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRSTLINE_KNOWLEDGE__QDRANT_API_KEY", "hunter2")
    code, out, _ = run("config", "check", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["knowledge"]["store"] == "chroma"
    assert data["knowledge"]["qdrant_api_key"] == "**********"
    assert "hunter2" not in out


def test_config_check_fails_on_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[knowledge]\nstore = "pinecone"\n')
    code, _, err = run("--config", str(config), "config", "check")
    assert code == 2
    assert "knowledge.store" in err


def test_ingest_search_stats_round_trip(docs: Path) -> None:
    code, out, err = run("kb", "ingest", str(docs), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert len(report["added"]) == 3
    assert report["failed"][0]["source"].endswith("corrupt.pdf")
    assert "corrupt.pdf" in err

    code, out, _ = run("kb", "ingest", str(docs), "--json")
    assert json.loads(out)["unchanged"] == 3 and json.loads(out)["chunks_embedded"] == 0

    code, out, _ = run("kb", "search", "my vpn keeps dropping", "-k", "2", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["mode"] == "hybrid" and len(result["hits"]) == 2
    citation = result["hits"][0]["citation"]
    assert citation["title"] == "VPN client keeps disconnecting"
    assert citation["source"].endswith("network-vpn-keeps-disconnecting.md")
    assert set(citation) == {"title", "section_path", "source", "url", "chunk_id", "score"}

    code, out, _ = run("kb", "search", "paper jam", "--mode", "bm25", "--category", "printer")
    assert code == 0 and "Clearing a paper jam" in out

    code, out, _ = run("kb", "stats", "--json")
    stats = json.loads(out)
    assert stats["sources"] == 3 and stats["chunks"] == stats["vectors"] > 10
    assert stats["store"] == "chroma"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("kb", "search", "   "), "empty"),
        (("kb", "search", "x" * 2500), "limit is 2000"),
        (("kb", "search", "vpn", "--mode", "magic"), "unknown mode"),
        (("kb", "ingest", "/no/such/folder"), "no such file"),
    ],
)
def test_bad_input_gets_a_clear_error(args: tuple[str, ...], message: str) -> None:
    code, _, err = run(*args)
    assert code != 0
    assert message in " ".join(err.split())


def test_unreachable_chroma_server_names_url_and_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRSTLINE_KNOWLEDGE__STORE", "chroma-server")
    monkeypatch.setenv("FIRSTLINE_KNOWLEDGE__CHROMA_URL", "http://127.0.0.1:9")
    code, _, err = run("kb", "search", "vpn")
    assert code == 2
    flat = " ".join(err.split())
    assert "http://127.0.0.1:9" in flat and "knowledge.chroma_url" in flat


def test_eval_prints_metrics_per_mode(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    rows = [
        ("d1", "Reset voicemail PIN", "Dial 8000, press star, then follow the prompts to choose a new PIN."),
        ("d2", "Printer paper jam", "Open tray 2 and the rear door, remove the crumpled sheet."),
        ("d3", "VPN disconnects", "GlobalProtect drops the tunnel every few minutes on hotel Wi-Fi."),
    ]
    corpus.write_text("\n".join(json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in rows))
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        '{"_id": "q1", "text": "forgot my voicemail code"}\n{"_id": "q2", "text": "sheet stuck in the printer"}\n'
        '{"_id": "q3", "text": "vpn keeps dropping"}\n{"_id": "q4", "text": "unjudged"}\n'
    )
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n")
    code, out, err = run(
        "kb", "eval", "--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels), "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"dense", "bm25", "hybrid", "rrf"}
    for metrics in result.values():
        assert metrics["queries"] == 3
        assert set(metrics) >= {"ndcg@10", "mrr@10", "recall@10", "recall@100", "latency_p50_ms", "latency_p95_ms"}
    assert result["hybrid"]["ndcg@10"] == 1.0
    assert result["dense"]["recall@100"] == 1.0
    code, out, _ = run(
        "kb", "eval", "--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels), "--mode", "bm25"
    )
    assert code == 0 and "bm25" in out and "NDCG@10" in out


def test_ask_approvals_conversation_and_chat(monkeypatch: pytest.MonkeyPatch) -> None:
    import firstline.helpdesk.tools.deps as deps

    monkeypatch.setattr(deps.secrets, "randbelow", lambda _: 123456)  # the demo code the "phone" receives
    ruby, owner = "ruby.chen@nwmeridian.co.uk", "patrick.nolan@nwmeridian.co.uk"
    code, out, _ = run("ask", "please add me to first-aiders@nwmeridian.co.uk", "--user", ruby, "--json")
    assert code == 0
    first = json.loads(out)
    assert (first["agent"], first["intent"]) == ("email", "distribution_list") and first["ticket"]["number"]
    code, out, _ = run("ask", "123456", "--conversation", first["conversation_id"], "--user", ruby, "--json")
    paused = json.loads(out)
    assert paused["status"] == "paused" and paused["approval"]["approvers"] == [owner]
    code, out, _ = run("approvals", "list", "--json")
    assert [a["id"] for a in json.loads(out)] == [paused["approval"]["id"]]
    code, _, err = run("approvals", "approve", paused["approval"]["id"], "--by", ruby)
    assert code == 2 and "can't approve your own" in err
    code, out, _ = run("approvals", "approve", paused["approval"]["id"], "--by", owner, "--json")
    assert code == 0 and json.loads(out)["status"] == "done"
    code, out, _ = run("conversation", "show", first["conversation_id"], "--json")
    events = [e["kind"] for e in json.loads(out)]
    assert events[0] == "user_message" and "approval_decided" in events
    code, _, err = run("ask", "   ", "--user", ruby)
    assert code == 2
    result = runner.invoke(app, ["chat", "--user", ruby], input="hello\n/quit\n")
    assert result.exit_code == 0 and "What can I help with?" in result.stdout


FORWARDED = """---------- Forwarded message ---------
From: Priya Shah <priya.shah@nwmeridian.co.uk>
Date: Tue, 3 Mar 2026 at 09:12
Subject: VPN keeps dropping
To: <servicedesk@nwmeridian.co.uk>

my vpn drops every few minutes when I work from home"""


def test_ask_takes_a_message_starting_with_dashes_or_from_stdin() -> None:
    ruby = "ruby.chen@nwmeridian.co.uk"
    code, out, err = run("ask", FORWARDED, "--user", ruby, "--json")
    assert code == 0, err
    assert json.loads(out)["agent"] == "network"
    result = runner.invoke(
        app, ["ask", "-", "--user", ruby, "--json"], input="my vpn keeps dropping\nevery few minutes\n"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["agent"] == "network"


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """Stand in for the runtime: what ``ask`` would send to the helpdesk lands here, a canned reply comes back."""
    from firstline.cli import chat

    received: list[tuple[str, str | None]] = []

    class Desk:
        async def ask(self, text: str, *, requester: str | None, **_: Any) -> SimpleNamespace:
            received.append((text, requester))
            reply = {"conversation_id": "c1", "agent": "network", "reply": "ok", "status": "done", "citations": []}
            return SimpleNamespace(as_dict=lambda: reply)

    @contextmanager
    def runtime() -> Iterator[SimpleNamespace]:
        yield SimpleNamespace(helpdesk=Desk())

    monkeypatch.setattr(chat, "_runtime", runtime)
    monkeypatch.setattr(chat, "_ready", lambda _: None)
    return received


@pytest.mark.parametrize(
    ("args", "text", "user"),
    [
        (("ask", FORWARDED, "--user", "a@x.co"), FORWARDED, "a@x.co"),
        (("ask", "--user", "a@x.co", "-- my printer is offline"), "-- my printer is offline", "a@x.co"),
        (("ask", "- printer offline", "-ua@x.co", "--json"), "- printer offline", "a@x.co"),
        (("ask", "--user=a@x.co", "--", "--json"), "--json", "a@x.co"),
        (("ask", "-u", "-odd@x.co", "---"), "---", "-odd@x.co"),
        (("ask", "--", "-u is not my user"), "-u is not my user", None),
        (("ask", "my vpn drops"), "my vpn drops", None),
    ],
)
def test_ask_reads_options_and_any_message(
    asked: list[tuple[str, str | None]], args: tuple[str, ...], text: str, user: str | None
) -> None:
    code, _, err = run(*args)
    assert code == 0, err
    assert asked == [(text, user)]


def test_ask_reads_a_multi_line_message_from_stdin(asked: list[tuple[str, str | None]]) -> None:
    result = runner.invoke(app, ["ask", "-", "-u", "a@x.co"], input="\n---- Forwarded ----\nmy vpn\n  drops\n\n")
    assert result.exit_code == 0, result.stderr
    assert asked == [("---- Forwarded ----\nmy vpn\n  drops", "a@x.co")]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("ask", "-", "--user", "a@x.co"), "", "standard input was empty"),
        (("ask", "-"), " \n\n", "standard input was empty"),
        (("ask", "--jsn", "my vpn drops"), None, "No such option: --jsn (did you mean --json?)"),
        (("ask",), None, "Missing argument"),
    ],
)
def test_ask_usage_errors(
    asked: list[tuple[str, str | None]], args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert asked == []


def test_accounts_and_keys(tmp_path: Path) -> None:
    email = "sarah.lindqvist@nwmeridian.co.uk"
    code, out, _ = run(
        "accounts", "add", email, "--role", "agent", "--name", "Sarah", "--password", "a long passphrase"
    )
    assert code == 0 and "added" in out
    code, _, err = run("accounts", "add", email, "--role", "agent", "--password", "a long passphrase")
    assert code == 2 and "already has an account" in err
    code, _, err = run("accounts", "add", "x@nwmeridian.co.uk", "--role", "boss", "--password", "a long passphrase")
    assert code == 2 and "Unknown role" in err
    code, out, _ = run("accounts", "list")
    assert code == 0 and email in out and "agent" in out
    code, out, _ = run("keys", "create", "--name", "teams-bot", "--role", "agent")
    key, key_id = out.strip().splitlines()[-1], out.split()[1]
    assert code == 0 and key.startswith("fl_") and len(key_id) == 32
    code, out, _ = run("keys", "list")
    assert code == 0 and "teams-bot" in out and key not in out
    assert run("keys", "revoke", key_id)[0] == 0
    code, _, err = run("keys", "revoke", key_id)
    assert code == 2 and "No active API key" in err
    assert run("accounts", "password", email, "--password", "another passphrase")[0] == 0
    assert run("accounts", "disable", email)[0] == 0
