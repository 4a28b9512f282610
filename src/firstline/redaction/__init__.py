"""Secrets never stored: passwords, one-time codes, keys, tokens and card numbers taken out of text.

Everything an employee types passes through :func:`redact` before it is stored, logged, put on a
ticket or sent to a model; what was removed is replaced by a visible placeholder (``[password]``,
``[code]``, ``[api key]``, ...) so a transcript still reads naturally. Structured data (event
payloads, tool arguments) goes through :func:`redact_data`, which also blanks values stored under
secret-sounding keys. :func:`redact_personal` additionally masks e-mail addresses and phone numbers
for text that leaves for a hosted model whose provider is configured so. :class:`RedactingFilter`
applies the same rules to log records.

The rules are written for what people paste into a helpdesk chat: a password after a label ("set
it to Summer2026!", ``pwd: x``, ``"password": "..."``), credentials inside URLs and connection
strings, the shapes of well-known API keys, bearer tokens and JWTs, PEM private keys, Luhn-valid
card numbers with their CVV, BitLocker recovery keys, and six-digit codes where a code is meant.
They stay away from what a helpdesk needs to keep: ticket numbers, extensions, error codes,
versions, hostnames and serials (``tests/security/data`` holds the corpus both ways).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from firstline.redaction import patterns as p

__all__ = [
    "PLACEHOLDERS",
    "Redacted",
    "RedactingFilter",
    "redact",
    "redact_data",
    "redact_data_since",
    "redact_personal",
    "redact_text",
    "typed_code",
]

PLACEHOLDERS = {
    "password": "[password]",
    "code": "[code]",
    "api_key": "[api key]",
    "token": "[token]",
    "card": "[card]",
    "cvv": "[cvv]",
    "private_key": "[private key]",
    "recovery_key": "[recovery key]",
}


@dataclass(frozen=True)
class Redacted:
    """``text`` with its secrets replaced; ``kinds`` names what was removed (empty: nothing)."""

    text: str
    kinds: tuple[str, ...] = ()
    code: str | None = None  # the one-time code taken out, when one was expected

    @property
    def changed(self) -> bool:
        return bool(self.kinds)

    @property
    def only_secret(self) -> bool:
        """The message did nothing but hand over a secret ("my new password is [password]", "api key: [api key]"):
        with the placeholders and the words that introduce a secret taken out, no word is left. A one-time
        code is an answer, not a disclosure, so a message with one is never only a secret."""
        if not self.kinds or "code" in self.kinds:
            return False
        rest = self.text
        for placeholder in PLACEHOLDERS.values():
            rest = rest.replace(placeholder, " ")
        return all(word in _DISCLOSING for word in _WORD.findall(rest.lower()))


_WORD = re.compile(r"[a-z']+")
_DISCLOSING = frozenset(
    "my the a new old current temp temporary password passwd pw pwd passcode pin is was its it's it here here's "
    "this that key api token secret recovery private card number ok okay so and now set to i i've changed "
    "made fyi".split()
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _plausible(value: str, strong: bool = True) -> bool:
    """Whether ``value`` after a password label is a password rather than more of the sentence.

    ``strong`` links ("is", "=", ":", "set it to") take any value that is not a common word; after a
    bare space ("password Summer2026!") the value must look made up: a digit or symbol, or mixed case.
    """
    if any(value.startswith(placeholder) for placeholder in PLACEHOLDERS.values()):
        return False  # already taken out
    quoted = value[:1] in "\"'“‘`"
    bare = value.strip("\"'“”‘’`")
    if not quoted:
        bare = bare.strip("*_()[]").rstrip(p.TRAILING)
    if not bare or set(bare) <= set("*•·●x"):
        return False  # nothing, or a masked value ("********")
    if quoted:
        return True
    if bare.lower() in p.NOT_VALUES or bare.lower().rstrip("s") in p.NOT_VALUES:
        return False
    if re.fullmatch(r"[a-z]{1,3}", bare):
        return False
    odd = any(not c.isalpha() for c in bare) or (bare != bare.lower() and bare[1:] != bare[1:].lower())
    if not strong:
        return odd and len(bare) >= 5
    return len(bare) >= 4 or odd


_STRONG_LINK = re.compile(r"(?i)[:=]|->|=>|\b(?:is|was|are|were|be|to|as|now|of|into|ist|est|es|é|è|jest)\s*$")


_AMBIGUOUS = re.compile(r"(?i)(?:\w+[ _-])?(?:pass|token|pin(?: ?(?:code|number))?|pat|security key|access key)$")
_LABEL_AT = re.compile(rf"(?i){p.LABEL}")


def _labelled(m: re.Match[str]) -> bool:
    """Whether the value after a label is a secret. Words that are labels only sometimes ("pass", "token", "PIN")
    need a ':' or '=' or a value that looks made up: "Temporary Access Pass: lifetime 8 hours" keeps its words."""
    head, value = m.group(1), m.group(m.lastindex or 1)
    label = _LABEL_AT.match(head)
    quoted = value[:1] in "\"'“‘`"
    bare = value.strip("\"'“”‘’`*_()[]").rstrip(p.TRAILING)
    if quoted and " " in bare and re.search(r"\b(?:to|as|of)\s*$", head):
        return False  # prose: never ask for the password to "test it yourself"
    if label is not None and _AMBIGUOUS.fullmatch(label.group(0)):
        if quoted:
            return True
        if bare.isdigit():
            return len(bare) >= 4 and "pin" in label.group(0).lower()
        return p.made_up(bare) or (bare.isalnum() and len(bare) >= 24)  # a personal access token is long
    if not quoted and bare.isalpha() and bare.islower() and _PROSE_GOES_ON.match(m.string, m.end()):
        return False  # "old password: sign in there with the new one" goes on as a sentence
    return _plausible(value, bool(_STRONG_LINK.search(head)))


def _key_values(r: _Redaction) -> None:
    """``name=value`` / ``"name": "value"`` / ``name: value`` where the name holds a secret; after a colon the
    value must look like one too ("saved credentials: Control Panel" is prose). Names are found one by one, so
    "User wrote: refresh_token=..." finds ``refresh_token`` although ``wrote:`` came first."""
    out, pieces, last = r.out, [], 0
    for name in p.KEY_NAME.finditer(out):
        if name.start() < last:
            continue
        head = name.group(0)
        if not p.secret_name(head.rstrip("\"': =")):
            continue
        value = p.KEY_VALUE.match(out, name.end())
        if value is None:
            continue
        text = value.group(0)
        if "=" in head or text[:1] in "\"'" or head.rstrip().endswith('"'):
            secret = _plausible(text)
        else:
            secret = p.made_up(text.rstrip(p.TRAILING)) or (len(text) >= 16 and not text.isalpha())
        if text.startswith("[") or not secret:
            continue
        pieces.append(out[last : value.start()] + PLACEHOLDERS["password"])
        last = value.end()
        r.kinds.append("password")
    if pieces:
        r.out = "".join(pieces) + out[last:]


_PROSE_GOES_ON = re.compile(r"[ \t]+(?:[a-z]{2,}|[0-9]{1,2})\b")


class _Redaction:
    """One message's redaction: the text as it changes, what was removed, and a code taken out."""

    def __init__(self, text: str) -> None:
        self.out = text
        self.kinds: list[str] = []
        self.code: str | None = None

    def sub(self, kind: str, pattern: re.Pattern[str], keep: int | None = None, after: int | None = None) -> None:
        """Replace each match by ``kind``'s placeholder, keeping group ``keep`` before it and ``after`` after it."""

        def repl(m: re.Match[str]) -> str:
            self.kinds.append(kind)
            head = m.group(keep) if keep else ""
            tail = m.group(after) if after else ""
            return f"{head}{PLACEHOLDERS[kind]}{tail}"

        self.out = pattern.sub(repl, self.out)

    def within(self, kind: str, outer: re.Pattern[str], inner: re.Pattern[str]) -> None:
        """Inside each match of ``outer``, replace each match of ``inner`` (keeping its first group)."""

        def repl(m: re.Match[str]) -> str:
            new, count = inner.subn(lambda pair: pair.group(1) + PLACEHOLDERS[kind], m.group(0))
            self.kinds.extend([kind] * min(count, 1))
            return new

        self.out = outer.sub(repl, self.out)

    def when(self, kind: str, pattern: re.Pattern[str], test: Callable[[re.Match[str]], bool]) -> None:
        """Replace the value (the last group) of each match that passes ``test``; the rest of the match stays."""

        def repl(m: re.Match[str]) -> str:
            if not test(m):
                return m.group(0)
            self.kinds.append(kind)
            last = m.lastindex or 0
            value = m.group(last)
            trail = ""
            if value[:1] not in "\"'“‘`":
                trail = value[len(value.rstrip(p.TRAILING)) :] if kind == "password" else ""
            start, end = m.span(last)
            whole = m.group(0)
            return whole[: start - m.start()] + PLACEHOLDERS[kind] + trail + whole[end - m.start() :]

        self.out = pattern.sub(repl, self.out)

    def take_code(self, m: re.Match[str], group: int) -> str:
        self.code = self.code or re.sub(r"\D", "", m.group(group)) or m.group(group)
        self.kinds.append("code")
        return PLACEHOLDERS["code"]


def redact(text: str, *, expect_code: bool = False) -> Redacted:
    """``text`` with every secret replaced by its placeholder.

    With ``expect_code`` (a one-time code was asked for), a six-digit group anywhere in a short
    message is taken as the code, removed, and returned in :attr:`Redacted.code` for the check.
    """
    if not text:
        return Redacted(text)
    r = _Redaction(text)
    r.sub("private_key", p.PEM)
    r.sub("token", p.AUTH_HEADER, keep=1)
    r.sub("token", p.JWT)
    r.sub("token", p.BEARER, keep=1)
    r.sub("api_key", p.KEY_SHAPES)
    r.sub("api_key", p.SLACK_WEBHOOK, keep=1)
    for pattern in (p.URL_CREDENTIALS, p.ORACLE_LOGIN):
        r.sub("password", pattern, keep=1, after=3)
    for pattern in (p.NET_USE, p.CURL_USER, p.DASH_P, p.SECURE_STRING):
        r.sub("password", pattern, keep=1)
    r.within("token", p.COOKIE, p.COOKIE_PAIR)  # every value on a Cookie: line
    _key_values(r)
    r.sub("recovery_key", p.RECOVERY_DIGITS)
    r.sub("recovery_key", p.RECOVERY_LABELLED, keep=1)

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and _luhn(digits) and len(set(digits)) > 1:
            r.kinds.append("card")
            return PLACEHOLDERS["card"]
        return m.group(0)

    r.out = p.CARD.sub(card, r.out)
    r.when("cvv", p.CVV, lambda m: True)
    if "card" in r.kinds:
        r.when("cvv", p.AFTER_CARD, lambda m: True)
    r.sub("recovery_key", p.RECOVERY_GROUPS)
    r.out = p.CODE_LABELLED.sub(lambda m: m.group(1) + r.take_code(m, 2), r.out)
    r.out = p.CODE_BEFORE_LABEL.sub(lambda m: r.take_code(m, 1), r.out)
    r.out = p.CODE_ALNUM.sub(lambda m: m.group(1) + r.take_code(m, 2), r.out)
    if expect_code and r.code is None and len(r.out.split()) <= 12:
        match = p.BARE_CODE.search(r.out)
        if match is not None:
            r.out = r.out[: match.start()] + r.take_code(match, 1) + r.out[match.end() :]
    # "the old one was X": without a password word anywhere in the message, X must look made up ("old one was
    # wiped" is about a phone); with one, any uncommon word counts, as after a label.
    about_passwords = p.NEAR_LABEL.search(text) is not None
    for _ in range(3):  # "old one was X and the new one is Y": a second pass finds the next label
        before = r.out
        r.when("password", p.LABELLED, _labelled)
        r.when("password", p.ONE_AND_OTHER, lambda m: _plausible(m.group(m.lastindex or 1), strong=about_passwords))
        if r.out == before:
            break
    r.when("password", p.BEFORE_LABEL, lambda m: p.made_up(m.group(1)))
    _near_label(r)
    return Redacted(r.out, tuple(dict.fromkeys(r.kinds)), r.code)


def _near_label(r: _Redaction, window: int = 8) -> None:
    """Within ``window`` words of a password label, a token that looks made up is taken for the password."""
    labels = [m.start() for m in p.NEAR_LABEL.finditer(r.out)]
    if not labels:
        return
    tokens = list(re.finditer(r"\S{1,200}", r.out))
    ends = [t.end() for t in tokens]
    near: set[int] = set()
    for start in labels:
        at = bisect.bisect_right(ends, start)  # the token the label is in
        if at < len(tokens):
            near.update(range(max(0, at - window), min(len(tokens), at + window + 1)))
    pieces, last = [], 0
    for i in sorted(near):
        token = tokens[i]
        word = token.group()
        core = word.strip("\"'`“”‘’<>()[]{}").rstrip(p.TRAILING)
        if "[" in word or not core or not p.made_up(core) or p.NEAR_LABEL.fullmatch(core):
            continue
        if "=" in core and p.secret_name(core.split("=", 1)[0]) is False and not p.made_up(core.split("=", 1)[1]):
            continue
        start = token.start() + word.index(core)
        pieces.append(r.out[last:start] + PLACEHOLDERS["password"])
        last = start + len(core)
        r.kinds.append("password")
    if pieces:
        r.out = "".join(pieces) + r.out[last:]


_SECRET_KEYS = re.compile(
    r"(?i)^(?:.*[_-])?(?:password|passwd|pwd|secret|token|api_?key|access_?key|private_?key|code|otp|pin|cvv|"
    r"authorization|cookie|credentials?)$"
)


_SEEN: OrderedDict[bytes, str] = OrderedDict()  # digest of a long text (a runbook's steps) -> its redacted form
_CLEAN: OrderedDict[str, None] = OrderedDict()  # short texts redaction left unchanged
_SEEN_LOCK = threading.Lock()
_LONG = 256
_KEEP_LONG, _KEEP_CLEAN = 512, 8192


def redact_text(text: str) -> str:
    """``redact(text).text``, remembered: a conversation's state and events carry the same strings turn after
    turn (a runbook's steps, agent and tool names, statuses), and each is redacted once.

    The memory holds no secret it found: a short text is remembered only when redaction left it unchanged,
    a long one under a digest of it, with its redacted form."""
    digest, hit = _recall(text)
    if hit is not None:
        return hit
    out = redact(text).text
    _remember(text, digest, out)
    return out


def _recall(text: str) -> tuple[bytes, str | None]:
    """The digest of a long ``text`` (b"" for a short one) and its redacted form if remembered."""
    long = len(text) >= _LONG
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).digest() if long else b""
    with _SEEN_LOCK:
        if long:
            if (hit := _SEEN.get(digest)) is not None:
                _SEEN.move_to_end(digest)
                return digest, hit
        elif text in _CLEAN:
            _CLEAN.move_to_end(text)
            return digest, text
    return digest, None


def _remember(text: str, digest: bytes, out: str) -> None:
    with _SEEN_LOCK:
        if digest:
            _SEEN[digest] = out
            while len(_SEEN) > _KEEP_LONG:
                _SEEN.popitem(last=False)
        elif out == text:
            _CLEAN[text] = None
            while len(_CLEAN) > _KEEP_CLEAN:
                _CLEAN.popitem(last=False)


def _json_document(text: str) -> dict[str, Any] | list[Any] | None:
    """``text`` parsed, when it is a JSON object or array (a tool's result as a model reads it), else None."""
    if text.rstrip()[-1:] not in ("]", "}"):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict | list) else None


def redact_data(value: Any, *, key: str = "") -> Any:
    """``value`` (str, dict, list, tuple, anything else) with secrets redacted in every string inside.

    A string stored under a secret-sounding key (``password``, ``code``, ``api_key``, ...) is blanked
    whole, unless it is already a placeholder. A long string that is itself a JSON object or array (a tool
    result in a model's messages: runbook passages with their scores) is redacted field by field, the
    same rules applied to each value, so its passages are recognised from earlier turns instead of the
    whole document being scanned again because one score changed (~3 ms for 4 KB); it comes back as it
    was, or re-encoded when a field changed.
    """
    if isinstance(value, str):
        if key and _SECRET_KEYS.match(key) and value and value not in PLACEHOLDERS.values():
            return PLACEHOLDERS["code" if key.lower() in ("code", "otp") else "password"]
        if len(value) >= _LONG and value[0] in "[{":
            digest, hit = _recall(value)  # the same tool result is in the event and in the saved state
            if hit is not None:
                return hit
            structured = _json_document(value)
            if structured is not None:
                redacted = redact_data(structured)
                out = value if redacted == structured else json.dumps(redacted, ensure_ascii=False)
                _remember(value, digest, out)
                return out
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_data(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v, key=key) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_data(v, key=key) for v in value)
    return value


def redact_data_since(value: Any, earlier: Any, *, key: str = "") -> Any:
    """``redact_data(value)``, where a part of ``value`` equal to the same part of ``earlier`` (something
    ``redact_data`` returned before: a conversation's state as last saved) is taken as it is.

    A saved state grows by a topic or a reply a turn while the rest stays as it was; comparing is a walk in
    C, redacting a walk in Python with a memory lookup per string. Nothing new escapes: a part equal to a
    redacted one is itself redacted text. Equal is Python's equal: a number saved as ``1`` stays ``1`` where
    the new state says ``1.0`` or ``True`` (the state's fields keep their types from save to save)."""
    if value == earlier:
        return earlier
    if isinstance(value, Mapping) and isinstance(earlier, Mapping):
        return {
            k: redact_data_since(v, earlier[k], key=str(k)) if k in earlier else redact_data(v, key=str(k))
            for k, v in value.items()
        }
    if isinstance(value, list) and isinstance(earlier, list):
        return [
            redact_data_since(v, earlier[i], key=key) if i < len(earlier) else redact_data(v, key=key)
            for i, v in enumerate(value)
        ]
    return redact_data(value, key=key)


_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}\b"
)
_PHONE = re.compile(r"(?<![\w-])(?:\+44\s?|0)(?:\d[\s-]?){9,10}(?![\w-])")


def redact_personal(text: str) -> str:
    """``text`` with secrets, e-mail addresses and phone numbers masked (for a provider set to receive less)."""
    out = redact(text).text
    out = _EMAIL.sub("[email]", out)
    return _PHONE.sub("[phone]", out)


def typed_code(text: str) -> str | None:
    """The one-time code in ``text`` when it is one (used to read a code the redactor took out)."""
    return redact(text, expect_code=True).code


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets in each record's message and arguments before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not record.exc_text:  # a traceback quotes what it failed on: redact it too
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info)).text
        elif record.exc_text:
            record.exc_text = redact(record.exc_text).text
        if isinstance(record.msg, str):
            record.msg = redact(record.msg).text
        if record.args:
            if isinstance(record.args, Mapping):
                record.args = {k: redact(v).text if isinstance(v, str) else v for k, v in record.args.items()}
            else:
                record.args = tuple(redact(a).text if isinstance(a, str) else a for a in record.args)
        return True
