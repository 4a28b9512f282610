"""One HTTP client for every vendor connector: credentials, retries with backoff, and the error boundary.

:class:`VendorHttp` sends a request and either returns the parsed JSON or raises a Firstline error
that says what to fix (401: the credential, 403: the permission the integration needs, 404: what
was not found, 409: a conflict, 400/422: the vendor's words). 429 and 5xx answers
and connection failures are retried with exponential backoff; a ``Retry-After`` header (seconds or
an HTTP date), or for vendors that say when the limit resets instead (Okta's ``X-Rate-Limit-Reset``,
epoch seconds) that header, is honoured up to ``max_wait_s``. Credentials come from :class:`BasicAuth`,
:class:`BearerToken` or :class:`ClientCredentials` (OAuth 2.0, token cached until it expires and
fetched again once after a 401). Every answer leaves a :class:`~firstline.vendors.receipts.Receipt`
with the vendor's request id (the ``request_id_header``) in the current
:func:`~firstline.vendors.receipts.collect_receipts` block.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from firstline.errors import (
    AuthenticationError,
    BackendResponseError,
    BackendUnavailableError,
    ConflictError,
    FirstlineError,
    InputError,
    PermissionDeniedError,
    TicketNotFoundError,
)
from firstline.vendors.receipts import Receipt, record

__all__ = [
    "Auth",
    "BasicAuth",
    "BearerToken",
    "ClientCredentials",
    "VendorHttp",
    "VendorUnavailableError",
    "vendor_message",
]

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class VendorUnavailableError(BackendUnavailableError):
    """The vendor could not be reached, or kept answering 429 / 5xx; ``retry_after_s`` when it said when."""

    def __init__(self, what: str, url: str, setting: str, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(what, url, setting, reason)
        self.retry_after_s = retry_after_s


class Auth(Protocol):
    """Adds credentials to a request; ``describe`` names them for an admin (never the secret itself)."""

    def headers(self, client: httpx.Client) -> dict[str, str]: ...

    def describe(self) -> str: ...

    def forget(self) -> None:
        """Drop a cached token (after a 401), so the next request fetches a fresh one."""
        ...


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic auth; ``names`` says where the user and password come from (for error messages)."""

    user: str
    password: str
    names: str

    def headers(self, client: httpx.Client) -> dict[str, str]:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def describe(self) -> str:
        return f"user {self.user!r} ({self.names})"

    def forget(self) -> None:
        pass


@dataclass(frozen=True)
class BearerToken:
    """A fixed bearer token or API token sent as ``Authorization: Bearer ...``."""

    token: str
    names: str

    def headers(self, client: httpx.Client) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def describe(self) -> str:
        return f"the token in {self.names}"

    def forget(self) -> None:
        pass


@dataclass
class ClientCredentials:
    """OAuth 2.0 client credentials: POST ``token_url`` (form-encoded), cache the access token until it expires."""

    token_url: str
    client_id: str
    client_secret: str
    names: str
    scope: str = ""
    clock: Callable[[], float] = time.monotonic
    _token: str | None = field(default=None, init=False, repr=False)
    _expires: float = field(default=0.0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def headers(self, client: httpx.Client) -> dict[str, str]:
        with self._lock:
            if self._token is None or self.clock() >= self._expires:
                self._fetch(client)
            return {"Authorization": f"Bearer {self._token}"}

    def _fetch(self, client: httpx.Client) -> None:
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret}
        if self.scope:
            form["scope"] = self.scope
        try:
            answer = client.post(self.token_url, data=form)
        except httpx.HTTPError as exc:
            raise BackendUnavailableError("OAuth token endpoint", self.token_url, self.names, str(exc)) from exc
        if answer.status_code in (400, 401, 403):
            raise AuthenticationError(
                f"The OAuth token endpoint {self.token_url} refused client {self.client_id!r} "
                f"({vendor_message(answer)}). Check {self.names}."
            )
        if answer.status_code in RETRY_STATUSES:  # the instance is busy or down: the outbox waits and tries again
            raise VendorUnavailableError(
                "OAuth token endpoint", self.token_url, self.names, f"HTTP {answer.status_code}", _retry_after(answer)
            )
        if answer.status_code != 200:
            raise BackendResponseError(f"The OAuth token endpoint {self.token_url} answered {answer.status_code}.")
        body = answer.json()
        self._token = str(body["access_token"])
        self._expires = self.clock() + max(0.0, float(body.get("expires_in", 1800)) - 30)

    def describe(self) -> str:
        return f"OAuth client {self.client_id!r} ({self.names})"

    def forget(self) -> None:
        with self._lock:
            self._token = None


def vendor_message(answer: httpx.Response) -> str:
    """The error text in a vendor's answer: ServiceNow ``error.message``/``detail``, Jira ``errorMessages``
    and ``errors`` (JSM: ``errorMessage``), ConnectWise ``message`` and ``errors[].message``, Okta
    ``errorSummary`` and ``errorCauses[].errorSummary``; else the start of the body."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200].strip() or f"HTTP {answer.status_code}"
    parts: list[str] = []
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # ServiceNow
            parts += [str(error[k]) for k in ("message", "detail") if error.get(k)]
        parts += [str(m) for m in body.get("errorMessages") or []]  # Jira
        if isinstance(body.get("errorMessage"), str):  # Jira Service Management
            parts.append(body["errorMessage"])
        errors = body.get("errors")
        if isinstance(errors, dict):  # Jira field errors
            parts += [f"{k}: {v}" for k, v in errors.items()]
        elif isinstance(errors, list):  # ConnectWise
            parts += [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
        if isinstance(body.get("errorSummary"), str):  # Okta
            parts.append(body["errorSummary"])
            causes = body.get("errorCauses")
            parts += [str(c["errorSummary"]) for c in causes or [] if isinstance(c, dict) and c.get("errorSummary")]
        if body.get("message") and not isinstance(error, dict):
            parts.insert(0, str(body["message"]))
    return "; ".join(parts) or json.dumps(body)[:200]


def _retry_after(answer: httpx.Response) -> float | None:
    value = answer.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        if when is None:
            return None
        return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass
class VendorHttp:
    """Requests to one vendor API. ``system`` names it in errors ("ServiceNow"); ``setting`` is the URL setting.

    ``roles`` says which role or permission the integration user needs, for 403 messages.
    ``request_id_header`` is the header in which the vendor names its request (Okta ``X-Okta-Request-Id``,
    Microsoft Graph ``request-id``), kept in every receipt. ``rate_limit_reset_header`` names a header that
    says when a 429's limit resets in epoch seconds (Okta ``X-Rate-Limit-Reset``), waited for when there
    is no ``Retry-After``; ``epoch_clock`` is the time it is compared with. ``transport``, ``sleep`` and
    ``epoch_clock`` are for tests.
    """

    system: str
    base_url: str
    auth: Auth
    setting: str
    roles: str = ""
    timeout_s: float = 10.0
    retries: int = 3
    backoff_s: float = 0.5
    max_wait_s: float = 30.0
    headers: Mapping[str, str] = field(default_factory=dict)
    request_id_header: str = ""
    rate_limit_reset_header: str = ""
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    epoch_clock: Callable[[], float] = time.time
    requests_sent: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._client = httpx.Client(
            timeout=self.timeout_s,
            transport=self.transport,
            headers={"Accept": "application/json", **self.headers},
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content_type: str = "application/json",
        not_found: str | Callable[[], FirstlineError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request (retrying 429 / 5xx / connection errors); the parsed JSON body, or ``None`` for 204.

        ``not_found`` turns a 404 into an error: a ticket number (:class:`TicketNotFoundError`), or a function
        that makes the error (a person or a device not found). ``headers`` are added to this request only.
        """
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        content = None if json_body is None else json.dumps(json_body).encode()
        refreshed = False
        attempt = 0
        while True:
            try:
                sent = {**self.auth.headers(self._client), **(headers or {})}
                if content is not None:
                    sent["Content-Type"] = content_type
                self.requests_sent += 1
                answer = self._client.request(method, url, params=params, content=content, headers=sent)
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}"
                if attempt >= self.retries:
                    raise VendorUnavailableError(self.system, self.base_url, self.setting, reason) from exc
                self._wait(attempt, None, reason)
                attempt += 1
                continue
            status = answer.status_code
            rid = answer.headers.get(self.request_id_header, "") if self.request_id_header else ""
            record(Receipt(self.system, method, path if not path.startswith("http") else url, status, rid))
            if status == 401 and not refreshed:
                self.auth.forget()
                refreshed = True
                continue
            if status in RETRY_STATUSES:
                wait = self._retry_wait(answer)
                if attempt >= self.retries or (wait is not None and wait > self.max_wait_s):
                    raise VendorUnavailableError(
                        self.system, self.base_url, self.setting, f"HTTP {status}: {vendor_message(answer)}", wait
                    )
                self._wait(attempt, wait, f"HTTP {status}")
                attempt += 1
                continue
            return self._result(method, path, answer, not_found)

    def _retry_wait(self, answer: httpx.Response) -> float | None:
        """Seconds the vendor asked us to wait: ``Retry-After``, else the reset time of a 429's rate limit."""
        wait = _retry_after(answer)
        reset = answer.headers.get(self.rate_limit_reset_header) if self.rate_limit_reset_header else None
        if wait is None and answer.status_code == 429 and reset:
            try:
                wait = max(0.0, float(reset) - self.epoch_clock())
            except ValueError:
                return None
        return wait

    def _wait(self, attempt: int, retry_after: float | None, reason: str) -> None:
        delay = retry_after if retry_after is not None else self.backoff_s * 2**attempt
        log.info("%s: %s, retrying in %.2f s", self.system, reason, delay)
        self.sleep(min(delay, self.max_wait_s))

    def _result(
        self, method: str, path: str, answer: httpx.Response, not_found: str | Callable[[], FirstlineError] | None
    ) -> Any:
        status = answer.status_code
        if status < 300:
            if status == 204 or not answer.content:
                return None
            try:
                return answer.json()
            except ValueError as exc:
                raise BackendResponseError(
                    f"{self.system} answered {method} {path} with a body that is not JSON."
                ) from exc
        said = vendor_message(answer)
        if status == 401:
            raise AuthenticationError(f"{self.system} refused {self.auth.describe()}: {said}. Fix those credentials.")
        if status == 403:
            need = f" The integration user needs {self.roles}." if self.roles else ""
            raise PermissionDeniedError(
                f"{self.system} did not let {self.auth.describe()} {method} {path}: {said}.{need}"
            )
        if status == 404 and not_found is not None:
            raise not_found() if callable(not_found) else TicketNotFoundError(not_found)
        if status == 409:
            raise ConflictError(f"{self.system} refused {method} {path}: {said}")
        if status in (400, 404, 422):
            raise InputError(f"{self.system} rejected {method} {path} (HTTP {status}): {said}")
        raise BackendResponseError(f"{self.system} answered {method} {path} with HTTP {status}: {said}")

    def close(self) -> None:
        self._client.close()
