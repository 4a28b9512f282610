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
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="worker processes (default: scale.workers); more than 1 needs PostgreSQL, a vector-store "
            "server and Redis (docs/scaling.md)",
        ),
    ] = None,
) -> None:
    """Serve the web chat, the agent console and the API on http://127.0.0.1:8000 (demo runbooks ingested,
    demo accounts created and printed on first start). Files it writes are readable only by you."""
    # umask 077: databases, the index, uploads and the demo accounts file are private to this user.
    # uvicorn_options: h11 with a bounded request head, X-Forwarded-* only from service.trusted_proxies.
    settings = settings_or_exit()
    if workers is not None and workers != settings.scale.workers:
        try:  # the same settings with the CLI's count: the check refuses SQLite, embedded stores, no Redis
            settings = load_settings(State.config, scale={"workers": workers})
        except FirstlineError as exc:
            fail(exc)
    count = settings.scale.workers
    import os

    import uvicorn

    from firstline.service.app import create_app
    from firstline.service.observability import configure_logging
    from firstline.service.server import uvicorn_options

    configure_logging(settings)
    os.umask(0o077)
    options = uvicorn_options(settings, host=host, port=port)
    base = f"http://{options['host']}:{options['port']}"
    if count == 1:
        try:
            application = create_app(settings)
        except FirstlineError as exc:
            fail(exc)
        console.print(f"Firstline starting on {base}: web chat {base}/, agent console {base}/console, API {base}/docs")
        uvicorn.run(application, **options)
        return
    try:
        _prepare_workers(settings)
    except FirstlineError as exc:
        fail(exc)
    # Each worker loads the settings again, from the same file and environment, with the same count.
    os.environ["FIRSTLINE_SCALE__WORKERS"] = str(count)
    config = State.config or (Path(os.environ["FIRSTLINE_CONFIG"]) if os.environ.get("FIRSTLINE_CONFIG") else None)
    if config is None and Path("firstline.toml").exists():
        config = Path("firstline.toml")
    if config is not None:
        os.environ["FIRSTLINE_CONFIG"] = str(config.resolve())
    console.print(
        f"Firstline starting {count} workers on {base}: web chat {base}/, agent console {base}/console, API {base}/docs"
    )
    uvicorn.run("firstline.service.app:create_app_from_environment", factory=True, workers=count, **options)


def _prepare_workers(settings: Settings) -> None:
    """What runs once, in the parent, before the workers start: Redis answers, the database and the
    directory are migrated (and the demo organisation seeded), and the server's secret key exists."""
    from firstline.runtime import Runtime, server_secret

    with Runtime(settings) as runtime:
        runtime.coordination  # noqa: B018 - pings Redis: a clear error now rather than N failing workers
        runtime.database  # noqa: B018 - migrations run once here (and are advisory-locked anyway)
        runtime.directory  # noqa: B018 - its migrations and the demo organisation, when seeded
    server_secret(settings)  # data_dir/secret.key, created once rather than raced by the workers


from firstline.cli import accounts as _accounts  # noqa: E402
from firstline.cli import channels as _channels  # noqa: E402
from firstline.cli import chat as _chat  # noqa: E402
from firstline.cli import directory as _directory  # noqa: E402
from firstline.cli import jobs as _jobs  # noqa: E402
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
app.add_typer(_jobs.jobs_app, name="jobs")
app.add_typer(_kb.kb_app, name="kb")
app.add_typer(_models.models_app, name="models")
app.add_typer(_tickets.tickets_app, name="tickets")
app.add_typer(_triage.triage_app, name="triage")
