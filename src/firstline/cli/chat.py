"""``firstline ask``, ``firstline chat`` and ``firstline approvals``: the helpdesk from a terminal."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from difflib import get_close_matches
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core
from rich.panel import Panel
from rich.table import Table

from firstline.errors import FirstlineError

if TYPE_CHECKING:
    from firstline.runtime import Runtime

__all__ = ["AskCommand", "approvals_app", "ask", "chat", "conversation_app"]

UserOption = Annotated[
    str | None,
    typer.Option("--user", "-u", envvar="FIRSTLINE_USER", help="who is asking: a work e-mail address"),
]
ConversationOption = Annotated[str | None, typer.Option("--conversation", help="continue this conversation (its id)")]

approvals_app = typer.Typer(help="Pending approvals of destructive actions: list, approve, deny.", no_args_is_help=True)
conversation_app = typer.Typer(help="Stored conversations: show one's full log.", no_args_is_help=True)


def _runtime() -> Any:
    from firstline.cli.main import settings_or_exit
    from firstline.runtime import Runtime

    return Runtime(settings_or_exit())


def _ready(runtime: Any) -> None:
    """Make sure the runbooks are searchable (the demo set is ingested on first use)."""
    from firstline.cli.main import err
    from firstline.runtime import demo_runbooks

    if runtime.settings.knowledge.ingest_demo_runbooks and runtime.knowledge.stats().chunks == 0:
        err.print("[dim]first run: ingesting the demo runbooks...[/]")
        runtime.knowledge.ingest([demo_runbooks()])


def _show(reply: dict[str, Any]) -> None:
    from firstline.cli.main import console, printable

    console.print(
        Panel(
            printable(reply["reply"] or "(no reply)"),
            title=f"firstline · {printable(reply['agent'])}",
            title_align="left",
        )
    )
    ticket = reply.get("ticket")
    if ticket:
        extra = " · known incident" if reply.get("known_incident") else ""
        console.print(
            f"[dim]ticket {printable(ticket['number'])} · {printable(ticket['state'].replace('_', ' '))} · "
            f"P{printable(ticket['priority'])} · {printable(ticket['assignment_group'])}{extra}[/]",
            highlight=False,
        )
    for citation in reply.get("citations") or []:
        console.print(
            f"[dim]source: {printable(citation['title'])} › {printable(citation['section'])}[/]", highlight=False
        )
    if reply.get("approval"):
        approval = reply["approval"]
        who = printable(", ".join(approval["approvers"]) or "a service desk agent")
        approval_id = printable(approval["id"])
        console.print(
            f"[yellow]waiting for approval {approval_id} ({printable(approval['tool'])}) by {who}[/]: "
            f"firstline approvals approve {approval_id} --by EMAIL",
            highlight=False,
        )


_OPTION_LIKE = re.compile(r"--?[A-Za-z][\w-]*(?:=\S*)?")


class AskCommand(typer.core.TyperCommand):
    """``ask``: its one argument is the message, whatever it starts with.

    Click reads anything that starts with ``-`` as an option, so a pasted e-mail
    (``---------- Forwarded message ---------``) would be refused. Before parsing, the
    command's own options are picked out and everything else goes after ``--``, as a
    message. A stray single word like ``--jsn`` is still reported as an unknown option.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._message_last(ctx, args))

    def _message_last(self, ctx: Any, args: list[str]) -> list[str]:
        takes_value = {  # each option name: whether a value follows it
            name: not (getattr(param, "is_flag", False) or getattr(param, "count", False))
            for param in self.get_params(ctx)
            if param.param_type_name == "option"
            for name in (*param.opts, *param.secondary_opts)
        }
        options: list[str] = []
        texts: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            name = arg.split("=", 1)[0] if arg.startswith("--") else arg
            if arg == "--":
                texts.extend(args[i + 1 :])
                break
            if name in takes_value:
                options.append(arg)
                if takes_value[name] and name == arg and i + 1 < len(args):
                    options.append(args[i + 1])  # the option's value, even one starting with "-"
                    i += 1
            elif takes_value.get(arg[:2]) and not arg.startswith("--") and not any(c.isspace() for c in arg):
                options.append(arg)  # a short option with its value attached: -uruby.chen@...
            elif _OPTION_LIKE.fullmatch(arg) and not ctx.resilient_parsing:
                near = get_close_matches(name, list(takes_value), n=1)
                ctx.fail(f"No such option: {name}" + (f" (did you mean {near[0]}?)" if near else ""))
            else:
                texts.append(arg)
            i += 1
        return [*options, "--", *texts] if texts else options


def _read_stdin() -> str:
    """The message piped in (``echo "my vpn drops" | firstline ask -``), or typed until Ctrl-D."""
    from firstline.cli.main import err

    if sys.stdin.isatty():
        err.print("[dim]type the message, then Ctrl-D on a line of its own[/]")
    text = sys.stdin.read().strip()
    if not text:
        raise typer.BadParameter(
            'standard input was empty; pipe the message in, e.g. echo "my vpn keeps dropping" | firstline ask -',
            param_hint="'TEXT'",
        )
    return text


def ask(
    text: Annotated[
        str,
        typer.Argument(
            help='the message, e.g. "I\'m locked out of my account" (it may start with "-"); - reads it from stdin'
        ),
    ],
    user: UserOption = None,
    conversation: ConversationOption = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="print {conversation_id, agent, intent, reply, citations, ticket, actions, ...}"),
    ] = False,
) -> None:
    """Send one message to the helpdesk and print the reply (continue with --conversation ID)."""
    from firstline.cli.main import console, fail, print_json, printable

    if text == "-":
        text = _read_stdin()
    try:
        with _runtime() as runtime:
            _ready(runtime)
            started = time.time()
            reply = asyncio.run(
                runtime.helpdesk.ask(text, requester=user, conversation_id=conversation, channel="cli")
            ).as_dict()
            _demo_phone(runtime, reply["conversation_id"], started)
    except FirstlineError as exc:
        fail(exc)
    if as_json:
        print_json(reply)
    else:
        _show(reply)
        console.print(f"[dim]conversation {printable(reply['conversation_id'])}[/]", highlight=False)
    if reply["status"] == "rejected":
        raise typer.Exit(2)


def _demo_phone(runtime: Runtime, conversation_id: str, since: float) -> None:
    """Show on stderr the codes the demo "texted" during this turn (demo organisation only; never logged)."""
    from firstline.cli.main import err, printable

    settings = getattr(runtime, "settings", None)  # a stand-in runtime (tests) has no demo phone
    if settings is None or not (
        settings.service.demo_outbox and settings.directory.backend == "sql" and settings.directory.seed_demo_org
    ):
        return
    requester = runtime.conversations.get(conversation_id).requester
    for sent in reversed(runtime.outbox.messages(requester or "")):
        if sent["sent_at"] >= since:
            err.print(
                f"[yellow]demo phone[/] ({printable(sent['channel'])}): your Firstline code is {sent['code']}",
                highlight=False,
            )


def _holding(event: dict[str, Any]) -> None:
    """A turn running past its budget: say so at once, as the web chat does."""
    from firstline.cli.main import console, printable

    if event.get("kind") == "holding" and event.get("text"):
        console.print(f"[dim]{printable(str(event['text']))}[/]", highlight=False)


def chat(user: UserOption = None, conversation: ConversationOption = None) -> None:
    """Talk to the helpdesk in the terminal (the demo one-time codes appear as "demo phone" lines; /new, /quit)."""
    from firstline.cli.main import console, err, fail, printable

    try:
        with _runtime() as runtime, asyncio.Runner() as loop:  # one event loop for the session, as a service worker
            _ready(runtime)
            desk = runtime.helpdesk
            console.print("[bold]Firstline[/] IT service desk. Type your problem; /new starts over, /quit ends.")
            current = conversation
            while True:
                try:
                    text = console.input("[bold cyan]you>[/] ") if sys.stdin.isatty() else input()
                except (EOFError, KeyboardInterrupt):
                    break
                if text.strip() in ("/quit", "/exit"):
                    break
                if text.strip() == "/new":
                    current = None
                    console.print("[dim]new conversation[/]")
                    continue
                try:
                    started = time.time()
                    reply = loop.run(
                        desk.ask(text, requester=user, conversation_id=current, channel="cli", on_event=_holding)
                    )
                except FirstlineError as exc:
                    err.print(f"[red]{printable(exc)}[/]", highlight=False)
                    continue
                current = reply.conversation_id
                _demo_phone(runtime, current, started)
                _show(reply.as_dict())
            if current:
                shown = printable(current)
                console.print(f"[dim]conversation {shown} (resume with --conversation {shown})[/]")
    except FirstlineError as exc:
        fail(exc)


@approvals_app.command("list")
def approvals_list(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Pending approval requests, oldest first."""
    from firstline.cli.main import console, fail, print_json, printable

    try:
        with _runtime() as runtime:
            pending = [a.as_dict() for a in runtime.conversations.approvals("pending")]
    except FirstlineError as exc:
        fail(exc)
    if as_json:
        print_json(pending)
        return
    table = Table("id", "tool", "arguments", "requested by", "approvers", "since")
    for a in pending:
        table.add_row(
            *map(
                printable,
                (
                    a["id"],
                    a["tool"],
                    a["arguments"],
                    a["requested_by"],
                    ", ".join(a["approvers"]) or "any agent",
                    a["created_at"],
                ),
            )
        )
    console.print(table if pending else "No pending approvals.")


def _decider(runtime: Any, approval_id: str, by: str) -> str:
    """Who decides, as recorded: one of the approval's named approvers, or else the e-mail of an active
    agent or admin account. Anyone else gets a :class:`PermissionDeniedError` and nothing is decided."""
    from firstline.accounts.store import role_at_least
    from firstline.errors import InputError, PermissionDeniedError

    record = runtime.conversations.approval(approval_id)
    who = by.strip().lower()
    if record.status != "pending" or who == record.requested_by.lower():
        return who  # the desk refuses these itself: who decided it already, or "not your own request"
    if record.approvers:
        if who in (a.lower() for a in record.approvers):
            return who
        raise PermissionDeniedError(
            f"Only {', '.join(record.approvers)} may decide approval {record.id} ({record.tool}); "
            "pass one of them as --by."
        )
    try:
        account = runtime.accounts.get(who)
    except InputError:
        account = None
    if account is None:
        problem = "has no Firstline account"
    elif not account.active:
        problem = "has a disabled account"
    elif not role_at_least(account.role, "agent"):
        problem = f"is a {account.role}, not an agent"
    else:
        return str(account.email)
    raise PermissionDeniedError(
        f"{by.strip() or 'an empty --by'} {problem}: approval {record.id} ({record.tool}) may be decided by a "
        "service desk agent only. Pass your own active agent or admin account as --by (see `firstline accounts list`)."
    )


def _decide(approval_id: str, approved: bool, by: str, reason: str, as_json: bool) -> None:
    from firstline.cli.main import console, fail, print_json

    try:
        with _runtime() as runtime:
            who = _decider(runtime, approval_id, by)
            _ready(runtime)
            reply = asyncio.run(
                runtime.helpdesk.decide(approval_id, approved=approved, decided_by=who, reason=reason)
            ).as_dict()
    except FirstlineError as exc:
        fail(exc)
    if as_json:
        print_json(reply)
        return
    console.print(f"{'approved' if approved else 'denied'}; the requester now sees:")
    _show(reply)


By = Annotated[
    str,
    typer.Option(
        "--by", help="who decides: your agent or admin account's e-mail, or one of the approval's named approvers"
    ),
]


@approvals_app.command("approve")
def approvals_approve(
    approval_id: str,
    by: By,
    reason: Annotated[str, typer.Option(help="why (kept in the audit log)")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print the requester's reply as JSON")] = False,
) -> None:
    """Approve a pending action; the conversation continues and runs it."""
    _decide(approval_id, True, by, reason, as_json)


@approvals_app.command("deny")
def approvals_deny(
    approval_id: str,
    by: By,
    reason: Annotated[str, typer.Option(help="why (the requester is told)")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print the requester's reply as JSON")] = False,
) -> None:
    """Deny a pending action; the requester is told and the ticket goes to a person."""
    _decide(approval_id, False, by, reason, as_json)


@conversation_app.command("show")
def conversation_show(
    conversation_id: str, as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False
) -> None:
    """Every stored event of a conversation: messages, routing, tool calls, ticket changes."""
    from firstline.cli.main import console, fail, print_json, printable

    try:
        with _runtime() as runtime:
            events = runtime.helpdesk.transcript(conversation_id)
    except FirstlineError as exc:
        fail(exc)
    if as_json:
        print_json(events)
        return
    for event in events:
        data = event["data"]
        text = printable(str(data.get("text") or data.get("tool") or data.get("action") or "")[:120])
        kind, agent = printable(event["kind"]), printable(event["agent"])
        console.print(f"{event['seq']:>4} {kind:<18} {agent:<9} {text}", highlight=False)
