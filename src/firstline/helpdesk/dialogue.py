"""Explicit dialogue state: the topics a conversation raised and the question Firstline is waiting on.

Stored with the conversation (``Conversation.state["dialogue"]``) and read before anything else,
so every message is understood against it: an answer to the pending question, a dialogue act
(thanks, a person please, cancel, ...) or a new topic. Switching topic never loses the earlier
one: each topic keeps its own run (the agent's messages and tool results), its ticket and its
status, and the employee can go back to it.

::

    Dialogue
    ├── topics: [Topic(id=1, intent=account_unlock, status=resolved, ticket=INC0000001, run={...}),
    │            Topic(id=2, intent=vpn_drops, status=awaiting_confirmation, ticket=INC0000002, run={...})]
    ├── current: 2
    └── pending: Pending(kind="confirm_fix", topic=2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast

__all__ = ["OPEN", "Dialogue", "Pending", "PendingKind", "Topic", "TopicStatus"]

TopicStatus = Literal[
    "open",
    "awaiting_code",
    "awaiting_choice",
    "awaiting_approval",
    "awaiting_confirmation",
    "resolved",
    "escalated",
    "cancelled",
    "refused",
    "rejected",
]
# What Firstline asked last, and so how it reads the next message.
PendingKind = Literal[
    "code",  # a one-time code
    "choice",  # which device / printer / ticket
    "detail",  # more words about the problem (triage was unsure)
    "confirmation",  # a yes/no the engine asked (close this ticket? pass it to a person?)
    "confirm_fix",  # "did that fix it?"
    "secondary",  # "you also mentioned X: shall I look at that next?"
    "offer_human",  # "shall I pass this to a person?"
    "approval",  # waiting for a person to approve
]
OPEN: frozenset[str] = frozenset(
    {"open", "awaiting_code", "awaiting_choice", "awaiting_approval", "awaiting_confirmation"}
)


@dataclass
class Topic:
    """One problem or question the employee raised."""

    id: int
    text: str  # what they said about it (the request that opened it, plus details added)
    agent: str = ""  # the specialist handling it ("" until routed)
    intent: str = ""
    status: TopicStatus = "open"
    ticket: str | None = None
    run: dict[str, Any] | None = None  # the topic's RunState, so going back resumes it
    last_reply: str = ""
    waiting: str = ""  # the pending question's kind when the conversation moved on (restored on "back")
    confirmed: list[str] = field(default_factory=list)  # actions the employee confirmed, e.g. close_ticket:INC0000012
    known: dict[str, Any] | None = None  # the known incident the topic is linked to
    cited: list[str] = field(default_factory=list)  # the runbook passages (chunk ids) its answers came from

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def label(self) -> str:
        """A short name for the topic an employee recognises: their own words."""
        words = " ".join(self.text.split())
        return words if len(words) <= 70 else words[:67].rsplit(" ", 1)[0] + "..."

    def public(self) -> dict[str, Any]:
        """What the reply and the API show of it."""
        return {
            "id": self.id,
            "intent": self.intent,
            "agent": self.agent,
            "status": self.status,
            "ticket": self.ticket,
            "summary": self.label(),
        }

    def as_dict(self) -> dict[str, Any]:
        return {**self.public(), "text": self.text, "run": self.run, "last_reply": self.last_reply,
                "waiting": self.waiting, "confirmed": self.confirmed, "known": self.known,
                "cited": self.cited}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Topic:
        return cls(
            int(data["id"]),
            str(data.get("text") or ""),
            str(data.get("agent") or ""),
            str(data.get("intent") or ""),
            data.get("status") or "open",
            data.get("ticket"),
            data.get("run"),
            str(data.get("last_reply") or ""),
            str(data.get("waiting") or ""),
            list(data.get("confirmed") or ()),
            data.get("known"),
            [str(c) for c in data.get("cited") or ()],
        )


@dataclass
class Pending:
    """The question Firstline is waiting on, and the topic it belongs to."""

    kind: PendingKind
    topic: int | None = None
    target: str = ""  # what a confirmation is about, e.g. "close_ticket:INC0000012"

    @classmethod
    def resume(cls, topic: Topic) -> Pending | None:
        """The question a topic was waiting on when the conversation moved away from it."""
        return cls(cast(PendingKind, topic.waiting), topic.id) if topic.waiting else None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "topic": self.topic, "target": self.target}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Pending | None:
        if not data:
            return None
        return cls(data["kind"], data.get("topic"), str(data.get("target") or ""))


@dataclass
class Dialogue:
    """The conversation's topics, the current one, and the pending question."""

    topics: list[Topic] = field(default_factory=list)
    current: int | None = None
    pending: Pending | None = None
    last_reply: str = ""
    refused_for: bool = False  # the last reply refused a request under way as someone else's (the next message only)

    def topic(self, topic_id: int | None) -> Topic | None:
        return next((t for t in self.topics if t.id == topic_id), None)

    @property
    def active(self) -> Topic | None:
        """The topic being worked on now."""
        return self.topic(self.current)

    def open_topics(self, but: Topic | None = None) -> list[Topic]:
        return [t for t in self.topics if t.is_open and t is not but]

    def new_topic(self, text: str) -> Topic:
        topic = Topic(max((t.id for t in self.topics), default=0) + 1, text)
        self.topics.append(topic)
        self.current = topic.id
        return topic

    def expects_code(self) -> bool:
        """Whether a one-time code is awaited (asked for now, or by a topic the conversation moved away from)."""
        return (self.pending is not None and self.pending.kind == "code") or any(
            t.status == "awaiting_code" for t in self.topics
        )

    def earlier_open(self) -> Topic | None:
        """The most recent open topic other than the current one (where "go back" goes)."""
        return next((t for t in reversed(self.topics) if t.is_open and t.id != self.current), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "topics": [t.as_dict() for t in self.topics],
            "current": self.current,
            "pending": self.pending.as_dict() if self.pending else None,
            "last_reply": self.last_reply,
            **({"refused_for": True} if self.refused_for else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Dialogue:
        if not data:
            return cls()
        return cls(
            [Topic.from_dict(t) for t in data.get("topics") or ()],
            data.get("current"),
            Pending.from_dict(data.get("pending")),
            str(data.get("last_reply") or ""),
            bool(data.get("refused_for")),
        )
