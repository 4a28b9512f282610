"""Reading a message against the dialogue state: an answer to the pending question, a dialogue act, or content.

:class:`MessageReader` decides, from the dialogue-act model, the triage model and the stored
:class:`~firstline.helpdesk.dialogue.Dialogue`, what a message is — never from the words of
Firstline's own replies — and returns a :class:`Move` for the desk to carry out. One reference is resolved
against them: "what was the workaround again?" asks for an earlier answer, found by the thing it names.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from firstline.helpdesk import slots
from firstline.helpdesk.acts import Acts
from firstline.helpdesk.dialogue import Dialogue, Topic
from firstline.helpdesk.triage import Triage, TriageResult

__all__ = ["WHILE_PAUSED", "MessageReader", "Move"]

# A question about another case ("what if it happens on my phone?"), never an answer to "did that fix it?".
_WHAT_IF = re.compile(
    r"^\W*(?:ok(?:ay)?\W+)?(?:and\W+|but\W+)?(?:what if|what about|how about|what happens if)\b", re.I
)


_ASKS_ABOUT_THEM = re.compile(
    r"^(?=.*\b(?:she|he|they|her|him|them|herself|himself|themselves)\b)"
    r"(?=.*(?:\?|^\W*(?:\w+\W+)?(?:how|what|can|could|would|should|where|who)\b))",
    re.I | re.S,
)


@dataclass(frozen=True, slots=True)
class Move:
    """How a message relates to the dialogue: a dialogue act, more of a topic, starting one, or a new topic."""

    kind: Literal["act", "continue", "start", "new"]
    act: str = "inform"
    topic: Topic | None = None
    detail: str = ""


# Acts a request can be mistaken for ("where do I get zoom?" is no "where do I find that?"); answers such as
# "yes that fixed it, thanks" are never overruled by triage.
_LOOKS_LIKE_A_QUESTION = frozenset({"clarify", "chitchat", "complaint", "greeting", "back", "repeat", "skip", "status"})
WHILE_PAUSED = ("human", "thanks", "goodbye", "repeat", "clarify", "chitchat", "complaint")
_ABOUT_THE_LAST_REPLY = frozenset(
    {"affirm", "deny", "fixed", "not_fixed", "cancel", "repeat", "clarify", "skip", "back", "complaint"}
)
# "it worked after I pulled the paper out", "works now after a restart", "printed fine": the problem is gone.
_WORKS = re.compile(
    r"\b(?:it|that|this|everything|all|mine|printer|laptop|vpn|outlook|teams|wifi|phone)\s+(?:\w+\s+)?"
    r"(?:works|worked|is working|'s working)\b"
    r"|\b(?:works|working|worked|printed|prints|connects|connected|loads|opens|opened|syncs|synced)\s+"
    r"(?:now|again|fine|ok|okay|perfectly|properly)\b"
    r"|\b(?:that|it|this)\s+(?:fixed|sorted|solved|did)\s+(?:it|the trick)\b"
    r"|\b(?:fixed|sorted|solved|resolved)\s+(?:now|it)\b|\ball\s+(?:good|sorted|working)\b",
    re.I,
)
_NOT = re.compile(
    r"\b(?:not|no|never|still|nothing|same|neither|nor|stopped|until|only|but|however|except|yesterday|today|"
    r"earlier|before|used to|then|though|although|crash\w*|error\w*|fail\w*|broke\w*|drop\w*|freez\w*|slow\w*)\b|"
    r"n't\b|\bcannot\b",
    re.I,
)
# "the one about the printer", "my ticket for the VPN": which ticket, after a reply about tickets.
_WHICH_TICKET = re.compile(
    r"^\W*(?:(?:it'?s|its|i mean|no,?)\s+)?(?:the one|the ticket|my ticket|the request|the incident)"
    r"\s+(?:about|for|with|on|from|i|that|when|where)\b",
    re.I,
)
_ABOUT_THE_CODE = re.compile(r"\b(?:codes?|texts?|sms)\b", re.I)  # not "message": "my messages bounce" is new
# "yes im in the office", "yeah i'm on the vpn": a yes that says where they are, not that the problem is gone.
_WHERE_I_AM = re.compile(
    r"^\W*(?:yes|yeah|yep|yup|ya)\b[\s,.!-]*(?:i am|i'm|im|we are|we're|i was)\s+"
    r"(?:in|on|at|using|working|connected|from|home)\b",
    re.I,
)
# "yes im on the vpn", "i'm using the web version", "its a dell, plugged into the dock": context, no problem.
_CONTEXT = re.compile(r"^\W*(?:yes|yeah|yep|yup|ya|i am|i'm|im|i was|we are|we're|it'?s|it is)\b(?!.*\?)", re.I)
# Words that report a problem (or a further one): without any, a statement after "did that fix it?" is context.
_PROBLEM = re.compile(
    r"n't\b|\b(?:not|no|never|cannot|cant|wont|doesnt|isnt|error\w*|fail\w*|drop\w*|slow\w*|broke\w*|crash\w*|stuck|"
    r"freez\w*|disconnect\w*|lost|missing|keeps?|stopped|locked|expired|down|problem\w*|issue\w*|still|again|"
    r"also|another|new|need\w*|help|want\w*|wrong|same|dead|black|blank|nothing|flicker\w*|worse)\b",
    re.I,
)
_WHICH_THING = re.compile(r"\b(?:which one|not sure which|whichever)\b", re.I)
_EARLIER = re.compile(r"\b(earlier|previous|before|first|other|original|last|old|back)\b", re.I)
# Acts the act model gives a problem that is back ("the vpn dropped again" read as "back", "dropping" as cancel).
_MISREAD_WHEN_BACK = frozenset({"inform", "not_fixed", "cancel", "back", "repeat", "clarify"})
_IS_BACK = re.compile(r"\bre-?open\w*|\b(?:came|come|coming|is|it's|its) back\b", re.I)
# "what was the workaround again?", "what did you say the gateway was", "remind me what the steps were": a question
# about something an earlier answer said (not "how do I map a drive again?", which asks anew).
_RECALL = re.compile(
    r"^\W*(?:(?:sorry|so|ok|okay|and|um|erm|wait|oh|hi|hey)\W+)*(?:"
    r"(?:what|which|where)\s+(?:was|were|did)\b.*\bagain\b|what\s+did\s+you\s+(?:say|tell|mention|suggest)\b|"
    r"(?:can|could)\s+you\s+(?:remind|repeat|tell me again)\b|remind\s+me\b|repeat\s+(?:the|that|those|what)\b)",
    re.I,
)
# Words too general to say which earlier answer a recall question is about.
_RECALL_SKIP = frozenset(
    "what which where when again were that this those these them your youre said tell told mention mentioned "
    "remind repeat could would should sorry okay there then have with about please thanks thank just what's "
    "ticket number status incident suggest suggested thing things first should need does doing".split()
)
# "the password for it", "can i have teams on it", "does it work with that": words that point back at a thing named
# before (and "it" in any question: "should i keep using it?").
_POINTS_BACK = re.compile(
    r"\b(?:for|on|to|with|in|into|onto|about|of|from|through)\s+(?:it|that|this|them|there)\b|\b(?:does|is|will|can)\s+it\b",
    re.I,
)
_IT = re.compile(r"\b(?:it|them|that one|this one)\b", re.I)  # in a question: "should i keep using it?"
_STILL = re.compile(r"\b(still|again|already|didn'?t (help|work)|no luck|same (problem|error|thing|issue))\b", re.I)


class MessageReader:
    """What each message is, given the conversation's dialogue state."""

    def __init__(self, triage: Triage, acts: Acts, agents: Collection[str]) -> None:
        self.triage = triage
        self.acts = acts
        self.agents = agents

    def read(self, dialogue: Dialogue, text: str) -> Move:
        """What the message is: an answer to the pending question, a dialogue act, or content (which topic)."""
        reading = self.acts.read(text)
        pending = dialogue.pending
        active = dialogue.active
        act = reading.act if reading.confidence >= 0.5 else "inform"
        if act == "back" and pending is not None and pending.kind == "choice":
            act = "inform"  # "the first one" answers "which one?"
        if act == "back" and self.names_a_new_problem(dialogue, text):
            act = "inform"  # "and the vpn from home?" after the Wi-Fi answer: a new question, nothing to go back to
        if act != "inform" and not dialogue.last_reply and act in _ABOUT_THE_LAST_REPLY:
            act = "inform"  # nothing was said yet that this could be about
        if act in _LOOKS_LIKE_A_QUESTION and len(text.split()) >= 5:
            result = self.triage.classify(text)
            if result.agent in self.agents and result.confidence >= 0.8 and result.clarify is None:
                act = "inform"  # "where do I get zoom, a client uses it": a request, not "where do I find that?"
        linking = pending is not None and pending.kind == "confirmation" and pending.target.startswith("link:")
        if linking and act in ("affirm", "deny"):
            return Move("act", act="link_incident" if act == "affirm" else "not_incident")
        if pending is not None and pending.kind == "confirmation" and pending.target.startswith("resolve:"):
            if act in ("affirm", "fixed"):  # not "thanks": thanking for the question is no yes
                return Move("act", act="resolve_confirmed")
            if act in ("deny", "skip", "not_fixed"):
                return Move("act", act="keep")
        if pending is not None and pending.kind == "confirmation" and pending.target.startswith("withdraw:"):
            if act == "affirm":
                return Move("act", act="withdraw")
            if act in ("deny", "skip"):
                return Move("act", act="keep")
            if act == "cancel":
                return Move("act", act="confirm_withdraw")
        if pending is not None and pending.kind == "code" and slots.code(text):
            return Move("continue", topic=dialogue.topic(pending.topic))
        # A lone code, or a short message the desk took a code out of ("the code is [code]").
        if slots.code(text) and (len(text.split()) <= 2 or (len(text.split()) <= 6 and "[code]" in text)):
            waiting = next((t for t in reversed(dialogue.topics) if t.status == "awaiting_code"), None)
            if waiting is not None:  # the code for a topic the conversation moved away from
                return Move("continue", topic=waiting)
            return Move("act", act="stray_code")
        fixing = pending is not None and pending.kind == "confirm_fix" and active is not None and active.is_open
        if act == "clarify" and fixing and len(text.split()) >= 6:
            # "it asks me for a server name, what do i put": stuck on a step, not asking what the question meant
            return Move("act", act="not_fixed", detail=text)
        refused = (active is not None and active.status == "refused") or dialogue.refused_for
        if refused and act not in ("human", "goodbye", "thanks") and _ASKS_ABOUT_THEM.search(text):
            return Move("act", act="how_they_can")  # "how would she do it herself?" after "I can only act on yours"
        last = dialogue.topics[-1] if dialogue.topics else None
        if last is not None and last.agent == "ticket" and last.run and _WHICH_TICKET.search(text):
            return Move("continue", topic=last)  # "the one about the printer" after "you have no open tickets"
        if act == "status" and not any(t.ticket for t in dialogue.topics):
            act = "inform"  # "when will it be done?" with no ticket yet: a question for triage
        recallable = pending is None or pending.kind in ("confirm_fix", "detail")
        recalled = recalled_answer(dialogue, text) if recallable else None
        if recalled is not None and act not in ("human", "goodbye", "cancel"):
            return Move("act", act="repeat", topic=recalled)  # "what was the workaround again?"
        if act in _MISREAD_WHEN_BACK and pending is None and self.came_back(text, active):
            # "you closed my ticket but the vpn still drops"; "it's dropping again" (not "drop it": cancel)
            return Move("act", act="not_fixed", detail=text)
        if act in (
            "human",
            "greeting",
            "goodbye",
            "complaint",
            "cancel",
            "repeat",
            "clarify",
            "chitchat",
            "back",
            "status",
        ):
            return Move("act", act=act)
        if pending is not None and pending.kind == "secondary" and act == "affirm":
            return Move("start", topic=dialogue.topic(pending.topic))
        if act in ("inform", "not_fixed", "thanks") and _says_it_works(text):
            return Move("act", act="fixed")  # the act model read "it worked after I pulled the paper out" as a detail
        which = (slots.hostname(text) or slots.printer_name(text)) and len(text.split()) <= 6
        if fixing and which and act not in ("fixed", "affirm", "deny") and not _PROBLEM.search(text):
            return Move("act", act="note", detail=text)  # "its NW-L-0206 i think": which device, whatever the act
        if act == "affirm" and fixing and _WHERE_I_AM.search(text) and not _says_it_works(text):
            return Move("act", act="note", detail=text)  # "yes im in the office, teams works fine though": context
        answered = act in ("affirm", "deny", "fixed", "not_fixed", "thanks", "skip")
        if answered and pending is not None and pending.kind in ("confirm_fix", "offer_human", "secondary"):
            return Move("act", act=act)
        if act in ("fixed", "thanks", "not_fixed", "skip"):
            return Move("act", act=act)
        engine_asked = pending is not None and not pending.target.startswith(("withdraw:", "link:", "resolve:"))
        if engine_asked and pending is not None and pending.kind in ("code", "choice", "detail", "confirmation"):
            topic = dialogue.topic(pending.topic)
            if topic is not None and topic.is_open and self.answers(text, act, topic, pending.kind):
                return Move("continue", topic=topic)
        if pending is not None and pending.kind == "confirm_fix" and active is not None and active.is_open:
            result = self.triage.classify(text)
            if act == "inform" and _STILL.search(text) and not _WHAT_IF.search(text):
                return Move("act", act="not_fixed", detail=text)  # "still flickers": a no, however short
            if act == "inform" and _vague(text, result):
                return Move("act", act="reask")  # "ok I tried that": neither yes nor no, nothing new
            if act == "inform" and result.agent not in self.agents:
                return Move("act", act="note", detail=text)  # "it's the big one on the finance share"
            if act == "inform" and _names_a_detail(text) and len(text.split()) <= 3:
                return Move("act", act="note", detail=text)  # "its NW-L-0206": which laptop, not a ticket question
            if _WHAT_IF.search(text):  # "and what if it happens on my phone?": a new question, not "it failed"
                return Move("new")
            if act == "inform" and _CONTEXT.search(text) and len(text.split()) <= 15 and not _PROBLEM.search(text):
                return Move("act", act="note", detail=text)  # "yes im on the vpn, working from home": context
            if self.same_topic(text, active, loose=True):
                return Move("act", act="not_fixed", detail=text)
        if act in ("affirm", "deny"):
            return Move("act", act=act)
        if active is not None and active.is_open and active.agent and pending is None and self.same_topic(text, active):
            return Move("continue", topic=active)
        if act == "inform" and pending is None and self.more_for_its_ticket(text, active):
            return Move("act", act="add_detail", detail=text)  # "it's everyone on my floor" after "I've raised it"
        return self.about_the_last_topic(dialogue, text) or Move("new")

    def about_the_last_topic(self, dialogue: Dialogue, text: str) -> Move | None:
        """A short new question that points back at the last topic ("whats the password for it" after the Wi-Fi
        answer, "should i keep using it?" after the swollen battery), when triage places it with that topic's team
        only with that topic's words (alone, they read as a password reset, or as nothing IT does). The same
        problem again gets that topic's answer (no second ticket); another of that team's is a new topic read with
        those words. ``None`` when the question stands on its own."""
        last = dialogue.active or (dialogue.topics[-1] if dialogue.topics else None)
        points = _POINTS_BACK.search(text) or (_IT.search(text) and slots.asks(text))
        if last is None or not last.agent or len(text.split()) > 8 or not points:
            return None
        alone = self.triage.classify(text)
        if alone.agent == last.agent:
            return None
        together = f"{text.strip()} (about: {last.label()})"
        result = self.triage.classify(together)
        if result.agent != last.agent or result.clarify is not None:
            return None
        if result.intent == last.intent and last.last_reply:
            return Move("act", act="repeat", topic=last, detail=text)  # answered from that answer's page
        return Move("new", detail=together)

    def came_back(self, text: str, topic: Topic | None) -> bool:
        """The problem this conversation just resolved is back: "it's dropping again", "please reopen my ticket,
        the vpn still drops" (the same problem as triage reads it, or words about the ticket itself)."""
        if topic is None or topic.status != "resolved" or not (_STILL.search(text) or _IS_BACK.search(text)):
            return False
        result = self.triage.classify(text)
        # The same problem, not the same team: "how do i map a network drive again?" is no VPN drop back.
        return (
            result.intent == topic.intent or result.intent in ("ticket_reopen", "ticket_close") or _vague(text, result)
        )

    def more_for_its_ticket(self, text: str, topic: Topic | None) -> bool:
        """A short statement, no question, that triage places nowhere, right after a topic whose ticket is open or
        with a person: more about that problem ("it's everyone on my floor" after the outage was raised), not a
        request outside IT."""
        if topic is None or not topic.ticket or not (topic.is_open or topic.status == "escalated"):
            return False
        if len(text.split()) > 12 or slots.asks(text):
            return False
        if _WHICH_THING.search(text):
            return True  # "not sure which one it is, the grey dell": which thing the problem is on, not a new one
        result = self.triage.classify(text)
        return result.agent not in self.agents and result.agent not in ("greeting", "gibberish")

    def names_a_new_problem(self, dialogue: Dialogue, text: str) -> bool:
        """A "going back" message ("what about the vpn?") that names a problem no topic of this conversation is
        about: there is nothing to go back to, so it raises that problem. A message that points back in time
        ("the earlier one", "my first question") always goes back."""
        if _EARLIER.search(text):
            return False
        result = self.triage.classify(text)
        if result.agent not in self.agents or result.clarify is not None or result.confidence < 0.6:
            return False
        return not any(t.intent == result.intent for t in dialogue.topics)

    def answers(self, text: str, act: str, topic: Topic, kind: str) -> bool:
        """Whether ``text`` answers the pending question rather than raising something new."""
        if act in ("affirm", "deny", "skip"):
            return kind == "confirmation"  # a yes/no answers a yes/no question; to "which one?" it is no answer
        if not topic.agent:
            return True  # the answer to triage's clarifying question
        if _names_a_detail(text):  # "LON-F4-HP-02", an address, a hostname: unless a new request for another team
            result = self.triage.classify(text)  # ("please add Rhys Evans to exec-team@..." after "is it only you?")
            elsewhere = result.agent in self.agents and result.agent != topic.agent and result.clarify is None
            return not (kind == "detail" and elsewhere and result.confidence >= 0.8)
        if kind == "code" and _ABOUT_THE_CODE.search(text):
            return True  # "what code? I didn't get anything": about the code just sent, not a new problem
        if kind == "choice" and slots.device_kind(text) and len(text.split()) <= 8:
            return True  # "it was an iphone 14" to "which device is it?": a device named, not a new problem
        result = self.triage.classify(text)
        if result.agent not in self.agents or result.clarify is not None or _vague(text, result):
            return True  # not a new IT problem: the answer
        if kind == "detail":  # the specialist asked for more about its problem: its agent's words are the answer
            return result.agent == topic.agent
        return result.agent == topic.agent and (result.intent == topic.intent or result.confidence < 0.8)

    def same_topic(self, text: str, topic: Topic, loose: bool = False) -> bool:
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


def recalled_answer(dialogue: Dialogue, text: str) -> Topic | None:
    """The topic whose last answer a recall question ("what was the workaround again?") asks for: the latest one
    whose answer names a word the question names, or the current one when it names nothing ("what should i do
    again?"); ``None`` when it is no such question, or names something no answer said."""
    if not _RECALL.search(text):
        return None
    words = {w for w in re.findall(r"[a-z][a-z'-]{3,}", text.lower()) if w not in _RECALL_SKIP}
    said = [t for t in dialogue.topics if t.last_reply]
    said.sort(key=lambda t: t.id == dialogue.current)  # the current topic first, then the latest
    if not words:  # "what should i do again?": names nothing, so the answer just given
        return said[-1] if said else None
    for topic in reversed(said):
        answer = topic.last_reply.lower()
        if any(re.search(rf"\b{re.escape(w.rstrip('s'))}(?:s|es)?\b", answer) for w in words):
            return topic
    return None


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


def _says_it_works(text: str) -> bool:
    """A short message that says the problem is gone, with nothing that takes it back ("still", "not", "but",
    "only", "yesterday", a symptom): longer ones are content for triage."""
    return len(text.split()) <= 12 and _WORKS.search(text) is not None and _NOT.search(text) is None
