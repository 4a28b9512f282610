"""The dialogue layer both engines share: dialogue acts, the stored dialogue state, the rules that live
below the engines (who may be acted on, when a ticket may close), structured tool results, approvals."""

from __future__ import annotations

import asyncio

import pytest

from firstline.agents import RunContext, ToolOutcome, ToolPolicy, tool
from firstline.helpdesk.acts import ActModel, Acts, load_act_examples, packaged_act_model_path
from firstline.helpdesk.desk import Helpdesk
from firstline.helpdesk.dialogue import Dialogue, Pending, Topic
from firstline.helpdesk.offline.engine import named_case_first
from firstline.helpdesk.policy import HelpdeskPolicy
from firstline.helpdesk.taxonomy import data_dir
from firstline.llm.testing import ScriptedModel, call, say
from firstline.testing.helpdesk import HelpdeskWorld
from firstline.ticketing import NewTicket, TicketQuery, TicketState

RUBY = "ruby.chen@nwmeridian.co.uk"  # locked out in the demo organisation
MARCUS = "marcus.bell@nwmeridian.co.uk"


def ask(desk, text: str, who: str = RUBY, cid: str | None = None):  # type: ignore[no-untyped-def]
    return asyncio.run(desk.ask(text, requester=who, conversation_id=cid))


# -- dialogue acts -------------------------------------------------------------------------------------


def test_the_act_model_reads_held_out_messages_it_never_saw(helpdesk_world: HelpdeskWorld) -> None:
    acts = Acts(ActModel.load(packaged_act_model_path()), helpdesk_world.triage.embedder)
    held_out = load_act_examples(data_dir() / "acts" / "heldout.jsonl")
    train = {t.lower() for t, _ in load_act_examples(data_dir() / "acts" / "train.jsonl")}
    assert not any(t.lower() in train for t, _ in held_out)  # a real held-out split
    report = acts.evaluate(held_out)
    assert report["examples"] >= 350
    assert report["accuracy"] >= 0.88, report
    for text, act in [("Can I talk to a human please", "human"), ("thanks, that fixed it!", "fixed")]:
        assert acts.read(text).act == act
    assert acts.read("my VPN keeps dropping at home every ten minutes since the update").act == "inform"


def test_dialogue_state_survives_storage() -> None:
    dialogue = Dialogue()
    first = dialogue.new_topic("I'm locked out")
    first.agent, first.intent, first.status, first.ticket = "security", "account_unlock", "resolved", "INC0000001"
    second = dialogue.new_topic("my VPN keeps dropping")
    second.waiting, second.confirmed = "confirm_fix", ["close_ticket:INC0000002"]
    dialogue.pending = Pending("confirm_fix", second.id)
    again = Dialogue.from_dict(dialogue.as_dict())
    assert again.as_dict() == dialogue.as_dict()
    assert again.active is not None and again.active.id == second.id
    assert again.earlier_open() is None  # the first topic is finished
    assert Pending.resume(again.topics[1]) == Pending("confirm_fix", second.id)
    assert [t.is_open for t in again.topics] == [False, True]
    assert isinstance(again.topics[0], Topic)


# -- conversation repair, the same for every intent ----------------------------------------------------------


def test_a_person_please_escalates_with_a_summary_and_never_repeats_the_answer(
    helpdesk_world: HelpdeskWorld,
) -> None:
    desk, _ = helpdesk_world.desk()
    first = ask(desk, "Outlook keeps asking for my password", MARCUS)
    human = ask(desk, "Can I talk to a human please", MARCUS, first.conversation_id)
    assert human.reply != first.reply and human.ticket is not None
    number = human.ticket["number"]
    history = desk.tickets.history(number)
    assert any(e.kind.value == "escalation" and "asked for a person" in e.body for e in history), history
    assert [t["status"] for t in human.topics] == ["escalated"]


def test_after_a_solved_problem_a_new_one_gets_its_own_answer_and_ticket(helpdesk_world: HelpdeskWorld) -> None:
    desk, sent = helpdesk_world.desk()
    r = ask(desk, "I'm locked out of my account")
    r = ask(desk, sent[RUBY], cid=r.conversation_id)
    assert r.topics[0]["status"] == "resolved"
    vpn = ask(desk, "my VPN keeps dropping at home", cid=r.conversation_id)
    assert (vpn.agent, vpn.intent) == ("network", "vpn_drops")
    assert "unlocked" not in vpn.reply
    vague = ask(desk, "it's broken", cid=r.conversation_id)
    assert vague.agent == "network" and vague.reply not in (vpn.reply, r.reply)
    hello = ask(desk, "hello", cid=r.conversation_id)
    assert "INC" not in hello.reply.split("(")[0] and "Your open tickets" not in hello.reply
    assert len(hello.topics) == 2  # no topic lost


def test_a_device_named_to_which_one_stays_on_the_topic_and_keeps_the_promise(helpdesk_world: HelpdeskWorld) -> None:
    """ "Tell me its model and I'll pass it to a person": the model is the answer to that question (before, "it
    was an iphone 14" opened a second ticket and left the first one open), and a person gets it on that ticket."""
    desk, _ = helpdesk_world.desk()
    connor = "connor.walsh@nwmeridian.co.uk"  # has a laptop on record, no phone
    first = ask(desk, "my phone got stolen on the train this morning, it has my work email on it", connor)
    assert first.awaiting == "choice" and "tell me its model" in first.reply
    number = first.ticket["number"] if first.ticket else None
    model = ask(desk, "it was an iphone 14", connor, first.conversation_id)
    assert model.ticket is not None and model.ticket["number"] == number, model.reply
    assert [t["status"] for t in model.topics] == ["escalated"] and "person" in model.reply
    assert len(desk.tickets.search(TicketQuery(requester=connor))) == 1
    assert any("iphone 14" in e.body for e in desk.tickets.history(model.ticket["number"]))


def test_it_works_now_after_a_hand_over_offers_to_resolve_and_does_on_yes(helpdesk_world: HelpdeskWorld) -> None:
    """ "yep that did it" after the problem went to a person got only the ticket's status; now the desk offers to
    resolve it (so the team does not call about a solved problem) and resolves it on yes, keeps it on no."""
    desk, _ = helpdesk_world.desk()
    for answer, state in (("yes please", "resolved"), ("no, leave it open", "in_progress")):
        first = ask(desk, "my laptop keeps dropping off the office wifi", MARCUS)
        passed = ask(desk, "no, still drops every few minutes", MARCUS, first.conversation_id)
        assert passed.ticket is not None and [t["status"] for t in passed.topics] == ["escalated"], passed.reply
        works = ask(desk, "yep that did it ty", MARCUS, first.conversation_id)
        number = passed.ticket["number"]
        assert works.awaiting == "confirmation" and f"resolve {number}" in works.reply
        assert desk.tickets.get(number).state.value == "in_progress"  # nothing changed before the answer
        done = ask(desk, answer, MARCUS, first.conversation_id)
        assert desk.tickets.get(number).state.value == state, done.reply


def test_the_clarifying_question_names_teams_as_employees_would(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    for text in ("thank you, what do i do now for a new one?", "can you check the thing from before"):
        question = desk.triage.classify(text).clarify or ""
        assert "lookup problem" not in question and "ticket problem" not in question, question


def test_what_about_another_problem_is_a_new_question_not_going_back(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    wifi = ask(desk, "hi, first week here. how do i get on the wifi in the office?", MARCUS)
    assert wifi.awaiting == "confirm_fix"
    vpn = ask(desk, "and the vpn from home?", MARCUS, wifi.conversation_id)
    assert (vpn.agent, vpn.intent) == ("network", "vpn_drops") and "no earlier problem" not in vpn.reply
    assert len(vpn.topics) == 2
    back = ask(desk, "back to my first question", MARCUS, wifi.conversation_id)  # points back: goes back
    assert back.intent == wifi.intent and "no earlier problem" not in back.reply


def test_thanks_that_fixed_it_resolves_the_topic_it_answers(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    r = ask(desk, "Outlook keeps asking for my password", MARCUS)
    assert r.awaiting == "confirm_fix" and "Did that fix it?" in r.reply
    done = ask(desk, "thanks, that fixed it!", MARCUS, r.conversation_id)
    assert desk.tickets.get(r.ticket["number"]).state == TicketState.RESOLVED  # type: ignore[index]
    assert "ticket problem or a security problem" not in done.reply


def test_a_policy_answer_asks_no_fix_question(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    r = ask(desk, "can I use my personal iPad for work email?", MARCUS)
    assert "Did that fix it?" not in r.reply and r.awaiting is None
    assert r.citations and "BYOD" in r.citations[0]["title"]


# -- rules below both engines -------------------------------------------------------------------------------


def test_a_ticket_is_closed_only_when_the_requester_asked_for_that_ticket() -> None:
    @tool(risk="write")
    def close_ticket(ctx: RunContext, number: str, reason: str) -> str:
        """Close a ticket.

        Args:
            number: the ticket.
            reason: why.
        """
        return "closed"

    policy = HelpdeskPolicy()
    context = RunContext(RUBY, verified=True)
    asked = call("close_ticket", number="INC0000012", reason="done").tool_calls[0]
    assert ToolPolicy().decide(close_ticket, context, call=asked).verdict == "allow"  # the generic policy would
    assert policy.decide(close_ticket, context, call=asked).verdict == "deny"
    context.confirmed.add("close_ticket:INC0000012")
    assert policy.decide(close_ticket, context, call=asked).verdict == "allow"
    other = call("close_ticket", number="INC0000013", reason="done").tool_calls[0]
    assert policy.decide(close_ticket, context, call=other).verdict == "deny"


def test_a_model_that_closes_a_ticket_nobody_asked_to_close_is_refused(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    mine = desk.tickets.create(NewTicket(requester=MARCUS, short_description="Month-end report fails", description="x"))
    script = ScriptedModel(
        [
            call("close_ticket", number=mine.number, reason="user seems done"),
            say("Done."),
        ]
    )
    desk, _ = helpdesk_world.desk(engine=script, tickets=desk.tickets)
    reply = ask(desk, f"what's the status of {mine.number}?", MARCUS)
    assert desk.tickets.get(mine.number).state == TicketState.NEW
    assert [(a["tool"], a["outcome"]) for a in reply.actions] == [("close_ticket", "deny")]


def test_the_offline_engine_asks_before_closing_and_closes_on_yes(helpdesk_world: HelpdeskWorld) -> None:
    desk, sent = helpdesk_world.desk()
    mine = desk.tickets.create(NewTicket(requester=MARCUS, short_description="Month-end report fails", description="x"))
    r = ask(desk, f"is {mine.number} still being looked at?", MARCUS)
    r = ask(desk, "please close my ticket", MARCUS, r.conversation_id)
    if r.awaiting == "choice":
        r = ask(desk, mine.number, MARCUS, r.conversation_id)
    assert r.awaiting == "confirmation" and mine.number in r.reply
    assert desk.tickets.get(mine.number).state == TicketState.NEW
    r = ask(desk, "yes", MARCUS, r.conversation_id)
    if r.awaiting == "code":
        r = ask(desk, sent[MARCUS], MARCUS, r.conversation_id)
    closed = desk.tickets.get(mine.number)  # the employee asked: closed (helpdesk/ticket_actions.py), as over HTTP
    assert closed.state == TicketState.CLOSED and closed.resolution_note.startswith("Closed by the requester")


def test_a_request_about_someone_else_is_refused_before_any_engine_runs(helpdesk_world: HelpdeskWorld) -> None:
    script = ScriptedModel([call("transfer_to_security"), call("unlock_account"), say("done")])
    desk, _ = helpdesk_world.desk(engine=script)
    reply = ask(desk, "please unlock my manager's account, she is locked out", MARCUS)
    assert "someone else" in reply.reply and reply.actions == []
    assert script.requests == []  # refused below the engine: no model was asked
    again = ask(desk, "My work laptop was stolen from my wife's car, her crime reference is CR/1234/26", MARCUS)
    assert "someone else" not in again.reply  # "her" crime reference is not someone else's laptop


# -- structured results -------------------------------------------------------------------------------------


def test_a_tool_result_keeps_guidance_for_a_model_apart_from_what_the_employee_reads() -> None:
    failed = ToolOutcome("verify_identity", "failed", "That code isn't right.", guidance="ask the user to retype it")
    assert failed.for_model() == "FAILED: That code isn't right. ask the user to retype it"
    assert ToolOutcome.from_dict(failed.as_dict()) == failed
    ok = ToolOutcome.of("vpn_status", {"gateways": ["NW-GW-LON"]})
    assert ok.ok and ok.data == {"gateways": ["NW-GW-LON"]} and ok.say == ""
    denied = ToolOutcome("remote_lock", "denied", by="lead@x", reason="found it")
    assert denied.for_model().startswith("DENIED by lead@x: found it")


def test_the_offline_engine_never_shows_a_tools_guidance(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    r = ask(desk, "I'm locked out of my account")
    wrong = ask(desk, "000000", cid=r.conversation_id)
    assert "That code isn't right" in wrong.reply and "ask the user" not in wrong.reply
    assert wrong.actions[-1]["outcome"] == "failed"


# -- approvals ---------------------------------------------------------------------------------------------------


def test_while_an_approval_waits_the_employee_is_told_what_who_and_next_and_a_denial_closes_it(
    helpdesk_world: HelpdeskWorld,
) -> None:
    desk, sent = helpdesk_world.desk()
    r = ask(desk, "I lost my work iPhone on the train", MARCUS)
    r = ask(desk, sent[MARCUS], MARCUS, r.conversation_id)
    if r.status != "paused":
        r = ask(desk, r.reply.split("Yours are: ")[-1].split(" ")[0], MARCUS, r.conversation_id)
    assert r.status == "paused" and r.reply.strip()
    assert "approval" in r.reply and "service desk agent" in r.reply and "remote-lock" in r.reply
    still = ask(desk, "any news?", MARCUS, r.conversation_id)
    assert still.status == "waiting" and still.reply.strip() and still.reply != r.reply
    approval = desk.conversations.approvals("pending", r.conversation_id)[0]
    decided = asyncio.run(
        desk.decide(approval.id, approved=False, decided_by="sarah.lindqvist@nwmeridian.co.uk", reason="found on CCTV")
    )
    assert "sarah.lindqvist" in decided.reply and "found on CCTV" in decided.reply
    assert desk.tickets.get(r.ticket["number"]).state == TicketState.CLOSED  # type: ignore[index]


@pytest.mark.parametrize("text", ["482913", "482 913"])
def test_a_stray_code_is_not_used(helpdesk_world: HelpdeskWorld, text: str) -> None:
    desk, _ = helpdesk_world.desk()
    r = ask(desk, text, MARCUS)
    assert "not waiting for a code" in r.reply and r.actions == []


def test_a_possible_known_incident_is_a_question_and_yes_links_it(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    r = ask(desk, "some external emails arrive late", MARCUS)
    assert r.known_incident is None and r.awaiting == "confirmation"
    assert "Is this the problem you're seeing" in r.reply and "INC0049004" in r.reply
    own = r.ticket["number"]  # type: ignore[index]
    linked = ask(desk, "yes", MARCUS, r.conversation_id)
    assert "Workaround" in linked.reply
    assert desk.tickets.get(own).parent_number is not None
    other, _ = helpdesk_world.desk()
    r = ask(other, "some external emails arrive late", MARCUS)
    declined = ask(other, "no", MARCUS, r.conversation_id)
    assert declined.awaiting == "confirm_fix" and other.tickets.get(r.ticket["number"]).parent_number is None  # type: ignore[index]


def test_how_long_will_that_take_is_answered_from_the_ticket_not_the_runbooks(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    r = ask(desk, "Outlook keeps asking for my password", MARCUS)
    r = ask(desk, "no, still the same", MARCUS, r.conversation_id)
    when = ask(desk, "how long will that take?", MARCUS, r.conversation_id)
    number = r.ticket["number"]  # type: ignore[index]
    assert number in when.reply and "Messaging" in when.reply and when.citations == []
    assert len(when.topics) == 1  # no new topic for a question about this one


def test_yes_that_fixed_it_is_an_answer_even_when_it_sounds_like_a_ticket_request(
    helpdesk_world: HelpdeskWorld,
) -> None:
    desk, _ = helpdesk_world.desk()
    r = ask(desk, "vpn keeps droping every 10 mins", "jack.thornton@nwmeridian.co.uk")
    assert r.awaiting == "confirm_fix"
    done = ask(desk, "yes that fixed it, thanks", "jack.thornton@nwmeridian.co.uk", r.conversation_id)
    assert [t["status"] for t in done.topics] == ["resolved"] and "Your open tickets" not in done.reply


def test_asking_for_a_person_again_is_never_told_to_ask_for_a_person(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    who = "chloe.whitaker@nwmeridian.co.uk"
    first = asyncio.run(desk.ask("teams keeps crashing when i share screen", requester=who))
    cid = first.conversation_id
    for text in ("that didnt help", "a real person please"):
        asyncio.run(desk.ask(text, requester=who, conversation_id=cid))
    again = asyncio.run(desk.ask("a person please", requester=who, conversation_id=cid))
    assert "'a person please'" not in again.reply and "4357" in again.reply, again.reply
    assert again.ticket is not None and again.ticket["number"] in again.reply


def test_yes_send_a_code_after_one_was_sent_says_it_is_on_its_way(helpdesk_world: HelpdeskWorld) -> None:
    desk, sent = helpdesk_world.desk()
    first = ask(desk, "I'm locked out of my account")
    assert first.awaiting == "code" and RUBY in sent
    code = sent.pop(RUBY)
    again = ask(desk, "yes please send a code", cid=first.conversation_id)
    assert "already on its way" in again.reply and again.awaiting == "code" and RUBY not in sent  # no second code
    done = ask(desk, code, cid=first.conversation_id)
    assert "unlocked" in done.reply


@pytest.mark.parametrize(
    "text",
    [
        "it worked after i pulled the paper out, thanks",
        "it works now after a restart",
        "printed fine after I cleared it",
    ],
)
def test_saying_it_works_after_the_fix_question_resolves_and_never_escalates(
    helpdesk_world: HelpdeskWorld, text: str
) -> None:
    desk, _ = helpdesk_world.desk()
    who = "chloe.whitaker@nwmeridian.co.uk"
    r = ask(desk, "the printer LDS-F2-LX-01 is jammed again", who)
    assert r.awaiting == "confirm_fix", r.reply
    done = ask(desk, text, who, r.conversation_id)
    number = r.ticket["number"]  # type: ignore[index]
    assert desk.tickets.get(number).state == TicketState.RESOLVED, done.reply
    assert "still not working" not in done.reply and not any("escalate" in a["tool"] for a in done.actions)
    still = ask(desk, "the printer LDS-F2-LX-01 is jammed again, still not working after I cleared it", who)
    assert "glad it's working" not in still.reply.lower()  # "still", "not": the rule never reads it as fixed


def test_a_password_typed_after_a_phishing_report_joins_that_report(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    who = "sophie.laurent@nwmeridian.co.uk"
    r = ask(desk, "i think i clicked a dodgy link in an email pretending to be DHL", who)
    number = r.ticket["number"]  # type: ignore[index]
    assert "say so now" in r.reply and r.awaiting == "detail"
    more = ask(desk, "I typed my password in, it was Winter2026!", who, r.conversation_id)
    assert more.ticket is not None and more.ticket["number"] == number  # the same report, not a new ticket
    assert number in more.reply and "aka.ms/sspr" in more.reply and "six-digit code" not in more.reply
    mine = desk.tickets.search(TicketQuery(requester=who))
    assert [t.number for t in mine] == [number]
    notes = [e.body for e in desk.tickets.history(number) if e.kind.value == "work_note"]
    assert any("entered credentials" in note for note in notes), notes  # Security Operations are told
    assert "Winter2026" not in str(desk.tickets.history(number)) + desk.tickets.get(number).description
    then = ask(desk, "thanks, what else should i do", who, r.conversation_id).reply
    assert "added that" not in then and number in then and "aka.ms/sspr" in then  # what is left for them to do


def test_thanks_while_a_cancellation_is_asked_asks_that_again_not_an_older_question(
    helpdesk_world: HelpdeskWorld,
) -> None:
    desk, _ = helpdesk_world.desk()
    first = ask(desk, "I misplaced my work phone while travelling and I dont know if it was stolen or lost")
    cid = first.conversation_id
    number = first.ticket["number"]
    assert "misplaced" in desk.tickets.get(number).short_description  # not "displayed"
    assert f"Shall I cancel {number}" in ask(desk, "never mind, ignore that", cid=cid).reply
    again = ask(desk, "thanks", cid=cid).reply
    assert f"Shall I still cancel {number}?" in again  # the question a "yes" now answers
    assert "six-digit code" not in again
    ask(desk, "no", cid=cid)
    assert desk.tickets.get(number).state != TicketState.CANCELED


def test_a_statement_triage_places_nowhere_after_a_ticket_was_raised_goes_on_that_ticket(
    helpdesk_world: HelpdeskWorld,
) -> None:
    desk, _ = helpdesk_world.desk()
    first = ask(desk, "is teams down? nobody can join calls", MARCUS)
    cid, number = first.conversation_id, first.ticket["number"]
    more = ask(desk, "its everyone on my floor", MARCUS, cid)
    assert f"added that to {number}" in more.reply and "outside what" not in more.reply
    assert any("everyone on my floor" in e.body for e in desk.tickets.history(number))
    question = ask(desk, "can you book me a meeting room for friday?", MARCUS, cid)  # a new request, not a detail
    assert "added that" not in question.reply
    assert not any("meeting room" in e.body for e in desk.tickets.history(number))


def test_a_printer_named_by_its_floor_is_found_or_the_ones_there_are_listed(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    oliver = "oliver.pemberton@nwmeridian.co.uk"  # London, floor 2: two printers there, two on floor 3
    first = ask(desk, "the printer by the kitchen keeps jamming", oliver)
    assert "Which printer is it?" in first.reply  # most people read the label
    mine = ask(desk, "it's the one by the kitchen", oliver, first.conversation_id)
    assert "LON-F2-HP-01" in mine.reply and "LON-F2-LX-01" in mine.reply  # the ones on their floor
    there = ask(desk, "its the one on 3rd floor", oliver, first.conversation_id)
    assert "LON-F3-HP-01" in there.reply and "LON-F3-LX-01" in there.reply and "LON-F2" not in there.reply
    picked = ask(desk, "LON-F3-LX-01", oliver, first.conversation_id)
    assert "LON-F3-LX-01 is" in picked.reply


def test_a_question_about_equipment_is_answered_and_a_person_offered_not_assigned(
    helpdesk_world: HelpdeskWorld,
) -> None:
    desk, _ = helpdesk_world.desk()
    who = "olivia.grant@nwmeridian.co.uk"
    wifi = ask(desk, "hiya, first day here - how do i get on the wifi with my own phone?", who)
    assert "NW-Guest" in wifi.reply and "Enrol this iPhone" not in wifi.reply  # not the company phone's set-up
    monitor = ask(desk, "and who do i ask about getting a second monitor", who, wifi.conversation_id)
    assert "passed it on" not in monitor.reply and "Requesting IT equipment" in monitor.reply
    assert not any("monitor" in t.short_description for t in desk.tickets.search(TicketQuery(requester=who)))


def test_asking_whether_there_is_an_outage_raises_nothing_until_a_problem_is_told(
    helpdesk_world: HelpdeskWorld,
) -> None:
    desk, _ = helpdesk_world.desk()
    asked = ask(desk, "is there a known problem with teams today", MARCUS)
    assert asked.ticket is None and "known incident" in asked.reply and "raised" not in asked.reply
    told = ask(desk, "calls keep dropping for everyone in my team", MARCUS, asked.conversation_id)
    assert told.ticket is not None and "raised it" in told.reply


def test_which_ticket_after_a_ticket_reply_stays_with_tickets_and_raises_nothing(
    helpdesk_world: HelpdeskWorld,
) -> None:
    desk, _ = helpdesk_world.desk()
    who = "connor.walsh@nwmeridian.co.uk"
    first = ask(desk, "whats happening with my ticket", who)
    assert "no open tickets" in first.reply
    which = ask(desk, "the one about the printer", who, first.conversation_id)
    assert which.ticket is None and "open ticket of yours about that" in which.reply  # no printer runbook, no ticket
    assert desk.tickets.search(TicketQuery(requester=who)) == []


def test_context_given_while_a_fix_is_confirmed_goes_on_that_ticket_not_a_new_problem(
    helpdesk_world: HelpdeskWorld,
) -> None:
    desk, _ = helpdesk_world.desk()
    who = "nathan.price@nwmeridian.co.uk"
    first = ask(desk, "outlook keeps asking for my password", who)
    number = first.ticket["number"]  # type: ignore[index]
    assert first.awaiting == "confirm_fix"
    more = ask(desk, "yes im on the vpn, working from home today", who, first.conversation_id)
    assert more.ticket is not None and more.ticket["number"] == number and more.awaiting == "confirm_fix"
    assert [t.number for t in desk.tickets.search(TicketQuery(requester=who))] == [number]  # no VPN ticket
    assert any("working from home" in e.body for e in desk.tickets.history(number))


def test_naming_the_device_after_did_that_fix_it_is_a_detail_not_a_no(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    who = "oscar.bennett@nwmeridian.co.uk"
    first = ask(desk, "morning, my laptop is super slow since yesterdays update", who)
    number = first.ticket["number"]  # type: ignore[index]
    assert first.awaiting == "confirm_fix"
    which = ask(desk, "its NW-L-0206 i think", who, first.conversation_id)
    assert "still not working" not in which.reply and which.awaiting == "confirm_fix"
    assert desk.tickets.get(number).state.value == "new"  # not handed to a person as "not fixed"
    assert any("NW-L-0206" in e.body for e in desk.tickets.history(number))


def test_how_they_can_is_answered_after_a_request_under_way_was_refused_as_someone_elses(
    helpdesk_world: HelpdeskWorld,
) -> None:
    desk, _ = helpdesk_world.desk()
    who = "daniel.okafor@nwmeridian.co.uk"
    first = ask(desk, "can i join the marketing-news mailing list", who)
    assert "address" in first.reply
    other = ask(desk, "please add Rajesh Kulkarni to project-harbour@nwmeridian.co.uk", who, first.conversation_id)
    assert "only act on your own" in other.reply
    how = ask(desk, "how can they sort it themselves?", who, first.conversation_id)
    assert "ask me themselves" in how.reply and "aim to resolve" not in how.reply
    later = ask(desk, "what's the status of my request?", who, first.conversation_id)
    assert "ask me themselves" not in later.reply  # the refusal is read with the next message only


def test_still_after_did_that_fix_it_is_a_no_however_short(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    first = ask(desk, "my monitor keeps flickering when i plug into the dock", MARCUS)
    assert first.awaiting == "confirm_fix"
    again = ask(desk, "still flickers", MARCUS, first.conversation_id)
    assert "still not working" in again.reply and "Did it work" not in again.reply


@pytest.mark.parametrize(
    "text", ["hi, i need access to the finance share", "can I get access to the finance shared mailbox please?"]
)
def test_an_access_request_is_raised_for_its_owner_not_asked_if_it_fixed_anything(
    helpdesk_world: HelpdeskWorld, text: str
) -> None:
    desk, _ = helpdesk_world.desk()
    first = ask(desk, text, MARCUS)
    number = first.ticket["number"]  # type: ignore[index]
    assert first.awaiting is None and "Did that fix it" not in first.reply
    assert "owner's approval" in first.reply and f"{number} is with" in first.reply
    thanks = ask(desk, "thanks!", MARCUS, first.conversation_id)
    assert "resolved" not in thanks.reply
    assert desk.tickets.get(number).state.value == "in_progress"  # with a person until access is granted
    news = ask(desk, "ok, what's happening with it?", MARCUS, first.conversation_id)
    assert number in news.reply and "in progress" in news.reply


def test_a_ticket_asked_about_by_subject_is_not_answered_with_an_unrelated_one(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    who = "priya.raman@nwmeridian.co.uk"
    toner = ask(desk, "LON-F3-HP-01 is nearly out of black toner", who)
    number = toner.ticket["number"]  # type: ignore[index]
    laptop = ask(desk, "is my ticket about the laptop still open?", who)
    assert "can't find an open ticket of yours about the laptop" in laptop.reply and number in laptop.reply
    assert "priority" not in laptop.reply  # not the toner ticket's status as if it were the laptop's
    printer = ask(desk, "is my printer ticket still open?", who)
    assert f"{number} (LON-F3-HP-01 is nearly out of black toner) is" in printer.reply


def test_a_code_nobody_asked_for_is_told_apart_from_the_code_the_desk_sends(helpdesk_world: HelpdeskWorld) -> None:
    desk, _ = helpdesk_world.desk()
    first = ask(desk, "i just got a text with a login code but i didnt try to sign in to anything", MARCUS)
    assert first.intent == "suspicious_signin" and first.awaiting == "code"
    assert "Don't pass the code you didn't ask for to anyone" in first.reply and "a new one" in first.reply
    prompts = ask(desk, "I keep getting MFA prompts on my phone that I didn't start", "oscar.bennett@nwmeridian.co.uk")
    assert "Don't approve that prompt" in prompts.reply and "didn't ask for" not in prompts.reply


def test_saying_which_one_it_is_after_the_problem_went_to_a_person_goes_on_its_ticket(
    helpdesk_world: HelpdeskWorld,
) -> None:
    desk, _ = helpdesk_world.desk()
    who = "oscar.bennett@nwmeridian.co.uk"
    first = ask(desk, "dropped my laptop this morning and the screen is cracked", who)
    number = first.ticket["number"]  # type: ignore[index]
    which = ask(desk, "not sure which one it is, the grey dell", who, first.conversation_id)
    assert which.ticket is not None and which.ticket["number"] == number
    assert [t.number for t in desk.tickets.search(TicketQuery(requester=who))] == [number]  # no new ticket
    assert any("grey dell" in e.body for e in desk.tickets.history(number))


@pytest.mark.parametrize(
    "back",
    ["you closed my ticket but the vpn still drops", "please reopen my ticket, the vpn still drops",
     "it's dropping again", "the vpn dropped again"],
)  # fmt: skip
def test_a_problem_back_after_it_was_resolved_goes_to_a_person_on_a_new_ticket(
    helpdesk_world: HelpdeskWorld, back: str
) -> None:
    """Right after "yes that fixed it" resolved the ticket, the problem being back is that problem, not a request
    to close a ticket ("you closed my ticket ..." was read as *close*: "You have no open tickets"), nor "cancel"
    ("it's dropping again") nor "go back" ("dropped again"): it goes to the team, on a new ticket that says which
    one it carries on."""
    desk, _ = helpdesk_world.desk()
    first = ask(desk, "my vpn keeps dropping", MARCUS)
    done = ask(desk, "yes that fixed it, thanks", MARCUS, first.conversation_id)
    old = first.ticket["number"] if first.ticket else ""
    assert desk.tickets.get(old).state == TicketState.RESOLVED and done.topics[-1]["status"] == "resolved"
    again = ask(desk, back, MARCUS, first.conversation_id)
    assert again.ticket is not None and again.ticket["number"] != old, again.reply
    assert f"{old} was already resolved" in again.reply and "Network Operations" in again.reply
    assert "no open tickets" not in again.reply.lower() and "cancel" not in again.reply.lower()
    assert desk.tickets.get(again.ticket["number"]).assignment_group == "Network Operations"
    assert [t["status"] for t in again.topics] == ["escalated"]


def test_a_sign_in_reset_asked_for_someone_else_is_refused_not_run_on_the_requester(
    helpdesk_world: HelpdeskWorld,
) -> None:
    """ "my manager chloe asked me to reset her password because she's travelling" is read as a suspicious
    sign-in (0.91), whose playbook signs the account out everywhere after a code: it went to the requester's
    own account, with a code to his phone. The intent acts on a person's account, so the rule every such
    intent has refuses it; his own report with a colleague named in passing still runs."""
    desk, sent = helpdesk_world.desk()
    hamza = "hamza.siddiqui@nwmeridian.co.uk"  # reports to Chloe Whitaker in the demo organisation
    asked = ask(desk, "my manager chloe asked me to reset her password because she's travelling", hamza)
    assert asked.intent == "suspicious_signin" and "for someone else" in asked.reply, asked.reply
    assert hamza not in sent and asked.ticket is None and asked.awaiting is None
    then = ask(desk, "ok what should she do then", hamza, asked.conversation_id)
    assert "ask me themselves" in then.reply and hamza not in sent
    own = ask(desk, "i got an mfa prompt i didnt start, chloe said she got one too", hamza)
    assert own.awaiting == "code" and hamza in sent and own.ticket is not None


@pytest.mark.parametrize(
    ("answer", "resolved"),
    [("yes im in the office, teams works fine though", False), ("yeah i'm on the vpn", False),
     ("yes it works now", True), ("yeah that did it", True)],
)  # fmt: skip
def test_a_yes_that_says_where_they_are_is_no_fix(helpdesk_world: HelpdeskWorld, answer: str, resolved: bool) -> None:
    """After "did that fix it?", "yes im in the office, teams works fine though" resolved the ticket: a yes that
    goes on to say where the person is (and another app working, "though") is context for the ticket, and the
    question is asked again; a yes that says it works resolves."""
    desk, _ = helpdesk_world.desk()
    first = ask(desk, "outlook on my laptop says it cant connect to the server", MARCUS)
    assert first.awaiting == "confirm_fix" and first.ticket is not None
    then = ask(desk, answer, MARCUS, first.conversation_id)
    state = desk.tickets.get(first.ticket["number"]).state
    assert (state == TicketState.RESOLVED) is resolved, then.reply
    if not resolved:
        assert "added that to" in then.reply and then.awaiting == "confirm_fix"


@pytest.mark.parametrize(
    "recall", ["what was the workaround again?", "sorry what did you say the gateway was",
               "can you remind me which gateway to pick"],
)  # fmt: skip
def test_a_question_about_an_earlier_answer_gets_that_answer(helpdesk_world: HelpdeskWorld, recall: str) -> None:
    """After "yes that fixed it", "what was the workaround again?" was read as an outage report ("I don't see a
    known incident...") and "can you repeat the steps?" repeated "Great, glad it's working": a question about
    something an earlier answer said gets that answer again, without its settled "did that fix it?", and changes
    no ticket. A question that asks anew ("how do I map a network drive again?") is still a new question."""
    desk, _ = helpdesk_world.desk()
    first = ask(desk, "my vpn keeps dropping", MARCUS)
    assert "NW-GW-LON" in first.reply and first.ticket is not None
    ask(desk, "yes that fixed it, thanks", MARCUS, first.conversation_id)
    again = ask(desk, recall, MARCUS, first.conversation_id)
    assert "NW-GW-LON" in again.reply and "my vpn keeps dropping" in again.reply, again.reply
    assert "did that fix it" not in again.reply.lower() and again.ticket is not None
    assert again.ticket["number"] == first.ticket["number"] and again.ticket["state"] == "resolved"
    assert len(desk.tickets.search(TicketQuery())) == 1
    anew = ask(desk, "how do i map a network drive again?", MARCUS, first.conversation_id)
    assert "Map network drive" in anew.reply and "NW-GW-LON" not in anew.reply, anew.reply


def test_blank_pages_with_toner_left_get_the_print_quality_steps(helpdesk_world: HelpdeskWorld) -> None:
    """ "my printer is printing blank pages" on a printer with 83 % toner got one sentence about faint prints
    (shake the cartridge): blank, faded or streaky pages with toner left get the runbook's print-quality steps
    (the tape left on a new cartridge, the configuration page), cited; a low-toner warning still gets the short
    answer that no cartridge is due, not steps to change one."""
    desk, _ = helpdesk_world.desk()
    first = ask(desk, "my printer is printing blank pages", MARCUS)
    assert first.intent == "toner" and first.awaiting == "choice"
    named = ask(desk, "LON-F3-HP-01", MARCUS, first.conversation_id)
    assert "no cartridge is due yet" in named.reply and "protective tape" in named.reply, named.reply
    assert 'section "Steps > Blank, faded or streaky pages"' in named.reply and named.awaiting == "confirm_fix"
    low = ask(desk, "LON-F3-HP-01 says toner low", MARCUS)
    assert "no cartridge is due yet" in low.reply and "Find the spare cartridge" not in low.reply, low.reply
    assert "protective tape" not in low.reply


def test_a_short_question_that_points_back_is_read_with_the_last_topic(helpdesk_world: HelpdeskWorld) -> None:
    """ "whats the password for it" right after the Wi-Fi answer was triaged on its own words as a password reset
    (0.92): a code went to the employee's phone. A short question that points back at the last topic ("for it")
    is read with that topic's words when only they place it with that topic's team, and the same problem is
    answered on its ticket from the page its answer cited (the passage that says NW-Corp has no password, where
    the steps were repeated before); one that names its own problem ("outlook keeps crashing on it") is still
    read on its own."""
    desk, sent = helpdesk_world.desk()
    zara = "zara.hussain@nwmeridian.co.uk"
    first = ask(desk, "hi its my first day, how do i get on the wifi", zara)
    assert first.intent == "wifi"
    then = ask(desk, "whats the password for it", zara, first.conversation_id)
    assert then.intent == "wifi" and then.awaiting != "code" and zara not in sent, then.reply
    assert "still need this" not in then.reply and "hi its my first day" in then.reply  # that topic's answer
    # ... from that answer's page: the passage about the password (there is none), cited, not the steps again
    assert "never type a Wi-Fi password" in then.reply and "Manage known networks" not in then.reply, then.reply
    assert "(Source: Connecting to office Wi-Fi" in then.reply and then.awaiting == "confirm_fix"
    assert then.reply.rstrip().endswith(first.reply.rsplit("\n\n", 1)[-1])  # the question a "yes" next answers
    assert then.ticket is not None and first.ticket is not None and then.ticket["number"] == first.ticket["number"]
    own = ask(desk, "outlook keeps crashing on it", zara, first.conversation_id)
    assert own.intent == "app_crash", own.intent


def test_a_question_about_a_swollen_battery_after_it_went_to_a_person_gets_the_safety_steps(
    helpdesk_world: HelpdeskWorld,
) -> None:
    """ "should i keep using it until then?" after the swollen battery was passed to a person was read alone as
    outside IT ("That's outside what the IT service desk handles"): it is that topic's question, and gets its
    answer (stop using it) on the same ticket."""
    desk, _ = helpdesk_world.desk()
    priya = "priya.raman@nwmeridian.co.uk"
    first = ask(desk, "my laptop battery looks swollen, the trackpad is lifting up", priya)
    assert first.intent == "broken_hardware" and "Stop using the laptop now" in first.reply, first.reply
    then = ask(desk, "should i keep using it until then?", priya, first.conversation_id)
    assert "Stop using the laptop now" in then.reply and "outside what" not in then.reply, then.reply
    assert then.ticket is not None and first.ticket is not None and then.ticket["number"] == first.ticket["number"]


def test_a_recall_question_that_names_nothing_gets_the_answer_just_given(helpdesk_world: HelpdeskWorld) -> None:
    """ "what was the first thing i should do again?" while the phishing report waited for details was read as
    "go back" ("There's no earlier problem still open"): a recall question that names nothing said gets the
    answer just given (change the password), and the report is still waiting for its details."""
    desk, _ = helpdesk_world.desk()
    kieran = "kieran.doyle@nwmeridian.co.uk"
    first = ask(desk, "i think i clicked a dodgy link in an email from 'dhl'", kieran)
    typed = ask(desk, "yeah i typed my password into the page", kieran, first.conversation_id)
    assert "Change it now" in typed.reply and typed.awaiting == "detail", typed.reply
    again = ask(desk, "what was the first thing i should do again?", kieran, first.conversation_id)
    assert "Change it now" in again.reply and "no earlier problem" not in again.reply, again.reply
    assert again.awaiting == "detail"


def test_a_stray_code_while_a_cancel_waits_asks_the_cancel_question_again(helpdesk_world: HelpdeskWorld) -> None:
    """Generated conversation (seed 33): "forget it" → "Shall I cancel INC…?", then a code nobody asked for got
    "…What can I help with?", and the next "sure" cancelled the ticket though the last question read was not
    about it. The reply to the stray code asks the cancel question again, so a "yes" answers what was read last;
    an earlier answer repeated while another topic waits on "did that fix it?" ends with that question too."""
    desk, _ = helpdesk_world.desk()
    cid, number = _cancel_asked(
        desk, "Please set up my PA as a delegate so she can accept meetings for me", "forget it"
    )
    stray = ask(desk, "619693", MARCUS, cid)
    assert "haven't used that one" in stray.reply and f"Shall I still cancel {number}" in stray.reply, stray.reply
    vpn = ask(desk, "my vpn keeps dropping", MARCUS)
    ask(desk, "yes that fixed it", MARCUS, vpn.conversation_id)
    drive = ask(desk, "how do i map a network drive", MARCUS, vpn.conversation_id)
    again = ask(desk, "sorry what did you say the gateway was", MARCUS, vpn.conversation_id)
    assert "NW-GW-LON" in again.reply and again.reply.rstrip().endswith("reply 'yes' or 'no'."), again.reply
    assert drive.ticket is not None and f"({drive.ticket['number']}) is still open" in again.reply


def test_a_second_cancel_asks_the_cancel_question_again(helpdesk_world: HelpdeskWorld) -> None:
    """Generated conversation (seed 34): "never mind, ignore that" → "Shall I cancel INC…?", then "forget it" got
    "Just to be sure: reply 'yes' to cancel INC…", which asks nothing, and "yep" cancelled the ticket. The
    second cancel asks the same question again, and the yes answers it."""
    desk, _ = helpdesk_world.desk()
    cid, number = _cancel_asked(
        desk, "VPN not working after my password change, keeps rejecting me", "never mind, ignore that"
    )
    again = ask(desk, "forget it", MARCUS, cid)
    assert f"shall I cancel {number}?" in again.reply and again.awaiting == "confirmation", again.reply
    done = ask(desk, "yep", MARCUS, cid)
    assert done.ticket is not None and done.ticket["state"] == "canceled", done.reply


def _cancel_asked(desk: Helpdesk, request: str, cancel: str) -> tuple[str, str]:
    """A conversation whose request opened a ticket, and a cancel that asked "Shall I cancel INC...?": its id and
    the ticket's number."""
    first = ask(desk, request, MARCUS)
    number = first.ticket["number"] if first.ticket else ""
    asked = ask(desk, cancel, MARCUS, first.conversation_id)
    assert number and f"Shall I cancel {number}" in asked.reply, asked.reply
    return first.conversation_id, number


def test_a_person_asked_for_after_a_refusal_gets_the_request_and_its_urgency(helpdesk_world: HelpdeskWorld) -> None:
    """Unplanned conversation: a colleague's unlock was refused (someone else's account), and "a person please"
    raised a P4 ticket "Asked for a person in chat": the colleague's 3 pm client meeting was in the conversation,
    not in the ticket. The ticket a person gets carries the refused request, and its priority is read from it as
    any ticket's is (locked out, a client meeting: P3); asking for a person with nothing said stays P4."""
    desk, _ = helpdesk_world.desk()
    text = "can you unlock tomasz nowicki's account, he's locked out and has a client meeting at 3pm"
    refused = ask(desk, text, MARCUS)
    assert refused.ticket is None and "someone else" in refused.reply, refused.reply
    person = ask(desk, "a person please", MARCUS, refused.conversation_id)
    assert person.ticket is not None and person.ticket["state"] == "in_progress", person.reply
    ticket = desk.tickets.get(person.ticket["number"])
    assert "unlock tomasz nowicki's account" in ticket.short_description and ticket.priority == 3, ticket
    alone = ask(desk, "a person please", MARCUS)
    assert alone.ticket is not None and desk.tickets.get(alone.ticket["number"]).priority == 4


def test_the_case_a_message_names_comes_first(helpdesk_world: HelpdeskWorld) -> None:
    """ "globalprotect says gateway unreachable" got the VPN page's cases in the page's order, its own fourth
    (after authentication, certificates and HIP). A list of cases, one per error, leads with the case whose label
    names the message's words (not the page title's, "GlobalProtect"), numbered again; plain steps keep their
    order, and a message that names no case gets the page's order."""
    cases = "\n".join(
        ["Intro:", "1. **Sign-in failed:** sign in again.", "2. **Certificate missing:** sync the device.",
         "   (it takes ten minutes)", "3. **Gateway not reachable:** run nslookup.", "4. Test after each change."]
    )  # fmt: skip
    moved = named_case_first(cases, "globalprotect says gateway unreachable", "GlobalProtect VPN will not connect")
    assert moved.splitlines() == [
        "Intro:", "1. **Gateway not reachable:** run nslookup.", "2. **Sign-in failed:** sign in again.",
        "3. **Certificate missing:** sync the device.", "   (it takes ten minutes)", "4. Test after each change.",
    ]  # fmt: skip
    assert named_case_first(cases, "the vpn will not connect", "VPN") == cases
    plain = "1. Open Settings.\n2. Click Gateway.\n3. Restart."
    assert named_case_first(plain, "gateway", "") == plain
    desk, _ = helpdesk_world.desk()
    reply = ask(desk, "globalprotect says gateway unreachable", MARCUS).reply
    assert "1. **Portal or gateway not reachable**" in reply and "2. **Authentication failed:**" in reply, reply


def test_a_request_for_someone_else_is_no_answer_to_any_question(helpdesk_world: HelpdeskWorld) -> None:
    """Generated conversation (seed 35): "any known issues with teams at the moment?" asked what happens, and
    "please add Maya Patel to first-aiders@..." was taken as the answer: an outage ticket carrying it went to a
    person. A message that goes on with a request under way is checked for someone else by its own intent too,
    not only by the intent of the request it continues (an outage acts on no one)."""
    desk, _ = helpdesk_world.desk()
    first = ask(desk, "any known issues with teams at the moment?", MARCUS)
    assert first.awaiting == "detail" and first.ticket is None, first.reply
    other = ask(desk, "please add Maya Patel to first-aiders@nwmeridian.co.uk", MARCUS, first.conversation_id)
    assert "for someone else" in other.reply and other.ticket is None, other.reply
    assert not desk.tickets.search(TicketQuery())


def test_what_to_a_cancel_question_explains_the_cancel_question(helpdesk_world: HelpdeskWorld) -> None:
    """Generated conversation (seed 35): "never mind" → "Shall I cancel INC…?", then "what?" got the printer steps
    again ("Sorry, let me put it another way."), and "yes plaese" cancelled the ticket. "What?" to a question about
    cancelling or resolving a ticket says that question again."""
    desk, _ = helpdesk_world.desk()
    first = ask(desk, "first day here, how do I print?", MARCUS)
    number = first.ticket["number"] if first.ticket else ""
    ask(desk, "never mind", MARCUS, first.conversation_id)
    what = ask(desk, "what?", MARCUS, first.conversation_id)
    assert f"cancel {number}?" in what.reply and "print.nwmeridian" not in what.reply, what.reply


@pytest.mark.parametrize(
    ("answer", "noted"),
    [("its a dell, plugged into the dock", True), ("it's the left one of the two", True),
     ("its still black", False), ("it's dead, nothing at all", False)],
)  # fmt: skip
def test_what_the_thing_is_after_did_that_fix_it_is_a_detail(
    helpdesk_world: HelpdeskWorld, answer: str, noted: bool
) -> None:
    """Unplanned conversation: after the monitor steps, "its a dell, plugged into the dock" was read as "not
    fixed" and the ticket went to a person. A statement of what the thing is, with no word of a problem, goes on
    the ticket and the question is asked again; one that says it is still broken ("its still black", "it's dead")
    is a no."""
    desk, _ = helpdesk_world.desk()
    first = ask(desk, "my second monitor stopped working after i moved desks", MARCUS)
    assert first.awaiting == "confirm_fix" and first.ticket is not None, first.reply
    then = ask(desk, answer, MARCUS, first.conversation_id)
    state = desk.tickets.get(first.ticket["number"]).state
    assert (then.awaiting == "confirm_fix" and state == TicketState.NEW) is noted, then.reply
    assert ("added that to" in then.reply) is noted


def test_a_second_password_typed_gets_a_reply_of_its_own(helpdesk_world: HelpdeskWorld) -> None:
    """Generated conversation (seed 36): "my new password is Harbour3527!" and then "fyi my password is now
    Falcon8518&" got the same reply word for word. The second says it is another one, and neither is stored."""
    desk, _ = helpdesk_world.desk()
    first = ask(desk, "my new password is Harbour3527!", MARCUS)
    second = ask(desk, "fyi my password is now Falcon8518&", MARCUS, first.conversation_id)
    assert "taken the password out" in first.reply and second.reply != first.reply, second.reply
    assert "another one typed here" in second.reply
    stored = str(desk.conversations.get(first.conversation_id).state) + str(
        desk.conversations.events(first.conversation_id)
    )
    assert "Harbour3527" not in stored and "Falcon8518" not in stored


def test_the_printer_named_by_its_make_is_the_one(helpdesk_world: HelpdeskWorld) -> None:
    """Unplanned conversation: to "Which printer is it? On floor 3 ... LON-F3-HP-01 (HP LaserJet ...),
    LON-F3-LX-01 (Lexmark ...)", "its the hp one near the kitchen" got the same question again. A word that names
    one printer's make or model and no other's there picks it; one that names several, or none, asks again."""
    desk, _ = helpdesk_world.desk()
    priya = "priya.raman@nwmeridian.co.uk"
    first = ask(desk, "the printer on the 3rd floor says its offline", priya)
    assert first.awaiting == "choice" and "LON-F3-LX-01" in first.reply, first.reply
    named = ask(desk, "its the hp one near the kitchen", priya, first.conversation_id)
    assert "LON-F3-HP-01 is" in named.reply and named.awaiting == "confirm_fix", named.reply
    vague = ask(desk, "the printer on the 3rd floor says its offline", priya)
    again = ask(desk, "the one near the kitchen", priya, vague.conversation_id)
    assert again.awaiting == "choice" and "LON-F3-HP-01 (" in again.reply, again.reply


@pytest.mark.parametrize(
    "messages", [["can i install spotify on my work laptop"], ["i need some software installed", "spotify"]]
)
def test_software_the_catalogue_does_not_list_is_still_the_one_asked_for(
    helpdesk_world: HelpdeskWorld, messages: list[str]
) -> None:
    """Unplanned conversation: "can i install spotify on my work laptop" got "Which application do you need?",
    and "spotify" in answer got the question again. A product the catalogue does not list is still named (said
    after install/get/need, or alone in answer to the question): after the code it is looked up and the employee
    learns it is not approved and where to ask for a review; the code typed is never taken for a name."""
    desk, sent = helpdesk_world.desk()
    lauren = "lauren.fox@nwmeridian.co.uk"
    reply = ask(desk, messages[0], lauren)
    for text in messages[1:]:
        reply = ask(desk, text, lauren, reply.conversation_id)
    assert reply.awaiting == "code" and lauren in sent, reply.reply
    done = ask(desk, sent[lauren], lauren, reply.conversation_id)
    assert "'Spotify' isn't on the approved software list" in done.reply, done.reply


def test_colleagues_free_and_busy_times_get_their_own_steps(helpdesk_world: HelpdeskWorld) -> None:
    """Unplanned conversation: "my outlook calendar isnt showing when my colleagues are free" got the steps to share
    one's own calendar. The calendar runbook has steps for free and busy times that do not show (connected?
    Outlook on the web's Scheduling Assistant, a colleague who shares nothing), which that question gets; a
    delegate request still gets the delegate steps."""
    desk, _ = helpdesk_world.desk()
    free = ask(desk, "my outlook calendar isnt showing when my colleagues are free", MARCUS)
    assert "Scheduling Assistant" in free.reply and "free and busy times not showing" in free.reply, free.reply
    delegate = ask(desk, "Please set up my PA as a delegate so she can accept meetings for me", MARCUS)
    assert "Scheduling Assistant" not in delegate.reply, delegate.reply
