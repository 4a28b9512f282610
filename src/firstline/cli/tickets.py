"""``firstline tickets``: the ticket backend from the command line: ``check`` the vendor, ``sync`` the outbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from firstline.errors import FirstlineError

if TYPE_CHECKING:
    from firstline.runtime import Runtime
    from firstline.ticketing.outbox import OutboxItem

__all__ = ["tickets_app"]

tickets_app = typer.Typer(
    help="The ticket backend: check the vendor connection, sync the outbox.", no_args_is_help=True
)
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


@contextmanager
def _runtime() -> Iterator[Runtime]:
    from firstline.cli.main import fail, settings_or_exit
    from firstline.runtime import Runtime

    settings = settings_or_exit()
    try:
        with Runtime(settings) as runtime:
            yield runtime
    except FirstlineError as exc:
        fail(exc)


@tickets_app.command("check")
def tickets_check(as_json: AsJson = False) -> None:
    """Try the configured backend: connection, credentials, every permission and mapping Firstline needs.

    Exits 1 when something is missing; each line says what to fix.
    """
    from firstline.cli.main import console, print_json, printable
    from firstline.ticketing import TicketQuery

    with _runtime() as runtime:
        backend = runtime.settings.ticketing.backend
        if backend == "sql":
            runtime.tickets.search(TicketQuery(limit=1))
            checks = [("database", True, f"built-in store at {runtime.database.url.render_as_string()}")]
        else:
            connector = runtime.connector
            assert connector is not None
            checks = [(c.name, c.ok, c.detail) for c in connector.check()]
    if as_json:
        print_json({"backend": backend, "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in checks]})
    else:
        table = Table("check", "ok", "what to do")
        for name, ok, detail in checks:
            table.add_row(printable(name), "[green]yes[/]" if ok else "[red]NO[/]", printable(detail))
        console.print(f"ticket backend: {backend}")
        console.print(table)
    if not all(ok for _, ok, _ in checks):
        raise typer.Exit(1)


@tickets_app.command("sync")
def tickets_sync(
    pull: Annotated[bool, typer.Option("--pull/--no-pull", help="also fetch what IT staff changed")] = True,
    reclaim: Annotated[
        bool, typer.Option(help="take over changes a worker that is gone was sending (it died mid-sync)")
    ] = False,
    retry_failed: Annotated[bool, typer.Option(help="queue failed changes again (after fixing the cause)")] = False,
    status: Annotated[bool, typer.Option(help="only show what is waiting; send nothing")] = False,
    watch: Annotated[float, typer.Option(help="keep syncing every N seconds until Ctrl-C (0: once)")] = 0.0,
    as_json: AsJson = False,
) -> None:
    """Send the outbox to the vendor now (each change exactly once) and bring back staff changes."""
    from firstline.cli.main import console, fail, print_json, printable

    with _runtime() as runtime:
        syncer = runtime.syncer
        if syncer is None:
            fail(FirstlineError("`ticketing.backend` is 'sql': tickets are stored here, there is nothing to sync."))
        assert syncer is not None
        outbox = syncer.outbox
        if status:
            items = outbox.items()
            if as_json:
                print_json({"counts": outbox.counts(), "waiting": [_item(i) for i in items]})
                return
            table = Table("id", "ticket", "kind", "status", "attempts", "next try", "last error")
            for i in items:
                when = i.next_attempt_at.isoformat(timespec="seconds")
                table.add_row(
                    str(i.id), i.ticket_number, i.kind, i.status, str(i.attempts), when, printable(i.last_error[:120])
                )
            console.print(table)
            console.print(f"counts: {outbox.counts()}")
            return
        requeued = outbox.retry_failed() if retry_failed else 0
        while True:
            syncer.resume()
            report = syncer.push(reclaim=reclaim)
            pulled = syncer.pull() if pull else []
            result = {
                "sent": report.sent,
                "deferred": report.deferred,
                "failed": report.failed,
                "requeued": requeued,
                "staff_changes": len(pulled),
                "errors": report.errors,
                "counts": outbox.counts(),
            }
            if as_json:
                print_json(result)
            else:
                console.print(
                    f"sent {report.sent}, waiting {report.deferred}, failed {report.failed}, "
                    f"staff changes taken back {len(pulled)}; outbox {outbox.counts()}"
                )
                for error in report.errors:
                    console.print(f"  [yellow]{printable(error)}[/]")
            if not watch:
                break
            time.sleep(watch)
            reclaim = False
            requeued = 0
        if report.failed or report.deferred:
            raise typer.Exit(1)


def _item(item: OutboxItem) -> dict[str, object]:
    from dataclasses import asdict

    data: dict[str, object] = asdict(item)
    return data | {"next_attempt_at": item.next_attempt_at.isoformat(), "created_at": item.created_at.isoformat()}
