"""Writing to Teams: the Bot Connector REST API, and the reference that says where to write.

A :class:`Reference` is what the bot keeps of an activity to write back later: the service URL
the activity came from, the Teams conversation (id, type, tenant), the bot's own id and the user's
ids. It is stored as JSON with the Firstline conversation (``SqlChannels.bind``), so a reply, an
approval card or a proactive message can be sent hours later, after a restart.

:class:`Connector` makes the three calls the bot needs, each with the bot's bearer token
(:class:`~firstline.channels.teams_auth.BotTokens`)::

    POST {serviceUrl}/v3/conversations/{conversationId}/activities/{activityId}   reply to an activity
    POST {serviceUrl}/v3/conversations/{conversationId}/activities                 a new message
    PUT  {serviceUrl}/v3/conversations/{conversationId}/activities/{activityId}    replace a sent card

Each answers a ``ResourceResponse`` (``{"id": ...}``). A 401 drops the cached token and tries once
more with a fresh one. The service URL is only ever one an authenticated activity brought (the
token's ``serviceUrl`` claim must match it), so the bot's token goes nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from firstline.channels.teams_auth import BotTokens

__all__ = ["ADAPTIVE_CARD", "Connector", "Reference", "message"]

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


@dataclass(frozen=True, slots=True)
class Reference:
    """Where a Teams conversation is and who is in it, enough to write to it later."""

    service_url: str
    conversation_id: str
    conversation_type: str  # personal | groupChat | channel
    tenant_id: str
    bot_id: str
    bot_name: str
    user_id: str
    user_aad: str

    @classmethod
    def of(cls, activity: dict[str, Any]) -> Reference:
        conversation = activity.get("conversation") or {}
        bot, user = activity.get("recipient") or {}, activity.get("from") or {}
        tenant = ((activity.get("channelData") or {}).get("tenant") or {}).get("id") or conversation.get("tenantId")
        return cls(
            service_url=str(activity.get("serviceUrl") or ""),
            conversation_id=str(conversation.get("id") or ""),
            conversation_type=str(conversation.get("conversationType") or "personal"),
            tenant_id=str(tenant or ""),
            bot_id=str(bot.get("id") or ""),
            bot_name=str(bot.get("name") or "Firstline"),
            user_id=str(user.get("id") or ""),
            user_aad=str(user.get("aadObjectId") or ""),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reference:
        return cls(**{name: str(data.get(name) or "") for name in cls.__slots__})

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.__slots__}

    @property
    def personal(self) -> bool:
        return self.conversation_type == "personal"


def message(
    reference: Reference,
    text: str = "",
    *,
    cards: list[dict[str, Any]] | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """A message activity from the bot into ``reference``'s conversation (Markdown text, optional cards)."""
    activity: dict[str, Any] = {
        "type": "message",
        "from": {"id": reference.bot_id, "name": reference.bot_name},
        "conversation": {"id": reference.conversation_id},
        "recipient": {"id": reference.user_id, "aadObjectId": reference.user_aad},
        "textFormat": "markdown",
    }
    if reference.tenant_id:
        activity["conversation"]["tenantId"] = reference.tenant_id
        activity["channelData"] = {"tenant": {"id": reference.tenant_id}}
    if text:
        activity["text"] = text
    if cards:
        activity["attachments"] = [{"contentType": ADAPTIVE_CARD, "content": card} for card in cards]
    if reply_to:
        activity["replyToId"] = reply_to
    return activity


class Connector:
    """The Bot Connector calls Firstline makes (synchronous: they run on the channel's worker threads)."""

    def __init__(self, tokens: BotTokens, http: httpx.Client | None = None) -> None:
        self.tokens = tokens
        self._http = http or httpx.Client(timeout=15.0)

    def reply(self, reference: Reference, activity_id: str, activity: dict[str, Any]) -> str:
        """Answer ``activity_id`` in its conversation; the new activity's id."""
        return self._call("POST", reference, f"/activities/{quote(activity_id, safe='')}", activity)

    def send(self, reference: Reference, activity: dict[str, Any]) -> str:
        """A new message in the conversation (proactive); the new activity's id."""
        return self._call("POST", reference, "/activities", activity)

    def update(self, reference: Reference, activity_id: str, activity: dict[str, Any]) -> str:
        """Replace the bot's activity ``activity_id`` (a card whose buttons have been used)."""
        body = {**activity, "id": activity_id}
        return self._call("PUT", reference, f"/activities/{quote(activity_id, safe='')}", body)

    def close(self) -> None:
        self._http.close()
        self.tokens.close()

    def _call(self, method: str, reference: Reference, tail: str, body: dict[str, Any]) -> str:
        if not reference.service_url.startswith(("https://", "http://")):
            raise httpx.InvalidURL(f"no service URL to write to ({reference.service_url!r})")
        base = reference.service_url.rstrip("/")
        url = f"{base}/v3/conversations/{quote(reference.conversation_id, safe='')}{tail}"
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.tokens.get()}"}
            response = self._http.request(method, url, json=body, headers=headers)
            if response.status_code == 401 and attempt == 1:
                self.tokens.forget()
                continue
            response.raise_for_status()
            break
        try:
            answer = response.json()
        except ValueError:
            return ""
        return str(answer.get("id") or "") if isinstance(answer, dict) else ""
