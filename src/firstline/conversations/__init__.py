"""Conversations: who talked to Firstline, every event of each conversation, approvals and verification codes.

They live in Firstline's own database (:mod:`firstline.localdb`) whatever the ticket backend is, so a
conversation and the ticket change it caused commit together when tickets are stored there too.
"""

from __future__ import annotations

from firstline.conversations.hub import Hub, Notice
from firstline.conversations.store import ApprovalRecord, Conversation, ConversationEvent, SqlConversations

__all__ = ["ApprovalRecord", "Conversation", "ConversationEvent", "Hub", "Notice", "SqlConversations"]
