"""Grading a played scenario by its end state (never by wording): directory, tickets, tools, replies.

:func:`grade` returns the failures, each a specific sentence; :mod:`firstline.evals.scenarios` loads
and plays the scenarios and calls it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from firstline.conversations import SqlConversations
from firstline.directory import DirectoryBackend
from firstline.helpdesk.desk import DeskReply
from firstline.ticketing import EntryKind, TicketingBackend, TicketQuery

if TYPE_CHECKING:
    from firstline.evals.scenarios import Scenario

__all__ = ["CURRENT_TICKET", "alternatives", "fill", "grade"]

CURRENT_TICKET = "current"  # ticket_states_not: the conversation's own ticket


def fill(text: str, refs: dict[str, str], code: str) -> str:
    text = text.replace("{code}", code)
    for ref, number in refs.items():
        text = text.replace(f"{{ticket:{ref}}}", number)
    return text


def alternatives(item: Any) -> list[str]:
    """The strings a ``reply_says`` item accepts (empty when the item is malformed)."""
    options = item if isinstance(item, list) else [item]
    if not options or not all(isinstance(o, str) and o.strip() for o in options):
        return []
    return [str(o) for o in options]


def grade(
    scenario: Scenario,
    replies: Sequence[DeskReply],
    directory: DirectoryBackend,
    tickets: TicketingBackend,
    conversations: SqlConversations,
    before: set[str],
    conversation: str | None,
    refs: dict[str, str] | None = None,
) -> list[str]:
    expect = scenario.expect
    failures: list[str] = []
    last = replies[-1] if replies else None
    refs = refs or {}

    def check(name: str, actual: Any, wanted: Any) -> None:
        if actual != wanted:
            failures.append(f"{name}: expected {wanted!r}, got {actual!r}")

    actions = [a for r in replies for a in r.actions]
    ok = {a["tool"] for a in actions if a["outcome"] == "ok"}
    failed = {a["tool"] for a in actions if a["outcome"] == "failed"}
    if last is not None:
        for key in ("agent", "status"):
            if key in expect:
                check(key, getattr(last, key), expect[key])
        if "intent" in expect:
            check("intent", last.intent, expect["intent"])
        if "known_incident" in expect:
            check("known_incident", last.known_incident is not None, bool(expect["known_incident"]))
        for fragment in (fill(str(f), refs, "") for f in expect.get("reply_mentions", [])):
            if fragment not in last.reply:
                failures.append(f"reply_mentions: {fragment!r} not in the last reply")
    for tool in expect.get("tools_called", []):
        if tool not in ok:
            failures.append(f"tools_called: {tool} never ran successfully (ran: {sorted(ok)})")
    for tool in expect.get("tools_not_called", []):
        if tool in ok:
            failures.append(f"tools_not_called: {tool} ran")
    if "tools_failed" in expect:
        check("tools_failed", sorted(failed), sorted(expect["tools_failed"]))
    if "approvals_pending" in expect:
        check(
            "approvals_pending",
            len(conversations.approvals("pending", conversation)),
            expect["approvals_pending"],
        )
    requester = (scenario.requester or "").lower()
    opened = [t for t in tickets.search(TicketQuery(limit=500)) if t.number not in before and t.requester == requester]
    if "tickets_opened" in expect:
        check("tickets_opened", len(opened), expect["tickets_opened"])
    if "ticket" in expect:
        card = last.ticket if last is not None else None
        wanted = dict(expect["ticket"])
        if card is None:
            failures.append(f"ticket: expected {wanted}, but the conversation has no ticket")
        else:
            current = tickets.get(card["number"])
            values = {
                "state": current.state.value,
                "priority": int(current.priority),
                "assignment_group": current.assignment_group,
                "specialist": current.specialist,
                "intent": current.intent,
                "major_incident": "major_incident" in current.tags,
                "has_parent": current.parent_number is not None,
            }
            for key, value in wanted.items():
                check(f"ticket.{key}", values.get(key, f"<unknown field {key}>"), value)
    failures += _grade_conversation(expect, replies, tickets, refs)
    failures += _grade_directory(expect, directory)
    return failures


def _norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def _quote(text: str, limit: int = 160) -> str:
    flat = " ".join(str(text).split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def _grade_conversation(
    expect: dict[str, Any], replies: Sequence[DeskReply], tickets: TicketingBackend, refs: dict[str, str]
) -> list[str]:
    """The checks on the conversation as a whole: texts, citations, hand-overs, ticket states."""
    failures: list[str] = []
    last = replies[-1] if replies else None

    def wanted(key: str) -> list[str]:
        return [fill(str(v), refs, "") for v in expect.get(key, [])]

    if last is not None:
        if last.agent in expect.get("agent_not", []):
            failures.append(f"agent_not: the last turn is with {last.agent!r}, one of {expect['agent_not']}")
        if last.intent in expect.get("intent_not", []):
            failures.append(f"intent_not: the last turn's intent is {last.intent!r}, one of {expect['intent_not']}")
        for item in expect.get("reply_says", []):
            options = [fill(o, refs, "") for o in alternatives(item)]
            if not any(_norm(o) in _norm(last.reply) for o in options):
                said = options[0] if len(options) == 1 else f"any of {options}"
                failures.append(f"reply_says: the last reply does not say {said!r}: {_quote(last.reply)}")
        for pattern in expect.get("reply_matches", []):
            if not re.search(pattern, last.reply, re.IGNORECASE):
                failures.append(f"reply_matches: /{pattern}/ does not match the last reply: {_quote(last.reply)}")
        for fragment in wanted("reply_excludes"):
            if _norm(fragment) in _norm(last.reply):
                failures.append(f"reply_excludes: {fragment!r} is in the last reply: {_quote(last.reply)}")
        titles = [str(c.get("title") or "") for c in last.citations]
        for fragment in wanted("citation_mentions"):
            if not any(_norm(fragment) in _norm(t) for t in titles):
                failures.append(
                    f"citation_mentions: no citation of the last reply names {fragment!r} (cited: {titles})"
                )
        for fragment in wanted("citation_excludes"):
            hits = [t for t in titles if _norm(fragment) in _norm(t)]
            if hits:
                failures.append(f"citation_excludes: the last reply cites {hits}, which name {fragment!r}")
    elif any(k in expect for k in ("agent_not", "intent_not", "reply_says", "reply_matches", "citation_mentions")):
        failures.append("the scenario produced no reply to check")
    for fragment in wanted("replies_exclude"):
        for n, reply in enumerate(replies, 1):
            if _norm(fragment) in _norm(reply.reply):
                failures.append(f"replies_exclude: {fragment!r} is in reply {n}: {_quote(reply.reply)}")
    if expect.get("replies_nonempty"):
        for n, reply in enumerate(replies, 1):
            if not reply.reply.strip():
                failures.append(f"replies_nonempty: reply {n} (status {reply.status}) is empty")
    if expect.get("replies_distinct"):
        for n in range(1, len(replies)):
            if _norm(replies[n].reply) == _norm(replies[n - 1].reply):
                failures.append(f"replies_distinct: reply {n + 1} repeats reply {n}: {_quote(replies[n].reply)}")
    current = next((r.ticket["number"] for r in reversed(replies) if r.ticket), None)
    if "escalated" in expect:
        if current is None:
            if expect["escalated"]:
                failures.append("escalated: expected a hand-over to a person, but the conversation has no ticket")
        else:
            handed = [e for e in tickets.history(current) if e.kind is EntryKind.ESCALATION]
            if bool(handed) != bool(expect["escalated"]):
                state = tickets.get(current).state.value
                failures.append(
                    f"escalated: expected {bool(expect['escalated'])}, but {current} ({state}) "
                    + (f"was handed over {len(handed)} time(s)" if handed else "was never handed to a person")
                )
    for ref, banned in (expect.get("ticket_states_not") or {}).items():
        number = current if ref == CURRENT_TICKET else refs.get(str(ref))
        if number is None:
            failures.append(f"ticket_states_not.{ref}: the conversation has no ticket")
            continue
        state = tickets.get(number).state.value
        if state in {str(b) for b in banned}:
            failures.append(f"ticket_states_not.{ref}: {number} is {state}, which it must not be ({banned})")
    return failures


def _grade_directory(expect: dict[str, Any], directory: DirectoryBackend) -> list[str]:
    failures: list[str] = []

    def check(name: str, actual: Any, wanted: Any) -> None:
        if actual != wanted:
            failures.append(f"{name}: expected {wanted!r}, got {actual!r}")

    if "account" in expect:
        want = dict(expect["account"])
        account = directory.account(want.pop("username"))
        values: dict[str, Any] = {
            "locked": account.locked,
            "enabled": account.enabled,
            "password_reset_pending": account.password_reset_pending,
            "mfa_factors": len(account.mfa_factors),
        }
        for key, value in want.items():
            check(f"account.{key}", values.get(key), value)
    if "device" in expect:
        for raw in expect["device"] if isinstance(expect["device"], list) else [expect["device"]]:
            want = dict(raw)
            key = str(want.pop("key"))
            device = directory.device(key)
            values = {"status": device.status, "lock_requested": device.lock_requested_at is not None}
            for name, value in want.items():
                check(f"device.{name} of {key}", values.get(name), value)
    if "phone" in expect:
        want = dict(expect["phone"])
        phone = directory.phone(str(want.pop("extension")))
        forwarding = phone.call_forwarding
        values = {
            "voicemail_locked": phone.voicemail_locked,
            "temporary_pin_sent": phone.temporary_pin_sent,
            "forwarding_to": forwarding.to if forwarding else None,
            "forwarding_mode": forwarding.mode if forwarding else None,
        }
        for key, value in want.items():
            check(f"phone.{key}", values.get(key), value)
    if "distribution_list" in expect:
        want = dict(expect["distribution_list"])
        dl = directory.distribution_list(str(want["address"]))
        member = directory.person(str(want["member"])).id
        check("distribution_list.is_member", member in dl.members, bool(want["is_member"]))
    if "printer" in expect:
        want = dict(expect["printer"])
        printer = directory.printer(str(want.pop("name")))
        if "requester_jobs" in want:
            owner = directory.person(str(want.pop("requester"))).id if "requester" in want else None
            jobs = [j for j in printer.queue if owner is None or j.owner == owner]
            check("printer.requester_jobs", len(jobs), want.pop("requester_jobs"))
        if "toner_ordered" in want:
            check("printer.toner_ordered", sorted(printer.toner_ordered), sorted(want.pop("toner_ordered")))
        for key in want:
            failures.append(f"printer.{key}: unknown check")
    return failures
