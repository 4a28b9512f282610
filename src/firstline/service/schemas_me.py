"""Bodies of the signed-in person's own routes (``/v1/me/...``): My requests and channel links."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ChannelLinkIn", "ChannelLinkList", "ChannelLinkOut", "MyComment", "MyTicket", "MyTicketList"]


class ChannelLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=8, max_length=20, description="the code Slack, Teams or the e-mail reply gave you")


class ChannelLinkOut(BaseModel):
    channel: str
    external_id: str
    email: str
    verified_via: str
    created_at: str


class ChannelLinkList(BaseModel):
    links: list[ChannelLinkOut]


class MyComment(BaseModel):
    author: str
    author_name: str
    body: str
    html: str = ""
    created_at: str


class MyTicket(BaseModel):
    number: str
    title: str
    state: str
    priority: int
    created_at: str
    updated_at: str
    assignment_group: str
    assigned_to: str
    conversation_id: str | None
    comments: list[MyComment]


class MyTicketList(BaseModel):
    tickets: list[MyTicket]
    as_of: str
