"""``firstline channels``: an administrator lists, links and unlinks channel identities."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firstline.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), terminal_width=200)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_link_list_and_unlink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRSTLINE_DATA_DIR", str(tmp_path))
    assert run("channels", "link", "slack", "U0RUBY", "Ruby.Chen@nwmeridian.co.uk")[0] == 0
    code, out, _ = run("channels", "list")
    assert code == 0 and "U0RUBY" in out and "admin (cli)" in out
    code, out, _ = run("channels", "list", "--json")
    found = json.loads(out)
    assert [(i["channel"], i["external_id"], i["email"], i["verified_via"]) for i in found] == [
        ("slack", "U0RUBY", "ruby.chen@nwmeridian.co.uk", "admin (cli)")
    ]
    code, out, _ = run("channels", "list", "--json", "--email", "ben.carter@nwmeridian.co.uk")
    assert code == 0 and json.loads(out) == []
    assert run("channels", "unlink", "slack", "U0RUBY")[0] == 0
    code, _, err = run("channels", "unlink", "slack", "U0RUBY")
    assert code == 2 and "No slack identity 'U0RUBY' is linked" in err
    code, _, err = run("channels", "link", "discord", "x", "ruby.chen@nwmeridian.co.uk")
    assert code == 2 and "Unknown channel 'discord'" in err
    code, _, err = run("channels", "link", "slack", "U1", "not-an-address")
    assert code == 2 and "verified" in err
