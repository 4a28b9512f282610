"""What every test that starts its own slapd shares: finding OpenLDAP, binding, waiting for it, stopping it."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

__all__ = ["START_TIMEOUT_S", "answers", "binds", "connect", "find_folder", "find_program", "stop"]

START_TIMEOUT_S = 15


def find_program(name: str) -> str | None:
    """``name`` on the PATH or in /usr/sbin (where Debian puts slapd and slapadd)."""
    return shutil.which(name) or next((str(p) for p in (Path("/usr/sbin") / name,) if p.is_file()), None)


def find_folder(variable: str, *candidates: str) -> Path | None:
    """The folder named by the environment ``variable``, else the first of ``candidates`` that exists."""
    for candidate in (os.environ.get(variable, ""), *candidates):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def connect(url: str, dn: str, password: str) -> Any:
    """An ldap3 connection, not yet bound (``.bind()`` says whether the password is right)."""
    from ldap3 import NONE, Connection, Server

    return Connection(Server(url, get_info=NONE, connect_timeout=2), user=dn, password=password)


def binds(url: str, dn: str, password: str) -> bool:
    """Whether a simple bind as ``dn`` with ``password`` succeeds."""
    connection = connect(url, dn, password)
    try:
        return bool(connection.bind())
    finally:
        connection.unbind()
        if connection.socket is not None:  # ldap3 keeps the socket of a connect that failed
            connection.socket.close()


def answers(url: str) -> bool:
    """Whether the server at ``url`` takes an anonymous bind yet."""
    from ldap3.core.exceptions import LDAPException

    try:
        return binds(url, "", "")
    except LDAPException:
        return False


def stop(pid_file: Path) -> None:
    """Stop the slapd whose pid is in ``pid_file`` (SIGTERM, then SIGKILL after the start timeout)."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.perf_counter() + START_TIMEOUT_S
    while time.perf_counter() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
