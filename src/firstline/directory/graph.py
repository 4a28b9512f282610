"""People, accounts and sign-ins from Microsoft Entra ID, devices from Intune and mail settings from Exchange
Online, all through Microsoft Graph (v1.0) with an app registration's client credentials.

:class:`GraphDirectory` reads users (:mod:`~firstline.directory.graph_users`; the field mapping is in
:mod:`~firstline.directory.graph_records`), their ``memberOf`` groups and directory roles,
authentication methods and sign-in log, and makes the
changes Graph offers: a required password change (``passwordProfile``), MFA reset (each method
deleted), ``revokeSignInSessions``, a Temporary Access Pass, Intune device actions
(:mod:`~firstline.directory.graph_devices`), out-of-office replies and list membership
(:mod:`~firstline.directory.graph_mail`).

What Entra ID does not have, Firstline does not pretend to do:

* **No lock flag and no unlock.** Smart lockout ends on its own. ``Account.locked`` is read from the
  sign-in log: an "account is locked" entry (error 50053) younger than ``lockout_duration``, with no
  success since; ``failed_attempts`` counts bad passwords (50126) and lockouts since the last
  success in the last day. :meth:`GraphDirectory.unlock_account` returns the account when
  there is nothing to unlock and otherwise says when the lockout lifts and what else helps.
  :meth:`GraphDirectory.record_failed_login` refuses: Entra ID counts failures itself.
* **Synchronised accounts** (``onPremisesSyncEnabled``) have their password and AD lockout mastered in
  on-premises Active Directory: password changes are refused with that said, and the account notes say it.
* **Admin accounts** are separate users with the same ``employeeId`` whose username starts with
  ``admin_prefix`` (``adm-``): found, never changed.

Printers, phones, known incidents, shared mailboxes, mailbox sizes and the asset register's side of
devices come from ``others`` (usually the built-in SQL directory); without it those calls raise
:class:`~firstline.errors.ConfigError`. The app registration needs the application permissions in
:mod:`firstline.directory.graph_http`; :meth:`GraphDirectory.check` tries each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from firstline.directory import rules
from firstline.directory.backend import DirectoryBackend, DirectoryCheck, PersonRef
from firstline.directory.delegated import Delegating
from firstline.directory.graph_check import run_checks
from firstline.directory.graph_devices import IntuneDevices
from firstline.directory.graph_http import (
    AUTH_METHODS,
    PASSWORD_PROFILE,
    REVOKE_SESSIONS,
    SECRET_SETTINGS,
    SETTING,
    GraphCalls,
)
from firstline.directory.graph_mail import ExchangeMail
from firstline.directory.graph_records import (
    METHODS,
    PASSWORD_METHOD,
    method_label,
    parse_time,
    username_of,
)
from firstline.directory.graph_users import EntraUsers
from firstline.directory.models import (
    Account,
    Device,
    DistributionList,
    Mailbox,
    Person,
    SharedMailbox,
    SignIn,
)
from firstline.errors import (
    AccountDisabledError,
    DirectoryError,
    FirstlineError,
    InputError,
)
from firstline.vendors.http import ClientCredentials, VendorHttp

__all__ = ["GraphDirectory", "TemporaryAccessPass"]

SCOPE = "https://graph.microsoft.com/.default"


@dataclass(frozen=True)
class TemporaryAccessPass:
    """A Temporary Access Pass that was issued: when it stops working and whether it works only once."""

    expires_at: datetime
    usable_once: bool


class GraphDirectory(Delegating):
    """A :class:`~firstline.directory.backend.DirectoryBackend` over Microsoft Graph (Entra ID, Intune, Exchange).

    ``tenant_id``, ``client_id`` and ``client_secret`` are the app registration's; ``base_url`` and
    ``token_url`` (default ``https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token``) may point
    elsewhere (tests). ``username_attribute`` holds ``r.chen``-style names. ``password_max_age`` (the
    tenant's password expiry policy, ``None``: passwords never expire) makes ``password_expired``
    meaningful; ``lockout_duration`` is how long an account counts as locked after its last lockout
    entry (set it to your smart lockout or AD lockout duration); ``service_types`` are the
    ``employeeType`` values of service accounts.
    """

    system = "Microsoft Graph"
    holds = "people, accounts, sign-ins, Intune devices, out-of-office replies and groups"

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        *,
        base_url: str = "https://graph.microsoft.com/v1.0",
        token_url: str | None = None,
        others: DirectoryBackend | None = None,
        username_attribute: str = "onPremisesSamAccountName",
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = rules.utc_now,
        timeout_s: float = 10,
        admin_prefix: str = "adm-",
        service_types: Iterable[str] = ("Service",),
        password_max_age: timedelta | None = None,
        lockout_duration: timedelta = timedelta(minutes=10),
    ) -> None:
        self.tenant_id, self.client_id, self.base_url = tenant_id, client_id, base_url.rstrip("/")
        self.token_url = token_url or f"https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
        self.others = others
        self.username_attribute, self.admin_prefix = username_attribute, admin_prefix
        self.service_types = tuple(service_types)
        self.password_max_age, self.lockout_duration = password_max_age, lockout_duration
        self._clock = clock
        self._auth = ClientCredentials(self.token_url, client_id, client_secret, SECRET_SETTINGS, scope=SCOPE)
        self._http = VendorHttp(
            "Microsoft Graph",
            self.base_url,
            self._auth,
            SETTING,
            timeout_s=timeout_s,
            request_id_header="request-id",
            transport=transport,
            sleep=sleep,
        )
        self.calls = GraphCalls(self._http)
        self.users = EntraUsers(
            self.calls, clock, username_attribute, admin_prefix, self.service_types, password_max_age, lockout_duration
        )
        self._devices = IntuneDevices(self.calls, lambda: self._delegate, others, clock, self.users.person_id)
        self._mail = ExchangeMail(self.calls, lambda: self._delegate, others, clock, self.base_url)

    def __repr__(self) -> str:
        return f"GraphDirectory(tenant {self.tenant_id!r}, {self.base_url!r})"

    @property
    def requests_sent(self) -> int:
        """How many HTTP requests went to Graph (tests count them)."""
        return self._http.requests_sent

    # --- people and accounts

    def person(self, key: str) -> Person:
        return self.users.person(self._user_id(key))

    def find_people(self, text: str) -> list[Person]:
        return self.users.find_people(text)

    def account(self, person: PersonRef) -> Account:
        return self.users.account(self.users.find(person))[0]

    def sign_ins(self, person: PersonRef, days: int = 14) -> list[SignIn]:
        users = self.users.find(person, with_admin=False)
        return self.users.log(users.own, self._clock() - timedelta(days=days))

    def unlock_account(self, username: str) -> Account:
        """Nothing to do when the lockout has ended; otherwise a :class:`DirectoryError` that says when it lifts.

        Entra ID has no unlock operation: smart lockout lifts on its own after the lockout period.
        """
        users = self.users.target(username)
        account, lockout = self.users.account(users)
        if not account.enabled:
            raise AccountDisabledError(account.username, "accountEnabled is false in Entra ID")
        if not account.locked:
            return account
        # Read by the employee (the helpdesk tells a directory's refusal as it is): plain words, what to do.
        advice = (
            f"Microsoft's sign-in service locked {account.username} at {lockout.locked_at:%H:%M} UTC after too many "
            f"wrong passwords, and that lock can't be lifted by hand: it ends on its own at about "
            f"{lockout.lifts_at:%H:%M} UTC on {lockout.lifts_at:%a %d %b}. Don't try again before then (each wrong "
            "password makes it last longer), then sign in once with the right password. If you've forgotten the "
            "password, ask me for a reset link."
        )
        if users.own.get("onPremisesSyncEnabled"):
            advice += (
                " Your account comes from the company's on-premises directory: if it is locked there too, the "
                "service desk can unlock it there (Identity & Access Management)."
            )
        raise DirectoryError(advice)

    def record_failed_login(self, username: str) -> Account:
        """Refused: Entra ID counts failed sign-ins itself (smart lockout); nothing can add one."""
        self.users.target(username)
        raise DirectoryError(
            f"Entra ID counts failed sign-ins itself (smart lockout), so Firstline cannot record one for {username!r}. "
            "Read what happened with sign_ins instead."
        )

    def set_password_reset_required(self, username: str) -> Account:
        users = self.users.target(username)
        self.users.cloud_password(users, "require a new password at the next sign-in")
        body = {"passwordProfile": {"forceChangePasswordNextSignIn": True}}
        self.calls.send("PATCH", f"/users/{users.id}", body, permission=PASSWORD_PROFILE)
        return self.users.reread(users)

    def reset_password(self, username: str, new_password: str) -> Account:
        """Set ``passwordProfile.password`` (only for the self-service reset-link flow and tests)."""
        rules.check_new_password(new_password)
        users = self.users.target(username)
        self.users.cloud_password(users, "set a new password")
        body = {"passwordProfile": {"password": new_password, "forceChangePasswordNextSignIn": False}}
        self.calls.send("PATCH", f"/users/{users.id}", body, permission=PASSWORD_PROFILE)
        return self.users.reread(users)

    def reset_mfa(self, username: str) -> Account:
        """Delete every registered method but the password (phones last: a default phone cannot go first).
        When one delete fails, the error names the methods removed and those still registered."""
        users = self.users.target(username)
        uid = users.id
        methods = self.calls.items(f"/users/{uid}/authentication/methods", permission=AUTH_METHODS)
        pending = sorted(
            (m for m in methods if m.get("@odata.type") != PASSWORD_METHOD),
            key=lambda m: m.get("@odata.type") == "#microsoft.graph.phoneAuthenticationMethod",
        )
        removed: list[str] = []
        for index, method in enumerate(pending):
            segment = METHODS.get(str(method.get("@odata.type")), ("", ""))[1]
            try:
                if not segment:
                    raise DirectoryError(f"Graph v1.0 cannot delete a {method.get('@odata.type')} method")
                path = f"/users/{uid}/authentication/{segment}/{method['id']}"
                self.calls.send("DELETE", path, permission=AUTH_METHODS)
            except FirstlineError as exc:
                if not removed:
                    raise
                left = ", ".join(method_label(m) for m in pending[index:])
                raise DirectoryError(
                    f"The MFA reset of {username} stopped part-way. Removed: {', '.join(removed)}. Still registered: "
                    f"{left}. Removing {method_label(method)} failed: {exc}"
                ) from exc
            removed.append(method_label(method))
        return self.users.account(users)[0]

    def revoke_sessions(self, username: str) -> Account:
        users = self.users.target(username)
        self.calls.send("POST", f"/users/{users.id}/revokeSignInSessions", permission=REVOKE_SESSIONS)
        return self.users.reread(users)

    def issue_temporary_access_pass(self, username: str, lifetime_minutes: int = 60) -> TemporaryAccessPass:
        """Create a one-time Temporary Access Pass so the person can register new MFA methods after a reset.

        Only its expiry and whether it is single-use come back: the pass itself must reach the person over a
        channel that proves who they are (handed over by their manager in person, or read to them on a call
        back to a number from HR), never through the chat or the ticket. That delivery is not built yet, so
        the pass Graph returns is dropped here; an administrator can issue one in the Entra admin centre
        meanwhile. Graph shows a pass only when it is created.
        """
        if not 10 <= lifetime_minutes <= 43200:
            raise InputError("A Temporary Access Pass lasts from 10 minutes to 30 days (43200 minutes).")
        users = self.users.target(username)
        if not users.own.get("accountEnabled", True):
            raise AccountDisabledError(username_of(users.own, self.username_attribute))
        body = {"lifetimeInMinutes": lifetime_minutes, "isUsableOnce": True}
        path = f"/users/{users.id}/authentication/temporaryAccessPassMethods"
        made = self.calls.send("POST", path, body, permission=AUTH_METHODS) or {}
        start = parse_time(made.get("startDateTime")) or self._clock()
        minutes = int(made.get("lifetimeInMinutes") or lifetime_minutes)
        return TemporaryAccessPass(start + timedelta(minutes=minutes), bool(made.get("isUsableOnce", True)))

    # --- devices (Intune) and mail (Exchange Online)

    def devices_of(self, person: PersonRef) -> list[Device]:
        return self._devices.devices_of(*self._with_person(person))

    def device(self, key: str) -> Device:
        return self._devices.device(key)

    def set_device_status(self, device_id: str, status: str) -> Device:
        return self._devices.set_status(device_id, status)

    def remote_lock(self, device_id: str) -> Device:
        return self._devices.action(device_id, "remoteLock")

    def sync_device(self, device_id: str) -> Device:
        return self._devices.action(device_id, "syncDevice")

    def retire_device(self, device_id: str) -> Device:
        return self._devices.action(device_id, "retire")

    def wipe_device(self, device_id: str) -> Device:
        return self._devices.action(device_id, "wipe")

    def mailbox(self, address: str) -> Mailbox | SharedMailbox:
        return self._mail.mailbox(address, self._user_id)

    def mailbox_of(self, person: PersonRef) -> Mailbox | None:
        return self._mail.mailbox_of(*self._with_person(person))

    def set_automatic_replies(self, person: PersonRef, message: str | None) -> Mailbox:
        return self._mail.set_automatic_replies(*self._with_person(person), message)

    def distribution_list(self, address: str) -> DistributionList:
        return self._mail.distribution_list(address)

    def add_to_distribution_list(self, address: str, person: PersonRef) -> DistributionList:
        return self._mail.change_list(address, *self._with_person(person), join=True)

    def remove_from_distribution_list(self, address: str, person: PersonRef) -> DistributionList:
        return self._mail.change_list(address, *self._with_person(person), join=False)

    def check(self) -> list[DirectoryCheck]:
        """A token, then one read per application permission Firstline needs (see :mod:`.graph_check`)."""
        return run_checks(self.calls, self.username_attribute)

    def close(self) -> None:
        """Close the HTTP client and ``others``; harmless to call twice."""
        self._http.close()
        if self.others is not None:
            self.others.close()

    # --- plumbing

    def _user_id(self, person: PersonRef) -> str:
        return self.users.find(person, with_admin=False).id

    def _with_person(self, person: PersonRef) -> tuple[Person, str]:
        """The person (with manager and employment, as Entra ID has them) and their own user id."""
        uid = self._user_id(person)
        return self.users.person(uid), uid
