"""``firstline channels``: the Slack, Teams and e-mail identities tied to people, as an administrator sees them.

People tie their own identities with a link code in the web chat; an administrator may tie one directly
(``link``), which is recorded as verified by ``admin (cli)``: do it only after checking who the channel
user is (for example the Slack admin page shows the member's verified e-mail).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Column, Table

from firstline.errors import FirstlineError

if TYPE_CHECKING:
    from firstline.conversations.channels import SqlChannels

__all__ = ["channels_app"]

channels_app = typer.Typer(help="Channel identities (Slack, Teams, e-mail): list, link, unlink.", no_args_is_help=True)
Channel = Annotated[str, typer.Argument(help="slack | teams | email")]
_CHANNELS = ("slack", "teams", "email")


@contextmanager
def _channels() -> Iterator[SqlChannels]:
    from firstline.cli.main import fail, settings_or_exit
    from firstline.conversations.channels import SqlChannels
    from firstline.localdb import open_database

    try:
        database = open_database(settings_or_exit().ticket_database_url)
    except FirstlineError as exc:
        fail(exc)
    try:
        yield SqlChannels(database)
    except FirstlineError as exc:
        fail(exc)
    finally:
        database.close()


def _check(channel: str) -> None:
    if channel not in _CHANNELS:
        from firstline.cli.main import fail

        fail(FirstlineError(f"Unknown channel {channel!r}: use one of {', '.join(_CHANNELS)}."))


@channels_app.command("list")
def channels_list(
    email: Annotated[str | None, typer.Option(help="only this person's")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Every verified channel identity, and how it was verified."""
    from firstline.cli.main import console, print_json, printable

    with _channels() as channels:
        rows = [i for i in channels.identities(email) if i.channel in _CHANNELS]
    if as_json:
        print_json([i.as_dict() for i in rows])
        return
    table = Table(*(Column(name, overflow="fold") for name in ("channel", "user id", "person", "verified by", "since")))
    for i in rows:
        table.add_row(i.channel, printable(i.external_id), printable(i.email), i.verified_via,
                      i.created_at.strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    console.print(table)


@channels_app.command("link")
def channels_link(channel: Channel, external_id: str, email: str) -> None:
    """Tie a channel user id to a person (recorded as verified by an administrator)."""
    from firstline.cli.main import console, printable

    _check(channel)
    with _channels() as channels:
        identity = channels.link(channel, external_id.strip(), email, "admin (cli)")
    console.print(f"[green]linked[/] {channel} {printable(identity.external_id)} → {printable(identity.email)}")


@channels_app.command("unlink")
def channels_unlink(channel: Channel, external_id: str) -> None:
    """Untie a channel user id; their next message gets a link code again."""
    from firstline.cli.main import console, fail, printable

    _check(channel)
    with _channels() as channels:
        if not channels.unlink(channel, external_id.strip()):
            fail(FirstlineError(f"No {channel} identity {external_id!r} is linked."))
    console.print(f"[green]unlinked[/] {channel} {printable(external_id)}")
