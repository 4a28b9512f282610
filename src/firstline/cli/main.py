"""The ``firstline`` command line: ``config``, ``kb`` and ``serve``.

Heavy libraries (torch, chromadb) load inside the commands that need them, so ``--help`` and
``config check`` answer at once.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from firstline.display import for_terminal, json_for_terminal
from firstline.errors import FirstlineError
from firstline.redaction import RedactingFilter
from firstline.settings import Settings, load_settings, redacted

app = typer.Typer(
    name="firstline",
    help="Firstline: a self-hostable Tier-1 IT helpdesk agent.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect and check the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

# Stored text may hold ":emoji:" codes; they are shown as typed (rich markup is escaped by printable()).
console = Console(emoji=False)
err = Console(stderr=True, emoji=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="firstline.toml to read (default: $FIRSTLINE_CONFIG or ./firstline.toml)"),
]


class State:
    config: Path | None = None


@app.callback()
def main(config: ConfigOption = None) -> None:
    """Firstline: a self-hostable Tier-1 IT helpdesk agent."""
    State.config = config


def settings_or_exit() -> Settings:
    try:
        settings = load_settings(State.config)
    except FirstlineError as exc:
        fail(exc)
    handler = logging.StreamHandler()
    handler.setFormatter(_TerminalFormatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    for noisy in ("alembic", "bm25s", "httpx", "chromadb", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))
    return settings


class _TerminalFormatter(logging.Formatter):
    """Log lines quote messages and names: their escape sequences are shown, not run by the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return for_terminal(super().format(record))


def printable(value: object) -> str:
    """Stored or typed text, ready for a rich ``print``: controls and bidi characters shown
    (:func:`firstline.display.for_terminal`), rich markup such as ``[link=...]`` escaped, not obeyed."""
    return escape(for_terminal(str(value)))


def fail(exc: BaseException, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {printable(exc)}", highlight=False, markup=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    typer.echo(json_for_terminal(data))


@config_app.command("check")
def config_check(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Print the resolved configuration (secrets redacted); exit 2 when it is invalid."""
    settings = settings_or_exit()
    data = redacted(settings)
    data["index_dir_resolved"] = str(settings.index_dir)
    if as_json:
        print_json(data)
        return
    console.print_json(json.dumps(data))
    console.print("[green]configuration OK[/]")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default: service.host)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: service.port)")] = None,
) -> None:
    """Serve the web chat, the agent console and the API on http://127.0.0.1:8000 (demo runbooks ingested,
    demo accounts created and printed on first start). Files it writes are readable only by you."""
    # umask 077: databases, the index, uploads and the demo accounts file are private to this user.
    # uvicorn_options: h11 with a bounded request head, X-Forwarded-* only from service.trusted_proxies.
    settings = settings_or_exit()
    import os

    import uvicorn

    from firstline.service.app import create_app
    from firstline.service.observability import configure_logging
    from firstline.service.server import uvicorn_options

    configure_logging(settings)
    os.umask(0o077)

    try:
        application = create_app(settings)
    except FirstlineError as exc:
        fail(exc)
    options = uvicorn_options(settings, host=host, port=port)
    base = f"http://{options['host']}:{options['port']}"
    console.print(f"Firstline starting on {base}: web chat {base}/, agent console {base}/console, API {base}/docs")
    uvicorn.run(application, **options)


from firstline.cli import accounts as _accounts  # noqa: E402
from firstline.cli import channels as _channels  # noqa: E402
from firstline.cli import chat as _chat  # noqa: E402
from firstline.cli import directory as _directory  # noqa: E402
from firstline.cli import kb as _kb  # noqa: E402  (registers the kb commands)
from firstline.cli import matchup as _matchup  # noqa: E402
from firstline.cli import models as _models  # noqa: E402
from firstline.cli import tickets as _tickets  # noqa: E402
from firstline.cli import triage as _triage  # noqa: E402

app.command("ask", cls=_chat.AskCommand)(_chat.ask)
app.command("chat")(_chat.chat)
app.command("matchup")(_matchup.matchup)
app.add_typer(_accounts.accounts_app, name="accounts")
app.add_typer(_accounts.keys_app, name="keys")
app.add_typer(_chat.approvals_app, name="approvals")
app.add_typer(_channels.channels_app, name="channels")
app.add_typer(_chat.conversation_app, name="conversation")
app.add_typer(_directory.directory_app, name="directory")
app.add_typer(_kb.kb_app, name="kb")
app.add_typer(_models.models_app, name="models")
app.add_typer(_tickets.tickets_app, name="tickets")
app.add_typer(_triage.triage_app, name="triage")
