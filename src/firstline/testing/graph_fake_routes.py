"""The Graph calls :class:`~firstline.testing.graph_fake.GraphFake` serves, each a :class:`Route`, and what they do.

:data:`ROUTES` names, for each method and path under ``/v1.0``, the handler of :class:`TenantRoutes`, the
application permissions that allow it (any one of them), the query options it accepts and the JSON
Schemas of its request body and answer. The handlers follow the documented behaviour Firstline relies
on: password changes on synchronised users are refused (400, "on-premises mastered"), a phone that is
the user's default MFA method cannot be deleted, adding an existing member is 400, classic
distribution groups and dynamic groups refuse member changes, actions on managed devices answer 204
and are listed in ``deviceActionResults``, a Temporary Access Pass is shown once.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from firstline.testing.graph_fake_query import parse_expand, parse_filter, parse_select
from firstline.testing.graph_fake_tenant import G, Tenant, iso
from firstline.testing.loopback import Request, ShapeViolation

__all__ = ["ALL_PERMISSIONS", "ROUTES", "GraphError", "Route", "TenantRoutes"]

Json = dict[str, Any]
USER_R = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
USER_W = ("User.ReadWrite.All", "Directory.ReadWrite.All")
REVOKE = ("User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
METHODS_R = ("UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All")
METHODS_W = ("UserAuthenticationMethod.ReadWrite.All",)
AUDIT = ("AuditLog.Read.All",)
DEVICES_R = ("DeviceManagementManagedDevices.Read.All", "DeviceManagementManagedDevices.ReadWrite.All")
DEVICES_ACT = ("DeviceManagementManagedDevices.PrivilegedOperations.All",)
MAIL_R = ("MailboxSettings.Read", "MailboxSettings.ReadWrite")
MAIL_W = ("MailboxSettings.ReadWrite",)
GROUPS_R = ("GroupMember.Read.All", "GroupMember.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All")
GROUPS_W = ("GroupMember.ReadWrite.All", "Group.ReadWrite.All")
ALL_PERMISSIONS = frozenset({
    "User.Read.All", "User-LifeCycleInfo.Read.All", "User.ReadWrite.All", "User.RevokeSessions.All",
    "UserAuthenticationMethod.ReadWrite.All", "AuditLog.Read.All", "DeviceManagementManagedDevices.Read.All",
    "DeviceManagementManagedDevices.PrivilegedOperations.All", "MailboxSettings.ReadWrite", "GroupMember.ReadWrite.All",
})  # fmt: skip
USER_PROPS = frozenset({
    "id", "displayName", "mail", "userPrincipalName", "employeeId", "employeeType", "employeeHireDate",
    "employeeLeaveDateTime", "department", "jobTitle", "officeLocation", "city", "mobilePhone", "accountEnabled",
    "onPremisesSyncEnabled", "onPremisesSamAccountName", "lastPasswordChangeDateTime", "passwordPolicies",
    "passwordProfile", "signInSessionsValidFromDateTime", "givenName", "surname", "businessPhones", "mailNickname",
})  # fmt: skip
USER_FILTERS = ("id", "employeeId", "mail", "userPrincipalName", "onPremisesSamAccountName", "accountEnabled",
                "displayName", "employeeType")  # fmt: skip
DEVICE_PROPS = frozenset({
    "id", "userId", "deviceName", "userPrincipalName", "emailAddress", "userDisplayName", "managedDeviceOwnerType",
    "operatingSystem", "osVersion", "complianceState", "isEncrypted", "model", "manufacturer", "serialNumber",
    "totalStorageSpaceInBytes", "freeStorageSpaceInBytes", "lastSyncDateTime", "enrolledDateTime", "managementAgent",
    "deviceActionResults",
})  # fmt: skip
GROUP_PROPS = frozenset({"id", "displayName", "mail", "mailEnabled", "securityEnabled", "groupTypes", "membershipRule"})
OBJECT_PROPS = frozenset({"id", "displayName", "employeeId", "mail", "userPrincipalName", "roleTemplateId"})
_LIST = ("$filter", "$select", "$top", "$skiptoken", "$count", "$expand")
_SYNCED = "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration."  # noqa: E501


class GraphError(Exception):
    """A refusal the fake answers with Graph's error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Route:
    """One served call: ``method`` and ``pattern`` (under ``/v1.0``), the ``handler`` method, the permissions
    that allow it, the query ``options`` it takes, and its schemas (a list answer's ``item_schema``)."""

    method: str
    pattern: re.Pattern[str]
    handler: str
    permissions: tuple[str, ...]
    options: tuple[str, ...] = ()
    body_schema: str | None = None
    answer_schema: str | None = None
    item_schema: str | None = None
    body_required: bool = True


def _r(method: str, path: str, handler: str, permissions: tuple[str, ...], **more: Any) -> Route:
    pattern = re.compile("/v1.0" + path.replace("{id}", "(?P<id>[^/]+)"))
    return Route(method, pattern, handler, permissions, **more)


ROUTES = (
    _r("GET", "/users", "list_users", USER_R, options=_LIST, item_schema="user.json"),
    _r("GET", "/users/{id}", "get_user", USER_R, options=("$select", "$expand"), answer_schema="user.json"),
    _r("PATCH", "/users/{id}", "patch_user", USER_W, body_schema="userUpdate.json"),
    _r("GET", "/users/{id}/memberOf", "member_of", USER_R, options=_LIST, item_schema="directoryObject.json"),
    _r("GET", "/users/{id}/authentication/methods", "methods", METHODS_R, item_schema="authenticationMethod.json"),
    _r("DELETE", r"/users/{id}/authentication/(?P<segment>\w+Methods)/(?P<method>[^/]+)", "delete_method", METHODS_W),
    _r("POST", "/users/{id}/authentication/temporaryAccessPassMethods", "new_pass", METHODS_W,
       body_schema="temporaryAccessPassRequest.json", answer_schema="temporaryAccessPass.json"),
    _r("POST", "/users/{id}/revokeSignInSessions", "revoke", REVOKE, answer_schema="revokeSignInSessions.json"),
    _r("GET", "/users/{id}/mailboxSettings", "mailbox", MAIL_R, answer_schema="mailboxSettings.json"),
    _r("PATCH", "/users/{id}/mailboxSettings", "patch_mailbox", MAIL_W, body_schema="mailboxSettingsUpdate.json",
       answer_schema="mailboxSettings.json"),
    _r("GET", "/auditLogs/signIns", "sign_ins", AUDIT, options=("$filter", "$top", "$skiptoken"),
       item_schema="signIn.json"),
    _r("GET", "/deviceManagement/managedDevices", "devices", DEVICES_R, options=_LIST,
       item_schema="managedDevice.json"),
    _r("GET", "/deviceManagement/managedDevices/{id}", "device", DEVICES_R, options=("$select",),
       answer_schema="managedDevice.json"),
    _r("POST", "/deviceManagement/managedDevices/{id}/(?P<action>syncDevice|remoteLock|retire|wipe)", "action",
       DEVICES_ACT, body_schema="wipeRequest.json", body_required=False),
    _r("GET", "/groups", "groups", GROUPS_R, options=_LIST, item_schema="group.json"),
    _r("GET", "/groups/{id}/(?P<relation>members|owners)", "group_objects", GROUPS_R, options=_LIST,
       item_schema="directoryObject.json"),
    _r("POST", r"/groups/{id}/members/\$ref", "add_member", GROUPS_W, body_schema="memberRef.json"),
    _r("DELETE", r"/groups/{id}/members/(?P<member>[^/]+)/\$ref", "remove_member", GROUPS_W),
)  # fmt: skip


class TenantRoutes:
    """The handlers: each takes the path's groups, the query, the checked body, the request and the base URL,
    and returns the status and the JSON answer (``None`` for 204)."""

    def __init__(self, tenant: Tenant, clock: Callable[[], datetime], page_size: int) -> None:
        self.tenant, self.clock, self.page_size = tenant, clock, page_size

    def user(self, key: str) -> Json:
        """The stored user with this id, UPN or username (``KeyError`` when there is none); tests read it."""
        wanted = key.lower()
        for uid, user in self.tenant.users.items():
            if wanted in (uid, str(user["userPrincipalName"]).lower(), str(user["onPremisesSamAccountName"]).lower()):
                return user
        raise KeyError(key)

    def set_default_phone(self, username: str) -> None:
        """Make the user's phone their default MFA method, which Graph will not delete."""
        user = self.user(username)
        phone = next(m for m in self.tenant.methods[user["id"]] if m["@odata.type"] == f"{G}phoneAuthenticationMethod")
        self.tenant.default_methods[user["id"]] = phone["id"]

    # --- users

    def list_users(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        if (
            query.get("$filter")
            and query.get("$count") == "true"
            and request.headers.get("consistencylevel") != "eventual"
        ):
            raise GraphError(400, "Request_UnsupportedQuery", "$count needs the ConsistencyLevel: eventual header.")
        users = sorted(self.tenant.users.values(), key=lambda u: str(u["userPrincipalName"]))
        return 200, self._page(users, query, base, "/users", kind="user", known=USER_PROPS, filterable=USER_FILTERS)

    def get_user(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        user = self._user(found["id"])
        selected = parse_select(query["$select"], USER_PROPS, "user") if "$select" in query else None
        shown = self._project(user, selected, ())
        if "$expand" in query:
            shown |= self._manager(user["id"], parse_expand(query["$expand"]))
        return 200, shown

    def patch_user(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        user = self._user(found["id"])
        profile = body["passwordProfile"]
        if user.get("onPremisesSyncEnabled"):
            raise GraphError(400, "Request_BadRequest", _SYNCED)
        if "password" in profile:
            password = profile["password"]
            classes = sum(any(c in chars for c in password) for chars in _CLASSES)
            if len(password) < 8 or classes < 3:
                raise GraphError(400, "Request_BadRequest", "The specified password does not comply with password "
                                 "complexity requirements. Please provide a different password.")  # fmt: skip
            self.tenant.passwords[user["id"]] = password
            user["lastPasswordChangeDateTime"] = iso(self.clock())
            user["passwordProfile"]["forceChangePasswordNextSignIn"] = profile.get(
                "forceChangePasswordNextSignIn", True
            )
        elif "forceChangePasswordNextSignIn" in profile:
            user["passwordProfile"]["forceChangePasswordNextSignIn"] = profile["forceChangePasswordNextSignIn"]
        return 204, None

    def member_of(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        uid = self._user(found["id"])["id"]
        items: list[Json] = [
            {"@odata.type": f"{G}group", **group}
            for gid, group in self.tenant.groups.items()
            if uid in self.tenant.members.get(gid, [])
        ]
        items += [role for rid, role in self.tenant.roles.items() if uid in self.tenant.role_members.get(rid, [])]
        path = f"/users/{found['id']}/memberOf"
        return 200, self._page(
            items, query, base, path, kind="directoryObject", known=OBJECT_PROPS, keep=("@odata.type", "id")
        )

    def revoke(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        self._user(found["id"])["signInSessionsValidFromDateTime"] = iso(self.clock())
        return 200, {"@odata.context": f"{base}/$metadata#Edm.Boolean", "value": True}

    # --- authentication methods

    def methods(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        uid = self._user(found["id"])["id"]
        path = f"/users/{found['id']}/authentication/methods"
        return 200, self._page(
            self.tenant.methods.get(uid, []), query, base, path, kind="authenticationMethod", known=()
        )

    def delete_method(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        uid = self._user(found["id"])["id"]
        methods = self.tenant.methods.get(uid, [])
        wanted = f"{G}{found['segment'][0].lower()}{found['segment'][1:-7]}AuthenticationMethod"
        method = next((m for m in methods if m["id"] == found["method"] and m["@odata.type"] == wanted), None)
        if method is None:
            raise GraphError(404, "itemNotFound", f"No {found['segment']} method {found['method']} on this user.")
        if self.tenant.default_methods.get(uid) == method["id"]:
            raise GraphError(
                400, "badRequest", "The phone number is the user's default MFA method and can't be deleted."
            )
        methods.remove(method)
        return 204, None

    def new_pass(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        uid = self._user(found["id"])["id"]
        now = self.clock()
        made = {
            "@odata.type": f"{G}temporaryAccessPassAuthenticationMethod",
            "id": secrets.token_hex(4) + "-0000-4000-8000-" + secrets.token_hex(6),
            "temporaryAccessPass": "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12)),
            "createdDateTime": iso(now),
            "startDateTime": body.get("startDateTime") or iso(now),
            "lifetimeInMinutes": body.get("lifetimeInMinutes", 60),
            "isUsableOnce": body.get("isUsableOnce", False),
            "isUsable": True,
            "methodUsabilityReason": "EnabledByPolicy",
        }
        self.tenant.methods.setdefault(uid, []).append({k: v for k, v in made.items() if k != "temporaryAccessPass"})
        return 201, made

    # --- sign-ins, mailboxes

    def sign_ins(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        entries = sorted(self.tenant.sign_ins, key=lambda s: str(s["createdDateTime"]), reverse=True)
        allowed = ("userId", "createdDateTime", "userPrincipalName", "status/errorCode")
        return 200, self._page(entries, query, base, "/auditLogs/signIns", kind="signIn", known=(), filterable=allowed)

    def mailbox(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        return 200, {
            "@odata.context": f"{base}/$metadata#users('{found['id']}')/mailboxSettings",
            **self._settings(found["id"]),
        }

    def patch_mailbox(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        settings = self._settings(found["id"])
        reply = body["automaticRepliesSetting"]
        settings["automaticRepliesSetting"] |= reply
        if reply["status"] == "disabled":
            settings["automaticRepliesSetting"] |= {"internalReplyMessage": "", "externalReplyMessage": ""}
        return 200, {"@odata.context": f"{base}/$metadata#Me/mailboxSettings", **settings}

    # --- Intune

    def devices(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        items = sorted(self.tenant.devices.values(), key=lambda d: str(d["deviceName"]))
        allowed = ("userId", "deviceName", "serialNumber", "userPrincipalName", "operatingSystem")
        path = "/deviceManagement/managedDevices"
        return 200, self._page(items, query, base, path, kind="managedDevice", known=DEVICE_PROPS, filterable=allowed)

    def device(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        return 200, dict(self._device(found["id"]))

    def action(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        if body is not None and found["action"] != "wipe":
            raise ShapeViolation(f"{found['action']} takes no body")
        device, now = self._device(found["id"]), iso(self.clock())
        device["deviceActionResults"].append(
            {"actionName": found["action"], "actionState": "pending", "startDateTime": now, "lastUpdatedDateTime": now}
        )
        return 204, None

    # --- groups

    def groups(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        items = sorted(self.tenant.groups.values(), key=lambda g: str(g["displayName"]))
        allowed = ("mail", "mailEnabled", "securityEnabled", "displayName")
        return 200, self._page(items, query, base, "/groups", kind="group", known=GROUP_PROPS, filterable=allowed)

    def group_objects(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        gid = self._group(found["id"])["id"]
        ids = (self.tenant.members if found["relation"] == "members" else self.tenant.owners).get(gid, [])
        items = [{"@odata.type": f"{G}user", **self.tenant.users[uid]} for uid in ids if uid in self.tenant.users]
        path = f"/groups/{gid}/{found['relation']}"
        return 200, self._page(
            items, query, base, path, kind="directoryObject", known=OBJECT_PROPS, keep=("@odata.type", "id")
        )

    def add_member(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        group = self._group(found["id"])
        member = str(body["@odata.id"]).rsplit("/", 1)[-1]
        if member not in self.tenant.users:
            raise GraphError(404, "Request_ResourceNotFound", f"Resource '{member}' does not exist.")
        self._manual(group)
        members = self.tenant.members.setdefault(group["id"], [])
        if member in members:
            raise GraphError(400, "Request_BadRequest", "One or more added object references already exist for the "
                             "following modified properties: 'members'.")  # fmt: skip
        members.append(member)
        return 204, None

    def remove_member(
        self, found: dict[str, str], query: dict[str, str], body: Any, request: Request, base: str
    ) -> tuple[int, Any]:
        group = self._group(found["id"])
        self._manual(group)
        members = self.tenant.members.setdefault(group["id"], [])
        if found["member"] not in members:
            raise GraphError(404, "Request_ResourceNotFound", f"Resource '{found['member']}' does not exist.")
        members.remove(found["member"])
        return 204, None

    # --- lookups and lists

    def _user(self, key: str) -> Json:
        try:
            return self.user(key)
        except KeyError:
            raise GraphError(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist or one of its "
                             "queried reference-property objects are not present.") from None  # fmt: skip

    def _settings(self, key: str) -> Json:
        uid = self._user(key)["id"]
        if uid not in self.tenant.mailboxes:
            raise GraphError(404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is "
                             "hosted on-premise.")  # fmt: skip
        return self.tenant.mailboxes[uid]

    def _device(self, key: str) -> Json:
        if key not in self.tenant.devices:
            raise GraphError(404, "ResourceNotFound", f"managedDevice {key} was not found.")
        return self.tenant.devices[key]

    def _group(self, key: str) -> Json:
        if key not in self.tenant.groups:
            raise GraphError(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist.")
        return self.tenant.groups[key]

    def _manual(self, group: Json) -> None:
        if group["mailEnabled"] and "Unified" not in group["groupTypes"]:
            raise GraphError(
                400, "Request_BadRequest", "Cannot Update a mail-enabled security groups and or distribution list."
            )
        if "DynamicMembership" in group["groupTypes"]:
            raise GraphError(400, "Request_BadRequest", "Members of a group with dynamic membership cannot be changed.")

    def _page(
        self,
        items: list[Json],
        query: dict[str, str],
        base: str,
        path: str,
        *,
        kind: str,
        known: Iterable[str],
        filterable: Iterable[str] = (),
        keep: Iterable[str] = (),
    ) -> Json:
        """One page of ``items``: ``$filter`` (advanced user queries need ``$count=true``), ``$select``,
        ``$expand=manager``, ``$top`` (at most :attr:`page_size` served), ``$skiptoken`` and ``@odata.nextLink``."""
        if "$filter" in query:
            predicate, names, uses_or = parse_filter(query["$filter"], set(filterable))
            if kind == "user" and (uses_or or "onPremisesSamAccountName" in names) and query.get("$count") != "true":
                raise GraphError(
                    400, "Request_UnsupportedQuery", "This query needs ConsistencyLevel: eventual and $count=true."
                )
            items = [item for item in items if predicate(item)]
        selected = parse_select(query["$select"], set(known), kind) if "$select" in query else None
        manager = parse_expand(query["$expand"]) if "$expand" in query else None
        top = int(query.get("$top", "100"))
        if top < 1 or top > (1000 if kind == "signIn" else 999):
            raise GraphError(400, "BadRequest", f"Invalid page size {top}.")
        offset = int(query.get("$skiptoken", "0") or 0)
        size = min(top, self.page_size)
        page: Json = {"@odata.context": f"{base}/$metadata#{kind}s", "value": []}
        for item in items[offset : offset + size]:
            shown = self._project(item, selected, keep)
            if manager is not None and kind == "user":
                shown |= self._manager(item["id"], manager)
            page["value"].append(shown)
        if query.get("$count") == "true":
            page["@odata.count"] = len(items)
        if offset + size < len(items):
            page["@odata.nextLink"] = f"{base}{path}?" + urlencode({**query, "$skiptoken": str(offset + size)})
        return page

    def _project(self, item: Json, selected: list[str] | None, keep: Iterable[str]) -> Json:
        if selected is None:
            return dict(item)
        return {**{k: item[k] for k in keep if k in item}, **{name: item.get(name) for name in selected}}

    def _manager(self, user_id: str, fields: list[str]) -> Json:
        boss = self.tenant.managers.get(user_id)
        if boss is None:
            return {}
        user = self.tenant.users[boss]
        return {"manager": {"@odata.type": f"{G}user", "id": boss, **{f: user.get(f) for f in fields}}}


_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, string.punctuation + " ")
