"""Slot filling for the offline engine: the details a request needs, read from what the user typed.

Each extractor is a pure function of text and returns ``None`` when the detail is not there, so
the engine asks for it instead of guessing. Patterns follow the demo organisation's conventions
(printer names ``LON-F4-HP-02``, 4-digit extensions, ``INC0012345`` tickets) and accept the usual
variations people type (lower case, spaces, missing leading zeros).
"""

from __future__ import annotations

import re

from firstline.redaction import PLACEHOLDERS

__all__ = [
    "affirmative",
    "asks",
    "asks_for_access",
    "code",
    "colour",
    "device_kind",
    "emails",
    "explicit_requests",
    "extension",
    "floor",
    "forwarding_mode",
    "forwarding_target",
    "hostname",
    "mentions_someone_else",
    "names_someone_else",
    "negative",
    "platform",
    "printer_name",
    "stolen",
    "stop_forwarding",
    "ticket_number",
    "ticket_subject",
]

_CODE = re.compile(r"(?<![\d-])(\d{3})[ -]?(\d{3})(?![\d-])")
_TICKET = re.compile(r"\b(INC|REQ|RITM)[\s#-]*(\d{1,7})\b", re.I)
_PRINTER = re.compile(r"\b(LON|LDS)[\s-]*F[\s-]*(\d)[\s-]*(HP|LX)[\s-]*(\d{1,2})\b", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_EXTENSION = re.compile(r"(?<![\d+])([46]\d{3})(?!\d)")
_UK_NUMBER = re.compile(r"(?<!\d)((?:\+44\s?|0)(?:\d[\s-]?){9,10})(?!\d)")
_YES = re.compile(
    r"^\s*(yes|yep|yeah|yup|y|sure|ok|okay|please do|please|go ahead|do it|correct|that worked|it works|"
    r"working now|works now|it's working|fixed|sorted|all good|great|perfect|thanks|thank you|cheers)\b",
    re.I,
)
_NO = re.compile(
    r"^\s*(no|nope|nah|not really|not yet|still|it didn'?t|didn'?t|doesn'?t|does not|did not|it still|"
    r"not working|not fixed|same problem|no luck)\b",
    re.I,
)
_THINGS = (
    r"(account|password|login|log-?in|mfa|authenticator|laptop|computer|pc|mac|macbook|phone|iphone|mobile|"
    r"ipad|tablet|device|mailbox|e-?mail|inbox|voicemail|extension|line|calls|pin|ticket|access)"
)
_OTHERS = re.compile(
    r"\b(ceo|cfo|cto|director'?s|my (boss|manager|colleague|team ?mate|assistant)'s|someone else'?s|"
    r"another user'?s|other (people|users)'?s?|everyone'?s|all users|on behalf of|"
    rf"(his|her|their) (own |work |new |old )?{_THINGS}|(for|unlock|reset) (him|her|them)\b)\b",
    re.I,
)
_HOSTNAME = re.compile(r"\bNW-?([A-Z])-?(\d{4})\b", re.I)
_CLOSE = re.compile(
    r"\b(close|cancel|withdraw|shut)\b|\bno longer (need|needed)\b|\bdon'?t need (it|this|that)\b", re.I
)
_STOLEN = re.compile(r"\b(stolen|stole|robbed|nicked|snatched|theft|burglar\w*|mugged)\b", re.I)


# A question, also after a thanks or another clause ("thanks, what else should i do").
_ASKS = re.compile(
    r"\?|(?:^|[,.;:!]|\b(?:and|but|so|ok|okay|thanks|thank you|cheers)\b)\W*"
    r"(?:how|what|what's|whats|why|when|where|who|which|can|could|would|will|is|are|do|does|should|may|please)\b",
    re.I,
)


def asks(text: str) -> bool:
    """Whether ``text`` asks something ("what now?", "thanks, what else should i do") rather than tells."""
    return _ASKS.search(text) is not None


def code(text: str) -> str | None:
    """A six-digit one-time code (``482913`` or ``482 913``), or ``[code]`` where the desk took one out."""
    if PLACEHOLDERS["code"] in text:
        return PLACEHOLDERS["code"]
    match = _CODE.search(text)
    return match.group(1) + match.group(2) if match else None


def ticket_number(text: str) -> str | None:
    """A ticket number, normalised (``inc 12345`` -> ``INC0012345``)."""
    match = _TICKET.search(text)
    return f"{match.group(1).upper()}{int(match.group(2)):07d}" if match else None


def printer_name(text: str) -> str | None:
    """A printer name, normalised (``lon f4 hp 2`` -> ``LON-F4-HP-02``)."""
    match = _PRINTER.search(text)
    if not match:
        return None
    site, floor, vendor, number = match.groups()
    return f"{site.upper()}-F{floor}-{vendor.upper()}-{int(number):02d}"


def emails(text: str) -> list[str]:
    """Every e-mail address in ``text``, lower-cased, in order."""
    return [m.lower().rstrip(".") for m in _EMAIL.findall(text)]


def extension(text: str) -> str | None:
    """A 4-digit internal extension (4xxx London, 6xxx Leeds)."""
    match = _EXTENSION.search(text)
    return match.group(1) if match else None


def forwarding_target(text: str) -> str | None:
    """Where to forward calls: a UK number, else an internal extension."""
    number = _UK_NUMBER.search(text)
    if number:
        return re.sub(r"[\s-]", "", number.group(1))
    return extension(text)


def forwarding_mode(text: str) -> str:
    """``busy``, ``no_answer`` or (by default) ``always``."""
    lowered = text.lower()
    if "busy" in lowered or "engaged" in lowered or "on a call" in lowered:
        return "busy"
    if re.search(r"no.?answer|don'?t (answer|pick up)|unanswered|not answer", lowered):
        return "no_answer"
    return "always"


def stop_forwarding(text: str) -> bool:
    return bool(re.search(r"\b(stop|cancel|turn off|switch off|remove|disable|no longer)\b", text, re.I))


def affirmative(text: str) -> bool:
    return bool(_YES.search(text)) and not negative(text)


def negative(text: str) -> bool:
    return bool(_NO.search(text))


def mentions_someone_else(text: str, requester: str | None, addresses_are_people: bool = True) -> bool:
    """The request is about another person's account or device (a name-free check).

    With ``addresses_are_people=False`` (lists and shared mailboxes have addresses too) only the
    wording counts, not e-mail addresses.
    """
    others = [e for e in emails(text) if requester is None or e != requester.lower()]
    return (addresses_are_people and bool(others)) or bool(_OTHERS.search(text))


_NAMED = re.compile(
    r"\b([A-Z][a-z]+(?:[ -][A-Z][a-z']+)+)(?:'s\b|\s+(?:wants|needs|asked|can't|cannot|is locked|has))"
    r"|\b(?:add|unlock|reset|give|for)\s+([A-Z][a-z]+(?:\s+[A-Z][a-z']+)+)\b"
    r"|\b(?:he|she) (?:asked|wants|needs|can't|cannot)\b"
)


_NOT_PEOPLE = {
    "microsoft", "teams", "outlook", "office", "windows", "company", "portal", "webex", "globalprotect",
    "adobe", "google", "chrome", "apple", "intune", "authenticator", "visio", "power", "excel", "word",
    "service", "desk", "north", "northwind", "meridian", "london", "leeds", "sales", "finance", "marketing",
}  # fmt: skip


def names_someone_else(text: str, requester_name: str) -> bool:
    """A person other than the requester is named as the one to act for ("add Stephen Clarke",
    "Megan Lloyd's voicemail", "he asked me to")."""
    mine = {w.lower() for w in requester_name.split()}
    for match in _NAMED.finditer(text):
        name = match.group(1) or match.group(2)
        if name is None:
            return True  # "he asked me to ..."
        words = {w.lower().removesuffix("'s") for w in re.split(r"[ -]", name)}
        if words & _NOT_PEOPLE:
            continue
        if not words <= mine:
            return True
    return False


_FLOOR = re.compile(
    r"\b(?:(?:floor|level)\s+(\d{1,2})|(\d{1,2})(?:st|nd|rd|th)?\s+(?:floor|fl)|(first|second|third|fourth|fifth|"
    r"ground)\s+floor)\b",
    re.I,
)
_FLOOR_WORDS = {"ground": 0, "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}


def floor(text: str) -> int | None:
    """A floor named in ``text`` ("3rd floor", "floor 2", "the second floor"), or ``None``."""
    match = _FLOOR.search(text)
    if match is None:
        return None
    number, ordinal, word = match.groups()
    return int(number or ordinal) if (number or ordinal) else _FLOOR_WORDS[word.lower()]


def hostname(text: str) -> str | None:
    """A device hostname (``nw-l-0450`` -> ``NW-L-0450``)."""
    match = _HOSTNAME.search(text)
    return f"NW-{match.group(1).upper()}-{match.group(2)}" if match else None


def explicit_requests(text: str) -> set[str]:
    """Actions a message asks for in so many words: ``close_ticket:<number>`` when it asks to close a named ticket."""
    number = ticket_number(text)
    if number is not None and _CLOSE.search(text):
        return {f"close_ticket:{number}"}
    return set()


# Asking to be given access ("can I get access to", "I need write access to", "add me to the ... share"), as
# against losing it or being refused it ("lost access", "access denied", "can't access"), which are faults.
_GRANT = re.compile(
    r"\b(?:(?:need|want|get|give|request|grant|require|like|(?:can|could|may)\s+(?:i|we)\s+have)\w*\s+(?:me\s+|us\s+|her\s+|him\s+)?"
    r"(?:(?:read|write|edit|modify|full|send[- ]as|owner)\s+)?(?:access|permissions?|rights)\s+(?:to|for|on)\b"
    r"|(?:read|write|edit|modify|full)\s+(?:access|permissions?|rights)\s+(?:to|for|on)\b"
    r"|add\s+me\s+to\s+(?:the\s+)?[\w&' -]{0,30}?\b(?:share|folder|drive|mailbox|inbox)\b)",
    re.I,
)
_LOST = re.compile(r"\b(?:denied|lost|no longer|can'?t|cannot|unable|stopped|removed|anymore|any more)\b", re.I)


def asks_for_access(text: str) -> bool:
    """Whether the message asks to be given access to something (a share, a mailbox), not reports losing it."""
    return bool(_GRANT.search(text)) and not _LOST.search(text)


_SUBJECT = re.compile(
    r"\b(?:ticket|request|incident|case|one|call)\s+(?:about|for|regarding|re|on|with)\s+(?:the\s+|my\s+|a\s+|an\s+|our\s+)?"
    r"(?P<after>[a-z0-9][\w\s-]{1,40}?)(?=\s+(?:still|is|was|has|being|that|which|from|i\b)|[?.!,;]|$)"
    r"|\b(?:the|my|our)\s+(?P<before>[a-z0-9][\w-]{2,20}(?:\s+[a-z][\w-]{2,20})?)\s+(?:ticket|request|incident|case)\b",
    re.I,
)
_POINTING = frozenset({"that", "this", "it", "them", "those", "these", "one"})
# Words that say nothing of what a ticket is about: articles, prepositions, "open", "new", "latest", "now".
_NOT_SUBJECT = frozenset(
    "the my a an and of for to with in on at is it this that one open new old other last first latest same now "
    "yet today".split()
)


def ticket_subject(text: str) -> list[str]:
    """The words a message uses for what a ticket is about: "is my ticket about the laptop still open?" ->
    ``["laptop"]``, "any news on the printer ticket" -> ``["printer"]``; ``[]`` when it names no subject."""
    match = _SUBJECT.search(text)
    if match is None:
        return []
    words = re.findall(r"[a-z0-9][\w-]*", (match.group("after") or match.group("before") or "").lower())
    if words and words[0] in _POINTING:
        return []  # "is there a ticket for that now?": the problem just talked about, not a subject
    return [w for w in words if w not in _NOT_SUBJECT]


def stolen(text: str) -> bool:
    return bool(_STOLEN.search(text))


def platform(text: str) -> str | None:
    lowered = text.lower()
    for name, words in (
        ("ios", ("iphone", "ipad", "ios")),
        ("android", ("android", "samsung", "galaxy", "pixel")),
        ("macos", ("macbook", "mac ", "macos", "imac", " mac")),
        ("windows", ("windows", "dell", "latitude", " pc", "laptop")),
    ):
        if any(word in f" {lowered} " for word in words):
            return name
    return None


def device_kind(text: str) -> str | None:
    """``mobile``, ``laptop`` or ``tablet`` from the words used."""
    lowered = text.lower()
    if re.search(r"\b(ipad|tablet)\b", lowered):
        return "tablet"
    if re.search(r"\b(phone|mobile|iphone|samsung|galaxy|android|cell)\b", lowered):
        return "mobile"
    if re.search(r"\b(laptop|macbook|notebook|dell|latitude|computer|pc)\b", lowered):
        return "laptop"
    return None


def colour(text: str) -> str | None:
    match = re.search(r"\b(black|cyan|magenta|yellow)\b", text, re.I)
    return match.group(1).lower() if match else None
