"""What the helpdesk tools act on, and the one-time codes that verify a requester's identity."""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from firstline.agents import RunContext
from firstline.directory import DirectoryBackend
from firstline.errors import ConfigError, ToolFailed
from firstline.knowledge.base import KnowledgeBase
from firstline.ticketing import TicketingBackend

__all__ = ["HelpdeskDeps", "OneTimeCodes", "deps_of"]

log = logging.getLogger("firstline.verification")


@dataclass
class _Pending:
    code: str
    expires: float
    attempts: int = 0


class OneTimeCodes:
    """Six-digit codes sent to the requester's registered device or e-mail, valid ``ttl_s`` seconds.

    ``deliver(requester, code, channel)`` does the sending; the demo delivery logs the code on
    the ``firstline.verification`` logger (shown in the console), which stands in for the SMS
    or e-mail gateway. A code is never returned to the model or shown in the chat.
    """

    def __init__(
        self,
        ttl_s: float = 600.0,
        max_attempts: int = 5,
        deliver: Callable[[str, str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s, self.max_attempts = ttl_s, max_attempts
        self._deliver = deliver or (
            lambda who, code, channel: log.warning("one-time code for %s via %s: %s", who, channel, code)
        )
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def issue(self, requester: str, channel: str) -> None:
        code = f"{secrets.randbelow(10**6):06d}"
        with self._lock:
            self._pending[requester.lower()] = _Pending(code, self._clock() + self.ttl_s)
        self._deliver(requester, code, channel)

    def check(self, requester: str, code: str) -> bool:
        """True once for the right, unexpired code; raises ToolFailed when none is pending or too many tries."""
        with self._lock:
            pending = self._pending.get(requester.lower())
            if pending is None or pending.expires < self._clock():
                self._pending.pop(requester.lower(), None)
                raise ToolFailed("no valid code is pending (none was sent, or it expired): send a new one")
            pending.attempts += 1
            if pending.attempts > self.max_attempts:
                del self._pending[requester.lower()]
                raise ToolFailed("too many wrong codes: the code is cancelled; send a new one or call the service desk")
            if hmac.compare_digest(pending.code, code.strip()):
                del self._pending[requester.lower()]
                return True
            return False


@dataclass
class HelpdeskDeps:
    """The live backends a conversation's tools use (built by the runtime)."""

    directory: DirectoryBackend
    tickets: TicketingBackend
    codes: OneTimeCodes = field(default_factory=OneTimeCodes)
    knowledge: KnowledgeBase | None = None


def deps_of(ctx: RunContext) -> HelpdeskDeps:
    if not isinstance(ctx.deps, HelpdeskDeps):
        raise ConfigError("The helpdesk tools need RunContext.deps to be a HelpdeskDeps (built by the runtime).")
    return ctx.deps
