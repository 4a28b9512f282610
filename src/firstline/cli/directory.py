"""``firstline directory check``: try the configured directory backends and name every missing permission."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from firstline.errors import FirstlineError

__all__ = ["directory_app", "directory_checks"]

directory_app = typer.Typer(help="The directory: check the connection and permissions.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


def directory_checks(directory: object) -> list[tuple[str, bool, str, str]]:
    """``(check, ok, what to do, needed by)`` for every backend behind ``directory``; a store without checks
    is tried with one read."""
    from firstline.directory import CheckableDirectory, DirectoryBackend

    if isinstance(directory, CheckableDirectory):
        return [(c.name, c.ok, c.detail, ", ".join(c.needed_by)) for c in directory.check()]
    assert isinstance(directory, DirectoryBackend)
    try:
        directory.incidents()
    except FirstlineError as exc:
        return [("read the directory", False, str(exc), "every specialist")]
    return [("read the directory", True, repr(directory), "every specialist")]


@directory_app.command("check")
def directory_check(as_json: AsJson = False) -> None:
    """Test the connection and each permission the Security, Device and Email specialists need.

    Exits 1 when something is missing; each line says what to grant or fix.
    """
    from firstline.cli.main import console, fail, print_json, printable, settings_or_exit
    from firstline.runtime import build_directory

    settings = settings_or_exit()
    d = settings.directory
    try:
        directory = build_directory(settings)
        try:
            checks = directory_checks(directory)
        finally:
            directory.close()
    except FirstlineError as exc:
        fail(exc)
    roles = {
        "accounts": d.backend,
        "identity": d.role("identity"),
        "devices": d.role("devices"),
        "mail": d.role("mail"),
    }
    if as_json:
        print_json(
            {
                "backends": roles,
                "checks": [{"name": n, "ok": ok, "detail": t, "needed_by": by} for n, ok, t, by in checks],
            }
        )
    else:
        table = Table("check", "ok", "what to do", "needed by")
        for name, ok, detail, by in checks:
            table.add_row(printable(name), "[green]yes[/]" if ok else "[red]NO[/]", printable(detail), printable(by))
        console.print("directory: " + ", ".join(f"{role} from {kind}" for role, kind in roles.items()))
        console.print(table)
    if not all(ok for _, ok, _, _ in checks):
        raise typer.Exit(1)
