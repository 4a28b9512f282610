"""Message cleaning for triage: strip the e-mail and ticket noise around what the user actually wrote.

Messages arrive wrapped in material that misleads a classifier: forwarded-mail headers, quoted
earlier replies, signatures, confidentiality disclaimers, technician notes pasted into tickets and
pasted logs (timestamped lines, stack traces, hex dumps, Windows event dumps). :func:`clean_message`
labels each line with the kind of noise it belongs to, drops those lines and keeps the rest with
its line breaks. What survives on purpose:

- the ``Subject:`` of a forwarded e-mail, which is content ("VPN keeps dropping");
- up to three short lines from dropped logs that carry an error code or message (``0x80070005``,
  ``Error 809``, ``ERR_CONNECTION_RESET``, ``PermissionError: ...``), in :attr:`Cleaned.error_lines`.

When less than three words would be left, the original text comes back untouched: better noisy
than empty. :func:`prepare` cleans, then corrects spelling (see :mod:`firstline.helpdesk.spelling`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from firstline.helpdesk.spelling import SpellingCorrector, default_vocabulary

__all__ = ["KINDS", "Cleaned", "Prepared", "clean_message", "prepare", "understood"]

KINDS: tuple[str, ...] = ("forwarded_header", "quoted_reply", "signature", "disclaimer", "technician_note", "log")

_MIN_WORDS = 3
_CHAT_WORDS = 25  # longer messages are tickets or e-mails: no spelling correction
_MAX_ERROR_LINES = 3
_ERROR_LINE_CHARS = 120

# --- e-mail structure -------------------------------------------------------------------------
_FORWARD_MARK = re.compile(
    r"\s*+(?:-{2,}\s*(?:forwarded message|original message|forwarded by .{0,80}?)\s*-{2,}|begin forwarded message:?"
    r"|_{10,})\s*",
    re.I,
)
_HEADER = re.compile(r"\s*+\*?(from|sent|date|to|cc|bcc|subject|reply-to|importance)\s*\*?:\*?\s*(.*)", re.I)
_REPLY_SUBJECT = re.compile(r"\s*+(?:re|aw|sv|antw)\s*:", re.I)
_SUBJECT_PREFIXES = re.compile(r"^\s*(?:(?:re|fwd?|aw|wg|sv|tr|antw)\s*:\s*)+", re.I)
_WROTE = re.compile(r"\s*+(?:on\b.{0,250}|.{0,150}@.{0,100})\bwrote:\s*", re.I)
_WROTE_START = re.compile(r"\s*+on\s[^\n]{0,200}\d.*", re.I)
_WROTE_END = re.compile(r".{0,200}\bwrote:\s*", re.I)
_QUOTED = re.compile(r"\s*+>")

# --- signatures and disclaimers ---------------------------------------------------------------
_SENT_FROM = re.compile(
    r"\s*+(?:sent from my [\w .-]{1,40}|sent from (?:outlook|mail|yahoo mail|gmail)\b[\w .-]{0,30}"
    r"|get outlook for \w+|sent via [\w .-]{1,30})\s*",
    re.I,
)
_SIGNATURE_MARK = re.compile(r"\s*+(?:--|—|–)\s*")
_SIGN_OFF = re.compile(
    r"\s*+(?:(?:kind(?:est)?|best|warm(?:est)?|many) regards|regards|rgds|best wishes|best|many thanks"
    r"|thanks(?: (?:again|so much|a lot|in advance))?(?: for (?:your|the|any) help)?"
    r"|thank you(?: (?:again|so much|very much|in advance))?(?: for (?:your|the|any) help)?"
    r"|thx|cheers|br|kr|sincerely|yours (?:sincerely|faithfully|truly)|all the best|take care)\b"
    r"[\s,.!]*+(?:\w++[\s,.!]*+)?",
    re.I,
)
_SIGNATURE_LINES = 7  # a sign-off is followed by at most this many short lines: name, title, phone
_SIGNATURE_LINE_CHARS = 80
_FUNCTION_WORDS = re.compile(  # two of these make a line a sentence, not a job title
    r"\b(?:the|a|an|is|are|was|were|be|i|i'm|my|me|it|it's|its|we|you|your|when|then|to|and|but|not|no|can|can't"
    r"|cannot|this|that|with|on|in|at|have|has|had|do|does|did|don't|again|still|will|would|should|could)\b",
    re.I,
)
_DISCLAIMER = re.compile(
    r"\s*+[*_\[(]*+\s*+(?:"
    r"this (?:e-?mail|message|communication|transmission)\b.{0,100}?"
    r"\b(?:confidential|privileged|intended (?:solely|only))"
    r"|(?:confidentiality|legal|privacy) notice|disclaimer\s*:"
    r"|the (?:information|contents?) (?:contained )?in this (?:e-?mail|message|communication)"
    r"|if you (?:are not the intended|have received this (?:e-?mail|message|communication) in error)"
    r"|please (?:consider the environment|think before (?:you )?print)"
    r"|(?:caution|warning|external(?: e-?mail)?)\s*:?\s*"
    r"this (?:e-?mail|message) (?:originated|came|was sent) from outside"
    r"|this (?:e-?mail|message) (?:has been|was) (?:scanned|checked)"
    r"|\[?external(?: e-?mail| sender)?\]?\s*$"
    r")",
    re.I,
)

# --- technician notes -------------------------------------------------------------------------
_NOTE = re.compile(
    r"\s*+[\[(*#]*+\s*+(?:technician|tech|internal|work|agent|engineer|analyst|private|resolver)\s+notes?"
    r"(?:\s*+\([^)\n]{0,30}\))?\s*+[\])*]*+\s*+(?::|-\s|$)",
    re.I,
)

# --- logs -------------------------------------------------------------------------------------
_TIMESTAMP = re.compile(
    r"\s*+\[?(?:(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})[T ,]+\d{1,2}:\d{2}"
    r"|\d{1,2}:\d{2}:\d{2}[.,]\d+|\d{2}:\d{2}:\d{2}\b"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* +\d{1,2},? +(?:\d{4} +)?\d{1,2}:\d{2}:\d{2})"
    r"(?::\d{2})?(?:[.,:]\d+)?(?:\s*(?:Z|[AP]M|[+-]\d{2}:?\d{2}))?\]?",
    re.I,
)
_MACHINE = re.compile(  # what follows a timestamp in a log line, not in a sentence
    r"\b(?:INFO|WARN(?:ING)?|ERROR|ERR|DEBUG|FATAL|TRACE|CRITICAL|NOTICE|VERBOSE|Info|Warning|Error|Verbose)\b"
    r"|\[[\w .:/@-]{1,40}\]|\b0x[0-9A-Fa-f]{4,}|\b[\w.]{1,60}\.(?:exe|dll|cpp|java|py|cs)\b"
)
_COLUMNS = re.compile(r"[\s,|-]*(?:\d{1,6}\s+){1,2}")  # process and thread ids after a timestamp
_STACK = re.compile(
    r"\s*+(?:Traceback \(most recent call last\):|File \"[^\"]*\", line \d+"
    r"|at (?:[\w$<>`-]+\.)+[\w$<>`\[\]-]+ ?\(.*\)(?: in .*)?\s*$|at \S.* \(\S+:\d+(?::\d+)?\)\s*$|at \S+:\d+:\d+\s*$"
    r"|\.\.\. \d+ (?:more|common frames omitted)|Caused by: \S|Exception in thread \S"
    r"|--- End of (?:inner exception )?stack trace ---)"
)
_EXCEPTION = re.compile(r"\s*+(?:[A-Za-z_][\w$]*\.)*[A-Za-z_][\w$]*(?:Exception|Error|Fault)(?::\s.*)?\s*")
_HEX = re.compile(
    r"\s*+(?:0x)?[0-9A-Fa-f]{4,16}:?\s+(?:[0-9A-Fa-f]{2}\s+){7}"
    r"|\s*(?:[0-9A-Fa-f]{2}[ :]?){16,}\s*$|\s*(?:0x)?[0-9A-Fa-f]{32,}\s*$"
)
_LEVEL = re.compile(  # a line opening with a log level, bare or inside a bracketed prefix ("[0303/0912:ERROR:x.cc]")
    r"\s*+(?:\[?(?:INFO|WARN|WARNING|ERROR|DEBUG|FATAL|TRACE|CRITICAL)\]?[\s:]"
    r"|\[[^\]\n]{0,40}\b(?:INFO|WARN|WARNING|ERROR|DEBUG|FATAL|TRACE|CRITICAL|VERBOSE\d?)\b[^\]\n]{0,80}\])"
)
_EVENT_FIELD = re.compile(
    r"\s*+(?:log name|source|date|event id|task category|level|keywords|user|computer|op ?code|description|event xml)"
    r"\s*+:",
    re.I,
)
_EVENT_ANCHOR = re.compile(r"\s*+(?:log name|event id)\s*:", re.I)
_DESCRIPTION = re.compile(r"\s*+(?:description|event xml)\s*:", re.I)
_XML = re.compile(r"\s*+</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>")

_ERROR_SIGNS: tuple[re.Pattern[str], ...] = (  # most telling first
    re.compile(r"\b0x[0-9A-Fa-f]{8}\b|\b(?:ERR|E)_[A-Z][A-Z0-9_]{2,}\b"),
    re.compile(r"\b(?:error|err|errno|code)\s*+(?:code\s*+)?[:=#]?\s*+-?\d{2,6}\b", re.I),
    re.compile(r"\b(?:[A-Za-z_][\w$.]{0,80})?(?:Exception|Error)\b\s*:\s*\S"),
    re.compile(r"\b(?:ERROR|FATAL|CRITICAL)\b|, Error\b"),
)

# --- output -----------------------------------------------------------------------------------
_SPACES = re.compile(r"[ \t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\u200b-\u200d\u2060\ufeff]")
_WORD = re.compile(r"[^\W_]+")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class Cleaned:
    """What is left of a message for triage, which kinds of noise went, and key error lines from logs."""

    text: str
    removed: tuple[str, ...] = ()
    error_lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Prepared:
    """A message ready for the classifier: cleaned, spelling corrected, error lines appended."""

    text: str
    original: str
    removed: tuple[str, ...] = ()
    corrected: bool = False
    error_lines: tuple[str, ...] = ()


def clean_message(text: str) -> Cleaned:
    """Strip forwarded headers, quoted replies, signatures, disclaimers, technician notes and logs.

    Never raises; returns ``text`` unchanged (``removed`` empty) when less than three words would be left.
    """
    lines = _INVISIBLE.sub("", text).splitlines()
    kinds: list[str | None] = [None] * len(lines)
    kept: dict[int, str] = {}  # line -> text that replaces it (a forwarded subject)
    _mark_mail(lines, kinds, kept)
    _mark_notes(lines, kinds)
    _mark_disclaimers(lines, kinds)
    _mark_event_logs(lines, kinds)
    _mark_logs(lines, kinds)
    _mark_signatures(lines, kinds, kept)
    out: list[str] = []
    gap = False  # a removed block leaves a paragraph break; a kept subject stands as its own paragraph
    for i, line in enumerate(lines):
        if kinds[i] is None or i in kept:
            out.extend(("", _SPACES.sub(" ", kept.get(i, line)).strip()) if gap else (_SPACES.sub(" ", line).strip(),))
            gap = i in kept
        else:
            gap = True
    cleaned = _BLANK_LINES.sub("\n\n", "\n".join(out)).strip("\n")
    if len(_WORD.findall(cleaned)) < _MIN_WORDS:
        return Cleaned(text)
    removed = tuple(kind for kind in KINDS if kind in kinds)
    errors = _error_lines(line for line, kind in zip(lines, kinds, strict=True) if kind == "log")
    return Cleaned(cleaned, removed, errors)


def prepare(
    text: str,
    corrector: SpellingCorrector | None = None,
    cleaned: Cleaned | None = None,
    keep: Callable[[str], bool] | None = None,
) -> Prepared:
    """Clean ``text`` (unless ``cleaned`` is given), correct its spelling (the packaged vocabulary unless given;
    words ``keep`` accepts stay as typed, see :meth:`SpellingCorrector.correct`) and append the error lines."""
    cleaned = cleaned or clean_message(text)
    fixed = (corrector or default_vocabulary()).correct(cleaned.text, keep)
    for_classifier = "\n".join((fixed, *cleaned.error_lines))
    return Prepared(for_classifier, text, cleaned.removed, fixed != cleaned.text, cleaned.error_lines)


def understood(
    text: str, corrector: SpellingCorrector | None = None, keep: Callable[[str], bool] | None = None
) -> Prepared:
    """:func:`prepare` for chat-length messages; longer ones (tickets, e-mails) are cleaned but not corrected.

    Corrections help chat ("outlok wont open pasword", "a persn please"); in long ticket and e-mail
    texts, full of product and company words the vocabulary does not know, they blurred 4 % of our
    hand-labelled real tickets (bench/triage.py).
    """
    cleaned = clean_message(text)
    if len(cleaned.text.split()) <= _CHAT_WORDS:
        return prepare(text, corrector, cleaned, keep)
    plain = "\n".join((cleaned.text, *cleaned.error_lines))
    return Prepared(plain, text, cleaned.removed, False, cleaned.error_lines)


def _header_block(lines: list[str], start: int) -> int:
    """The end of the run of header fields (and their indented continuations) starting at ``start``."""
    end = start
    while end < len(lines) and (
        _HEADER.match(lines[end]) or (end > start and lines[end][:1] in (" ", "\t") and lines[end].strip())
    ):
        end += 1
    return end


def _first_nonblank(lines: list[str], start: int) -> int:
    return next((k for k in range(start, len(lines)) if lines[k].strip()), len(lines))


def _mark_mail(lines: list[str], kinds: list[str | None], kept: dict[int, str]) -> None:
    """Forwarded headers (keeping the subject), quoted replies and everything below a reply header."""
    i, content_above = 0, False
    while i < len(lines):
        line = lines[i]
        mark = _FORWARD_MARK.fullmatch(line)
        headers: list[re.Match[str]] = []
        fields, end = i, i + 1
        if mark or _HEADER.match(line):
            fields = _first_nonblank(lines, i + 1) if mark else i
            end = _header_block(lines, fields)
            headers = [m for m in map(_HEADER.match, lines[fields:end]) if m]
            names = {m.group(1).lower() for m in headers}
            if not (("from" in names and names & {"sent", "date", "to", "subject"}) or (mark and len(names) > 1)):
                if not mark:  # "To: ..." lines that are no header block: content, and no part of one either
                    i, content_above = end, True
                    continue
                headers, end = [], i + 1
        if mark or headers:
            if not headers and line.strip().startswith("_"):
                i += 1  # a rule of underscores with no header below
                continue
            subject = next((m for m in headers if m.group(1).lower() == "subject"), None)
            topic = subject.group(2) if subject else ""
            reply = "original message" in line.lower() or bool(_REPLY_SUBJECT.match(topic))
            if reply and content_above:
                kinds[i:] = ["quoted_reply"] * (len(lines) - i)  # an earlier message of the thread, to the end
                return
            kinds[i:end] = ["forwarded_header"] * (end - i)
            topic = _SUBJECT_PREFIXES.sub("", topic).strip()
            if subject and topic:
                kept[fields + headers.index(subject)] = topic
            i = end
            continue
        wrote = bool(_WROTE.fullmatch(line))
        wrapped = not wrote and i + 1 < len(lines) and bool(_WROTE_START.fullmatch(line))
        wrapped = wrapped and bool(_WROTE_END.fullmatch(lines[i + 1]))
        if wrote or wrapped:
            after = i + (2 if wrapped else 1)
            nxt = _first_nonblank(lines, after)
            # Quoted lines start with '>'; a quote without them (pasted from HTML mail) runs to the end.
            last = after if nxt < len(lines) and _QUOTED.match(lines[nxt]) else len(lines)
            kinds[i:last] = ["quoted_reply"] * (last - i)
            i = last
            continue
        if _QUOTED.match(line):
            kinds[i] = "quoted_reply"
        else:
            content_above = content_above or bool(line.strip())
        i += 1


def _paragraph_end(lines: list[str], kinds: list[str | None], start: int) -> int:
    end = start
    while end < len(lines) and lines[end].strip() and kinds[end] is None:
        end += 1
    return end


def _mark_notes(lines: list[str], kinds: list[str | None]) -> None:
    """A technician-note label and its paragraph, plus following paragraphs that open with a timestamp."""
    for i, line in enumerate(lines):
        if kinds[i] is None and _NOTE.match(line):
            end = _paragraph_end(lines, kinds, i)
            while True:
                nxt = _first_nonblank(lines, end)
                if nxt == len(lines) or kinds[nxt] is not None or not _TIMESTAMP.match(lines[nxt]):
                    break
                end = _paragraph_end(lines, kinds, nxt)
            kinds[i:end] = ["technician_note"] * (end - i)


def _mark_event_logs(lines: list[str], kinds: list[str | None]) -> None:
    """Windows event viewer dumps: ``Log Name:``/``Event ID:`` field blocks with their description and XML."""
    i = 0
    while i < len(lines):
        if kinds[i] is not None or not _EVENT_ANCHOR.match(lines[i]):
            i += 1
            continue
        start = i
        while start > 0 and kinds[start - 1] is None and _EVENT_FIELD.match(lines[start - 1]):
            start -= 1
        end, fields, free_text = start, 0, False
        while end < len(lines) and kinds[end] is None and lines[end].strip():
            if _EVENT_FIELD.match(lines[end]):
                fields += 1
                free_text = bool(_DESCRIPTION.match(lines[end]))
            elif not (free_text or _XML.match(lines[end])):
                break
            end += 1
        if fields >= 2:
            kinds[start:end] = ["log"] * (end - start)
        i = max(end, i + 1)


def _log_line(line: str) -> tuple[bool, bool]:
    """Whether ``line`` looks like a log line, and whether it is one beyond doubt."""
    if _STACK.match(line) or _HEX.match(line) or _LEVEL.match(line):
        return True, True
    stamp = _TIMESTAMP.match(line)
    if stamp:
        return True, bool(_MACHINE.search(line, stamp.end()) or _COLUMNS.match(line, stamp.end()))
    return bool(_EXCEPTION.fullmatch(line)), False


def _mark_logs(lines: list[str], kinds: list[str | None]) -> None:
    """Runs of log lines (with indented continuations): two or more, or one beyond doubt.

    Lines already marked are looked through, as if gone, so that a second cleaning finds the same runs.
    """
    view = [k for k in range(len(lines)) if kinds[k] is None]
    looks = [_log_line(lines[k]) for k in view]
    next_text = [len(view)] * (len(view) + 1)  # position in view of the next non-blank line
    for p in range(len(view) - 1, -1, -1):
        next_text[p] = p if lines[view[p]].strip() else next_text[p + 1]
    p = 0
    while p < len(view):
        if not looks[p][0]:
            p += 1
            continue
        q, count, sure = p + 1, 1, looks[p][1]
        while q < len(view):
            line = lines[view[q]]
            if looks[q][0]:
                count, sure = count + 1, sure or looks[q][1]
            elif line.strip():
                if line[:1] not in (" ", "\t"):
                    break  # an indented line continues a log (traceback source lines); any other ends it
            elif not sure or next_text[q] == len(view) or not looks[next_text[q]][0]:
                break  # a blank line ends a log unless it is one beyond doubt and another log line follows
            q += 1
        if sure or count >= 2:
            for k in view[p:q]:
                kinds[k] = "log"
        p = q


def _mark_disclaimers(lines: list[str], kinds: list[str | None]) -> None:
    for i, line in enumerate(lines):
        if kinds[i] is None and _DISCLAIMER.match(line):
            end = _paragraph_end(lines, kinds, i)
            kinds[i:end] = ["disclaimer"] * (end - i)


def _mark_signatures(lines: list[str], kinds: list[str | None], kept: dict[int, str]) -> None:
    """ "Sent from my iPhone", a ``--`` separator and what follows, a sign-off and the short lines below it.

    Bottom up, so a sign-off sees the signature below it already gone (and a second cleaning agrees).
    """
    for i, line in enumerate(lines):
        if kinds[i] is None and _SENT_FROM.fullmatch(line):
            kinds[i] = "signature"
    content_above, seen = [False] * len(lines), False
    for i, line in enumerate(lines):
        content_above[i] = seen
        seen = seen or (kinds[i] is None and bool(line.strip())) or i in kept
    end, below, short = len(lines), 0, True  # the block under line i: its end, non-blank lines, all short
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if kinds[i] is not None:
            end, below, short = i, 0, True
            continue
        separator = below <= 2 * _SIGNATURE_LINES and _SIGNATURE_MARK.fullmatch(line)
        sign_off = below <= _SIGNATURE_LINES and short and _SIGN_OFF.fullmatch(line)
        if content_above[i] and (separator or sign_off):
            kinds[i:end] = ["signature"] * (end - i)
            end, below, short = i, 0, True
        elif line.strip():
            below += 1
            short = short and below <= _SIGNATURE_LINES and _signature_line(line)


def _signature_line(line: str) -> bool:
    """Whether ``line`` could be part of a signature (a name, a job title, a phone number), not a sentence."""
    return (
        len(line) <= _SIGNATURE_LINE_CHARS
        and not line.rstrip().endswith("?")
        and len(_FUNCTION_WORDS.findall(line)) < 2
    )


def _error_lines(log_lines: Iterable[str]) -> tuple[str, ...]:
    """Up to three short log lines carrying distinct error codes or messages, most telling first."""
    found: list[tuple[int, int, str]] = []
    seen: set[str] = set()
    for order, line in enumerate(log_lines):
        for rank, sign in enumerate(_ERROR_SIGNS):
            match = sign.search(line)
            if match:
                if match.group() not in seen:  # the same code again is no news
                    seen.add(match.group())
                    found.append((rank, order, _excerpt(line, match)))
                break
    return tuple(short for _, _, short in sorted(found)[:_MAX_ERROR_LINES])


def _excerpt(line: str, match: re.Match[str]) -> str:
    """``line`` without its timestamp and thread columns, cut short around ``match``."""
    start = 0
    stamp = _TIMESTAMP.match(line)
    if stamp and stamp.end() <= match.start():
        columns = _COLUMNS.match(line, stamp.end())
        start = min(columns.end() if columns else stamp.end(), match.start())
    if match.end() > start + _ERROR_LINE_CHARS:
        start = max(0, match.start() - _ERROR_LINE_CHARS // 3)
    short = _SPACES.sub(" ", line[start : start + _ERROR_LINE_CHARS]).strip()
    return short + "…" if len(line) > start + _ERROR_LINE_CHARS else short
