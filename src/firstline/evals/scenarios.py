"""Multi-turn helpdesk scenarios, graded by end state (never by wording).

A scenario is a YAML file (the shipped suite is in ``evals/scenarios/``)::

    id: security-unlock-happy
    specialist: security
    description: A locked-out employee proves who they are and is unlocked.
    requester: ruby.chen@nwmeridian.co.uk   # null: the channel doesn't know who is typing
    setup:                                  # optional changes before the first turn
      lock: [r.chen]                        # lock these accounts (failed sign-ins)
      tickets:                              # tickets that already exist
        - {ref: T1, requester: marcus.bell@nwmeridian.co.uk, short_description: "...", state: in_progress}
    turns:
      - user: "I'm locked out of my account"
      - user: "{code}"                      # the one-time code sent in this conversation
      - approve: {by: lead@nwmeridian.co.uk}   # or deny: {by: ..., reason: ...}
    expect:
      agent: security                       # of the last turn
      intent: account_unlock                # of the conversation
      status: done                          # of the last turn (done, paused, needs_identity, ...)
      tools_called: [verify_identity, unlock_account]   # ran successfully
      tools_not_called: [reset_mfa]         # never ran successfully
      tools_failed: []                      # ran and failed
      approvals_pending: 0
      known_incident: false
      tickets_opened: 1                     # new tickets whose requester is the scenario's requester
      ticket: {state: resolved, assignment_group: Security Operations, priority: 3}
      account: {username: r.chen, locked: false}
      device: {key: NW-L-0206, status: lost, lock_requested: true}
      phone: {extension: "4535", voicemail_locked: false, forwarding_to: "4357"}
      distribution_list: {address: x@..., member: ruby.chen@nwmeridian.co.uk, is_member: true}
      printer: {name: LON-F4-HP-02, requester_jobs: 0, toner_ordered: [black]}
      reply_mentions: [INC]                 # every string appears in the last reply (use sparingly)

More checks, for what a person notices when a conversation goes wrong::

    expect:
      agent_not: [triage]                   # the last turn is not with any of these agents
      intent_not: [disk_space, lost_device] # the last turn's intent is none of these
      reply_says: [NW-L-0505, [first-aiders, first aiders]]  # each item appears in the last reply
                                            #   (case-insensitive); a list item is alternatives
      reply_matches: ['\\bHR\\b']           # each regular expression matches the last reply
                                            #   (case-insensitive; for whole words)
      reply_excludes: ["did that fix it"]   # no string appears in the last reply (case-insensitive)
      replies_exclude: ["ask the user", "mark_resolved"]   # ... nor in any reply of the scenario
      replies_distinct: true                # no reply repeats the one before it word for word
      replies_nonempty: true                # every reply has some text
      escalated: true                       # the conversation's ticket was handed to a person
      ticket_states_not:                    # a ticket is in none of these states at the end:
        T1: [resolved, closed, canceled]    #   a setup ticket, by its ref
        current: [new, in_progress, on_hold]  # or the conversation's ticket
      citation_mentions: [BYOD]             # each string is in the title of one of the last reply's
                                            #   citations (case-insensitive)
      citation_excludes: [Offboarding]      # no citation title of the last reply contains these
      device:                               # ``device`` may also list several devices
        - {key: NW-L-0338, status: lost}
        - {key: NW-L-0288, status: in_use}

"The conversation's ticket" is the one on the last reply that shows a ticket; it was handed to a
person when its history has an escalation entry (however the engine made it). These text checks
ignore case and runs of white space (``reply_mentions`` does not); ``{ticket:T1}`` in an expected
reply or citation string is replaced as in a turn. Every reply of a turn or decision counts, in order.

``{ticket:T1}`` in a turn is replaced by the number of the setup ticket ``T1``; ``{code}`` by the
code the demo delivery captured. Each scenario runs against a fresh copy of the demo organisation
and an empty in-memory ticket store.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from firstline.conversations import SqlConversations
from firstline.directory import DirectoryBackend, InMemoryDirectory
from firstline.directory.models import OrgData
from firstline.errors import ConfigError
from firstline.evals.grading import CURRENT_TICKET, alternatives, fill, grade
from firstline.helpdesk.desk import DeskReply, Helpdesk
from firstline.helpdesk.tools.deps import OneTimeCodes
from firstline.localdb import open_database
from firstline.sqlstore.transactions import Transactions
from firstline.ticketing import NewTicket, SqlTicketing, TicketingBackend, TicketQuery, TicketState, TicketUpdate

__all__ = ["Scenario", "ScenarioResult", "load_scenarios", "run_scenario", "scenario_dir"]

_TURN_KEYS = {"user", "approve", "deny"}
_EXPECT_KEYS = {
    "agent",
    "intent",
    "status",
    "tools_called",
    "tools_not_called",
    "tools_failed",
    "approvals_pending",
    "known_incident",
    "tickets_opened",
    "ticket",
    "account",
    "device",
    "phone",
    "distribution_list",
    "printer",
    "reply_mentions",
    "agent_not",
    "intent_not",
    "reply_says",
    "reply_matches",
    "reply_excludes",
    "replies_exclude",
    "replies_distinct",
    "replies_nonempty",
    "escalated",
    "ticket_states_not",
    "citation_mentions",
    "citation_excludes",
}
_STRING_LIST_KEYS = (
    "reply_matches",
    "agent_not",
    "intent_not",
    "reply_excludes",
    "replies_exclude",
    "citation_mentions",
    "citation_excludes",
)
_FLAG_KEYS = ("replies_distinct", "replies_nonempty", "escalated")


def scenario_dir() -> Path:
    """The scenario suite shipped with Firstline."""
    return Path(__file__).parent / "scenarios"


@dataclass(frozen=True)
class Scenario:
    id: str
    specialist: str
    description: str
    requester: str | None
    turns: tuple[dict[str, Any], ...]
    expect: dict[str, Any]
    setup: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def load_scenarios(folder: Path | None = None) -> list[Scenario]:
    """Every ``*.yaml`` scenario in ``folder`` (default: the shipped suite), checked, by id."""
    root = folder or scenario_dir()
    scenarios = [_parse(path) for path in sorted(root.glob("*.yaml"))]
    ids = [s.id for s in scenarios]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"Scenario ids must be unique; repeated: {', '.join(duplicates)}")
    return sorted(scenarios, key=lambda s: s.id)


def _parse(path: Path) -> Scenario:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        turns = tuple(raw["turns"])
        expect = dict(raw["expect"])
        scenario = Scenario(
            str(raw["id"]),
            str(raw["specialist"]),
            str(raw.get("description", "")),
            raw.get("requester"),
            turns,
            expect,
            dict(raw.get("setup") or {}),
            path,
        )
    except (KeyError, TypeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a valid scenario ({exc}); see firstline.evals.scenarios") from exc
    for turn in turns:
        if not isinstance(turn, dict) or len(turn) != 1 or not set(turn) <= _TURN_KEYS:
            raise ConfigError(f"{path}: each turn is one of {sorted(_TURN_KEYS)}, got {turn!r}")
    unknown = set(expect) - _EXPECT_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown expectations {sorted(unknown)}; known: {sorted(_EXPECT_KEYS)}")
    problem = _check_expect(expect, scenario.setup)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    return scenario


def _check_expect(expect: dict[str, Any], setup: dict[str, Any]) -> str | None:
    """What is wrong with the shape of the newer expectations, or None."""
    for key in _STRING_LIST_KEYS:
        if key in expect:
            value = expect[key]
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
                return f"{key} must be a non-empty list of non-empty strings, got {value!r}"
    for pattern in expect.get("reply_matches") or []:
        try:
            re.compile(pattern)
        except re.error as exc:
            return f"reply_matches: {pattern!r} is not a regular expression ({exc})"
    if "reply_says" in expect:
        value = expect["reply_says"]
        items = value if isinstance(value, list) else []
        if not items or not all(alternatives(item) for item in items):
            return f"reply_says must list strings or lists of alternative strings, got {value!r}"
    for key in _FLAG_KEYS:
        if key in expect and not isinstance(expect[key], bool):
            return f"{key} must be true or false, got {expect[key]!r}"
    for key in ("replies_distinct", "replies_nonempty"):
        if expect.get(key) is False:
            return f"{key}: false checks nothing; leave it out instead"
    if "ticket_states_not" in expect:
        value = expect["ticket_states_not"]
        refs = {str(t.get("ref")) for t in setup.get("tickets", []) if isinstance(t, dict) and t.get("ref")}
        states = {s.value for s in TicketState}
        if not isinstance(value, dict) or not value:
            return f"ticket_states_not must map a setup ticket ref or {CURRENT_TICKET!r} to states, got {value!r}"
        for ref, banned in value.items():
            if ref != CURRENT_TICKET and str(ref) not in refs:
                return f"ticket_states_not: {ref!r} is neither a setup ticket ref {sorted(refs)} nor {CURRENT_TICKET!r}"
            if not isinstance(banned, list) or not banned or not set(map(str, banned)) <= states:
                return f"ticket_states_not.{ref} must be a non-empty list of {sorted(states)}, got {banned!r}"
    for key in ("reply_mentions", "reply_says", *(k for k in _STRING_LIST_KEYS if k != "reply_matches")):
        for text in [t for item in expect.get(key) or [] for t in (item if isinstance(item, list) else [item])]:
            for ref in re.findall(r"\{ticket:([^}]*)\}", str(text)):
                if ref not in {str(t.get("ref")) for t in setup.get("tickets", []) if isinstance(t, dict)}:
                    return f"{key}: {{ticket:{ref}}} names no setup ticket"
    if "device" in expect:
        devices = expect["device"] if isinstance(expect["device"], list) else [expect["device"]]
        if not devices or not all(isinstance(d, dict) and "key" in d for d in devices):
            return f"device must be a mapping with a key, or a list of them, got {expect['device']!r}"
    return None


@dataclass
class ScenarioResult:
    scenario: Scenario
    failures: list[str]
    replies: list[DeskReply]
    turn_ms: list[float]

    @property
    def passed(self) -> bool:
        return not self.failures

    def transcript(self) -> str:
        lines = []
        for turn, reply in zip(self.scenario.turns, self.replies, strict=False):
            lines.append(f"> {next(iter(turn.values()))}")
            lines.append(f"[{reply.agent}/{reply.intent} {reply.status}] {reply.reply}")
            lines.append(f"  actions: {[(a['tool'], a['outcome']) for a in reply.actions]}")
        return "\n".join(lines)


DeskFactory = Callable[[DirectoryBackend, TicketingBackend, SqlConversations, OneTimeCodes], Helpdesk]
DirectoryFactory = Callable[[OrgData], DirectoryBackend]
"""Builds the directory a scenario runs on from the organisation (a fresh one per scenario)."""
TicketsFactory = Callable[[Transactions], TicketingBackend]
"""Builds the ticket backend a scenario runs on, given Firstline's (fresh, in-memory) database."""


async def run_scenario(
    scenario: Scenario,
    org: OrgData,
    make_desk: DeskFactory,
    *,
    tickets_on: TicketsFactory = SqlTicketing,
    database_url: str = "sqlite://",
    directory_on: DirectoryFactory = InMemoryDirectory,
) -> ScenarioResult:
    """Play ``scenario`` on a fresh organisation, database and ticket backend, then grade the end state.

    ``tickets_on`` picks the backend: the built-in store (default), the in-memory one, or a vendor
    connector behind its mirror and outbox; ``database_url`` Firstline's database (an empty one: SQLite in
    memory by default, or a fresh PostgreSQL schema). The scenario suite runs on each. ``directory_on`` builds
    the directory from ``org``: the in-memory one by default, or a vendor backend over its fake (Okta,
    Microsoft Graph, Active Directory); it is closed at the end.
    """
    directory = directory_on(org)
    database = open_database(database_url)
    conversations = SqlConversations(database)
    tickets = tickets_on(database)
    sent: dict[str, str] = {}
    codes = OneTimeCodes(deliver=lambda who, code, channel: sent.__setitem__(who.lower(), code))
    desk = make_desk(directory, tickets, conversations, codes)
    refs = _setup(scenario, directory, tickets)
    before = {t.number for t in tickets.search(TicketQuery(limit=500))}
    replies: list[DeskReply] = []
    timings: list[float] = []
    conversation: str | None = None
    try:
        for turn in scenario.turns:
            started = time.perf_counter()
            if "user" in turn:
                text = fill(str(turn["user"]), refs, sent.get((scenario.requester or "").lower(), "000000"))
                reply = await desk.ask(text, requester=scenario.requester, conversation_id=conversation, channel="eval")
                conversation = reply.conversation_id
            else:
                decision = turn.get("approve") or turn.get("deny") or {}
                pending = conversations.approvals("pending", conversation)
                if not pending:
                    replies.append(DeskReply(conversation or "", "", "", "(no pending approval to decide)", "error"))
                    timings.append(0.0)
                    continue
                reply = await desk.decide(
                    pending[0].id,
                    approved="approve" in turn,
                    decided_by=str(decision.get("by", "servicedesk.lead@nwmeridian.co.uk")),
                    reason=str(decision.get("reason", "")),
                )
            timings.append((time.perf_counter() - started) * 1000)
            replies.append(reply)
        failures = grade(scenario, replies, directory, tickets, conversations, before, conversation, refs)
    finally:
        tickets.close()
        database.close()
        directory.close()
    return ScenarioResult(scenario, failures, replies, timings)


def _setup(scenario: Scenario, directory: DirectoryBackend, tickets: TicketingBackend) -> dict[str, str]:
    setup = scenario.setup
    for username in setup.get("lock", []):
        for _ in range(10):
            if directory.record_failed_login(username).locked:
                break
    refs: dict[str, str] = {}
    for raw in setup.get("tickets", []):
        spec = dict(raw)
        ref = str(spec.pop("ref", ""))
        state = spec.pop("state", None)
        ticket = tickets.create(NewTicket(**spec))
        if state and state != "new":
            tickets.update(ticket.number, TicketUpdate(state=TicketState(state)), author="setup")
        if ref:
            refs[ref] = ticket.number
    return refs


def summarise(results: Iterable[ScenarioResult]) -> dict[str, Any]:
    """Pass rate per specialist and overall, and the p50/p95 turn time."""
    results = list(results)
    by: dict[str, list[bool]] = {}
    for result in results:
        by.setdefault(result.scenario.specialist, []).append(result.passed)
    timings = sorted(t for r in results for t in r.turn_ms)

    def pct(q: float) -> float:
        return round(timings[min(len(timings) - 1, int(q * len(timings)))], 1) if timings else 0.0

    return {
        "scenarios": len(results),
        "passed": sum(r.passed for r in results),
        "by_specialist": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by.items())},
        "turn_ms_p50": pct(0.5),
        "turn_ms_p95": pct(0.95),
    }
