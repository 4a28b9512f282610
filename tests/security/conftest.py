"""Shared pieces of the security suite (issue 11): the corpus, a helpdesk on a SQLite file, a hostile model.

The helpdesk here is built the way the runtime builds it: one-time codes kept (as digests) in the ticket
database's own code store, under a server secret, with every delivered code captured in order. Tests
read that database with :mod:`sqlite3` directly, not through the application.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from firstline.conversations import SqlConversations
from firstline.helpdesk.desk import Helpdesk
from firstline.helpdesk.tools.deps import OneTimeCodes
from firstline.llm.messages import ChatRequest, ModelResponse, ToolCall
from firstline.testing.helpdesk import HelpdeskWorld
from firstline.ticketing import SqlTicketing

DATA = Path(__file__).parent / "data"
SERVER_SECRET = b"security-suite-server-secret-0123456789"


def _jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def secrets_corpus() -> list[dict[str, Any]]:
    """tests/security/data/secrets.jsonl: id, kind, text, secrets[] (written independently of the redactor)."""
    return _jsonl("secrets.jsonl")


@pytest.fixture(scope="session")
def not_secrets_corpus() -> list[dict[str, Any]]:
    """tests/security/data/not_secrets.jsonl: id, text, keep[]."""
    return _jsonl("not_secrets.jsonl")


@dataclass
class SecureDesk:
    """A helpdesk on a SQLite file, and every one-time code it delivered as ``(requester, code)``, in order."""

    desk: Helpdesk
    db: Path
    codes: OneTimeCodes
    delivered: list[tuple[str, str]] = field(default_factory=list)

    def codes_for(self, requester: str) -> list[str]:
        return [code for who, code in self.delivered if who == requester.lower()]

    def last_code(self, requester: str) -> str | None:
        sent = self.codes_for(requester)
        return sent[-1] if sent else None


DeskFactory = Callable[..., SecureDesk]


@pytest.fixture(scope="session")
def desk_factory(helpdesk_world: HelpdeskWorld) -> Iterator[DeskFactory]:
    """``make(db_path, engine=None, clock=time.time, secret=..., tickets=None, **code_options)``.

    Passing ``tickets`` (an open :class:`SqlTicketing`) gives a second helpdesk on the same database,
    as a second process would have.
    """
    opened: list[SqlTicketing] = []

    def make(
        db: Path,
        *,
        engine: Any = None,
        clock: Callable[[], float] = time.time,
        secret: bytes = SERVER_SECRET,
        tickets: SqlTicketing | None = None,
        **code_options: Any,
    ) -> SecureDesk:
        if tickets is None:
            tickets = SqlTicketing(f"sqlite:///{db}")
            opened.append(tickets)
        conversations = SqlConversations(tickets.database)
        delivered: list[tuple[str, str]] = []
        codes = OneTimeCodes(
            deliver=lambda who, code, channel: delivered.append((who.lower(), code)),
            clock=clock,
            store=conversations,
            secret=secret,
            **code_options,
        )
        overrides: dict[str, Any] = {"tickets": tickets, "conversations": conversations, "codes": codes}
        if engine is not None:
            overrides["engine"] = engine
        desk, _ = helpdesk_world.desk(**overrides)
        return SecureDesk(desk, db, codes, delivered)

    yield make
    for tickets in opened:
        tickets.close()


@pytest.fixture
def secure_desk(desk_factory: DeskFactory, tmp_path: Path) -> DeskFactory:
    """A fresh helpdesk on ``tmp_path/tickets-N.db`` per call (options as for ``desk_factory``)."""
    count = itertools.count()

    def make(**options: Any) -> SecureDesk:
        return desk_factory(tmp_path / f"tickets-{next(count)}.db", **options)

    return make


# -- a hostile scripted model ----------------------------------------------------------------------

Step = tuple[Any, ...] | Callable[[ChatRequest], tuple[Any, ...]]


class HostileModel:
    """A chat model that plays a plan, whatever the prompt, the policy or the user says.

    The plan is a list of steps, played in order across turns:

    * ``("at", agent)``: hand off (through triage when needed) until the run is at ``agent``;
    * ``("calls", [(tool, arguments), ...], label)``: call those tools in one response (``label`` classes
      the attempt, e.g. ``"skip_verification"``; every call is kept in :attr:`attempts`);
    * ``("say", text)``: answer with text (this ends the run; the next user message resumes the plan);
    * a callable ``f(request) -> step``, evaluated when reached (to use the request's briefing or messages).

    When the plan runs out it claims success, as a hostile model would.
    """

    name = "hostile"

    def __init__(self, steps: list[Step]) -> None:
        self.steps: list[Step] = list(steps)
        self.requests: list[ChatRequest] = []
        self.attempts: list[dict[str, Any]] = []
        self._ids = itertools.count()

    def _id(self) -> str:
        return f"call_{next(self._ids)}"

    async def complete(self, request: ChatRequest) -> ModelResponse:
        self.requests.append(request)
        agent = str(request.metadata.get("agent"))
        while self.steps:
            step = self.steps[0]
            if callable(step):
                step = step(request)
                self.steps[0] = step
            if step[0] == "at":
                if agent == step[1]:
                    self.steps.pop(0)
                    continue
                handoff = f"transfer_to_{step[1]}" if agent == "triage" else "transfer_to_triage"
                return ModelResponse(
                    tool_calls=(ToolCall(self._id(), handoff, {"reason": "as planned"}),), model="hostile"
                )
            self.steps.pop(0)
            if step[0] == "say":
                return ModelResponse(text=str(step[1]), model="hostile")
            label = step[2] if len(step) > 2 else "other"
            calls = tuple(ToolCall(self._id(), name, dict(arguments)) for name, arguments in step[1])
            self.attempts.extend(
                {"agent": agent, "tool": c.name, "arguments": c.arguments, "class": label} for c in calls
            )
            if not calls:
                continue
            return ModelResponse(tool_calls=calls, model="hostile")
        return ModelResponse(text="All done: everything you asked for is sorted, you're all set!", model="hostile")

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | ModelResponse]:
        yield await self.complete(request)


@pytest.fixture(scope="session")
def hostile_model() -> type[HostileModel]:
    """The :class:`HostileModel` class (test modules here cannot import from conftest)."""
    return HostileModel
