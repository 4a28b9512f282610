"""Who is calling: a login session (cookie) or an API key, and the role checks every route uses.

Routes declare what they need with ``Depends(requester)``, ``Depends(agent)`` or ``Depends(admin)``;
each returns the caller's :class:`Principal`. A requester is confined to their own data by the routes
(someone else's conversation or ticket is a 404); a role that is too low is a 403; no identity a 401.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from firstline.accounts.store import Role, role_at_least
from firstline.errors import AuthenticationError, PermissionDeniedError
from firstline.service.state import runtime_of

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "Admin",
    "Agent",
    "Principal",
    "Requester",
    "principal",
]

COOKIE = "firstline_session"
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "firstline"
_SAFE = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: an account signed in with a session, or an integration's API key."""

    email: str
    name: str
    role: Role
    via: str  # "session" | "api_key"
    key_id: str | None = None
    person: bool = True  # False for an integration's key that speaks for no one in particular

    @property
    def is_agent(self) -> bool:
        return role_at_least(self.role, "agent")

    def speaks_for(self, user: str | None) -> str | None:
        """The requester a message or conversation is for: agents may name anyone, requesters only themselves.

        None when an integration's key names no one: the helpdesk then asks who is writing.
        """
        if not user or user.strip().lower() == self.email:
            return self.email if self.person else None
        if not self.is_agent:
            raise PermissionDeniedError("You can only ask for help for yourself; leave `user` out.")
        return user.strip().lower()

    def can_see(self, owner: str | None) -> bool:
        """Whether a conversation or ticket owned by ``owner`` may be shown to this caller."""
        return self.is_agent or (owner is not None and owner == self.email)


def _identify(request: Request, *, remembered_only: bool = False) -> Principal | None:
    """The caller; with ``remembered_only``, only from what this worker checked recently (no database: None when it
    would need one), so most requests need no thread for it."""
    accounts = runtime_of(request).accounts
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "").strip()
    if key:
        record = accounts.remembered_key(key) if remembered_only else accounts.key(key)
        if record is None:
            return None
        email = record.subject or f"{record.name}@api-key.invalid"
        return Principal(email, record.name, record.role, "api_key", record.id, person=record.subject is not None)
    token = request.cookies.get(COOKIE)
    if not token:
        raise AuthenticationError("Sign in first (POST /v1/auth/login), or send an API key as 'Authorization: Bearer'.")
    account = accounts.remembered_session(token) if remembered_only else accounts.session(token)
    if account is None:
        return None
    if request.method not in _SAFE and request.headers.get(CSRF_HEADER) != CSRF_VALUE:
        raise PermissionDeniedError(
            f"Requests made with the session cookie must send the header 'X-Requested-With: {CSRF_VALUE}'."
        )
    return Principal(account.email, account.name, account.role, "session")


async def principal(request: Request) -> Principal:
    """The authenticated caller (401 when there is none), cached on the request."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    found = _identify(request, remembered_only=True)
    if found is None:
        found = await asyncio.to_thread(_checked, request)
    request.state.principal = found
    return found


def _checked(request: Request) -> Principal:
    found = _identify(request)
    assert found is not None  # without remembered_only, an unknown credential raises
    return found


def _needs(role: Role) -> object:
    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not role_at_least(who.role, role):
            raise PermissionDeniedError(f"This needs the {role} role; you are signed in as {who.role}.")
        return who

    return check


Requester = Annotated[Principal, Depends(principal)]
Agent = Annotated[Principal, Depends(_needs("agent"))]
Admin = Annotated[Principal, Depends(_needs("admin"))]
