"""Who is asking: the requester the channel vouches for, or the one who types their work e-mail address.

A typed address is a claim, not proof: the conversation records ``identity: typed`` so nothing beyond what
everyone may read is shown until the one-time code checks it, and a leaver's address is refused.
"""

from __future__ import annotations

from typing import Any

from firstline.conversations import Conversation
from firstline.conversations.store import SqlConversations
from firstline.directory import DirectoryBackend
from firstline.directory.models import Person
from firstline.errors import PersonNotFoundError
from firstline.helpdesk import slots

__all__ = ["ASK_IDENTITY", "Identities"]

ASK_IDENTITY = "Before I can help I need to know who you are: what's your work e-mail address (name@nwmeridian.co.uk)?"


class Identities:
    """Finds the person behind a conversation (see the module docstring)."""

    def __init__(self, directory: DirectoryBackend, conversations: SqlConversations) -> None:
        self.directory = directory
        self.conversations = conversations

    def requester(self, conversation: Conversation, requester: str | None) -> Person | None:
        email = conversation.requester or (requester.strip().lower() if requester else None)
        if email is None:
            return None
        try:
            person = self.directory.person(email)
        except PersonNotFoundError:
            return None
        if conversation.requester is None:
            self.conversations.save(conversation.id, requester=person.email)
        return person

    def identify(self, conversation: Conversation, text: str, state: dict[str, Any]) -> tuple[Person | None, str]:
        """Find the requester from an e-mail address they typed; otherwise the question to ask."""
        for email in slots.emails(text):
            try:
                person = self.directory.person(email)
            except PersonNotFoundError:
                continue
            if not person.is_current:
                return None, "That account belongs to someone who has left. Please call the service desk on 4357."
            self.conversations.save(conversation.id, requester=person.email)
            state["identity"] = "typed"  # claimed, not proven: no more than anyone reads until the code checks it
            if text.strip().lower() != email:
                state.setdefault("pending_text", text)
            return person, ""
        if slots.emails(text):
            return None, (
                f"I can't find {slots.emails(text)[0]} in the company directory. Check the spelling, or call the "
                "service desk on 4357 if you're new and not set up yet."
            )
        state.setdefault("pending_text", text)
        return None, ASK_IDENTITY
