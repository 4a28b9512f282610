"""Requests to Microsoft Graph for :class:`~firstline.directory.graph.GraphDirectory`: paging, advanced
queries, and refusals that name the application permission to grant.

:class:`GraphCalls` wraps one :class:`~firstline.vendors.http.VendorHttp` (system "Microsoft Graph",
request ids from the ``request-id`` header, 429 / 503 retried after ``Retry-After``). Every call names
the :class:`Permission` it needs; a 403 becomes a :class:`~firstline.errors.PermissionDeniedError`
that says which application permission to grant and which specialists need it. Lists follow
``@odata.nextLink`` to the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from firstline.errors import FirstlineError, PermissionDeniedError
from firstline.vendors.http import VendorHttp

__all__ = [
    "AUDIT_LOG",
    "AUTH_METHODS",
    "DEVICE_ACTIONS",
    "DEVICE_READ",
    "GROUP_MEMBERS",
    "LIFECYCLE",
    "MAILBOX_SETTINGS",
    "PASSWORD_PROFILE",
    "REVOKE_SESSIONS",
    "SECRET_SETTINGS",
    "SETTING",
    "USER_READ",
    "GraphCalls",
    "Permission",
]

SETTING = "directory.graph.base_url"
SECRET_SETTINGS = (
    "`directory.graph.tenant_id`, `directory.graph.client_id` and the client secret in "
    "FIRSTLINE_DIRECTORY__GRAPH__CLIENT_SECRET"
)
Json = dict[str, Any]


@dataclass(frozen=True)
class Permission:
    """A Microsoft Graph application permission: its ``name``, what Firstline uses it for, who needs it."""

    name: str
    used_for: str
    needed_by: tuple[str, ...]
    extra: str = ""

    def advice(self) -> str:
        """What to tell the administrator when Graph refused a call for want of this permission."""
        teams = ", ".join(self.needed_by)
        return (
            f"Grant the app registration the Microsoft Graph application permission {self.name} (API permissions, "
            f"then 'Grant admin consent'){self.extra}. Firstline uses it to {self.used_for}; the {teams} "
            f"specialist{'s' if len(self.needed_by) > 1 else ''} need{'' if len(self.needed_by) > 1 else 's'} it."
        )


USER_READ = Permission("User.Read.All", "look people and their groups up", ("Security", "Device", "Email"))
LIFECYCLE = Permission(
    "User-LifeCycleInfo.Read.All", "tell leavers from staff (employeeLeaveDateTime)", ("Security", "Device", "Email")
)
AUDIT_LOG = Permission(
    "AuditLog.Read.All",
    "read the sign-in log before an unlock",
    ("Security",),
    "; sign-in logs also need a Microsoft Entra ID P1 or P2 licence",
)
AUTH_METHODS = Permission(
    "UserAuthenticationMethod.ReadWrite.All",
    "read and reset MFA methods and issue Temporary Access Passes",
    ("Security",),
)
PASSWORD_PROFILE = Permission(
    "User.ReadWrite.All",
    "require a new password at the next sign-in",
    ("Security",),
    " and assign the app the User Administrator role",
)
REVOKE_SESSIONS = Permission("User.RevokeSessions.All", "sign people out everywhere", ("Security",))
DEVICE_READ = Permission("DeviceManagementManagedDevices.Read.All", "read Intune devices", ("Device", "Security"))
DEVICE_ACTIONS = Permission(
    "DeviceManagementManagedDevices.PrivilegedOperations.All",
    "sync, lock, retire and wipe Intune devices",
    ("Device", "Security"),
)
MAILBOX_SETTINGS = Permission("MailboxSettings.ReadWrite", "read and set out-of-office replies", ("Email",))
GROUP_MEMBERS = Permission(
    "GroupMember.ReadWrite.All", "read distribution lists and add or remove their members", ("Email",)
)


class GraphCalls:
    """Graph requests over ``http``; ``get`` and ``items`` read, ``send`` writes."""

    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        permission: Permission,
        not_found: Callable[[], FirstlineError] | None = None,
        eventual: bool = False,
    ) -> Json:
        """One object (or one page); ``eventual`` makes it an advanced query (``ConsistencyLevel: eventual``)."""
        answer = self._request("GET", path, params, None, permission, not_found, eventual)
        return answer if isinstance(answer, dict) else {}

    def items(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        permission: Permission,
        not_found: Callable[[], FirstlineError] | None = None,
        eventual: bool = False,
    ) -> list[Json]:
        """Every item of a collection, following ``@odata.nextLink`` page after page."""
        found: list[Json] = []
        page = self.get(path, params, permission=permission, not_found=not_found, eventual=eventual)
        while True:
            found += [item for item in page.get("value") or [] if isinstance(item, dict)]
            link = page.get("@odata.nextLink")
            if not link:
                return found
            page = self.get(str(link), permission=permission, not_found=not_found, eventual=eventual)

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        permission: Permission,
        not_found: Callable[[], FirstlineError] | None = None,
    ) -> Any:
        """A POST, PATCH or DELETE; the answer's JSON (``None`` for 204 No Content)."""
        return self._request(method, path, None, body, permission, not_found, False)

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        permission: Permission,
        not_found: Callable[[], FirstlineError] | None,
        eventual: bool,
    ) -> Any:
        headers = {"ConsistencyLevel": "eventual"} if eventual else None
        if eventual and params is not None:
            params = {**params, "$count": "true"}
        try:
            return self.http.request(method, path, params=params, json_body=body, not_found=not_found, headers=headers)
        except PermissionDeniedError as exc:
            raise PermissionDeniedError(f"{exc} {permission.advice()}") from exc
