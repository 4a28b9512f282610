"""The conversation generator: what people type, and a seeded dialogue that picks it.

:class:`Phrasebook` holds, for one org, an opening for every intent of the taxonomy (the triage utterances
plus the templates here) and the follow-ups; :class:`Dialogue` is one generated conversation, which picks the
next :class:`Message` at random for the state the dialogue is in (the weights below), sometimes with a typo.
:mod:`firstline.evals.conversations` plays them against a helpdesk and :mod:`firstline.evals.invariants`
checks every turn.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from firstline.directory.models import OrgData, Person
from firstline.helpdesk.taxonomy import data_dir, load_taxonomy

if TYPE_CHECKING:
    from firstline.evals.invariants import Step

__all__ = ["KINDS", "STATES", "Dialogue", "Message", "Phrasebook"]

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
    "network_share": (
        "I get access denied on the Finance share since this morning",
        "can I get write access to the Engineering share please?",
    ),
    "slow_internet": ("websites are crawling today, the internet is really slow",),
    "mailbox_full": ("Outlook says my mailbox is full and I can't send anything",),
    "distribution_list": ("please add me to {list}", "can I join the {list} mailing list?"),
    "shared_mailbox": (
        "I need access to the {shared} shared mailbox",
        "could I have access to the finance shared mailbox?",
    ),
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
# Openings that ask to be given access: only its owner can grant it, so no answer "fixes" them.
_ACCESS = frozenset(
    {
        "can I get write access to the Engineering share please?",
        "I need access to the {shared} shared mailbox",
        "could I have access to the finance shared mailbox?",
    }
)
_FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "yes": ("yes", "yes please", "yep", "ok go ahead", "sure"),
    "no": ("no", "nope", "no thanks"),
    "thanks": ("thanks", "thank you", "cheers"),
    "fixed": (
        "thanks, that fixed it!",
        "that worked, thanks",
        "all sorted now, thank you",
        "it worked after I restarted it, thanks",
        "it works now after a restart",
        "ok that did the trick",
        "printed fine after I cleared it",
        "yep all good now",
    ),
    "still_broken": ("still not working", "no, it's still broken", "that didn't help"),
    "person": ("a person please", "can I talk to a human", "can I talk to a human please", "I want a real person"),
    "hello": ("hello", "hi there", "hey"),
    "bye": ("bye", "goodbye", "that's all, bye"),
    "repeat": ("say that again", "sorry, can you say that again?", "repeat that please"),
    "never_mind": ("never mind", "forget it", "never mind, ignore that"),
    "what_mean": ("what do you mean?", "I don't understand", "what?"),
    "broken": ("it's broken", "it just doesn't work"),
    "them_how": ("ok how would she do it herself then?", "so what should he do?", "how can they sort it themselves?"),
}
_SOMEONE_ELSE = (
    "can you also reset my colleague {name}'s password",
    "my manager's laptop was stolen",
    "{name} is locked out, can you unlock their account?",
    "please add {name} to {list}",
    "{name}'s voicemail PIN needs resetting too",
    "hi can you reset the password for my manager {lower_name} she is locked out",
    "{lower_name} from my team can't log in, can you unlock the account",
    "my boss {first_name} forgot her voicemail pin, reset it for her please",
)
# Secrets people paste or type; {secret} is a fresh made-up value each time (its shape depends on the line).
# The _TOLD lines hand a secret over and ask for nothing.
_TOLD = (
    ("password", "my new password is {secret}"),
    ("password", "fyi my password is now {secret}"),
    ("password", "password: {secret}"),
    ("api_key", "here's the key {secret}"),
)
_SECRETS = (
    ("password", "reset my password, set it to {secret}"),
    ("password", "my password is {secret} and it still says wrong password"),
    ("password", "I tried pwd: {secret} but no luck"),
    ("password", "the old one was {secret}, can you put it back"),
    ("api_key", "our script fails with this key: {secret}"),
    ("token", "error log:\nGET /api 401\nAuthorization: Bearer {secret}\nplease help"),
    ("card", "the expense portal rejects my card {secret}, is it blocked?"),
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
    "foreign_ticket": 2, "code": 1, "wrong_code": 1, "approve": 0, "deny": 0, "secret": 2, "them_how": 0,
}  # fmt: skip
_STATE_WEIGHTS: dict[str, dict[str, int]] = {
    "code_awaited": {"code": 45, "wrong_code": 6},
    "approval_pending": {"approve": 14, "deny": 12},
    "question": {"yes": 8, "no": 6},
    "resolved": {"thanks": 5, "bye": 5},
    "refused": {"them_how": 10},  # after "I can only act on your own ...": how the other person gets it done
}
_APPROVALS = ("mfa_reset", "lost_device", "distribution_list")  # intents whose action needs an approval
STATES = ("start", "question", "code_awaited", "approval_pending", "resolved", "refused", "answered")
KINDS = frozenset({"opening", *_WEIGHTS})  # every kind of message the generator sends


@dataclass(frozen=True, slots=True)
class Message:
    """What the requester does next: type ``text``, or (``approve`` set) have ``decided_by`` decide the approval."""

    kind: str
    text: str
    approve: bool | None = None
    decided_by: str = ""
    reason: str = ""
    intent: str = ""  # the intent of an opening or topic switch
    secret: str = ""  # a secret the message carries, which must never be stored in clear
    asks: bool = True  # False: the message only hands the secret over ("my new password is ..."), asks nothing
    access: bool = False  # an opening that asks to be given access (to a share, a shared mailbox)


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


def _made_up(rng: random.Random, what: str) -> str:
    """A fresh invented secret of the kind ``what`` (never a real credential)."""
    if what == "password":
        word = rng.choice(("Summer", "Falcon", "Harbour", "Violet", "Granite", "Maple"))
        return f"{word}{rng.randrange(1000, 9999)}{rng.choice('!#$%&*')}"
    if what == "api_key":
        return "sk-" + "".join(
            rng.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(32)
        )
    if what == "token":
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
        return "eyJ" + ".".join("".join(rng.choice(alphabet) for _ in range(n)) for n in (20, 40, 30))
    digits = [4] + [rng.randrange(10) for _ in range(14)]  # a Visa-shaped number with a valid check digit
    total = sum(d if i % 2 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    number = "".join(map(str, [*digits, (10 - total % 10) % 10]))
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


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
        printer = rng.choice(printers)
        if "{printer}" in text and rng.random() < 0.15:  # a name misremembered: no such printer
            printer = f"{who.location or 'LON'}-F9-HP-0{rng.randrange(1, 10)}"
        values = {
            "printer": printer,
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
            "name": (other := rng.choice(others)).name,
            "lower_name": other.name.lower(),
            "first_name": other.name.split()[0],
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
        line = self.rng.choice(self.book.openings[intent])
        text = self.book.fill(self.rng, line, self.requester, owned)
        return Message("switch" if avoid else "opening", self._typed(text), intent=intent, access=line in _ACCESS)

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
        if kind == "secret":
            told = rng.random() < 0.3
            what, line = rng.choice(_TOLD if told else _SECRETS)
            value = _made_up(rng, what)
            return Message(kind, line.format(secret=value), secret=value, asks=not told)
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
