"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), keeping every message it receives.

It speaks plain SMTP, STARTTLS (``security="starttls"``, required before MAIL) or implicit TLS
(``security="tls"``) with a self-signed certificate for 127.0.0.1 made by :func:`self_signed` (clients trust
it through :attr:`CapturingSmtp.client_context`), and with ``users`` it requires AUTH LOGIN/PLAIN.

:class:`CapturingSmtp` listens on a port of its own; :meth:`CapturingSmtp.stop` and :meth:`CapturingSmtp.start`
take it down and bring it back on the same port (the "mail server is down" case). Tests wait for mail with
:meth:`CapturingSmtp.wait_for`; each :class:`Received` carries the envelope, the parsed message and the
moment it arrived (``time.perf_counter()``), for latency measurements.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import ssl
import tempfile
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from firstline.testing.live import free_port

__all__ = ["CapturingSmtp", "Received", "self_signed"]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A fresh key and self-signed certificate for 127.0.0.1 in ``folder``: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, private = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert, private


@dataclass(frozen=True, slots=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    at: float

    @property
    def text(self) -> str:
        """The text/plain body (the first text part)."""
        part = self.message.get_body(("plain",))
        return str(part.get_content()) if part is not None else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        return str(part.get_content()) if part is not None else ""


class _Handler:
    def __init__(self, owner: CapturingSmtp) -> None:
        self._owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        parsed = message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self._owner._add(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, time.perf_counter()))
        return "250 OK"


def _controller_class() -> type[Any]:
    from aiosmtpd.controller import Controller

    class QuietController(Controller):
        def factory(self) -> Any:
            # Under implicit TLS aiosmtpd only knows STARTTLS as TLS, so AUTH must be allowed "without TLS",
            # and it warns so on each connection (on its own thread, where pytest makes warnings errors).
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
                return super().factory()  # type: ignore[no-untyped-call]

    return QuietController


def _new_controller(*args: Any, **kwargs: Any) -> Any:
    return _controller_class()(*args, **kwargs)


class CapturingSmtp:
    """An SMTP server on 127.0.0.1 that accepts any mail and keeps it in :attr:`received`."""

    def __init__(
        self,
        port: int | None = None,
        *,
        security: Literal["none", "starttls", "tls"] = "none",
        users: dict[str, str] | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.security = security
        self.users = dict(users or {})
        self.logins: list[str] = []
        self.received: list[Received] = []
        self._arrived = threading.Condition()
        self._controller: Any = None
        self._server_context: ssl.SSLContext | None = None
        self.client_context: ssl.SSLContext | None = None
        if security != "none":
            folder = Path(tempfile.mkdtemp(prefix="firstline-smtp-tls-"))
            weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)
            cert, key = self_signed(folder)
            self._server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._server_context.load_cert_chain(cert, key)
            self.client_context = ssl.create_default_context(cafile=str(cert))

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        if self.users.get(login) == password:
            self.logins.append(login)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def _add(self, received: Received) -> None:
        with self._arrived:
            self.received.append(received)
            self._arrived.notify_all()

    def start(self) -> CapturingSmtp:
        options: dict[str, Any] = {}
        if self.security == "starttls":
            options.update(tls_context=self._server_context, require_starttls=True)
        if self.users:
            # aiosmtpd only counts STARTTLS as TLS: under implicit TLS it would hide AUTH if TLS were required
            options.update(authenticator=self._authenticate, auth_required=True,
                           auth_require_tls=self.security == "starttls")  # fmt: skip
        self._controller = _new_controller(
            _Handler(self), hostname=self.host, port=self.port, ready_timeout=10,
            ssl_context=self._server_context if self.security == "tls" else None, server_hostname="127.0.0.1",
            **options,
        )  # fmt: skip
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> CapturingSmtp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        """Wait until at least ``count`` messages arrived; all of them (fails the wait with AssertionError)."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} mail(s) within {timeout_s}s, got {len(self.received)}")
                self._arrived.wait(left)
            return list(self.received)

    def to(self, address: str) -> list[Received]:
        with self._arrived:
            return [r for r in self.received if address.lower() in (a.lower() for a in r.rcpt_tos)]
