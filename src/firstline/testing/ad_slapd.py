"""A throw-away slapd that stands in for an Active Directory domain controller, for tests.

It loads a test slice of the AD schema (``ad_schema.ldif`` beside this module: Microsoft's attribute
OIDs for what Firstline reads and writes), the memberof overlay (``memberOf`` derived as AD derives
the back link) and ppolicy without lockout (only as a witness that a failed bind reached the server),
and listens on ldap:// and, when ``openssl`` can make a self-signed certificate, ldaps://. slapd does
not behave like AD everywhere (it does not count ``badPwdCount`` or lock on failed binds): tests that
need that write what AD would have written (:meth:`Slapd.replace`).

``ad_slapd`` is a pytest fixture body: wrap it in a session fixture where it is needed.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from firstline.directory import ad as _ad  # noqa: F401  imports ldap3 quietly: before any other ldap3 use here
from firstline.testing.live import cannot_start, free_port
from firstline.testing.slapd import START_TIMEOUT_S, answers, binds, connect, find_folder, find_program, stop

__all__ = [
    "ADMIN_DN",
    "ADMIN_PASSWORD",
    "BASE_DN",
    "HELPDESK_DN",
    "HELPDESK_PASSWORD",
    "PASSWORD",
    "SCHEMA",
    "Slapd",
    "ad_slapd",
    "binds",
    "connect",
]

BASE_DN = "dc=firstline,dc=test"
ADMIN_DN = f"cn=admin,{BASE_DN}"
ADMIN_PASSWORD = "admin-secret"
HELPDESK_DN = f"cn=helpdesk,{BASE_DN}"  # may write lockoutTime and badPwdCount, nothing else
HELPDESK_PASSWORD = "helpdesk-secret"
PASSWORD = "Demo-Pass-1"  # every seeded person's password
SCHEMA = Path(__file__).parent / "ad_schema.ldif"
MODIFY_REPLACE = "MODIFY_REPLACE"  # ldap3's constant (its value), without importing ldap3's noisy modules here


# --- layer 1: a throw-away slapd with the AD test schema


def config_ldif(root: Path, modules: Path, schemas: Path, *, tls: bool) -> str:
    """slapd's cn=config: the AD test schema, the memberof and ppolicy overlays, and (``tls``) a certificate."""
    certificate = f"olcTLSCertificateFile: {root / 'cert.pem'}\nolcTLSCertificateKeyFile: {root / 'key.pem'}\n"
    includes = "\n".join(f"include: file://{path}" for path in (schemas / "core.ldif", schemas / "cosine.ldif", SCHEMA))
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {root / "slapd.pid"}
{certificate if tls else ""}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {modules}
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{includes}

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE_DN}
olcRootDN: {ADMIN_DN}
olcRootPW: {ADMIN_PASSWORD}
olcDbDirectory: {root / "data"}
olcDbMaxSize: 104857600
olcDbNoSync: TRUE
olcAccess: to attrs=userPassword by self write by anonymous auth by * none
olcAccess: to attrs=lockoutTime,badPwdCount by dn.exact="{HELPDESK_DN}" write by * read
olcAccess: to * by * read

dn: olcOverlay={{0}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{0}}memberof
olcMemberOfGroupOC: group
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
olcMemberOfDangling: ignore
olcMemberOfRefInt: FALSE

dn: olcOverlay={{1}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{1}}ppolicy
olcPPolicyDefault: cn=witness,{BASE_DN}
olcPPolicyUseLockout: FALSE
"""


@dataclass(frozen=True)
class Slapd:
    url: str  # ldap://
    ldaps_url: str | None  # ldaps://, with a self-signed certificate for 127.0.0.1 (None without openssl)
    ca_file: str | None  # that certificate

    def admin(self) -> Any:
        connection = connect(self.url, ADMIN_DN, ADMIN_PASSWORD)
        assert connection.bind(), connection.result
        return connection

    def dn(self, username: str, base: str) -> str:
        admin = self.admin()
        try:
            admin.search(base, f"(sAMAccountName={username})", attributes=["cn"])
            (entry,) = admin.response
            return str(entry["dn"])
        finally:
            admin.unbind()

    def attribute(self, dn: str, name: str) -> list[str]:
        admin = self.admin()
        try:
            admin.search(dn, "(objectClass=*)", search_scope="BASE", attributes=[name])
            return [str(value) for value in admin.response[0]["attributes"][name]]
        finally:
            admin.unbind()

    def replace(self, dn: str, **values: Any) -> None:
        """Write what AD would have written itself (the slapd stand-in does not)."""
        admin = self.admin()
        try:
            assert admin.modify(dn, {k: [(MODIFY_REPLACE, [v])] for k, v in values.items()}), admin.result
        finally:
            admin.unbind()


def ad_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """Start slapd with the AD test schema; yields it and stops it (a session fixture's body)."""
    server, slapadd = find_program("slapd"), find_program("slapadd")
    if server is None or slapadd is None:
        cannot_start("OpenLDAP is not installed (no slapd/slapadd): apt-get install slapd ldap-utils")
    modules = find_folder("SLAPD_MODULE_PATH", "/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap")
    schemas = find_folder("SLAPD_SCHEMA_PATH", "/etc/ldap/schema", "/etc/openldap/schema")
    if modules is None or schemas is None:
        cannot_start(
            "slapd is installed but its modules or schema folder was not found: set SLAPD_MODULE_PATH/SCHEMA_PATH"
        )
    root = tmp_path_factory.mktemp("ad-slapd")
    (root / "slapd.d").mkdir()
    (root / "data").mkdir()
    tls = _certificate(root)  # None without openssl: then only the ldaps:// test cannot run
    (root / "config.ldif").write_text(config_ldif(root, modules, schemas, tls=tls is not None))
    done = subprocess.run(
        [slapadd, "-n", "0", "-F", str(root / "slapd.d"), "-l", str(root / "config.ldif")],
        capture_output=True, text=True, timeout=START_TIMEOUT_S,
    )  # fmt: skip
    if done.returncode != 0:
        cannot_start(f"slapadd could not write the AD test configuration: {done.stderr.strip()[-2000:]}")
    url = f"ldap://127.0.0.1:{free_port()}"
    ldaps_url = f"ldaps://127.0.0.1:{free_port()}" if tls else None
    started = time.perf_counter()
    listen = f"{url}/ {ldaps_url}/" if ldaps_url else f"{url}/"
    done = subprocess.run([server, "-h", listen, "-F", str(root / "slapd.d")], capture_output=True, text=True)
    if done.returncode != 0:
        cannot_start(f"slapd did not start: {done.stderr.strip()[-2000:]}")
    try:
        while not answers(url):
            if time.perf_counter() - started > START_TIMEOUT_S:
                cannot_start(f"slapd did not answer on {url} within {START_TIMEOUT_S} s")
            time.sleep(0.02)
        instance = Slapd(url, ldaps_url, tls)
        admin = instance.admin()
        base_entries: list[tuple[str, list[str], dict[str, Any]]] = [
            (BASE_DN, ["dcObject", "organization"], {"o": "Firstline Test", "dc": "firstline"}),
            (HELPDESK_DN, ["person"], {"cn": "helpdesk", "sn": "helpdesk", "userPassword": HELPDESK_PASSWORD}),
            (f"cn=witness,{BASE_DN}", ["device", "pwdPolicy"],
             {"cn": "witness", "pwdAttribute": "userPassword", "pwdLockout": "FALSE", "pwdMaxRecordedFailure": "50"}),
        ]  # fmt: skip
        for dn, classes, attributes in base_entries:
            assert admin.add(dn, classes, attributes), admin.result
        admin.unbind()
        yield instance
    finally:
        stop(root / "slapd.pid")


def _certificate(root: Path) -> str | None:
    """A self-signed certificate for 127.0.0.1 (``cert.pem``, ``key.pem`` in ``root``); its path, or None."""
    openssl = find_program("openssl")
    if openssl is None:
        return None
    done = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem"), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, text=True, timeout=START_TIMEOUT_S,
    )  # fmt: skip
    return str(root / "cert.pem") if done.returncode == 0 else None
