"""Exchange Online through Microsoft Graph for :class:`~firstline.directory.graph.GraphDirectory`: out-of-office
replies and distribution lists.

**Mailboxes.** Graph v1.0 reads and sets a user's ``automaticRepliesSetting`` (``/users/{id}/mailboxSettings``)
but has no mailbox size or quota (those are only in the usage reports) and no shared-mailbox
permissions. So a :class:`~firstline.directory.models.Mailbox` is ``others``' record with Graph's
automatic replies over it; shared mailboxes come from ``others`` as they are. A reply is written as
the same message inside and outside the organisation, HTML-escaped (Exchange keeps replies as HTML).

**Lists.** A list is the mail-enabled group whose ``mail`` is the address: its owners and members
(``/owners``, ``/members``, read as person ids from ``employeeId``), dynamic when ``groupTypes`` holds
``DynamicMembership``. Members are added with ``POST /groups/{id}/members/$ref`` and removed with
``DELETE /groups/{id}/members/{user}/$ref``, which Graph allows for Microsoft 365 and security groups
only: classic distribution groups and mail-enabled security groups are managed in Exchange, and
Firstline says so. Dynamic lists are refused by :func:`firstline.directory.rules.joined`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from firstline.directory import rules
from firstline.directory.backend import DirectoryBackend
from firstline.directory.graph_http import GROUP_MEMBERS, MAILBOX_SETTINGS, GraphCalls
from firstline.directory.graph_records import Json, automatic_replies_body, automatic_reply_text, list_from
from firstline.directory.models import DistributionList, Mailbox, Person, SharedMailbox
from firstline.errors import DirectoryEntryNotFoundError, DirectoryError

__all__ = ["ExchangeMail"]

_GROUP_FIELDS = "id,displayName,mail,mailEnabled,securityEnabled,groupTypes,membershipRule"


class ExchangeMail:
    """Mailbox settings and mail-enabled groups over ``calls``; ``others`` has the rest of each mailbox."""

    def __init__(
        self,
        calls: GraphCalls,
        delegate: Callable[[], DirectoryBackend],
        others: DirectoryBackend | None,
        clock: Callable[[], datetime],
        base_url: str,
    ) -> None:
        self.calls, self.others, self.base_url = calls, others, base_url
        self._delegate, self._clock = delegate, clock

    # --- mailboxes

    def mailbox(self, address: str, user_of: Callable[[str], str]) -> Mailbox | SharedMailbox:
        """``others``' mailbox at ``address``; a user mailbox gets its automatic replies from Graph."""
        found = self._delegate().mailbox(address)
        if isinstance(found, SharedMailbox):
            return found
        return self._overlay(found, user_of(found.owner))

    def mailbox_of(self, person: Person, user_id: str) -> Mailbox | None:
        found = self._delegate().mailbox_of(person)
        return None if found is None else self._overlay(found, user_id)

    def set_automatic_replies(self, person: Person, user_id: str, message: str | None) -> Mailbox:
        """Turn the reply on with ``message`` (trimmed) or off; works without ``others`` (no size then)."""
        if self.others is not None:
            base = self.others.mailbox_of(person)
            if base is None:
                raise rules.not_found("mailbox", person.email)
        else:
            note = "Mailbox size and quota are not in Microsoft Graph v1.0; pass `others` to read them."
            base = Mailbox(address=person.email, owner=person.id, quota_gb=0.0, used_gb=0.0, notes=note)
        wanted = rules.automatic_replies(base, message)
        body = automatic_replies_body(wanted.automatic_replies)
        path = f"/users/{user_id}/mailboxSettings"
        self.calls.send("PATCH", path, body, permission=MAILBOX_SETTINGS, not_found=_no_mailbox(base.address))
        return self._overlay(base, user_id)

    def _overlay(self, mailbox: Mailbox, user_id: str) -> Mailbox:
        settings = self.calls.get(
            f"/users/{user_id}/mailboxSettings", permission=MAILBOX_SETTINGS, not_found=_no_mailbox(mailbox.address)
        )
        return replace(mailbox, automatic_replies=automatic_reply_text(settings, self._clock()))

    # --- distribution lists

    def distribution_list(self, address: str) -> DistributionList:
        return self._list(self._group(address))

    def change_list(self, address: str, person: Person, user_id: str, *, join: bool) -> DistributionList:
        """Add ``person`` to (``join``) or remove them from the list; no request when nothing changes."""
        group = self._group(address)
        current = self._list(group)
        wanted = rules.joined(current, person) if join else rules.left(current, person)
        if wanted == current:
            return current
        if not _graph_managed(group):
            raise DirectoryError(
                f"{current.address} is an Exchange distribution group (or mail-enabled security group), whose members "
                "Microsoft Graph cannot change. Add or remove them in the Exchange admin centre "
                "(Add-DistributionGroupMember / Remove-DistributionGroupMember), or escalate to Messaging."
            )
        gid = group["id"]
        if join:
            body = {"@odata.id": f"{self.base_url}/directoryObjects/{user_id}"}
            self.calls.send("POST", f"/groups/{gid}/members/$ref", body, permission=GROUP_MEMBERS)
        else:
            self.calls.send("DELETE", f"/groups/{gid}/members/{user_id}/$ref", permission=GROUP_MEMBERS)
        return self._list(group)

    def _group(self, address: str) -> Json:
        wanted = address.strip()
        literal = "'" + wanted.replace("'", "''") + "'"
        params = {"$filter": f"mail eq {literal}", "$select": _GROUP_FIELDS}
        found = [g for g in self.calls.items("/groups", params, permission=GROUP_MEMBERS) if g.get("mailEnabled")]
        if not found:
            raise rules.not_found("distribution list", address)
        return found[0]

    def _list(self, group: Json) -> DistributionList:
        gid = group["id"]
        select = {"$select": "id,employeeId,mail"}
        owners = self.calls.items(f"/groups/{gid}/owners", select, permission=GROUP_MEMBERS)
        members = self.calls.items(f"/groups/{gid}/members", select, permission=GROUP_MEMBERS)
        register = None
        if self.others is not None:
            try:
                register = self.others.distribution_list(str(group.get("mail") or ""))
            except DirectoryEntryNotFoundError:
                register = None
        return list_from(group, _people(owners), _people(members), register)


def _people(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Person ids of directory objects (users' ``employeeId``; others by address or id)."""
    return [str(o.get("employeeId") or o.get("mail") or o.get("id")) for o in objects]


def _graph_managed(group: Mapping[str, Any]) -> bool:
    """Microsoft 365 groups and (non-mail) security groups: the ones whose members Graph may change."""
    return "Unified" in (group.get("groupTypes") or []) or bool(
        group.get("securityEnabled") and not group.get("mailEnabled")
    )


def _no_mailbox(address: str) -> Callable[[], DirectoryEntryNotFoundError]:
    return lambda: rules.not_found("mailbox", address)
