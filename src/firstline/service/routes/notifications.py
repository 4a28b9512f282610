"""Which notification e-mails a person gets: their switches (signed in) and the unsubscribe link (not signed in).

* ``GET /v1/me/notifications`` -> ``{"approval": true, "reply": true, "resolved": true}``;
  ``PUT /v1/me/notifications`` with any of those keys changes them and answers with all of them.
* ``GET /v1/notifications/unsubscribe?token=...`` shows a page naming the person and the kind, with a
  button; it changes nothing, because mail scanners and link previews follow links in mail.
* ``POST /v1/notifications/unsubscribe?token=...`` turns the kind off (``enabled=true`` in the form turns it
  back on). It also takes the RFC 8058 one-click post a mail client sends for ``List-Unsubscribe-Post``
  (``List-Unsubscribe=One-Click`` as a form), which needs no cookie and no sign-in: the signed token
  (:mod:`firstline.channels.notify_tokens`) is the proof, and it names one person and one kind only.

Every change is stored before the answer says it is done.
"""

from __future__ import annotations

import asyncio
import html
from string import Template
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict

from firstline.channel_settings import NOTICE_KINDS, NoticeKind
from firstline.channels.notify_mail import KIND_LABELS
from firstline.channels.notify_tokens import UnsubscribeTokens
from firstline.conversations.preferences import NotificationPreferences
from firstline.errors import InputError, PermissionDeniedError
from firstline.runtime import Runtime, server_secret
from firstline.service.auth import Principal, Requester
from firstline.service.schemas import errors
from firstline.service.state import runtime_of

__all__ = ["NotificationSwitches", "router"]

router = APIRouter()
UNSUBSCRIBE = "/v1/notifications/unsubscribe"
_HTML = {"text/html": {"schema": {"type": "string"}}}
_PAGES: dict[int | str, dict[str, Any]] = {
    **errors(429),
    400: {
        "description": "the token is missing, cut short or not genuine (an HTML page that says so)",
        "content": _HTML,
    },
    422: {
        "description": "a form body that cannot be read",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    },
}


class NotificationSwitches(BaseModel):
    """Each kind of notification e-mail, on or off (left out: unchanged)."""

    model_config = ConfigDict(extra="forbid")

    approval: bool | None = None
    reply: bool | None = None
    resolved: bool | None = None


def _preferences(runtime: Runtime) -> NotificationPreferences:
    return NotificationPreferences(runtime.database)


def _person(who: Principal) -> str:
    if not who.person:
        raise PermissionDeniedError("This API key speaks for no one: notification settings belong to a person.")
    return who.email


@router.get("/v1/me/notifications", tags=["notifications"], responses=errors(401, 403, 429))
async def my_notifications(request: Request, who: Requester) -> dict[str, bool]:
    """Which notification e-mails you get (every kind is on until you turn it off)."""
    email = _person(who)
    return await asyncio.to_thread(_preferences(runtime_of(request)).all, email)


@router.put("/v1/me/notifications", tags=["notifications"], responses=errors(401, 403, 422, 429))
async def set_my_notifications(request: Request, who: Requester, body: NotificationSwitches) -> dict[str, bool]:
    """Turn kinds of notification e-mail on or off, e.g. ``{"reply": false}``; answers with every kind."""
    email = _person(who)
    store = _preferences(runtime_of(request))
    wanted = {kind: value for kind, value in body.model_dump().items() if value is not None}
    if not wanted:
        raise InputError(f"Name at least one kind to change: {', '.join(NOTICE_KINDS)} (true or false).")

    def change() -> dict[str, bool]:
        for kind, value in wanted.items():
            store.set(email, kind, value)
        return store.all(email)

    return await asyncio.to_thread(change)


# -- the unsubscribe link ------------------------------------------------------------------------

_PAGE = Template("""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>$title · Firstline IT help</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/static/style.css">
</head>
<body>
  <header class="topbar"><p class="brand">Firstline <small>IT help</small></p></header>
  <main>
    <div class="login-card">
      <h1>$title</h1>
      $body
    </div>
  </main>
</body>
</html>
""")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    page = _PAGE.substitute(title=html.escape(title), body=body)
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


def _form(token: str, enabled: bool, label: str) -> str:
    action = html.escape(f"{UNSUBSCRIBE}?token={quote(token, safe='')}", quote=True)
    style = ' class="secondary"' if enabled else ""
    return (
        f'<form method="post" action="{action}">'
        f'<input type="hidden" name="token" value="{html.escape(token, quote=True)}">'
        f'<input type="hidden" name="enabled" value="{"true" if enabled else "false"}">'
        f'<button type="submit"{style}>{html.escape(label)}</button></form>'
    )


def _invalid(reason: str) -> HTMLResponse:
    body = f'<p class="error" role="alert">{html.escape(reason)}</p>'
    body += '<p class="hint">Signed in, you can change every kind of e-mail in the web chat.</p>'
    return _page("This link does not work", body, status=400)


def _read(request: Request, token: str) -> tuple[str, NoticeKind]:
    return UnsubscribeTokens(server_secret(runtime_of(request).settings)).read(token)


@router.get(UNSUBSCRIBE, tags=["notifications"], response_class=HTMLResponse, responses=_PAGES)
async def unsubscribe_page(request: Request, token: str = "") -> HTMLResponse:
    """The page an unsubscribe link opens: who and which kind, and a button (a GET changes nothing)."""
    try:
        email, kind = _read(request, token)
    except InputError as exc:
        return _invalid(str(exc))
    enabled = await asyncio.to_thread(_preferences(runtime_of(request)).enabled, email, kind)
    label = KIND_LABELS[kind]
    if not enabled:
        body = f"<p>{html.escape(email)} already gets no e-mails about {html.escape(label)}.</p>"
        return _page("Already stopped", body + _form(token, True, "Send them again"))
    body = f"<p>Stop e-mails about <strong>{html.escape(label)}</strong> to {html.escape(email)}?</p>"
    body += '<p class="hint">The other kinds of e-mail stay as they are. You still see everything in the chat.</p>'
    return _page("Stop these e-mails?", body + _form(token, False, "Stop these e-mails"))


@router.post(UNSUBSCRIBE, tags=["notifications"], response_class=HTMLResponse, responses=_PAGES)
async def unsubscribe(request: Request, token: str = "") -> HTMLResponse:
    """Turn the token's kind off (``enabled=true``: back on); also the RFC 8058 one-click post."""
    form = await request.form()
    posted = form.get("token")
    token = token or (posted if isinstance(posted, str) else "")
    try:
        email, kind = _read(request, token)
    except InputError as exc:
        return _invalid(str(exc))
    enabled = form.get("enabled") == "true" and form.get("List-Unsubscribe") != "One-Click"
    await asyncio.to_thread(_preferences(runtime_of(request)).set, email, kind, enabled)
    label = html.escape(KIND_LABELS[kind])
    if enabled:
        return _page("E-mails back on", f"<p>{html.escape(email)} gets e-mails about {label} again.</p>")
    body = f"<p>Done: no more e-mails about {label} to {html.escape(email)}.</p>"
    return _page("E-mails stopped", body + _form(token, True, "Undo: send them again"))
