"""What every vendor integration shares: one HTTP client (:mod:`.http`) and receipts of what it sent (:mod:`.receipts`).

The ticket connectors (ServiceNow, Jira, ConnectWise) and the directory connectors (Okta, Microsoft
Graph) sit on top of it, so credentials, retries with backoff, ``Retry-After``, the error boundary
and the vendor's request id work the same way for all of them.
"""

from __future__ import annotations

from firstline.vendors.http import (
    BasicAuth,
    BearerToken,
    ClientCredentials,
    VendorHttp,
    VendorUnavailableError,
    vendor_message,
)
from firstline.vendors.receipts import Receipt, collect_receipts

__all__ = [
    "BasicAuth",
    "BearerToken",
    "ClientCredentials",
    "Receipt",
    "VendorHttp",
    "VendorUnavailableError",
    "collect_receipts",
    "vendor_message",
]
