"""LegacyDesk: a deliberately old-fashioned ticket web app ("HelpDesk 2003") for the webform connector's tests.

Server-rendered HTML on 127.0.0.1, no JavaScript: a login form with a session cookie, a frameset
(menu on the left, work on the right), a "New call" form whose confirmation page says
``Call logged: CALL-000123``, a call page with its notes (public or internal), an update form (status,
owner, assignment group, urgency, impact, category, parent call, resolution, a note), a search by
reference or call number, and a paged list of calls updated since a time. Sessions expire
after ``session_timeout_s`` idle seconds and the app sends you back to the login page.

Test controls, like the vendor fakes: :meth:`count`, :meth:`staff_change`, :meth:`staff_comment`,
:meth:`fail_next` (an HTTP 500 page), :meth:`expire_sessions_after`, :meth:`relabel` (the forms get
new labels, ids and buttons, as after an upgrade: the form map no longer fits) and ``seen`` (every
request). :data:`FORM_MAP` is the form map that drives it (``legacy_desk.toml`` beside this file)::

    with LegacyDesk() as desk:
        connector = WebformConnector(WebformOptions(desk.url, desk.user, desk.password, FORM_MAP))
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from firstline.testing.loopback import Request
from firstline.ticketing.models import TicketState
from firstline.ticketing.sla import Impact, Urgency, priority_for

__all__ = ["FORM_MAP", "LegacyDesk"]

FORM_MAP = Path(__file__).with_name("legacy_desk.toml")
"""The form map that drives LegacyDesk (``load_form_map(FORM_MAP)``)."""

STATUSES = {
    TicketState.NEW: "Open", TicketState.IN_PROGRESS: "In progress", TicketState.ON_HOLD: "On hold",
    TicketState.RESOLVED: "Resolved", TicketState.CLOSED: "Closed", TicketState.CANCELED: "Cancelled",
}  # fmt: skip
URGENCIES = {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"}
IMPACTS = {"1": "1 - Many people", "2": "2 - A team", "3": "3 - One person"}
CATEGORIES = ("Network", "Hardware", "Software", "Access", "E-mail", "Other")
TIME = "%Y-%m-%d %H:%M:%S"
# field name -> (label, id) as shipped, and after relabel()
NEW_CALL = {
    "caller": (("Caller e-mail", "f_caller"), ("Contact address", "x1")),
    "summary": (("Summary", "f_summary"), ("Short description of the fault", "x2")),
    "details": (("Details", "f_details"), ("Full description", "x3")),
    "urgency": (("Urgency", "f_urgency"), ("How urgent is it?", "x4")),
    "impact": (("Impact", "f_impact"), ("Who is affected?", "x5")),
    "category": (("Category", "f_category"), ("Type of problem", "x6")),
    "reference": (("Reference", "f_ref"), ("External ticket ID", "x7")),
    "group": (("Assignment group", "f_group"), ("Resolver group", "x8")),
}
UPDATE = {
    "status": (("Status", "u_status"), ("Call state", "y1")),
    "assignee": (("Assign to", "u_assignee"), ("Owner", "y2")),
    "group": (("Assignment group", "u_group"), ("Resolver group", "y6")),
    "urgency": (("Urgency", "u_urgency"), ("How urgent is it?", "y7")),
    "impact": (("Impact", "u_impact"), ("Who is affected?", "y8")),
    "category": (("Category", "u_category"), ("Type of problem", "y9")),
    "parent": (("Parent call", "u_parent"), ("Part of call", "y10")),
    "resolution": (("Resolution", "u_resolution"), ("Fix applied", "y3")),
    "note": (("Add note", "u_note"), ("New remark", "y4")),
    "internal": (("Internal note (not shown to caller)", "u_internal"), ("Hide from caller", "y5")),
}
STYLE = (
    "body{font:12px Verdana,Arial,sans-serif;background:#ece9d8;margin:8px}h2{font-size:15px;color:#003399}"
    "table.grid{border-collapse:collapse;background:#fff}table.grid td,table.grid th{border:1px solid #999;"
    "padding:2px 6px;text-align:left}caption{font-weight:bold;text-align:left}.error{color:#c00;font-weight:bold}"
    ".ok{color:#060;font-weight:bold}td.note{white-space:pre-wrap}"
)


@dataclass
class Note:
    no: int
    at: datetime
    author: str
    body: str
    public: bool


@dataclass
class Call:
    number: str
    reference: str
    caller: str
    summary: str
    details: str
    urgency: str
    impact: str
    category: str
    updated: datetime
    status: str = "Open"
    assignee: str = ""
    group: str = ""
    parent: str = ""  # the call this one is part of (its number), as a person would type it
    resolution: str = ""
    notes: list[Note] = field(default_factory=list)

    def priority(self) -> str:
        return priority_for(Impact(int(self.impact)), Urgency(int(self.urgency))).label


Reply = tuple[int, str, dict[str, str]]
NO_SUCH_CALL: Reply = 404, "<html><body><h2>No such call</h2></body></html>", {}


@dataclass
class LegacyDesk:
    """The app on a free port of 127.0.0.1; a context manager. ``user``/``password`` is the integration account."""

    user: str = "firstline"
    password: str = "Winter2003!"
    session_timeout_s: float = 600.0
    page_size: int = 10
    staff: str = "j.bloggs"
    seen: list[Request] = field(default_factory=list)
    logins: int = 0
    calls: dict[str, Call] = field(default_factory=dict)
    _sessions: dict[str, tuple[str, float]] = field(default_factory=dict)
    _fail: tuple[int, int] = (0, 500)
    _expire_after: int | None = None
    _relabelled: bool = False
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # --- test controls -------------------------------------------------------------------------------
    def count(self) -> int:
        with self._lock:
            return len(self.calls)

    def staff_change(self, number: str, *, state: TicketState | None = None, assigned_to: str | None = None) -> None:
        """Change a call as a person at the desk would (not as the integration user)."""
        with self._lock:
            call = self.calls[number]
            call.status = STATUSES[state] if state else call.status
            call.assignee = assigned_to if assigned_to is not None else call.assignee
            call.updated = datetime.now(UTC)

    def staff_comment(self, number: str, body: str, *, public: bool = True) -> None:
        with self._lock:
            self._add_note(self.calls[number], self.staff, body, public)

    def fail_next(self, status: int = 500, *, times: int = 1) -> None:
        """Answer the next ``times`` requests with an error page of ``status``."""
        with self._lock:
            self._fail = (times, status)

    def expire_sessions_after(self, requests: int | None) -> None:
        """Expire every session after ``requests`` more signed-in requests (a timeout mid-run); ``None``: never."""
        with self._lock:
            self._expire_after = requests

    def relabel(self, on: bool = True) -> None:
        """Give the New call and Update forms new labels, ids and buttons, as an upgrade would."""
        with self._lock:
            self._relabelled = on

    def by_reference(self, reference: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls.values() if c.reference == reference]

    # --- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> LegacyDesk:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.desk = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- the app -------------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Reply:
        with self._lock:
            self.seen.append(Request(method, target, headers, raw))
            times, status = self._fail
            if times:
                self._fail = (times - 1, status)
                return (
                    status,
                    _page("Server Error", f"<h2>Server Error in '/' Application.</h2><p>HTTP {status}</p>"),
                    {},
                )
            url = urlsplit(target)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
            if url.path == "/login":
                return self._login(method, form, query)
            if url.path == "/logout":
                self._sessions.pop(_cookie(headers), None)
                return _redirect("/login")
            user = self._session(_cookie(headers))
            if user is None:
                return _redirect("/login?expired=1" if _cookie(headers) else "/login")
            route = getattr(self, f"_{method.lower()}_{url.path.strip('/').replace('/', '_') or 'root'}", None)
            if route is None:
                return 404, _page("Not found", "<h2>404 - page not found</h2>"), {}
            reply: Reply = route(user, query | form)
            return reply

    def _session(self, token: str) -> str | None:
        now = time.monotonic()
        entry = self._sessions.get(token)
        if entry is None or now - entry[1] > self.session_timeout_s:
            self._sessions.pop(token, None)
            return None
        if self._expire_after is not None:
            self._expire_after -= 1
            if self._expire_after < 0:
                self._expire_after = None
                self._sessions.clear()
                return None
        self._sessions[token] = (entry[0], now)
        return entry[0]

    def _login(self, method: str, form: dict[str, str], query: dict[str, str]) -> Reply:
        message = ""
        if method == "POST":
            accounts = {self.user: self.password, self.staff: "staff"}
            if accounts.get(form.get("username", "")) == form.get("password") and form.get("username"):
                token = secrets.token_hex(16)
                self._sessions[token] = (form["username"], time.monotonic())
                self.logins += 1
                return 302, "", {"Location": "/desk", "Set-Cookie": f"DESKSESSION={token}; Path=/; HttpOnly"}
            message = '<p class="error">Invalid user name or password.</p>'
        elif query.get("expired"):
            message = '<p class="error">Your session has expired. Please log in again.</p>'
        body = (
            f'<h2>HelpDesk 2003 - Log in</h2>{message}<form method="post" action="/login"><table>'
            '<tr><td><label for="l_user">User name</label></td><td><input type="text" id="l_user" name="username">'
            '</td></tr><tr><td><label for="l_pass">Password</label></td><td><input type="password" id="l_pass" '
            'name="password"></td></tr><tr><td></td><td><input type="submit" value="Log in"></td></tr></table></form>'
        )
        return 200, _page("Log in", body), {}

    def _get_root(self, user: str, args: dict[str, str]) -> Reply:
        return _redirect("/desk")

    def _get_desk(self, user: str, args: dict[str, str]) -> Reply:
        body = (
            '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Frameset//EN"><html><head><title>HelpDesk 2003</title>'
            '</head><frameset cols="190,*"><frame name="nav" src="/nav"><frame name="main" src="/welcome">'
            "<noframes>This application needs a browser with frames.</noframes></frameset></html>"
        )
        return 200, body, {}

    def _get_nav(self, user: str, args: dict[str, str]) -> Reply:
        links = [("/call/new", "New call"), ("/search", "Find call"), ("/since", "Calls updated since")]
        items = "".join(f'<a href="{href}" target="main">{text}</a><br>' for href, text in links)
        body = f"<b>HelpDesk 2003</b><br>Logged in as {_e(user)}<hr>{items}<hr>"
        return 200, _page("Menu", body + '<a href="/logout" target="_top">Log out</a>'), {}

    def _get_welcome(self, user: str, args: dict[str, str]) -> Reply:
        return 200, _page("Welcome", f"<h2>Welcome, {_e(user)}</h2><p>{self.count()} calls on file.</p>"), {}

    def _get_call_new(self, user: str, args: dict[str, str], error: str = "") -> Reply:
        labels = {name: pair[int(self._relabelled)] for name, pair in NEW_CALL.items()}
        rows = [
            _row(labels["caller"], "caller", args.get("caller", "")),
            _row(labels["summary"], "summary", args.get("summary", "")),
            _row(labels["details"], "details", args.get("details", ""), area=True),
            _row(labels["urgency"], "urgency", args.get("urgency", "3"), URGENCIES),
            _row(labels["impact"], "impact", args.get("impact", "3"), IMPACTS),
            _row(labels["category"], "category", args.get("category", "Other"), {c: c for c in CATEGORIES}),
            _row(labels["reference"], "reference", args.get("reference", "")),
            _row(labels["group"], "group", args.get("group", "")),
        ]
        button = "Submit call" if self._relabelled else "Log call"
        body = (
            f'<h2>Log a new call</h2>{error}<form method="post" action="/call/new"><table>{"".join(rows)}'
            f'<tr><td></td><td><input type="submit" value="{button}"></td></tr></table></form>'
        )
        return 200, _page("New call", body), {}

    def _post_call_new(self, user: str, args: dict[str, str]) -> Reply:
        missing = [NEW_CALL[k][0][0] for k in ("caller", "summary") if not args.get(k, "").strip()]
        if missing:
            return self._get_call_new(user, args, f'<p class="error">Please fill in: {", ".join(missing)}</p>')
        number = f"CALL-{len(self.calls) + 1:06d}"
        self.calls[number] = Call(
            number, args.get("reference", "").strip(), args["caller"].strip(), args["summary"].strip(),
            args.get("details", ""), args.get("urgency", "3"), args.get("impact", "3"),
            args.get("category", "Other"), datetime.now(UTC), group=args.get("group", "").strip(),
        )  # fmt: skip
        body = (
            f'<h2>Thank you</h2><p class="ok">Call logged: <b>{number}</b></p>'
            f'<p><a href="/call/view?no={number}">View call</a></p>'
        )
        return 200, _page("Call logged", body), {}

    def _get_call_view(self, user: str, args: dict[str, str]) -> Reply:
        if (call := self.calls.get(args.get("no", "").strip().upper())) is None:
            return NO_SUCH_CALL
        rows = [
            ("Call number", call.number), ("Reference", call.reference), ("Status", call.status),
            ("Assigned to", call.assignee), ("Assignment group", call.group), ("Parent call", call.parent),
            ("Caller", call.caller), ("Summary", call.summary),
            ("Details", call.details), ("Urgency", URGENCIES[call.urgency]), ("Impact", IMPACTS[call.impact]),
            ("Priority", call.priority()), ("Category", call.category), ("Resolution", call.resolution),
            ("Last updated", call.updated.strftime(TIME)),
        ]  # fmt: skip
        grid = "".join(f'<tr><th>{label}</th><td class="note">{_e(value)}</td></tr>' for label, value in rows)
        notes = "".join(
            f"<tr><td>{n.no}</td><td>{n.at.strftime(TIME)}</td><td>{_e(n.author)}</td>"
            f'<td>{"Public" if n.public else "Internal"}</td><td class="note">{_e(n.body)}</td></tr>'
            for n in call.notes
        )
        saved = f'<p class="ok">Call {call.number} updated.</p>' if args.get("saved") else ""
        body = (
            f'<h2>Call {call.number}</h2>{saved}<table class="grid">{grid}</table>'
            f'<p><a href="/call/edit?no={call.number}">Update this call</a></p><table class="grid"><caption>Notes'
            "</caption><tr><th>No.</th><th>Date</th><th>Author</th><th>Visibility</th><th>Note</th></tr>"
            f"{notes}</table>"
        )
        return 200, _page(f"Call {call.number}", body), {}

    def _get_call_edit(self, user: str, args: dict[str, str]) -> Reply:
        if (call := self.calls.get(args.get("no", "").strip().upper())) is None:
            return NO_SUCH_CALL
        labels = {name: pair[int(self._relabelled)] for name, pair in UPDATE.items()}
        label, ident = labels["internal"]
        rows = [
            _row(labels["status"], "status", call.status, {s: s for s in STATUSES.values()}),
            _row(labels["assignee"], "assignee", call.assignee),
            _row(labels["group"], "group", call.group),
            _row(labels["urgency"], "urgency", call.urgency, URGENCIES),
            _row(labels["impact"], "impact", call.impact, IMPACTS),
            _row(labels["category"], "category", call.category, {c: c for c in CATEGORIES}),
            _row(labels["parent"], "parent", call.parent),
            _row(labels["resolution"], "resolution", call.resolution, area=True),
            _row(labels["note"], "note", "", area=True),
            f'<tr><td></td><td><input type="checkbox" id="{ident}" name="internal" value="on">'
            f'<label for="{ident}">{label}</label></td></tr>',
        ]
        button = "Apply changes" if self._relabelled else "Save"
        body = (
            f'<h2>Update call {call.number}</h2><form method="post" action="/call/edit"><input type="hidden" '
            f'name="no" value="{call.number}"><table>{"".join(rows)}<tr><td></td><td><input type="submit" '
            f'value="{button}"></td></tr></table></form>'
        )
        return 200, _page(f"Update {call.number}", body), {}

    def _post_call_edit(self, user: str, args: dict[str, str]) -> Reply:
        if (call := self.calls.get(args.get("no", "").strip().upper())) is None:
            return NO_SUCH_CALL
        changed = False
        lists = {"status": set(STATUSES.values()), "urgency": set(URGENCIES), "impact": set(IMPACTS),
                 "category": set(CATEGORIES)}  # fmt: skip
        for name in ("status", "assignee", "group", "urgency", "impact", "category", "parent", "resolution"):
            value = args.get(name, "").strip().upper() if name == "parent" else args.get(name, "").strip()
            if name in args and value != getattr(call, name) and (name not in lists or value in lists[name]):
                setattr(call, name, value)
                changed = True
        if args.get("note", "").strip():
            self._add_note(call, user, args["note"].strip(), public=args.get("internal") != "on")
        elif changed:
            call.updated = datetime.now(UTC)
        return 303, "", {"Location": f"/call/view?no={call.number}&saved=1"}

    def _get_search(self, user: str, args: dict[str, str]) -> Reply:
        q = args.get("q", "").strip()
        found = [c for c in self.calls.values() if q and (c.number == q.upper() or c.reference == q)]
        form = (
            '<h2>Find a call</h2><form method="get" action="/search"><label for="s_q">Reference or call number'
            f'</label> <input type="text" id="s_q" name="q" value="{_e(q)}"> <input type="submit" value="Find"></form>'
        )
        return 200, _page("Find call", form + (_results("Search results", found) if q else "")), {}

    def _get_since(self, user: str, args: dict[str, str]) -> Reply:
        text, page = args.get("since", "").strip(), max(1, int(args.get("page", "1") or 1))
        form = (
            '<h2>Calls updated since</h2><form method="get" action="/since"><label for="t_since">Updated since'
            f'</label> <input type="text" id="t_since" name="since" value="{_e(text)}"> (YYYY-MM-DD HH:MM:SS, UTC) '
            '<input type="submit" value="List"></form>'
        )
        if not text:
            return 200, _page("Calls updated since", form), {}
        try:
            since = datetime.strptime(text, TIME).replace(tzinfo=UTC)
        except ValueError:
            return 200, _page("Calls updated since", form + '<p class="error">Enter the time as shown.</p>'), {}
        calls = sorted((c for c in self.calls.values() if c.updated >= since), key=lambda c: (c.updated, c.number))
        shown = calls[(page - 1) * self.page_size : page * self.page_size]
        more = ""
        if len(calls) > page * self.page_size:
            more = f'<p><a href="/since?{urlencode({"since": text, "page": page + 1})}">Next page</a></p>'
        return 200, _page("Calls updated since", form + _results("Calls", shown) + more), {}

    def _add_note(self, call: Call, author: str, body: str, public: bool) -> None:
        now = datetime.now(UTC)
        call.notes.append(Note(len(call.notes) + 1, now, author, body, public))
        call.updated = now


class _Handler(BaseHTTPRequestHandler):
    def _handle(self) -> None:
        desk: LegacyDesk = self.server.desk  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        status, body, headers = desk.handle(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, raw
        )
        data = body.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = _handle
    do_POST = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _cookie(headers: dict[str, str]) -> str:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "DESKSESSION":
            return value
    return ""


def _redirect(location: str) -> Reply:
    return 302, "", {"Location": location}


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN"><html><head><meta http-equiv="Content-Type" '
        f'content="text/html; charset=utf-8"><title>HelpDesk 2003 - {_e(title)}</title><style>{STYLE}</style>'
        f"</head><body>{body}</body></html>"
    )


def _row(
    label_id: tuple[str, str], name: str, value: str, options: dict[str, str] | None = None, area: bool = False
) -> str:
    """A labelled text field, text area (``area``) or drop-down list (``options``: value -> text) in a form table."""
    label, ident = label_id
    attrs = f'id="{ident}" name="{name}"'
    if options is not None:
        items = "".join(
            f'<option value="{_e(v)}"{" selected" * (v == value)}>{_e(t)}</option>' for v, t in options.items()
        )
        control = f"<select {attrs}>{items}</select>"
    elif area:
        control = f'<textarea {attrs} rows="4" cols="50">{_e(value)}</textarea>'
    else:
        control = f'<input type="text" {attrs} size="50" value="{_e(value)}">'
    return f'<tr><td><label for="{ident}">{label}</label></td><td>{control}</td></tr>'


def _results(caption: str, calls: list[Call]) -> str:
    head = "<tr><th>Call number</th><th>Reference</th><th>Summary</th><th>Status</th><th>Last updated</th></tr>"
    rows = "".join(
        f'<tr><td><a href="/call/view?no={quote(c.number)}">{c.number}</a></td><td>{_e(c.reference)}</td>'
        f"<td>{_e(c.summary)}</td><td>{c.status}</td><td>{c.updated.strftime(TIME)}</td></tr>"
        for c in calls
    )
    empty = "" if calls else "<p>No calls found.</p>"
    return f'<table class="grid"><caption>{caption}</caption>{head}{rows}</table>{empty}'
