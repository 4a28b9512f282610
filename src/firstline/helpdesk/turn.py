"""One turn's bookkeeping for :class:`~firstline.helpdesk.desk.Helpdesk`: the run context and briefing, the
event sink (tickets on routing, approvals, failures), and the final commit of reply, state and transcript."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from firstline.agents import RunContext, RunEvent, RunState
from firstline.directory.models import Person
from firstline.errors import DirectoryEntryNotFoundError, PersonNotFoundError
from firstline.helpdesk.agents import TRIAGE
from firstline.helpdesk.incidents import Linked, matches, site_of
from firstline.helpdesk.offline import FOLLOW_UP, OfflineEngine
from firstline.helpdesk.reply import DeskReply, add_usage, citations, ticket_card, usage_of
from firstline.helpdesk.triage import TriageResult
from firstline.ticketing import (
    ApprovalRecord,
    Conversation,
    Impact,
    NewTicket,
    Ticket,
    TicketState,
    TicketUpdate,
    Urgency,
)

if TYPE_CHECKING:
    from firstline.helpdesk.desk import EventSink, Helpdesk

__all__ = ["Turn"]

NO_TICKET = {"lookup", "ticket"}  # questions and ticket look-ups: a ticket only if escalated


class Turn:
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
        # A language model's model_call events wait here and are written with the next event (same
        # transaction): they are accounting, not actions, and this saves a commit per call. Always flushed
        # before the reply. The offline engine's are not stored (no tokens, no cost; the reply names it).
        self.unwritten: list[RunEvent] = []

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
        if event.kind == "model_call":
            if event.data.get("model") != OfflineEngine.name:
                self.unwritten.append(event)
        elif event.kind == "routed" and event.agent != TRIAGE:
            with self.desk.tickets.unit_of_work():
                self._event(event)
                if event.agent != self.routed_to:  # a turn restarted on the fallback engine routes again
                    self._routed(event.agent, context)
                    self.routed_to = event.agent
        elif event.kind == "approval_needed":
            with self.desk.tickets.unit_of_work():
                self._event(event)
                self._approval(event, context)
        elif event.kind == "tool_finished" and not event.data.get("ok", True):
            with self.desk.tickets.unit_of_work():  # joins the tool's own step when inside one
                self._event(event)
                if context.ticket_number:
                    self.desk.tickets.comment(
                        context.ticket_number,
                        f"Tool {event.data.get('tool')} failed: {event.data.get('error')}",
                        author="firstline",
                        internal=True,
                    )
        elif event.kind != "message":  # the reply is stored with the final state in finish()
            with self.desk.tickets.unit_of_work():
                self._event(event)
        if self.sink is not None:
            self.sink(event.as_dict())

    def _event(self, event: RunEvent | None) -> None:
        """Store ``event`` after any model calls still waiting (call inside a unit of work)."""
        waiting, self.unwritten = self.unwritten, []
        for item in [*waiting, *([event] if event is not None else [])]:
            self.desk._event(self.cid, item.kind, item.agent, item.data)

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
        if agent in NO_TICKET:
            self.ticket_number = context.ticket_number = None
            context.briefing.pop("ticket", None)
            return
        site = site_of(self.person)
        linked = desk.incidents.existing_parent(intent, site)
        if linked is None:
            phone = desk.directory.phone_of(self.person.id)
            known = next(
                (i for i in desk.directory.incidents() if matches(i, intent, self.person, phone, request)),
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
        turn_usage = usage_of(e.data for e in self.events if e.kind == "model_call")
        total = add_usage(dict(self.state.get("usage") or {}), turn_usage)
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
            self._event(None)
            desk.conversations.save(
                self.cid,
                state=self.state,
                status="paused" if status == "paused" else "active",
                agent=run_state.agent if run_state.agent != TRIAGE else self.agent,
                intent=self.intent,
                ticket_number=self.ticket_number,
            )
            desk._event(self.cid, "assistant_message", run_state.agent, {"text": reply, "status": status})
            ticket = desk.ticket_or_none(self.ticket_number)
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
            citations=citations(self.events, reply),
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
            self._event(None)
            desk._event(self.cid, "error", "desk", {"error": f"{type(exc).__name__}: {exc}"[:2000]})
            desk._event(self.cid, "assistant_message", "desk", {"text": text, "status": "failed"})
        turn_usage = usage_of(e.data for e in self.events if e.kind == "model_call")
        return DeskReply(
            self.cid,
            self.agent,
            self.intent,
            text,
            "failed",
            engine=", ".join(turn_usage["models"]) or desk.engine_name,
            usage={"turn": turn_usage},
        )


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 150 else line[:147].rsplit(" ", 1)[0] + "..."
