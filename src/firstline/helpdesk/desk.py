"""The helpdesk: one turn of a conversation, end to end, with nothing lost on the way.

:meth:`Helpdesk.ask` takes what a person typed and returns Firstline's reply::

    desk = Helpdesk(directory=..., tickets=SqlTicketing(url), triage=..., knowledge=...)
    reply = await desk.ask("I'm locked out", requester="ana.silva@nwmeridian.co.uk")
    reply.as_dict()  # conversation_id, agent, intent, reply, citations, ticket, actions, ...

What it guarantees:

* The user's message is stored before anything else happens, so a crash later loses nothing.
* Each tool call is logged before it runs (``tool_started``), and its result (``tool_finished``)
  commits in the same transaction as the ticket changes it made. Routing, ticket creation and
  incident linking commit together with the events that describe them; the reply, the saved run
  state and the transcript lines commit together before the reply is returned.
* The requester is who the channel says (``requester``), or whom they name by e-mail address when
  the channel does not know; nothing a message says verifies them — only the one-time code does.
* A destructive action pauses the conversation with an approval request (list owners approve
  distribution-list additions; anyone else on the service desk approves the rest, never the
  requester); :meth:`Helpdesk.decide` resumes it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace

from firstline.agents import Agent, Approval, Runner, RunState
from firstline.directory import DirectoryBackend
from firstline.directory.models import Person
from firstline.errors import (
    ConversationNotFoundError,
    InputError,
    PersonNotFoundError,
)
from firstline.helpdesk import slots
from firstline.helpdesk.agents import TRIAGE, build_agents
from firstline.helpdesk.incidents import IncidentLinker
from firstline.helpdesk.offline import OfflineEngine
from firstline.helpdesk.reply import DeskReply, ticket_card
from firstline.helpdesk.tools.deps import HelpdeskDeps, OneTimeCodes
from firstline.helpdesk.triage import MAX_CHARS, Triage
from firstline.helpdesk.turn import Turn
from firstline.knowledge.base import KnowledgeBase
from firstline.llm.messages import ChatModel
from firstline.ticketing import (
    Conversation,
    SqlTicketing,
    Ticket,
    TicketState,
)

__all__ = ["MAX_STORED_CHARS", "DeskReply", "Helpdesk"]

log = logging.getLogger(__name__)

MAX_STORED_CHARS = 200_000  # a refused over-long message is still kept, up to this much
_ASK_IDENTITY = "Before I can help I need to know who you are: what's your work e-mail address (name@nwmeridian.co.uk)?"
tracer = trace.get_tracer("firstline.helpdesk")
EventSink = Callable[[dict[str, Any]], None]


class Helpdesk:
    """Triage, the nine specialists, tickets and conversations behind one ``ask`` call."""

    def __init__(
        self,
        *,
        directory: DirectoryBackend,
        tickets: SqlTicketing,
        triage: Triage,
        knowledge: KnowledgeBase | None = None,
        engine: ChatModel | Callable[[Agent], ChatModel] | None = None,
        codes: OneTimeCodes | None = None,
        max_turns: int = 10,
        incident_window: timedelta = timedelta(hours=4),
        incident_threshold: int = 3,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.directory = directory
        self.tickets = tickets
        self.conversations = tickets.conversations
        self.triage = triage
        self.deps = HelpdeskDeps(directory, tickets, codes or OneTimeCodes(store=tickets.conversations), knowledge)
        self.engine: ChatModel | Callable[[Agent], ChatModel] = engine or OfflineEngine(triage)
        self.engine_name = getattr(self.engine, "name", "llm")
        self.agents = build_agents()
        offline = self.engine if isinstance(self.engine, OfflineEngine) else OfflineEngine(triage)
        self.runner = Runner(
            self.agents,
            self.engine,
            max_turns=max_turns,
            step_scope=tickets.unit_of_work,
            fallback=None if offline is self.engine else offline,
        )
        self.incidents = IncidentLinker(tickets, incident_window, incident_threshold)
        self._clock = clock

    # -- public API ------------------------------------------------------------------------------

    async def ask(
        self,
        text: str,
        *,
        requester: str | None = None,
        conversation_id: str | None = None,
        channel: str = "api",
        on_event: EventSink | None = None,
    ) -> DeskReply:
        """Handle one message; see the module docstring for what is stored when."""
        with tracer.start_as_current_span("firstline.turn", attributes={"firstline.channel": channel}) as span:
            reply = await self._ask(text, requester, conversation_id, channel, on_event)
            span.set_attributes({"firstline.conversation_id": reply.conversation_id, "firstline.agent": reply.agent,
                                 "firstline.intent": reply.intent, "firstline.status": reply.status})  # fmt: skip
            return reply

    async def _ask(
        self,
        text: str,
        requester: str | None,
        conversation_id: str | None,
        channel: str,
        on_event: EventSink | None,
    ) -> DeskReply:
        conversation = self._open(conversation_id, requester, channel)
        cid = conversation.id
        raw = text if isinstance(text, str) else ""
        problem = self.refusal(raw)
        if problem is not None:
            self._event(cid, "rejected_message", "desk", {"text": raw[:MAX_STORED_CHARS], "reason": problem})
            return self._plain(conversation, problem, "rejected")
        self._event(cid, "user_message", "desk", {"text": raw, "requester": requester})
        state = dict(conversation.state)

        person = self._requester(conversation, requester)
        if person is None:
            person, pending = self._identify(conversation, raw, state)
            if person is None:
                return self._plain(conversation, pending, "needs_identity", state=state)
            raw = state.pop("pending_text", None) or raw
        if conversation.status == "paused":
            return self._waiting(conversation)

        run_state = RunState.from_dict(state["run"]) if state.get("run") else None
        start = TRIAGE
        if run_state is not None and run_state.agent != TRIAGE and self._continues(raw, run_state.agent, state):
            start = run_state.agent
        offered = state.pop("secondary_offer_open", False)
        if state.get("secondary") and offered and slots.affirmative(raw):
            raw, start = str(state.pop("secondary")["text"]), TRIAGE
        elif start == TRIAGE:
            state.pop("secondary", None)
            state.pop("secondary_offered", None)
        turn = Turn(self, conversation, person, state, on_event)
        turn.request_text = raw
        if start == TRIAGE:
            turn.triage = self.triage.classify(raw, vip=person.vip)
            turn.note_injection(raw)
        context = turn.context(run_state)
        try:
            if run_state is not None and start != run_state.agent:
                run_state.agent = start
            result = await self.runner.run(start, raw, context, run_state, on_event=turn.on_event)
        except Exception as exc:  # the engine or a backend failed: keep the message, tell the user plainly
            log.exception("turn failed in conversation %s", cid)
            return turn.failed(exc)
        return turn.finish(result.state, context, raw)

    async def decide(
        self, approval_id: str, *, approved: bool, decided_by: str, reason: str = "", on_event: EventSink | None = None
    ) -> DeskReply:
        """Approve or deny a pending action, then continue the paused conversation."""
        record = self.conversations.approval(approval_id)
        who = decided_by.strip().lower()
        if record.status != "pending":
            raise InputError(f"Approval {record.id} was already {record.status} by {record.decided_by}.")
        if who == record.requested_by.lower():
            raise InputError("You can't approve your own request: another member of the service desk must decide.")
        if record.approvers and who not in record.approvers:
            raise InputError(f"Only {', '.join(record.approvers)} may decide this request ({record.tool}).")
        conversation = self.conversations.get(record.conversation_id)
        state = dict(conversation.state)
        run_state = RunState.from_dict(state["run"])
        person = self._requester(conversation, None)
        if person is None:  # pragma: no cover - a paused conversation always has a known requester
            raise ConversationNotFoundError("conversation", conversation.id)
        turn = Turn(self, conversation, person, state, on_event)
        context = turn.context(run_state)
        context.approvals[record.id] = Approval(record.id, record.tool, record.arguments, record.requested_by)
        with self.tickets.unit_of_work():
            decided = self.conversations.decide(record.id, approved, who, reason)
            self._event(conversation.id, "approval_decided", run_state.agent, decided.as_dict())
            turn.ticket_update(TicketState.IN_PROGRESS, f"{record.tool} {decided.status} by {who}: {reason}".strip())
        try:
            result = await self.runner.resume(run_state, context, approved, who, reason, on_event=turn.on_event)
        except Exception as exc:
            log.exception("resume failed in conversation %s", conversation.id)
            return turn.failed(exc)
        return turn.finish(result.state, context, None)

    def transcript(self, conversation_id: str, requester: str | None = None) -> list[dict[str, Any]]:
        conversation = self.conversations.get(conversation_id)
        if requester is not None and conversation.requester not in (None, requester.strip().lower()):
            raise ConversationNotFoundError("conversation", conversation_id)
        return [e.as_dict() for e in self.conversations.events(conversation_id)]

    # -- steps -----------------------------------------------------------------------------------

    def _open(self, conversation_id: str | None, requester: str | None, channel: str) -> Conversation:
        if not conversation_id:
            return self.conversations.create(requester, channel)
        conversation = self.conversations.get(conversation_id)
        if requester and conversation.requester and conversation.requester != requester.strip().lower():
            raise ConversationNotFoundError("conversation", conversation_id)  # never reveal someone else's
        return conversation

    @staticmethod
    def refusal(text: str) -> str | None:
        """Why a message is refused before any work (empty, or over 8,000 characters); None when it is fine."""
        if not text.strip():
            return "Your message is empty. Tell me what's wrong, e.g. 'my VPN drops every few minutes'."
        if len(text) > MAX_CHARS:
            return (
                f"Your message is {len(text):,} characters long and I can take at most {MAX_CHARS:,}. Send the key "
                "part first (what you were doing and the exact error); I've kept what you sent with this conversation."
            )
        return None

    def _requester(self, conversation: Conversation, requester: str | None) -> Person | None:
        email = conversation.requester or (requester.strip().lower() if requester else None)
        if email is None:
            return None
        try:
            person = self.directory.person(email)
        except PersonNotFoundError:
            return None
        if conversation.requester is None:
            self.conversations.save(conversation.id, requester=person.email)
        return person

    def _identify(self, conversation: Conversation, text: str, state: dict[str, Any]) -> tuple[Person | None, str]:
        """Find the requester from an e-mail address they typed; otherwise the question to ask."""
        for email in slots.emails(text):
            try:
                person = self.directory.person(email)
            except PersonNotFoundError:
                continue
            if not person.is_current:
                return None, "That account belongs to someone who has left. Please call the service desk on 4357."
            self.conversations.save(conversation.id, requester=person.email)
            if text.strip().lower() != email:
                state.setdefault("pending_text", text)
            return person, ""
        if slots.emails(text):
            return None, (
                f"I can't find {slots.emails(text)[0]} in the company directory. Check the spelling, or call the "
                "service desk on 4357 if you're new and not set up yet."
            )
        state.setdefault("pending_text", text)
        return None, _ASK_IDENTITY

    def _continues(self, text: str, agent: str, state: dict[str, Any]) -> bool:
        """Whether a new message continues the current specialist's work rather than starting anew."""
        if slots.code(text) or slots.affirmative(text) or slots.negative(text) or len(text.split()) <= 6:
            return True
        result = self.triage.classify(text)
        return result.clarify is not None or result.agent == agent or result.agent not in self.agents

    def _plain(
        self, conversation: Conversation, text: str, status: str, state: dict[str, Any] | None = None
    ) -> DeskReply:
        with self.tickets.unit_of_work():
            if state is not None:
                self.conversations.save(conversation.id, state=state)
            self._event(conversation.id, "assistant_message", "desk", {"text": text, "status": status})
        return DeskReply(conversation.id, conversation.agent, conversation.intent, text, status, engine="desk")

    def _waiting(self, conversation: Conversation) -> DeskReply:
        pending = self.conversations.approvals("pending", conversation.id)
        what = pending[0].tool.replace("_", " ") if pending else "your last request"
        text = (
            f"Your request to {what} is still waiting for a person to approve it. I'll carry on as soon as they "
            "decide; you don't need to do anything."
        )
        reply = self._plain(conversation, text, "waiting")
        reply.approval = pending[0].as_dict() if pending else None
        reply.ticket = ticket_card(self.ticket_or_none(conversation.ticket_number))
        return reply

    def ticket_or_none(self, number: str | None) -> Ticket | None:
        """The ticket, or None when there is none or it cannot be loaded (a reply never fails for it)."""
        if not number:
            return None
        try:
            return self.tickets.get(number)
        except Exception:  # a missing ticket must not break the reply
            log.warning("conversation ticket %s could not be loaded", number)
            return None

    def _event(self, cid: str, kind: str, agent: str, data: dict[str, Any]) -> None:
        self.conversations.append(cid, kind, agent, json.loads(json.dumps(data, default=str)))
