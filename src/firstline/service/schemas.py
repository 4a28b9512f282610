"""The API's request and response bodies (what the OpenAPI document shows) and its documented errors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AskIn",
    "AskOut",
    "ErrorBody",
    "errors",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldError(BaseModel):
    field: str = Field(description="where: body.text, query.limit, path.number ...")
    message: str


class ErrorBody(BaseModel):
    error: str = Field(description="the kind of error, e.g. NotFound, ValidationError, RateLimited")
    detail: str = Field(description="what went wrong and what to do about it")
    fields: list[FieldError] | None = Field(None, description="validation errors: the fields at fault")


_DESCRIPTIONS = {
    401: "Not signed in, session expired, or an unknown / revoked API key",
    403: "Signed in, but the role may not do this (or a cookie request without X-Requested-With: firstline)",
    404: "Unknown id, or one that belongs to someone else",
    409: "The change clashes with the current state (already decided, a state change the lifecycle forbids)",
    413: "The request body (or the message) is too large",
    422: "Malformed body or parameter: `fields` names each one at fault",
    429: "Too many requests: wait the Retry-After seconds",
    503: "A backend (database, vector store, embedder) is unreachable",
}


def errors(*codes: int, **overrides: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry documenting these error codes with the one error body."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        description = overrides.get(f"e{code}", _DESCRIPTIONS[code])
        entry: dict[str, Any] = {"model": ErrorBody, "description": description}
        if code == 429:
            entry["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
        out[code] = entry
    return out


AUTH_ERRORS = (401, 422, 429)

# -- auth ---------------------------------------------------------------------------------------------


class LoginIn(_Body):
    email: str = Field(max_length=254, description="work e-mail address")
    password: str = Field(max_length=1024)


class UserOut(BaseModel):
    email: str
    name: str
    role: Literal["requester", "agent", "admin"]


class LoginOut(BaseModel):
    user: UserOut
    expires_at: str


class MeOut(UserOut):
    via: Literal["session", "api_key"]


# -- conversations ------------------------------------------------------------------------------------

MESSAGE_DESCRIPTION = "what the person typed (at most 8,000 characters; longer ones are refused, but stored)"


class AskIn(_Body):
    text: str = Field(description=MESSAGE_DESCRIPTION, max_length=200_000)
    user: str | None = Field(None, max_length=254, description="agents only: the employee this is for")
    conversation_id: str | None = Field(None, description="continue this conversation", max_length=64)


class NewConversationIn(_Body):
    user: str | None = Field(None, max_length=254, description="agents only: the employee this conversation is for")


class MessageIn(_Body):
    text: str = Field(description=MESSAGE_DESCRIPTION, max_length=200_000)
    user: str | None = Field(None, max_length=254, description="agents only: the employee this is for")
    stream: bool = Field(False, description="answer with Server-Sent Events as the turn runs")


class Citation(BaseModel):
    title: str
    section_path: str = Field(description="heading path, e.g. 'VPN keeps disconnecting > Steps'")
    section: str | None = Field(None, description="the same as section_path (kept for older clients)")
    source: str
    url: str | None = None
    href: str | None = Field(None, description="link to the runbook section: /kb/{chunk_id}#{anchor}")
    chunk_id: str
    score: float | None = None


class TicketCard(BaseModel):
    number: str
    state: str
    priority: int
    short_description: str
    assignment_group: str
    parent: str | None = None
    major_incident: bool = False


class AskOut(BaseModel):
    conversation_id: str
    agent: str
    intent: str
    reply: str
    reply_html: str = Field("", description="the reply as sanitised HTML (Markdown rendered: lists, links, code)")
    citations: list[Citation]
    ticket: TicketCard | None
    actions: list[dict[str, Any]] = Field(description="tool calls of this turn (agents only; empty for requesters)")
    status: str = Field(description="done | paused | waiting | failed | needs_identity | rejected")
    approval: dict[str, Any] | None
    known_incident: dict[str, Any] | None
    secondary: dict[str, Any] | None
    engine: str
    usage: dict[str, Any] = Field(default_factory=dict)
    topics: list[dict[str, Any]] = Field(
        default_factory=list,
        description="every problem raised in the conversation: id, intent, agent, status, ticket, summary",
    )
    awaiting: str | None = Field(
        None,
        description="what the reply waits for: code | choice | detail | confirmation | confirm_fix | secondary | "
        "offer_human | approval (null: nothing)",
    )


class EventOut(BaseModel):
    seq: int
    kind: str
    agent: str
    data: dict[str, Any]
    created_at: str


class ConversationSummary(BaseModel):
    conversation_id: str
    requester: str | None
    status: str
    agent: str
    intent: str
    ticket_number: str | None
    created_at: str
    updated_at: str
    title: str = Field("", description="the conversation's first message, shortened (My requests)")
    ticket_state: str | None = Field(None, description="the state of its ticket, when it has one")


class ConversationOut(ConversationSummary):
    ticket: TicketCard | None = None
    pending_approval: dict[str, Any] | None = None
    events: list[EventOut]


class ConversationList(BaseModel):
    conversations: list[ConversationSummary]


class OutboxMessage(BaseModel):
    channel: str
    code: str
    sent_at: str


class OutboxOut(BaseModel):
    messages: list[OutboxMessage]


# -- tickets and approvals ----------------------------------------------------------------------------


class TicketOut(TicketCard):
    requester: str
    requester_name: str = Field("", description="the requester's name where the accounts or directory know it")
    assignee_name: str = Field("", description="the assignee's name where known")
    specialist_name: str = Field("", description="the specialist as the console shows it (network -> Network)")
    description: str
    category: str
    specialist: str
    intent: str
    impact: int
    urgency: int
    assigned_to: str
    opened_at: str
    updated_at: str
    resolved_at: str | None
    closed_at: str | None
    due_at: str
    respond_by: str
    overdue: bool
    sla_used: float = Field(description="share of the resolution time used (1.0 = due now); frozen once resolved")
    tags: list[str]
    resolution_note: str


class EntryOut(BaseModel):
    kind: str
    author: str
    body: str
    created_at: str
    field: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    public: bool


class TicketDetail(TicketOut):
    history: list[EntryOut]
    conversation_id: str | None


class TicketList(BaseModel):
    tickets: list[TicketOut]
    truncated: bool = Field(False, description="a filtered or sorted page looked at the newest 10,000 tickets only")


class TicketCounts(BaseModel):
    open: int = Field(description="tickets new, in progress or on hold")
    unassigned: int = Field(description="open tickets nobody is assigned to")
    mine: int = Field(description="open tickets assigned to you")
    pending_approvals: int


class AssignIn(_Body):
    assignee: str | None = Field(
        max_length=254, description="an agent's or admin's e-mail (your own: assign to me); null: nobody"
    )
    group: str | None = Field(None, max_length=100, description="a new assignment group (optional)")


class CommentIn(_Body):
    body: str = Field(min_length=1, max_length=20_000)
    internal: bool = Field(False, description="a work note only the IT team sees (agents only)")


class CloseIn(_Body):
    note: str = Field(min_length=1, max_length=4000, description="why it is closed (the resolution note)")


class EscalateIn(_Body):
    group: str | None = Field(None, max_length=100, description="agents: the assignment group; requesters: ignored")
    summary: str = Field(min_length=1, max_length=4000, description="what the next person needs to know")


class MergeIn(_Body):
    into: str = Field(min_length=1, max_length=32, description="the ticket that stays open, e.g. INC0001234")


class ApprovalOut(BaseModel):
    id: str
    conversation_id: str
    tool: str
    arguments: dict[str, Any]
    requested_by: str
    approvers: list[str]
    status: str
    decided_by: str | None
    reason: str | None
    created_at: str | None
    decided_at: str | None
    requester: str | None = None
    ticket_number: str | None = None
    requester_name: str | None = None
    decided_by_name: str | None = None


class ApprovalList(BaseModel):
    approvals: list[ApprovalOut]


class DecisionIn(_Body):
    reason: str = Field("", max_length=2000, description="why (required to deny)")


class DenyIn(_Body):
    reason: str = Field(min_length=1, max_length=2000, description="why it is denied (the employee is told)")


# -- knowledge ------------------------------------------------------------------------------------------


class FailedDocumentOut(BaseModel):
    source: str = Field(description="the file's path under the folder it was ingested from (never a server path)")
    name: str
    reason: str = Field(description="why it could not be ingested")
    kind: Literal["parse_error", "unsupported", "unreadable"]
    failed_at: str | None = None
    size: int | None = None
    removable: bool = Field(False, description="an uploaded file an admin may remove")


class IngestOut(BaseModel):
    added: list[str]
    updated: list[str]
    unchanged: int
    removed: list[str]
    failed: list[FailedDocumentOut] = Field(description="files that could not be ingested, and why")
    chunks_embedded: int
    chunks_deleted: int
    seconds: float


class DocumentOut(BaseModel):
    source: str = Field(description="the file's path under the folder it was ingested from")
    name: str
    removable: bool = False
    documents: int
    chunks: int
    size: int
    ingested_at: str


class KnowledgeStatsOut(BaseModel):
    sources: int
    documents: int
    chunks: int
    vectors: int
    keyword_terms: int
    by_category: dict[str, int]
    store: str
    embedder: str
    files: list[DocumentOut]
    failed: list[FailedDocumentOut] = Field(default_factory=list, description="files that could not be ingested")


# -- admin --------------------------------------------------------------------------------------------------


class ApiKeyIn(_Body):
    name: str = Field(min_length=1, max_length=100, description="which integration uses it, e.g. teams-bot")
    role: Literal["requester", "agent", "admin"]
    subject: str | None = Field(None, max_length=254, description="requester keys: the person the key speaks for")


class ApiKeyOut(BaseModel):
    id: str
    name: str
    role: str
    subject: str | None
    created_at: str
    last_used_at: str | None
    revoked: bool


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="shown once: store it now")


class ApiKeyList(BaseModel):
    keys: list[ApiKeyOut]


class AnalyticsOut(BaseModel):
    window: dict[str, Any]
    metrics: dict[str, Any]
    definitions: dict[str, str]
