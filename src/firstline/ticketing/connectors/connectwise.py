"""ConnectWise PSA (Manage) service tickets as a :class:`~firstline.ticketing.remote.TicketConnector`.

Firstline tickets become service tickets on one board (``board``, e.g. "Help Desk") for one customer
company (``company_identifier``), with the Firstline number in ``externalXRef``; the field mapping is the
table in :mod:`.connectwise_wire`. Every request goes through :class:`~.http.VendorHttp` with Basic auth
``company+publicKey:privateKey``, the ``clientId`` header and ``Accept: application/vnd.connectwise.com+json;
version=2025.1`` (the API version is a setting). Changes are JSON Patch (``PATCH /service/tickets/{id}``);
comments are ticket notes: ``detailDescriptionFlag`` for the discussion the requester sees,
``internalAnalysisFlag`` for internal notes and ``resolutionFlag`` for the resolution. A note is ``ours``
when its member is the integration's API member (``member``).

Writes that are not idempotent (a new ticket, a new note) are sent once per try: after a lost answer or
a 429 / 5xx the connector looks for what the try may have created (by ``externalXRef``, or the note's
text) before it tries again. Lists are read page by page (``page`` / ``pageSize``, the vendor's navigable
pagination) until a page comes back shorter than the first one or empty; :class:`~.http.VendorHttp` gives
the body only, so the ``Link`` header the API also sends is not read.

Callbacks (``/system/callbacks``) are verified the way ConnectWise signs them: ``x-content-signature``
is the base64 HMAC-SHA256 of the raw body keyed with the SHA-256 of a signing key, which the receiver
fetches from the payload's ``Metadata.key_url``. That URL arrives with the payload, so it is fetched only
from a trusted origin: the API's own, the same host without its ``api-`` prefix (``api-na.myconnectwise.net``
-> ``na.myconnectwise.net``) or one listed in ``callback_key_origins``. Nothing needs to be configured for
this; ConnectWise offers no shared secret.

No OpenAPI spec for ConnectWise is stored (``../shared/specs/README.md``: ``All.json`` was not obtainable).
The shapes come from the vendor documentation: the PSA OpenAPI 2025.1 as rendered in the generated client
docs at github.com/Jetbuilt/connect_wise (``Ticket.md``, ``ServiceNote.md``, ``PatchOperation.md``,
``ErrorResponseMessage.md``, ``TicketsApi.md``, ``TicketBundle.md``, ``Member.md``); developer.connectwise.com
"ClientID", "PSA API Requests" (429 with ``Retry-After``), "PSA Pagination", "Developer Guide" (auth,
``conditions`` syntax) and "PSA Callbacks" (copies under gitea.resolutionflow.com/chihlasm/resolutionflow,
docs/connectwise/); callback signing from the developer guide's Webhooks section as NangoHQ/nango PR #4950
cites and implements it (and the connectwise-rest package's ``verifyCallback``).

Not covered: unlinking a child ticket (no documented detach call; ``RemoteChange(parent="")`` is refused),
groups mapped to other boards (groups are teams of ``board``), attachments and time entries.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx

from firstline.errors import (
    AuthenticationError,
    BackendResponseError,
    ConfigError,
    FirstlineError,
    InputError,
    TicketNotFoundError,
)
from firstline.ticketing.connectors.connectwise_wire import (
    DEFAULT_FIELDS,
    callback_signature,
    new_ticket,
    parse_time,
    quoted,
    remote_comment,
    remote_ticket,
    stamp,
    state_of,
    ticket_ops,
)
from firstline.ticketing.models import Ticket, TicketState
from firstline.ticketing.remote import Check, FieldMap, RemoteChange, RemoteComment, RemoteRef, RemoteTicket
from firstline.vendors.http import BasicAuth, VendorHttp, VendorUnavailableError

__all__ = ["ConnectWiseConnector", "ConnectWiseOptions"]

ROLES = (
    "a security role with Service Desk > Service Tickets (Inquire, Add, Edit), Companies > Company "
    "Maintenance (Inquire) and System > Table Setup and Member Maintenance (Inquire)"
)
MAP = "[ticketing.connectwise.map.{}]"


@dataclass(frozen=True)
class ConnectWiseOptions:
    """Settings of ``[ticketing.connectwise]``; the keys and the client id come from the environment."""

    url: str
    """The API site, e.g. ``https://api-na.myconnectwise.net``; the codebase path is added."""
    company: str
    """The company id you log in with (the ``company`` in ``company+publicKey``)."""
    public_key: str = field(repr=False)
    private_key: str = field(repr=False)
    client_id: str
    board: str
    """The service board Firstline files tickets on, e.g. "Help Desk"."""
    company_identifier: str
    """The customer company the tickets are for (its identifier, e.g. "Fabrikam")."""
    member: str = "firstline"
    """The identifier of the API member the keys belong to (marks the notes Firstline wrote)."""
    fields: FieldMap = field(default_factory=lambda: DEFAULT_FIELDS)
    codebase: str = "v4_6_release"
    api_version: str = "2025.1"
    callback_key_origins: tuple[str, ...] = ()
    """Further origins (``https://host``) that may serve callback signing keys."""
    timeout_s: float = 10.0
    retries: int = 3
    credential_names: tuple[str, str, str] = (
        "FIRSTLINE_TICKETING__CONNECTWISE__PUBLIC_KEY",
        "FIRSTLINE_TICKETING__CONNECTWISE__PRIVATE_KEY",
        "FIRSTLINE_TICKETING__CONNECTWISE__CLIENT_ID",
    )

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"`ticketing.connectwise.url` is {self.url!r}: set it to your API site, "
                "e.g. https://api-na.myconnectwise.net."
            )
        for name in ("company", "board", "company_identifier", "member"):
            if not getattr(self, name).strip():
                raise ConfigError(f"`ticketing.connectwise.{name}` is empty: set it in firstline.toml.")
        for value, env in zip((self.public_key, self.private_key, self.client_id), self.credential_names, strict=True):
            if not value.strip():
                raise ConfigError(
                    f"The ConnectWise credential {env} is not set: export it (see the API member's keys)."
                )

    @property
    def api_root(self) -> str:
        """``https://api-na.myconnectwise.net/v4_6_release/apis/3.0``."""
        base = self.url.rstrip("/")
        return base if base.endswith("/apis/3.0") else f"{base}/{self.codebase}/apis/3.0"


class ConnectWiseConnector:
    """Service tickets in ConnectWise PSA; see the module docstring. Thread-safe."""

    system = "connectwise"

    def __init__(
        self,
        options: ConnectWiseOptions,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._options = options
        given = options.fields
        self._fields = FieldMap(
            groups=given.groups,
            categories=given.categories,
            priorities={**DEFAULT_FIELDS.priorities, **given.priorities},
            states={**DEFAULT_FIELDS.states, **given.states},
        )
        public, private, _ = options.credential_names
        auth = BasicAuth(
            f"{options.company}+{options.public_key}",
            options.private_key,
            names=f"{public} and {private}, company `ticketing.connectwise.company`",
        )
        headers = {
            "clientId": options.client_id,
            "Accept": f"application/vnd.connectwise.com+json; version={options.api_version}",
        }

        def client(retries: int) -> VendorHttp:
            return VendorHttp(
                "ConnectWise", options.api_root, auth, "ticketing.connectwise.url", roles=ROLES,
                timeout_s=options.timeout_s, retries=retries, headers=headers, transport=transport, sleep=sleep,
            )  # fmt: skip

        self._http = client(options.retries)
        self._once = client(0)  # POSTs: the connector checks what a failed try created before trying again
        self._sleep = sleep
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()
        site = urlsplit(options.url)
        self._origins = {
            f"{site.scheme}://{site.netloc}".lower(),
            f"{site.scheme}://{site.netloc.removeprefix('api-')}".lower(),
            *(origin.rstrip("/").lower() for origin in options.callback_key_origins),
        }
        self._ui = f"{site.scheme}://{site.netloc.removeprefix('api-')}/{options.codebase}"

    # -- reading -------------------------------------------------------------------------------------------
    def find(self, firstline_number: str) -> RemoteTicket | None:
        rows = self._list("/service/tickets", {"conditions": f"externalXRef={quoted(firstline_number)}"}, limit=1)
        return self._remote(rows[0]) if rows else None

    def get(self, number: str) -> RemoteTicket:
        if not number.strip().isdigit():
            raise TicketNotFoundError(number)
        return self._remote(self._ticket(number.strip()))

    def comments(self, ref: RemoteRef) -> list[RemoteComment]:
        notes = self._list(f"/service/tickets/{ref.key}/notes", {"orderBy": "id asc"}, not_found=ref.number)
        opening = next((n.get("id") for n in notes if n.get("detailDescriptionFlag")), None)  # the description
        found = [
            remote_comment(note, member=self._options.member)
            for note in notes
            if note.get("id") != opening and not note.get("resolutionFlag")
        ]
        return sorted(found, key=lambda c: (c.created_at, int(c.id) if c.id.isdigit() else 0))

    def changed_since(self, since: datetime, *, limit: int = 200) -> list[RemoteTicket]:
        if since.tzinfo is None:
            raise InputError("`since` has no time zone: pass an aware datetime, e.g. datetime.now(UTC).")
        company = quoted(self._options.company_identifier)
        after = ">" if since.microsecond == 0 else ">="  # ConnectWise keeps whole seconds
        params = {"conditions": f"lastUpdated {after} {stamp(since)} and company/identifier={company}",
                  "orderBy": "_info/lastUpdated asc"}  # fmt: skip
        tickets = [self._remote(row) for row in self._list("/service/tickets", params, limit=limit)]
        return sorted(tickets, key=lambda t: t.updated_at)

    # -- writing -------------------------------------------------------------------------------------------
    def create(self, ticket: Ticket) -> RemoteTicket:
        if (existing := self.find(ticket.number)) is not None:
            return existing
        options = self._options
        body = new_ticket(ticket, board=options.board, company=options.company_identifier, fields=self._fields)

        def created() -> Any:
            rows = self._list("/service/tickets", {"conditions": f"externalXRef={quoted(ticket.number)}"}, limit=1)
            return rows[0] if rows else None

        return self._remote(self._post_once("/service/tickets", body, created))

    def update(self, ref: RemoteRef, change: RemoteChange) -> RemoteTicket:
        if change.parent is not None and not change.parent.isdigit():
            raise InputError(
                f"`parent` is {change.parent!r}: give the parent's ConnectWise ticket number (e.g. 48210); "
                "ConnectWise has no API call to detach a child ticket, so do that in ConnectWise."
            )
        current = self._ticket(ref.key)
        owner = self._member(change.assigned_to) if change.assigned_to else change.assigned_to
        wrote = False
        note = (change.resolution_note or "").strip()
        if note and note != self._note(ref.key, "resolutionFlag", last=True):  # a retried change adds no second note
            self._add_note(ref, note, "resolutionFlag")
            wrote = True
        if change.description is not None:
            wrote = self._set_description(ref, change.description) or wrote
        if change.parent and str(current.get("parentTicketId") or "") != change.parent:
            path, body = f"/service/tickets/{change.parent}/attachChildren", {"childTicketIds": [int(ref.key)]}
            self._http.request("POST", path, json_body=body, not_found=change.parent)
            wrote = True
        ops = ticket_ops(current, change, fields=self._fields, owner=owner)
        if ops:
            current = self._http.request("PATCH", f"/service/tickets/{ref.key}", json_body=ops, not_found=ref.number)
        elif wrote:
            current = self._ticket(ref.key)
        return self._remote(current)

    def comment(self, ref: RemoteRef, body: str, *, public: bool) -> RemoteComment:
        note = self._add_note(ref, body, "detailDescriptionFlag" if public else "internalAnalysisFlag")
        return remote_comment(note, member=self._options.member)

    # -- callbacks -------------------------------------------------------------------------------------------
    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[str]:
        given = next((v for k, v in headers.items() if k.lower() == "x-content-signature"), "")
        try:
            payload = json.loads(body)
            key_url = str(payload["Metadata"]["key_url"])
        except (ValueError, KeyError, TypeError):
            raise AuthenticationError(
                "This is not a signed ConnectWise callback (no Metadata.key_url): ignore it."
            ) from None
        if not given:
            raise AuthenticationError("The ConnectWise callback has no x-content-signature header: ignore it.")
        parts = urlsplit(key_url)
        if f"{parts.scheme}://{parts.netloc}".lower() not in self._origins:
            raise AuthenticationError(
                f"The callback's signing key would come from {parts.scheme}://{parts.netloc}, which is not this "
                "ConnectWise site. If it is yours, add it to `ticketing.connectwise.callback_key_origins`."
            )
        if not hmac.compare_digest(callback_signature(self._signing_key(key_url), body), given.strip()):
            raise AuthenticationError("The ConnectWise callback's x-content-signature does not match: ignore it.")
        if str(payload.get("Type", "")).lower() != "ticket" or payload.get("ID") in (None, ""):
            return []
        return [str(payload["ID"])]

    def _signing_key(self, key_url: str) -> str:
        with self._lock:
            if key_url in self._keys:
                return self._keys[key_url]
        try:
            answer = self._http.request("GET", key_url)
        except InputError as exc:  # 400 / 404: an expired or made-up key URL
            raise AuthenticationError(f"ConnectWise did not serve the callback's signing key: {exc}") from exc
        key = answer.get("signing_key") if isinstance(answer, dict) else None
        if not key:
            raise BackendResponseError(f"ConnectWise answered {key_url} without `signing_key`.")
        with self._lock:
            if len(self._keys) > 256:
                self._keys.clear()
            self._keys[key_url] = str(key)
        return str(key)

    # -- check -------------------------------------------------------------------------------------------
    def check(self) -> Sequence[Check]:
        options = self._options
        public, private, client = options.credential_names
        checks: list[Check] = []

        def attempt(name: str, fix: str, run: Callable[[], Any]) -> Any:
            try:
                found = run()
            except Exception as exc:  # check() never raises: each failure becomes a line saying what to fix
                reason = str(exc) if isinstance(exc, FirstlineError | LookupError) else f"{type(exc).__name__}: {exc}"
                checks.append(Check(name, False, f"{reason} {fix}"))
                return None
            detail = found if isinstance(found, str) else str(found.get("name") or found.get("identifier") or "")
            checks.append(Check(name, True, detail))
            return found

        def info() -> str:
            found = self._http.request("GET", "/system/info")
            version = found.get("version", "?") if isinstance(found, dict) else "?"
            return f"ConnectWise {version} at {options.api_root}"

        fix = f"Check {public}, {private}, {client} and `ticketing.connectwise.url`."
        if attempt("credentials", fix, info) is None:
            return checks
        one = self._one
        attempt("integration member", "Set `ticketing.connectwise.member` to the API member's identifier.",
                partial(one, "/system/members", "identifier", options.member))  # fmt: skip
        attempt("company", "Set `ticketing.connectwise.company_identifier` to the customer's identifier.",
                partial(one, "/company/companies", "identifier", options.company_identifier))  # fmt: skip
        board = attempt("board", "Set `ticketing.connectwise.board` to a service board's name.",
                        partial(one, "/service/boards", "name", options.board))  # fmt: skip
        if board is not None:
            for table, kind in (("states", "statuses"), ("groups", "teams"), ("categories", "types")):
                fix = f"Fix the names under {MAP.format(table)} or add them to board {options.board!r}."
                attempt(f"board {kind}", fix, partial(self._mapped, f"/service/boards/{board['id']}/{kind}", table))
        attempt("priorities", f"Fix the names under {MAP.format('priorities')}.",
                partial(self._mapped, "/service/priorities", "priorities"))  # fmt: skip
        attempt("read tickets", f"Give the API member {ROLES}.",
                lambda: f"{len(self._list('/service/tickets', {}, limit=1))} ticket(s) readable")  # fmt: skip
        return checks

    def _one(self, path: str, key: str, value: str) -> dict[str, Any]:
        rows = self._list(path, {"conditions": f"{key}={quoted(value)}"}, limit=1)
        if not rows:
            raise LookupError(f"ConnectWise has no {path.rsplit('/', 1)[-1]} with {key} {value!r}.")
        return rows[0]

    def _mapped(self, path: str, table: str) -> str:
        names = {str(row.get("name", "")).casefold() for row in self._list(path, {})}
        wanted: Mapping[str, str] = getattr(self._fields, table)
        missing = sorted(f"{ours} = {theirs!r}" for ours, theirs in wanted.items() if theirs.casefold() not in names)
        if missing:
            raise LookupError(f"ConnectWise has no {', '.join(missing)} ({MAP.format(table)}).")
        return f"{len(wanted)} mapped, all found"

    def close(self) -> None:
        self._http.close()
        self._once.close()

    # -- plumbing -------------------------------------------------------------------------------------------
    def _ticket(self, key: str) -> dict[str, Any]:
        found = self._http.request("GET", f"/service/tickets/{key}", not_found=key)
        if not isinstance(found, dict):
            raise BackendResponseError(f"ConnectWise answered GET /service/tickets/{key} with {str(found)[:100]}.")
        return found

    def _remote(self, body: dict[str, Any]) -> RemoteTicket:
        key = str(body.get("id", ""))
        state = state_of(body, self._fields)
        resolved = state in (TicketState.RESOLVED, TicketState.CLOSED)
        return remote_ticket(
            body,
            description=self._note(key, "detailDescriptionFlag", last=False),
            resolution=self._note(key, "resolutionFlag", last=True) if resolved else "",
            fields=self._fields,
            url=f"{self._ui}/services/system_io/Service/fv_sr100_request.rails?service_recid={key}"
            f"&companyName={self._options.company}",
        )

    def _note(self, key: str, flag: str, *, last: bool) -> str:
        """The text of the first (or latest) note of ticket ``key`` with ``flag``, or ``""``."""
        params = {"conditions": f"{flag}=true", "orderBy": f"id {'desc' if last else 'asc'}", "pageSize": 1}
        rows = self._http.request("GET", f"/service/tickets/{key}/notes", params=params, not_found=key)
        return str(rows[0].get("text") or "").strip() if isinstance(rows, list) and rows else ""

    def _add_note(self, ref: RemoteRef, text: str, flag: str) -> dict[str, Any]:
        flags = {name: name == flag for name in ("detailDescriptionFlag", "internalAnalysisFlag")}
        flags |= {flag: True}
        started = datetime.now(UTC) - timedelta(seconds=5)

        def added() -> Any:
            params = {"conditions": f"{flag}=true", "orderBy": "id desc", "pageSize": 10}
            rows = self._http.request("GET", f"/service/tickets/{ref.key}/notes", params=params, not_found=ref.number)
            mine = (n for n in rows or [] if remote_comment(n, member=self._options.member).ours)
            return next(
                (n for n in mine if n.get("text") == text and parse_time(n.get("dateCreated"), "") >= started), None
            )

        return dict(self._post_once(f"/service/tickets/{ref.key}/notes", {"text": text, **flags}, added, ref.number))

    def _set_description(self, ref: RemoteRef, text: str) -> bool:
        params = {"conditions": "detailDescriptionFlag=true", "orderBy": "id asc", "pageSize": 1}
        rows = self._http.request("GET", f"/service/tickets/{ref.key}/notes", params=params, not_found=ref.number)
        if not rows:
            self._add_note(ref, text, "detailDescriptionFlag")
            return True
        if str(rows[0].get("text") or "").strip() == text.strip():
            return False
        ops = [{"op": "replace", "path": "text", "value": text}]
        self._http.request("PATCH", f"/service/tickets/{ref.key}/notes/{rows[0]['id']}", json_body=ops)
        return True

    def _member(self, person: str) -> str:
        """The identifier of the member ``person`` names (an identifier, or an e-mail address)."""
        if "@" not in person:
            return person
        rows = self._list("/system/members", {"conditions": f"primaryEmail={quoted(person)}"}, limit=1)
        if not rows:
            raise InputError(f"No ConnectWise member has the e-mail address {person!r}: assign by member identifier.")
        return str(rows[0]["identifier"])

    def _post_once(self, path: str, body: Any, created: Callable[[], Any], not_found: str | None = None) -> Any:
        """POST ``body`` without blind retries: after a failed try, ``created()`` finds what it may have made."""
        attempt = 0
        while True:
            try:
                return self._once.request("POST", path, json_body=body, not_found=not_found)
            except VendorUnavailableError as exc:
                if (found := created()) is not None:
                    return found
                if attempt >= self._options.retries:
                    raise
                wait = exc.retry_after_s if exc.retry_after_s is not None else 0.5 * 2**attempt
                self._sleep(min(wait, 30.0))
                attempt += 1

    def _list(
        self, path: str, params: dict[str, Any], *, limit: int | None = None, not_found: str | None = None
    ) -> list[dict[str, Any]]:
        """Every record of a list endpoint (up to ``limit``), page by page."""
        size, first = min(limit or 1000, 1000), 0
        found: list[dict[str, Any]] = []
        seen: set[Any] = set()
        for page in range(1, 100_000):
            rows = self._http.request(
                "GET", path, params={**params, "page": page, "pageSize": size}, not_found=not_found
            )
            if not isinstance(rows, list):
                raise BackendResponseError(f"ConnectWise answered GET {path} with {str(rows)[:100]} instead of a list.")
            found += [row for row in rows if isinstance(row, dict) and row.get("id") not in seen]
            seen |= {row.get("id") for row in rows if isinstance(row, dict)}
            first = first or len(rows)
            if (limit is not None and len(found) >= limit) or not rows or len(rows) < first:
                break
        return found[:limit] if limit is not None else found
