"""A real Dovecot IMAP server for tests, started by the test on 127.0.0.1 with a configuration of its own.

Debian's ``dovecot-imapd`` is used as installed; nothing under /etc is read or changed: the server gets its
own config file, run and state folders, a maildir store and a passwd-file with one user, all in a temporary
folder, and plain-text login allowed (on 127.0.0.1 only, without TLS). Run as root, the processes drop to
Debian's ``dovecot``/``dovenull`` users (Dovecot refuses mail access as uid 0); otherwise everything runs
as the current user.

:meth:`Dovecot.stop` and :meth:`Dovecot.start` take the server down and bring it back on the same port with
the same mail (the "IMAP server went away" case). Mail arrives the way a mail server delivers it to the
watcher: :meth:`Dovecot.append` (IMAP APPEND).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from firstline.testing.live import free_port
from firstline.testing.slapd import find_program

__all__ = ["DOVECOT", "Dovecot"]

DOVECOT = "/usr/sbin/dovecot"
START_TIMEOUT_S = 15.0

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
imap_idle_notify_interval = 2 mins
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def _accounts() -> tuple[str, str, str, int, int]:
    """(login user, internal user, internal group, mail uid, mail gid) for this process."""
    if os.geteuid() == 0:
        try:
            internal = pwd.getpwnam("dovecot")
            login = pwd.getpwnam("dovenull")
        except KeyError:
            internal = login = pwd.getpwnam("nobody")
        group = internal.pw_name if internal.pw_name != "nobody" else "nogroup"
        return login.pw_name, internal.pw_name, group, internal.pw_uid, internal.pw_gid
    me = getpass.getuser()
    return me, me, me, os.getuid(), os.getgid()


class Dovecot:
    """One Dovecot instance under ``root`` with the user ``user`` / ``password``."""

    def __init__(self, root: Path | None = None, user: str = "helpdesk", password: str = "mail-test-secret") -> None:
        # Under root the mail and auth processes run as other users, who must reach the files: pytest's
        # tmp_path is private (0700), so by default the instance gets a folder of its own in the temp dir.
        self.root = root or Path(tempfile.mkdtemp(prefix="firstline-dovecot-"))
        self.user = user
        self.password = password
        self.host = "127.0.0.1"
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> str | None:
        """The dovecot program, or None when it is not installed."""
        return DOVECOT if Path(DOVECOT).is_file() else find_program("dovecot")

    def _configure(self) -> Path:
        login_user, internal_user, internal_group, uid, gid = _accounts()
        for folder in ("run", "state", "mail"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        config = self.root / "dovecot.conf"
        config.write_text(
            _CONFIG.format(
                root=self.root, port=self.port, login_user=login_user, internal_user=internal_user,
                internal_group=internal_group, mail_uid=uid, mail_gid=gid,
            )
        )  # fmt: skip
        (self.root / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        if os.geteuid() == 0:  # the mail processes run as the mail uid: let them reach and write their store
            self.root.chmod(0o755)
            os.chown(self.root / "mail", uid, gid)
        return config

    def start(self) -> Dovecot:
        program = self.available()
        if program is None:
            raise FileNotFoundError("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
        config = self._configure()
        self._process = subprocess.Popen(  # a process group of its own: stop() ends every child with it
            [program, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"dovecot exited at start: {error.strip()} {self.log()[-2000:]}")
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"dovecot did not answer on {self.host}:{self.port} in {START_TIMEOUT_S}s: {self.log()}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        group = process.pid  # start_new_session: the master leads its own process group
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()
        # Sessions (imap) and helpers (log, stats) outlive the master for a while, serving open connections:
        # end them too, so that clients see the server go away as they would when the machine goes down.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while self._answers() and time.monotonic() < deadline:
            time.sleep(0.05)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(self) -> Any:
        """An IMAPClient logged in as the user (the caller logs out)."""
        from imapclient import IMAPClient

        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, message: bytes, mailbox: str = "INBOX") -> int:
        """Deliver ``message`` into ``mailbox`` (IMAP APPEND); the UID it got."""
        client = self.client()
        try:
            answer = client.append(mailbox, message)
        finally:
            client.logout()
        text = answer.decode() if isinstance(answer, bytes) else str(answer)
        # "[APPENDUID <uidvalidity> <uid>] Append completed"
        return int(text.split("APPENDUID", 1)[1].split()[1].rstrip("]"))

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
