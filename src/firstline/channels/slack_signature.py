"""Slack's request signing (v0): is this request from Slack, and is it fresh?

Slack signs every Events API and interactivity request with the app's signing secret: the header
``X-Slack-Signature`` is ``v0=`` and the hex HMAC-SHA256 of ``v0:{X-Slack-Request-Timestamp}:{raw body}``.
:func:`verify` recomputes it over the bytes exactly as received (before any parsing), compares in
constant time, and refuses a timestamp further than ``max_age_s`` from now in either direction, so a
captured request cannot be replayed later. :func:`sign` is the same computation, for tests and fakes.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

__all__ = ["SignatureError", "sign", "verify"]

VERSION = "v0"


class SignatureError(Exception):
    """The request is not Slack's, or too old; the message says which (for the log, not the caller)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` value Slack would send for ``body`` at ``timestamp``."""
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    max_age_s: float,
    clock: Callable[[], float] = time.time,
) -> None:
    """Raise :class:`SignatureError` unless ``body`` carries a valid, fresh signature made with ``secret``."""
    stamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not stamp or not signature:
        raise SignatureError("no X-Slack-Request-Timestamp or X-Slack-Signature header")
    try:
        sent = int(stamp)
    except ValueError:
        raise SignatureError(f"the timestamp {stamp[:20]!r} is not a number") from None
    age = clock() - sent
    if abs(age) > max_age_s:
        raise SignatureError(f"the request is {age:.0f} s old; at most {max_age_s:g} s is accepted")
    expected = sign(secret, stamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError("the signature does not match the signing secret")
