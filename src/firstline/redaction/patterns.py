"""The patterns :mod:`firstline.redaction` applies, one family per kind of secret.

Every quantifier that can meet a long run of input is bounded, so a hostile message cannot make a
pattern backtrack for long (``tests/security/test_secrets_corpus.py`` feeds them such input).
"""

from __future__ import annotations

import re

# -- shapes that are secrets wherever they appear -------------------------------------------------------------

PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----.*?"
    r"(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.S,
)
JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,4000}\.[A-Za-z0-9_-]{8,4000}\.[A-Za-z0-9_-]{8,4000}")
AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization\s{0,5}[:=]\s{0,5}[\"']?(?:bearer|basic|token|digest|apikey|ssws|sharedkey)\s{1,5})"
    r"[A-Za-z0-9._~+/=:-]{6,4000}"
)
BEARER = re.compile(r"(?i)\b(bearer\s{1,5})[A-Za-z0-9._~+/-]{16,4000}=*")
KEY_SHAPES = re.compile(
    r"\b(?:sk-(?:proj-|ant-|live-)?[A-Za-z0-9_-]{16,400}"
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,400}"
    r"|gh[pousr]_[A-Za-z0-9]{30,400}|github_pat_[A-Za-z0-9_]{30,400}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,400}|xapp-[A-Za-z0-9-]{10,400}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_-]{30,400}"
    r"|glpat-[A-Za-z0-9_-]{20,400}"
    r"|ya29\.[A-Za-z0-9_.-]{20,4000}"
    r"|npm_[A-Za-z0-9]{30,400}|hf_[A-Za-z0-9]{30,400}|pypi-[A-Za-z0-9_-]{30,400}"
    r"|SG\.[A-Za-z0-9_-]{16,400}\.[A-Za-z0-9_-]{16,400})"
)
SLACK_WEBHOOK = re.compile(r"(hooks\.slack\.com/services/[A-Z0-9]{6,20}/[A-Z0-9]{6,20}/)[A-Za-z0-9]{12,100}")
URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@]{0,100}:)([^\s@/]{1,200})(@)", re.I)
ORACLE_LOGIN = re.compile(r"(?i)(\b(?:sqlplus|sqlldr|expdp|impdp|rman|exp|imp)\s{1,5}[\w$#]{1,60}/)([^\s/@]{1,100})(@)")
NET_USE = re.compile(r"(?i)(\bnet\s+use\b[^\n]{0,200}?/user:\S{1,100}\s{1,5})([^\s/]{1,100})")
CURL_USER = re.compile(r"(\s-(?:u|-user)\s{1,5}[^\s:]{1,100}:)([^\s]{1,200})")
DASH_P = re.compile(
    r"(?i)(\b(?:mysql\w{0,10}|mariadb\w{0,10}|sshpass)\b[^\n]{0,100}?\s-p\s{0,3})(\"[^\"\n]{1,100}\"|'[^'\n]{1,100}'|\S{1,100})"
)
SECURE_STRING = re.compile(r"(?i)(ConvertTo-SecureString\s{1,5})(\"[^\"\n]{1,200}\"|'[^'\n]{1,200}')")
COOKIE = re.compile(r"(?im)^[ \t]{0,20}(?:set-)?cookie[ \t]{0,5}:[^\n]{1,8000}")
COOKIE_PAIR = re.compile(r"([\w.-]{1,100}=)[^;\s]{1,4000}")  # each name=value on a Cookie: line
RECOVERY_DIGITS = re.compile(r"\b\d{6}(?:\s{0,3}[- ]\s{0,3}\d{6}){7}\b")
RECOVERY_GROUPS = re.compile(r"\b[A-Z0-9]{2,8}(?:-[A-Z0-9]{4,8}){4,10}\b")
RECOVERY_LABELLED = re.compile(
    r"(?i)(\b(?:backup|recovery|emergency|scratch)\s{0,3}(?:codes?|keys?)\b[^\n:]{0,40}?[:\s]\s{0,5})"
    r"((?:(?=[A-Za-z-]{0,40}\d)[A-Za-z0-9]{4,40}(?:[- ][A-Za-z0-9]{4,8}){0,8}[,;\s]{0,5}){1,16})"
)
CARD = re.compile(r"(?<![\d.-])(?:\d[ \n-]?){12,18}\d(?![\d-])|(?<![\d.])\d{4}\.\d{4}\.\d{4}\.\d{1,7}(?![\d.])")
CVV = re.compile(
    r"(?i)\b(cvv2?|cvc2?|cv2|csc|cid|security code)(\s{0,3}(?:is|was|number|no\.?|code)?\s{0,3}[:=#]?\s{0,3})"
    r"(\d{3,4})\b"
)
AFTER_CARD = re.compile(r"(\[card\][^\n\d]{0,12}(?:\d{2}/\d{2,4}[^\n\d]{0,6})?)(?<![\d/])(\d{3,4})(?![\d/])")

# -- one-time codes --------------------------------------------------------------------------------------------

_DIGITS = r"(\d{3}[ -]?\d{3}|\d{7,8}|(?:\d ){5}\d)"
CODE_LABELLED = re.compile(
    r"(?i)(?<!error )(?<!exit )(?<!status )(?<!error: )(?<!reason )"
    r"(\b(?:code|otp|one[- ]time code|verification code|passcode|digits?|token showing|token says)\b"
    r"[^\d\n]{0,24}?)(?<![\w-])" + _DIGITS + r"(?![\w-])"
)
CODE_BEFORE_LABEL = re.compile(
    r"(?i)(?<![\w-])(?:[A-Z]-)?(\d{6,8})(?=\s{1,3}(?:is|as)\s{1,3}(?:your|the|my)?[\w ]{0,40}?\bcode\b)"
)
CODE_ALNUM = re.compile(r"(?i)(\bcode\s{1,3}(?:is|was|:)\s{1,3})([A-Z0-9]{3}-[A-Z0-9]{3,4})\b")
BARE_CODE = re.compile(r"(?<![\w-])(\d{3}[ -]?\d{3})(?![\w-])")

# -- a value after a label ("password: x", "set it to x", "DB_PASSWORD=x", '"access_token": "x"') -------------

LABEL = (
    r"(?:(?:new|old|current|temp(?:orary)?|wi-?fi|wifi|network|admin|root|db|database|vpn|account|login|"
    r"voicemail|vm)[ _-]?)?"
    r"(?:pass(?:w(?:o?r?d|prd|ord|rod|ard|d))|pasword|paswd|passwrd|psswd|pword|pwd|pw|p/w|pass|passcode|"
    r"pass[ -]?phrase|passwort|kennwort|contrase[ñn]a|senha|wachtwoord|has[łl]o|mot de passe|"
    r"pin(?: ?(?:code|number))?|secret(?:[ _-]?(?:access[ _-]?)?key)?|api[ _-]?key|access[ _-]?key|"
    r"client[ _-]?secret|auth[ _-]?token|access[ _-]?token|token|pat|personal access token|wi-?fi key|"
    r"network key|security key|wpa2? key|key content|psk)"
)
LINK = (
    r"(?:\"?\s{0,5}[:=]\s{0,5}|\s{1,5}(?:(?:is|was|are|were|will be|should be|to|as|now|set to|be|would be|of|"
    r"ist|est|es|é|è|to|jest|on the [\w ]{1,30}? is)\s{1,5}){1,2}(?:now\s{1,5})?|"
    r"[^.\n!?]{0,40}?\b(?:set|change|changed|reset|make|update|updated)\s{1,5}(?:it|this|that|them)?\s{0,5}"
    r"(?:to|as|into)\s{1,5}|"
    r"\s{1,5}(?:was|is)\s{0,5}:?\s{0,5}|\s{0,5}(?:->|=>)\s{0,5}|\s{1,5})"
)
VALUE = r"(\"[^\"\n]{1,80}\"|'[^'\n]{1,80}'|“[^”\n]{1,80}”|‘[^’\n]{1,80}’|`[^`\n]{1,80}`|[^\s\"'`,;]{1,200})"
LABELLED = re.compile(rf"(?i)(\b{LABEL}\b{LINK})(?=\S){VALUE}")
ONE_AND_OTHER = re.compile(
    rf"(?i)(\b(?:new|old|other|temporary|current) one\s{{1,5}}(?:is|was|will be|should be|=|:)\s{{1,5}}|"
    rf"\bone was\s{{1,5}}){VALUE}"
)
# key=value / "key": "value" where the key names a secret (checked by :func:`secret_name`).
KEY_NAME = re.compile(r"\b[A-Za-z][A-Za-z0-9_.-]{0,60}\"?\s{0,3}[:=]\s{0,3}\"?")
KEY_VALUE = re.compile(r"\"[^\"\n]{0,400}\"|'[^'\n]{0,400}'|[^\s;,&\"'}]{1,400}")
_SECRET_NAME = re.compile(
    r"(?i)(?:password|passwd|pwd|^pass$|secret|token|api_?key|access_?key|private_?key|accountkey|sharedaccesskey|"
    r"^sig$|^auth$|sessionid|^session$|credentials?|connection_?string)"
)
# A password said before its label ("X is my new password", "I typed X as password").
BEFORE_LABEL = re.compile(
    r"(?i)(?<!\S)([^\s\"'`]{4,100})(?=\s{1,3}(?:is|was|as)\s{1,3}(?:my|the|our)?\s{0,3}(?:new|old|current)?\s{0,3}"
    r"(?:password|passcode|pin)\b)"
)
NEAR_LABEL = re.compile(
    r"(?i)pass(?:word|wd|wort|phrase|code)?\b|passwd|pwd|psswd|p/w|\bpw\b|kennwort|contrase[ñn]a|\bsenha\b|"
    r"wachtwoord|has[łl]o|mot de passe|\bwpa2?\b|key content|wi-?fi key|network key"
)
# Tokens never taken for a password even next to the word: ticket numbers, hostnames, printers, versions, ...
SAFE_TOKEN = re.compile(
    r"(?i)^(?:(?:INC|REQ|RITM|CHG|PRB|KB)\d{3,10}|NW-?[A-Z]-?\d{4}|(?:LON|LDS)-F\d-[A-Z]{2}-\d{1,2}|0x[0-9a-f]{1,16}"
    r"|v?\d{1,5}(?:\.\d{1,6}){1,4}|\d{1,4}[/-]\d{1,2}[/-]\d{1,4}|\d{1,2}:\d{2}(?::\d{2})?(?:am|pm)?"
    r"|(?:office|microsoft|windows|win|ios|android|macos|teams|m)\d{1,4}|[\w.+-]{1,64}@[\w.-]{1,253}"
    r"|https?://\S+|www\.\S+|[a-z]:\\.*|\\\\.*|/[\w/.-]*|\[[a-z ]{1,20}\])$"
)
# What follows "password is ..." when no password is given.
NOT_VALUES = frozenset(
    """not no wrong incorrect invalid expired expiring locked blocked rejected refused failing broken working
    correct right fine ok okay same too very still being also definitely probably just a an the my your his her
    their our it this that these those and or but so because when if until since for in on at of with without
    about after before reset resetting changed changing required needed asked prompt prompts keeps stuck missing
    forgotten forgot lost unknown case sensitive long short weak strong new old different hidden saved stored
    typed entered ready done gone empty blank there here what which who whom whose how why where again
    please help thanks thank does doesn't isn't won't can't cannot never always sometimes anymore any
    one ones field box page screen window dialog policy rules requirements expiry change manager changer
    updated sent link email emails mail texted via by from reset expires history doesn't work works
    protected required manager's""".split()
)
TRAILING = ".,;:!?)]}>"
SPECIALS = set("!@#$%^&*_+=~?|()[]{}<>")


def secret_name(name: str) -> bool:
    """Whether a key or variable called ``name`` holds a secret (``DB_PASSWORD``, ``access_token``, ``sig``)."""
    return bool(_SECRET_NAME.search(name.strip("\"' ").rsplit(".", 1)[-1]))


_WORDY = re.compile(
    r"(?i)^(?:[a-z]{1,12}-\d{1,3}|\d{1,3}[-–][a-z]{1,12}|\d{1,4}(?:st|nd|rd|th|am|pm|gb|mb|tb|px|k)|[a-z]\d{1,2})$"
)


def made_up(token: str) -> bool:
    """Whether ``token`` looks like an invented secret: letters and digits (``abc12345``, ``Lantern#Sky4``), not
    a word with a number (``Tier-1``, ``6-digit``) or a known safe shape (tickets, hostnames, versions, ...)."""
    bare = token.strip("\"'`“”‘’*_()[]{}<>").rstrip(TRAILING)
    if not 6 <= len(bare) <= 1000 or SAFE_TOKEN.match(bare) or _WORDY.match(bare):
        return False
    letters = sum(c.isalpha() for c in bare)
    digits = sum(c.isdigit() for c in bare)
    specials = any(c in SPECIALS for c in bare[1:-1])
    return letters >= 1 and digits >= 1 and (digits >= 2 or specials or letters >= 3)
