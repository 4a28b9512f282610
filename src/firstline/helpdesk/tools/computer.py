"""Computer specialist tools: the approved software catalogue, software requests, disk clean-up.

The catalogue is data (``helpdesk/data/software.yaml``), so an IT team edits it without touching
code. A request for catalogued software that needs a licence or a deployment opens one ticket per
conversation and product; anything not catalogued needs a New software assessment, never a
workaround.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from firstline.agents import RunContext, Tool, tool
from firstline.directory.models import Device, Person
from firstline.errors import ConfigError, DirectoryEntryNotFoundError, PersonNotFoundError, ToolFailed
from firstline.helpdesk.taxonomy import data_dir, load_taxonomy
from firstline.helpdesk.tools.deps import deps_of, open_or_update_ticket, requester
from firstline.ticketing import Impact, NewTicket, Urgency

__all__ = ["COMPUTER_TOOLS", "SoftwareItem", "find_software", "load_software_catalog"]

Install = Literal["self service", "company portal", "ticket"]
LicenceCost = Literal["free", "low", "medium", "high"]
Platform = Literal["windows", "macos"]

_COST_TEXT = {
    "free": "free",
    "low": "under £100 per user per year",
    "medium": "£100-£500 per user per year",
    "high": "over £500 per user per year",
}
_ASSESSMENT = (
    "help.nwmeridian.co.uk > Request something > Software > New software assessment, with the product name, vendor "
    "website, installed or cloud, number of users, cost and who pays, what data it handles, and why it is needed. "
    "The line manager approves the need; review takes 5-20 working days"
)


@dataclass(frozen=True, slots=True)
class SoftwareItem:
    """One product on the approved software list."""

    name: str
    aliases: tuple[str, ...]
    licence_cost: LicenceCost
    needs_manager_approval: bool
    platforms: tuple[Platform, ...]
    install: Install
    licence_group: str | None = None
    notes: str = ""

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")

    def matches(self, text: str) -> bool:
        return text.strip().lower() in (self.name.lower(), *self.aliases)


def _item(raw: Any, source: str) -> SoftwareItem:
    try:
        item = SoftwareItem(
            name=str(raw["name"]),
            aliases=tuple(str(a).lower() for a in raw.get("aliases") or ()),
            licence_cost=raw["licence_cost"],
            needs_manager_approval=bool(raw["needs_manager_approval"]),
            platforms=tuple(raw["platforms"]),
            install=raw["install"],
            licence_group=raw.get("licence_group"),
            notes=str(raw.get("notes") or ""),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{source}: an entry lacks a field or has the wrong shape: {exc!r} in {raw!r}") from exc
    for value, allowed, what in (
        (item.licence_cost, get_args(LicenceCost), "licence_cost"),
        (item.install, get_args(Install), "install"),
        *((p, get_args(Platform), "platforms") for p in item.platforms),
    ):
        if value not in allowed:
            raise ConfigError(f"{source}: {item.name} has {what} {value!r}; use one of {', '.join(allowed)}")
    if item.install == "self service" and item.needs_manager_approval:
        raise ConfigError(f"{source}: {item.name} is self service, so it cannot need a manager's approval")
    return item


@cache
def load_software_catalog(path: Path | None = None) -> tuple[SoftwareItem, ...]:
    """The shipped approved software list (or the one at ``path``), checked and cached."""
    source = path or data_dir() / "software.yaml"
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read the software catalogue {source}: {exc}") from exc
    if not isinstance(raw, list):
        raise ConfigError(f"{source} must be a YAML list of software entries")
    return tuple(_item(entry, str(source)) for entry in raw)


def find_software(name: str) -> SoftwareItem | None:
    """The catalogue entry whose name or an alias is ``name`` (any case), if any."""
    return next((item for item in load_software_catalog() if item.matches(name)), None)


def _main_computer(ctx: RunContext, person: Person) -> Device | None:
    devices = deps_of(ctx).directory.devices_of(person.id)
    computers = [d for d in devices if d.kind in ("laptop", "desktop") and d.status == "in_use"]
    return min(computers, key=lambda d: (d.kind != "laptop", d.ownership != "corporate", d.id), default=None)


def _platform(device: Device | None) -> Platform | None:
    os = device.os.lower() if device else ""
    return "windows" if "windows" in os else "macos" if "macos" in os else None


def _portal_steps(platform: Platform | None) -> str:
    where = {"windows": "the Start menu", "macos": "Applications"}.get(platform or "", "the Start menu or Applications")
    return f"Open Company Portal from {where} > Apps, search for the name and click Install; keep the laptop on."


def _describe(item: SoftwareItem) -> dict[str, Any]:
    how = {
        "self service": "install it from Company Portal, no request needed",
        "company portal": "in Company Portal; the licence needs the line manager's approval",
        "ticket": "on request: End User Computing deploy it after the line manager approves",
    }[item.install]
    if item.install == "ticket" and not item.needs_manager_approval:
        how = "on request: End User Computing deploy it, no approval needed"
    return {
        "name": item.name,
        "also_known_as": list(item.aliases),
        "licence_cost": _COST_TEXT[item.licence_cost],
        "needs_manager_approval": item.needs_manager_approval,
        "platforms": list(item.platforms),
        "how_to_get_it": how,
        "notes": item.notes,
    }


@tool
def software_catalog(ctx: RunContext, query: str | None = None) -> list[dict[str, Any]]:
    """List approved software, with cost, platforms and how to get each; filter by a word of the name.

    Args:
        query: part of a product name, e.g. "adobe" or "visio"; leave it out for the whole list.
    """
    text = (query or "").strip().lower()
    return [
        _describe(item)
        for item in load_software_catalog()
        if not text or text in item.name.lower() or any(text in alias for alias in item.aliases)
    ]


@tool(risk="write")
def request_software(ctx: RunContext, name: str, reason: str = "") -> str:
    """Request approved software for the requester: self-service install steps, or a ticket for manager approval.

    Args:
        name: the product as the user calls it, e.g. "Visio", "Photoshop" or "7-Zip".
        reason: why they need it, in the user's words (goes on the ticket for the manager).
    """
    person = requester(ctx)
    item = find_software(name)
    if item is None:
        raise ToolFailed(
            f"{name!r} isn't on the approved software list. You can ask for a review at {_ASSESSMENT}.",
            guidance="software_catalog shows the list. Do not suggest portable versions or other workarounds",
        )
    device = _main_computer(ctx, person)
    platform = _platform(device)
    if device is not None and platform is not None and platform not in item.platforms:
        raise ToolFailed(
            f"{item.name} is approved for {' and '.join(item.platforms)} only, and {device.hostname} runs "
            f"{device.os}. {item.notes} Another approved tool may do, or you can ask for an assessment at "
            f"{_ASSESSMENT}.",
            guidance="ask whether another approved tool would do, or request an assessment",
        )
    try:
        groups = deps_of(ctx).directory.account(person.id).groups
    except DirectoryEntryNotFoundError:
        groups = ()
    has_licence = item.licence_group is not None and item.licence_group in groups
    if item.install != "ticket" and (not item.needs_manager_approval or has_licence):
        licensed = " The licence is already assigned to you." if has_licence else ""
        return f"{item.name} needs no request.{licensed} {_portal_steps(platform)} {item.notes}".strip()
    manager = _manager_name(ctx, person)
    ticket = open_or_update_ticket(
        ctx,
        NewTicket(
            requester=person.email,
            short_description=f"Software request: {item.name}",
            description="\n".join(
                (
                    f"{person.name} requests {item.name} ({_COST_TEXT[item.licence_cost]}, install: {item.install}).",
                    f"Device: {device.hostname} ({device.os})" if device else "Device: none in use",
                    f"Reason: {reason.strip() or 'not given'}",
                    f"Approver: {manager}" if item.needs_manager_approval else "No manager approval needed.",
                )
            ),
            category="software",
            specialist="computer",
            intent="software_request",
            impact=Impact.LOW,
            urgency=Urgency.MEDIUM,
            assignment_group=load_taxonomy().specialists["computer"].assignment_group,
            correlation_id=f"{ctx.conversation_id or person.email}:software:{item.slug}",
            tags=["software", item.slug],
        ),
    )
    if not item.needs_manager_approval:
        return f"{ticket.number} asks End User Computing to deploy {item.name} to your laptop. {item.notes}".strip()
    after = (
        "then the licence is assigned; you can install it from Company Portal now and it unlocks then."
        if item.install == "company portal"
        else "then End User Computing deploy it to your laptop."
    )
    return f"{ticket.number} is raised for {item.name}: {manager} (your manager) must approve it, {after}"


def _manager_name(ctx: RunContext, person: Person) -> str:
    if person.manager is None:
        return "your department head"
    try:
        return deps_of(ctx).directory.person(person.manager).name
    except PersonNotFoundError:
        return "your line manager"


@tool
def disk_cleanup_steps(ctx: RunContext) -> dict[str, Any]:
    """Show free disk space on the requester's main laptop and the clean-up steps for its OS (Windows or macOS)."""
    person = requester(ctx)
    device = _main_computer(ctx, person)
    if device is None:
        raise ToolFailed(
            "I can't find a computer in use under your name. Which computer is it? The hostname is on a sticker "
            "underneath (e.g. NW-L-0206).",
            guidance="ask which computer is full",
        )
    platform = _platform(device)
    free_percent = round(100 * device.disk_free_gb / device.disk_total_gb, 1) if device.disk_total_gb else None
    steps = _CLEANUP.get(platform or "", _CLEANUP["windows"])
    return {
        "hostname": device.hostname,
        "os": f"{device.os} {device.os_version}".strip(),
        "disk_free_gb": device.disk_free_gb,
        "disk_total_gb": device.disk_total_gb,
        "disk_free_percent": free_percent,
        "updates_will_fail": device.disk_free_gb < 20,
        "steps": [f"{n}. {step}" for n, step in enumerate(steps, 1)],
        "rules": "Only the user deletes their own files, after checking them; no third-party disk cleaners.",
        "escalate": "Still over 90% full with no large user files: End User Computing, P3, with a screenshot of "
        "the storage page and the device name.",
    }


_CLEANUP: dict[str, tuple[str, ...]] = {
    "windows": (
        "Settings > System > Storage > Temporary files: tick Temporary files, Delivery Optimisation files, Recycle "
        "Bin and Windows Update Cleanup, then Remove files (leave Downloads unticked until checked).",
        "Turn on Storage Sense on the same page so temporary files clear themselves.",
        "In File Explorer right-click the 'OneDrive – Northwind Meridian' folder > Free up space; files stay in "
        "the cloud and download when opened.",
        "Review Downloads and Videos sorted by size (View > Details, click the Size column) and delete what is "
        "not needed; personal photos, music and films do not belong on a company laptop.",
        "If %LOCALAPPDATA%\\Microsoft\\Outlook holds an .ost file over 20 GB: File > Account Settings > Account "
        "Settings > Change, and set 'Download email for the past' to 1 year.",
        "Restart and check that more than 20% is free.",
    ),
    "macos": (
        "Apple menu > System Settings > General > Storage: click i beside each category, and turn on Empty Trash "
        "Automatically and Optimise Storage.",
        "In Finder, select the OneDrive folder's contents, right-click > Free Up Space.",
        "Clear Downloads, and find large files with Finder > File > Find, Kind: Other > File Size greater than 1 GB.",
        "Restart and check that more than 20% is free.",
    ),
}


COMPUTER_TOOLS: tuple[Tool, ...] = (software_catalog, request_software, disk_cleanup_steps)
