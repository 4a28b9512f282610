"""The directory the settings describe: ``[directory] backend``, ``devices``, ``mail``, ``identity`` and
each vendor's section.

The built-in SQL store always exists (printers, phones and known incidents live there, and the demo
organisation is seeded into it when it is empty). People and accounts come from ``backend``; devices
and mail from ``devices`` and ``mail`` (``same`` means the accounts backend when it holds them, which
only Microsoft Graph does); sign-in logs, MFA methods and sessions from ``identity`` (``same``: the
accounts backend; an Active Directory shop synchronised to Entra ID sets ``identity = "graph"``). When
every role falls to one backend it is returned as it is, handing the rest to the SQL store; otherwise a
:class:`~firstline.directory.routed.RoutedDirectory` sends each call to its owner. Vendor modules are
imported only when configured, so ``ldap3`` and friends load on demand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from firstline.directory.backend import DirectoryBackend
from firstline.directory.routed import RoutedDirectory
from firstline.directory.rules import AccountRules
from firstline.directory.seed import load_org
from firstline.directory.signins import moved_sign_ins
from firstline.directory.sql import SqlDirectory
from firstline.settings import DirectorySettings, Settings

__all__ = ["account_rules", "build_directory", "build_vendor"]


def account_rules(d: DirectorySettings) -> AccountRules:
    """The account rules with the site's sign-in check settings."""
    return AccountRules(trusted_networks=tuple(d.trusted_networks), sign_in_days=d.sign_in_days)


def build_directory(settings: Settings, demo_org: Path | None = None) -> DirectoryBackend:
    """The configured directory; ``demo_org`` is the organisation folder seeded into an empty SQL store."""
    d = settings.directory
    sql = SqlDirectory(
        settings.directory_database_url, lockout_threshold=d.lockout_threshold, remember_s=d.people_remember_s
    )
    if d.seed_demo_org and demo_org is not None:
        sql.seed(moved_sign_ins(load_org(demo_org), datetime.now(UTC)))
    built: dict[str, DirectoryBackend] = {"sql": sql}

    def backend(kind: str) -> DirectoryBackend:
        if kind not in built:
            built[kind] = build_vendor(d, kind, sql)
        return built[kind]

    accounts = backend(d.backend)
    devices, mail, log = backend(d.role("devices")), backend(d.role("mail")), backend(d.role("identity"))
    if log is accounts and devices is mail is sql and accounts is not sql:
        return accounts  # a people-only backend hands devices, mail and the rest to the SQL store itself
    if log is accounts is devices is mail:
        return accounts
    return RoutedDirectory(accounts, devices, mail, sql, identity=log)


def build_vendor(d: DirectorySettings, kind: str, others: DirectoryBackend) -> DirectoryBackend:
    """One vendor backend from its section, handing what it does not hold to ``others``."""
    if kind == "ldap":
        from firstline.directory.ldap import LdapDirectory

        assert d.ldap_url and d.ldap_bind_dn and d.ldap_password and d.ldap_base_dn
        password = d.ldap_password.get_secret_value()
        return LdapDirectory(d.ldap_url, d.ldap_bind_dn, password, d.ldap_base_dn, d.ldap_people_ou, others=others)
    if kind == "okta":
        from firstline.directory.okta import OktaDirectory

        okta = d.okta
        assert okta.org_url and okta.token
        return OktaDirectory(
            okta.org_url,
            okta.token.get_secret_value(),
            token_kind=okta.token_kind,
            others=others,
            username_attribute=okta.username_attribute,
            lockout_threshold=d.lockout_threshold,
        )
    if kind == "graph":
        from firstline.directory.graph import GraphDirectory

        graph = d.graph
        assert graph.tenant_id and graph.client_id and graph.client_secret
        return GraphDirectory(
            graph.tenant_id,
            graph.client_id,
            graph.client_secret.get_secret_value(),
            base_url=graph.base_url,
            token_url=graph.token_url,
            others=others,
            username_attribute=graph.username_attribute,
            service_types=graph.service_types,
            password_max_age=timedelta(days=graph.password_max_age_days) if graph.password_max_age_days else None,
            lockout_duration=timedelta(minutes=graph.lockout_duration_minutes),
        )
    if kind == "ad":
        from firstline.directory.ad import AdDirectory

        ad = d.ad
        assert ad.url and ad.bind_dn and ad.password and ad.base_dn
        max_age = timedelta(days=ad.max_password_age_days) if ad.max_password_age_days else None
        lockout = timedelta(minutes=ad.lockout_duration_minutes) if ad.lockout_duration_minutes else None
        return AdDirectory(
            ad.url,
            ad.bind_dn,
            ad.password.get_secret_value(),
            ad.base_dn,
            users_ou=ad.users_ou,
            others=others,
            max_password_age=max_age,
            lockout_duration=lockout,
            allow_admin_set_password=ad.allow_admin_set_password,
            service_ou=ad.service_ou,
            ca_file=ad.ca_file,
        )
    raise ValueError(f"unknown directory backend {kind!r}")
