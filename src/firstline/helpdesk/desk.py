"""The helpdesk: one turn of a conversation, end to end, with nothing lost on the way.

:meth:`Helpdesk.ask` takes what a person typed and returns Firstline's reply::

    database = open_database(url)  # firstline.localdb: conversations and (here) tickets share it
    desk = Helpdesk(directory=..., tickets=SqlTicketing(database), conversations=SqlConversations(database),
                    triage=..., knowledge=...)
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
* Every message is read against the conversation's stored dialogue state first (``reading.py``):
  dialogue acts (thanks, a person please, cancel, ...) are answered here, for every engine alike
  (``repair.py``); an answer continues its topic; anything else is a new topic with a fresh run.
  What the employee reads around an engine's answer is written by ``compose.py``, never empty.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace

from firstline.accounts import SqlAccounts
from firstline.agents import Agent, Approval, RunEvent, Runner, RunState
from firstline.agents.budget import TurnBudget
from firstline.conversations import Conversation, SqlConversations
from firstline.directory import DirectoryBackend
from firstline.directory.models import Person
from firstline.directory.rules import AccountRules
from firstline.errors import (
    ConversationNotFoundError,
    InputError,
)
from firstline.helpdesk import slots
from firstline.helpdesk.acts import ActModel, Acts, packaged_act_model_path
from firstline.helpdesk.agents import TRIAGE, build_agents
from firstline.helpdesk.beneficiary import Beneficiary
from firstline.helpdesk.cleaning import understood
from firstline.helpdesk.compose import (
    ONLY_A_SECRET,
    approval_wait,
    compose,
    open_topics,
    redaction_notice,
    what_is_approved,
)
from firstline.helpdesk.dialogue import Dialogue, Topic
from firstline.helpdesk.follow_up import answer_from_cited
from firstline.helpdesk.identity import Identities
from firstline.helpdesk.incidents import IncidentLinker
from firstline.helpdesk.names import DirectoryNames
from firstline.helpdesk.offline import OfflineEngine
from firstline.helpdesk.pacing import TurnBudgets
from firstline.helpdesk.policy import HelpdeskPolicy, refusal_text, yourself
from firstline.helpdesk.reading import WHILE_PAUSED, MessageReader, Move
from firstline.helpdesk.refusals import Gate
from firstline.helpdesk.repair import TopicTickets, answer_act
from firstline.helpdesk.reply import DeskReply, ticket_card
from firstline.helpdesk.services import DeskServices
from firstline.helpdesk.slots import explicit_requests
from firstline.helpdesk.tools.deps import HelpdeskDeps, OneTimeCodes
from firstline.helpdesk.triage import MAX_CHARS, Triage, TriageResult
from firstline.helpdesk.turn import EventSink, Turn
from firstline.knowledge.base import KnowledgeBase
from firstline.llm.messages import ChatModel
from firstline.redaction import redact
from firstline.ticketing import Ticket, TicketingBackend, TicketState

__all__ = ["MAX_STORED_CHARS", "DeskReply", "Helpdesk"]

log = logging.getLogger(__name__)

MAX_STORED_CHARS = 200_000  # a refused over-long message is still kept, up to this much
tracer = trace.get_tracer("firstline.helpdesk")


class Helpdesk:
    """Triage, the nine specialists, tickets and conversations behind one ``ask`` call."""

    def __init__(
        self,
        *,
        directory: DirectoryBackend,
        tickets: TicketingBackend,
        conversations: SqlConversations,
        triage: Triage,
        accounts: SqlAccounts | None = None,
        knowledge: KnowledgeBase | None = None,
        engine: ChatModel | Callable[[Agent], ChatModel] | None = None,
        codes: OneTimeCodes | None = None,
        acts: Acts | None = None,
        account_rules: AccountRules | None = None,
        beneficiary: Beneficiary | None = None,
        budgets: TurnBudgets | None = None,
        pre_route: bool | None = None,
        max_turns: int = 10,
        incident_window: timedelta = timedelta(hours=4),
        incident_threshold: int = 3,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.directory = directory
        self.tickets = tickets
        self.conversations = conversations
        self.triage = triage
        self.acts = acts or Acts(ActModel.load(packaged_act_model_path()), triage.embedder)
        account_rules = account_rules or AccountRules()
        self.deps = HelpdeskDeps(
            directory,
            tickets,
            codes or OneTimeCodes(store=conversations),
            knowledge,
            accounts=accounts,
            account_rules=account_rules,
        )
        self.engine: ChatModel | Callable[[Agent], ChatModel] = engine or OfflineEngine(triage)
        self.engine_name = getattr(self.engine, "name", "llm")
        # Turns a language model takes part in have their channel's time budget (helpdesk/pacing.py).
        self.budgets = None if isinstance(self.engine, OfflineEngine) else (budgets or TurnBudgets())
        # A language model skips the triage call when the classifier is sure (one call and ~1,000 prompt tokens
        # fewer per new topic: bench/prompt_tokens.py); unsure requests still go to the triage agent.
        self.pre_route = not isinstance(self.engine, OfflineEngine) if pre_route is None else pre_route
        self.agents = build_agents()
        self.policy = HelpdeskPolicy(account_rules)
        self.who = Identities(directory, self.conversations)
        self.names = DirectoryNames(directory)  # colleagues' names are not typos (helpdesk/names.py)
        self.gate = Gate(triage.taxonomy, self.policy, self.deps, beneficiary or Beneficiary.packaged(triage.embedder))
        offline = self.engine if isinstance(self.engine, OfflineEngine) else OfflineEngine(triage)
        self.runner = Runner(
            self.agents,
            self.engine,
            policy=self.policy,
            max_turns=max_turns,
            step_scope=conversations.unit_of_work,
            fallback=None if offline is self.engine else offline,
        )
        self.incidents = IncidentLinker(tickets, incident_window, incident_threshold)
        self._clock = clock
        self.reader = MessageReader(triage, self.acts, self.agents)
        self.services = DeskServices(
            directory, tickets, conversations, triage, self.incidents, clock, self.engine_name, self.deps
        )

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
        budget = self.budgets.start(channel) if self.budgets is not None else None
        conversation = self._open(conversation_id, requester, channel)
        cid = conversation.id
        raw = text if isinstance(text, str) else ""
        problem = self.refusal(raw)
        if problem is not None:
            kept = redact(raw[:MAX_STORED_CHARS]).text
            self._event(cid, "rejected_message", "desk", {"text": kept, "reason": problem})
            return self._plain(conversation, problem, "rejected")
        # Secrets leave the message before it is stored, logged, put on a ticket or shown to a model.
        # A six-digit group is a code when one is awaited, and in a message of a few words whatever the state (a
        # code typed after the conversation moved on, or in a new chat, is still a live code).
        awaited = Dialogue.from_dict(conversation.state.get("dialogue")).expects_code()
        secret = redact(raw, expect_code=awaited or len(raw.split()) <= 3)
        raw = secret.text
        stored: dict[str, Any] = {"text": raw, "requester": requester}
        if secret.changed:
            stored["redacted"] = list(secret.kinds)
        self._event(cid, "user_message", "desk", stored)
        state = dict(conversation.state)
        state.pop("notice", None)
        if notice := redaction_notice(secret.kinds):
            state["notice"] = notice

        person = self.who.requester(conversation, requester)
        if person is None:
            person, pending = self.who.identify(conversation, raw, state)
            if person is None:
                return self._plain(conversation, pending, "needs_identity", state=state)
            raw = state.pop("pending_text", None) or raw
        dialogue = Dialogue.from_dict(state.get("dialogue"))
        if secret.only_secret:  # "my new password is [password]" asks for nothing: say so, start nothing
            with self.conversations.unit_of_work():
                return self._save_dialogue(conversation, state, dialogue, ONLY_A_SECRET)
        prepared = understood(raw, keep=self.names.keeper(raw))
        text = prepared.text
        if prepared.removed:
            self._event(cid, "message_cleaned", "desk", {"removed": list(prepared.removed), "text": text[:2000]})
        if conversation.status == "paused":  # an approval is pending: talk, but start nothing new
            act = self.acts.read(text)
            if act.is_(*WHILE_PAUSED):
                return self._answer_act(conversation, person, state, dialogue, Move("act", act=act.act))
            return self._waiting(conversation, dialogue)
        move = self.reader.read(dialogue, text)
        dialogue.refused_for = False  # read with this message only
        if move.kind == "act":  # a dialogue act, answered by the desk for every engine alike
            return self._answer_act(conversation, person, state, dialogue, move)
        return await self._run_topic(
            conversation, person, state, dialogue, move, text, raw, on_event, secret.code, (channel, budget)
        )

    # -- reading a message against the dialogue state -----------------------------------------------

    # -- dialogue acts ---------------------------------------------------------------------------

    def _answer_act(
        self, conversation: Conversation, person: Person, state: dict[str, Any], dialogue: Dialogue, move: Move
    ) -> DeskReply:
        """Answer a dialogue act (thanks, a person please, cancel, ...) the same way for every engine."""
        tickets = TopicTickets(self.services, conversation.id, person)
        passage = ""
        if move.act == "repeat" and move.topic is not None and move.detail:  # a question about an earlier answer
            passage = answer_from_cited(self.deps, person.email, state, move.topic, move.detail)
        with self.conversations.unit_of_work():
            text = answer_act(dialogue, move, tickets, passage)
            self._event(conversation.id, "dialogue_act", "desk", {"act": move.act, "detail": move.detail[:500]})
            return self._save_dialogue(conversation, state, dialogue, text)

    def _save_dialogue(
        self, conversation: Conversation, state: dict[str, Any], dialogue: Dialogue, text: str
    ) -> DeskReply:
        """Store the reply with the dialogue state (inside the caller's unit of work) and return it."""
        notice = state.pop("notice", None)
        if notice:
            text = compose(notice, text)
            if text == dialogue.last_reply:  # a second secret typed: not the same words as if nothing had happened
                text = compose("That's another one typed here, and I've taken it out as well.", text)
        elif text == dialogue.last_reply:  # never the same reply to two different messages
            active = dialogue.active
            if active is not None and active.status == "escalated" and active.ticket:
                hint = f"{active.ticket} is with a person already and they know you're waiting. If it can't wait, "
                hint += "call the service desk on 4357."
            else:
                hint = "Tell me more about what you see, or say 'a person please' and I'll pass it to the service desk."
            text = compose("I've nothing new to add to my last answer.", open_topics(dialogue), hint)
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
        code: str | None = None,
        pacing: tuple[str, TurnBudget | None] = ("api", None),
    ) -> DeskReply:
        pending = dialogue.pending
        run_state: RunState | None = None
        if move.kind == "continue" and move.topic is not None:
            topic = move.topic
            own = self.triage.classify(text).intent
            if topic.run and (other := self.gate.someone_else_later(topic.intent, text, person, own)) is not None:
                with self.conversations.unit_of_work():  # the request under way, and its question, stay as they were
                    self._event(
                        conversation.id, "refused", "desk", {"reason": "acts on someone else", "text": text[:500]}
                    )
                    dialogue.refused_for = True  # "how can they sort it themselves?" next is about that person
                    return self._save_dialogue(conversation, state, dialogue, compose(other, open_topics(dialogue)))
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
            text = move.detail or text  # a question that points back is read with the last topic's words
            topic = dialogue.new_topic(text)
        topic.confirmed = sorted({*topic.confirmed, *explicit_requests(text)})
        if self.acts.read(text).is_("fixed"):  # "that worked": an engine may now resolve the ticket
            topic.confirmed = sorted({*topic.confirmed, "resolve"})
        dialogue.pending = None
        start = run_state.agent if run_state is not None and run_state.agent != TRIAGE else TRIAGE
        turn = Turn(self.services, conversation, person, state, dialogue, topic, on_event)
        turn.channel, turn.budget = pacing
        if start == TRIAGE:
            turn.triage = self.triage.classify(text, vip=person.vip)
            turn.note_injection(text)
            refused = self._refuse_before_run(conversation, person, state, dialogue, topic, turn.triage, text)
            if refused is not None:
                return refused
        context = turn.context(run_state)
        if start == TRIAGE and turn.triage is not None and self._pre_routes(turn.triage):
            start = turn.triage.agent  # the classifier is sure: no model call to route it again
            if run_state is not None:
                run_state.agent = start
            why = f"classifier: {turn.triage.intent} ({turn.triage.confidence:.2f})"
            turn.on_event(RunEvent("routed", start, {"source": TRIAGE, "reason": why}))
        if code is not None:
            context.secrets["code"] = code
        try:
            result = await self.runner.run(start, text, context, run_state, on_event=turn.on_event)
        except Exception as exc:  # the engine or a backend failed: keep the message, tell the user plainly
            log.exception("turn failed in conversation %s", conversation.id)
            return turn.failed(exc)
        return turn.finish(result.state, context, raw)

    def _pre_routes(self, result: TriageResult) -> bool:
        """Whether a language-model engine starts at the specialist the classifier chose: only when it is sure
        (no clarifying question, confidence over the threshold, no injection suspected). The offline engine
        routes with the same classifier itself, so it always starts at triage."""
        return (
            self.pre_route
            and result.agent in self.agents
            and result.agent != TRIAGE
            and result.clarify is None
            and not result.injection
            and result.confidence >= self.triage.threshold
        )

    def _refuse_before_run(
        self,
        conversation: Conversation,
        person: Person,
        state: dict[str, Any],
        dialogue: Dialogue,
        topic: Topic,
        result: TriageResult,
        text: str,
    ) -> DeskReply | None:
        """Refuse, before any engine runs, a request about someone else's things, or one whose only action the
        account rules refuse (escalated to the owning team; no identity check first: it could not help)."""
        if result.agent not in self.agents:
            return None
        topic.agent, topic.intent = result.agent, result.intent
        other = self.gate.someone_else(result, text, person)
        if other is not None:
            topic.status = "refused"
            with self.conversations.unit_of_work():
                self._event(conversation.id, "refused", "desk", {"reason": "acts on someone else", "text": text[:500]})
                return self._save_dialogue(conversation, state, dialogue, compose(other, open_topics(dialogue)))
        found = self.gate.account(result, person)
        if found is None:
            return None
        action, refusal = found
        say = refusal_text(refusal)
        earlier = next(
            (t for t in reversed(dialogue.topics) if t is not topic and t.agent == topic.agent
             and t.status == "escalated" and t.ticket),
            None,
        )  # fmt: skip
        if earlier is not None:  # asked again: the same ticket gets a reminder, not a second ticket
            topic.status = "cancelled"  # kept, never dropped: the employee may have seen it listed already
            dialogue.current, topic = earlier.id, earlier
            earlier.text = f"{earlier.text} / {text}"[:2000]
            say = say.replace("I can't do that here", "I still can't do that here, even when asked again", 1)
        with self.conversations.unit_of_work():
            why = {"reason": refusal.reason, "action": action, "account": refusal.category, "team": refusal.team}
            self._event(conversation.id, "refused", "desk", why)
            note = TopicTickets(self.services, conversation.id, person).escalate(
                topic, dialogue, f"Refused {action}: {refusal.reason}", group=refusal.team, urgent=refusal.urgent
            )
            return self._save_dialogue(conversation, state, dialogue, compose(say, yourself(refusal, action), note))

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
        person = self.who.requester(conversation, None)
        if person is None:  # pragma: no cover - a paused conversation always has a known requester
            raise ConversationNotFoundError("conversation", conversation.id)
        turn = Turn(self.services, conversation, person, state, dialogue, topic, on_event)
        context = turn.context(run_state)
        context.approvals[record.id] = Approval(record.id, record.tool, record.arguments, record.requested_by)
        with self.conversations.unit_of_work():
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

    def _plain(
        self, conversation: Conversation, text: str, status: str, state: dict[str, Any] | None = None
    ) -> DeskReply:
        with self.conversations.unit_of_work():
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
