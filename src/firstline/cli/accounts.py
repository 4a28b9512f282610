"""``firstline accounts`` and ``firstline keys``: who may sign in to the service, and integration keys."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from firstline.errors import FirstlineError

if TYPE_CHECKING:
    from firstline.accounts.store import SqlAccounts

__all__ = ["accounts_app", "keys_app"]

accounts_app = typer.Typer(help="Accounts for the web chat and the console: add, list, password, disable.",
                           no_args_is_help=True)  # fmt: skip
keys_app = typer.Typer(help="API keys for integrations: create, list, revoke.", no_args_is_help=True)

RoleOption = Annotated[str, typer.Option("--role", help="requester | agent | admin")]


@contextmanager
def _accounts() -> Iterator[SqlAccounts]:
    """The account store in Firstline's database; a Firstline error ends the command clearly."""
    from firstline.accounts import SqlAccounts
    from firstline.cli.main import fail, settings_or_exit
    from firstline.localdb import open_database

    try:
        database = open_database(settings_or_exit().ticket_database_url)
    except FirstlineError as exc:
        fail(exc)
    try:
        yield SqlAccounts(database)
    except FirstlineError as exc:
        fail(exc)
    finally:
        database.close()


def _password(given: str | None) -> str:
    if given:
        return given
    first = getpass.getpass("Password (12+ characters): ")
    if first != getpass.getpass("Again: "):
        raise FirstlineError("The two passwords differ.")
    return first


@accounts_app.command("add")
def accounts_add(
    email: str,
    role: RoleOption = "requester",
    name: Annotated[str, typer.Option(help="display name (default: the e-mail address)")] = "",
    password: Annotated[str | None, typer.Option(help="default: asked for, not echoed")] = None,
) -> None:
    """Create an account that can sign in at /login."""
    from firstline.cli.main import console, printable

    with _accounts() as accounts:
        account = accounts.add(email, name or email, role, _password(password))
    console.print(f"[green]added[/] {printable(account.email)} ({account.role})")


@accounts_app.command("list")
def accounts_list() -> None:
    """Every account, its role and last sign-in."""
    from firstline.cli.main import console, printable

    with _accounts() as accounts:
        rows = accounts.all()
    table = Table("e-mail", "name", "role", "active", "last sign-in")
    for a in rows:
        last = a.last_login_at.isoformat(timespec="minutes") if a.last_login_at else "-"
        table.add_row(printable(a.email), printable(a.name), a.role, "yes" if a.active else "no", last)
    console.print(table)


@accounts_app.command("password")
def accounts_password(
    email: str, password: Annotated[str | None, typer.Option(help="default: asked for, not echoed")] = None
) -> None:
    """Set a new password (ends the account's sessions)."""
    from firstline.cli.main import console, printable

    with _accounts() as accounts:
        accounts.set_password(email, _password(password))
    console.print(f"[green]password changed[/] for {printable(email)}; their sessions ended")


@accounts_app.command("disable")
def accounts_disable(email: str) -> None:
    """Stop an account signing in (ends its sessions)."""
    from firstline.cli.main import console, printable

    with _accounts() as accounts:
        accounts.set_active(email, False)
    console.print(f"[yellow]disabled[/] {printable(email)}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="which integration uses it, e.g. teams-bot")],
    role: RoleOption = "agent",
    user: Annotated[str | None, typer.Option("--user", help="requester keys: the person it speaks for")] = None,
) -> None:
    """Create an API key; it is printed once (send it as 'Authorization: Bearer <key>')."""
    from firstline.cli.main import console, printable

    with _accounts() as accounts:
        key, record = accounts.create_key(name, role, user)
    subject = f", for {printable(record.subject)}" if record.subject else ""
    console.print(f"key {record.id} ({record.role}{subject}):")
    typer.echo(key)


@keys_app.command("list")
def keys_list() -> None:
    """Every API key (never the key itself)."""
    from firstline.cli.main import console, printable

    with _accounts() as accounts:
        rows = accounts.list_keys()
    table = Table("id", "name", "role", "for", "last used", "revoked")
    for k in rows:
        last = k.last_used_at.isoformat(timespec="minutes") if k.last_used_at else "-"
        table.add_row(
            k.id, printable(k.name), k.role, printable(k.subject or "-"), last, "yes" if k.revoked_at else "no"
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id: it stops working at once."""
    from firstline.cli.main import console, printable

    with _accounts() as accounts:
        accounts.revoke_key(key_id)
    console.print(f"[yellow]revoked[/] {printable(key_id)}")
