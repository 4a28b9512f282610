"""Generated conversations: a seeded generator of unscripted helpdesk dialogues, and invariants checked after
every turn.

The scenario suite (:mod:`firstline.evals.scenarios`) plays conversations someone wrote down. This module
plays ones nobody wrote: an opening for any intent of the taxonomy (the triage utterances and templates of
our own, sometimes with typos), then follow-ups picked at random for the state the dialogue is in — the
real one-time code, a wrong one, yes/no, thanks, "a person please", a switch to another problem, a
colleague's account, a ticket number that is or isn't theirs, an approval or a denial by someone allowed to
decide. After every turn the checks in :data:`CHECKS` look at what the desk did::

    world = HelpdeskWorld(triage, knowledge, org)
    result = asyncio.run(run_conversations(world.desk, world.org, seed=7, count=200))
    for violation in result.violations[:3]:
        print(violation.render())

The same seed gives the same messages as long as the desk answers the same way. Several conversations
share one :class:`~firstline.helpdesk.desk.Helpdesk` (``per_desk``): requesters and conversation ids keep
them apart, and earlier conversations leave tickets that later ones can ask about.

The generator lives in :mod:`firstline.evals.generator` and the checks in :mod:`firstline.evals.invariants`;
this module plays the one against a helpdesk and runs the other after every turn, and re-exports what callers
need from both.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from firstline.directory.models import OrgData, Person
from firstline.evals.generator import STATES, Dialogue, Message, Phrasebook
from firstline.evals.invariants import (
    ASKS_FOR_PERSON,
    CHECKS,
    INVARIANTS,
    Snapshot,
    Step,
    Violation,
    changed_for_others,
    check_step,
    snapshot,
)
from firstline.helpdesk.desk import Helpdesk
from firstline.helpdesk.reply import DeskReply
from firstline.ticketing import EntryKind, TicketQuery

__all__ = [
    "CHECKS",
    "INVARIANTS",
    "STATES",
    "Message",
    "Phrasebook",
    "RunResult",
    "Step",
    "Violation",
    "changed_for_others",
    "check_step",
    "run_conversations",
    "snapshot",
]

MakeDesk = Callable[[], tuple[Helpdesk, dict[str, str]]]


# -- the runner ----------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    seed: int
    conversations: int = 0
    turns: int = 0
    violations: list[Violation] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    coverage: Counter[str] = field(default_factory=Counter)  # "state:kind" of every message sent
    intents: Counter[str] = field(default_factory=Counter)  # intents opened or switched to

    def by_invariant(self) -> Counter[str]:
        return Counter(v.invariant for v in self.violations)


def _state_after(step: Step) -> str:
    r = step.reply
    if r is None:
        return "answered"
    ok = {a["tool"] for a in r.actions if a["outcome"] == "ok"}
    if r.status in ("paused", "waiting") and r.approval:
        return "approval_pending"
    if "send_verification_code" in ok or "six-digit code" in r.reply:
        return "code_awaited"
    if "only act on your own" in r.reply:
        return "refused"
    if ok & {"mark_resolved", "close_ticket"} or (r.ticket or {}).get("state") == "resolved":
        return "resolved"
    return "question" if "?" in r.reply[-200:] else "answered"


def _tickets_of(desk: Helpdesk, email: str) -> dict[str, str]:
    found = desk.tickets.search(TicketQuery(requester=email, limit=500))
    return {t.number: t.state.value for t in found}


def _escalations(desk: Helpdesk, numbers: Iterable[str]) -> dict[str, int]:
    """How many times each ticket was handed to another group (its history's escalation entries)."""
    return {n: sum(e.kind is EntryKind.ESCALATION for e in desk.tickets.history(n)) for n in numbers}


def _guessed(org: OrgData, who: Person, steps: Sequence[Step], reply: DeskReply) -> list[str]:
    mine = [d for d in org.devices if d.owner == who.id and d.status == "in_use"]
    typed = " ".join(s.message.text for s in steps).lower()
    earlier = {
        str(a.get("arguments", {}).get("device") or "").lower() for s in steps[:-1] if s.reply for a in s.reply.actions
    }
    out = []
    for action in reply.actions:
        key = str(action.get("arguments", {}).get("device") or "").lower()
        device = next((d for d in mine if key in (d.id.lower(), d.hostname.lower())), None)
        if action["outcome"] != "ok" or device is None or key in earlier:
            continue  # acting again on a device chosen earlier is not a new guess
        same_kind = [d for d in mine if d.kind == device.kind]
        names = (device.hostname, device.asset_tag or "", device.serial, device.model)
        if len(same_kind) > 1 and not any(n and n.lower() in typed for n in names):
            out.append(f"{action['tool']} {device.hostname} (one of {len(same_kind)} {device.kind}s)")
    return out


async def _play(step: Step, desk: Helpdesk, who: Person, cid: str | None) -> None:
    m = step.message
    started = time.perf_counter()
    try:
        if m.approve is None:
            step.reply = await desk.ask(m.text, requester=who.email, conversation_id=cid)
        else:
            pending = desk.conversations.approvals("pending", cid)
            step.reply = await desk.decide(pending[0].id, approved=m.approve, decided_by=m.decided_by, reason=m.reason)
    except Exception as exc:  # a crash is a finding, not the end of the run
        step.error = f"{type(exc).__name__}: {exc}"
    step.latency_ms = (time.perf_counter() - started) * 1000


@dataclass
class _Desk:
    """One helpdesk that several conversations share, with the codes it sent and the last directory snapshot."""

    desk: Helpdesk
    sent: dict[str, str]
    world: Snapshot


async def run_conversations(
    make_desk: MakeDesk,
    org: OrgData,
    *,
    seed: int,
    count: int,
    per_desk: int = 10,
    typo_rate: float = 0.2,
    on_conversation: Callable[[int, list[Step]], None] | None = None,
) -> RunResult:
    """Play ``count`` generated conversations (seeded by ``seed``) and check every invariant after every turn.

    ``make_desk`` returns a fresh helpdesk and the dict its one-time codes are delivered to
    (:meth:`firstline.testing.helpdesk.HelpdeskWorld.desk`); every ``per_desk`` conversations get a new one.
    """
    rng = random.Random(seed)
    book = Phrasebook(org)
    result = RunResult(seed)
    shared: _Desk | None = None
    for index in range(count):
        if shared is None or index % per_desk == 0:
            desk, sent = make_desk()
            shared = _Desk(desk, sent, snapshot(desk.directory, org))
        steps = await _converse(Dialogue(rng, book, typo_rate), shared, org, result, index)
        result.conversations += 1
        if on_conversation is not None:
            on_conversation(index, steps)
    return result


async def _converse(dialogue: Dialogue, shared: _Desk, org: OrgData, result: RunResult, index: int) -> list[Step]:
    desk, who = shared.desk, dialogue.requester
    email = who.email.lower()
    steps: list[Step] = []
    cid: str | None = None
    tickets = _tickets_of(desk, email)
    state = "start"
    for turn in range(dialogue.length):
        if turn == 0:
            message = dialogue.opening(sorted(tickets))
        else:
            pending = steps[-1].reply.approval if steps[-1].reply is not None else None
            if pending is not None and pending.get("status", "pending") != "pending":
                pending = None
            sent = any(a["tool"] == "send_verification_code" and a["outcome"] == "ok" for s in steps if s.reply
                       for a in s.reply.actions)  # fmt: skip
            code = shared.sent.get(email) if sent else None
            message = dialogue.next(state, steps, code, pending, sorted(tickets), lambda: _foreign(desk, email))
        step = Step(message, None, state=state, tickets_before=tickets)
        step.decider_name = dialogue.book.names.get(message.decided_by.lower(), "")
        person = message.kind == "person" or (message.approve is None and bool(ASKS_FOR_PERSON.search(message.text)))
        watch = person or message.kind == "fixed"  # a person asked for, or "it works now": was anything handed over?
        handed = _escalations(desk, tickets) if watch else {}
        await _play(step, desk, who, cid)
        steps.append(step)
        result.turns += 1
        result.coverage[f"{state}:{message.kind}"] += 1
        if message.intent:
            result.intents[message.intent] += 1
        if step.reply is not None:
            cid = step.reply.conversation_id
            tickets = step.tickets_after = _tickets_of(desk, email)
            if watch:
                now = _escalations(desk, tickets)
                card = str((step.reply.ticket or {}).get("number") or "")
                step.escalated = any(n > handed.get(t, 0) for t, n in now.items()) or (person and now.get(card, 0) > 0)
            _observe(step, steps, shared, org, who)
            result.latencies_ms.append(step.latency_ms)
        for name, detail in check_step(steps):
            transcript = tuple(line for s in steps for line in s.lines())
            result.violations.append(Violation(name, result.seed, index, turn + 1, detail, transcript))
        if step.reply is None:
            break
        state = _state_after(step)
    return steps


def _observe(step: Step, steps: Sequence[Step], shared: _Desk, org: OrgData, who: Person) -> None:
    """Gather what the checks need after a turn: other people's things changed, devices guessed."""
    assert step.reply is not None
    now = snapshot(shared.desk.directory, org)
    step.others_changed = tuple(changed_for_others(shared.world, now, who.id))
    shared.world = now
    step.guessed = tuple(_guessed(org, who, steps, step.reply))
    desk = shared.desk
    try:
        account = desk.directory.account(who.id)
    except Exception:
        account = None
    step.protected = tuple(desk.policy.rules.categories(who, account))
    try:
        step.attacked = not desk.policy.sign_in_report(desk.deps, who).safe_to_unlock
    except Exception:
        step.attacked = False
    if any(s.message.secret for s in steps):  # everything stored for this conversation, to scan for the secret
        events = desk.conversations.events(step.reply.conversation_id)
        texts = [json.dumps(e.data, default=str) for e in events]
        for number in step.tickets_after:
            ticket = desk.tickets.get(number)
            texts += [ticket.short_description, ticket.description, *(e.body for e in desk.tickets.history(number))]
        step.stored = "\n".join(texts)


def _foreign(desk: Helpdesk, email: str) -> list[str]:
    """Ticket numbers in the store that belong to someone else."""
    return [t.number for t in desk.tickets.search(TicketQuery(limit=50)) if t.requester != email]
