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
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from firstline.agents import Agent, Approval, RunContext, RunEvent, Runner, RunState
from firstline.directory import DirectoryBackend
from firstline.directory.models import Person
from firstline.errors import (
    ConversationNotFoundError,
    DirectoryEntryNotFoundError,
    InputError,
    PersonNotFoundError,
)
from firstline.helpdesk import slots
from firstline.helpdesk.agents import TRIAGE, build_agents
from firstline.helpdesk.incidents import IncidentLinker, Linked, site_of
from firstline.helpdesk.offline import FOLLOW_UP, OfflineEngine
from firstline.helpdesk.tools.deps import HelpdeskDeps, OneTimeCodes
from firstline.helpdesk.triage import MAX_CHARS, Triage, TriageResult
from firstline.knowledge.base import KnowledgeBase
from firstline.llm.messages import ChatModel
from firstline.ticketing import (
    ApprovalRecord,
    Conversation,
    Impact,
    NewTicket,
    SqlTicketing,
    Ticket,
    TicketState,
    TicketUpdate,
    Urgency,
)

__all__ = ["MAX_STORED_CHARS", "DeskReply", "Helpdesk"]

log = logging.getLogger(__name__)

MAX_STORED_CHARS = 200_000  # a refused over-long message is still kept, up to this much
_NO_TICKET = {"lookup", "ticket"}  # questions and ticket look-ups: a ticket only if escalated
_ASK_IDENTITY = "Before I can help I need to know who you are: what's your work e-mail address (name@nwmeridian.co.uk)?"
EventSink = Callable[[dict[str, Any]], None]


@dataclass
class DeskReply:
    """What one turn produced, as ``firstline ask --json`` and ``POST /v1/ask`` return it."""

    conversation_id: str
    agent: str
    intent: str
    reply: str
    status: str = "done"  # done | paused | failed | needs_identity | rejected | waiting
    citations: list[dict[str, Any]] = field(default_factory=list)
    ticket: dict[str, Any] | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    approval: dict[str, Any] | None = None
    known_incident: dict[str, Any] | None = None
    secondary: dict[str, Any] | None = None
    engine: str = ""
    usage: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "agent": self.agent,
            "intent": self.intent,
            "reply": self.reply,
            "citations": self.citations,
            "ticket": self.ticket,
            "actions": self.actions,
            "status": self.status,
            "approval": self.approval,
            "known_incident": self.known_incident,
            "secondary": self.secondary,
            "engine": self.engine,
            "usage": self.usage,
        }


def ticket_card(ticket: Ticket | None) -> dict[str, Any] | None:
    if ticket is None:
        return None
    return {
        "number": ticket.number,
        "state": ticket.state.value,
        "priority": int(ticket.priority),
        "short_description": ticket.short_description,
        "assignment_group": ticket.assignment_group,
        "parent": ticket.parent_number,
        "major_incident": "major_incident" in ticket.tags,
    }


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
        conversation = self._open(conversation_id, requester, channel)
        cid = conversation.id
        raw = text if isinstance(text, str) else ""
        problem = self._invalid(raw)
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
        turn = _Turn(self, conversation, person, state, on_event)
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
        turn = _Turn(self, conversation, person, state, on_event)
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

    def check_access(self, conversation_id: str, requester: str | None) -> None:
        """Raise ConversationNotFoundError unless ``requester`` may continue this conversation."""
        self._open(conversation_id, requester, "api")

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
    def _invalid(text: str) -> str | None:
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
        reply.ticket = ticket_card(self._ticket(conversation.ticket_number))
        return reply

    def _ticket(self, number: str | None) -> Ticket | None:
        if not number:
            return None
        try:
            return self.tickets.get(number)
        except Exception:  # a missing ticket must not break the reply
            log.warning("conversation ticket %s could not be loaded", number)
            return None

    def _event(self, cid: str, kind: str, agent: str, data: dict[str, Any]) -> None:
        self.conversations.append(cid, kind, agent, json.loads(json.dumps(data, default=str)))


class _Turn:
    """One turn's bookkeeping: the run context, the event sink, tickets and the final commit."""

    def __init__(
        self,
        desk: Helpdesk,
        conversation: Conversation,
        person: Person,
        state: dict[str, Any],
        on_event: EventSink | None,
    ) -> None:
        self.desk = desk
        self.conversation = conversation
        self.cid = conversation.id
        self.person = person
        self.state = state
        self.sink = on_event
        self.triage: TriageResult | None = None
        self.ticket_number: str | None = conversation.ticket_number
        self.known: dict[str, Any] | None = state.get("known_incident")
        self.events: list[RunEvent] = []
        self.agent = conversation.agent
        self.intent = conversation.intent
        self.context_ref: RunContext | None = None
        self.request_text = ""
        self.routed_to: str | None = None

    # -- context ---------------------------------------------------------------------------------

    def context(self, run_state: RunState | None) -> RunContext:
        person = self.person
        briefing: dict[str, Any] = {
            "requester_name": person.name,
            "requester_email": person.email,
            "requester_location": f"{person.location}" + (f" floor {person.floor}" if person.floor else ""),
            "vip": person.vip,
            "identity_verified": bool(self.state.get("verified")),
        }
        if self.ticket_number:
            briefing["ticket"] = self.ticket_number
        for key in ("request", "specialist", "intent", "tier2_group"):
            if key in self.state:
                briefing[key] = self.state[key]
        if self.known:
            briefing["known_incident"] = self.known
        context = RunContext(
            person.email,
            self.cid,
            verified=bool(self.state.get("verified")),
            deps=self.desk.deps,
            briefing=briefing,
            ticket_number=self.ticket_number,
        )
        self.context_ref = context
        return context

    def note_injection(self, text: str) -> None:
        if self.triage is not None and self.triage.injection:
            self.state["injection_suspected"] = True
            self.desk._event(self.cid, "injection_suspected", "desk", {"text": text[:2000]})

    # -- events ----------------------------------------------------------------------------------

    def on_event(self, event: RunEvent) -> None:
        self.events.append(event)
        context = self.context_ref
        assert context is not None
        if event.kind == "routed" and event.agent != TRIAGE:
            with self.desk.tickets.unit_of_work():
                self.desk._event(self.cid, event.kind, event.agent, event.data)
                if event.agent != self.routed_to:  # a turn restarted on the fallback engine routes again
                    self._routed(event.agent, context)
                    self.routed_to = event.agent
        elif event.kind == "approval_needed":
            with self.desk.tickets.unit_of_work():
                self.desk._event(self.cid, event.kind, event.agent, event.data)
                self._approval(event, context)
        elif event.kind == "tool_finished" and not event.data.get("ok", True):
            with self.desk.tickets.unit_of_work():  # joins the tool's own step when inside one
                self.desk._event(self.cid, event.kind, event.agent, event.data)
                if context.ticket_number:
                    self.desk.tickets.comment(
                        context.ticket_number,
                        f"Tool {event.data.get('tool')} failed: {event.data.get('error')}",
                        author="firstline",
                        internal=True,
                    )
        elif event.kind != "message":  # the reply is stored with the final state in finish()
            self.desk._event(self.cid, event.kind, event.agent, event.data)
        if self.sink is not None:
            self.sink(event.as_dict())

    def _routed(self, agent: str, context: RunContext) -> None:
        """A specialist took the problem: open (or link) its ticket and brief the specialist."""
        desk = self.desk
        taxonomy = desk.triage.taxonomy
        result = self.triage
        request = self.request_text
        intent = (
            result.intent
            if result is not None and result.agent == agent
            else desk.triage.intent_for(request or agent, agent)
        )
        specialist = taxonomy.specialists[agent]
        self.agent, self.intent = agent, intent
        self.known = None
        self.state.update(request=request, specialist=agent, intent=intent, tier2_group=specialist.assignment_group)
        context.briefing.update(
            request=request, specialist=agent, intent=intent, tier2_group=specialist.assignment_group
        )
        context.briefing.pop("known_incident", None)
        if result is not None and result.secondary is not None:
            second_agent, second_intent, second_text = result.secondary
            self.state["secondary"] = {"agent": second_agent, "intent": second_intent, "text": second_text}
        if agent in _NO_TICKET:
            self.ticket_number = context.ticket_number = None
            context.briefing.pop("ticket", None)
            return
        site = site_of(self.person)
        linked = desk.incidents.existing_parent(intent, site)
        if linked is None:
            phone = desk.directory.phone_of(self.person.id)
            known = next(
                (i for i in desk.directory.incidents() if _matches(i, intent, self.person, phone, request)),
                None,
            )
            if known is not None:
                linked = desk.incidents.for_known(known, intent, agent, site)
        if linked is not None:
            self._link_reporter(linked, request, context)
            return
        assessment = result.assessment if result is not None else None
        ticket = desk.tickets.create(
            NewTicket(
                requester=self.person.email,
                short_description=_short(request),
                description=request,
                category=agent,
                specialist=agent,
                intent=intent,
                impact=Impact(assessment.impact) if assessment else Impact.LOW,
                urgency=Urgency(assessment.urgency) if assessment else Urgency.MEDIUM,
                assignment_group=specialist.assignment_group,
                correlation_id=f"{self.cid}:{uuid.uuid4().hex[:8]}",
                tags=[site.tag, f"intent:{intent}"],
            )
        )
        self._set_ticket(ticket, context)
        desk._event(self.cid, "ticket_change", "desk", {"action": "opened", "ticket": ticket_card(ticket)})
        if self.state.get("injection_suspected"):
            desk.tickets.comment(
                ticket.number,
                "The message contained text that looks like instructions to the assistant; it was treated as the "
                "requester's own request and nothing outside their own account was changed.",
                author="firstline",
                internal=True,
            )
        cluster = desk.incidents.cluster(ticket, site, desk._clock())
        if cluster is not None:
            self._brief_known(cluster, context)
            desk._event(
                self.cid, "ticket_change", "desk", {"action": "major_incident", "ticket": ticket_card(cluster.parent)}
            )

    def _link_reporter(self, linked: Linked, request: str, context: RunContext) -> None:
        parent = linked.parent
        self.desk.tickets.comment(
            parent.number,
            f"Also affected: {self.person.name} <{self.person.email}> ({site_of(self.person).tag}): {request[:500]}",
            author="firstline",
            internal=True,
        )
        self._set_ticket(parent, context)
        self._brief_known(linked, context)
        self.desk._event(
            self.cid, "ticket_change", "desk", {"action": "linked_to_incident", "ticket": ticket_card(parent)}
        )

    def _brief_known(self, linked: Linked, context: RunContext) -> None:
        self.known = {
            "number": linked.parent.number,
            "title": linked.title,
            "team": linked.team,
            "workaround": linked.workaround,
            "update_eta": linked.update_eta,
        }
        context.briefing["known_incident"] = self.known

    def _set_ticket(self, ticket: Ticket, context: RunContext) -> None:
        self.ticket_number = context.ticket_number = ticket.number
        context.briefing["ticket"] = ticket.number

    def _approval(self, event: RunEvent, context: RunContext) -> None:
        approval_id = str(event.data["approval"])
        tool = str(event.data["tool"])
        arguments = dict(event.data.get("arguments") or {})
        approvers: tuple[str, ...] = ()
        if tool == "add_to_distribution_list" and arguments.get("address"):
            approvers = self._list_owners(str(arguments["address"]))
        record = self.desk.conversations.add_approval(
            ApprovalRecord(approval_id, self.cid, tool, arguments, self.person.email, approvers)
        )
        event.data["approvers"] = list(record.approvers)
        self.ticket_number = context.ticket_number or self.ticket_number
        self.ticket_update(TicketState.ON_HOLD, f"Waiting for approval {approval_id}: {tool} {arguments}")

    def _list_owners(self, address: str) -> tuple[str, ...]:
        directory = self.desk.directory
        if "@" not in address:
            address = f"{address}@{self.person.email.split('@', 1)[1]}"
        try:
            owners = directory.distribution_list(address).owners
        except DirectoryEntryNotFoundError:
            return ()
        emails = []
        for owner in owners:
            try:
                person = directory.person(owner)
            except PersonNotFoundError:
                continue
            if person.is_current:
                emails.append(person.email.lower())
        return tuple(emails)

    def ticket_update(self, state: TicketState, note: str) -> None:
        number = self.ticket_number
        if not number:
            return
        ticket = self.desk.tickets.get(number)
        if ticket.requester != self.person.email.lower() or ticket.state == state:
            return
        if state in ticket.state.allowed_next:
            self.desk.tickets.update(number, TicketUpdate(state=state), author="firstline")
        self.desk.tickets.comment(number, note, author="firstline", internal=True)

    # -- the end of the turn ---------------------------------------------------------------------

    def finish(self, run_state: RunState, context: RunContext, user_text: str | None) -> DeskReply:
        desk = self.desk
        reply = next((str(e.data["text"]) for e in reversed(self.events) if e.kind == "message"), "")
        secondary = self.state.get("secondary")
        open_question = FOLLOW_UP in reply  # one question at a time: "did that fix it?" comes first
        if run_state.status == "done" and secondary and not self.state.get("secondary_offered") and not open_question:
            label = desk.triage.taxonomy.specialists.get(secondary["agent"])
            reply += (
                f'\n\nYou also mentioned: "{secondary["text"]}". Shall I look at that next'
                f"{f' ({label.name.lower()})' if label else ''}? Reply 'yes' and I'll start."
            )
            self.state["secondary_offered"] = True
            self.state["secondary_offer_open"] = True
        self.state["run"] = run_state.as_dict()
        self.state["verified"] = context.verified
        turn_usage = _usage(e.data for e in self.events if e.kind == "model_call")
        total = _add_usage(dict(self.state.get("usage") or {}), turn_usage)
        self.state["usage"] = total
        answered_by = ", ".join(turn_usage["models"]) or desk.engine_name
        self.ticket_number = context.ticket_number or self.ticket_number
        status = {"paused": "paused", "failed": "failed"}.get(run_state.status, "done")
        pending = desk.conversations.approvals("pending", self.cid) if status == "paused" else []
        if self.known is not None:
            self.state["known_incident"] = self.known
        else:
            self.state.pop("known_incident", None)
        with desk.tickets.unit_of_work():
            desk.conversations.save(
                self.cid,
                state=self.state,
                status="paused" if status == "paused" else "active",
                agent=run_state.agent if run_state.agent != TRIAGE else self.agent,
                intent=self.intent,
                ticket_number=self.ticket_number,
            )
            desk._event(self.cid, "assistant_message", run_state.agent, {"text": reply, "status": status})
            ticket = desk._ticket(self.ticket_number)
            if ticket is not None and ticket.requester == self.person.email.lower():
                lines = ([(self.person.email, user_text)] if user_text else []) + [(f"firstline[{answered_by}]", reply)]
                desk.tickets.add_transcript(ticket.number, lines)
        actions = [
            {
                "tool": a["tool"],
                "arguments": a["arguments"],
                "outcome": a["outcome"],
                "result": a["result"][:2000],
                "approved_by": a["approved_by"],
            }
            for a in context.audit
        ]
        return DeskReply(
            self.cid,
            run_state.agent,
            self.intent,
            reply,
            status,
            citations=_citations(self.events, reply),
            ticket=ticket_card(ticket),
            actions=actions,
            approval=pending[0].as_dict() if pending else None,
            known_incident=self.known,
            secondary=secondary if isinstance(secondary, dict) else None,
            engine=answered_by,
            usage={"turn": turn_usage, "conversation": total},
        )

    def failed(self, exc: Exception) -> DeskReply:
        desk = self.desk
        text = (
            "Sorry, something went wrong on my side and I couldn't finish this. Your message is saved with this "
            f"conversation ({self.cid}); try again in a minute, or call the service desk on 4357."
        )
        with desk.tickets.unit_of_work():
            desk._event(self.cid, "error", "desk", {"error": f"{type(exc).__name__}: {exc}"[:2000]})
            desk._event(self.cid, "assistant_message", "desk", {"text": text, "status": "failed"})
        turn_usage = _usage(e.data for e in self.events if e.kind == "model_call")
        return DeskReply(
            self.cid,
            self.agent,
            self.intent,
            text,
            "failed",
            engine=", ".join(turn_usage["models"]) or desk.engine_name,
            usage={"turn": turn_usage},
        )


def _matches(incident: Any, intent: str, person: Person, phone: Any, request: str) -> bool:
    from firstline.helpdesk.incidents import matches

    return matches(incident, intent, person, phone, request)


def _usage(calls: Any) -> dict[str, Any]:
    """Tokens, cost and latency of one turn's model calls, and which models answered."""
    out: dict[str, Any] = {
        "calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0, "cost_usd": 0.0,
        "model_ms": 0.0, "models": [], "fallbacks": [], "first_token_ms": [],
    }  # fmt: skip
    for call in calls:
        out["calls"] += 1
        for key in ("prompt_tokens", "completion_tokens", "cached_tokens"):
            out[key] += int(call.get(key) or 0)
        out["cost_usd"] += float(call.get("cost_usd") or 0.0)
        out["model_ms"] += float(call.get("latency_ms") or 0.0)
        if call.get("model") and call["model"] not in out["models"]:
            out["models"].append(call["model"])
        out["fallbacks"] += list(call.get("fallbacks") or [])
        if call.get("first_token_ms") is not None:
            out["first_token_ms"].append(call["first_token_ms"])
    out["cost_usd"] = round(out["cost_usd"], 6)
    out["model_ms"] = round(out["model_ms"], 2)
    return out


def _add_usage(total: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
    merged = dict(total)
    for key in ("calls", "prompt_tokens", "completion_tokens", "cached_tokens"):
        merged[key] = int(merged.get(key, 0)) + int(turn[key])
    merged["cost_usd"] = round(float(merged.get("cost_usd", 0.0)) + turn["cost_usd"], 6)
    merged["models"] = sorted(set(merged.get("models", [])) | set(turn["models"]))
    return merged


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 150 else line[:147].rsplit(" ", 1)[0] + "..."


def _citations(events: list[RunEvent], reply: str) -> list[dict[str, Any]]:
    """The runbook sections behind the reply: the top hit of each search, and any other hit it names."""
    out: list[dict[str, Any]] = []
    for event in events:
        if event.kind != "tool_finished" or event.data.get("tool") != "kb_search" or not event.data.get("ok"):
            continue
        try:
            hits = json.loads(str(event.data.get("result", "[]")))
        except ValueError:
            continue
        for rank, hit in enumerate(hits if isinstance(hits, list) else []):
            if rank == 0 or str(hit.get("title", "")) in reply:
                citation = {"title": hit.get("title"), "section": hit.get("section"), "source": hit.get("source")}
                if citation not in out:
                    out.append(citation)
    return out
