"""Intune managed devices for :class:`~firstline.directory.graph.GraphDirectory`, over the asset register.

Intune (``/deviceManagement/managedDevices``) knows the devices it manages: their name, serial,
primary user, compliance, OS, encryption, storage and the actions sent to them. The asset register
in ``others`` knows Firstline's device ids (``d086``), asset tags, kinds, owners and lifecycle status
(lost, stolen, spare). A device in both (same serial number) is the register's record with Intune's
live state over it (:func:`~firstline.directory.graph_records.device_from`); one only in Intune keeps
its Intune id; one only in the register is not enrolled, so no MDM action reaches it.

Lookups (:meth:`IntuneDevices.device`) take an Intune id, a register id, hostname, serial or asset
tag. Actions go to Intune (``syncDevice``, ``remoteLock``, ``retire``, ``wipe``, each a POST answered
``204``); the time each was sent is read back from ``deviceActionResults`` (or, while Intune has not
listed it yet, the time Firstline sent it). Device status is the register's, so
:meth:`IntuneDevices.set_status` changes it there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from firstline.directory import rules
from firstline.directory.backend import DirectoryBackend
from firstline.directory.graph_http import DEVICE_ACTIONS, DEVICE_READ, GraphCalls
from firstline.directory.graph_records import ACTION_FIELDS, Json, device_from
from firstline.directory.models import Device, Person
from firstline.errors import DirectoryEntryNotFoundError, DirectoryError

__all__ = ["IntuneDevices"]

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_RULE_NAMES = {"syncDevice": "sync", "retire": "retire", "wipe": "wipe"}
_SKEW = timedelta(minutes=2)
_DEVICES = "/deviceManagement/managedDevices"


class IntuneDevices:
    """Devices from Intune (``calls``) merged with the asset register (``others``, may be ``None``).

    ``delegate`` returns ``others`` or raises the ConfigError that says to set it; ``owner_of`` maps an
    Entra user id to a person id.
    """

    def __init__(
        self,
        calls: GraphCalls,
        delegate: Callable[[], DirectoryBackend],
        others: DirectoryBackend | None,
        clock: Callable[[], datetime],
        owner_of: Callable[[str], str | None],
    ) -> None:
        self.calls, self.others = calls, others
        self._delegate, self._clock, self._owner_of = delegate, clock, owner_of

    def devices_of(self, person: Person, user_id: str) -> list[Device]:
        """Intune's devices whose primary user is ``user_id``, and the register's devices of ``person``."""
        params = {"$filter": f"userId eq {_literal(user_id)}"}
        found: dict[str, Device] = {}
        for managed in self.calls.items(_DEVICES, params, permission=DEVICE_READ):
            asset = self._asset(str(managed.get("serialNumber") or ""))
            device = device_from(managed, person.id, asset)
            found[device.serial.lower() or device.id] = device
        for asset in self.others.devices_of(person) if self.others is not None else ():
            if asset.serial.lower() not in found:
                found[asset.serial.lower() or asset.id] = self._located(asset)[0]
        return sorted(found.values(), key=lambda d: d.id)

    def device(self, key: str) -> Device:
        return self._locate(key)[0]

    def action(self, key: str, action: str) -> Device:
        """Send ``action`` (``remoteLock``, ``syncDevice``, ``retire`` or ``wipe``) to the device through Intune."""
        device, managed, _ = self._locate(key)
        now = self._clock()
        if action == "remoteLock":
            requested = rules.remote_lock_requested(device, now)
        else:
            requested = rules.device_action_requested(device, _RULE_NAMES[action], now)
        if managed is None:  # the rules above refuse every device Intune does not manage
            raise DirectoryError(f"{device.hostname} is not managed by Intune.")
        body = {"keepEnrollmentData": False, "keepUserData": False} if action == "wipe" else None
        path = f"{_DEVICES}/{managed['id']}"
        self.calls.send("POST", f"{path}/{action}", body, permission=DEVICE_ACTIONS, not_found=_missing(key))
        after = self._merged(self.calls.get(path, permission=DEVICE_READ, not_found=_missing(key)))
        field = ACTION_FIELDS[action]
        recorded = getattr(after, field)
        if recorded is None or recorded < now - _SKEW:  # Intune has not listed the action yet
            after = replace(after, **{field: getattr(requested, field)})
        return after

    def set_status(self, key: str, status: str) -> Device:
        """Mark the device lost, stolen, spare, ... in the asset register (Intune keeps no such status)."""
        device, managed, asset = self._locate(key)
        register = self._delegate()
        if asset is None:
            raise DirectoryError(
                f"{device.hostname} is in Intune but not in the asset register, where device status (lost, stolen, "
                "spare, ...) is kept. Escalate to End User Computing to add it there."
            )
        changed = register.set_device_status(asset.id, status)
        return self._merged(managed) if managed is not None else changed

    # --- lookups

    def _locate(self, key: str) -> tuple[Device, Json | None, Device | None]:
        """The device with this key, its managedDevice (``None``: not in Intune) and register record."""
        wanted = key.strip()
        if _GUID.fullmatch(wanted):
            managed = self.calls.get(f"{_DEVICES}/{wanted}", permission=DEVICE_READ, not_found=_missing(key))
            return self._merged_with(managed)
        asset = self._asset(wanted)
        if asset is not None:
            return self._located(asset)
        for field in ("deviceName", "serialNumber"):
            managed_list = self._by(field, wanted)
            if managed_list:
                return self._merged_with(managed_list[0])
        raise rules.not_found("device", key)

    def _located(self, asset: Device) -> tuple[Device, Json | None, Device | None]:
        managed = self._by("serialNumber", asset.serial) if asset.serial else []
        if managed:
            return device_from(managed[0], asset.owner, asset), managed[0], asset
        return replace(asset, mdm_enrolled=False), None, asset

    def _merged_with(self, managed: Json) -> tuple[Device, Json | None, Device | None]:
        asset = self._asset(str(managed.get("serialNumber") or ""))
        owner = None if asset is not None else self._owner_of(str(managed.get("userId") or ""))
        return device_from(managed, owner, asset), managed, asset

    def _merged(self, managed: Json) -> Device:
        return self._merged_with(managed)[0]

    def _by(self, field: str, value: str) -> list[Json]:
        return self.calls.items(_DEVICES, {"$filter": f"{field} eq {_literal(value)}"}, permission=DEVICE_READ)

    def _asset(self, key: str) -> Device | None:
        if self.others is None or not key:
            return None
        try:
            return self.others.device(key)
        except DirectoryEntryNotFoundError:
            return None


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _missing(key: str) -> Callable[[], DirectoryEntryNotFoundError]:
    return lambda: rules.not_found("device", key)
