"""One turn's bookkeeping for :class:`~firstline.helpdesk.desk.Helpdesk`: the run context and briefing, the
event sink (tickets on routing, approvals, failures), and the final commit of reply, state and transcript."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from firstline.agents import RunContext, RunEvent, RunState
from firstline.agents.budget import TurnBudget
from firstline.conversations import ApprovalRecord, Conversation
from firstline.directory.models import KnownIncident, Person
from firstline.helpdesk import slots
from firstline.helpdesk.agents import TRIAGE
from firstline.helpdesk.compose import (
    ACCESS_REQUEST,
    FOLLOW_UP,
    HOW_TO_FOLLOW_UP,
    approval_wait,
    compose,
    declined,
    follow_up,
    nothing_changed,
    open_topics,
    over_limit,
)
from firstline.helpdesk.dialogue import Dialogue, Pending, Topic
from firstline.helpdesk.offline import OfflineEngine
from firstline.helpdesk.pacing import budget_note, holding_text
from firstline.helpdesk.repair import TopicTickets
from firstline.helpdesk.reply import DeskReply, add_usage, citations, ticket_card, usage_of
from firstline.helpdesk.routing import TicketOnRouting, list_owners
from firstline.helpdesk.services import DeskServices
from firstline.helpdesk.triage import TriageResult
from firstline.redaction import redact_data
from firstline.ticketing import TicketState, TicketUpdate

__all__ = ["Turn"]

EventSink = Callable[[dict[str, Any]], None]
_ESCALATIONS = ("escalate_to_human", "escalate_ticket")


class Turn:
    """One turn's bookkeeping: the run context, the event sink, tickets and the final commit."""

    def __init__(
        self,
        services: DeskServices,
        conversation: Conversation,
        person: Person,
        state: dict[str, Any],
        dialogue: Dialogue,
        topic: Topic,
        on_event: EventSink | None,
    ) -> None:
        self.services = services
        self.conversation = conversation
        self.cid = conversation.id
        self.person = person
        self.state = state
        self.dialogue = dialogue
        self.topic = topic
        self.sink = on_event
        self.triage: TriageResult | None = None
        self.ticket_number: str | None = topic.ticket
        self.known: dict[str, Any] | None = topic.known
        self.events: list[RunEvent] = []
        self.agent = topic.agent
        self.intent = topic.intent
        self.context_ref: RunContext | None = None
        self.request_text = topic.text
        self.routed_to: str | None = None
        self.secondary: tuple[str, str, str] | None = None
        self.rejected: tuple[str, str, str] | None = None  # (what, by whom, why) when a person declined
        self.possible: KnownIncident | None = None  # a known incident this may be part of (to ask about)
        self.rate_limited: dict[str, Any] | None = None  # the requester's new-ticket limit was reached
        # A language model's model_call events wait here and are written with the next event (same
        # transaction): they are accounting, not actions, and this saves a commit per call. Always flushed
        # before the reply. The offline engine's are not stored (no tokens, no cost; the reply names it).
        self.unwritten: list[RunEvent] = []
        self.routing = TicketOnRouting(services, self.cid, person, bool(state.get("injection_suspected")))
        self.budget: TurnBudget | None = None  # set by the desk for turns a language model takes part in
        self.channel = "api"
        self.streamed = False  # model text went out as tokens this turn
        self.quiet = False  # a tool was refused or failed: the desk writes the reply, so no more model tokens

    # -- context ---------------------------------------------------------------------------------

    def context(self, run_state: RunState | None) -> RunContext:
        person, topic = self.person, self.topic
        briefing: dict[str, Any] = {
            "requester_name": person.name,
            "requester_email": person.email,
            "requester_location": f"{person.location}" + (f" floor {person.floor}" if person.floor else ""),
            "vip": person.vip,
            "identity_verified": bool(self.state.get("verified")),
        }
        if self.state.get("identity") == "typed":
            briefing["identity"] = "typed"  # the requester typed their address; the channel did not vouch for it
        if self.ticket_number:
            briefing["ticket"] = self.ticket_number
        if topic.agent:
            briefing.update(self._topic_facts(topic.agent, topic.intent))
        if self.known:
            briefing["known_incident"] = self.known
        if topic.confirmed:
            briefing["confirmed"] = list(topic.confirmed)
        others = [t.label() for t in self.dialogue.open_topics(but=topic)]
        if others:
            briefing["other_open_topics"] = others
        context = RunContext(
            person.email,
            self.cid,
            verified=bool(self.state.get("verified")),
            deps=self.services.deps,
            briefing=briefing,
            ticket_number=self.ticket_number,
            confirmed=set(topic.confirmed),
            budget=self.budget,
        )
        self.context_ref = context
        return context

    def _topic_facts(self, agent: str, intent: str) -> dict[str, Any]:
        specialist = self.services.triage.taxonomy.specialists[agent]
        return {"request": self.request_text, "specialist": agent, "intent": intent,
                "tier2_group": specialist.assignment_group}  # fmt: skip

    def note_injection(self, text: str) -> None:
        if self.triage is not None and self.triage.injection:
            self.state["injection_suspected"] = True
            self.services.event(self.cid, "injection_suspected", "desk", {"text": text[:2000]})

    # -- events ----------------------------------------------------------------------------------

    def on_event(self, event: RunEvent) -> None:
        if event.kind in ("token", "token_reset"):  # streamed, never stored: the reply is stored whole
            return self._token(event)
        self.events.append(event)
        context = self.context_ref
        assert context is not None
        if event.kind in ("tool_refused", "tool_finished") and not event.data.get("ok", False) and not self.quiet:
            self.quiet = True  # the desk may replace the model's words: stop streaming them
            if self.streamed:
                self._token(RunEvent("token_reset", event.agent, {"reason": "superseded"}))
        if event.kind == "holding":
            last_tool = next((e.data.get("tool") for e in reversed(self.events) if e.kind == "tool_started"), None)
            event.data["text"] = holding_text(context.ticket_number, last_tool)
        if event.kind == "model_call":
            if event.data.get("model") != OfflineEngine.name:
                self.unwritten.append(event)
        elif event.kind == "routed" and event.agent != TRIAGE:
            with self.services.conversations.unit_of_work():
                self._event(event)
                if event.agent != self.routed_to:  # a turn restarted on the fallback engine routes again
                    self._routed(event.agent, context)
                    self.routed_to = event.agent
        elif event.kind == "approval_needed":
            with self.services.conversations.unit_of_work():
                self._event(event)
                self._approval(event, context)
        elif event.kind == "tool_finished" and (not event.data.get("ok", True) or _changes(event)):
            with self.services.conversations.unit_of_work():  # joins the tool's own step when inside one
                self._event(event)
                if context.ticket_number:
                    self.services.tickets.comment(
                        context.ticket_number, tool_note(event.data), author="firstline", internal=True
                    )
        elif event.kind == "done" or _read_step(event):
            # Nothing changed (a search, a status check, the run's end): stored with the next event that is
            # written, at the latest with the reply in finish() or failed(), in one commit rather than one each.
            self.unwritten.append(event)
        elif event.kind != "message":  # the reply is stored with the final state in finish()
            with self.services.conversations.unit_of_work():
                self._event(event)
        if self.sink is not None:  # what streams out is redacted like what is stored (a model's tool arguments)
            self.sink(redact_data(event.as_dict()))

    def _token(self, event: RunEvent) -> None:
        if event.kind == "token":
            if self.quiet:
                return
            self.streamed = True
        else:
            self.streamed = False
        if self.sink is not None:
            self.sink(redact_data(event.as_dict()))

    def record_budget(self) -> None:
        """Store how long the turn took against its budget, and note it on the ticket when it ran over
        (call inside a unit of work)."""
        budget = self.budget
        if budget is None:
            return
        note = budget_note(budget, self.channel, self.events)
        if note is None:
            return
        self.services.event(self.cid, "turn_budget", "desk", {"channel": self.channel, **budget.as_dict()})
        ticket = self.services.ticket_or_none(self.ticket_number)
        if ticket is not None:
            self.services.tickets.comment(ticket.number, note, author="firstline", internal=True)

    def _event(self, event: RunEvent | None) -> None:
        """Store ``event`` after any model calls still waiting (call inside a unit of work)."""
        waiting, self.unwritten = self.unwritten, []
        items = [*waiting, *([event] if event is not None else [])]
        self.services.events(self.cid, [(item.kind, item.agent, item.data) for item in items])

    def _routed(self, agent: str, context: RunContext) -> None:
        """A specialist took the problem: the routing hook opens (or links) its ticket; brief the specialist."""
        routed = self.routing(agent, self.triage, self.request_text)
        self.agent, self.intent = routed.agent, routed.intent
        self.topic.agent, self.topic.intent = routed.agent, routed.intent
        self.known, self.possible = routed.known, routed.possible
        self.secondary = routed.secondary or self.secondary
        self.rate_limited = routed.rate_limited
        context.briefing.update(self._topic_facts(routed.agent, routed.intent))
        context.briefing.pop("known_incident", None)
        self.ticket_number = context.ticket_number = routed.ticket
        context.briefing.pop("ticket", None)
        if routed.ticket:
            context.briefing["ticket"] = routed.ticket
        if routed.known:
            context.briefing["known_incident"] = routed.known

    def _approval(self, event: RunEvent, context: RunContext) -> None:
        approval_id = str(event.data["approval"])
        tool = str(event.data["tool"])
        arguments = dict(event.data.get("arguments") or {})
        approvers: tuple[str, ...] = ()
        if tool == "add_to_distribution_list" and arguments.get("address"):
            approvers = list_owners(self.services.directory, self.person, str(arguments["address"]))
        record = self.services.conversations.add_approval(
            ApprovalRecord(approval_id, self.cid, tool, arguments, self.person.email, approvers)
        )
        event.data["approvers"] = list(record.approvers)
        self.ticket_number = context.ticket_number or self.ticket_number
        self.ticket_update(TicketState.ON_HOLD, f"Waiting for approval {approval_id}: {tool} {arguments}")

    def ticket_update(self, state: TicketState, note: str) -> None:
        number = self.ticket_number
        if not number:
            return
        ticket = self.services.tickets.get(number)
        if ticket.requester != self.person.email.lower() or ticket.state == state:
            return
        if state in ticket.state.allowed_next:
            self.services.tickets.update(number, TicketUpdate(state=state), author="firstline")
        self.services.tickets.comment(number, note, author="firstline", internal=True)

    # -- the end of the turn ---------------------------------------------------------------------

    def _by_model(self) -> bool:
        """Whether a language model (not the offline engine) wrote this turn's reply."""
        return any(e.kind == "model_call" and e.data.get("model") != OfflineEngine.name for e in self.events)

    def _problems(self) -> list[str]:
        """What failed or refused tools said for the employee this turn."""
        return [
            str(e.data["say"])
            for e in self.events
            if e.kind in ("tool_finished", "tool_refused") and not e.data.get("ok", False) and e.data.get("say")
        ]

    def _final_refusal(self) -> tuple[str, str, str] | None:
        """(team, why, what the employee is told) of a refusal that hands the request to a team, if any."""
        for event in self.events:
            if event.kind not in ("tool_refused", "tool_finished"):
                continue
            data = event.data.get("data")
            team = event.data.get("escalate_to") or (data.get("escalate_to") if isinstance(data, dict) else None)
            if team:
                why = str(event.data.get("reason") or (data or {}).get("reason") or event.data.get("error") or "")
                return str(team), why[:300], str(event.data.get("say") or "")
        return None

    def finish(self, run_state: RunState, context: RunContext, user_text: str | None) -> DeskReply:
        """Settle the topic's status and the pending question, compose the reply and store it all together."""
        services, topic, dialogue = self.services, self.topic, self.dialogue
        message = next((e for e in reversed(self.events) if e.kind == "message"), None)
        reply = str(message.data.get("text") or "") if message is not None else ""
        expects = str(message.data.get("expects") or "") if message is not None else ""
        self.ticket_number = context.ticket_number or self.ticket_number
        topic.run = run_state.as_dict()
        topic.ticket = self.ticket_number
        topic.known = self.known
        status = {"paused": "paused", "failed": "failed"}.get(run_state.status, "done")
        pending = services.conversations.approvals("pending", self.cid) if status == "paused" else []
        tickets = TopicTickets(services, self.cid, self.person)
        turn_usage = usage_of(e.data for e in self.events if e.kind == "model_call")
        total = add_usage(dict(self.state.get("usage") or {}), turn_usage)
        self.state["usage"] = total
        self.state["verified"] = context.verified
        answered_by = ", ".join(turn_usage["models"]) or services.engine_name
        with services.conversations.unit_of_work():
            self._event(None)
            self.record_budget()
            parts = self._settle(run_state, context, reply, expects, pending, tickets)
            notice = self.state.pop("notice", None)
            if notice:
                parts = [notice, *parts]
            if self.rate_limited:
                parts.append(over_limit(self.rate_limited))
            text = compose(*parts)
            asked_again = (
                dialogue.pending is not None and dialogue.pending.topic == topic.id and topic.last_reply == text
            )
            if text == dialogue.last_reply and asked_again:
                text = compose("Sorry, I still need this to carry on:", *parts)  # this topic's question again
            elif text == dialogue.last_reply:
                text = compose(f'For "{topic.label()}", my answer is the same as just now.', *parts[1:])
            topic.last_reply = text
            dialogue.last_reply = text
            cited = citations(self.events, text)
            topic.cited = [c["chunk_id"] for c in cited if c["chunk_id"]][:3] or topic.cited
            self.state["dialogue"] = dialogue.as_dict()
            services.conversations.save(
                self.cid,
                state=self.state,
                status="paused" if status == "paused" else "active",
                agent=run_state.agent if run_state.agent != TRIAGE else (self.agent or self.conversation.agent),
                intent=self.intent or self.conversation.intent,
                ticket_number=self.ticket_number,
            )
            awaiting = dialogue.pending.kind if dialogue.pending else None
            services.event(
                self.cid, "assistant_message", run_state.agent, {"text": text, "status": status, "awaiting": awaiting}
            )
            ticket = services.ticket_or_none(self.ticket_number)
            if ticket is not None and ticket.requester == self.person.email.lower():
                lines = ([(self.person.email, user_text)] if user_text else []) + [(f"firstline[{answered_by}]", text)]
                services.tickets.add_transcript(ticket.number, lines)
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
        reply_out = DeskReply(
            self.cid,
            run_state.agent,
            self.intent,
            text,
            status,
            citations=cited,
            ticket=ticket_card(ticket),
            actions=actions,
            approval=pending[0].as_dict() if pending else None,
            known_incident=self.known,
            secondary=(
                {"agent": self.secondary[0], "intent": self.secondary[1], "text": self.secondary[2]}
                if self.secondary
                else None
            ),
            engine=answered_by,
            usage={"turn": turn_usage, "conversation": total},
        )
        reply_out.topics = [t.public() for t in dialogue.topics]
        reply_out.awaiting = dialogue.pending.kind if dialogue.pending else None
        return reply_out

    def _settle(
        self,
        run_state: RunState,
        context: RunContext,
        reply: str,
        expects: str,
        pending: list[ApprovalRecord],
        tickets: TopicTickets,
    ) -> list[str]:
        """Set the topic's status and the pending question from what happened; the parts of the reply."""
        topic, dialogue = self.topic, self.dialogue
        dialogue.pending = None  # what the reply waits for is worked out afresh below
        done = [a for a in context.audit if a["outcome"] == "ok"]
        names = {a["tool"] for a in done}
        changed = any(a.get("risk", "read") != "read" for a in done)
        tried = [a for a in context.audit if a.get("risk", "read") != "read" and a["outcome"] != "approval_requested"]
        if tried and not changed and self._by_model():  # facts, not a model's word for what happened
            if self.rejected is not None:
                reply = declined(*self.rejected)
            else:
                reply = nothing_changed(names, context.verified, self._problems())
        parts = [reply]
        if run_state.status == "paused":
            topic.status = "awaiting_approval"
            topic.waiting = "approval"
            dialogue.pending = Pending("approval", topic.id)
            return [reply, approval_wait(pending[0] if pending else None, self.ticket_number)]
        if run_state.status == "failed":
            return [reply, tickets.escalate(topic, dialogue, "Firstline could not finish this in its step limit")]
        if self.rejected is not None:
            what, by, why = self.rejected
            note = tickets.reject(topic, what, by, why)
            return [reply, note, "If you still need it, tell me what has changed, or ask for a person."]
        final = self._final_refusal()
        if final is not None:  # the policy or a tool said no for good: the owning team gets it, with the reason
            team, why, say = final
            dialogue.pending = None
            return [say or reply, tickets.escalate(topic, dialogue, why, group=team)]
        ticket = self.services.ticket_or_none(self.ticket_number)
        if names & set(_ESCALATIONS):
            topic.status = "escalated"
        elif "mark_resolved" in names or (
            ticket is not None and ticket.state == TicketState.RESOLVED and ticket.requester == self.person.email
        ):
            topic.status = "resolved"
        elif expects == "code" or ("send_verification_code" in names and not context.verified):
            topic.status = "awaiting_code"
            dialogue.pending = Pending("code", topic.id)
        elif expects == "choice":
            topic.status = "awaiting_choice"
            dialogue.pending = Pending("choice", topic.id)
        elif expects == "detail":
            topic.status = "open"
            dialogue.pending = Pending("detail", topic.id)
        elif expects.startswith("confirmation"):
            topic.status = "awaiting_confirmation"
            dialogue.pending = Pending("confirmation", topic.id, expects.partition(":")[2])
        elif not topic.agent:
            topic.status = "resolved"  # answered by triage itself: small talk, out of scope
        elif reply and reply == topic.last_reply and not changed:
            where = tickets.escalate(topic, dialogue, "Firstline's answer did not move the problem on")
            return ["I don't have anything better to suggest than my last answer, so I've passed this to a person.",
                    where]  # fmt: skip
        elif self.known is not None and not self.known.get("workaround"):
            topic.status = "escalated"  # linked to a known incident with no workaround: its team has it
        elif self.known is not None:
            topic.status = "awaiting_confirmation"  # did the incident's workaround help?
            dialogue.pending = Pending("confirm_fix", topic.id)
            parts.append("Does the workaround help for now? If not, tell me and I'll pass it to a person.")
        elif not changed and context.audit and context.audit[-1]["outcome"] in ("failed", "retry"):
            # The last step could not run (a printer nobody has, a mistyped hostname): nothing was tried that
            # could have fixed it, so there is nothing to confirm. Wait for what the employee says next.
            topic.status = "open"
            dialogue.pending = Pending("detail", topic.id)
        elif self._follows_up(topic.intent) and not changed and self._asks_for_access(topic):
            # Access is granted by its owner, never by an answer: raised as a request, nothing to confirm as fixed.
            parts.append(
                ACCESS_REQUEST + tickets.escalate(topic, dialogue, "Access request: needs the owner's approval")
            )
        elif self._follows_up(topic.intent) and not changed:
            topic.status = "awaiting_confirmation"
            dialogue.pending = Pending("confirm_fix", topic.id)
            parts.append(follow_up(topic.text))
        else:
            topic.status = "resolved"
        if self.possible is not None and topic.status in ("open", "awaiting_confirmation"):
            dialogue.pending = Pending("confirmation", topic.id, f"link:{self.possible.id}")
            topic.status = "awaiting_confirmation"
            if parts and parts[-1] in (FOLLOW_UP, HOW_TO_FOLLOW_UP):
                parts.pop()
            parts.append(
                f"Is this the problem you're seeing: {self.possible.title} ({self.possible.id})? It's a known "
                "problem the team is already on. Reply 'yes' and I'll add you to it, or 'no' if yours is different."
            )
        topic.waiting = dialogue.pending.kind if dialogue.pending is not None else ""
        second = None
        if self.secondary is not None:  # kept as a topic of its own, offered once this one is settled
            second = dialogue.new_topic(self.secondary[2])
            dialogue.current = topic.id
        if dialogue.pending is None and second is not None and self.secondary is not None:
            label = self.services.triage.taxonomy.specialists.get(self.secondary[0])
            dialogue.pending = Pending("secondary", second.id)
            parts.append(
                f'You also mentioned "{second.label()}", which is still open. Shall I look at that next'
                f"{f' ({label.name.lower()})' if label else ''}? Reply 'yes' and I'll start."
            )
        elif dialogue.pending is None and topic.status in ("resolved", "escalated"):
            parts.append(open_topics(dialogue, but=topic))
        return parts

    def _asks_for_access(self, topic: Topic) -> bool:
        registered = self.services.triage.taxonomy.intents.get(topic.intent)
        return registered is not None and registered.access == "approval" and slots.asks_for_access(topic.text)

    def _follows_up(self, intent: str) -> bool:
        registered = self.services.triage.taxonomy.intents.get(intent)
        return registered is not None and registered.follow_up == "confirm_fix"

    def failed(self, exc: Exception) -> DeskReply:
        services = self.services
        text = (
            "Sorry, something went wrong on my side and I couldn't finish this. Your message is saved with this "
            f"conversation ({self.cid}); try again in a minute, or call the service desk on 4357."
        )
        with services.conversations.unit_of_work():
            self._event(None)
            self.record_budget()
            services.event(self.cid, "error", "desk", {"error": f"{type(exc).__name__}: {exc}"[:2000]})
            services.event(self.cid, "assistant_message", "desk", {"text": text, "status": "failed"})
            self.dialogue.last_reply = text
            self.state["dialogue"] = self.dialogue.as_dict()
            services.conversations.save(self.cid, state=self.state)
        turn_usage = usage_of(e.data for e in self.events if e.kind == "model_call")
        return DeskReply(
            self.cid,
            self.agent,
            self.intent,
            text,
            "failed",
            engine=", ".join(turn_usage["models"]) or services.engine_name,
            usage={"turn": turn_usage},
        )


def _read_step(event: RunEvent) -> bool:
    """A read-only tool's start, or its successful end: nothing to store ahead of the rest of the turn."""
    if event.kind == "tool_started":
        return event.data.get("risk") == "read"
    return event.kind == "tool_finished" and bool(event.data.get("ok")) and not _changes(event)


def _changes(event: RunEvent) -> bool:
    """A tool call that changed something: a write tool, or one whose receipts name a change sent to a vendor."""
    if event.data.get("risk", "read") != "read":
        return True
    return any(r.get("method", "GET") not in ("GET", "HEAD") for r in event.data.get("vendor_requests") or ())


def tool_note(data: dict[str, Any]) -> str:
    """The ticket's work note for a tool call that failed or changed something at a vendor, with the vendor's
    request ids so an administrator can find the same change in the vendor's own logs."""
    tool = data.get("tool")
    failed = not data.get("ok", True)
    head = f"Tool {tool} failed: {data.get('error')}" if failed else f"Tool {tool}: {data.get('result')}"
    detail = (data.get("data") or {}).get("detail") if isinstance(data.get("data"), dict) else None
    if failed and detail:
        head += f"\nDetail: {detail}"
    sent = [r for r in data.get("vendor_requests") or () if r.get("method", "GET") not in ("GET", "HEAD")]
    if not sent:
        return head
    lines = [
        f"- {r.get('system')} {r.get('method')} {str(r.get('path', '')).split('?')[0]} -> {r.get('status')}"
        + (f", request id {r['request_id']}" if r.get("request_id") else "")
        for r in sent[:20]
    ]
    return head + "\nVendor requests:\n" + "\n".join(lines)
