"""The whole Firstline exception tree.

Every error Firstline raises on purpose is a subclass of :class:`FirstlineError`. Vendor and
library errors are translated into this tree at the backend boundary, so callers (the CLI, the
HTTP layer) handle one family of exceptions and can always print ``str(error)``: each message
says what went wrong *and what to do next* (the setting to change, the command to run).

::

    FirstlineError
    ├── ConfigError                     bad or missing configuration (names the setting)
    ├── InputError                      the caller's input is unusable
    │   ├── ConflictError               the change clashes with the current state (an approval already decided)
    │   ├── EmptyQueryError             a blank search query
    │   └── QueryTooLongError           a query over the configured limit
    ├── KnowledgeError                  the knowledge engine
    │   ├── DocumentLoadError           one file could not be read or parsed (ingest skips it)
    │   ├── IngestLockedError           another ingest holds the index lock
    │   ├── IndexNotReadyError          searching before anything was ingested
    │   └── CorpusFormatError           a BEIR corpus / queries / qrels file is malformed
    ├── AccessError                     who is asking, and whether they may
    │   ├── AuthenticationError         no, expired or unknown credentials (HTTP 401)
    │   │   └── SsoError                a refused single sign-on: a code for the page, a reason for the log
    │   │                               (defined in firstline.service.sso, where it is raised)
    │   └── PermissionDeniedError       known, but the role may not do this (HTTP 403)
    ├── TicketingError                  the ticket store and its lifecycle rules
    │   ├── TicketNotFoundError         no ticket has that number (names it)
    │   ├── ConversationNotFoundError   no conversation (or approval) has that id, or it is someone else's
    │   └── InvalidTransitionError      a state change the lifecycle forbids (lists the allowed ones)
    ├── DirectoryError                  people, accounts, devices, printers, phones and mailboxes
    │   ├── DirectoryEntryNotFoundError no device, printer, extension, mailbox, list or job has that key
    │   │   └── PersonNotFoundError     nobody has that id, email or username (names it, says how to search)
    │   └── AccountDisabledError        the account is disabled, not locked: Tier-1 must not re-enable it
    ├── AgentError                      the agent engine
    │   ├── ToolRetry                   a tool call the model should correct (sent back to it)
    │   ├── ToolFailed                  a tool could not do its job (the model tells the user)
    │   └── MaxTurnsExceeded            a run hit its turn limit (the user is offered a human)
    └── BackendError                    a dependency outside this process failed
        ├── BackendUnavailableError     it cannot be reached (names the URL and the setting)
        │   └── RedisUnavailableError   the Redis the workers share (firstline.coordination)
        ├── BackendResponseError        it answered, but not in the shape we expect
        │   └── RerankError             a reranker failed (the retriever falls back; never shown)
        ├── LockTimeoutError            another worker held a cross-worker lock too long (firstline.coordination)
        └── ModelCallError              an LLM call failed: timeout, 429, 5xx, broken stream (the chain falls back)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AccessError",
    "AccountDisabledError",
    "AgentError",
    "AuthenticationError",
    "BackendError",
    "BackendResponseError",
    "BackendUnavailableError",
    "ConfigError",
    "ConflictError",
    "ConversationNotFoundError",
    "CorpusFormatError",
    "DirectoryEntryNotFoundError",
    "DirectoryError",
    "DocumentLoadError",
    "EmptyQueryError",
    "FirstlineError",
    "IndexNotReadyError",
    "IngestLockedError",
    "InputError",
    "InvalidTransitionError",
    "KnowledgeError",
    "MaxTurnsExceeded",
    "ModelCallError",
    "PermissionDeniedError",
    "PersonNotFoundError",
    "QueryTooLongError",
    "RerankError",
    "TicketNotFoundError",
    "TicketingError",
    "ToolFailed",
    "ToolRetry",
]


class FirstlineError(Exception):
    """Base of every error Firstline raises on purpose."""


class ConfigError(FirstlineError):
    """The configuration is invalid; the message names the setting and how to fix it."""


class InputError(FirstlineError):
    """The caller's input cannot be used as given."""


class ConflictError(InputError):
    """The request is well formed but clashes with the current state (e.g. an approval already decided)."""


class AccessError(FirstlineError):
    """Who is asking, and whether they may: the base of the 401 and 403 answers."""


class AuthenticationError(AccessError):
    """No credentials, or ones that are wrong, expired or revoked."""


class PermissionDeniedError(AccessError):
    """The caller is known, but their role does not allow this."""


class EmptyQueryError(InputError):
    """A search query was empty or only whitespace."""

    def __init__(self) -> None:
        super().__init__("The query is empty: type what you are looking for, e.g. 'VPN keeps disconnecting'.")


class QueryTooLongError(InputError):
    """A search query was longer than the configured limit."""

    def __init__(self, length: int, limit: int) -> None:
        self.length = length
        self.limit = limit
        super().__init__(
            f"The query is {length} characters long; the limit is {limit}. "
            "Shorten it to the error message or the key symptom."
        )


class KnowledgeError(FirstlineError):
    """Errors of the knowledge engine (loading, ingesting, searching, evaluating)."""


class DocumentLoadError(KnowledgeError):
    """One document could not be read or parsed. Ingest reports it by name and goes on."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class IngestLockedError(KnowledgeError):
    """Another ingest is writing to the same index."""


class IndexNotReadyError(KnowledgeError):
    """The index is empty or missing."""


class CorpusFormatError(KnowledgeError):
    """A BEIR-layout corpus, queries or qrels file is malformed."""


class TicketingError(FirstlineError):
    """Errors of the ticket store: unknown tickets and changes the ticket lifecycle forbids."""


class ConversationNotFoundError(TicketingError):
    """No conversation (or approval request) has the given id for this caller."""

    def __init__(self, what: str, key: str) -> None:
        self.key = key
        super().__init__(
            f"There is no {what} {key!r} (or it belongs to someone else). Leave the id out to start a new "
            f"conversation, or list your conversations to find the right one."
        )


class TicketNotFoundError(TicketingError):
    """No ticket has the given number."""

    def __init__(self, number: str) -> None:
        self.number = number
        super().__init__(
            f"There is no ticket {number!r}. Check the number (it looks like INC0001234), "
            "or search the tickets by requester or text to find the right one."
        )


class InvalidTransitionError(TicketingError):
    """A ticket cannot make the requested change from its current state.

    ``wanted`` is the state asked for, or ``None`` when any change was asked of a final ticket;
    ``allowed`` lists the states it can move to from ``current`` (empty when ``current`` is final).
    """

    def __init__(self, number: str, current: str, wanted: str | None, allowed: Sequence[str]) -> None:
        self.number = number
        self.current = current
        self.wanted = wanted
        self.allowed = tuple(allowed)
        change = f"cannot move to {wanted}" if wanted else "cannot be changed"
        if self.allowed:
            next_step = f"From {current} it can move to: {', '.join(self.allowed)}."
        else:
            next_step = f"{current.capitalize()} is final: open a new ticket that mentions {number} instead."
        super().__init__(f"{number} is {current} and {change}. {next_step}")


class AgentError(FirstlineError):
    """Errors of the agent engine (runner, tools, handoffs)."""


class ToolRetry(AgentError):
    """The model called a tool wrongly; the message tells it what to fix and it may try again."""


class ToolFailed(AgentError):
    """A tool could not do its job. The message is written for the employee (it may be shown as it
    is); ``guidance`` tells a model what to do next and is never shown to the employee."""

    def __init__(self, message: str, *, guidance: str = "", data: Any = None) -> None:
        super().__init__(message)
        self.guidance = guidance
        self.data = data


class MaxTurnsExceeded(AgentError):
    """A run used all its turns without a final answer."""


class DirectoryError(FirstlineError):
    """Errors of the directory: unknown people or objects, and account changes Tier-1 must not make."""


class DirectoryEntryNotFoundError(DirectoryError):
    """No directory object of ``kind`` (device, printer, extension, ...) has the key ``key``."""

    def __init__(self, kind: str, key: str, hint: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"There is no {kind} {key!r} in the directory. {hint}")


class PersonNotFoundError(DirectoryEntryNotFoundError):
    """Nobody in the directory has the given id, email address or username."""

    def __init__(self, key: str) -> None:
        super().__init__(
            "person or account",
            key,
            "Check the spelling of the id (p019), email (ruby.chen@example.com) or username (r.chen), "
            "or search by name with find_people('chen') to find the right person.",
        )


class AccountDisabledError(DirectoryError):
    """The account is disabled (not merely locked); re-enabling it is not a Tier-1 change."""

    def __init__(self, username: str, why: str = "") -> None:
        self.username = username
        detail = f" ({why})" if why else ""
        super().__init__(
            f"The account {username!r} is disabled, not locked{detail}, so it cannot be unlocked. "
            "Firstline does not re-enable accounts: escalate to Identity & Access Management, "
            "or to Security Operations when they disabled it."
        )


class BackendError(FirstlineError):
    """A service outside this process (vector store, embedder, reranker) failed."""


class BackendUnavailableError(BackendError):
    """A backend could not be reached. The message names the URL and the setting to change."""

    def __init__(self, what: str, url: str, setting: str, reason: str = "") -> None:
        self.what = what
        self.url = url
        self.setting = setting
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"Cannot reach the {what} at {url}{detail}. Start it, or point the setting "
            f"`{setting}` (env FIRSTLINE_{setting.upper().replace('.', '__')}) at a running one."
        )


class BackendResponseError(BackendError):
    """A backend answered with an error status or an unexpected body."""


class RerankError(BackendResponseError):
    """A reranker failed or timed out; the retriever keeps the fused order and logs a warning."""


class ModelCallError(BackendError):
    """One call to a language model failed; ``kind`` says how, so the fallback chain can react.

    ``kind`` is ``timeout``, ``rate_limited`` (``retry_after_s`` from the Retry-After header),
    ``server_error``, ``connection``, ``broken_stream``, ``bad_response`` or ``circuit_open``.
    """

    def __init__(self, model: str, kind: str, detail: str = "", retry_after_s: float | None = None) -> None:
        self.model = model
        self.kind = kind
        self.retry_after_s = retry_after_s
        wait = f"; retry after {retry_after_s:g} s" if retry_after_s is not None else ""
        super().__init__(f"The model {model!r} failed ({kind}{wait}){': ' + detail if detail else ''}.")
