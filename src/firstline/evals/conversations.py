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
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from firstline.directory import DirectoryBackend
from firstline.directory.models import OrgData, Person
from firstline.helpdesk import tools as helpdesk_tools
from firstline.helpdesk.desk import Helpdesk
from firstline.helpdesk.reply import DeskReply
from firstline.helpdesk.taxonomy import data_dir, load_taxonomy
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
Snapshot = dict[tuple[str, ...], tuple[str, Any]]  # what -> (whose person id, its state)

# -- what people type ----------------------------------------------------------------------------------------

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "password_reset": ("my password has expired and Windows won't let me in", "need a password reset, I forgot it"),
    "account_unlock": ("I'm locked out of my account", "typed my password wrong too often and now I'm locked out"),
    "mfa_reset": ("I changed phones and Authenticator has no codes any more, please reset my MFA",),
    "phishing_report": ("I got an email from {sender} asking me to confirm my bank details, is it phishing?",),
    "suspicious_signin": ("I keep getting MFA prompts I never asked for, I think someone has my password",),
    "lost_security_key": ("my YubiKey has gone missing, I think I dropped it at the station",),
    "lost_device": ("my work {kind} was stolen from my bag on the train", "I can't find my {kind}, left it in a cab"),
    "mdm_enrolment": ("Company Portal won't finish enrolling my {kind}",),
    "device_compliance": ("Intune says {device} is not compliant and Teams is blocked",),
    "new_phone_setup": ("my replacement work phone arrived, how do I move everything over?",),
    "broken_hardware": ("I spilled coffee on {device} and it won't turn on",),
    "vpn_drops": ("my VPN keeps dropping every ten minutes when I work from home",),
    "vpn_cannot_connect": ("GlobalProtect just says connection failed when I start the VPN",),
    "wifi": ("my laptop won't join the NW-Corp wifi on floor {floor}",),
    "network_share": ("I get access denied on the Finance share since this morning",),
    "slow_internet": ("websites are crawling today, the internet is really slow",),
    "mailbox_full": ("Outlook says my mailbox is full and I can't send anything",),
    "distribution_list": ("please add me to {list}", "can I join the {list} mailing list?"),
    "shared_mailbox": ("I need access to the {shared} shared mailbox",),
    "outlook_password_prompt": ("Outlook pops up asking for my password every hour",),
    "email_stuck_outbox": ("my emails are sitting in the Outbox and won't go",),
    "calendar_delegation": ("how can I let my assistant manage my calendar?",),
    "junk_mail": ("messages from a customer keep landing in my junk folder",),
    "slow_computer": ("{device} takes ages to do anything, it's really slow",),
    "software_request": ("can I have {app} installed on my laptop please?",),
    "app_crash": ("Teams crashes every time I share my screen",),
    "disk_space": ("I'm out of disk space on my laptop, can't save files",),
    "os_update": ("the latest update won't install on {device}",),
    "monitor_dock": ("my dock doesn't detect the external monitors any more",),
    "peripherals": ("my wireless keyboard stopped working this morning",),
    "print_queue_stuck": ("my print job is stuck on {printer}",),
    "printer_offline": ("{printer} shows as offline",),
    "paper_jam": ("{printer} has a paper jam in tray 2",),
    "toner": ("{printer} is nearly out of black toner",),
    "add_printer": ("how do I add the follow-me printer on my new laptop?",),
    "scan_to_email": ("scans to email from {printer} never arrive",),
    "desk_phone_down": ("my desk phone has no dial tone and says unregistered",),
    "voicemail_pin": ("I've forgotten my voicemail PIN and now it's locked",),
    "call_forwarding": ("please forward my desk phone to {mobile}", "forward my calls to extension {ext} when busy"),
    "softphone_headset": ("the Webex app doesn't pick up my headset",),
    "new_extension": ("I'm moving desks next week and need my extension moved",),
    "ticket_status": ("what's happening with {ticket}?",),
    "ticket_update": ("please add to {ticket} that it also happens in the mornings",),
    "ticket_close": ("you can close {ticket}, it's fixed now",),
    "ticket_escalate": ("{ticket} has been open for a week, please escalate it",),
    "ticket_reopen": ("the problem in {ticket} is back, please reopen it",),
    "report_outage": ("the whole office has lost access to SharePoint",),
    "policy_question": ("am I allowed to read work email on my personal iPad?",),
    "equipment_request": ("how do I ask for a second monitor?",),
    "onboarding": ("what IT do I need to sort out for a new starter joining my team next week?",),
    "offboarding": ("someone in my team leaves on Friday, what happens to their laptop?",),
    "how_to": ("how do I share a OneDrive folder with someone outside the company?",),
}
_FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "yes": ("yes", "yes please", "yep", "ok go ahead", "sure"),
    "no": ("no", "nope", "no thanks"),
    "thanks": ("thanks", "thank you", "cheers"),
    "fixed": ("thanks, that fixed it!", "that worked, thanks", "all sorted now, thank you"),
    "still_broken": ("still not working", "no, it's still broken", "that didn't help"),
    "person": ("a person please", "can I talk to a human", "can I talk to a human please", "I want a real person"),
    "hello": ("hello", "hi there", "hey"),
    "bye": ("bye", "goodbye", "that's all, bye"),
    "repeat": ("say that again", "sorry, can you say that again?", "repeat that please"),
    "never_mind": ("never mind", "forget it", "never mind, ignore that"),
    "what_mean": ("what do you mean?", "I don't understand", "what?"),
    "broken": ("it's broken", "it just doesn't work"),
}
_SOMEONE_ELSE = (
    "can you also reset my colleague {name}'s password",
    "my manager's laptop was stolen",
    "{name} is locked out, can you unlock their account?",
    "please add {name} to {list}",
    "{name}'s voicemail PIN needs resetting too",
)
_TICKET_ASKS = (
    "any news on {number}?",
    "what's the status of {number}",
    "please close {number}, it's sorted",
    "add to {number}: it happens after lunch too",
    "can you escalate {number}?",
)
_DENY_REASONS = ("needs the line manager's sign-off first", "the device was found in the office", "not justified")
_SENDERS = ("payroll@nw-meridian-hr.com", "it-support@micros0ft-login.net", "invoices@quick-pay.example")
_APPS = ("Visio", "Adobe Acrobat Pro", "Zoom", "Notepad++", "AutoCAD", "Power BI Desktop")

# Base weight of each follow-up, and what a dialogue state adds to it.
_WEIGHTS = {
    "yes": 4, "no": 3, "thanks": 3, "fixed": 3, "still_broken": 3, "person": 4, "hello": 2, "bye": 2, "repeat": 3,
    "never_mind": 2, "what_mean": 3, "broken": 2, "switch": 7, "someone_else": 3, "own_ticket": 3,
    "foreign_ticket": 2, "code": 1, "wrong_code": 1, "approve": 0, "deny": 0,
}  # fmt: skip
_STATE_WEIGHTS: dict[str, dict[str, int]] = {
    "code_awaited": {"code": 45, "wrong_code": 6},
    "approval_pending": {"approve": 14, "deny": 12},
    "question": {"yes": 8, "no": 6},
    "resolved": {"thanks": 5, "bye": 5},
}
_APPROVALS = ("mfa_reset", "lost_device", "distribution_list")  # intents whose action needs an approval
STATES = ("start", "question", "code_awaited", "approval_pending", "resolved", "answered")

# -- what the checks look for --------------------------------------------------------------------------------

_TOOL_NAMES = sorted(
    {t.name for name in helpdesk_tools.__all__ if name.endswith("_TOOLS") for t in getattr(helpdesk_tools, name)}
)
_INTERNAL = re.compile(
    r"(?i:\bask the user\b|\bthe requester\b|\bcontact the user\b|\btell the user\b|transfer_to_|\ba email\b"
    r"|\(no reply\))"
    r"|\b(?:my|get|set|send|check|mark|escalate|verify|report|clear|order|reset|unlock)_[a-z_]+\b"
    r"|\bREFUSED\b|\bFAILED:|\bDENIED\b|\bRETRY\b"
    rf"|\b(?:{'|'.join(_TOOL_NAMES)})\b"
)
_PERSON = re.compile(r"\b(human|a (?:real )?person|speak to someone|talk to someone)\b", re.I)
_GOODBYE = re.compile(r"\b(thanks|thank you|cheers|bye|goodbye)\b", re.I)
_REPEAT = re.compile(r"\b(say that again|repeat that)\b", re.I)
_CLOSE = re.compile(r"\b(close|cancel)\b", re.I)
_CODE = re.compile(r"\d{3}[ -]?\d{3}")
_YES = re.compile(r"^\s*(yes|yep|yeah|sure|ok|okay|go ahead|please do)\b", re.I)
_TICKET = re.compile(r"\b(?:INC|REQ|RITM)\d{7}\b")
_STILL_OPEN = re.compile(
    r"\b(still open|remains? open|(?:is|are) (?:still )?open|still (?:waiting|pending)|waiting for|carry on)\b", re.I
)
_OPEN_TOPICS = {"open", "awaiting_code", "awaiting_choice", "awaiting_approval", "awaiting_confirmation"}
_CLOSING_TOOLS = {"close_ticket"}  # counts as closing the ticket it names (it resolves it: "closed by the requester")


@dataclass(frozen=True, slots=True)
class Message:
    """What the requester does next: type ``text``, or (``approve`` set) have ``decided_by`` decide the approval."""

    kind: str
    text: str
    approve: bool | None = None
    decided_by: str = ""
    reason: str = ""
    intent: str = ""  # the intent of an opening or topic switch


@dataclass
class Step:
    """One turn and the facts the checks need, gathered right after it."""

    message: Message
    reply: DeskReply | None
    state: str = "start"  # the dialogue state the message was sent in
    error: str = ""
    latency_ms: float = 0.0
    tickets_before: dict[str, str] = field(default_factory=dict)  # the requester's tickets: number -> state
    tickets_after: dict[str, str] = field(default_factory=dict)
    escalated: bool = False  # after "a person please": a ticket of theirs was handed over now, or the reply's before
    others_changed: tuple[str, ...] = ()  # other people's accounts, devices, lines, lists changed this turn
    guessed: tuple[str, ...] = ()  # devices acted on although the requester has several and named none
    decider_name: str = ""

    def lines(self) -> list[str]:
        m, r = self.message, self.reply
        said = f"user{' (wrong code)' if m.kind == 'wrong_code' else ''}: {m.text}"
        if m.approve is not None:
            verdict = "approved" if m.approve else "denied"
            said = f"[{verdict} by {m.decided_by}{f': {m.reason}' if m.reason else ''}]"
        if r is None:
            return [said, f"desk: <exception> {self.error}"]
        tools = ", ".join(f"{a['tool']}({a['outcome']})" for a in r.actions)
        ticket = f" {r.ticket['number']}={r.ticket['state']}" if r.ticket else ""
        return [said, f"desk [{r.status} {r.agent}/{r.intent}{ticket}{f' | {tools}' if tools else ''}]: {r.reply}"]


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    seed: int
    conversation: int
    turn: int  # 1-based
    detail: str
    transcript: tuple[str, ...]

    def render(self, width: int = 240) -> str:
        head = f"{self.invariant} (seed {self.seed}, conversation {self.conversation}, turn {self.turn}): {self.detail}"
        body = [f"    {' '.join(line.split())[:width]}" for line in self.transcript]
        return "\n".join([head, *body])

    def as_dict(self) -> dict[str, Any]:
        return {"invariant": self.invariant, "seed": self.seed, "conversation": self.conversation,
                "turn": self.turn, "detail": self.detail, "transcript": list(self.transcript)}  # fmt: skip


# -- the checks: each looks at the last step, with the ones before it for context ----------------------------


def _text(step: Step) -> str:
    return step.reply.reply if step.reply is not None else ""


def empty_reply(steps: Sequence[Step]) -> str | None:
    step = steps[-1]
    return "the reply is empty" if step.reply is not None and not step.reply.reply.strip() else None


def sticky_reply(steps: Sequence[Step]) -> str | None:
    if len(steps) < 2 or steps[-1].reply is None or steps[-2].reply is None:
        return None
    now, before = steps[-1], steps[-2]
    if _text(now) != _text(before) or not _text(now).strip():
        return None
    if now.message.text == before.message.text and not (
        now.message.kind == "repeat" or _REPEAT.search(now.message.text)
    ):
        return None  # the same message twice may get the same answer
    return f"same reply to {before.message.text!r} and {now.message.text!r}"


def internal_text(steps: Sequence[Step]) -> str | None:
    found = sorted({m.group(0) for m in _INTERNAL.finditer(_text(steps[-1]))})
    return f"text meant for the model: {', '.join(map(repr, found))}" if found else None


def acts_on_someone_else(steps: Sequence[Step]) -> str | None:
    changed = steps[-1].others_changed
    return f"changed what belongs to others: {'; '.join(changed)}" if changed else None


def guessed_device(steps: Sequence[Step]) -> str | None:
    guessed = steps[-1].guessed
    return f"acted on a device nobody named, out of several: {', '.join(guessed)}" if guessed else None


def _closed_now(step: Step) -> set[str]:
    closed = {
        n for n, s in step.tickets_after.items() if s in ("closed", "canceled") and step.tickets_before.get(n) != s
    }
    if step.reply is not None:
        for action in step.reply.actions:
            number = str(action.get("arguments", {}).get("number") or "").upper()
            was = step.tickets_before.get(number)
            if (
                action["tool"] in _CLOSING_TOOLS
                and action["outcome"] == "ok"
                and was in ("new", "in_progress", "on_hold")
            ):
                closed.add(number)
    return closed


def _close_allowed(steps: Sequence[Step], number: str) -> bool:
    """Whether the requester asked to close ``number``: by naming it, in the request this turn completes (codes
    and yeses typed since are skipped), or by confirming a question about closing it."""
    if steps[-1].message.approve is False:
        return True  # a denied approval closes the ticket as rejected
    asks = [s.message.text.upper() for s in steps if s.message.approve is None and _CLOSE.search(s.message.text)]
    if any(number in text for text in asks):
        return True
    for step in reversed(steps):
        text = step.message.text.upper()
        if step.message.approve is None and _CLOSE.search(text) and (number in text or not _TICKET.search(text)):
            return True
        if step.message.approve is not None or not (_CODE.fullmatch(text.strip()) or _YES.search(text)):
            break
    previous = steps[-2].reply if len(steps) > 1 else None
    if previous is None:
        return False
    text = steps[-1].message.text.lower()
    card = (previous.ticket or {}).get("number")
    confirms = _YES.search(text) or _GOODBYE.search(text) or "fixed" in text or "worked" in text
    about = number in previous.reply or (card == number and not _TICKET.search(previous.reply))
    asked = "?" in previous.reply and re.search(r"\b(close|resolve|cancel|fix)", previous.reply, re.I)
    return bool(confirms and about and asked)


def unrequested_close(steps: Sequence[Step]) -> str | None:
    bad = sorted(n for n in _closed_now(steps[-1]) if not _close_allowed(steps, n))
    return f"closed without being asked: {', '.join(bad)}" if bad else None


def person_please_escalates(steps: Sequence[Step]) -> str | None:
    step = steps[-1]
    asked = step.message.kind == "person" or _PERSON.search(step.message.text)
    if step.reply is None or step.message.approve is not None or not asked:
        return None
    acted = any(
        a["tool"] in ("escalate_to_human", "escalate_ticket") and a["outcome"] == "ok" for a in step.reply.actions
    )
    if acted or step.escalated:
        return None
    number = (step.reply.ticket or {}).get("number")
    return f"asked for a person, but {number} was not handed to one" if number else "asked for a person: no ticket"


def denial_closes(steps: Sequence[Step]) -> str | None:
    step = steps[-1]
    if step.message.approve is not False or step.reply is None:
        return None
    problems = []
    card = step.reply.ticket or {}
    number = card.get("number")
    if step.tickets_after.get(number or "", card.get("state")) not in ("closed", "canceled"):
        problems.append(f"ticket {number or '(none)'} is not closed")
    text = step.reply.reply.lower()
    who = {step.message.decided_by.lower(), *step.decider_name.lower().split()[:1]} - {""}
    if not any(w in text for w in who):
        problems.append("the reply doesn't say who declined")
    if step.message.reason and step.message.reason.lower() not in text:
        problems.append("the reply doesn't give the reason")
    return "; ".join(problems) or None


def pending_question_answered(steps: Sequence[Step]) -> str | None:
    step = steps[-1]
    if step.reply is None or step.reply.status not in ("paused", "waiting") or re.search(r"approv", _text(step), re.I):
        return None
    return "paused, but the reply doesn't say it waits for an approval"


def _topics(step: Step) -> list[dict[str, Any]] | None:
    topics = getattr(step.reply, "topics", None)
    return list(topics) if isinstance(topics, list) else None


def _says_goodbye(message: Message) -> bool:
    """Thanks or bye: the generator's kinds say so; a hand-made message is read ("no thanks" is a no)."""
    if message.kind in _WEIGHTS or message.kind == "opening" or message.approve is not None:
        return message.kind in ("thanks", "fixed", "bye")
    return bool(_GOODBYE.search(message.text)) and not re.match(r"\s*no\b", message.text, re.I)


def topics(steps: Sequence[Step]) -> str | None:
    step = steps[-1]
    if step.reply is None:
        return None
    now = _topics(step)
    before = next((t for s in reversed(steps[:-1]) if (t := _topics(s)) is not None), None)
    if now is None:  # reported on the first turn, or when the field goes missing; not on every turn
        return "DeskReply has no topics" if len(steps) == 1 or before is not None else None
    lost = sorted({str(t.get("id")) for t in before or []} - {str(t.get("id")) for t in now})
    if lost:
        return f"topics lost: {', '.join(lost)}"
    if _says_goodbye(step.message):
        missing = [
            f"{t.get('ticket') or t.get('id')} ({t.get('intent')}, {t.get('status')})"
            for t in now
            if t.get("status") in _OPEN_TOPICS
            and not (t.get("ticket") and str(t["ticket"]) in _text(step))
            and not _STILL_OPEN.search(_text(step))
        ]
        if missing:
            return f"goodbye with open topics not mentioned: {', '.join(missing)}"
    return None


def no_crash(steps: Sequence[Step]) -> str | None:
    step = steps[-1]
    if step.reply is None:
        return f"exception: {step.error}"
    return "status failed" if step.reply.status == "failed" else None


CHECKS: dict[str, Callable[[Sequence[Step]], str | None]] = {
    "empty_reply": empty_reply,
    "sticky_reply": sticky_reply,
    "internal_text": internal_text,
    "acts_on_someone_else": acts_on_someone_else,
    "unrequested_close": unrequested_close,
    "person_please_escalates": person_please_escalates,
    "denial_closes": denial_closes,
    "pending_question_answered": pending_question_answered,
    "topics": topics,
    "no_crash": no_crash,
    "guessed_device": guessed_device,
}
INVARIANTS = tuple(CHECKS)


def check_step(steps: Sequence[Step]) -> list[tuple[str, str]]:
    """``(invariant, detail)`` for every check the last of ``steps`` breaks."""
    return [(name, detail) for name, check in CHECKS.items() if (detail := check(steps)) is not None]


# -- directory snapshots: only what a tool may change, keyed to whose it is ----------------------------------


def snapshot(directory: DirectoryBackend, org: OrgData) -> Snapshot:
    """The state of everything a Tier-1 tool can change, and whose it is."""
    out: Snapshot = {}
    for person in org.people:
        a = directory.account(person)
        factors = tuple(f.type for f in a.mfa_factors)
        out[("account", person.id)] = (person.id, (a.enabled, a.locked, a.password_reset_pending, factors))
        for d in directory.devices_of(person):
            out[("device", d.id)] = (person.id, (d.status, d.lock_requested_at))
    for phone in org.phones:
        p = directory.phone(phone.extension)
        state = (p.call_forwarding, p.voicemail_locked, p.voicemail_pin_set, p.temporary_pin_sent)
        out[("phone", p.extension)] = (p.person, state)
    for dl in org.distribution_lists:
        for member in directory.distribution_list(dl.address).members:
            out[("member", dl.address, member)] = (member, True)
    for printer in org.printers:
        for job in directory.printer(printer.id).queue:
            out[("job", printer.id, job.id)] = (job.owner, job.status)
    return out


def changed_for_others(before: Snapshot, after: Snapshot, requester_id: str) -> list[str]:
    """What changed between two snapshots and belongs to someone other than ``requester_id``."""
    out = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old != new and (new or old or ("", None))[0] != requester_id:
            out.append(f"{'/'.join(key)}: {old[1] if old else None} -> {new[1] if new else None}")
    return out


# -- the generator -------------------------------------------------------------------------------------------


def _typo(rng: random.Random, text: str) -> str:
    """One slip of the keyboard: a letter dropped, swapped or doubled, no capitals, or no apostrophes."""
    how = rng.choice(("drop", "swap", "double", "lower", "apostrophe"))
    if how == "lower":
        return text.lower()
    if how == "apostrophe":
        return text.replace("'", "")
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text.lower()
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    words[i] = {"drop": w[:j] + w[j + 1 :], "swap": w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :]}.get(
        how, w[:j] + w[j] + w[j:]
    )
    return " ".join(words)


class Phrasebook:
    """Openings for every intent (triage utterances plus our templates) and the follow-ups, for one org."""

    def __init__(self, org: OrgData) -> None:
        self.org = org
        self.intents = sorted(load_taxonomy().intents)
        self.openings: dict[str, list[str]] = {name: list(_TEMPLATES.get(name, ())) for name in self.intents}
        for split in ("train", "heldout"):
            for line in (data_dir() / "utterances" / f"{split}.jsonl").read_text().splitlines():
                row = json.loads(line) if line.strip() else {}
                if row.get("intent") in self.openings:
                    self.openings[row["intent"]].append(str(row["text"]))
        missing = [name for name, texts in self.openings.items() if not texts]
        if missing:
            raise ValueError(f"no opening for {', '.join(missing)}: add a template to _TEMPLATES")
        self.requesters = [p for p in org.people if p.is_current]
        self.service_desk = [p.email.lower() for p in org.people if p.is_current and "Service Desk" in p.title]
        self.names = {p.email.lower(): p.name for p in org.people}

    def fill(self, rng: random.Random, text: str, who: Person, owned: Sequence[str]) -> str:
        if "{" not in text:
            return text
        org = self.org
        printers = [p.name for p in org.printers if p.location == who.location] or [p.name for p in org.printers]
        devices = [d.hostname for d in org.devices if d.owner == who.id and d.status == "in_use"] or ["my laptop"]
        others = [p for p in self.requesters if p.id != who.id]
        values = {
            "printer": rng.choice(printers),
            "device": rng.choice(devices),
            "kind": rng.choice(("laptop", "phone", "laptop")),
            "list": rng.choice(org.distribution_lists).address,
            "shared": rng.choice(org.shared_mailboxes).address,
            "app": rng.choice(_APPS),
            "ticket": rng.choice(owned) if owned else f"INC00{rng.randrange(10_000, 99_999)}",
            "ext": rng.choice(org.phones).extension,
            "mobile": f"07700 900{rng.randrange(100, 999)}",
            "floor": str(who.floor or 2),
            "sender": rng.choice(_SENDERS),
            "name": rng.choice(others).name,
        }
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


class Dialogue:
    """One generated conversation: who asks, how long it runs, and the next message for the state it is in."""

    def __init__(self, rng: random.Random, book: Phrasebook, typo_rate: float) -> None:
        self.rng = rng
        self.book = book
        self.typo_rate = typo_rate
        self.requester = rng.choice(book.requesters)
        self.length = rng.randint(2, 7)

    def _typed(self, text: str) -> str:
        return _typo(self.rng, text) if self.rng.random() < self.typo_rate else text

    def opening(self, owned: Sequence[str], avoid: str = "") -> Message:
        pool = _APPROVALS if self.rng.random() < 0.15 else self.book.intents  # reach approvals more often
        intent = self.rng.choice([i for i in pool if i != avoid])
        text = self.book.fill(self.rng, self.rng.choice(self.book.openings[intent]), self.requester, owned)
        return Message("switch" if avoid else "opening", self._typed(text), intent=intent)

    def next(
        self,
        state: str,
        steps: Sequence[Step],
        code: str | None,
        pending: dict[str, Any] | None,
        owned: Sequence[str],
        foreign: Callable[[], Sequence[str]],
    ) -> Message:
        weights = dict(_WEIGHTS)
        for kind, extra in _STATE_WEIGHTS.get(state, {}).items():
            weights[kind] += extra
        deciders = self._deciders(pending)
        available = {
            "code": code is not None,
            "approve": bool(deciders),
            "deny": bool(deciders),
            "own_ticket": bool(owned),
        }
        kinds = [k for k in weights if available.get(k, True) and weights[k] > 0]
        kind = self.rng.choices(kinds, [weights[k] for k in kinds])[0]
        rng = self.rng
        if kind in _FOLLOW_UPS:
            return Message(kind, self._typed(rng.choice(_FOLLOW_UPS[kind])))
        if kind == "switch":
            last = next((s.message.intent for s in reversed(steps) if s.message.intent), "")
            return self.opening(owned, avoid=last)
        if kind == "code":
            return Message(kind, str(code))
        if kind == "wrong_code":
            real = code or f"{rng.randrange(10**6):06d}"
            return Message(kind, "".join(str((int(c) + 3) % 10) for c in real))
        if kind in ("approve", "deny"):
            reason = rng.choice(_DENY_REASONS) if kind == "deny" else ""
            return Message(kind, "", approve=kind == "approve", decided_by=rng.choice(deciders), reason=reason)
        if kind == "someone_else":
            return Message(kind, self.book.fill(rng, rng.choice(_SOMEONE_ELSE), self.requester, owned))
        others = list(foreign()) if kind == "foreign_ticket" and rng.random() < 0.7 else []
        numbers = owned if kind == "own_ticket" else others or [f"INC00{rng.randrange(90_000, 99_999)}"]
        return Message(kind, rng.choice(_TICKET_ASKS).format(number=rng.choice(numbers)))

    def _deciders(self, pending: dict[str, Any] | None) -> list[str]:
        if pending is None:
            return []
        me = self.requester.email.lower()
        allowed = [str(a).lower() for a in pending.get("approvers") or []] or self.book.service_desk
        return [a for a in allowed if a != me]


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
        person = message.kind == "person" or (message.approve is None and bool(_PERSON.search(message.text)))
        handed = _escalations(desk, tickets) if person else {}
        await _play(step, desk, who, cid)
        steps.append(step)
        result.turns += 1
        result.coverage[f"{state}:{message.kind}"] += 1
        if message.intent:
            result.intents[message.intent] += 1
        if step.reply is not None:
            cid = step.reply.conversation_id
            tickets = step.tickets_after = _tickets_of(desk, email)
            if person:
                now = _escalations(desk, tickets)
                card = str((step.reply.ticket or {}).get("number") or "")
                step.escalated = any(n > handed.get(t, 0) for t, n in now.items()) or now.get(card, 0) > 0
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


def _foreign(desk: Helpdesk, email: str) -> list[str]:
    """Ticket numbers in the store that belong to someone else."""
    return [t.number for t in desk.tickets.search(TicketQuery(limit=50)) if t.requester != email]
