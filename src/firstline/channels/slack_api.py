"""The few Slack Web API methods Firstline calls, over httpx: :class:`SlackWebApi`.

Each call is a form-encoded ``POST {api_url}/{method}`` with ``Authorization: Bearer xoxb-...`` (Block Kit
arguments such as ``blocks`` and ``view`` are JSON strings inside the form, as the Web API describes
them). Slack answers HTTP 200 with ``{"ok": false, "error": ...}`` for most failures, so the body decides:

* ``ok: true`` -> the body is returned;
* ``ok: false`` -> :class:`SlackApiError` with Slack's error code (``channel_not_found``,
  ``invalid_auth``, ...), not retried: the same call would fail again;
* HTTP 429 -> wait ``Retry-After`` seconds (at most ``max_retry_after_s``) and try again;
* Slack unreachable, a 5xx, or an error Slack marks as temporary (``internal_error``,
  ``service_unavailable``, ``request_timeout``, ``fatal_error``) -> try again after ``backoff_s``, doubled
  each time, ``retries`` times; then :class:`SlackApiError` with ``unavailable``.

The client is synchronous: it runs on the channel's own delivery thread (``slack_work``), never on the
service's event loop, so a Slack that is slow or down delays only Slack posts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

__all__ = ["SlackApiError", "SlackWebApi"]

log = logging.getLogger(__name__)

_TEMPORARY = {"internal_error", "service_unavailable", "request_timeout", "fatal_error", "ratelimited", "rate_limited"}


class SlackApiError(Exception):
    """A Web API call failed for good: ``error`` is Slack's code, or ``unavailable`` after every retry."""

    def __init__(self, method: str, error: str, detail: str = "") -> None:
        super().__init__(f"Slack {method} failed: {error}" + (f" ({detail})" if detail else ""))
        self.method = method
        self.error = error


class SlackWebApi:
    """Calls ``{base_url}/{method}`` with the bot token; see the module docstring for retries."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 10.0,
        retries: int = 4,
        backoff_s: float = 1.0,
        max_retry_after_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._client = httpx.Client(timeout=timeout_s, headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        """Call ``method`` with form ``params``; the body on ``ok: true``, else :class:`SlackApiError`."""
        problem = ""
        for attempt in range(self.retries + 1):
            wait = self.backoff_s * 2**attempt
            try:
                response = self._client.post(f"{self.base_url}/{method}", data=params)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 429:
                    problem = "rate limited (429)"
                    wait = min(_seconds(response.headers.get("retry-after")), self.max_retry_after_s)
                elif response.status_code >= 500:
                    problem = f"HTTP {response.status_code}"
                else:
                    body = _json(response)
                    if body.get("ok") is True:
                        return body
                    error = str(body.get("error") or f"HTTP {response.status_code} without an error code")
                    if error not in _TEMPORARY:
                        raise SlackApiError(method, error, _messages(body))
                    problem = error
            if attempt < self.retries:
                log.warning("Slack %s: %s; trying again in %.1f s", method, problem, wait)
                self._sleep(wait)
        raise SlackApiError(method, "unavailable", f"{problem}; gave up after {self.retries + 1} tries")

    def post_message(self, channel: str, text: str, blocks: str | None = None, thread_ts: str | None = None) -> str:
        """Post a message (in a thread when ``thread_ts`` is given); returns its ``ts``."""
        params = {"channel": channel, "text": text, "unfurl_links": "false"}
        if blocks is not None:
            params["blocks"] = blocks
        if thread_ts:
            params["thread_ts"] = thread_ts
        return str(self.call("chat.postMessage", params)["ts"])

    def post_ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        """A message only ``user`` sees, in ``channel`` (and the thread)."""
        params = {"channel": channel, "user": user, "text": text}
        if thread_ts:
            params["thread_ts"] = thread_ts
        self.call("chat.postEphemeral", params)

    def update(self, channel: str, ts: str, text: str, blocks: str) -> None:
        self.call("chat.update", {"channel": channel, "ts": ts, "text": text, "blocks": blocks})

    def open_view(self, trigger_id: str, view: str) -> None:
        self.call("views.open", {"trigger_id": trigger_id, "view": view})


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 1.0
    except ValueError:
        return 1.0


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"ok": False, "error": "internal_error"}  # a proxy's HTML page: Slack is not answering properly
    return body if isinstance(body, dict) else {"ok": False, "error": "internal_error"}


def _messages(body: dict[str, Any]) -> str:
    meta = body.get("response_metadata")
    found = meta.get("messages") if isinstance(meta, dict) else None
    return "; ".join(map(str, found)) if isinstance(found, list) else ""
