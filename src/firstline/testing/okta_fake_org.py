"""The state behind :class:`~firstline.testing.okta_fake.OktaFake`: an Okta org's users, factors, groups,
admin roles and System Log, filled from a demo organisation, plus Okta's search and filter language.

No HTTP here: :class:`FakeOktaOrg` holds Okta-shaped JSON (ids ``00u...``, times like
``2026-11-27T16:24:00.000Z``) and applies Okta's rules (the lockout policy, the password policy, the
events each change logs); :func:`parse` and :func:`holds` read ``search`` and System Log ``filter``
expressions (``eq sw co gt ge lt le pr``, ``and``, ``or``, parentheses; ``co`` on users only for
firstName, lastName, email and login). An expression Okta would refuse is a
:class:`~firstline.testing.loopback.ShapeViolation`.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from firstline.directory.models import OrgData
from firstline.directory.okta_records import okta_time
from firstline.testing.loopback import ShapeViolation

__all__ = ["COUNTRY_NAMES", "FakeOktaOrg", "OktaError", "holds", "parse", "path_values", "user_values"]

Json = dict[str, Any]
Node = tuple[Any, ...]
COUNTRY_NAMES = {
    "GB": "United Kingdom",
    "RU": "Russia",
    "VN": "Vietnam",
    "BR": "Brazil",
    "NG": "Nigeria",
    "CN": "China",
    "NL": "Netherlands",
}
FACTORS = {
    "authenticator_app": ("push", "OKTA", "opf"),
    "sms": ("sms", "OKTA", "mbl"),
    "phone_call": ("call", "OKTA", "clf"),
    "fido2_key": ("webauthn", "FIDO", "fwf"),
}
REASONS = {"bad_password": "INVALID_CREDENTIALS", "locked_out": "LOCKED_OUT", "mfa_denied": "INVALID_CREDENTIALS"}
CO_ALLOWED = {"profile.firstName", "profile.lastName", "profile.email", "profile.login"}
EPOCH = "2020-01-06T09:00:00.000Z"
_TOKEN = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|([^\s()"]+))')


class OktaError(Exception):
    """An answer with Okta's error body (``errorCode``, ``errorSummary``, ``errorCauses``...)."""

    def __init__(self, status: int, code: str, summary: str, *causes: str, headers: dict[str, str] | None = None):
        super().__init__(summary)
        self.status, self.headers = status, headers or {}
        self.body = {
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": "oae" + _rid(""),
            "errorCauses": [{"errorSummary": c} for c in causes],
        }


class FakeOktaOrg:
    """Users (and the integration's own admin user, ``admin_id``), their factors, groups, roles and the log."""

    def __init__(self, lockout_threshold: int) -> None:
        self.lockout_threshold = lockout_threshold
        self.users: dict[str, Json] = {}
        self.passwords: dict[str, str] = {}
        self.factors: dict[str, list[Json]] = {}
        self.groups: dict[str, Json] = {}
        self.members: dict[str, list[str]] = {}
        self.roles: dict[str, list[Json]] = {}
        self.events: list[Json] = []  # oldest first
        self.everyone = self.group("Everyone", "BUILT_IN")["id"]
        integration = {
            "login": "firstline.integration@example.com",
            "email": "firstline.integration@example.com",
            "firstName": "Firstline",
            "lastName": "Integration",
        }
        self.admin_id = self.new_user(integration, "ACTIVE")["id"]

    def find(self, key: str) -> Json:
        """The user whose id, login, samAccountName or employeeNumber is ``key`` (``KeyError`` if none)."""
        wanted = key.strip().lower()
        for user in self.users.values():
            p = user["profile"]
            names = (user["id"], p.get("login"), p.get("samAccountName"), p.get("employeeNumber"))
            if wanted in (str(n or "").lower() for n in names):
                return user
        raise KeyError(f"the fake holds no user {key!r}")

    def by_login(self, login: str) -> Json | None:
        """The user with this login or login short name (the part before ``@``), as Okta resolves them."""
        wanted = login.strip().lower()
        for user in self.users.values():
            full = str(user["profile"]["login"]).lower()
            if wanted in (full, full.split("@")[0]):
                return user
        return None

    def new_user(self, profile: Json, status: str, created: str = EPOCH) -> Json:
        user: Json = {
            "id": _rid("00u"),
            "status": status,
            "created": created,
            "activated": created,
            "statusChanged": created,
            "lastLogin": None,
            "lastUpdated": created,
            "passwordChanged": created,
            "type": {"id": "otyfirstline0000"},
            "profile": {k: v for k, v in profile.items() if v not in (None, "")},
            "credentials": {"password": {}, "provider": {"type": "OKTA", "name": "OKTA"}},
        }
        self.users[user["id"]], self.members[user["id"]] = user, [self.everyone]
        return user

    def group(self, name: str, kind: str = "OKTA_GROUP") -> Json:
        found = next((g for g in self.groups.values() if g["profile"]["name"] == name), None)
        if found is None:
            found = {
                "id": _rid("00g"),
                "created": EPOCH,
                "lastUpdated": EPOCH,
                "lastMembershipUpdated": EPOCH,
                "objectClass": ["okta:user_group"],
                "type": kind,
                "profile": {"name": name, "description": f"{name} group"},
            }
            self.groups[found["id"]] = found
        return found

    def add_role(self, user: Json, kind: str, label: str) -> None:
        self.roles.setdefault(user["id"], []).append(role(kind, label))

    def set_status(self, user: Json, status: str) -> None:
        user["status"], user["statusChanged"], user["lastUpdated"] = status, now_text(), now_text()

    def log(
        self,
        kind: str,
        actor: Json,
        *,
        at: datetime | None = None,
        result: str = "SUCCESS",
        reason: str = "",
        targets: Iterable[Json] = (),
        client: Json | None = None,
        device: str = "",
    ) -> Json:
        """Append a System Log event (``_at`` is its time, kept for filtering and left out of answers)."""
        when = at or datetime.now(UTC)
        event: Json = {
            "uuid": str(uuid.uuid4()),
            "published": okta_time(when),
            "eventType": kind,
            "version": "0",
            "severity": "INFO" if result == "SUCCESS" else "WARN",
            "displayMessage": kind,
            "actor": actor,
            "client": client or {"ipAddress": "127.0.0.1", "userAgent": {"browser": "UNKNOWN", "rawUserAgent": "Okta"}},
            "outcome": {"result": result, **({"reason": reason} if reason else {})},
            "target": list(targets),
            "transaction": {"type": "WEB", "id": secrets.token_urlsafe(12), "detail": {}},
            "_at": when.replace(microsecond=when.microsecond // 1000 * 1000),
        }
        if device:
            event["device"] = {"name": device}  # Identity Engine logs name the device
        self.events.append(event)
        self.events.sort(key=lambda e: e["_at"])
        return event

    def sign_in(
        self,
        user: Json,
        at: datetime,
        *,
        success: bool,
        ip: str,
        country: str,
        city: str,
        client: str,
        device: str = "",
        reason: str = "",
    ) -> Json:
        """Log a sign-in: an app in an ``AppInstance`` target, a browser as ``userAgent.browser``."""
        agent = {"browser": "CHROME" if client == "Browser" else "UNKNOWN", "os": "Windows 10", "rawUserAgent": client}
        app = {
            "id": "0oa" + re.sub(r"\W", "", client.lower())[:17],
            "type": "AppInstance",
            "alternateId": client,
            "displayName": client,
        }
        place = {"geographicalContext": {"city": city, "country": country}} if country or city else {}
        return self.log(
            "user.authentication.auth_via_mfa" if reason == "mfa_denied" else "user.session.start",
            actor(user),
            at=at,
            result="SUCCESS" if success else "FAILURE",
            reason=REASONS.get(reason, reason.upper()),
            targets=[] if client == "Browser" else [app],
            device=device,
            client={"ipAddress": ip, "userAgent": agent, "device": "Computer", **place},
        )

    def authenticate(self, login: str, password: str, agent: str) -> bool:
        """A primary authentication: logged, and a wrong password counts towards the lockout."""
        user = self.by_login(login)
        if user is None:
            return False
        client = {
            "ipAddress": "127.0.0.1",
            "device": "Computer",
            "userAgent": {"rawUserAgent": agent, "browser": "UNKNOWN"},
        }
        if user["status"] == "ACTIVE" and self.passwords.get(user["id"]) == password:
            self.log("user.session.start", actor(user), client=client)
            return True
        reason = "LOCKED_OUT" if user["status"] == "LOCKED_OUT" else "INVALID_CREDENTIALS"
        self.log("user.session.start", actor(user), result="FAILURE", reason=reason, client=client)
        if user["status"] in ("ACTIVE", "PASSWORD_EXPIRED") and self.failed(user["id"]) >= self.lockout_threshold:
            self.set_status(user, "LOCKED_OUT")
            self.log("user.account.lock", actor(user), targets=[actor(user)])
        return False

    def failed(self, uid: str) -> int:
        """Failed sign-ins since the last success or unlock, as Okta's lockout policy counts them."""
        count = 0
        for event in reversed(self.events):
            if event["eventType"].startswith("user.account.unlock") and uid in path_values(event, "target.id"):
                break
            if event["actor"]["id"] == uid and event["eventType"] == "user.session.start":
                if event["outcome"]["result"] == "SUCCESS":
                    break
                count += 1
        return count

    def check_password(self, user: Json, password: str) -> None:
        """Okta's default password policy: 8 characters, lower and upper case, a digit, no part of the username."""
        p = user["profile"]
        parts = [str(p.get(n, "")).lower() for n in ("firstName", "lastName")] + re.split(
            r"[.@]", str(p["login"]).lower()
        )
        weak = len(password) < 8 or password.lower() == password or password.upper() == password
        if weak or not re.search(r"\d", password) or any(len(x) >= 3 and x in password.lower() for x in parts):
            raise OktaError(
                400,
                "E0000001",
                "Api validation failed: password",
                "password: Password requirements were "
                "not met. Password requirements: at least 8 characters, a lowercase letter, an uppercase "
                "letter, a number, no parts of your username.",
            )

    def seed(self, org: OrgData, password: str) -> None:
        """One user per account of ``org`` (see :mod:`firstline.testing.okta_fake`), then its sign-in log."""
        people = {p.id: p for p in org.people}
        for account in org.accounts:
            person = people[account.person]
            first, _, last = person.name.partition(" ")
            status = (
                ("DEPROVISIONED" if not person.is_current else "SUSPENDED")
                if not account.enabled
                else ("LOCKED_OUT" if account.locked else "PASSWORD_EXPIRED" if account.password_expired else "ACTIVE")
            )
            profile = {
                "login": person.email,
                "email": person.email,
                "firstName": first,
                "lastName": last or first,
                "displayName": person.name,
                "employeeNumber": person.id,
                "department": person.department,
                "title": person.title,
                "managerId": person.manager,
                "city": person.location.title(),
                "mobilePhone": person.phone_mobile,
                "samAccountName": account.username,
                "userType": "Employee",
                "floor": person.floor,
                "vip": person.vip or None,
                "employment": person.employment,
                "startDate": str(person.start_date or "") or None,
                "leavingDate": str(person.leaving_date or "") or None,
            }
            user = self.new_user(profile, status, f"{person.start_date or EPOCH[:10]}T09:00:00.000Z")
            changed = account.password_last_set
            user["passwordChanged"] = f"{changed}T09:00:00.000Z" if changed else None
            self.passwords[user["id"]] = password
            self.members[user["id"]] += [self.group(name)["id"] for name in account.groups]
            self.factors[user["id"]] = [factor(f.type, f.registered, f.device) for f in account.mfa_factors]
            if account.admin_account:
                self.add_role(user, "HELP_DESK_ADMIN", "Help Desk Administrator")
        for s in org.sign_ins:
            self.sign_in(
                self.find(s.person),
                s.at,
                success=s.success,
                ip=s.ip,
                city=s.city,
                client=s.client,
                country=COUNTRY_NAMES.get(s.country, s.country),
                device=s.device,
                reason=s.reason,
            )
        newest = max((s.at for s in org.sign_ins), default=datetime.now(UTC) - timedelta(hours=1))
        for account in org.accounts:  # failures the log lacks, so that it agrees with the seeded counts
            user = self.find(account.person)
            mine = [e["_at"] for e in self.events if e["actor"]["id"] == user["id"]]
            for n in range(1, account.failed_attempts - self.failed(user["id"]) + 1):
                self.sign_in(
                    user,
                    max(mine, default=newest - timedelta(days=1)) + timedelta(minutes=n),
                    success=False,
                    ip="198.51.100.23",
                    country="United Kingdom",
                    city="London",
                    client="Browser",
                    reason="bad_password",
                )
            if user["status"] == "LOCKED_OUT":
                user["statusChanged"] = okta_time(max(mine, default=newest))


def now_text() -> str:
    return okta_time(datetime.now(UTC))


def actor(user: Json) -> Json:
    """A user as a System Log actor or target."""
    p = user["profile"]
    name = p.get("displayName") or f"{p.get('firstName', '')} {p.get('lastName', '')}".strip()
    return {"id": user["id"], "type": "User", "alternateId": str(p.get("login", "")), "displayName": name}


def role(kind: str, label: str) -> Json:
    """A standard admin role assigned to a user."""
    return {
        "id": _rid("ra1"),
        "label": label,
        "type": kind,
        "status": "ACTIVE",
        "created": EPOCH,
        "lastUpdated": EPOCH,
        "assignmentType": "USER",
    }


def factor(kind: str, registered: object, device: str) -> Json:
    """An enrolled factor for a demo MFA method; SMS and call numbers in E.164 (``+447700900571``)."""
    factor_type, provider, prefix = FACTORS.get(kind, ("token:software:totp", "OKTA", "uft"))
    profile: dict[str, str] = {"name": device, "platform": "IOS"} if factor_type == "push" else {"credentialId": device}
    if factor_type in ("sms", "call"):
        number = re.match(r"[+\d][\d ]{8,}", device)
        digits = re.sub(r"\D", "", number.group(0) if number else "")
        profile = {"phoneNumber": "+44" + digits[1:] if digits.startswith("0") else f"+{digits or '447700900000'}"}
    elif factor_type == "webauthn":
        profile = {"authenticatorName": device, "credentialId": secrets.token_urlsafe(16)}
    created = f"{registered or '2024-01-01'}T09:00:00.000Z"
    return {
        "id": _rid(prefix),
        "factorType": factor_type,
        "provider": provider,
        "vendorName": provider,
        "status": "ACTIVE",
        "created": created,
        "lastUpdated": created,
        "profile": profile,
    }


def parse(text: str, *, users: bool) -> Node:
    """A ``search`` (``users``) or System Log ``filter`` expression as a tree; a violation where Okta refuses it."""
    tokens = _tokens(text)

    def joined(word: str, part: Callable[[], Node]) -> Node:
        items = [part()]
        while tokens and tokens[0][0] == "word" and tokens[0][1].lower() == word:
            tokens.pop(0)
            items.append(part())
        return (word, items) if len(items) > 1 else items[0]

    def atom() -> Node:
        if not tokens:
            raise ShapeViolation(f"the expression {text!r} ends too early")
        kind, value = tokens.pop(0)
        if kind == "(":
            node = joined("or", lambda: joined("and", atom))
            if not tokens or tokens.pop(0)[0] != ")":
                raise ShapeViolation(f"unbalanced parentheses in {text!r}")
            return node
        if kind != "word" or not tokens or tokens[0][0] != "word":
            raise ShapeViolation(f"expected `attribute operator value` in {text!r}")
        op = tokens.pop(0)[1].lower()
        if op == "pr":
            return ("pr", value)
        if op not in ("eq", "sw", "co", "gt", "ge", "lt", "le") or not tokens or tokens[0][0] not in ("str", "word"):
            raise ShapeViolation(f"operator {op!r} (or its value) is not supported in {text!r}")
        if users and op == "co" and value not in CO_ALLOWED:
            raise ShapeViolation(f"Okta allows `co` only on {sorted(CO_ALLOWED)}, not {value} ({text!r})")
        return ("cmp", value, op, tokens.pop(0)[1])

    node = joined("or", lambda: joined("and", atom))
    if tokens:
        raise ShapeViolation(f"unexpected {tokens[0][1]!r} in {text!r}")
    return node


def holds(node: Node, values: Callable[[str], list[str]]) -> bool:
    """Whether ``node`` holds for an item whose attribute values ``values`` gives (strings compare ignoring case)."""
    if node[0] in ("or", "and"):
        results = (holds(child, values) for child in node[1])
        return any(results) if node[0] == "or" else all(results)
    if node[0] == "pr":
        return bool(values(node[1]))
    _, attribute, op, want = node
    tests: dict[str, Callable[[str, str], bool]] = {
        "eq": str.__eq__,
        "sw": str.startswith,
        "co": str.__contains__,
        "gt": str.__gt__,
        "ge": str.__ge__,
        "lt": str.__lt__,
        "le": str.__le__,
    }
    return any(tests[op](have.lower(), want.lower()) for have in values(attribute))


def user_values(user: Json, attribute: str) -> list[str]:
    """The values of a searchable user attribute (``profile.*``, ``status``, ``id``, ``type.id``...)."""
    if attribute.startswith("profile."):
        value = user["profile"].get(attribute.removeprefix("profile."))
        return [] if value is None else [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if attribute in ("id", "status", "created", "activated", "statusChanged", "lastUpdated", "type.id"):
        return path_values(user, attribute)
    raise ShapeViolation(f"users cannot be searched by {attribute!r}")


def path_values(item: Any, path: str) -> list[str]:
    """The values at a dotted ``path`` (``target.id``), through lists."""
    found = [item]
    for name in path.split("."):
        step = [x.get(name) for x in found if isinstance(x, dict)]
        found = [y for x in step for y in (x if isinstance(x, list) else [x]) if y is not None]
    return [str(x) for x in found]


def _tokens(text: str) -> list[tuple[str, str]]:
    found, at = [], 0
    while at < len(text.rstrip()):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise ShapeViolation(f"cannot read the expression {text!r} at {text[at:]!r}")
        opening, closing, string, word = match.groups()
        if opening or closing:
            found.append((opening or closing, opening or closing))
        else:
            found.append(("str", re.sub(r"\\(.)", r"\1", string)) if string is not None else ("word", word))
        at = match.end()
    return found


def _rid(prefix: str) -> str:
    return prefix + secrets.token_hex(9)[:17]
