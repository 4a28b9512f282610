"""Device specialist tools: the requester's own laptops and phones — health, Intune compliance,
enrolment, and reporting one lost or stolen.

Every tool acts on devices registered to the requester. A hostname that belongs to someone else
is refused whatever the message says; wiping or retiring a device is never a Tier-1 action (Security
Operations decide, in Intune), so there is no wipe tool: the directory can send one, the chat cannot.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from firstline.agents import RunContext, Tool, tool
from firstline.directory.models import Device, Person
from firstline.errors import DirectoryEntryNotFoundError, InputError, ToolFailed
from firstline.helpdesk.tools.deps import deps_of, open_or_update_ticket, requester
from firstline.ticketing import Impact, NewTicket, Urgency

__all__ = ["BASELINES", "DEVICE_TOOLS", "STALE_CHECK_IN_DAYS"]

BASELINES = {"windows": "23H2", "macos": "14", "ios": "17", "ipados": "17", "android": "13"}
"""The oldest OS version Intune accepts, per platform (Windows: the Windows 11 release)."""

STALE_CHECK_IN_DAYS = 7  # a device silent for longer is treated as not reporting
LOW_DISK_GB = 20.0  # updates fail below about 20 GB free
SECURITY_GROUP = "Security Operations"

_WINDOWS_RELEASE = re.compile(r"(\d{2})H([12])", re.I)


def _now() -> datetime:
    return datetime.now(UTC)


def _my_device(ctx: RunContext, key: str | None) -> tuple[Person, Device]:
    """The requester's device named by ``key`` (their main computer when ``None``)."""
    person = requester(ctx)
    directory = deps_of(ctx).directory
    if key is None or not key.strip():
        device = _primary_computer(directory.devices_of(person.id))
        if device is None:
            raise ToolFailed(
                "I can't find a laptop in use under your name. Which device do you mean? The hostname is on a "
                "sticker underneath (e.g. NW-L-0206).",
                guidance="ask which device they mean (my_devices lists theirs)",
            )
        return person, device
    try:
        device = directory.device(key.strip())
    except DirectoryEntryNotFoundError as exc:
        raise ToolFailed(
            f"I can't find a device called {key!r}. The hostname is on a sticker underneath (e.g. NW-L-0206).",
            guidance="my_devices lists the requester's devices",
        ) from exc
    if device.owner != person.id:
        raise ToolFailed(
            f"{key} isn't registered to you, and I can only act on your own devices. If it should be yours, End "
            "User Computing can correct the record.",
            guidance="my_devices lists the requester's devices",
        )
    return person, device


def _primary_computer(devices: list[Device]) -> Device | None:
    """The main computer: in use, a laptop before a desktop, corporate before personal, then the oldest record."""
    computers = [d for d in devices if d.kind in ("laptop", "desktop") and d.status == "in_use"]
    return min(computers, key=lambda d: (d.kind != "laptop", d.ownership != "corporate", d.id), default=None)


def _platform(device: Device) -> str | None:
    os = device.os.lower()
    for name in ("windows", "macos", "ipados", "ios", "android"):
        if name in os:
            return name
    return None


def _meets_baseline(device: Device) -> bool | None:
    """Whether the OS is at or above the baseline; ``None`` when the platform or version is unknown."""
    platform = _platform(device)
    if platform is None or not device.os_version:
        return None
    if platform == "windows":
        if "windows 10" in device.os.lower():
            return False
        have, want = _WINDOWS_RELEASE.search(device.os_version), _WINDOWS_RELEASE.search(BASELINES["windows"])
        if have is None or want is None:
            return None
        return (int(have[1]), int(have[2])) >= (int(want[1]), int(want[2]))
    major = re.match(r"\d+", device.os_version)
    return None if major is None else int(major[0]) >= int(BASELINES[platform])


def _days_since(moment: datetime | None) -> float | None:
    return None if moment is None else round(max((_now() - moment).total_seconds(), 0.0) / 86400, 1)


def _stale(device: Device) -> bool:
    days = _days_since(device.last_check_in)
    return days is None or days > STALE_CHECK_IN_DAYS


def _free_percent(device: Device) -> float | None:
    return round(100 * device.disk_free_gb / device.disk_total_gb, 1) if device.disk_total_gb else None


def _os(device: Device) -> str:
    return f"{device.os} {device.os_version}".strip()


def _fix(issue: str, device: Device) -> str:
    """The user's fix for one Intune compliance issue (runbook "Device marked non-compliant in Intune")."""
    text, platform = issue.lower(), _platform(device)
    if "below baseline" in text or "os version" in text:
        return {
            "windows": "Settings > Windows Update > Check for updates; install everything (the feature update to "
            "Windows 11 23H2 or later) and restart. It needs about 20 GB free disk space.",
            "macos": "Apple menu > System Settings > General > Software Update; install macOS 14 or later. An Intel "
            "Mac that cannot run macOS 14 needs replacing through an equipment request.",
            "android": "Settings > System > Software update; install Android 13 or later. A phone that cannot reach "
            "Android 13 needs replacing through an equipment request.",
        }.get(
            platform or "",
            "Settings > General > Software Update; install iOS 17 or later while charging on Wi-Fi.",
        )
    if "bitlocker" in text or ("encrypt" in text and platform == "windows"):
        return (
            "Turn on BitLocker: Settings > Privacy & security > Device encryption, or Control Panel > BitLocker "
            "Drive Encryption > Turn on BitLocker, and let it finish. Never suspend BitLocker to get things working."
        )
    if "filevault" in text or ("encrypt" in text and platform == "macos"):
        return (
            "Turn on FileVault: System Settings > Privacy & Security > FileVault > Turn On, and let the organisation "
            "store the recovery key (not iCloud)."
        )
    if "signature" in text:
        return "Windows Security > Virus & threat protection > Protection updates > Check for updates."
    if "real-time" in text or "defender" in text:
        return (
            "Windows Security > Virus & threat protection > Manage settings > turn Real-time protection on. If it is "
            "greyed out, End User Computing must repair the Defender policy (P3)."
        )
    if "passcode" in text or "password" in text:
        return (
            "Set a passcode of at least 6 digits: Settings > Face ID & Passcode on an iPhone, "
            "Settings > Security on Android."
        )
    if "jailbreak" in text or "root" in text:
        return "A jailbroken or rooted device goes to Security Operations (P3); do not advise how to hide it."
    return (
        "Open Company Portal, select the device and tap Check status. If it is still non-compliant an hour after a "
        "sync, End User Computing investigate (P3) with the failing setting's name."
    )


@tool
def my_devices(ctx: RunContext) -> list[dict[str, Any]]:
    """List the requester's own devices (laptops, desktops, phones, tablets) with status and Intune compliance."""
    person = requester(ctx)
    return [
        {
            "id": d.id,
            "hostname": d.hostname,
            "asset_tag": d.asset_tag,
            "kind": d.kind,
            "model": d.model,
            "os": _os(d),
            "ownership": d.ownership,
            "status": d.status,
            "compliance": d.compliance,
        }
        for d in deps_of(ctx).directory.devices_of(person.id)
    ]


@tool
def device_health(ctx: RunContext, device: str | None = None) -> dict[str, Any]:
    """Check one of the requester's devices: free disk, OS version against the baseline, encryption, last check-in.

    Args:
        device: the hostname, id or asset tag, e.g. "NW-L-0206" or "NWM-L-00206"; leave it out for the
            requester's main laptop.
    """
    _, found = _my_device(ctx, device)
    free = _free_percent(found)
    days = _days_since(found.last_check_in)
    platform = _platform(found)
    return {
        "hostname": found.hostname,
        "kind": found.kind,
        "model": found.model,
        "status": found.status,
        "os": _os(found),
        "os_baseline": BASELINES.get(platform or ""),
        "os_meets_baseline": _meets_baseline(found),
        "disk_free_gb": found.disk_free_gb,
        "disk_total_gb": found.disk_total_gb,
        "disk_free_percent": free,
        "disk_low": found.disk_total_gb > 0 and (found.disk_free_gb < LOW_DISK_GB or (free or 0) < 10),
        "encrypted": found.encrypted,
        "mdm_enrolled": found.mdm_enrolled,
        "last_check_in": found.last_check_in.isoformat() if found.last_check_in else None,
        "days_since_check_in": days,
        "check_in_stale": _stale(found),
        "compliance": found.compliance,
        "compliance_issues": list(found.compliance_issues),
    }


@tool
def compliance_check(ctx: RunContext) -> list[dict[str, Any]]:
    """Explain why any of the requester's devices is non-compliant in Intune, with the fix for each issue."""
    person = requester(ctx)
    report = []
    for d in deps_of(ctx).directory.devices_of(person.id):
        if d.status in ("lost", "stolen", "retired"):
            continue
        entry: dict[str, Any] = {"hostname": d.hostname, "kind": d.kind, "os": _os(d), "compliance": d.compliance}
        entry["issues"] = [{"issue": issue, "fix": _fix(issue, d)} for issue in d.compliance_issues]
        if not d.mdm_enrolled:
            entry["next_step"] = "Not enrolled in Intune, so it gets no access: enrol it with Company Portal."
        elif d.compliance_issues:
            entry["next_step"] = (
                "After the fixes, sync: Company Portal > Check status (Windows: Settings > Accounts > Access work or "
                "school > Info > Sync) and allow up to 15 minutes for access to return."
            )
        elif _stale(d):
            entry["next_step"] = "It has not checked in for over a week: open Company Portal and tap Check status."
        report.append(entry)
    return report


_ENROL_STEPS: dict[str, tuple[str, ...]] = {
    "ios": (
        "Install Intune Company Portal from the App Store.",
        "Open it, sign in with the work address (firstname.lastname@nwmeridian.co.uk) and approve the MFA prompt.",
        "Tap Begin > Continue, then Download profile.",
        "Open Settings > General > VPN & Device Management, tap the Management Profile and choose Install.",
        "Return to Company Portal and wait until it shows 'All set'.",
    ),
    "android": (
        "Install Intune Company Portal from Google Play and sign in with the work address; approve the MFA prompt.",
        "Follow the prompts to create the work profile; work apps appear with a briefcase badge.",
        "Install Outlook and Teams from the work Play Store (the one with the briefcase).",
    ),
    "windows": (
        "Connect to the internet (not NW-Guest, which blocks enrolment) and sign in at the setup screen with the "
        "work account.",
        "If the desktop appears without enrolling, open Settings > Accounts > Access work or school > Connect and "
        "sign in with the work account again.",
        "Run `dsregcmd /status` in a command prompt and check that it shows `AzureAdJoined : YES`.",
        "Open Company Portal from the Start menu and wait until the device shows as compliant.",
    ),
    "macos": (
        "Corporate Macs enrol themselves at setup (Automated Device Enrolment): sign in with the work account when "
        "the Remote Management screen appears.",
        "If the Mac was set up without it, install Company Portal from portal.manage.microsoft.com, open it and "
        "sign in with the work address.",
        "Click Begin, then Download profile, and open System Settings > Privacy & Security > Profiles to install "
        "the Management Profile.",
        "Return to Company Portal and wait until the Mac shows 'All set'.",
    ),
}


@tool
def mdm_enrol_steps(ctx: RunContext, platform: Literal["windows", "macos", "ios", "android"]) -> dict[str, Any]:
    """Give the numbered steps to enrol a device in Intune with Company Portal, and what to do if it gets stuck.

    Args:
        platform: "windows", "macos", "ios" (iPhone or iPad) or "android".
    """
    steps = _ENROL_STEPS[platform]
    return {
        "platform": platform,
        "before_you_start": [
            "Each person may enrol up to 5 devices; stale ones must be removed first.",
            "MFA must work: approve the prompt on the sign-in.",
            "Personal Windows PCs are not enrolled (use the web apps); personal phones enrol as Personal with a "
            "work profile, and IT never sees photos or personal apps.",
        ],
        "steps": [f"{n}. {step}" for n, step in enumerate(steps, 1)],
        "if_it_gets_stuck": [
            "Tap Check status in Company Portal (Windows: Settings > Accounts > Access work or school > Info > Sync).",
            "Still failing: remove the management profile or work profile, restart and start again.",
            "'Device cap reached' or error 80180014 on a corporate laptop: End User Computing (P3) with the serial.",
        ],
    }


@tool(risk="write")
def report_lost_device(ctx: RunContext, device: str, stolen: bool, where_and_when: str) -> str:
    """Mark the requester's device lost or stolen and open a P2 ticket to Security Operations (needs verification).

    Args:
        device: the hostname, id or asset tag, e.g. "NW-M-0101"; my_devices lists the requester's devices.
        stolen: true if it was stolen, false if it was lost or left somewhere.
        where_and_when: where and when it was last seen, e.g. "left in a taxi from King's Cross, Friday 18:30".
    """
    person, found = _my_device(ctx, device)
    if found.status == "retired":
        raise ToolFailed(
            f"{found.hostname} is retired, so there is nothing to report. Which device is missing?",
            guidance="ask which device is missing",
        )
    status = "stolen" if stolen else "lost"
    if found.status != status:
        try:
            deps_of(ctx).directory.set_device_status(found.id, status)
        except InputError as exc:
            raise ToolFailed(str(exc)) from exc
    checked_in = found.last_check_in.isoformat() if found.last_check_in else "never"
    description = "\n".join(
        (
            f"{person.name} reports {found.kind} {found.hostname} {status}" + (" (VIP)." if person.vip else "."),
            f"Where and when: {where_and_when.strip() or 'not given'}",
            f"Model: {found.model}; serial {found.serial}; asset tag {found.asset_tag or 'none'}; {found.ownership}.",
            f"OS: {_os(found)}; encrypted: {found.encrypted}; Intune enrolled: {found.mdm_enrolled}; "
            f"last check-in: {checked_in}.",
            "Security Operations to revoke sessions and decide on a remote lock or wipe.",
        )
    )
    ticket = open_or_update_ticket(
        ctx,
        NewTicket(
            requester=person.email,
            short_description=f"{status.capitalize()} {found.kind} {found.hostname}",
            description=description,
            category="device",
            specialist="device",
            intent="lost_device",
            impact=Impact.MEDIUM,
            urgency=Urgency.HIGH,
            assignment_group=SECURITY_GROUP,
            correlation_id=f"{ctx.conversation_id or person.email}:lost-device:{found.id}",
            tags=["lost-device", status],
        ),
    )
    steps = [
        f"{found.hostname} is marked {status} and {ticket.number} (P{int(ticket.priority)}) is with {SECURITY_GROUP}, "
        "who revoke your sign-in sessions and decide on a remote lock or wipe.",
        "Change your password now from another device (https://aka.ms/sspr).",
    ]
    if stolen:
        steps.append("Report the theft to the police (101 or online) and add the crime reference to the ticket.")
    if found.kind in ("mobile", "tablet"):
        steps.append(
            "If the Authenticator app was on it, the Security specialist can remove it and help register a new phone."
        )
    if found.kind in ("laptop", "desktop"):
        steps.append("A loan laptop can be collected the same day from the London floor 4 or Leeds floor 2 IT bar.")
    return " ".join(steps)


@tool(risk="destructive")
def remote_lock(ctx: RunContext, device: str) -> str:
    """Lock one of the requester's own devices remotely through Intune (a human must approve it first).

    Args:
        device: the hostname, id or asset tag of the requester's device, e.g. "NW-M-0101".
    """
    _, found = _my_device(ctx, device)
    if found.status == "retired":
        raise ToolFailed(f"{found.hostname} is retired and no longer managed, so it cannot be locked")
    try:
        locked = deps_of(ctx).directory.remote_lock(found.id)
    except InputError as exc:
        raise ToolFailed(str(exc)) from exc
    return (
        f"A remote lock was sent to {locked.hostname}; it locks as soon as it is online. "
        "Only Security Operations can decide to wipe it."
    )


@tool(risk="write")
def sync_device(ctx: RunContext, device: str | None = None) -> str:
    """Make one of the requester's own devices check in with Intune now (after a compliance fix).

    Args:
        device: its hostname, e.g. "NW-L-0206"; empty for their main computer.
    """
    _, found = _my_device(ctx, device)
    try:
        synced = deps_of(ctx).directory.sync_device(found.id)
    except InputError as exc:
        raise ToolFailed(str(exc)) from exc
    return (
        f"{synced.hostname} was asked to check in with Intune now. Keep it switched on and online; its compliance "
        "usually updates within 15 minutes."
    )


DEVICE_TOOLS: tuple[Tool, ...] = (
    my_devices,
    device_health,
    compliance_check,
    mdm_enrol_steps,
    report_lost_device,
    remote_lock,
    sync_device,
)
