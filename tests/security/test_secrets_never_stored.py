"""Secrets never stored (issue 11, part b): real conversations on SQLite, then a scan of everything kept.

Every ``secrets.jsonl`` message is sent to the helpdesk as its own conversation, from a different person
of the demo organisation in turn (disabled, leaver and privileged accounts included). One-time-code
messages are sent where they belong: as the answer when the desk has just sent a code. Password-reset and
unlock flows type the delivered codes (bare, spaced, in a sentence, next to a new password). The same is
done through a language-model engine whose scripted model echoes what it is shown into tool arguments.

Then everything is scanned for any secret in clear, and for every delivered code:

* every text cell of every row of every table of the SQLite file, read with :mod:`sqlite3` (JSON cells
  decoded too, so escaped text is seen as stored);
* every conversation event, every ticket's fields and history, through the application;
* the log records of the whole drive, captured at DEBUG by a handler on the root logger (what ``caplog``
  does; the drive runs once per module, so it cannot use the per-test ``caplog``);
* what was streamed to the client (``on_event``) and, for the LLM engine, every request sent to the model.

Short secrets ("447", "tiger", a six-digit code) are matched as whole words and only where they could
have come from: rows, events and tickets of the message's own conversation, and rows that belong to no
conversation (code store, counters, incident parents). Long ones are matched anywhere, also with
whitespace collapsed and by their long pieces (the lines of a private key).
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import re
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from firstline.helpdesk.desk import DeskReply
from firstline.llm.messages import ChatRequest, ModelResponse, ToolCall
from firstline.redaction import redact
from firstline.service.observability import configure_logging
from firstline.settings import load_settings
from firstline.testing.helpdesk import HelpdeskWorld
from firstline.ticketing import TicketQuery

LOCKED = ["ruby.chen", "ben.carter", "david.ogunleye", "sinead.obrien", "theo.marshall"]  # accounts.yaml: locked
DOMAIN = "@nwmeridian.co.uk"
ASK_FOR_A_CODE = "I need to reset my password please"
SHORT = 8  # secrets shorter than this are matched as whole words, where they could have come from


# -- what is looked for ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Needle:
    owner: str  # the corpus id or flow that typed it
    value: str
    kind: str
    missed_by_redact: bool  # redact() itself keeps it (then part a reports it too)

    @property
    def short(self) -> bool:
        return len(self.value) < SHORT

    @cached_property
    def _word(self) -> re.Pattern[str]:
        return re.compile(rf"(?<![A-Za-z0-9]){re.escape(self.value)}(?![A-Za-z0-9])")

    @cached_property
    def _collapsed(self) -> str:
        return " ".join(self.value.split())

    @cached_property
    def _pieces(self) -> list[str]:
        """The long whitespace-free pieces of a long secret (a private key's lines), each a leak on its own."""
        if len(self.value) < 40:
            return []
        return [piece for piece in self.value.split() if len(piece) >= 16 and not piece.startswith("-----")]

    def found_in(self, text: str, collapsed: str) -> bool:
        if self.short:
            return self._word.search(text) is not None
        if self.value in text or self._collapsed in collapsed:
            return True
        return any(piece in text for piece in self._pieces)


@dataclass
class Finding:
    surface: str
    where: str
    needle: Needle


def _grouped(findings: list[Finding]) -> list[str]:
    """One line per secret found: where (surface x count, one example place each), and whose fault."""
    by_needle: dict[Needle, Counter[str]] = {}
    example: dict[tuple[Needle, str], str] = {}
    for f in findings:
        by_needle.setdefault(f.needle, Counter())[f.surface] += 1
        example.setdefault((f.needle, f.surface), f.where)
    lines = []
    for needle, surfaces in sorted(by_needle.items(), key=lambda item: (item[0].owner, item[0].value)):
        why = "redact() misses it" if needle.missed_by_redact else "REDACT() REMOVES IT: THE PIPELINE LEAKED IT"
        where = ", ".join(f"{s} x{n} (e.g. {example[(needle, s)]})" for s, n in sorted(surfaces.items()))
        lines.append(f"{needle.owner} {needle.kind} {needle.value!r} [{why}]: {where}")
    return lines


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def _text_of(cell: Any) -> str:
    """A stored value as text, JSON decoded as well (escaped newlines and non-ASCII seen as written)."""
    if isinstance(cell, bytes):
        cell = cell.decode("utf-8", "replace")
    text = str(cell)
    if text[:1] in '{["':
        try:
            decoded = json.loads(text)
        except ValueError:
            return text
        return text + "\n" + "\n".join(_strings(decoded))
    return text


class Scanner:
    """Looks for every needle in every text it is given, and counts what it read."""

    def __init__(self, needles: list[Needle]) -> None:
        self.needles = needles
        self.findings: list[Finding] = []
        self.counts: Counter[str] = Counter()

    def scan(self, surface: str, where: str, text: str, owners: set[str] | None = None) -> None:
        """``owners``: the messages this text belongs to (``None``: none known, so every needle applies)."""
        self.counts[surface] += 1
        collapsed = " ".join(text.split())
        for needle in self.needles:
            if needle.short and owners is not None and needle.owner not in owners:
                continue
            if needle.found_in(text, collapsed):
                self.findings.append(Finding(surface, where, needle))


# -- the drive ------------------------------------------------------------------------------------------


@dataclass
class Drive:
    """Conversations held with one helpdesk, and what is known about each."""

    secure: Any  # conftest.SecureDesk
    needles: list[Needle] = field(default_factory=list)
    owner_of_conversation: dict[str, str] = field(default_factory=dict)
    owner_of_ticket: dict[str, str] = field(default_factory=dict)
    streamed: list[tuple[str, str]] = field(default_factory=list)  # (owner, event json)
    replies: list[tuple[str, DeskReply]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    code_answers: int = 0  # corpus code messages sent while a code was awaited
    seconds: float = 0.0

    def ask(self, owner: str, text: str, requester: str, conversation_id: str | None = None) -> DeskReply:
        desk = self.secure.desk
        before = {t.number for t in _all_tickets(desk)}
        sink: Callable[[dict[str, Any]], None] = lambda event: self.streamed.append(  # noqa: E731
            (owner, json.dumps(event, default=str))
        )
        delivered = len(self.secure.delivered)
        reply = asyncio.run(desk.ask(text, requester=requester, conversation_id=conversation_id, on_event=sink))
        self.owner_of_conversation[reply.conversation_id] = owner
        for ticket in _all_tickets(desk):
            if ticket.number not in before:
                self.owner_of_ticket[ticket.number] = owner
        for _, code in self.secure.delivered[delivered:]:
            self.needles.append(Needle(owner, code, "delivered code", False))
        self.replies.append((owner, reply))
        return reply


def _all_tickets(desk: Any) -> list[Any]:
    found: list[Any] = []
    while page := desk.tickets.search(TicketQuery(limit=500, offset=len(found))):
        found += page
    return found


class _Capture(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(self.format(record))


def _corpus_needles(line: dict[str, Any]) -> list[Needle]:
    out = redact(line["text"], expect_code=line["kind"] == "one_time_code").text
    return [Needle(line["id"], s, line["kind"], s in out) for s in line["secrets"]]


def _flow_needle(owner: str, message: str, secret: str, code_awaited: bool = False) -> Needle:
    return Needle(owner, secret, "password", secret in redact(message, expect_code=code_awaited).text)


def _people(world: HelpdeskWorld) -> tuple[list[str], list[str]]:
    """Everyone (in file order), and ordinary people: current, enabled, unprivileged and not locked."""
    accounts = {a.person: a for a in world.org.accounts}
    everyone = [p.email for p in world.org.people]
    ordinary = [
        p.email
        for p in world.org.people
        if p.is_current
        and (a := accounts.get(p.id)) is not None
        and a.enabled
        and not a.locked
        and not a.admin_account
        and p.email.split("@")[0] not in LOCKED
    ]
    return everyone, ordinary


def _drive(drive: Drive, world: HelpdeskWorld, corpus: list[dict[str, Any]], code_request: str) -> None:
    everyone, ordinary = _people(world)
    spare = iter(ordinary)
    root = logging.getLogger()
    handler, level = _Capture(drive.log), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    start = time.perf_counter()
    try:
        for index, line in enumerate(corpus):
            drive.needles += _corpus_needles(line)
            if line["kind"] == "one_time_code":  # typed as the answer to a code the desk just sent
                who = next(spare)
                first = drive.ask(line["id"], code_request, who)
                drive.code_answers += first.awaiting == "code"
                drive.ask(line["id"], line["text"], who, first.conversation_id)
            else:
                drive.ask(line["id"], line["text"], everyone[index % len(everyone)])
        _flows(drive, spare)
    finally:
        drive.seconds = time.perf_counter() - start
        root.removeHandler(handler)
        root.setLevel(level)


def _flows(drive: Drive, spare: Iterator[str]) -> None:
    """Password-reset and unlock flows that type the delivered code when asked, with passwords around it."""
    secure = drive.secure

    def flow(owner: str, who: str, first: str, answer: Callable[[str], str], secrets: list[str]) -> None:
        reply = drive.ask(owner, first, who)
        code = secure.last_code(who) or "000000"
        typed = answer(code)
        drive.needles.extend(_flow_needle(owner, first, s) for s in secrets if s in first)
        drive.needles.extend(_flow_needle(owner, typed, s, True) for s in secrets if s in typed)
        drive.ask(owner, typed, who, reply.conversation_id)

    flow("flow-reset", next(spare), "reset my password, set it to Summer2026!", lambda c: c, ["Summer2026!"])
    flow(
        "flow-unlock",
        "ruby.chen" + DOMAIN,
        "I'm locked out, my password is Tr0ub4dor&3x",
        lambda c: f"here it is: {c}",
        ["Tr0ub4dor&3x"],
    )
    flow("flow-spaced", "ben.carter" + DOMAIN, "I'm locked out of my account", lambda c: f"{c[:3]} {c[3:]}", [])
    flow(
        "flow-code-and-password",
        next(spare),
        "reset my password",
        lambda c: f"{c} and my new password is Hazel#Nut2026",
        ["Hazel#Nut2026"],
    )
    flow(
        "flow-expired",
        next(spare),
        "my password expired, the new one should be Winter#2027 ok?",
        lambda c: f"the code is {c}, thanks",
        ["Winter#2027"],
    )
    # Refused for its length, but still kept with the conversation: redacted all the same.
    long = "x" * 8_100 + " and my password is Kx9#LongMsg2026"
    drive.needles.append(_flow_needle("flow-too-long", long, "Kx9#LongMsg2026"))
    drive.ask("flow-too-long", long, next(spare))


def _scan(drive: Drive) -> Scanner:
    scanner = Scanner(drive.needles)
    desk = drive.secure.desk
    tickets = _all_tickets(desk)
    # Every row of every table, read with sqlite3, each attributed to the conversations it names.
    with sqlite3.connect(f"file:{drive.secure.db}?mode=ro", uri=True) as db:
        ids = dict(db.execute("SELECT id, number FROM tickets").fetchall())  # ticket_entries name tickets by id
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # table names come from sqlite_master
                # text and blob cells: an integer key (row 314) is no place a typed secret can be
                text = "\n".join(_text_of(cell) for cell in row if isinstance(cell, str | bytes))
                scanner.counts["sqlite cells"] += len(row)
                scanner.scan(f"sqlite:{table}", str(row[0])[:40], text, _owners(drive, text, ids))
        scanner.counts["sqlite tables"] = len(tables)
    for cid, owner in drive.owner_of_conversation.items():
        for event in desk.conversations.events(cid):
            scanner.scan(
                "event",
                f"{cid[:8]}#{event.seq} {event.kind}",
                json.dumps(event.as_dict(), default=str) + "\n" + "\n".join(_strings(event.data)),
                {owner},
            )
    for ticket in tickets:
        owner = drive.owner_of_ticket.get(ticket.number)
        fields = "\n".join(str(getattr(ticket, f.name)) for f in dataclasses.fields(ticket))
        scanner.scan("ticket", ticket.number, fields, {owner} if owner else None)
        for entry in desk.tickets.history(ticket.number):
            body = "\n".join(str(v) for v in (entry.body, entry.old_value, entry.new_value) if v)
            scanner.scan("ticket history", f"{ticket.number} {entry.kind}", body, {owner} if owner else None)
    for line in drive.log:
        scanner.scan("log", line[:60], line)
    for owner, event in drive.streamed:
        scanner.scan("streamed event", owner, event + "\n" + "\n".join(_strings(json.loads(event))), {owner})
    return scanner


def _owners(drive: Drive, text: str, ticket_ids: dict[str, str]) -> set[str] | None:
    owners = {owner for cid, owner in drive.owner_of_conversation.items() if cid in text}
    owners |= {owner for number, owner in drive.owner_of_ticket.items() if re.search(rf"\b{number}\b", text)}
    owners |= {drive.owner_of_ticket[n] for i, n in ticket_ids.items() if i in text and n in drive.owner_of_ticket}
    return owners or None


def _report(name: str, drive: Drive, scanner: Scanner) -> str:
    distinct = {f.needle for f in scanner.findings}
    by_kind = Counter(needle.kind for needle in distinct)
    pipeline = [needle for needle in distinct if not needle.missed_by_redact]
    return (
        f"{name}: {len(drive.owner_of_conversation)} conversations, {len(drive.replies)} messages in "
        f"{drive.seconds:.1f} s, {len(drive.secure.delivered)} codes delivered, {len(drive.needles)} secret values; "
        f"scanned {dict(scanner.counts)}; {len(distinct)} distinct secret values found in clear {dict(by_kind)} "
        f"({len(scanner.findings)} sightings), of which {len(pipeline)} are ones redact() removes"
    )


# -- the offline engine -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def offline(
    desk_factory: Any, helpdesk_world: HelpdeskWorld, secrets_corpus: list[dict[str, Any]], tmp_path_factory: Any
) -> tuple[Drive, Scanner]:
    drive = Drive(desk_factory(tmp_path_factory.mktemp("offline") / "tickets.db"))
    _drive(drive, helpdesk_world, secrets_corpus, ASK_FOR_A_CODE)
    start = time.perf_counter()
    scanner = _scan(drive)
    scanner.counts["scan seconds"] = round(time.perf_counter() - start)
    print("\n" + _report("offline", drive, scanner))
    return drive, scanner


def test_the_offline_drive_did_what_it_says(offline: tuple[Drive, Scanner], helpdesk_world: HelpdeskWorld) -> None:
    """Not a vacuous scan: every corpus message sent, codes delivered and typed, flows verified."""
    drive, scanner = offline
    desk = drive.secure.desk
    assert len(drive.owner_of_conversation) >= 176 and len(drive.log) > 0
    assert drive.code_answers == 18, "every code message must be the answer to a code just sent"
    assert len(drive.secure.delivered) >= 18 + 5
    assert desk.directory.account("r.chen").locked is False and desk.directory.account("b.carter").locked is False
    assert scanner.counts["sqlite tables"] >= 5 and scanner.counts["event"] > 1000


def test_no_secret_or_code_is_stored_or_logged_in_clear(offline: tuple[Drive, Scanner]) -> None:
    drive, scanner = offline
    found = _grouped(scanner.findings)
    assert found == [], _report("offline", drive, scanner) + "\n" + "\n".join(found)


def test_the_desk_leaks_nothing_that_redact_removes(offline: tuple[Drive, Scanner]) -> None:
    """Apart from the redactor's own misses (part a): no delivered code, and no secret redact() takes out,
    reaches a table, an event, a ticket, a log line or the client."""
    drive, scanner = offline
    found = _grouped([f for f in scanner.findings if not f.needle.missed_by_redact])
    assert found == [], _report("offline", drive, scanner) + "\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("name", "between", "new_conversation"),
    [
        ("after 'a person please'", "a person please", False),
        ("in a new conversation", None, True),
    ],
)
def test_a_delivered_code_typed_when_none_is_awaited_is_not_stored(
    secure_desk: Any, name: str, between: str | None, new_conversation: bool
) -> None:
    """A code was texted and is still valid; the conversation moved on (handed to a person, or the user
    opened a new chat) and the user types the code anyway. The desk recognises it ("I'm not waiting for a
    code") but must not keep the live code in clear."""
    secure = secure_desk()
    desk, ruby = secure.desk, "ruby.chen" + DOMAIN
    first = asyncio.run(desk.ask("I'm locked out of my account", requester=ruby))
    code = secure.last_code(ruby)
    assert code is not None and first.awaiting == "code"
    if between:
        asyncio.run(desk.ask(between, requester=ruby, conversation_id=first.conversation_id))
    cid = None if new_conversation else first.conversation_id
    late = asyncio.run(desk.ask(code, requester=ruby, conversation_id=cid))
    stored = [e for e in desk.transcript(late.conversation_id) if e["kind"] == "user_message"][-1]["data"]["text"]
    with sqlite3.connect(f"file:{secure.db}?mode=ro", uri=True) as db:
        rows = [r for r in db.execute("SELECT conversation_id, kind, data FROM conversation_events") if code in r[2]]
    assert code not in stored and rows == [], f"{name}: the live code {code} is stored: {stored!r}; rows {rows}"


# -- a language-model engine that echoes what it is shown into tool arguments ------------------------------


class EchoModel:
    """Routes to a specialist, then writes the user's message (as shown to it) into ``escalate_to_human``'s
    summary and a ``kb_search`` query, and into its reply. Asked for a reset, it sends a code.

    With ``raw`` set, it writes that text instead: a model that has seen the secret (another channel, a
    prompt it should not have had), to check the stores' own redaction (defence in depth)."""

    name = "echo"

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []
        self.raw: str | None = None
        self._ids = 0

    def _call(self, name: str, **arguments: Any) -> ModelResponse:
        self._ids += 1
        return ModelResponse(tool_calls=(ToolCall(f"call_{self._ids}", name, arguments),), model="echo")

    async def complete(self, request: ChatRequest) -> ModelResponse:
        self.requests.append(request)
        agent = request.metadata.get("agent")
        users = [i for i, m in enumerate(request.messages) if m.role == "user"]
        shown = request.messages[users[-1]].content if users else ""
        done = [m.name for m in request.messages[users[-1] + 1 :] if m.role == "tool"] if users else []
        ever = {m.name for m in request.messages if m.role == "tool"}
        echo = self.raw if self.raw is not None else shown
        if agent == "triage":
            wants_code = any(word in shown.lower() for word in ("password", "locked out"))
            return self._call("transfer_to_security" if wants_code else "transfer_to_device", reason=echo)
        if agent == "security" and "send_verification_code" not in ever:
            return self._call("send_verification_code")
        if agent == "security" and "send_verification_code" in done:
            return ModelResponse(text="I've sent you a code: type it here.", model="echo")
        if agent == "security" and "verify_identity" not in done:
            return self._call("verify_identity", code="[code]")
        if "kb_search" not in done:
            return self._call("kb_search", query=f"help with: {echo}")
        if "escalate_to_human" not in done:
            return self._call("escalate_to_human", summary=f"User wrote: {echo}")
        return ModelResponse(text=f"I've passed this on. You wrote: {echo}", model="echo")

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | ModelResponse]:
        yield await self.complete(request)


def _llm_sample(corpus: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A deterministic sample, to keep the file near a minute: every code message, two lines in three of the rest."""
    return [line for index, line in enumerate(corpus) if line["kind"] == "one_time_code" or index % 3 != 0]


def _scan_model_requests(scanner: Scanner, drive: Drive, model: EchoModel) -> None:
    """Every message of every request (each distinct message once per conversation: requests repeat history)."""
    seen: set[tuple[str, str]] = set()
    for request in model.requests:
        cid = str(request.metadata.get("conversation_id"))
        owner = drive.owner_of_conversation.get(cid)
        scanner.counts["model requests"] += 1
        for message in request.messages:
            text = message.content + "".join(
                "\n" + json.dumps(c.arguments) + "\n" + "\n".join(_strings(c.arguments)) for c in message.tool_calls
            )
            if (cid, text) not in seen:
                seen.add((cid, text))
                scanner.scan("sent to the model", owner or "?", text, {owner} if owner else None)


@pytest.fixture(scope="module")
def llm(
    desk_factory: Any, helpdesk_world: HelpdeskWorld, secrets_corpus: list[dict[str, Any]], tmp_path_factory: Any
) -> tuple[Drive, Scanner, EchoModel]:
    model = EchoModel()
    drive = Drive(desk_factory(tmp_path_factory.mktemp("llm") / "tickets.db", engine=model))
    _drive(drive, helpdesk_world, _llm_sample(secrets_corpus), ASK_FOR_A_CODE)
    start = time.perf_counter()
    scanner = _scan(drive)
    _scan_model_requests(scanner, drive, model)
    scanner.counts["scan seconds"] = round(time.perf_counter() - start)
    print("\n" + _report("llm (echo)", drive, scanner))
    return drive, scanner, model


def test_the_llm_drive_did_what_it_says(
    llm: tuple[Drive, Scanner, EchoModel], secrets_corpus: list[dict[str, Any]]
) -> None:
    drive, scanner, model = llm
    sample = _llm_sample(secrets_corpus)
    assert len(sample) >= 100 and {line["kind"] for line in sample} == {line["kind"] for line in secrets_corpus}
    assert len(drive.owner_of_conversation) >= len(sample) and drive.code_answers == 18
    echoed = [a for _, r in drive.replies for a in r.actions if a["tool"] == "escalate_to_human"]
    assert len(echoed) >= 50 and len(model.requests) > 300
    assert scanner.counts["model requests"] == len(model.requests)


def test_no_secret_reaches_a_store_a_log_or_the_model_through_an_llm(llm: tuple[Drive, Scanner, EchoModel]) -> None:
    drive, scanner, _ = llm
    found = _grouped(scanner.findings)
    assert found == [], _report("llm (echo)", drive, scanner) + "\n" + "\n".join(found)


def test_the_llm_path_leaks_nothing_that_redact_removes(llm: tuple[Drive, Scanner, EchoModel]) -> None:
    drive, scanner, _ = llm
    found = _grouped([f for f in scanner.findings if not f.needle.missed_by_redact])
    assert found == [], _report("llm (echo)", drive, scanner) + "\n" + "\n".join(found)


@pytest.fixture(scope="module")
def model_written(
    desk_factory: Any, secrets_corpus: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Drive, Scanner]:
    """A model that writes a secret itself (the raw message it should never have seen) into a tool argument
    and its reply, for every fifth corpus line redact() handles (its misses are part a's business)."""
    model = EchoModel()
    drive = Drive(desk_factory(tmp_path_factory.mktemp("model-written") / "tickets.db", engine=model))
    sample = [line for line in secrets_corpus if line["kind"] != "one_time_code" and not _leaks_alone(line)][::5]
    assert len(sample) >= 20
    start = time.perf_counter()
    for index, line in enumerate(sample):
        drive.needles += _corpus_needles(line)
        model.raw = line["text"]
        drive.ask(line["id"], "my laptop is running very slowly today", f"{_ORDINARY[index % len(_ORDINARY)]}{DOMAIN}")
    drive.seconds = time.perf_counter() - start
    scanner = _scan(drive)
    print("\n" + _report("model-written", drive, scanner))
    return drive, scanner


def test_secrets_a_model_writes_are_redacted_in_events_tickets_and_logs(model_written: tuple[Drive, Scanner]) -> None:
    """Defence in depth, as claimed: the event store and the ticket models redact again, whoever wrote the text."""
    drive, scanner = model_written
    kept = ("sqlite:conversations", "streamed event")  # the next test; what is streamed back is the reply itself
    found = _grouped([f for f in scanner.findings if f.surface not in kept])
    assert found == [], _report("model-written", drive, scanner) + "\n" + "\n".join(found)


def test_secrets_a_model_writes_are_redacted_in_the_conversation_state(model_written: tuple[Drive, Scanner]) -> None:
    drive, scanner = model_written
    found = _grouped([f for f in scanner.findings if f.surface == "sqlite:conversations"])
    assert found == [], _report("model-written", drive, scanner) + "\n" + "\n".join(found)


_ORDINARY = ["marcus.bell", "chloe.whitaker", "liam.doherty", "ruby.chen", "tomasz.nowicki"]


def _leaks_alone(line: dict[str, Any]) -> bool:
    """redact() keeps one of the line's secrets (a miss part a reports; left out of the defence-in-depth check)."""
    out = redact(line["text"]).text
    return any(secret in out for secret in line["secrets"])


# -- the service's log handler ------------------------------------------------------------------------------


@pytest.fixture
def service_logging(tmp_path: Path) -> Iterator[io.StringIO]:
    """The service's own logging set-up, writing to a buffer; the root logger is restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(load_settings(), stream)
    root.setLevel(logging.DEBUG)
    root.handlers[0].setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_the_service_log_handler_redacts_messages_and_arguments(service_logging: io.StringIO) -> None:
    """RedactingFilter exists for logging: the handler the service installs applies it, so a secret that
    reaches a log call is not written in clear."""
    log = logging.getLogger("firstline.helpdesk.test")
    log.warning("user wrote: %s", "reset my password, set it to Summer2026!")
    log.info("password: Kx9#mPq2vL")
    log.info("connecting to %(url)s", {"url": "postgresql://app:S3cr3t-Pa55@db01:5432/app"})
    written = service_logging.getvalue()
    assert "user wrote" in written and "connecting to" in written
    leaked = [s for s in ("Summer2026!", "Kx9#mPq2vL", "S3cr3t-Pa55") if s in written]
    assert leaked == [], f"the service log handler wrote {leaked} in clear:\n{written}"


def test_the_service_log_handler_redacts_exception_text(service_logging: io.StringIO) -> None:
    """``log.exception`` (the desk logs every failed turn so) writes the exception's message and traceback:
    a backend error quoting a connection string or a request must not carry a secret into the log."""
    log = logging.getLogger("firstline.helpdesk.test")
    try:
        raise ConnectionError("cannot reach postgresql://app:S3cr3t-Pa55@db01:5432/app (password: Kx9#mPq2vL)")
    except ConnectionError:
        log.exception("turn failed in conversation %s", "c0ffee")
    written = service_logging.getvalue()
    assert "turn failed" in written and "ConnectionError" in written
    leaked = [s for s in ("S3cr3t-Pa55", "Kx9#mPq2vL") if s in written]
    assert leaked == [], f"the service log handler wrote {leaked} in clear:\n{written}"
