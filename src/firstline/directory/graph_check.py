"""``firstline directory check`` for Microsoft Graph: a token, then one read per application permission.

A token is fetched with the app registration's client credentials (a refusal names the settings that
hold them); then each permission Firstline reads with is tried once, read-only, and a 403 becomes a
failed :class:`~firstline.directory.backend.DirectoryCheck` that names the permission to grant and the
specialists that need it. Write-only permissions cannot be tried without changing something, so the
first line lists them instead.
"""

from __future__ import annotations

from collections.abc import Callable

from firstline.directory.backend import DirectoryCheck
from firstline.directory.graph_http import (
    AUDIT_LOG,
    AUTH_METHODS,
    DEVICE_ACTIONS,
    DEVICE_READ,
    GROUP_MEMBERS,
    LIFECYCLE,
    MAILBOX_SETTINGS,
    PASSWORD_PROFILE,
    REVOKE_SESSIONS,
    USER_READ,
    GraphCalls,
    Permission,
)
from firstline.directory.graph_records import Json
from firstline.errors import AuthenticationError, BackendUnavailableError, FirstlineError

__all__ = ["run_checks"]

_EVERYONE = ("Security", "Device", "Email")


def run_checks(calls: GraphCalls, username_attribute: str) -> list[DirectoryCheck]:
    """The checks, in order; never raises for a refusal or an unreachable service."""
    writes = ", ".join(p.name for p in (PASSWORD_PROFILE, REVOKE_SESSIONS, DEVICE_ACTIONS))
    try:
        page = calls.get("/users", {"$top": "10", "$select": f"id,mail,{username_attribute}"}, permission=USER_READ)
    except AuthenticationError as exc:
        return [DirectoryCheck("Microsoft Graph: token for the app registration", False, str(exc), _EVERYONE)]
    except BackendUnavailableError as exc:
        return [DirectoryCheck("Microsoft Graph: reachable", False, str(exc), _EVERYONE)]
    except FirstlineError as exc:
        page = {}
        users_line = DirectoryCheck(_name(USER_READ), False, str(exc), USER_READ.needed_by)
    else:
        users_line = DirectoryCheck(_name(USER_READ), True, needed_by=USER_READ.needed_by)
    token = DirectoryCheck(
        "Microsoft Graph: token for the app registration",
        True,
        f"Writes are not tried here; Firstline also needs {writes} and write access in "
        f"{AUTH_METHODS.name}, {MAILBOX_SETTINGS.name} and {GROUP_MEMBERS.name}.",
        _EVERYONE,
    )
    users: list[Json] = [u for u in page.get("value") or [] if isinstance(u, dict)]
    for _ in range(5):  # a user with a mailbox to try the mailbox settings on (admin accounts have none)
        link = page.get("@odata.nextLink")
        if any(u.get("mail") for u in users) or not link:
            break
        page = calls.get(str(link), permission=USER_READ)
        users += [u for u in page.get("value") or [] if isinstance(u, dict)]
    some = str(users[0]["id"]) if users else ""
    mailbox = next((str(u["id"]) for u in users if u.get("mail")), "")
    reads: list[tuple[Permission, Callable[[], object]]] = [
        (LIFECYCLE, lambda: calls.get(f"/users/{some}", {"$select": "id,employeeLeaveDateTime"}, permission=LIFECYCLE)),
        (AUDIT_LOG, lambda: calls.get("/auditLogs/signIns", {"$top": "1"}, permission=AUDIT_LOG)),
        (AUTH_METHODS, lambda: calls.get(f"/users/{some}/authentication/methods", permission=AUTH_METHODS)),
        (DEVICE_READ, lambda: calls.get("/deviceManagement/managedDevices", {"$top": "1"}, permission=DEVICE_READ)),
        (MAILBOX_SETTINGS, lambda: calls.get(f"/users/{mailbox}/mailboxSettings", permission=MAILBOX_SETTINGS)),
        (GROUP_MEMBERS, lambda: _group_members(calls)),
    ]
    lines = [token, users_line]
    for permission, read in reads:
        if not some or (permission is MAILBOX_SETTINGS and not mailbox):
            why = "No user with a mailbox to try it on." if some else "No user to try it on."
            lines.append(DirectoryCheck(_name(permission), False, why, permission.needed_by))
            continue
        try:
            read()
        except FirstlineError as exc:
            lines.append(DirectoryCheck(_name(permission), False, str(exc), permission.needed_by))
        else:
            lines.append(DirectoryCheck(_name(permission), True, needed_by=permission.needed_by))
    return lines


def _name(permission: Permission) -> str:
    return f"Microsoft Graph: {permission.name} ({permission.used_for})"


def _group_members(calls: GraphCalls) -> None:
    params = {"$filter": "mailEnabled eq true", "$top": "1", "$select": "id"}
    groups = calls.get("/groups", params, permission=GROUP_MEMBERS).get("value") or []
    if groups:
        calls.get(f"/groups/{groups[0]['id']}/members", {"$top": "1", "$select": "id"}, permission=GROUP_MEMBERS)
