"""Unsubscribe links that work without signing in: a token names one person and one kind of mail, and is
signed so that nobody can make one for someone else.

A token is ``<payload>.<signature>``, both URL-safe base64 without padding: the payload is
``email|kind`` (UTF-8), the signature HMAC-SHA256 of the payload under a key derived from the server
secret (:func:`firstline.runtime.server_secret`) for this one purpose, so a token can never be confused
with a signature made for something else (one-time codes use the same secret). Tokens do not expire: an
unsubscribe link must keep working in a mail read months later (RFC 8058 asks for links that stay
valid), and all a token can do is switch one kind of mail on or off for the person it names.

    signer = UnsubscribeTokens(secret)
    token = signer.make("ana.silva@example.com", "reply")
    signer.read(token)  # ("ana.silva@example.com", "reply"); InputError when tampered with
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from firstline.channel_settings import NOTICE_KINDS, NoticeKind
from firstline.errors import InputError

__all__ = ["UnsubscribeTokens"]

_PURPOSE = b"firstline/notifications/unsubscribe/v1"
_MAX_TOKEN = 600
_INVALID = "This unsubscribe link is not valid (it may have been cut short): use the whole link from the e-mail."


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UnsubscribeTokens:
    """Makes and checks unsubscribe tokens with a key derived from the server secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the server secret must be at least 16 bytes")
        self._key = hmac.new(secret, _PURPOSE, hashlib.sha256).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def make(self, email: str, kind: NoticeKind) -> str:
        """The token that turns ``kind`` off for ``email``."""
        payload = f"{email.strip().lower()}|{kind}".encode()
        return f"{_encode(payload)}.{_encode(self._sign(payload))}"

    def read(self, token: str) -> tuple[str, NoticeKind]:
        """``(email, kind)`` of a genuine token; :class:`InputError` for anything else (compared in constant time)."""
        token = token.strip()
        head, dot, tail = token.partition(".")
        if not dot or not head or not tail or len(token) > _MAX_TOKEN:
            raise InputError(_INVALID)
        try:
            payload, signature = _decode(head), _decode(tail)
        except (binascii.Error, ValueError):
            raise InputError(_INVALID) from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InputError(_INVALID)
        email, _, kind = payload.decode("utf-8", "replace").rpartition("|")
        for known in NOTICE_KINDS:
            if kind == known and "@" in email:
                return email, known
        raise InputError(_INVALID)  # pragma: no cover - only a token we signed gets here
