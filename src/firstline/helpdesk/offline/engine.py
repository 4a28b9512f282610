"""The offline engine: a :class:`~firstline.llm.messages.ChatModel` that needs no language model.

It sees exactly what an LLM sees — the agent's messages, its tools and the helpdesk's briefing —
and answers with tool calls and replies decided by rules: the triage classifier routes, slot
filling reads the details from what the user typed (:mod:`firstline.helpdesk.slots`), and one
playbook per intent says which tool comes next. It is deterministic, so the same conversation
always takes the same path, and it runs under the same :class:`~firstline.agents.Runner` and
:class:`~firstline.agents.ToolPolicy` as an LLM: if a playbook ever asked for a change without a
verified identity, the policy would refuse it just the same.

Each call to :meth:`OfflineEngine.complete` looks at the episode (the messages since this agent
was handed the problem) and returns the next step: a tool call, or a reply that ends the turn.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from firstline.agents.result import ToolOutcome
from firstline.helpdesk import slots
from firstline.helpdesk.compose import GREETING
from firstline.helpdesk.tools.lookup import words_of
from firstline.helpdesk.triage import Triage
from firstline.llm.messages import ChatRequest, Message, ModelResponse, StreamItem, ToolCall

__all__ = ["OfflineEngine", "View", "digest"]

_GIBBERISH = (
    "Sorry, I couldn't make sense of that. Tell me in a sentence what you're trying to do and what happens "
    "instead, for example 'my VPN keeps dropping' or 'I'm locked out of my account'."
)
_OUT_OF_SCOPE = (
    "That's outside what the IT service desk handles, so I can't help with it here. I can help with accounts, "
    "devices, e-mail, printers, phones, network and software problems, or the status of your IT tickets. For "
    "business applications (finance, HR or sales systems) ask that system's support team or your manager; for "
    "the building (door badges, meeting rooms, desks, heating) ask Facilities at reception."
)


# -- reading a request ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Done:
    """A tool call in the episode and its structured outcome (never its text)."""

    name: str
    arguments: dict[str, Any]
    outcome: ToolOutcome
    this_turn: bool

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    @property
    def data(self) -> Any:
        """What the tool returned as data (or its sentence when it returned only one)."""
        return self.outcome.data if self.outcome.data is not None else self.outcome.say

    @property
    def result(self) -> str:
        """The tool's sentence for the employee."""
        return self.outcome.say

    @property
    def problem(self) -> str:
        """Why it did not work, in words for the employee."""
        if self.outcome.say:
            return self.outcome.say
        return "I couldn't complete that step"


class View:
    """What the engine knows: the episode's messages, the tool results and the briefing."""

    def __init__(self, request: ChatRequest) -> None:
        meta = request.metadata
        self.agent = str(meta.get("agent", ""))
        self.briefing: dict[str, Any] = dict(meta.get("briefing") or {})
        self.verified = bool(meta.get("verified"))
        self.tool_names = {t.name for t in request.tools}
        messages = [m for m in request.messages if m.role != "system"]
        start = 0
        for index, message in enumerate(messages):
            if message.role == "assistant" and any(c.name == f"transfer_to_{self.agent}" for c in message.tool_calls):
                start = max((i for i in range(index) if messages[i].role == "user"), default=0)
        self.all_messages = messages
        self.messages = messages[start:]
        users = [i for i, m in enumerate(self.messages) if m.role == "user"]
        self.users = [self.messages[i].content for i in users]
        self.request_text = self.users[0] if self.users else ""
        self.last_user = self.users[-1] if self.users else ""
        last_user_index = users[-1] if users else -1
        results = {m.tool_call_id: _outcome(m) for m in self.messages if m.role == "tool"}
        self.done: list[Done] = [
            Done(call.name, call.arguments, results[call.id], index > last_user_index)
            for index, message in enumerate(self.messages)
            if message.role == "assistant"
            for call in message.tool_calls
            if call.id in results and not call.name.startswith("transfer_to_")
        ]
        earlier = [m.content for m in self.messages[: max(last_user_index, 0)] if m.role == "assistant" and m.content]
        self.previous_reply = earlier[-1] if earlier else ""
        self.requester = str(self.briefing.get("requester_email") or "") or None

    @property
    def this_turn(self) -> list[Done]:
        return [d for d in self.done if d.this_turn]

    @property
    def last(self) -> Done | None:
        turn = self.this_turn
        return turn[-1] if turn else None

    def latest(self, name: str) -> Done | None:
        return next((d for d in reversed(self.done) if d.name == name), None)

    def called(self, name: str, this_turn: bool = False) -> bool:
        return any(d.name == name for d in (self.this_turn if this_turn else self.done))

    def slot(self, extract: Callable[[str], Any]) -> Any:
        """The newest value ``extract`` finds in the user's messages of this episode."""
        for text in reversed(self.users):
            if (value := extract(text)) is not None:
                return value
        return None

    @property
    def ticket(self) -> str | None:
        ticket = self.briefing.get("ticket")
        return str(ticket) if ticket else None


def _outcome(message: Message) -> ToolOutcome:
    if message.result is not None:
        return ToolOutcome.from_dict(message.result)
    return ToolOutcome(message.name or "", "ok", message.content)  # a transcript from before structured results


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Say:
    """A reply; ``expects`` says what kind of answer it waits for (``code``, ``choice``, ``detail``,
    ``confirmation``), so the helpdesk reads the next message against it."""

    text: str
    expects: str | None = None


Step = Call | Say
Playbook = Callable[[View], Step]


def call(tool: str, /, **arguments: Any) -> Call:
    return Call(tool, arguments)


# -- shared steps ------------------------------------------------------------------------------------


def verification(v: View, why: str = "") -> Step | None:
    """The identity check every change needs; ``None`` once the requester is verified. ``why`` comes before
    the first request for the code (what the employee should know before proving who they are)."""
    lead = f"{why} " if why else ""
    if v.verified:
        return None
    typed = slots.code(v.last_user)
    sent = v.latest("send_verification_code")
    checked = v.latest("verify_identity")
    if sent is not None and sent.this_turn and sent.ok:
        where = as_data(sent).get("channel") or "your registered mobile"
        return Say(
            f"{lead}To confirm it's you, I've sent a six-digit code to {where}. Type it here and I'll carry on. "
            "I'll never ask for your password.",
            expects="code",
        )
    if checked is not None and checked.this_turn and not checked.ok:
        if as_data(checked).get("new_code_needed"):
            return call("send_verification_code")
        if as_data(checked).get("locked_out"):
            return Say(sentence(checked.problem))
        return Say(f"{sentence(checked.problem)} Type the six digits again, or ask me for a new code.", expects="code")
    if typed and sent is not None and sent.ok:
        return call("verify_identity", code=typed)
    if sent is None or re_send(v):
        return call("send_verification_code")
    if sent is not None and not sent.ok:
        return Say(sentence(sent.problem))
    about = f" with {v.ticket}" if v.ticket else ""  # where things stand, when the message was about something else
    return Say(
        f"I'm still waiting for the six-digit code I sent you: type it here so I can confirm it's you and carry on"
        f"{about}.",
        expects="code",
    )


def as_data(done: Done | None) -> dict[str, Any]:
    """A tool's data as a dict (empty when it returned something else)."""
    data = done.outcome.data if done is not None else None
    return data if isinstance(data, dict) else {}


def re_send(v: View) -> bool:
    return bool(v.last_user) and any(w in v.last_user.lower() for w in ("new code", "resend", "another code"))


def kb_answer(v: View, query: str | None = None, prefix: str = "") -> Step:
    """Search the runbooks for the request and answer with the best section's steps and its citation."""
    found = v.latest("kb_search")
    if found is None or not found.this_turn:
        category = _category(v)
        text = (query or v.request_text)[:300]
        return call("kb_search", query=text, category=category)
    if not found.ok:
        return Say(f"{prefix}I couldn't search the runbooks just now. {_offer_human()}", expects="confirmation")
    hits = found.data if isinstance(found.data, list) else []
    if not hits:
        return Say(f"{prefix}I couldn't find a runbook that covers this. {_offer_human()}", expects="confirmation")
    top = hits[0]
    text = named_case_first(str(top.get("text", "")), query or v.request_text, str(top.get("title") or ""))
    steps = digest(text, str(top.get("chunk_id") or ""))
    lead = f"{prefix.rstrip()}\n" if prefix and _ITEM.match(steps) else prefix
    return Say(f"{lead}{steps}\n\n(Source: {citation_text(top)})")


def citation_text(hit: dict[str, Any]) -> str:
    """``Title, section "Steps > Mac"`` for a search hit (the section path repeats the title first)."""
    title = str(hit.get("title") or "").strip()
    section = str(hit.get("section") or "").strip()
    if section.startswith(title):
        section = section[len(title) :].lstrip(" >›")
    return f'{title}, section "{section}"' if section else title


def _category(v: View) -> str | None:
    return None if v.agent in ("lookup", "triage") else v.agent


_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")


_CASE = re.compile(r"^(\d+)\.\s+\*\*([^*]{2,80}?):?\*\*:?\s")  # "4. **Portal not reachable:** ..."


def named_case_first(text: str, request: str, title: str = "") -> str:
    """A list of cases, one per error ("1. **Authentication failed:** ...", "4. **Portal or gateway not
    reachable:** ..."), with the cases whose label names words of the request (not of the page's title) moved to the
    front and the list numbered again: "gateway unreachable" reads its own case first, not after three others.
    Anything else (plain steps, whose order matters, or a request that names no case) comes back as it was."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _ITEM.match(line)]
    cases = [i for i in starts if _CASE.match(lines[i])]
    asked = words_of(request) - words_of(title)
    if len(cases) < 3 or not asked:
        return text
    bounds = [*starts, len(lines)]  # an item runs to the next one (its indented lines with it)
    items = [(at, lines[at : bounds[n + 1]]) for n, at in enumerate(starts)]
    named = {at: len(asked & words_of(m.group(2))) for at in cases if (m := _CASE.match(lines[at]))}
    if not any(named.values()):
        return text
    order = sorted(range(len(items)), key=lambda n: (-named.get(items[n][0], 0), n))
    out = lines[: starts[0]]
    for number, n in enumerate(order, start=1):
        first, *rest = items[n][1]
        out += [re.sub(r"^(\s*)\d+\.", rf"\g<1>{number}.", first, count=1), *rest]
    return "\n".join(out)


def digest(text: str, chunk_id: str = "", limit: int = 1100) -> str:
    """A runbook passage to read in chat: whole, or — when long — its first whole steps and a pointer to the rest.

    Never cut inside a step: a long list is shortened at a step boundary and says how many steps follow.
    """
    lines = [line.rstrip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if sum(len(line) + 1 for line in lines) <= limit:
        return "\n".join(lines)
    kept: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        if size + len(line) > limit and kept and _ITEM.match(line):
            rest = sum(1 for later in lines[index:] if _ITEM.match(later))
            where = f" (/kb/{chunk_id})" if chunk_id else ""
            more = f"{rest} more step{'s' if rest != 1 else ''}" if rest else "more"
            kept.append(f"… {more} in the full runbook section{where}.")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def _offer_human() -> str:
    return "Shall I pass it to a person? Reply 'yes', or tell me more about what you see."


def sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def summary_for_humans(v: View) -> str:
    tried = ", ".join(f"{d.name} ({'ok' if d.ok else d.outcome.outcome})" for d in v.done) or "nothing yet"
    said = " / ".join(u[:200] for u in v.users)
    return f"User reports: {said}. Firstline tried: {tried}."[:2000]


def escalate_and_say(v: View, text: str) -> Step:
    """Hand the conversation's ticket to Tier-2 (once), then tell the user ``text`` and where it went."""
    escalated = v.latest("escalate_to_human")
    if escalated is None or not escalated.this_turn:
        return call("escalate_to_human", summary=summary_for_humans(v))
    if not escalated.ok:
        return Say(f"{text} I couldn't hand it over automatically; please call the service desk on 4357.")
    return Say(f"{text} {escalated.result}")


def known_incident(v: View) -> Say:
    incident = v.briefing["known_incident"]
    parts = [
        f"This looks like a known problem that the {incident.get('team', 'support')} team is already working on: "
        f"{incident.get('title', '')} ({incident.get('number', '')})."
    ]
    if incident.get("workaround"):
        parts.append(f"Workaround: {incident['workaround']}")
    else:
        parts.append("There's no workaround yet.")
    if incident.get("update_eta"):
        parts.append(f"Next update expected {incident['update_eta']}.")
    parts.append("I've added you to the incident, so you'll be told when it's fixed; no new ticket is needed.")
    return Say(" ".join(parts))


# -- the engine --------------------------------------------------------------------------------------


class OfflineEngine:
    """Deterministic tool calling and replies for the triage agent and the nine specialists."""

    name = "offline"

    def __init__(self, triage: Triage) -> None:
        self.triage = triage
        from firstline.errors import ConfigError
        from firstline.helpdesk.offline.playbooks import REGISTRY, fallback_playbook

        self._playbooks = REGISTRY
        self._fallback = fallback_playbook
        taxonomy = getattr(triage, "taxonomy", None)  # (a chain built before triage exists passes none)
        unknown = {i.playbook for i in taxonomy.intents.values()} - set(REGISTRY) if taxonomy else set()
        if unknown:
            raise ConfigError(
                f"taxonomy.yaml names playbooks that are not registered: {', '.join(sorted(unknown))}. Register "
                "them with @playbook, or use `playbook: runbook` to answer from the runbooks."
            )

    async def complete(self, request: ChatRequest) -> ModelResponse:
        started = time.perf_counter()
        v = View(request)
        step = self._route(v) if v.agent == "triage" else self._specialist(v)
        elapsed = (time.perf_counter() - started) * 1000
        if isinstance(step, Say):
            return ModelResponse(text=step.text, latency_ms=elapsed, model=self.name, expects=step.expects)
        call_id = f"call_{len(request.messages)}_{step.name}"
        return ModelResponse(
            tool_calls=(ToolCall(call_id, step.name, step.arguments),), latency_ms=elapsed, model=self.name
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        response = await self.complete(request)
        if response.text:
            yield response.text
        yield response

    # -- triage ----------------------------------------------------------------------------------

    def _route(self, v: View) -> Step:
        text = v.last_user
        result = self.triage.classify(text, vip=bool(v.briefing.get("vip")))
        if result.agent in ("greeting", "gibberish") and result.confidence < self.triage.threshold:
            # A long message that only looks like small talk: follow the best specialist if it is plausible.
            best = next(((a, p) for a, p in result.alternatives if a in self.triage.taxonomy.specialists), None)
            if best is not None and best[1] >= 0.2 and len(text.split()) >= 6:
                return call(f"transfer_to_{best[0]}", reason=f"{best[0]} ({best[1]:.2f}, low confidence)")
        if result.agent == "greeting":
            return Say(GREETING)
        if result.agent == "gibberish":
            return Say(_GIBBERISH, expects="detail")
        if result.agent == "out_of_scope":
            return Say(_OUT_OF_SCOPE)
        if result.clarify:
            rivals = [p for a, p in result.alternatives[1:] if a in self.triage.taxonomy.specialists]
            # Unsure whether it is IT at all, but no other specialist competes: a clear enough request.
            if (rivals and max(rivals) >= 0.15) or result.confidence < 0.3 or len(text.split()) < 6:
                return Say(result.clarify, expects="detail")
        handoff = f"transfer_to_{result.agent}"
        if handoff not in v.tool_names:
            return Say(_GIBBERISH, expects="detail")
        return call(handoff, reason=f"{result.intent} ({result.confidence:.2f})")

    # -- specialists -----------------------------------------------------------------------------

    def intent(self, v: View) -> str:
        forced = v.briefing.get("intent")
        allowed = {i.name for i in self.triage.taxonomy.intents_of(v.agent)}
        if forced in allowed and v.briefing.get("specialist") == v.agent:
            return str(forced)
        return self.triage.intent_for(v.request_text, v.agent) if v.request_text else v.agent

    def _specialist(self, v: View) -> Step:
        failed = [d for d in v.this_turn if not d.ok]
        if failed:
            handled = self._problem(v, failed[-1])
            if handled is not None:
                return handled
        intent = self.intent(v)
        if not v.this_turn and v.briefing.get("known_incident") and len(v.users) == 1:
            return known_incident(v)
        known = self.triage.taxonomy.intents.get(intent)
        return self._playbooks.get(known.playbook if known else "runbook", self._fallback)(v)

    def _problem(self, v: View, last: Done) -> Step | None:
        outcome = last.outcome
        if outcome.outcome == "denied":
            return Say(
                f"The request to {last.name.replace('_', ' ')} was declined by {outcome.by}: "
                f"{outcome.reason or 'no reason given'}."
            )
        if outcome.outcome == "refused":
            if as_data(last).get("verdict") == "verify_first":
                return verification(v)
            return Say(f"I can't do that: {sentence(outcome.reason)}")
        if as_data(last).get("internal_error"):
            step = last.name.replace("_", " ")
            if as_data(last).get("unavailable"):
                what = as_data(last)["unavailable"]
                return escalate_and_say(
                    v,
                    f"Sorry, the system behind this ({what}) isn't answering right now, so the {step} step didn't run.",
                )
            return escalate_and_say(v, f"Sorry, something went wrong on our side while running the {step} step.")
        if last.name == "verify_identity":
            return None  # the playbook's verification step explains a wrong code
        if outcome.outcome in ("failed", "retry") and last.name not in ("escalate_to_human", "kb_search"):
            return Say(sentence(last.problem))
        return None
