"""The live Slack channel: messages in, help desk turns, replies in thread, and what changes later.

**Messages.** A direct message to the app (``message.im``) or a mention in a channel (``app_mention``)
is one message; so is a later message in a thread the help desk already answers (``message.channels``
/ ``message.groups``, when the app subscribes to them). Edits, deletions, joins and anything sent by a
bot (ours included) are ignored. The reply goes in the thread of the user's message: one Slack thread
(``{channel}:{thread_ts}``) is one conversation, bound in ``channel_threads``. Each delivery is handled
once: by Slack's ``event_id`` (a retry, ``X-Slack-Retry-Num``, carries the same id) and by the message
itself (a mention in a thread the app follows arrives both as ``app_mention`` and as ``message``).

**Identity (issue item 9).** A Slack user id becomes a person only through a verified mapping,
:meth:`SqlChannels.person`. The display name, the real name and the profile e-mail Slack shows are never
used: any workspace member can set them. An unknown user gets a link code in the thread and the address
of the web chat, where, signed in as themselves, they enter it; no turn runs for them until then.

**Answering Slack in time.** The request stores what it must (the delivery, the conversation and its
thread), hands the turn to :class:`~firstline.channels.slack_work.KeyedWork`, and answers once the turn
has stored the user's message, within ``ack_wait_s`` (Slack retries after 3 s). The turn carries on; its
reply is posted by the delivery thread.

**Later.** The channel listens to the conversation hub: an ``assistant_message`` that a Slack turn did
not just produce (an IT agent's public comment, the outcome of an approval, a vendor's update) is posted
in the conversation's Slack thread; approvals are offered to deciders and kept up to date
(:mod:`~firstline.channels.slack_approvals`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from firstline.channel_settings import SlackSettings
from firstline.channels.slack_api import SlackApiError, SlackWebApi
from firstline.channels.slack_approvals import Click, SlackApprovals
from firstline.channels.slack_blocks import Message, link_message, reply_message
from firstline.channels.slack_work import KeyedWork, Serial, Stored
from firstline.conversations import Notice
from firstline.errors import ConversationNotFoundError, FirstlineError

if TYPE_CHECKING:
    from firstline.runtime import Runtime

__all__ = ["Incoming", "SlackChannel", "incoming"]

log = logging.getLogger(__name__)
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_FOLLOWED = {"channel", "group", "mpim"}  # channel types where only a thread we already answer is followed
_DIRECT = {None, "im", "app_home"}  # a direct message with the app


@dataclass(frozen=True, slots=True)
class Incoming:
    """One user message from the Events API, with where to answer it."""

    event_id: str
    user: str
    team: str
    channel: str
    ts: str
    thread_ts: str
    text: str
    followed_only: bool  # a plain channel message: handled only in a thread that is already a conversation

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.thread_ts}"

    @property
    def direct(self) -> bool:
        """A direct message with the app (nobody else reads the thread)."""
        return self.channel.startswith("D")


def _bots(payload: dict[str, Any]) -> set[str]:
    """The app's own bot user ids, as the delivery's ``authorizations`` name them."""
    found = payload.get("authorizations")
    if not isinstance(found, list):
        return set()
    return {str(a.get("user_id")) for a in found if isinstance(a, dict) and a.get("is_bot")}


def incoming(payload: dict[str, Any]) -> Incoming | None:
    """The user message in an ``event_callback``, or None for anything Firstline does not answer."""
    event = payload.get("event")
    if not isinstance(event, dict) or event.get("type") not in ("message", "app_mention"):
        return None
    if event.get("subtype") or event.get("bot_id") or event.get("bot_profile"):
        return None  # edits, deletions, joins, files shares without text, and every bot's messages (ours too)
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    if not (isinstance(user, str) and isinstance(channel, str) and isinstance(ts, str)) or user in _bots(payload):
        return None
    kind = event.get("channel_type")
    followed_only = event["type"] == "message" and kind in _FOLLOWED
    if event["type"] == "message" and not followed_only and kind not in _DIRECT:
        return None
    text = _MENTION.sub("", str(event.get("text") or "")).strip()
    thread_ts = str(event.get("thread_ts") or ts)
    if followed_only and thread_ts == ts:
        return None  # a new message in a channel that does not mention the app
    team = str(payload.get("team_id") or event.get("team") or "")
    return Incoming(str(payload.get("event_id") or ""), user, team, channel, ts, thread_ts, text, followed_only)


class SlackChannel:
    """Built by :func:`firstline.channels.slack.build`; see the module docstring."""

    name = "slack"

    def __init__(self, runtime: Runtime, settings: SlackSettings, signing_secret: str, api: SlackWebApi) -> None:
        self.runtime = runtime
        self.settings = settings
        self.signing_secret = signing_secret
        self.api = api
        self.work = KeyedWork(settings.workers)
        self.out = Serial()
        self.approvals = SlackApprovals(runtime, api, self.work)
        service = runtime.settings.service
        self.public_url = service.base_url
        self._local = threading.local()  # the conversation a Slack turn runs for, on that turn's thread
        self._unsubscribe: Callable[[], None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self.out.start()
        self._unsubscribe = self.runtime.conversations.hub.subscribe(self._heard)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.work.wait_idle(30.0)
        self.work.shutdown()
        self.out.stop()
        self.api.close()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until every queued turn and Slack post is done (tests)."""
        return self.work.wait_idle(timeout) and self.out.wait_idle(timeout)

    # -- messages ----------------------------------------------------------------------------------------

    def accept(self, message: Incoming) -> Stored | None:
        """Record ``message`` and queue its turn (on a request thread); what to wait for before answering Slack."""
        channels = self.runtime.channels
        thread = channels.thread("slack", message.key)
        if message.followed_only and (thread is None or thread.reference.get("kind") != "thread"):
            return None
        if not channels.first_delivery("slack", message.event_id or f"no-id:{message.key}:{message.ts}"):
            log.info("Slack event %s was handled already (a retry)", message.event_id)
            return None
        if not channels.first_delivery("slack", f"message:{message.channel}:{message.ts}"):
            return None  # the same message as app_mention and as message
        email = channels.person("slack", message.user)
        if email is None:  # the code ties whoever enters it to this Slack user: only they may see it
            code = channels.start_link("slack", message.user)
            linking = link_message(code, self.public_url)
            if message.direct:
                self.post(message.channel, message.thread_ts, linking)
            else:
                self.tell(message.channel, message.user, linking.text, message.thread_ts)
            return None
        if thread is not None:
            cid = thread.conversation_id
            owner = self.runtime.conversations.get(cid).requester
            if owner and owner != email:
                self.post(message.channel, message.thread_ts, reply_message(
                    "This thread is someone else's request. Mention me in a new message, or write to me directly, "
                    "and I'll help you there.", None, cid))  # fmt: skip
                return None
        else:
            cid = self.runtime.conversations.create(email, "slack").id
            channels.bind("slack", message.key, cid, {"kind": "thread", "channel": message.channel,
                          "thread_ts": message.thread_ts, "team": message.team, "user": message.user})  # fmt: skip
        return self.submit_turn(email, message.text, cid, message.channel, message.thread_ts)

    def submit_turn(self, email: str, text: str, cid: str, channel: str, thread_ts: str) -> Stored:
        stored = Stored(lambda n: n.conversation_id == cid and n.kind in ("user_message", "rejected_message"))
        self.work.submit(f"{channel}:{thread_ts}", lambda: self._turn(email, text, cid, channel, thread_ts), stored)
        return stored

    def _turn(self, email: str, text: str, cid: str, channel: str, thread_ts: str) -> None:
        self._local.cid = cid
        try:
            reply = self.work.run(lambda: self.runtime.helpdesk.ask(
                text, requester=email, conversation_id=cid, channel="slack"))  # fmt: skip
            message = reply_message(reply.reply, reply.awaiting, cid)
        except FirstlineError as exc:
            log.warning("Slack turn for %s failed: %s", cid, exc)
            message = reply_message(str(exc), None, cid)
        except Exception:
            log.exception("Slack turn for %s failed", cid)
            message = reply_message("Something broke on our side. Your message is saved; please try again in a "
                                    "few minutes.", None, cid)  # fmt: skip
        finally:
            self._local.cid = None
        self.post(channel, thread_ts, message)

    def post(self, channel: str, thread_ts: str | None, message: Message) -> None:
        """Queue ``message`` for the delivery thread (retries there; a failure is logged, never raised)."""

        def send() -> None:
            try:
                self.api.call("chat.postMessage", {"channel": channel, **message.params(),
                              **({"thread_ts": thread_ts} if thread_ts else {})})  # fmt: skip
            except SlackApiError as exc:  # the conversation keeps the message: the web chat shows it
                log.error("Slack message to %s not delivered: %s", channel, exc)

        self.out.do(send)

    def tell(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        """Queue a message only ``user`` sees in ``channel`` (chat.postEphemeral) for the delivery thread."""

        def send() -> None:
            try:
                self.api.post_ephemeral(channel, user, text, thread_ts)
            except SlackApiError as exc:
                log.error("Slack note to %s not delivered: %s", user, exc)

        self.out.do(send)

    # -- what changes later -------------------------------------------------------------------------------

    def _heard(self, notice: Notice) -> None:
        """A hub listener, on the writer's thread: hand anything with work to our own threads."""
        self.work.heard(notice)
        if notice.kind == "assistant_message" and getattr(self._local, "cid", None) != notice.conversation_id:
            self.out.do(lambda: self._forward(notice))
        elif notice.kind == "approval_needed":
            self.out.do(lambda: self.approvals.announce(notice))
        elif notice.kind == "approval_decided":
            self.out.do(lambda: self.approvals.refresh(notice))

    def _forward(self, notice: Notice) -> None:
        """Post a message the help desk stored outside a Slack turn in the conversation's Slack thread(s)."""
        text = str(notice.data.get("text") or "")
        awaiting = notice.data.get("awaiting")
        if not text:
            return
        message = reply_message(text, awaiting if isinstance(awaiting, str) else None, notice.conversation_id)
        for thread in self.runtime.channels.threads_of(notice.conversation_id, "slack"):
            ref = thread.reference
            if ref.get("kind") == "thread":
                try:
                    self.api.call("chat.postMessage", {"channel": str(ref["channel"]), **message.params(),
                                  "thread_ts": str(ref["thread_ts"])})  # fmt: skip
                except SlackApiError as exc:
                    log.error("Slack update for conversation %s not delivered: %s", notice.conversation_id, exc)

    # -- buttons and the code modal ----------------------------------------------------------------------

    def click_approval(self, click: Click) -> Stored:
        stored = Stored(lambda n: n.kind == "approval_decided" and n.data.get("id") == click.approval_id)
        self.work.submit(f"approval:{click.approval_id}", lambda: self.approvals.click(click), stored)
        return stored

    def conversation_for(self, user: str, cid: str) -> tuple[str, str, str] | str:
        """(e-mail, Slack channel, thread_ts) when ``user`` is the verified owner of ``cid`` in a Slack thread;
        otherwise what to tell them."""
        email = self.runtime.channels.person("slack", user)
        if email is None:
            return "Link your Slack account first: write to me in a direct message and I'll tell you how."
        try:
            owner = self.runtime.conversations.get(cid).requester
        except ConversationNotFoundError:
            return "That conversation no longer exists: write to me again."
        if owner != email:
            return "This is someone else's request: only they can enter its code."
        for thread in self.runtime.channels.threads_of(cid, "slack"):
            if thread.reference.get("kind") == "thread":
                return email, str(thread.reference["channel"]), str(thread.reference["thread_ts"])
        return "This conversation is not in Slack any more: continue it in the web chat."

    def open_modal(self, trigger_id: str, view: str) -> None:
        """Open ``view`` now, on a thread of its own: the trigger expires 3 s after the click, so the call
        cannot wait behind other posts, and Slack is answered without waiting for it."""

        def open_now() -> None:
            try:
                self.api.open_view(trigger_id, view)
            except SlackApiError as exc:
                log.error("Slack code modal not opened: %s", exc)

        threading.Thread(target=open_now, name="firstline-slack-modal", daemon=True).start()
