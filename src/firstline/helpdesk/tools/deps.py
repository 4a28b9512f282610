"""What the helpdesk tools act on, and the one-time codes that verify a requester's identity."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from firstline.agents import RunContext
from firstline.directory import DirectoryBackend
from firstline.directory.models import Person
from firstline.errors import ConfigError, PersonNotFoundError, ToolFailed
from firstline.knowledge.base import KnowledgeBase
from firstline.ticketing import NewTicket, Ticket, TicketingBackend, TicketUpdate

__all__ = [
    "CodeStore",
    "HelpdeskDeps",
    "MemoryCodeStore",
    "OneTimeCodes",
    "Outbox",
    "conversation_ticket",
    "deps_of",
    "open_or_update_ticket",
]

log = logging.getLogger("firstline.verification")


@runtime_checkable
class CodeStore(Protocol):
    """Where pending one-time codes live between messages (only a salted hash of each code)."""

    def load_code(self, key: str) -> tuple[str, float, int] | None:
        """``(salted hash, expires at (epoch seconds), attempts)`` of ``key``'s pending code, if any."""
        ...

    def save_code(self, key: str, digest: str, expires: float, attempts: int) -> None: ...

    def drop_code(self, key: str) -> None: ...


class MemoryCodeStore:
    """Pending codes in this process only (tests; a single-process demo)."""

    def __init__(self) -> None:
        self._codes: dict[str, tuple[str, float, int]] = {}

    def load_code(self, key: str) -> tuple[str, float, int] | None:
        return self._codes.get(key)

    def save_code(self, key: str, digest: str, expires: float, attempts: int) -> None:
        self._codes[key] = (digest, expires, attempts)

    def drop_code(self, key: str) -> None:
        self._codes.pop(key, None)


def _digest(code: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    return f"{salt}${hashlib.sha256(f'{salt}:{code}'.encode()).hexdigest()}"


class Outbox:
    """The demo delivery of one-time codes: logs each code and keeps the last few per person in memory.

    It stands in for the SMS or e-mail gateway of a real deployment, so the demo's web chat can show
    the code on a "demo phone". Per process, and only the ``keep`` most recent codes per person.
    """

    def __init__(self, keep: int = 5, clock: Callable[[], float] = time.time) -> None:
        self._keep = keep
        self._clock = clock
        self._sent: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def deliver(self, requester: str, code: str, channel: str) -> None:
        log.warning("one-time code for %s via %s: %s", requester, channel, code)
        with self._lock:
            sent = self._sent.setdefault(requester.lower(), [])
            sent.append({"channel": channel, "code": code, "sent_at": self._clock()})
            del sent[: -self._keep]

    def messages(self, requester: str) -> list[dict[str, Any]]:
        """What was sent to ``requester``, newest first."""
        with self._lock:
            return [dict(m) for m in reversed(self._sent.get(requester.lower(), []))]


class OneTimeCodes:
    """Six-digit codes sent to the requester's registered device or e-mail, valid ``ttl_s`` seconds.

    ``deliver(requester, code, channel)`` does the sending; the demo delivery logs the code on
    the ``firstline.verification`` logger (shown in the console), which stands in for the SMS
    or e-mail gateway. A code is never returned to the model or shown in the chat. Pending codes
    are kept as salted hashes in ``store`` (the ticket database in the runtime, so a code sent by
    one process can be checked by another; memory by default).
    """

    def __init__(
        self,
        ttl_s: float = 600.0,
        max_attempts: int = 5,
        deliver: Callable[[str, str, str], None] | None = None,
        clock: Callable[[], float] = time.time,
        store: CodeStore | None = None,
    ) -> None:
        self.ttl_s, self.max_attempts = ttl_s, max_attempts
        self._deliver = deliver or (
            lambda who, code, channel: log.warning("one-time code for %s via %s: %s", who, channel, code)
        )
        self._clock = clock
        self._store: CodeStore = store or MemoryCodeStore()
        self._lock = threading.Lock()

    def issue(self, requester: str, channel: str) -> None:
        code = f"{secrets.randbelow(10**6):06d}"
        with self._lock:
            self._store.save_code(requester.lower(), _digest(code), self._clock() + self.ttl_s, 0)
        self._deliver(requester, code, channel)

    def check(self, requester: str, code: str) -> bool:
        """True once for the right, unexpired code; raises ToolFailed when none is pending or too many tries."""
        key = requester.lower()
        with self._lock:
            pending = self._store.load_code(key)
            if pending is None or pending[1] < self._clock():
                self._store.drop_code(key)
                raise ToolFailed(
                    "There's no valid code waiting (none was sent, or it expired).",
                    guidance="send a new one",
                    data={"new_code_needed": True},
                )
            digest, expires, attempts = pending
            attempts += 1
            if attempts > self.max_attempts:
                self._store.drop_code(key)
                raise ToolFailed(
                    "That was too many wrong codes, so I've cancelled the code. For your security, please call the "
                    "service desk on 4357 to continue.",
                    data={"locked_out": True},
                )
            if hmac.compare_digest(digest, _digest(code.strip(), digest.split("$", 1)[0])):
                self._store.drop_code(key)
                return True
            self._store.save_code(key, digest, expires, attempts)
            return False


@dataclass
class HelpdeskDeps:
    """The live backends a conversation's tools use (built by the runtime)."""

    directory: DirectoryBackend
    tickets: TicketingBackend
    codes: OneTimeCodes = field(default_factory=OneTimeCodes)
    knowledge: KnowledgeBase | None = None


def requester(ctx: RunContext) -> Person:
    """The person asking; ToolFailed (for the model to relay) when unknown or not in the directory."""
    if not ctx.requester:
        raise ToolFailed(
            "I don't know who you are yet: what's your work e-mail address?",
            guidance="ask for the requester's work e-mail address first",
        )
    try:
        return deps_of(ctx).directory.person(ctx.requester)
    except PersonNotFoundError as exc:
        raise ToolFailed(
            f"I can't find {ctx.requester} in the company directory. Check the address, or call the service desk "
            "on 4357.",
        ) from exc


def deps_of(ctx: RunContext) -> HelpdeskDeps:
    if not isinstance(ctx.deps, HelpdeskDeps):
        raise ConfigError("The helpdesk tools need RunContext.deps to be a HelpdeskDeps (built by the runtime).")
    return ctx.deps


def open_or_update_ticket(ctx: RunContext, new: NewTicket) -> Ticket:
    """The conversation's own open ticket re-filed as ``new`` says, or a new ticket when there is none.

    Tools that "open a ticket" (a phishing report, a lost device, a software request) use this, so
    a conversation never ends up with two tickets for one problem.
    """
    tickets = deps_of(ctx).tickets
    if ctx.ticket_number:
        current = tickets.get(ctx.ticket_number)
        if current.requester == new.requester.lower() and current.state.is_open:
            update = TicketUpdate(
                category=new.category or None,
                specialist=new.specialist or None,
                intent=new.intent or None,
                impact=new.impact,
                urgency=new.urgency,
                assignment_group=new.assignment_group or None,
                tags=tuple(dict.fromkeys((*current.tags, *new.tags))),
            )
            return tickets.update(current.number, update, author="firstline")
    ticket = tickets.create(new)
    ctx.ticket_number = ticket.number
    return ticket


def conversation_ticket(ctx: RunContext) -> Ticket:
    """This conversation's ticket; one is opened from the briefing's request text when there is none yet."""
    if ctx.ticket_number:
        return deps_of(ctx).tickets.get(ctx.ticket_number)
    if not ctx.requester:
        raise ToolFailed(
            "I don't know who you are yet: what's your work e-mail address?",
            guidance="ask for the requester's work e-mail address first",
        )
    request = str(ctx.briefing.get("request") or "Help requested in chat")
    new = NewTicket(
        requester=ctx.requester,
        short_description=request[:150],
        description=request,
        category=str(ctx.briefing.get("specialist") or ""),
        specialist=str(ctx.briefing.get("specialist") or ""),
        intent=str(ctx.briefing.get("intent") or ""),
        assignment_group=str(ctx.briefing.get("tier2_group") or "Service Desk"),
        correlation_id=f"{ctx.conversation_id}:escalation" if ctx.conversation_id else None,
    )
    return open_or_update_ticket(ctx, new)
