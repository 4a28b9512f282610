"""Receipts: which vendor requests one piece of work sent, with the vendor's own request id.

A tool that unlocks an account in Okta or wipes a laptop through Intune must leave the vendor's
request id in the audit log and on the ticket, so an administrator can find the same change in the
vendor's own logs. :class:`~firstline.vendors.http.VendorHttp` drops a :class:`Receipt` for every
answer it gets into the innermost :func:`collect_receipts` block of the current thread or task (a
``ContextVar``), so nothing between the tool and the HTTP client has to pass them along::

    with collect_receipts() as receipts:
        directory.unlock_account("r.chen")
    receipts[0].request_id   # "XyZ123..." (Okta's X-Okta-Request-Id)

Outside a block receipts are dropped: collecting them costs nothing when nobody asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Receipt", "collect_receipts", "record"]


@dataclass(frozen=True)
class Receipt:
    """One answered vendor request: ``system`` ("Okta"), ``method`` and ``path``, HTTP ``status`` and the
    vendor's ``request_id`` (empty when the vendor sent none)."""

    system: str
    method: str
    path: str
    status: int
    request_id: str = ""

    @property
    def changes(self) -> bool:
        """A request that may change something (anything but GET and HEAD)."""
        return self.method.upper() not in ("GET", "HEAD")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """``Okta POST /api/v1/users/00u1/lifecycle/unlock -> 200, request id XyZ``."""
        rid = f", request id {self.request_id}" if self.request_id else ""
        return f"{self.system} {self.method} {self.path.split('?')[0]} -> {self.status}{rid}"


_CURRENT: ContextVar[list[Receipt] | None] = ContextVar("firstline_vendor_receipts", default=None)


@contextmanager
def collect_receipts() -> Iterator[list[Receipt]]:
    """Collect the receipts of every vendor request made inside the block (nested blocks each get theirs,
    and the outer one sees them too)."""
    outer = _CURRENT.get()
    mine: list[Receipt] = []
    token = _CURRENT.set(mine)
    try:
        yield mine
    finally:
        _CURRENT.reset(token)
        if outer is not None:
            outer.extend(mine)


def record(receipt: Receipt) -> None:
    """Add ``receipt`` to the innermost open :func:`collect_receipts` block, if any."""
    current = _CURRENT.get()
    if current is not None:
        current.append(receipt)
