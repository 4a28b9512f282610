"""How Microsoft Graph's users, sign-ins, authentication methods, managed devices and groups map onto records.

Pure functions from Graph's JSON (v1.0) to :mod:`firstline.directory.models`, used by
:class:`~firstline.directory.graph.GraphDirectory`:

===============================  ==========================================================================
Firstline                        Microsoft Graph
===============================  ==========================================================================
``Person.id``                    ``employeeId`` (the username when it is empty)
``name`` / ``email``             ``displayName`` / ``mail`` (``userPrincipalName`` when there is no mail)
``department`` / ``title``       ``department`` / ``jobTitle``
``location`` / ``floor``         ``officeLocation`` read as ``"London, floor 4"`` (``"Remote"``: no floor)
``manager``                      the ``employeeId`` of the expanded ``manager``
``employment``                   ``leaver`` once ``employeeLeaveDateTime`` has passed, ``new_starter`` for
                                 :data:`NEW_STARTER` after ``employeeHireDate``, else ``active``
``Account.username``             the username attribute (``onPremisesSamAccountName`` by default)
``enabled``                      ``accountEnabled``
``locked`` / ``failed_attempts`` read from the sign-in log (:func:`lockout_from`): Entra ID keeps no lock flag
``password_last_set``            ``lastPasswordChangeDateTime``
``password_reset_pending``       ``passwordProfile.forceChangePasswordNextSignIn``
``mfa_factors``                  ``/authentication/methods`` (:data:`METHODS`), the password left out
``groups`` / ``privileged``      ``memberOf``: group names; any ``directoryRole`` (an admin role) is privileged
``service``                      ``employeeType`` in the directory's service types (``Service``)
``sessions_revoked_at``          ``signInSessionsValidFromDateTime`` (``revokeSignInSessions`` moves it)
===============================  ==========================================================================

The VIP flag is not in Entra ID (always ``False``). Times are parsed from ISO 8601 with up to seven
fraction digits, as Graph writes them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from firstline.directory.models import Account, Device, DistributionList, MfaFactor, Person, SignIn

__all__ = [
    "ACTION_FIELDS",
    "BAD_PASSWORD",
    "LOCKED_OUT",
    "METHODS",
    "NEW_STARTER",
    "PASSWORD_METHOD",
    "USER_FIELDS",
    "Json",
    "Lockout",
    "account_from",
    "automatic_replies_body",
    "automatic_reply_text",
    "device_from",
    "graph_time",
    "is_admin_name",
    "list_from",
    "lockout_from",
    "method_label",
    "parse_time",
    "person_from",
    "sign_in_from",
    "username_of",
]

Json = dict[str, Any]
NEW_STARTER = timedelta(days=30)
BAD_PASSWORD, LOCKED_OUT = 50126, 50053  # Entra ID sign-in error codes: invalid password, account locked
_REASONS = {
    BAD_PASSWORD: "bad_password",
    LOCKED_OUT: "locked_out",
    500121: "mfa_denied",
    50057: "account_disabled",
    50055: "password_expired",
}
USER_FIELDS = (
    "id", "displayName", "mail", "userPrincipalName", "employeeId", "employeeType", "employeeHireDate",
    "employeeLeaveDateTime", "department", "jobTitle", "officeLocation", "mobilePhone", "accountEnabled",
    "onPremisesSyncEnabled", "lastPasswordChangeDateTime", "passwordPolicies", "passwordProfile",
    "signInSessionsValidFromDateTime",
)  # fmt: skip
# The @odata.type of each authentication method: Firstline's factor type and the segment its delete goes to.
_G = "#microsoft.graph."
METHODS: dict[str, tuple[str, str]] = {
    f"{_G}microsoftAuthenticatorAuthenticationMethod": ("authenticator_app", "microsoftAuthenticatorMethods"),
    f"{_G}softwareOathAuthenticationMethod": ("authenticator_app", "softwareOathMethods"),
    f"{_G}phoneAuthenticationMethod": ("sms", "phoneMethods"),
    f"{_G}fido2AuthenticationMethod": ("fido2_key", "fido2Methods"),
    f"{_G}windowsHelloForBusinessAuthenticationMethod": ("windows_hello", "windowsHelloForBusinessMethods"),
    f"{_G}emailAuthenticationMethod": ("email", "emailMethods"),
    f"{_G}temporaryAccessPassAuthenticationMethod": ("temporary_access_pass", "temporaryAccessPassMethods"),
    f"{_G}platformCredentialAuthenticationMethod": ("platform_credential", "platformCredentialMethods"),
}  # fmt: skip
PASSWORD_METHOD = f"{_G}passwordAuthenticationMethod"
# Intune's deviceActionResults.actionName for each action Firstline sends, and the Device field it fills.
ACTION_FIELDS = {
    "remoteLock": "lock_requested_at",
    "syncDevice": "sync_requested_at",
    "retire": "retire_requested_at",
    "wipe": "wipe_requested_at",
}
_NO_LEAVE_DATES = (
    "Entra ID's leave date (employeeLeaveDateTime) could not be read, so a leaver shows as active: grant the app "
    "User-LifeCycleInfo.Read.All."
)
_FRACTION = re.compile(r"\.(\d+)")
_FLOOR = re.compile(r"floor\s*(\d+)", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def parse_time(text: object) -> datetime | None:
    """An aware UTC datetime from Graph's ISO 8601 text (``2026-11-27T16:42:00.1234567Z``); ``None`` for none."""
    if not isinstance(text, str) or not text:
        return None
    cleaned = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text.replace("Z", "+00:00"), count=1)
    moment = datetime.fromisoformat(cleaned)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def graph_time(moment: datetime) -> str:
    """``moment`` as Graph writes it in a ``$filter``: ``2026-11-27T16:42:00Z`` (UTC, whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def username_of(user: Mapping[str, Any], attribute: str) -> str:
    """The Firstline username of ``user``: its ``attribute``, else the part of the UPN before the ``@``."""
    value = user.get(attribute)
    return str(value) if value else str(user.get("userPrincipalName") or "").partition("@")[0]


def is_admin_name(username: str, prefix: str) -> bool:
    """Whether ``username`` is an admin account's (``adm-r.kulkarni`` for the prefix ``adm-``)."""
    return bool(prefix) and username.lower().startswith(prefix.lower())


def person_from(user: Mapping[str, Any], attribute: str, now: datetime, leave_dates: bool = True) -> Person:
    """The :class:`Person` of a user read with :data:`USER_FIELDS` (and ``$expand=manager``); without
    ``leave_dates`` (``employeeLeaveDateTime`` was not readable) the notes say a leaver may show as active."""
    office = str(user.get("officeLocation") or "")
    place, _, rest = office.partition(",")
    floor = _FLOOR.search(rest)
    hired, leaves = parse_time(user.get("employeeHireDate")), parse_time(user.get("employeeLeaveDateTime"))
    if leaves is not None and leaves <= now:
        employment = "leaver"
    elif hired is not None and hired > now - NEW_STARTER:
        employment = "new_starter"
    else:
        employment = "active"
    manager = user.get("manager") or {}
    return Person(
        id=str(user.get("employeeId") or username_of(user, attribute)),
        name=str(user.get("displayName") or username_of(user, attribute)),
        email=str(user.get("mail") or user.get("userPrincipalName") or ""),
        department=str(user.get("department") or ""),
        title=str(user.get("jobTitle") or ""),
        manager=str(manager["employeeId"]) if manager.get("employeeId") else None,
        location=place.strip().lower(),
        floor=int(floor.group(1)) if floor else None,
        phone_mobile=str(user.get("mobilePhone") or ""),
        employment=employment,
        start_date=hired.date() if hired else None,
        leaving_date=leaves.date() if leaves else None,
        notes="" if leave_dates else _NO_LEAVE_DATES,
    )


def sign_in_from(entry: Mapping[str, Any], person: str) -> SignIn:
    """One entry of ``/auditLogs/signIns`` as a :class:`SignIn` of ``person`` (errorCode 0 is a success)."""
    status = entry.get("status") or {}
    code = int(status.get("errorCode") or 0)
    location = entry.get("location") or {}
    device = entry.get("deviceDetail") or {}
    at = parse_time(entry.get("createdDateTime"))
    return SignIn(
        person=person,
        at=at or datetime.min.replace(tzinfo=UTC),
        success=code == 0,
        ip=str(entry.get("ipAddress") or ""),
        country=str(location.get("countryOrRegion") or "").upper(),
        city=str(location.get("city") or ""),
        device=str(device.get("displayName") or ""),
        client=str(entry.get("clientAppUsed") or ""),
        reason="" if code == 0 else _REASONS.get(code, str(status.get("failureReason") or f"error {code}")),
        event_id=str(entry.get("id") or ""),
    )


@dataclass(frozen=True)
class Lockout:
    """What the sign-in log says about a lockout: failed password sign-ins since the last success, and
    whether the newest "account is locked" entry (50053) is younger than the lockout duration."""

    failed_attempts: int = 0
    locked: bool = False
    locked_at: datetime | None = None
    lifts_at: datetime | None = None


def lockout_from(log: Iterable[SignIn], enabled: bool, now: datetime, duration: timedelta) -> Lockout:
    """The :class:`Lockout` a person's recent ``log`` shows (a disabled account is never "locked")."""
    entries = sorted(log, key=lambda s: s.at)
    last_success = max((i for i, s in enumerate(entries) if s.success), default=-1)
    failures = [s for s in entries[last_success + 1 :] if s.reason in ("bad_password", "locked_out")]
    locks = [s.at for s in failures if s.reason == "locked_out"]
    if not locks:
        return Lockout(len(failures))
    lifts = locks[-1] + duration
    return Lockout(len(failures), enabled and now < lifts, locks[-1], lifts)


def method_label(method: Mapping[str, Any]) -> str:
    """A method for people: ``authenticator app (iPhone 15)``, ``sms (+44 7700 900571)``."""
    kind = METHODS.get(str(method.get("@odata.type")), (str(method.get("@odata.type", "method")).split(".")[-1], ""))
    detail = method.get("displayName") or method.get("phoneNumber") or method.get("emailAddress") or ""
    return kind[0].replace("_", " ") + (f" ({detail})" if detail else "")


def _factor(method: Mapping[str, Any]) -> MfaFactor | None:
    odata = str(method.get("@odata.type"))
    if odata == PASSWORD_METHOD:
        return None
    kind = METHODS.get(odata, (odata.rsplit(".", 1)[-1].removesuffix("AuthenticationMethod"), ""))[0]
    if kind == "sms" and method.get("phoneType") in ("alternateMobile", "office"):
        kind = "phone_call"
    created = parse_time(method.get("createdDateTime"))
    device = method.get("displayName") or method.get("phoneNumber") or method.get("emailAddress") or ""
    return MfaFactor(type=kind, registered=created.date() if created else None, device=str(device))


def account_from(
    user: Mapping[str, Any],
    *,
    attribute: str,
    admin: Mapping[str, Any] | None,
    methods: Sequence[Mapping[str, Any]],
    member_of: Sequence[Mapping[str, Any]],
    lockout: Lockout,
    now: datetime,
    password_max_age: timedelta | None,
    service_types: Iterable[str],
) -> Account:
    """The :class:`Account` of a user, its admin account's user (or ``None``) and what was read about it."""
    changed = parse_time(user.get("lastPasswordChangeDateTime"))
    never_expires = "DisablePasswordExpiration" in str(user.get("passwordPolicies") or "")
    expired = bool(password_max_age and changed and not never_expires and now - changed > password_max_age)
    profile = user.get("passwordProfile") or {}
    groups = tuple(str(o.get("displayName") or o.get("id")) for o in member_of if _kind(o) == "group")
    notes = []
    if user.get("onPremisesSyncEnabled"):
        notes.append(
            "Synchronised from on-premises Active Directory (onPremisesSyncEnabled): its password and any AD "
            "lockout are mastered there, not in Entra ID."
        )
    if lockout.locked and lockout.locked_at and lockout.lifts_at:
        notes.append(
            f"Smart lockout since {lockout.locked_at:%H:%M} UTC (sign-in error {LOCKED_OUT}); it lifts on its own "
            f"at about {lockout.lifts_at:%H:%M} UTC."
        )
    return Account(
        person=str(user.get("employeeId") or username_of(user, attribute)),
        username=username_of(user, attribute),
        enabled=bool(user.get("accountEnabled", True)),
        locked=lockout.locked,
        failed_attempts=lockout.failed_attempts,
        password_last_set=changed.date() if changed else None,
        password_expired=expired,
        mfa_factors=tuple(f for f in map(_factor, methods) if f is not None),
        groups=groups,
        admin_account=username_of(admin, attribute) if admin else None,
        notes=" ".join(notes),
        password_reset_pending=bool(profile.get("forceChangePasswordNextSignIn")),
        service=str(user.get("employeeType") or "").lower() in {t.lower() for t in service_types},
        privileged=any(_kind(o) == "directoryRole" for o in member_of),
        sessions_revoked_at=parse_time(user.get("signInSessionsValidFromDateTime")),
    )


def _kind(item: Mapping[str, Any]) -> str:
    return str(item.get("@odata.type") or "").rsplit(".", 1)[-1]


_COMPLIANCE = {"compliant": "compliant", "noncompliant": "noncompliant", "inGracePeriod": "noncompliant"}
_OWNERSHIP = {"company": "corporate", "personal": "personal"}


def device_from(managed: Mapping[str, Any], owner: str | None, asset: Device | None) -> Device:
    """A :class:`Device` from an Intune ``managedDevice``, over the asset register's record when there is one.

    The register (``asset``, found by serial number) keeps what Intune does not: Firstline's id, the kind,
    owner, status, asset tag and notes. Intune gives the live state: compliance, last check-in, OS,
    encryption, storage, and when each action was last sent (``deviceActionResults``).
    """
    compliance = _COMPLIANCE.get(str(managed.get("complianceState")), "unknown")
    times: dict[str, datetime] = {}
    for result in managed.get("deviceActionResults") or ():
        field = ACTION_FIELDS.get(str(result.get("actionName")))
        started = parse_time(result.get("startDateTime"))
        if field and started and result.get("actionState") != "failed":
            times[field] = max(times.get(field, started), started)
    system = str(managed.get("operatingSystem") or "")
    model = str(managed.get("model") or "")
    live: dict[str, Any] = {
        "model": model or (asset.model if asset else ""),
        "serial": str(managed.get("serialNumber") or ""),
        "hostname": str(managed.get("deviceName") or ""),
        "ownership": _OWNERSHIP.get(
            str(managed.get("managedDeviceOwnerType")), asset.ownership if asset else "corporate"
        ),
        "os": system,
        "os_version": str(managed.get("osVersion") or ""),
        "mdm_enrolled": True,
        "encrypted": bool(managed.get("isEncrypted")),
        "compliance": compliance,
        "compliance_issues": asset.compliance_issues if asset and compliance == "noncompliant" else (),
        "disk_total_gb": round(int(managed.get("totalStorageSpaceInBytes") or 0) / 1e9, 1),
        "disk_free_gb": round(int(managed.get("freeStorageSpaceInBytes") or 0) / 1e9, 1),
        "last_check_in": parse_time(managed.get("lastSyncDateTime")),
        **{field: times.get(field) for field in ACTION_FIELDS.values()},
    }
    if asset is not None:
        return replace(asset, **live)
    return Device(id=str(managed["id"]), kind=_kind_of(system, model), owner=owner, **live)


def _kind_of(system: str, model: str) -> str:
    if "ipad" in model.lower() or "tab" in model.lower():
        return "tablet"
    return "mobile" if system.lower() in ("ios", "android", "ipados") else "laptop"


def automatic_reply_text(settings: Mapping[str, Any], now: datetime) -> str | None:
    """The internal out-of-office message while it is on (``alwaysEnabled``, or ``scheduled`` and in its
    window), as plain text; ``None`` while it is off."""
    reply = settings.get("automaticRepliesSetting") or {}
    status = reply.get("status")
    if status == "scheduled":
        start, end = (_zoned(reply.get(k)) for k in ("scheduledStartDateTime", "scheduledEndDateTime"))
        if (start and now < start) or (end and now >= end):
            return None
    elif status != "alwaysEnabled":
        return None
    text = str(reply.get("internalReplyMessage") or "")
    if "<" in text:
        text = _TAG.sub("", re.sub(r"(?i)<br\s*/?>|</p>", "\n", text))
    return html.unescape(text).strip() or None


def _zoned(value: Any) -> datetime | None:
    """A ``dateTimeTimeZone`` read as UTC (Firstline only writes UTC ones; others are read as UTC too)."""
    return parse_time(value.get("dateTime")) if isinstance(value, Mapping) else None


def automatic_replies_body(message: str | None) -> Json:
    """The PATCH body for ``/mailboxSettings``: the same text inside and outside, or replies off."""
    if message is None:
        return {"automaticRepliesSetting": {"status": "disabled"}}
    text = html.escape(message).replace("\n", "<br>")
    return {
        "automaticRepliesSetting": {
            "status": "alwaysEnabled",
            "externalAudience": "all",
            "internalReplyMessage": text,
            "externalReplyMessage": text,
        }
    }


def list_from(
    group: Mapping[str, Any], owners: Iterable[str], members: Iterable[str], register: DistributionList | None
) -> DistributionList:
    """A :class:`DistributionList` from a mail-enabled group with its owners' and members' person ids.

    Dynamic groups (``groupTypes`` holds ``DynamicMembership``) keep their ``membershipRule`` as the rule.
    Sender restrictions and open joining are Exchange settings that Graph v1.0 does not show: they come
    from ``register`` (the same list in ``others``) when there is one.
    """
    dynamic = "DynamicMembership" in (group.get("groupTypes") or [])
    rule = {"membershipRule": str(group["membershipRule"])} if dynamic and group.get("membershipRule") else None
    kind = "Microsoft 365 group" if "Unified" in (group.get("groupTypes") or []) else "distribution group"
    extra: dict[str, Any] = {
        "restricted": register.restricted if register else False,
        "allowed_senders": register.allowed_senders if register else (),
        "open_join": register.open_join if register else False,
        "notes": register.notes if register else f"An Exchange Online {kind}.",
    }
    return DistributionList(
        address=str(group.get("mail") or ""),
        name=str(group.get("displayName") or ""),
        owners=tuple(owners),
        members=tuple(members),
        dynamic=dynamic,
        rule=rule,
        **extra,
    )
