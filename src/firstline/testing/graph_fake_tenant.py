"""A Microsoft 365 tenant in plain JSON, built from an organisation (:func:`tenant_from_org`), for the Graph fake.

Each account becomes an Entra ID user (``employeeId`` the person id, ``onPremisesSamAccountName`` the
username, ``officeLocation`` like ``"London, floor 4"``, ``employeeType`` ``Service`` for service
accounts), each admin account a second user with the same ``employeeId`` holding the Helpdesk
Administrator directory role; account groups become security groups, MFA factors authentication
methods, the sign-in log signIn entries (bad password 50126, locked 50053), enrolled devices Intune
managedDevices, user mailboxes mailboxSettings, and distribution lists mail-enabled Microsoft 365
groups (dynamic ones with a ``membershipRule``; ``classic_lists`` as Exchange distribution groups).
Ids are stable (UUID 5 of the record's key), so a test can name them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from firstline.directory.models import Account, DistributionList, MfaFactor, OrgData, Person, SignIn

__all__ = ["PHONE_IDS", "Tenant", "add_sign_in", "iso", "stable_id", "tenant_from_org"]

Json = dict[str, Any]
_NAMESPACE = uuid.UUID("6f1c9a52-4d1e-4c8a-9f3e-2b7d5e0a1c44")
G = "#microsoft.graph."
# Graph's fixed ids of the three phone method slots (phoneAuthenticationMethod resource type).
PHONE_IDS = {
    "mobile": "3179e48a-750b-4051-897c-87b9720928f7",
    "alternateMobile": "b6332ec1-7057-4abe-9331-3d72feddfe41",
    "office": "e37fc753-ff3b-4958-9484-eaa9425c82bc",
}
PASSWORD_ID = "28c10230-6103-485e-b985-444c60001490"
HELPDESK_ADMIN = ("Helpdesk Administrator", "729827e3-9c14-49f7-bb1b-9608f156bbb8")
_FAILURES = {
    "bad_password": (50126, "Error validating credentials due to invalid username or password."),
    "locked_out": (50053, "Account is locked because user tried to sign in too many times with an incorrect user ID "
                   "or password."),
    "mfa_denied": (500121, "Authentication failed during strong authentication request."),
}  # fmt: skip


def stable_id(kind: str, key: str) -> str:
    """The fake's id for ``kind`` (user, group, device, ...) ``key``: the same in every run."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{key.lower()}"))


def iso(moment: datetime | date | None) -> str | None:
    """Graph's UTC timestamp text; dates become midnight UTC."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(), UTC)
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text.rstrip("0").rstrip(".") + "Z"


@dataclass
class Tenant:
    """Everything the fake serves, by object id."""

    users: dict[str, Json] = field(default_factory=dict)
    managers: dict[str, str] = field(default_factory=dict)
    methods: dict[str, list[Json]] = field(default_factory=dict)
    default_methods: dict[str, str] = field(default_factory=dict)
    groups: dict[str, Json] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    owners: dict[str, list[str]] = field(default_factory=dict)
    roles: dict[str, Json] = field(default_factory=dict)
    role_members: dict[str, list[str]] = field(default_factory=dict)
    sign_ins: list[Json] = field(default_factory=list)
    devices: dict[str, Json] = field(default_factory=dict)
    mailboxes: dict[str, Json] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)

    def user_by_person(self, person: str) -> str | None:
        """The own (non-admin) user id of a person id."""
        return next(
            (uid for uid, u in self.users.items() if u.get("employeeId") == person and u.get("mail")),
            None,
        )


def tenant_from_org(
    org: OrgData,
    *,
    synced: Iterable[str] = (),
    classic_lists: Iterable[str] = (),
    as_of: date | None = None,
    domain: str = "nwmeridian.co.uk",
) -> Tenant:
    """The tenant of ``org``. ``synced`` usernames are synchronised from on-premises AD; ``as_of`` is the
    organisation's snapshot date: its dates (passwords, hires, leaves, device check-ins) move so that
    ``as_of`` becomes today. The sign-in log is taken as it is (the demo's is already recent)."""
    shift = (datetime.now(UTC).date() - as_of) if as_of else timedelta()
    synced_names = {name.lower() for name in synced}
    tenant = Tenant()
    people = {p.id: p for p in org.people}
    for account in org.accounts:
        person = people[account.person]
        uid = stable_id("user", account.username)
        tenant.users[uid] = _user(person, account, account.username, account.username.lower() in synced_names, shift)
        tenant.methods[uid] = [_password_method(account, shift), *(_method(f, shift) for f in account.mfa_factors)]
        for name in account.groups:
            gid = stable_id("group", name)
            tenant.groups.setdefault(gid, _security_group(gid, name))
            tenant.members.setdefault(gid, []).append(uid)
        if account.admin_account:
            aid = stable_id("user", account.admin_account)
            admin = _user(person, account, account.admin_account, False, shift)
            admin |= {
                "mail": None,
                "displayName": f"{person.name} (admin)",
                "userPrincipalName": f"{account.admin_account}@{domain}",
            }
            tenant.users[aid] = admin
            tenant.methods[aid] = [
                _password_method(account, shift),
                _method(MfaFactor("fido2_key", None, "YubiKey 5 NFC"), shift),
            ]
            rid = stable_id("role", HELPDESK_ADMIN[0])
            role = {"@odata.type": f"{G}directoryRole", "id": rid, "displayName": HELPDESK_ADMIN[0]}
            tenant.roles.setdefault(rid, role | {"roleTemplateId": HELPDESK_ADMIN[1]})
            tenant.role_members.setdefault(rid, []).append(aid)
    for uid, user in list(tenant.users.items()):
        manager = people[user["employeeId"]].manager
        boss = tenant.user_by_person(manager) if manager else None
        if boss and not user["onPremisesSamAccountName"].startswith("adm-"):
            tenant.managers[uid] = boss
    for mailbox in org.mailboxes:
        owner = tenant.user_by_person(mailbox.owner)
        if owner:
            tenant.mailboxes[owner] = _mailbox_settings(mailbox.automatic_replies)
    classic = {address.lower() for address in classic_lists}
    for dl in org.distribution_lists:
        _add_list(tenant, dl, dl.address.lower() in classic)
    for entry in org.sign_ins:
        add_sign_in(tenant, entry)
    for device in org.devices:
        if device.mdm_enrolled:
            did = stable_id("device", device.id)
            owner = tenant.user_by_person(device.owner) if device.owner else None
            user = tenant.users.get(owner or "", {})
            tenant.devices[did] = {
                "id": did,
                "userId": owner or "",
                "deviceName": device.hostname,
                "userPrincipalName": user.get("userPrincipalName") or "",
                "emailAddress": user.get("mail") or "",
                "userDisplayName": user.get("displayName") or "",
                "managedDeviceOwnerType": "company" if device.ownership == "corporate" else "personal",
                "operatingSystem": device.os,
                "osVersion": device.os_version,
                "complianceState": device.compliance,
                "isEncrypted": device.encrypted,
                "model": device.model,
                "manufacturer": device.model.split()[0] if device.model else "",
                "serialNumber": device.serial,
                "totalStorageSpaceInBytes": int(device.disk_total_gb * 1e9),
                "freeStorageSpaceInBytes": int(device.disk_free_gb * 1e9),
                "lastSyncDateTime": iso(device.last_check_in + shift if device.last_check_in else None),
                "enrolledDateTime": iso(datetime(2025, 1, 6, 9, 0, tzinfo=UTC)),
                "managementAgent": "mdm",
                "deviceActionResults": [],
            }
    return tenant


def _user(person: Person, account: Account, username: str, synced: bool, shift: timedelta) -> Json:
    place = "Remote" if person.location in ("", "remote") else person.location.title()
    office = place if person.floor is None else f"{place}, floor {person.floor}"
    changed = iso(account.password_last_set + shift if account.password_last_set else None)
    return {
        "id": stable_id("user", username),
        "displayName": person.name,
        "mail": person.email,
        "userPrincipalName": person.email,
        "employeeId": person.id,
        "employeeType": "Service" if account.service else "Employee",
        "employeeHireDate": iso(person.start_date + shift if person.start_date else None),
        "employeeLeaveDateTime": iso(person.leaving_date + shift if person.leaving_date else None),
        "department": person.department,
        "jobTitle": person.title,
        "officeLocation": office,
        "city": None if place == "Remote" else place,
        "mobilePhone": person.phone_mobile or None,
        "accountEnabled": account.enabled,
        "onPremisesSyncEnabled": synced,
        "onPremisesSamAccountName": username,
        "lastPasswordChangeDateTime": changed,
        "passwordPolicies": None,
        "passwordProfile": {
            "forceChangePasswordNextSignIn": account.password_reset_pending,
            "forceChangePasswordNextSignInWithMfa": False,
            "password": None,
        },
        "signInSessionsValidFromDateTime": changed,
    }


def _password_method(account: Account, shift: timedelta) -> Json:
    changed = iso(account.password_last_set + shift if account.password_last_set else None)
    return {
        "@odata.type": f"{G}passwordAuthenticationMethod",
        "id": PASSWORD_ID,
        "password": None,
        "createdDateTime": changed,
    }


def _method(factor: MfaFactor, shift: timedelta) -> Json:
    created = iso(factor.registered + shift if factor.registered else None)
    if factor.type in ("sms", "phone_call"):
        slot = "mobile" if factor.type == "sms" else "office"
        return {"@odata.type": f"{G}phoneAuthenticationMethod", "id": PHONE_IDS[slot], "phoneNumber": factor.device,
                "phoneType": slot, "smsSignInState": "notSupported"}  # fmt: skip
    key = stable_id("method", f"{factor.type}:{factor.device}:{factor.registered}")
    if factor.type == "fido2_key":
        return {"@odata.type": f"{G}fido2AuthenticationMethod", "id": key, "displayName": factor.device,
                "model": "YubiKey 5 NFC", "aaGuid": "cb69481e-8ff7-4039-93ec-0a2729a154a8",
                "attestationLevel": "attested", "createdDateTime": created}  # fmt: skip
    return {"@odata.type": f"{G}microsoftAuthenticatorAuthenticationMethod", "id": key, "displayName": factor.device,
            "deviceTag": "SoftwareTokenActivated", "phoneAppVersion": "6.2409", "createdDateTime": created}  # fmt: skip


def _security_group(gid: str, name: str) -> Json:
    return {"id": gid, "displayName": name, "mail": None, "mailEnabled": False, "securityEnabled": True,
            "groupTypes": [], "membershipRule": None}  # fmt: skip


def _add_list(tenant: Tenant, dl: DistributionList, classic: bool) -> None:
    gid = stable_id("list", dl.address)
    rule = None
    if dl.dynamic:
        items = list((dl.rule or {}).items())
        if items:
            key, value = items[0]
            attribute = {"location": "city", "department": "department"}.get(key, key)
            rule = f'(user.{attribute} -eq "{value.title() if key == "location" else value}")'
        else:
            rule = "(user.accountEnabled -eq true)"
    kinds = [] if classic else ["Unified", *(["DynamicMembership"] if dl.dynamic else [])]
    tenant.groups[gid] = {"id": gid, "displayName": dl.name, "mail": dl.address, "mailEnabled": True,
                          "securityEnabled": False, "groupTypes": kinds, "membershipRule": rule}  # fmt: skip
    tenant.owners[gid] = [u for u in map(tenant.user_by_person, dl.owners) if u]
    tenant.members[gid] = [u for u in map(tenant.user_by_person, dl.members) if u]


def add_sign_in(tenant: Tenant, entry: SignIn) -> None:
    uid = tenant.user_by_person(entry.person)
    if uid is None:
        return
    user = tenant.users[uid]
    code, reason = (0, None) if entry.success else _FAILURES.get(entry.reason, (50126, entry.reason))
    tenant.sign_ins.append({
        "id": stable_id("signin", f"{entry.person}:{entry.at.isoformat()}:{len(tenant.sign_ins)}"),
        "createdDateTime": iso(entry.at),
        "userId": uid,
        "userPrincipalName": user["userPrincipalName"],
        "userDisplayName": user["displayName"],
        "appDisplayName": "Office 365 Exchange Online" if "Windows" not in entry.client else "Windows Sign In",
        "ipAddress": entry.ip,
        "clientAppUsed": entry.client,
        "location": {"city": entry.city or None, "state": None, "countryOrRegion": entry.country or None},
        "deviceDetail": {"deviceId": "", "displayName": entry.device, "operatingSystem": "", "browser": "",
                         "isCompliant": bool(entry.device), "isManaged": bool(entry.device), "trustType": ""},
        "status": {"errorCode": code, "failureReason": reason or "Other.", "additionalDetails": None},
    })  # fmt: skip


def _mailbox_settings(reply: str | None) -> Json:
    return {
        "automaticRepliesSetting": {
            "status": "alwaysEnabled" if reply else "disabled",
            "externalAudience": "all",
            "internalReplyMessage": reply or "",
            "externalReplyMessage": reply or "",
            "scheduledStartDateTime": {"dateTime": "2026-11-28T09:00:00.0000000", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2026-11-29T09:00:00.0000000", "timeZone": "UTC"},
        },
        "timeZone": "GMT Standard Time",
        "language": {"locale": "en-GB", "displayName": "English (United Kingdom)"},
    }
