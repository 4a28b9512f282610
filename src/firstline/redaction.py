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

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PLACEHOLDERS", "Redacted", "RedactingFilter", "redact", "redact_data", "redact_personal", "typed_code"]

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


_Rule = tuple[str, re.Pattern[str], Callable[[re.Match[str]], str] | None]

_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.S
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*[\"']?(?:bearer|basic|token|digest|apikey)\s+)[A-Za-z0-9._~+/=:-]{6,}"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/-]{16,}=*")
_KEY_SHAPES = re.compile(
    r"\b(?:sk-(?:proj-|ant-|live-)?[A-Za-z0-9_-]{16,}"
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_-]{30,}"
    r"|glpat-[A-Za-z0-9_-]{20,}"
    r"|npm_[A-Za-z0-9]{30,}|hf_[A-Za-z0-9]{30,}|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,})"
)
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@]+:)([^\s@/]+)(@)", re.I)
_RECOVERY = re.compile(r"\b\d{6}(?:[- ]\d{6}){7}\b")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_CVV = re.compile(r"(?i)\b(cvv2?|cvc2?|cv2|csc|security code)(\s*(?:is|was|number|no\.?|code)?\s*[:=#]?\s*)(\d{3,4})\b")
# A secret after a label: the label, then a short link ("is", "=", ", set it to", "was"), then the value.
_LABEL = (
    r"(?:(?:new|old|current|temp(?:orary)?|wi-?fi|wifi|network|admin|root|db|database|vpn|account|login|"
    r"voicemail|vm)[ _-]?)?"
    r"(?:pass(?:w(?:o?r?d|prd|ord|rod|ard|d))|pasword|paswd|passwrd|pword|pwd|pw|passcode|pass[ -]?phrase|"
    r"pin(?: ?(?:code|number))?|secret(?:[ _-]?(?:access[ _-]?)?key)?|api[ _-]?key|access[ _-]?key|"
    r"client[ _-]?secret|auth[ _-]?token|access[ _-]?token|token|wi-?fi key|network key|security key|psk)"
)
_LINK = (
    r"(?:\"?\s*[:=]\s*|\s+(?:(?:is|was|are|were|will be|should be|to|as|now|set to|be|would be|of)\s+){1,2}(?:now\s+)?|"
    r"[^.\n!?]{0,40}?\b(?:set|change|changed|reset|make|update|updated)\s+(?:it|this|that|them)?\s*(?:to|as|into)\s+|"
    r"\s+(?:was|is)\s*:?\s*|\s*(?:->|=>)\s*|\s+)"
)
_VALUE = r"(\"[^\"\n]{1,80}\"|'[^'\n]{1,80}'|“[^”\n]{1,80}”|‘[^’\n]{1,80}’|`[^`\n]{1,80}`|[^\s\"'`,;]+)"
_LABELLED = re.compile(rf"(?i)(\b{_LABEL}\b{_LINK})(?=\S){_VALUE}")
_ONE_AND_OTHER = re.compile(
    rf"(?i)(\b(?:new|old|other|temporary|current) one\s+(?:is|was|will be|should be|=|:)\s+|\bone was\s+){_VALUE}"
)
_CODE_LABELLED = re.compile(
    r"(?i)(\b(?:code|otp|one[- ]time code|verification code|passcode|pin|digits?)\b[^\d\n]{0,24}?)"
    r"(?<!\d)(\d{3}[ -]?\d{3})(?!\d)"
)
_BARE_CODE = re.compile(r"(?<![\w-])(\d{3}[ -]?\d{3})(?![\w-])")
_ENV_SECRET = re.compile(
    r"(?i)(\b[A-Z0-9_]*(?:PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY)[A-Z0-9_]*\s*[:=]\s*)"
    r"(\"[^\"\n]*\"|'[^'\n]*'|[^\s;,&]+)"
)
# What follows "password is ..." when no password is given.
_NOT_VALUES = set(
    """not no wrong incorrect invalid expired expiring locked blocked rejected refused failing broken working
    correct right fine ok okay same too very still being also definitely probably just a an the my your his her
    their our it this that these those and or but so because when if until since for in on at of with without
    about after before reset resetting changed changing required needed asked prompt prompts keeps stuck missing
    forgotten forgot lost unknown case sensitive long short weak strong new old different hidden saved stored
    typed entered ready done gone empty blank there here what which who whom whose how why where again
    please help thanks thank does doesn't isn't won't can't cannot never always sometimes anymore any
    one ones field box page screen window dialog policy rules requirements expiry expired. change manager
    changer reset. updated sent link email emails mail texted via by from via""".split()
)
_TRAILING = ".,;:!?)]}>"


def _keep_label(kind: str, label_group: int = 1) -> Callable[[re.Match[str]], str]:
    return lambda m: m.group(label_group) + PLACEHOLDERS[kind]


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
        bare = bare.rstrip(_TRAILING)
    if not bare:
        return False
    if quoted:
        return True
    if bare.lower() in _NOT_VALUES or bare.lower().rstrip("s") in _NOT_VALUES:
        return False
    if re.fullmatch(r"[a-z]{1,3}", bare):
        return False
    odd = any(not c.isalpha() for c in bare) or (bare != bare.lower() and bare[1:] != bare[1:].lower())
    if not strong:
        return odd and len(bare) >= 5
    return len(bare) >= 4 or odd


_STRONG_LINK = re.compile(r"(?i)[:=]|->|=>|\b(?:is|was|are|were|be|to|as|now|of|into)\s*$")


def redact(text: str, *, expect_code: bool = False) -> Redacted:
    """``text`` with every secret replaced by its placeholder.

    With ``expect_code`` (a one-time code was asked for), a six-digit group anywhere in a short
    message is taken as the code, removed, and returned in :attr:`Redacted.code` for the check.
    """
    if not text:
        return Redacted(text)
    kinds: list[str] = []
    code: str | None = None

    def sub(kind: str, pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str], value: str) -> str:
        new, count = pattern.subn(repl, value)
        if count:
            kinds.append(kind)
        return new

    out = sub("private_key", _PEM, lambda m: PLACEHOLDERS["private_key"], text)
    out = sub("token", _AUTH_HEADER, _keep_label("token"), out)
    out = sub("token", _JWT, lambda m: PLACEHOLDERS["token"], out)
    out = sub("token", _BEARER, _keep_label("token"), out)
    out = sub("api_key", _KEY_SHAPES, lambda m: PLACEHOLDERS["api_key"], out)
    out = sub("password", _URL_CREDENTIALS, lambda m: m.group(1) + PLACEHOLDERS["password"] + m.group(3), out)

    def env(m: re.Match[str]) -> str:
        if not _plausible(m.group(2)):
            return m.group(0)
        kinds.append("password")
        return m.group(1) + PLACEHOLDERS["password"]

    out = _ENV_SECRET.sub(env, out)
    out = sub("recovery_key", _RECOVERY, lambda m: PLACEHOLDERS["recovery_key"], out)

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and _luhn(digits) and len(set(digits)) > 1:
            kinds.append("card")
            return PLACEHOLDERS["card"]
        return m.group(0)

    out = _CARD.sub(card, out)
    out = sub("cvv", _CVV, lambda m: m.group(1) + m.group(2) + PLACEHOLDERS["cvv"], out)

    def code_sub(m: re.Match[str]) -> str:
        nonlocal code
        code = code or re.sub(r"\D", "", m.group(2))
        kinds.append("code")
        return m.group(1) + PLACEHOLDERS["code"]

    out = _CODE_LABELLED.sub(code_sub, out)
    if expect_code and code is None and len(out.split()) <= 12:
        match = _BARE_CODE.search(out)
        if match is not None:
            code = re.sub(r"\D", "", match.group(1))
            kinds.append("code")
            out = out[: match.start()] + PLACEHOLDERS["code"] + out[match.end() :]

    def labelled(m: re.Match[str]) -> str:
        value = m.group(m.lastindex or 1)
        if not _plausible(value, bool(_STRONG_LINK.search(m.group(1)))):
            return m.group(0)
        kinds.append("password")
        trail = ""
        if value[:1] not in "\"'“‘`":
            stripped = value.rstrip(_TRAILING)
            trail = value[len(stripped) :]
        return m.group(1) + PLACEHOLDERS["password"] + trail

    for _ in range(3):  # "old one was X and the new one is Y": a second pass finds the next label
        before = out
        out = _LABELLED.sub(labelled, out)
        out = _ONE_AND_OTHER.sub(labelled, out)
        if out == before:
            break
    return Redacted(out, tuple(dict.fromkeys(kinds)), code)


_SECRET_KEYS = re.compile(
    r"(?i)^(?:.*[_-])?(?:password|passwd|pwd|secret|token|api_?key|access_?key|private_?key|code|otp|pin|cvv|"
    r"authorization|cookie|credentials?)$"
)


def redact_data(value: Any, *, key: str = "") -> Any:
    """``value`` (str, dict, list, tuple, anything else) with secrets redacted in every string inside.

    A string stored under a secret-sounding key (``password``, ``code``, ``api_key``, ...) is blanked
    whole, unless it is already a placeholder.
    """
    if isinstance(value, str):
        if key and _SECRET_KEYS.match(key) and value and value not in PLACEHOLDERS.values():
            return PLACEHOLDERS["code" if key.lower() in ("code", "otp") else "password"]
        return redact(value).text
    if isinstance(value, Mapping):
        return {k: redact_data(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v, key=key) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_data(v, key=key) for v in value)
    return value


_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
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
        if isinstance(record.msg, str):
            record.msg = redact(record.msg).text
        if record.args:
            if isinstance(record.args, Mapping):
                record.args = {k: redact(v).text if isinstance(v, str) else v for k, v in record.args.items()}
            else:
                record.args = tuple(redact(a).text if isinstance(a, str) else a for a in record.args)
        return True
