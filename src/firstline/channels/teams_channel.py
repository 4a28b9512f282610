"""The Teams channel at work: an authenticated activity in, the helpdesk's answer out.

:class:`TeamsChannel` is what ``firstline.channels.teams.build(runtime)`` returns. The route
(``teams.py``) checks the token and the tenant, then hands the activity here:

* **A message** from a linked user (``SqlChannels.person("teams", from.aadObjectId)``; never the
  display name) runs a helpdesk turn on the channel's own worker threads. The route answers 202 as
  soon as the user's message is stored (nothing is acknowledged before it is kept), and the turn
  replies in the conversation (``POST .../activities/{activityId}``), in Markdown, with the
  identity-code card when the reply waits for a code. The Teams conversation is bound to the
  Firstline conversation with the reference needed to write back later; in group chats and channels
  each person has a conversation of their own. Turns of one Teams conversation run one at a time.
* **An unknown user** gets a link code and the web chat's address to confirm it; no turn runs.
* **A click on an approval card** (a message with ``value``, or an ``adaptiveCard/action`` invoke) is
  checked as the console's ``/v1/approvals/{id}/approve|deny`` checks it (:mod:`teams_decisions`),
  then ``Helpdesk.decide`` runs and the card shows the outcome.
* A retried delivery (same conversation and activity id) is handled once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from firstline.channels.teams_auth import BotAuthenticator, BotTokens
from firstline.channels.teams_cards import CardAction, card_action, code_card
from firstline.channels.teams_connector import ADAPTIVE_CARD, Connector, Reference, message
from firstline.channels.teams_decisions import Decision, Decisions
from firstline.channels.teams_notices import TeamsNotices
from firstline.errors import ConversationNotFoundError

if TYPE_CHECKING:
    from firstline.helpdesk.reply import DeskReply
    from firstline.llm.pool import LoopThreads
    from firstline.runtime import Runtime

__all__ = ["Answer", "TeamsChannel"]

log = logging.getLogger(__name__)

CHANNEL = "teams"
STORED_WAIT_S = 10.0  # how long the route waits for the message to be stored before it answers anyway
INVOKE_WAIT_S = 12.0  # Teams gives an invoke about 15 s
_MENTION = re.compile(r"<at>[^<]*</at>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class Answer:
    """What ``/api/messages`` answers: an HTTP status and, for an invoke, its body."""

    status: int
    body: dict[str, Any] | None = None


class TeamsChannel:
    """Teams' side of the helpdesk: turns, link codes, approval clicks and (through notices) proactive messages."""

    name = CHANNEL

    def __init__(
        self,
        runtime: Runtime,
        *,
        authenticator: BotAuthenticator | None = None,
        connector: Connector | None = None,
        workers: int = 4,
    ) -> None:
        from firstline.llm.pool import LoopThreads  # only when a channel runs: it starts no threads until used

        self.runtime = runtime
        settings = runtime.settings.channels.teams
        self.settings = settings
        password = settings.app_password.get_secret_value() if settings.app_password else ""
        self.auth = authenticator or BotAuthenticator(
            settings.openid_metadata_url, settings.issuer, settings.app_id, refresh_every_s=settings.key_refresh_s
        )
        self.connector = connector or Connector(BotTokens(settings.token_url, settings.app_id, password))
        self.notices = TeamsNotices(runtime, self.connector)
        self.decisions = Decisions(runtime)
        self.loops: LoopThreads = LoopThreads(workers, "firstline-teams")
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def start(self) -> None:
        self.notices.start()

    def stop(self) -> None:
        self.loops.shutdown()  # turns already running finish and reply first
        self.notices.stop()  # what was queued is sent first
        self.connector.close()
        self.auth.close()

    @property
    def web_chat_url(self) -> str:
        return self.runtime.settings.service.base_url

    # -- an authenticated activity ----------------------------------------------------------------

    async def handle(self, activity: dict[str, Any]) -> Answer:
        kind = activity.get("type")
        if kind not in ("message", "invoke"):
            return Answer(200)  # conversationUpdate, installationUpdate, typing, ...: nothing to do
        reference = Reference.of(activity)
        self.notices.remember(reference)
        activity_id = str(activity.get("id") or "")
        first = await asyncio.to_thread(
            self.runtime.channels.first_delivery, CHANNEL, f"{reference.conversation_id}|{activity_id}"
        )
        if activity_id and not first:
            return Answer(200)  # a retry of an activity already handled
        action = card_action(activity)
        if kind == "invoke" and action is None:
            return Answer(200, _invoke_message("That is not something I can do."))
        email = None
        if reference.user_aad:  # the Entra object id, never the display name
            email = await asyncio.to_thread(self.runtime.channels.person, CHANNEL, reference.user_aad)
        if email is None:
            text = await asyncio.to_thread(self._link_text, reference)
            if action is not None and action.invoke:
                return Answer(200, _invoke_message(text))
            self._submit(lambda: self._reply(reference, activity_id, message(reference, text)))
            return Answer(202)
        if action is not None and action.kind == "approval":
            return await self._approval(reference, activity, action, email)
        text = self._text(activity, action)
        mark_ready: Future[threading.Event] = Future()
        self._submit(lambda: self._turn(reference, activity_id, email, text, mark_ready))
        stored = await asyncio.wrap_future(mark_ready)
        await asyncio.to_thread(stored.wait, STORED_WAIT_S)
        return Answer(202)

    def _link_text(self, reference: Reference) -> str:
        if not reference.user_aad:
            return f"I can't tell who you are from this chat, so I can't help here. Please use {self.web_chat_url}."
        code = self.runtime.channels.start_link(CHANNEL, reference.user_aad)
        return (
            "I don't know who you are in Firstline yet. To link your Teams account, sign in to the web chat at "
            f"{self.web_chat_url} and enter the code **{code}** there (it works for 15 minutes). "
            "Then write to me here again."
        )

    @staticmethod
    def _text(activity: dict[str, Any], action: CardAction | None) -> str:
        if action is not None and action.kind == "code":
            return action.code
        if action is not None and action.kind == "resend":
            return "send a new code"
        raw = str(activity.get("text") or "")
        return _TAGS.sub("", _MENTION.sub("", raw)).strip()

    # -- a helpdesk turn (on a worker thread) -------------------------------------------------------

    def _submit(self, work: Any) -> None:
        future = self.loops.executor.submit(work)
        future.add_done_callback(_log_failure)

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    @staticmethod
    def thread_key(reference: Reference) -> str:
        """The Teams side's key of a Firstline conversation: the chat, or the chat and the person in a group."""
        if reference.personal:
            return reference.conversation_id
        return f"{reference.conversation_id}#{reference.user_aad}"

    def _turn(
        self, reference: Reference, activity_id: str, email: str, text: str, ready: Future[threading.Event]
    ) -> None:
        key = self.thread_key(reference)
        mark = self.notices.turn_started()
        ready.set_result(mark.stored)
        try:
            with self._lock(key):
                reply = self._ask(key, email, text)
                self.runtime.channels.bind(CHANNEL, key, reply.conversation_id, reference.as_dict())
        except Exception:  # the employee is told, not left waiting for an answer that will not come
            log.exception("a Teams turn failed in %s", reference.conversation_id)
            sorry = "Something went wrong on our side and I couldn't handle that message. Please send it again."
            self._reply(reference, activity_id, message(reference, sorry, reply_to=activity_id))
            return
        finally:
            self.notices.turn_ended()
        cards = [code_card()] if reply.awaiting == "code" else None
        text = reply.reply + self._sources(reply.citations)
        self._reply(reference, activity_id, message(reference, text, cards=cards, reply_to=activity_id))

    def _sources(self, citations: list[dict[str, Any]]) -> str:
        """Links to the runbook sections behind a reply (the web chat's citation links, made absolute)."""
        links = []
        for citation in citations[:3]:
            if not citation.get("chunk_id"):
                continue
            section = str(citation.get("section_path") or "")
            anchor = re.sub(r"[^a-z0-9]+", "-", section.lower()).strip("-") or "top"
            title = str(citation.get("title") or "runbook").replace("[", "(").replace("]", ")")
            href = f"{self.web_chat_url}/kb/{quote(str(citation['chunk_id']), safe='')}#{anchor}"
            links.append(f"[{title}]({href})")
        return "\n\nSources: " + ", ".join(links) if links else ""

    def _ask(self, key: str, email: str, text: str) -> DeskReply:
        desk = self.runtime.helpdesk
        thread = self.runtime.channels.thread(CHANNEL, key)
        conversation_id = thread.conversation_id if thread is not None else None
        try:
            return self.loops.run(
                lambda: desk.ask(text, requester=email, conversation_id=conversation_id, channel=CHANNEL)
            )
        except ConversationNotFoundError:  # the bound conversation was deleted: start afresh
            return self.loops.run(lambda: desk.ask(text, requester=email, channel=CHANNEL))

    def _reply(self, reference: Reference, activity_id: str, activity: dict[str, Any]) -> None:
        try:
            if activity_id:
                self.connector.reply(reference, activity_id, activity)
            else:
                self.connector.send(reference, activity)
        except httpx.HTTPError as exc:
            log.error("could not answer in Teams conversation %s: %s", reference.conversation_id, exc)

    # -- approval clicks ------------------------------------------------------------------------------

    async def _approval(self, reference: Reference, activity: dict[str, Any], action: CardAction, email: str) -> Answer:
        card_id = str(activity.get("replyToId") or "")
        if action.invoke:  # answer with the outcome, which replaces the card at once
            future = self.loops.executor.submit(self._decide, action, email, reference, card_id, False)
            try:
                decision = await asyncio.wait_for(asyncio.wrap_future(future), INVOKE_WAIT_S)
            except TimeoutError:
                return Answer(200, _invoke_message("Working on it: the card will show the outcome."))
            if decision.card is not None:
                return Answer(200, {"statusCode": 200, "type": ADAPTIVE_CARD, "value": decision.card})
            return Answer(200, _invoke_message(decision.text))
        self._submit(lambda: self._decide(action, email, reference, card_id, True))
        return Answer(202)

    def _decide(self, action: CardAction, email: str, reference: Reference, card_id: str, write: bool) -> Decision:
        """Check and record the click; with ``write``, tell the clicker in the chat and update their card."""
        decision = self.decisions.decide(action, email, self.loops)
        if write:
            if decision.text:
                self._reply(reference, "", message(reference, decision.text))
            if decision.card is not None and card_id:
                try:
                    self.connector.update(reference, card_id, message(reference, cards=[decision.card]))
                except httpx.HTTPError as exc:
                    log.error("could not update approval card %s: %s", card_id, exc)
        return decision


def _invoke_message(text: str) -> dict[str, Any]:
    return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text}


def _log_failure(future: Future[Any]) -> None:
    error = future.exception()
    if error is not None:
        log.error("a Teams job failed", exc_info=error)
