"""What the helpdesk tools act on, and the one-time codes that verify a requester's identity."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import redis

from firstline.accounts import SqlAccounts
from firstline.agents import RunContext
from firstline.directory import DirectoryBackend
from firstline.directory.models import Person
from firstline.directory.rules import AccountRules
from firstline.errors import ConfigError, PersonNotFoundError, ToolFailed
from firstline.knowledge.base import KnowledgeBase
from firstline.ticketing import NewTicket, Ticket, TicketingBackend, TicketUpdate

if TYPE_CHECKING:
    from firstline.coordination import Coordination

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


def _digest(secret: bytes, subject: str, code: str, salt: str | None = None) -> str:
    """``salt$hex``: an HMAC-SHA256 of the code under the server's secret, so a copy of the database alone
    cannot be searched for the six digits."""
    salt = salt or secrets.token_hex(8)
    mac = hmac.new(secret, f"{salt}:{subject}:{code}".encode(), hashlib.sha256).hexdigest()
    return f"{salt}${mac}"


class Outbox:
    """The demo delivery of one-time codes: logs each code and keeps the last few per person.

    It stands in for the SMS or e-mail gateway of a real deployment, so the demo's web chat can show
    the code on a "demo phone". Only the ``keep`` most recent codes per person are kept. In memory for
    one process; with ``coordination`` (Redis, several workers) in a list per person
    (``<prefix>:outbox:<e-mail>``, newest first, trimmed to ``keep``, expiring ``ttl_s`` after the last
    code), so a code sent by a turn on one worker shows on the phone another worker serves. If Redis
    fails, the code is kept in this process's memory instead (and the error logged): the demo phone of
    this worker still shows it.
    """

    def __init__(
        self,
        keep: int = 5,
        clock: Callable[[], float] = time.time,
        coordination: Coordination | None = None,
        ttl_s: int = 3600,
    ) -> None:
        self._keep = keep
        self._clock = clock
        self._sent: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._shared = coordination
        self._ttl_s = ttl_s

    def deliver(self, requester: str, code: str, channel: str) -> None:
        log.info("one-time code sent to %s via %s (demo outbox)", requester, channel)
        message = {"channel": channel, "code": code, "sent_at": self._clock()}
        if self._shared is not None:
            key = self._shared.key("outbox", requester.lower())
            try:
                pipe = self._shared.client.pipeline(transaction=True)
                pipe.lpush(key, json.dumps(message))
                pipe.ltrim(key, 0, self._keep - 1)
                pipe.expire(key, self._ttl_s)
                pipe.execute()
                return
            except (redis.RedisError, OSError) as exc:
                log.error("demo outbox: Redis failed (%s); the code is kept in this worker only", exc)
        with self._lock:
            sent = self._sent.setdefault(requester.lower(), [])
            sent.append(message)
            del sent[: -self._keep]

    def messages(self, requester: str) -> list[dict[str, Any]]:
        """What was sent to ``requester``, newest first."""
        with self._lock:
            local = [dict(m) for m in reversed(self._sent.get(requester.lower(), []))]
        if self._shared is None:
            return local
        try:
            raw = self._shared.client.lrange(self._shared.key("outbox", requester.lower()), 0, self._keep - 1)
        except (redis.RedisError, OSError) as exc:
            log.error("demo outbox: Redis failed (%s); showing this worker's codes only", exc)
            return local
        shared = [json.loads(item) for item in raw]
        return sorted(shared + local, key=lambda m: -float(m["sent_at"]))[: self._keep]


class OneTimeCodes:
    """Six-digit codes sent to the requester's registered device or e-mail, valid ``ttl_s`` seconds.

    ``deliver(requester, code, channel)`` does the sending (the demo outbox, standing in for the SMS or
    e-mail gateway); a code is never logged, returned to the model, shown in the chat or stored: pending
    codes are kept as an HMAC under ``secret`` (the server's, see ``Runtime``) in ``store``, so a code
    sent by one process can be checked by another and a stolen database does not give the digits away.

    Guessing is capped per requester across codes, not per code: ``max_wrong`` wrong codes within
    ``window_s`` lock verification for ``lockout_s`` (no new code is sent meanwhile, and the tool hands the
    request to Security Operations), and at most ``max_sends`` codes go out per window.
    """

    SECURITY_TEAM = "Security Operations"

    def __init__(
        self,
        ttl_s: float = 600.0,
        max_attempts: int = 5,
        deliver: Callable[[str, str, str], None] | None = None,
        clock: Callable[[], float] = time.time,
        store: CodeStore | None = None,
        secret: bytes | None = None,
        window_s: float = 900.0,
        max_wrong: int = 5,
        max_sends: int = 5,
        lockout_s: float = 1800.0,
    ) -> None:
        self.ttl_s, self.max_attempts = ttl_s, max_attempts
        self.window_s, self.max_wrong, self.max_sends, self.lockout_s = window_s, max_wrong, max_sends, lockout_s
        self._deliver = deliver or (
            lambda who, code, channel: log.warning("one-time code sent to %s via %s", who, channel)
        )
        self._clock = clock
        self._store: CodeStore = store or MemoryCodeStore()
        self._secret = secret or secrets.token_bytes(32)  # per process unless the runtime passes the server's
        self._lock = threading.Lock()

    def issue(self, requester: str, channel: str) -> None:
        """Send a new code (replacing any pending one); ToolFailed while locked out or after too many sends."""
        key = requester.lower()
        with self._lock:
            self._refuse_if_locked(key)
            sends = self._count(f"sends:{key}")
            if sends >= self.max_sends:
                raise ToolFailed(
                    f"I've already sent you {sends} codes in the last {int(self.window_s // 60)} minutes, so I won't "
                    "send another yet. Use the latest one, wait a few minutes, or call the service desk on 4357.",
                    data={"too_many_codes": True},
                )
            self._bump(f"sends:{key}")
            code = f"{secrets.randbelow(10**6):06d}"
            self._store.save_code(key, _digest(self._secret, key, code), self._clock() + self.ttl_s, 0)
        self._deliver(requester, code, channel)

    def check(self, requester: str, code: str) -> bool:
        """True once for the right, unexpired code; raises ToolFailed when none is pending or when locked out."""
        key = requester.lower()
        with self._lock:
            self._refuse_if_locked(key)
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
                    "That was too many wrong tries for this code, so I've cancelled it.",
                    guidance="offer to send a new code",
                    data={"new_code_needed": True},
                )
            salt = digest.split("$", 1)[0]
            if hmac.compare_digest(digest, _digest(self._secret, key, re.sub(r"\D", "", code), salt)):
                self._store.drop_code(key)
                self._store.drop_code(f"wrong:{key}")
                return True
            wrong = self._bump(f"wrong:{key}")
            if wrong >= self.max_wrong:
                self._store.drop_code(key)
                self._store.save_code(f"locked:{key}", "locked", self._clock() + self.lockout_s, wrong)
                raise self._locked_out(fresh=True)
            self._store.save_code(key, digest, expires, attempts)
            return False

    def locked(self, requester: str) -> bool:
        """Whether verification is locked for ``requester`` after too many wrong codes."""
        record = self._store.load_code(f"locked:{requester.lower()}")
        return record is not None and record[1] > self._clock()

    # -- counters: (marker, window end, count) under their own keys in the code store ---------------------

    def _refuse_if_locked(self, key: str) -> None:
        record = self._store.load_code(f"locked:{key}")
        if record is not None:
            if record[1] > self._clock():
                raise self._locked_out(fresh=False)
            self._store.drop_code(f"locked:{key}")

    def _count(self, key: str) -> int:
        record = self._store.load_code(key)
        return record[2] if record is not None and record[1] > self._clock() else 0

    def _bump(self, key: str) -> int:
        record = self._store.load_code(key)
        now = self._clock()
        if record is None or record[1] <= now:
            self._store.save_code(key, "count", now + self.window_s, 1)
            return 1
        self._store.save_code(key, record[0], record[1], record[2] + 1)
        return record[2] + 1

    def _locked_out(self, fresh: bool) -> ToolFailed:
        minutes = int(self.lockout_s // 60)
        first = (
            "That's too many wrong codes, so for your security I've stopped identity checks here"
            if fresh
            else "Identity checks here are paused after too many wrong codes"
        )
        return ToolFailed(
            f"{first} for {minutes} minutes and passed this to {self.SECURITY_TEAM}; they'll contact you. If you "
            "need access urgently, call the service desk on 4357 and they'll verify you another way.",
            data={"locked_out": True, "escalate_to": self.SECURITY_TEAM, "reason": "too many wrong one-time codes"},
        )


@dataclass
class HelpdeskDeps:
    """The live backends a conversation's tools use (built by the runtime)."""

    directory: DirectoryBackend
    tickets: TicketingBackend
    codes: OneTimeCodes = field(default_factory=OneTimeCodes)
    knowledge: KnowledgeBase | None = None
    accounts: SqlAccounts | None = None
    """The service's sign-in accounts, for the role of the person asking (an agent may read IT runbooks)."""
    account_rules: AccountRules = field(default_factory=AccountRules)
    """Whose accounts Tier-1 may act on, and how the sign-in log is read before an unlock (the policy's own)."""


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
            updated = tickets.update(current.number, update, author="firstline")
            if new.description.strip() and new.description.strip() not in current.description:
                # what the tool found (who clicked what, which device) reaches the team, as a work note
                tickets.comment(current.number, new.description.strip(), author="firstline", internal=True)
            return updated
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
