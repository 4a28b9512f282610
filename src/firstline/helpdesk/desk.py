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

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

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
from firstline.helpdesk.acts import ActModel, Acts, packaged_act_model_path
from firstline.helpdesk.agents import TRIAGE, build_agents
from firstline.helpdesk.cleaning import prepare
from firstline.helpdesk.compose import CHITCHAT, GREETING, approval_wait, compose, open_topics, what_is_approved
from firstline.helpdesk.dialogue import Dialogue, Pending, Topic
from firstline.helpdesk.incidents import IncidentLinker
from firstline.helpdesk.offline import OfflineEngine
from firstline.helpdesk.policy import HelpdeskPolicy
from firstline.helpdesk.repair import TopicTickets
from firstline.helpdesk.reply import DeskReply, ticket_card
from firstline.helpdesk.services import DeskServices
from firstline.helpdesk.slots import explicit_requests
from firstline.helpdesk.tools.deps import HelpdeskDeps, OneTimeCodes
from firstline.helpdesk.triage import MAX_CHARS, Triage, TriageResult
from firstline.helpdesk.turn import EventSink, Turn
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
        acts: Acts | None = None,
        max_turns: int = 10,
        incident_window: timedelta = timedelta(hours=4),
        incident_threshold: int = 3,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.directory = directory
        self.tickets = tickets
        self.conversations = tickets.conversations
        self.triage = triage
        self.acts = acts or Acts(ActModel.load(packaged_act_model_path()), triage.embedder)
        self.deps = HelpdeskDeps(directory, tickets, codes or OneTimeCodes(store=tickets.conversations), knowledge)
        self.engine: ChatModel | Callable[[Agent], ChatModel] = engine or OfflineEngine(triage)
        self.engine_name = getattr(self.engine, "name", "llm")
        self.agents = build_agents()
        offline = self.engine if isinstance(self.engine, OfflineEngine) else OfflineEngine(triage)
        self.runner = Runner(
            self.agents,
            self.engine,
            policy=HelpdeskPolicy(),
            max_turns=max_turns,
            step_scope=tickets.unit_of_work,
            fallback=None if offline is self.engine else offline,
        )
        self.incidents = IncidentLinker(tickets, incident_window, incident_threshold)
        self._clock = clock
        self.services = DeskServices(directory, tickets, triage, self.incidents, clock, self.engine_name, self.deps)

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
        dialogue = Dialogue.from_dict(state.get("dialogue"))
        prepared = prepare(raw)
        text = prepared.text
        if prepared.removed:
            self._event(cid, "message_cleaned", "desk", {"removed": list(prepared.removed), "text": text[:2000]})
        if conversation.status == "paused":  # an approval is pending: talk, but start nothing new
            act = self.acts.read(text)
            if act.is_(*_WHILE_PAUSED):
                return self._answer_act(conversation, person, state, dialogue, Move("act", act=act.act))
            return self._waiting(conversation, dialogue)
        move = self._read(dialogue, text)
        if move.kind == "act":  # a dialogue act, answered by the desk for every engine alike
            return self._answer_act(conversation, person, state, dialogue, move)
        return await self._run_topic(conversation, person, state, dialogue, move, text, raw, on_event)

    # -- reading a message against the dialogue state -----------------------------------------------

    def _read(self, dialogue: Dialogue, text: str) -> Move:
        """What the message is: an answer to the pending question, a dialogue act, or content (which topic)."""
        reading = self.acts.read(text)
        pending = dialogue.pending
        active = dialogue.active
        act = reading.act if reading.confidence >= 0.5 else "inform"
        if act == "back" and pending is not None and pending.kind == "choice":
            act = "inform"  # "the first one" answers "which one?"
        if act != "inform" and not dialogue.last_reply and act in _ABOUT_THE_LAST_REPLY:
            act = "inform"  # nothing was said yet that this could be about
        if act not in ("inform", "human") and len(text.split()) >= 5:
            result = self.triage.classify(text)
            if result.agent in self.agents and result.confidence >= 0.8 and result.clarify is None:
                act = "inform"  # "where do I get zoom, a client uses it": a request, not "where do I find that?"
        linking = pending is not None and pending.kind == "confirmation" and pending.target.startswith("link:")
        if linking and act in ("affirm", "deny"):
            return Move("act", act="link_incident" if act == "affirm" else "not_incident")
        if pending is not None and pending.kind == "confirmation" and pending.target.startswith("withdraw:"):
            if act == "affirm":
                return Move("act", act="withdraw")
            if act in ("deny", "skip"):
                return Move("act", act="keep")
            if act == "cancel":
                return Move("act", act="confirm_withdraw")
        if pending is not None and pending.kind == "code" and slots.code(text):
            return Move("continue", topic=dialogue.topic(pending.topic))
        if slots.code(text) and len(text.split()) <= 2:
            waiting = next((t for t in reversed(dialogue.topics) if t.status == "awaiting_code"), None)
            if waiting is not None:  # the code for a topic the conversation moved away from
                return Move("continue", topic=waiting)
            return Move("act", act="stray_code")
        if act in ("human", "greeting", "goodbye", "complaint", "cancel", "repeat", "clarify", "chitchat", "back"):
            return Move("act", act=act)
        if pending is not None and pending.kind == "secondary" and act == "affirm":
            return Move("start", topic=dialogue.topic(pending.topic))
        answered = act in ("affirm", "deny", "fixed", "not_fixed", "thanks", "skip")
        if answered and pending is not None and pending.kind in ("confirm_fix", "offer_human", "secondary"):
            return Move("act", act=act)
        if act in ("fixed", "thanks", "not_fixed", "skip"):
            return Move("act", act=act)
        engine_asked = pending is not None and not pending.target.startswith(("withdraw:", "link:"))
        if engine_asked and pending is not None and pending.kind in ("code", "choice", "detail", "confirmation"):
            topic = dialogue.topic(pending.topic)
            if topic is not None and topic.is_open and self._answers(text, act, topic, pending.kind):
                return Move("continue", topic=topic)
        if pending is not None and pending.kind == "confirm_fix" and active is not None and active.is_open:
            result = self.triage.classify(text)
            if act == "inform" and _vague(text, result):
                return Move("act", act="reask")  # "ok I tried that": neither yes nor no, nothing new
            if act == "inform" and result.agent not in self.agents:
                return Move("act", act="note", detail=text)  # "it's the big one on the finance share"
            if self._same_topic(text, active, loose=True):
                return Move("act", act="not_fixed", detail=text)
        if act in ("affirm", "deny"):
            return Move("act", act=act)
        if (
            active is not None
            and active.is_open
            and active.agent
            and pending is None
            and self._same_topic(text, active)
        ):
            return Move("continue", topic=active)
        return Move("new")

    def _answers(self, text: str, act: str, topic: Topic, kind: str) -> bool:
        """Whether ``text`` answers the pending question rather than raising something new."""
        if act in ("affirm", "deny", "skip"):
            return kind == "confirmation"  # a yes/no answers a yes/no question; to "which one?" it is no answer
        if not topic.agent or _names_a_detail(text):
            return True  # the answer to triage's clarifying question; "LON-F4-HP-02", an address, a hostname
        result = self.triage.classify(text)
        if result.agent not in self.agents or result.clarify is not None or _vague(text, result):
            return True  # not a new IT problem: the answer
        return result.agent == topic.agent and (result.intent == topic.intent or result.confidence < 0.8)

    def _same_topic(self, text: str, topic: Topic, loose: bool = False) -> bool:
        """The message is about the same specialist's problem, or too vague to be a new one.

        ``loose``: any problem for the same specialist counts (after "did that fix it?", a detail
        such as "I'm already on NW-GW-LON" is about the answer just given).
        """
        if not topic.agent:
            return False
        result = self.triage.classify(text)
        if result.agent not in self.agents:  # greeting, gibberish: not a new problem
            return len(text.split()) <= 6
        if result.clarify is not None or _vague(text, result):
            return True
        if result.agent != topic.agent:
            return False
        if loose:  # after "did that fix it?": "I'm already on NW-GW-LON and it still drops" is about it
            return bool(_STILL.search(text)) or result.intent == topic.intent
        return result.intent == topic.intent or result.confidence < 0.8

    # -- dialogue acts ---------------------------------------------------------------------------

    def _answer_act(
        self, conversation: Conversation, person: Person, state: dict[str, Any], dialogue: Dialogue, move: Move
    ) -> DeskReply:
        """Answer a dialogue act (thanks, a person please, cancel, ...) the same way for every engine."""
        tickets = TopicTickets(self.services, conversation.id, person)
        with self.tickets.unit_of_work():
            text = self._act_text(dialogue, move, tickets)
            self._event(conversation.id, "dialogue_act", "desk", {"act": move.act, "detail": move.detail[:500]})
            return self._save_dialogue(conversation, state, dialogue, text)

    def _act_text(self, dialogue: Dialogue, move: Move, tickets: TopicTickets) -> str:
        pending, act = dialogue.pending, move.act
        active = dialogue.active
        target = active if active is not None and active.is_open else dialogue.earlier_open()
        asked = dialogue.topic(pending.topic) if pending is not None else None
        if act == "human" or (act == "affirm" and pending is not None and pending.kind == "offer_human"):
            topic = target or active or dialogue.new_topic("Asked for a person in chat")
            if not topic.is_open and topic.status != "escalated":
                topic = dialogue.new_topic("Asked for a person in chat")
            where = tickets.escalate(topic, dialogue, "The employee asked for a person")
            dialogue.pending = None
            lead = "Of course." if " is already with " in where else "Of course. I've passed this to a person."
            return compose(f"{lead} {where}", *_next_step(dialogue, but=topic))
        if act == "greeting":
            if target is not None:
                dialogue.current = target.id
                dialogue.pending = Pending.resume(target)
                return f"Hello again! {_where_we_were(target)}"
            return GREETING
        if act == "chitchat":
            follow = f' Shall we carry on with "{target.label()}"?' if target is not None else " What can I help with?"
            return CHITCHAT + follow
        if act == "goodbye":
            dialogue.pending = None
            still = open_topics(dialogue)
            ending = "Your open tickets stay with the service desk; you'll hear from them." if still else ""
            return compose("Thanks for getting in touch.", still, ending, "Bye for now!")
        if act == "complaint":
            about = target or active
            dialogue.pending = Pending("offer_human", about.id if about else None)
            return (
                "I'm sorry this hasn't been easy. Shall I pass it to a person? Reply 'yes' and I'll hand it over "
                "with a summary of what we've tried, or tell me what you need."
            )
        if act == "link_incident" and asked is not None and pending is not None:
            dialogue.pending = None
            known = next((i for i in self.directory.incidents() if i.id == pending.target.partition(":")[2]), None)
            if known is None:
                return "That problem has just been closed, so I'll keep your own ticket open instead."
            return compose(tickets.link(asked, known), *_next_step(dialogue, but=asked))
        if act == "not_incident" and asked is not None:
            dialogue.pending = Pending("confirm_fix", asked.id)
            asked.waiting = "confirm_fix"
            return "OK, I'll keep your own ticket for it. Did my suggestion fix it? Reply 'yes' or 'no'."
        if act == "note" and asked is not None:
            noted = tickets.note(asked, move.detail)
            return compose(
                f"Thanks, {noted}." if noted else "Thanks, noted.",
                "Did the steps fix it? Reply 'yes' if the problem is gone, or 'no' and I'll pass it to a person.",
            )
        if act == "reask":
            return (
                "Did it work after you tried it? Reply 'yes' if the problem is gone, or 'no' and I'll pass it to a "
                "person."
            )
        if act == "stray_code":
            return (
                "I'm not waiting for a code from you right now, so I haven't used that one. If you got a code you "
                "didn't ask for, tell me and I'll flag it to Security. What can I help with?"
            )
        if act == "repeat":
            if not dialogue.last_reply:
                return "I haven't said anything yet. What can I help with?"
            return f"Here it is again:\n\n{dialogue.last_reply}"
        if act == "clarify":
            return _explain(pending, asked or target, dialogue)
        if act == "cancel":
            if target is None:
                return "There's nothing in progress to cancel. What can I help with?"
            ticket = tickets.own_open_ticket(target)
            if ticket is not None:  # a ticket is cancelled only when the employee confirms that very ticket
                dialogue.current = target.id
                dialogue.pending = Pending("confirmation", target.id, f"withdraw:{ticket.number}")
                return (
                    f"Shall I cancel {ticket.number} (\"{target.label()}\")? Reply 'yes' to cancel it, or 'no' to "
                    "keep it open."
                )
            tickets.withdraw(target)
            dialogue.pending = None
            return compose(f'OK, I\'ve dropped "{target.label()}".', open_topics(dialogue))
        if act == "withdraw" and asked is not None:
            note = tickets.withdraw(asked)
            dialogue.pending = None
            return compose(f'OK, I\'ve dropped "{asked.label()}". {note}'.strip(), *_next_step(dialogue, but=asked))
        if act == "confirm_withdraw" and pending is not None:
            return (
                f"Just to be sure: reply 'yes' to cancel {pending.target.partition(':')[2]}, or 'no' to keep it open."
            )
        if act == "affirm" and pending is not None and pending.kind in ("choice", "detail") and asked is not None:
            return f"Thanks. To carry on I need one more thing from you. {asked.last_reply}"
        if act == "keep" and asked is not None:
            dialogue.pending = Pending.resume(asked)
            return compose(f"OK, {asked.ticket or 'it'} stays open.", _where_we_were(asked))
        if act == "back":
            earlier = dialogue.earlier_open()
            if earlier is None:
                return compose("There's no earlier problem still open.", "What would you like to do?")
            dialogue.current = earlier.id
            dialogue.pending = Pending.resume(earlier)
            return f"Back to it. {_where_we_were(earlier)}"
        declined = act in ("deny", "not_fixed", "skip")
        if declined and pending is not None and pending.kind == "secondary" and asked is not None:
            asked.status = "cancelled"
            dialogue.pending = None
            return compose(f'OK, I\'ll leave "{asked.label()}" for now.', "Anything else I can help with?")
        fixing = asked if pending is not None and pending.kind == "confirm_fix" else None
        if act in ("fixed", "thanks", "affirm") and (fixing is not None or (act == "fixed" and target is not None)):
            done = fixing or target
            assert done is not None
            note = tickets.resolve(done, "The employee confirmed it is fixed")
            dialogue.pending = None
            return compose(f"Great, glad it's working. {note}".strip(), *_next_step(dialogue))
        if act in ("not_fixed", "deny") and (fixing is not None or (act == "not_fixed" and target is not None)):
            broken = fixing or target
            assert broken is not None
            why = "The suggested fix did not work" + (f" ({move.detail[:300]})" if move.detail else "")
            where = tickets.escalate(broken, dialogue, why)
            dialogue.pending = None
            return compose(f"Sorry it's still not working. {where}", *_next_step(dialogue, but=broken))
        if act == "deny" and pending is not None and pending.kind == "offer_human":
            dialogue.pending = Pending.resume(asked) if asked is not None else None
            where = _where_we_were(asked) if asked is not None and asked.is_open else ""
            return compose("OK, I won't.", where or "Tell me what you'd like to do next.")
        if act in ("skip", "deny") and pending is not None and pending.kind in ("choice", "detail") and asked:
            dialogue.pending = Pending("offer_human", asked.id)
            where = f" ({asked.ticket} stays open meanwhile)" if asked.ticket else ""
            return (
                "No problem. If you can't find it, I can pass this to a person who'll work it out with you: reply "
                f"'yes' and I will, or tell me when you have it{where}."
            )
        if act == "skip":
            if pending is not None and pending.kind == "code":
                dialogue.pending = Pending("offer_human", pending.topic)
                return (
                    "Without the code I can't change anything on your account: it's how I know it's really you. "
                    "Shall I pass this to a person instead? Reply 'yes' and I'll hand it over."
                )
            return "No problem. Tell me what you do know, or say 'a person please' and I'll pass it on."
        if act == "thanks":
            if pending is not None and asked is not None and asked.is_open:
                return compose("You're welcome!", _where_we_were(asked), open_topics(dialogue, but=asked))
            return compose("You're welcome!", open_topics(dialogue), "Anything else I can help with?")
        if act == "fixed":
            return "Glad it's working! Anything else I can help with?"
        if act == "not_fixed":
            return "Sorry to hear that. What isn't working? Tell me in a sentence what you see."
        if act == "affirm":
            return "Sorry, I'm not sure what you're saying yes to. What can I help with?"
        return compose("OK.", open_topics(dialogue), "Is there anything else I can help with?")

    def _save_dialogue(
        self, conversation: Conversation, state: dict[str, Any], dialogue: Dialogue, text: str
    ) -> DeskReply:
        """Store the reply with the dialogue state (inside the caller's unit of work) and return it."""
        if text == dialogue.last_reply:  # never the same reply to two different messages
            text = (
                "I've nothing new to add to my last answer. Tell me more about what you see, or say 'a person "
                "please' and I'll pass it to the service desk."
            )
        dialogue.last_reply = text
        state["dialogue"] = dialogue.as_dict()
        active = dialogue.active
        self.conversations.save(
            conversation.id,
            state=state,
            agent=(active.agent if active and active.agent else conversation.agent),
            intent=(active.intent if active and active.intent else conversation.intent),
            ticket_number=(active.ticket if active and active.ticket else conversation.ticket_number),
        )
        awaiting = dialogue.pending.kind if dialogue.pending else None
        self._event(
            conversation.id, "assistant_message", "desk", {"text": text, "status": "done", "awaiting": awaiting}
        )
        agent = active.agent if active is not None and active.agent else conversation.agent
        intent = active.intent if active is not None and active.intent else conversation.intent
        reply = DeskReply(conversation.id, agent, intent, text, "done", engine="desk")
        ticket = self.ticket_or_none(active.ticket if active else conversation.ticket_number)
        reply.ticket = ticket_card(ticket)
        reply.topics = [t.public() for t in dialogue.topics]
        reply.awaiting = dialogue.pending.kind if dialogue.pending else None
        return reply

    # -- content: a topic's run -------------------------------------------------------------------

    async def _run_topic(
        self,
        conversation: Conversation,
        person: Person,
        state: dict[str, Any],
        dialogue: Dialogue,
        move: Move,
        text: str,
        raw: str,
        on_event: EventSink | None,
    ) -> DeskReply:
        pending = dialogue.pending
        run_state: RunState | None = None
        if move.kind == "continue" and move.topic is not None:
            topic = move.topic
            dialogue.current = topic.id
            if pending is not None and pending.kind == "detail" and not topic.agent:
                alone = self.triage.classify(text)
                if alone.agent in self.agents and alone.clarify is None:
                    topic.status = "cancelled"  # the unclear first attempt is replaced by a clear request
                    topic = dialogue.new_topic(text)
                else:
                    topic.text = f"{topic.text} {text}"  # the answer to a clarifying question completes it
                    text = topic.text
            elif topic.run:
                run_state = RunState.from_dict(topic.run)
            confirming = pending is not None and pending.kind == "confirmation" and bool(pending.target)
            if confirming and (self.acts.read(text).act == "affirm" or slots.affirmative(text)):
                assert pending is not None
                topic.confirmed = sorted({*topic.confirmed, pending.target})
        elif move.kind == "start" and move.topic is not None:
            topic = move.topic
            dialogue.current = topic.id
            text = topic.text
        else:
            topic = dialogue.new_topic(text)
        topic.confirmed = sorted({*topic.confirmed, *explicit_requests(text)})
        dialogue.pending = None
        start = run_state.agent if run_state is not None and run_state.agent != TRIAGE else TRIAGE
        turn = Turn(self.services, conversation, person, state, dialogue, topic, on_event)
        if start == TRIAGE:
            turn.triage = self.triage.classify(text, vip=person.vip)
            turn.note_injection(text)
            refusal = self._someone_else(turn.triage, text, person)
            if refusal is not None:
                topic.status = "refused"
                topic.agent, topic.intent = turn.triage.agent, turn.triage.intent
                with self.tickets.unit_of_work():
                    self._event(
                        conversation.id, "refused", "desk", {"reason": "acts on someone else", "text": text[:500]}
                    )
                    return self._save_dialogue(conversation, state, dialogue, compose(refusal, open_topics(dialogue)))
        context = turn.context(run_state)
        try:
            result = await self.runner.run(start, text, context, run_state, on_event=turn.on_event)
        except Exception as exc:  # the engine or a backend failed: keep the message, tell the user plainly
            log.exception("turn failed in conversation %s", conversation.id)
            return turn.failed(exc)
        return turn.finish(result.state, context, raw)

    def _someone_else(self, result: TriageResult, text: str, person: Person) -> str | None:
        """A request to act on another person's account, device, line or tickets is refused before any run."""
        intent = self.triage.taxonomy.intents.get(result.intent)
        if intent is None or intent.acts_on not in ("person", "ticket") or result.agent not in self.agents:
            return None
        addresses_are_people = intent.acts_on == "person" and intent.name not in ("distribution_list", "shared_mailbox")
        if slots.names_someone_else(text, person.name) or slots.mentions_someone_else(
            text, person.email, addresses_are_people
        ):
            return (
                f'I can only act on your own account, devices and tickets, so I won\'t do "{_label(text)}" for '
                "someone else. They can contact the service desk themselves (chat, or 4357). If you need the same "
                "help for your own account, tell me and I'll start with a quick identity check."
            )
        return None

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
        dialogue = Dialogue.from_dict(state.get("dialogue"))
        topic = next((t for t in dialogue.topics if t.status == "awaiting_approval"), None) or dialogue.active
        if topic is None or not topic.run:  # pragma: no cover - a paused conversation always has its topic
            raise ConversationNotFoundError("conversation", conversation.id)
        dialogue.current = topic.id
        run_state = RunState.from_dict(topic.run)
        person = self._requester(conversation, None)
        if person is None:  # pragma: no cover - a paused conversation always has a known requester
            raise ConversationNotFoundError("conversation", conversation.id)
        turn = Turn(self.services, conversation, person, state, dialogue, topic, on_event)
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
        if not approved:
            turn.rejected = (what_is_approved(record.tool, record.arguments), who, reason)
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

    def _waiting(self, conversation: Conversation, dialogue: Dialogue | None = None) -> DeskReply:
        pending = self.conversations.approvals("pending", conversation.id)
        record = pending[0] if pending else None
        text = "Still waiting: " + approval_wait(record, conversation.ticket_number)
        if dialogue is not None and text == dialogue.last_reply:
            text = (
                "Nothing has changed yet: the approval is still with the approver. I'll carry on here as soon as "
                "they decide. Meanwhile I can't start anything new in this conversation; say 'a person please' if "
                "it's urgent."
            )
        saved = None
        if dialogue is not None:
            dialogue.last_reply = text
            saved = {**conversation.state, "dialogue": dialogue.as_dict()}
        reply = self._plain(conversation, text, "waiting", state=saved)
        if dialogue is not None:
            reply.topics = [t.public() for t in dialogue.topics]
        reply.approval = record.as_dict() if record else None
        reply.ticket = ticket_card(self.ticket_or_none(conversation.ticket_number))
        reply.awaiting = "approval"
        return reply

    def ticket_or_none(self, number: str | None) -> Ticket | None:
        """The ticket, or None when there is none or it cannot be loaded (a reply never fails for it)."""
        return self.services.ticket_or_none(number)

    def _event(self, cid: str, kind: str, agent: str, data: dict[str, Any]) -> None:
        self.services.event(cid, kind, agent, data)


@dataclass(frozen=True, slots=True)
class Move:
    """How a message relates to the dialogue: a dialogue act, more of a topic, starting one, or a new topic."""

    kind: Literal["act", "continue", "start", "new"]
    act: str = "inform"
    topic: Topic | None = None
    detail: str = ""


def _next_step(dialogue: Dialogue, but: Topic | None = None) -> list[str]:
    """After a topic is settled: offer a problem mentioned but not started yet, else list what is still open."""
    waiting = next((t for t in dialogue.topics if t.is_open and not t.agent and not t.run and t is not but), None)
    if waiting is not None:
        dialogue.pending = Pending("secondary", waiting.id)
        return [
            f'You also mentioned "{waiting.label()}", which is still open. Shall I look at it next? Reply '
            "'yes' and I'll start."
        ]
    return [open_topics(dialogue, but=but), "Anything else I can help with?"]


_WHILE_PAUSED = ("human", "thanks", "goodbye", "repeat", "clarify", "chitchat", "complaint")
_ABOUT_THE_LAST_REPLY = frozenset(
    {"affirm", "deny", "fixed", "not_fixed", "cancel", "repeat", "clarify", "skip", "back", "complaint"}
)
_STILL = re.compile(r"\b(still|again|already|didn'?t (help|work)|no luck|same (problem|error|thing|issue))\b", re.I)


def _names_a_detail(text: str) -> bool:
    """The message names a printer, a device, an address, an extension or a ticket: details a question asks for."""
    return bool(
        slots.printer_name(text)
        or slots.hostname(text)
        or slots.emails(text)
        or slots.ticket_number(text)
        or (slots.extension(text) and len(text.split()) <= 4)
    )


def _vague(text: str, result: TriageResult) -> bool:
    """A short message that names nothing ("it's broken", "still the same") is no new problem."""
    words = text.split()
    named = slots.printer_name(text) or slots.hostname(text) or slots.ticket_number(text) or slots.emails(text)
    return len(words) <= 4 and not named and result.confidence < 0.9


def _label(text: str) -> str:
    words = " ".join(text.split())
    return words if len(words) <= 70 else words[:67].rsplit(" ", 1)[0] + "..."


def _where_we_were(topic: Topic) -> str:
    """Where a topic stands, in a sentence (not the whole last answer again)."""
    ticket = f" ({topic.ticket})" if topic.ticket else ""
    state = "is still open" if topic.is_open else f"is {topic.status}"
    return f'"{topic.label()}"{ticket} {state}: {_WHERE.get(topic.waiting, _ELSE)}'


_ELSE = "Tell me more about it, or what you'd like to do next."
_WHERE = {
    "code": "I'm waiting for the six-digit code I sent you.",
    "approval": "It's waiting for a person to approve it.",
    "choice": "I asked which one you mean: tell me, or say 'say that again' to see the options.",
    "detail": "I asked for a few more details about it.",
    "confirmation": "I asked you to confirm: reply 'yes' or 'no'.",
    "confirm_fix": "I asked whether my last suggestion fixed it: reply 'yes' or 'no'.",
    "secondary": "I asked whether to look at it next: reply 'yes' or 'no'.",
}


def _explain(pending: Pending | None, topic: Topic | None, dialogue: Dialogue) -> str:
    """Say the pending question another way."""
    kind = pending.kind if pending is not None else None
    if kind == "code":
        return (
            "I sent a six-digit one-time code to your registered mobile (as a text message). Type those six "
            "digits here so I know it's really you; I never need your password."
        )
    if kind == "confirm_fix":
        return (
            "I meant: after trying those steps, is the problem gone? Reply 'yes' if it's fixed, or 'no' and I'll "
            "pass it to a person."
        )
    if kind == "secondary" and topic is not None:
        return f"You mentioned a second problem: \"{topic.label()}\". Reply 'yes' to start on it, or 'no' to leave it."
    if kind == "offer_human":
        return (
            "I'm offering to hand this to a person on the service desk. Reply 'yes' and I will, or 'no' to carry on "
            "here."
        )
    if kind == "approval":
        return "A person on the service desk has to approve that step first; I'll carry on here when they decide."
    if topic is not None and topic.last_reply:
        return f"Sorry, let me put it another way. {topic.last_reply}"
    return "Sorry, that wasn't clear. Tell me in your own words what you need, or say 'a person please'."
