"""Conversation repair: the ticket changes that dialogue acts ask for, the same for every intent and engine.

"A person please" hands the topic's ticket to a person (opening one when the topic has none);
"that fixed it" resolves it; "never mind" withdraws it. Each change commits with the event that
records it. Playbooks never see these acts: they are handled here, before any engine runs.
"""

from __future__ import annotations

import re
import uuid

from firstline.directory.models import KnownIncident, Person
from firstline.helpdesk.compose import CHITCHAT, GREETING, compose, open_topics
from firstline.helpdesk.dialogue import Dialogue, Pending, Topic
from firstline.helpdesk.incidents import site_of
from firstline.helpdesk.priority import assess
from firstline.helpdesk.reading import Move
from firstline.helpdesk.reply import ticket_card
from firstline.helpdesk.services import DeskServices
from firstline.ticketing import Impact, NewTicket, Ticket, TicketState, TicketUpdate, Urgency

__all__ = ["TopicTickets", "answer_act", "where_we_were"]

_FINAL = (TicketState.RESOLVED, TicketState.CLOSED, TicketState.CANCELED)


class TopicTickets:
    """Changes to a topic's own ticket that the employee asked for in words (not through a tool)."""

    def __init__(self, services: DeskServices, cid: str, person: Person) -> None:
        self.services = services
        self.cid = cid
        self.person = person

    def _own(self, topic: Topic) -> Ticket | None:
        ticket = self.services.ticket_or_none(topic.ticket)
        if ticket is None or ticket.requester != self.person.email.lower():
            return None
        return ticket

    def _group(self, topic: Topic) -> str:
        specialist = self.services.triage.taxonomy.specialists.get(topic.agent)
        return specialist.assignment_group if specialist else "Service Desk"

    def _open_ticket(self, topic: Topic, parent: str | None = None) -> Ticket:
        text = " ".join(topic.text.split()) or "Asked for a person in chat"
        # Its priority is read from what was asked, as any ticket's ("... he has a client meeting at 3pm": a deadline).
        defaults = self.services.triage.taxonomy.intents.get(topic.intent)
        impact, urgency = (defaults.default_impact, defaults.default_urgency) if defaults else (3, 2)
        assessed = assess(text, impact, urgency, self.person.vip)
        ticket = self.services.tickets.create(
            NewTicket(
                requester=self.person.email,
                short_description=text if len(text) <= 150 else text[:147].rsplit(" ", 1)[0] + "...",
                description=topic.text or text,
                category=topic.agent,
                specialist=topic.agent,
                intent=topic.intent,
                impact=Impact(assessed.impact),
                urgency=Urgency(assessed.urgency),
                assignment_group=self._group(topic),
                correlation_id=f"{self.cid}:{uuid.uuid4().hex[:8]}",
                tags=[f"intent:{topic.intent}"] if topic.intent else [],
            )
        )
        if parent:
            ticket = self.services.tickets.link_to_parent(ticket.number, parent, author="firstline")
        topic.ticket = ticket.number
        self.services.event(self.cid, "ticket_change", "desk", {"action": "opened", "ticket": ticket_card(ticket)})
        return ticket

    def escalate(
        self, topic: Topic, dialogue: Dialogue, why: str, group: str | None = None, urgent: bool = False
    ) -> str:
        """Hand the topic to a person with a summary; the sentence that tells the employee where it went.
        ``urgent`` raises the ticket to high urgency and medium impact first (a possible attack)."""
        ticket = self._own(topic)
        follows = ""
        if ticket is None or ticket.state in _FINAL:
            parent = topic.ticket if topic.ticket and ticket is None else None
            if ticket is not None:  # resolved or closed: a new ticket carries it on, and says which one it follows
                follows = f"{ticket.number} was already {ticket.state.value}, so I've opened a new ticket for it. "
            ticket = self._open_ticket(topic, parent=parent)
        elif topic.status == "escalated":  # already with a person: tell them again, don't re-queue it
            self.services.tickets.comment(ticket.number, f"{why}, again.", author="firstline", internal=True)
            self.services.event(
                self.cid, "ticket_change", "desk", {"action": "reminded", "ticket": ticket_card(ticket)}
            )
            return (
                f"{ticket.number} is already with {ticket.assignment_group}; I've told them again that you're "
                "waiting for a person."
            )
        group = group or ticket.assignment_group or self._group(topic)
        if urgent and (ticket.urgency != Urgency.HIGH or ticket.impact > Impact.MEDIUM):  # at least both
            impact = min(Impact(ticket.impact), Impact.MEDIUM)
            ticket = self.services.tickets.update(
                ticket.number, TicketUpdate(impact=impact, urgency=Urgency.HIGH), author="firstline"
            )
        summary = self.summary(topic, dialogue, why)
        escalated = self.services.tickets.escalate(ticket.number, group, summary, author="firstline")
        self.services.event(
            self.cid, "ticket_change", "desk", {"action": "escalated", "why": why, "ticket": ticket_card(escalated)}
        )
        topic.status = "escalated"
        where = f"{escalated.number} is with {group} now, with a summary of what we've tried; they'll contact you."
        return follows + where

    def status(self, topic: Topic) -> str:
        """Where the topic's ticket is and what happens next, from the ticket itself."""
        ticket = self.services.ticket_or_none(topic.ticket)
        if ticket is None:
            return f"{where_we_were(topic)} There's no ticket for it yet."
        state = ticket.state.value.replace("_", " ")
        due = ticket.due_at.strftime("%a %d %b %H:%M UTC")
        if ticket.state.is_open:
            nxt = (
                f"{ticket.assignment_group} aim to resolve priority {int(ticket.priority)} tickets by {due}; they'll "
                "contact you by e-mail or Teams, and you can ask me about it here any time."
            )
        else:
            nxt = (
                "Nothing more is needed from you. If the problem comes back, tell me and I'll reopen it or raise a "
                "new one."
            )
        return f"{ticket.number} ({ticket.short_description}) is {state}. {nxt}"

    def note(self, topic: Topic, detail: str) -> str:
        """Add what the employee said to the topic's own ticket; the words that say so (empty: no ticket)."""
        ticket = self._own(topic)
        if ticket is None or not ticket.state.is_open:
            return ""
        self.services.tickets.comment(ticket.number, f"Added in chat: {detail[:1000]}", author="firstline")
        topic.text = f"{topic.text} / {detail}"[:2000]
        return f"I've added that to {ticket.number}"

    def link(self, topic: Topic, incident: KnownIncident) -> str:
        """The employee confirmed their problem is a known incident: link their ticket to its parent."""
        site = site_of(self.person)
        linked = self.services.incidents.for_known(incident, topic.intent, topic.agent, site)
        ticket = self._own(topic)
        if ticket is not None and ticket.state.is_open:
            self.services.tickets.link_to_parent(ticket.number, linked.parent.number, author="firstline")
        self.services.tickets.comment(
            linked.parent.number,
            f"Also affected: {self.person.name} <{self.person.email}> ({site.tag}): {topic.text[:500]}",
            author="firstline",
            internal=True,
        )
        self.services.event(
            self.cid, "ticket_change", "desk", {"action": "linked_to_incident", "ticket": ticket_card(linked.parent)}
        )
        topic.status = "escalated"
        topic.known = {"number": linked.parent.number, "title": linked.title, "team": linked.team}
        workaround = f" Workaround: {linked.workaround}" if linked.workaround else " There's no workaround yet."
        return (
            f"I've added you to {linked.parent.number} ({linked.title}); the {linked.team} team is on it and you'll be "
            f"told when it's fixed.{workaround}"
        )

    def resolve(self, topic: Topic, note: str) -> str:
        """Resolve the topic's own ticket (the employee said it is fixed)."""
        topic.status = "resolved"
        ticket = self._own(topic)
        if ticket is None or ticket.state in _FINAL:
            return ""
        resolved = self.services.tickets.update(
            ticket.number, TicketUpdate(state=TicketState.RESOLVED, resolution_note=note), author="firstline"
        )
        self.services.event(self.cid, "ticket_change", "desk", {"action": "resolved", "ticket": ticket_card(resolved)})
        return f"I've resolved {resolved.number}."

    def own_open_ticket(self, topic: Topic) -> Ticket | None:
        """The topic's own ticket while it can still be withdrawn (not a known incident's, not finished)."""
        ticket = self._own(topic)
        if ticket is None or ticket.state in _FINAL or TicketState.CANCELED not in ticket.state.allowed_next:
            return None
        return ticket

    def withdraw(self, topic: Topic) -> str:
        """The employee withdrew the topic: cancel its ticket while nobody has worked on it beyond Tier-1."""
        topic.status = "cancelled"
        ticket = self._own(topic)
        if ticket is None or ticket.state in _FINAL or TicketState.CANCELED not in ticket.state.allowed_next:
            return ""
        self.services.tickets.comment(
            ticket.number, "Withdrawn by the requester in chat.", author="firstline", internal=True
        )
        cancelled = self.services.tickets.update(
            ticket.number, TicketUpdate(state=TicketState.CANCELED), author="firstline"
        )
        self.services.event(
            self.cid, "ticket_change", "desk", {"action": "withdrawn", "ticket": ticket_card(cancelled)}
        )
        return f"I've cancelled {cancelled.number}."

    def reject(self, topic: Topic, what: str, by: str, reason: str) -> str:
        """A person declined the topic's request: close its ticket as rejected, with the reason."""
        topic.status = "rejected"
        ticket = self._own(topic)
        if ticket is None or ticket.state in (TicketState.CLOSED, TicketState.CANCELED):
            return ""
        note = f"Rejected: the request to {what} was declined by {by}: {reason or 'no reason given'}."
        tickets = self.services.tickets
        tickets.comment(ticket.number, note, author="firstline", internal=False)
        if ticket.state != TicketState.RESOLVED:
            tickets.update(
                ticket.number, TicketUpdate(state=TicketState.RESOLVED, resolution_note=note), author="firstline"
            )
        closed = tickets.update(ticket.number, TicketUpdate(state=TicketState.CLOSED), author="firstline")
        self.services.event(self.cid, "ticket_change", "desk", {"action": "rejected", "ticket": ticket_card(closed)})
        return f"{closed.number} is closed as rejected."

    def summary(self, topic: Topic, dialogue: Dialogue, why: str) -> str:
        said = " / ".join(t.text[:200] for t in dialogue.topics if t.id == topic.id or t.is_open)
        last = topic.last_reply[:400] or dialogue.last_reply[:400]
        return (
            f"{why}. The employee said: {said or 'nothing specific yet'}. Firstline's last answer: {last or 'none'}."[
                :2000
            ]
        )


def answer_act(dialogue: Dialogue, move: Move, tickets: TopicTickets, passage: str = "") -> str:
    """The reply to a dialogue act, with the ticket changes it asks for (inside the caller's unit of work);
    ``passage``: for a question about an earlier answer, what its page says about it (else that answer again)."""
    pending, act = dialogue.pending, move.act
    active = dialogue.active
    target = active if active is not None and active.is_open else dialogue.earlier_open()
    asked = dialogue.topic(pending.topic) if pending is not None else None
    if act == "human" or (act == "affirm" and pending is not None and pending.kind == "offer_human"):
        topic = target or active or dialogue.new_topic("Asked for a person in chat")
        if not topic.is_open and topic.status != "escalated":  # a refused request goes with it: what a person is for
            refused = f": {topic.text}" if topic.status == "refused" and topic.text else ""
            topic = dialogue.new_topic(f"Asked for a person in chat{refused}")
        again = topic.status == "escalated" and tickets.own_open_ticket(topic) is not None
        where = tickets.escalate(topic, dialogue, "The employee asked for a person")
        dialogue.pending = None
        lead = "Of course." if again else "Of course. I've passed this to a person."
        return compose(f"{lead} {where}", *_next_step(dialogue, but=topic))
    if act == "status":
        about = target or next((t for t in reversed(dialogue.topics) if t.ticket), None)
        return tickets.status(about) if about is not None else "There's no ticket in this conversation yet."
    if act == "greeting":
        if target is not None:
            dialogue.current = target.id
            dialogue.pending = Pending.resume(target)
            return f"Hello again! {where_we_were(target)}"
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
        known = next(
            (i for i in tickets.services.directory.incidents() if i.id == pending.target.partition(":")[2]), None
        )
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
    if act == "how_they_can" and active is not None:
        return compose(how_they_can(active), "Anything else I can help with?")
    if act == "add_detail" and active is not None:
        noted = tickets.note(active, move.detail)
        if noted:
            return compose(f"Thanks, {noted} for whoever picks it up.", "Anything else I can help with?")
        return compose("Thanks, noted.", "Anything else I can help with?")
    if act == "reask":
        return (
            "Did it work after you tried it? Reply 'yes' if the problem is gone, or 'no' and I'll pass it to a person."
        )
    if act == "stray_code":
        lead = (
            "I'm not waiting for a code from you right now, so I haven't used that one. If you got a code you "
            "didn't ask for, tell me and I'll flag it to Security."
        )
        if asked is not None and pending is not None and pending.kind == "confirmation":
            return compose(lead, where_we_were(asked, pending))  # a "yes" next answers the question read last
        return f"{lead} What can I help with?"
    if act == "repeat":
        said = move.topic  # an earlier answer asked for by what it named, or the last one by a question about it
        if said is not None and passage:
            recalled = compose(f'About "{said.label()}":', passage)
            if asked is said and pending is not None and pending.kind == "confirm_fix":
                question = [p for p in said.last_reply.split("\n\n") if _ASKED_IF_FIXED.search(p)]
                return compose(recalled, question[-1] if question else where_we_were(asked, pending))
            if asked is not None and pending is not None:
                return compose(recalled, where_we_were(asked, pending))
            return recalled
        if said is not None and said.last_reply:
            answer = said.last_reply  # an earlier answer: without its "did that fix it?" once that is settled
            if not said.is_open:
                answer = compose(*(p for p in answer.split("\n\n") if not _ASKED_IF_FIXED.search(p)))
            recalled = f'Here\'s what I said about "{said.label()}":\n\n{answer}'
            if asked is not None and asked is not said and pending is not None:
                return compose(recalled, where_we_were(asked, pending))  # the question a "yes" next answers
            return recalled
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
        number = pending.target.partition(":")[2]  # a question, as the first time: a "yes" next answers it
        return f"Just to be sure: shall I cancel {number}? Reply 'yes' to cancel it, or 'no' to keep it open."
    if act == "affirm" and pending is not None and pending.kind == "detail" and asked is not None and not asked.agent:
        return "OK. Tell me in a sentence what you need help with."
    if act == "affirm" and pending is not None and pending.kind in ("choice", "detail") and asked is not None:
        return f"Thanks. To carry on I need one more thing from you. {asked.last_reply}"
    if act == "keep" and asked is not None:
        dialogue.pending = Pending.resume(asked)
        return compose(f"OK, {asked.ticket or 'it'} stays open.", where_we_were(asked))
    if act == "back":
        earlier = dialogue.earlier_open()
        if earlier is None:
            done = next((t for t in reversed(dialogue.topics) if t is not active and not t.is_open), None)
            if done is not None:
                number = f" ({done.ticket})" if done.ticket else ""
                return compose(
                    f'The earlier one, "{done.label()}"{number}, is {done.status}.', "What would you like to do?"
                )
            return compose("There's no earlier problem still open.", "What would you like to do?")
        dialogue.current = earlier.id
        dialogue.pending = Pending.resume(earlier)
        return f"Back to it. {where_we_were(earlier)}"
    declined = act in ("deny", "not_fixed", "skip")
    if declined and pending is not None and pending.kind == "secondary" and asked is not None:
        asked.status = "cancelled"
        dialogue.pending = None
        return compose(f'OK, I\'ll leave "{asked.label()}" for now.', "Anything else I can help with?")
    fixing = asked if pending is not None and pending.kind == "confirm_fix" else None
    if act == "thanks" and fixing is not None and not _ASKED_IF_FIXED.search(dialogue.last_reply):
        # "ok cheers" after another answer ("how long will that take?" -> its due date) thanks for that answer; it
        # does not say the problem is gone, so the ticket stays open and the question is asked again.
        return compose(
            "You're welcome!",
            f"Is it working now? Reply 'yes' and I'll close {fixing.ticket or 'this'}, or 'no' and I'll pass it to "
            "a person.",
            open_topics(dialogue, but=fixing),
        )
    if act in ("fixed", "thanks", "affirm") and (fixing is not None or (act == "fixed" and target is not None)):
        done = fixing or target
        assert done is not None
        note = tickets.resolve(done, "The employee confirmed it is fixed")
        dialogue.pending = None
        return compose(f"Great, glad it's working. {note}".strip(), *_next_step(dialogue))
    # "nope, still spinning" with nothing asked, right after the problem was marked fixed: it is that problem.
    reopened = active if pending is None and active is not None and active.status == "resolved" else None
    if act in ("not_fixed", "deny") and (
        fixing is not None or (act == "not_fixed" and (target is not None or reopened is not None))
    ):
        broken = fixing or target or reopened
        assert broken is not None
        why = "The suggested fix did not work" + (f" ({move.detail[:300]})" if move.detail else "")
        where = tickets.escalate(broken, dialogue, why)
        dialogue.pending = None
        return compose(f"Sorry it's still not working. {where}", *_next_step(dialogue, but=broken))
    if act == "deny" and pending is not None and pending.kind == "offer_human":
        dialogue.pending = Pending.resume(asked) if asked is not None else None
        where = where_we_were(asked) if asked is not None and asked.is_open else ""
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
            return compose("You're welcome!", where_we_were(asked, pending), open_topics(dialogue, but=asked))
        return compose("You're welcome!", open_topics(dialogue), "Anything else I can help with?")
    if act == "resolve_confirmed" and asked is not None:
        note = tickets.resolve(asked, "The requester said it works now, after it was passed on")
        dialogue.pending = None
        return compose(f"Great, glad it's working. {note}".strip(), *_next_step(dialogue, but=asked))
    if act == "fixed":
        handed_over = active is not None and active.status == "escalated" and active.ticket
        if handed_over and active is not None and tickets.own_open_ticket(active) is not None:
            # it went to a person and now works: the person should know before they call, so offer to resolve it
            dialogue.pending = Pending("confirmation", active.id, f"resolve:{active.ticket}")
            return (
                f"Glad it's working now! Shall I resolve {active.ticket} so the team it went to knows it's sorted? "
                "Reply 'yes' to resolve it, or 'no' to keep it open."
            )
        if active is not None and active.status in ("escalated", "refused") and active.ticket:
            # nothing was fixed here: the last problem went to a person, so say where it stands instead
            return compose(tickets.status(active), "Is there anything else I can help with?")
        return "Glad it's working! Anything else I can help with?"
    if act == "not_fixed":
        return "Sorry to hear that. What isn't working? Tell me in a sentence what you see."
    if act == "affirm":
        if pending is not None and pending.kind == "code":  # "yes, send me a code": it is already on its way
            return (
                "The code is already on its way to your registered mobile: type the six digits here when it "
                "arrives. If it doesn't come within a couple of minutes, say 'send a new code'."
            )
        return "Sorry, I'm not sure what you're saying yes to. What can I help with?"
    return compose("OK.", open_topics(dialogue), "Is there anything else I can help with?")


# Every way Firstline asks whether its suggestion worked (turn.py, the note and re-ask replies above).
_ASKED_IF_FIXED = re.compile(
    r"\b(?:Did (?:that|the steps|my suggestion) fix it|Did it work after you tried it|is the problem gone|"
    r"Does the workaround help|Is it working now|Did that answer your question)\?"
)


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


def how_they_can(refused: Topic) -> str:
    """How the person a refused request was for gets it done themselves (asked after the refusal)."""
    own = _SELF_SERVICE.get(refused.intent, "")
    return compose(
        "They can ask me themselves, the same way you did: in this chat signed in as themselves, or by calling the "
        "service desk on 4357. I'll check it's really them (a code to their own registered mobile) before I change "
        "anything. If they can't sign in anywhere, the service desk can check who they are by phone and help.",
        own,
    )


_SELF_SERVICE = {
    "password_reset": "For a forgotten or expired password they can also reset it themselves at https://aka.ms/sspr "
    "from any browser, with their registered phone.",
    "account_unlock": "A locked account also unlocks itself after 15 minutes if they stop trying meanwhile (each "
    "attempt restarts the timer).",
}


def where_we_were(topic: Topic, pending: Pending | None = None) -> str:
    """Where a topic stands, in a sentence (not the whole last answer again). With the question still pending,
    that question is the one asked again (a "yes" next answers it: it must be the question the employee read
    last, not an earlier one the topic waited on)."""
    ticket = f" ({topic.ticket})" if topic.ticket else ""
    state = "is still open" if topic.is_open else f"is {topic.status}"
    action, _, number = (pending.target if pending is not None else "").partition(":")
    if pending is not None and pending.kind == "confirmation" and action in _CONFIRMING and number:
        return f'"{topic.label()}"{ticket} {state}. {_CONFIRMING[action].format(number=number)}'
    waiting = pending.kind if pending is not None else topic.waiting
    return f'"{topic.label()}"{ticket} {state}: {_WHERE.get(waiting, _ELSE)}'


_CONFIRMING = {
    "withdraw": "Shall I still cancel {number}? Reply 'yes' to cancel it, or 'no' to keep it open.",
    "resolve": "Shall I resolve {number}? Reply 'yes' if it's sorted, or 'no' to keep it open.",
}


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
    if (
        kind == "confirmation"
        and topic is not None
        and pending is not None
        and pending.target.split(":")[0] in _CONFIRMING
    ):
        return f"Sorry, I meant this: {where_we_were(topic, pending)}"  # "what?" to "Shall I cancel INC...?"
    if topic is not None and topic.last_reply:
        return f"Sorry, let me put it another way. {topic.last_reply}"
    return "Sorry, that wasn't clear. Tell me in your own words what you need, or say 'a person please'."
