"""The directory: people, their accounts, devices, printers, phones and mailboxes, and known incidents.

Load the demo organisation and act on it as Tier-1 would::

    from firstline.directory import InMemoryDirectory, load_org

    directory = InMemoryDirectory(load_org("src/firstline/helpdesk/seed/org"))
    ruby = directory.person("r.chen")            # or "p019", or "ruby.chen@nwmeridian.co.uk"
    directory.account(ruby).locked               # True: 10 bad attempts from her phone
    directory.unlock_account("r.chen")           # after verifying who is asking
    directory.clear_print_queue("LON-F4-HP-02", ["PC-58282"])

:class:`SqlDirectory` keeps the same data in SQLite or PostgreSQL (``directory.seed(org)`` once).
:class:`LdapDirectory` (OpenLDAP with ppolicy), :class:`AdDirectory` (Active Directory over LDAPS) and
:class:`OktaDirectory` read people and accounts from where IT keeps them, handing the rest to one of the
other two; :class:`GraphDirectory` adds Intune devices and Exchange Online mailboxes from Microsoft
Graph. They are imported on first use, so ``ldap3`` loads only when needed. ``configure.build_directory``
builds what ``[directory]`` in the settings asks for (see docs/directory.md). Every backend passes
:class:`firstline.testing.directory.DirectoryContract` (the LDAP one its account part,
:class:`firstline.testing.directory.AccountContract`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firstline.directory.backend import CheckableDirectory, DirectoryBackend, DirectoryCheck, PersonRef
from firstline.directory.memory import InMemoryDirectory
from firstline.directory.migrations import upgrade
from firstline.directory.models import (
    DEVICE_STATUSES,
    FORWARDING_MODES,
    Account,
    CallForwarding,
    Device,
    DistributionList,
    KnownIncident,
    Mailbox,
    MfaFactor,
    OrgData,
    Person,
    Phone,
    Printer,
    PrintJob,
    SharedMailbox,
    SignIn,
)
from firstline.directory.rules import LOCKOUT_THRESHOLD
from firstline.directory.seed import load_org
from firstline.directory.sql import SqlDirectory

if TYPE_CHECKING:
    from firstline.directory.ad import AdDirectory
    from firstline.directory.graph import GraphDirectory
    from firstline.directory.ldap import LdapDirectory
    from firstline.directory.okta import OktaDirectory

__all__ = [
    "DEVICE_STATUSES",
    "FORWARDING_MODES",
    "LOCKOUT_THRESHOLD",
    "Account",
    "AdDirectory",
    "CallForwarding",
    "CheckableDirectory",
    "Device",
    "DirectoryBackend",
    "DirectoryCheck",
    "DistributionList",
    "GraphDirectory",
    "InMemoryDirectory",
    "KnownIncident",
    "LdapDirectory",
    "Mailbox",
    "MfaFactor",
    "OktaDirectory",
    "OrgData",
    "Person",
    "PersonRef",
    "Phone",
    "PrintJob",
    "Printer",
    "SharedMailbox",
    "SignIn",
    "SqlDirectory",
    "load_org",
    "upgrade",
]


_LAZY = {
    "AdDirectory": "firstline.directory.ad",
    "GraphDirectory": "firstline.directory.graph",
    "LdapDirectory": "firstline.directory.ldap",
    "OktaDirectory": "firstline.directory.okta",
}


def __getattr__(name: str) -> Any:
    """The vendor backends are imported on first use, so ldap3 and httpx load only when one is configured."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
