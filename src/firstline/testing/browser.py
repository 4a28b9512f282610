"""How Firstline's browser tests and benchmarks start Chromium: Debian's build, headless, offline.

Playwright drives the system's ``/usr/bin/chromium`` (``apt-get install chromium``); ``playwright
install`` (a download) is never needed. The flags keep the browser from reaching the network on its
own (updates, sync, QUIC probes) and let it run as root in a container.
"""

from __future__ import annotations

from firstline.ticketing.connectors.webform.browser import CHROMIUM as BROWSER
from firstline.ticketing.connectors.webform.browser import OFFLINE_ARGS

__all__ = ["CHROMIUM", "CHROMIUM_ARGS"]

# The product's own launch settings (the webform connector drives the same browser the same way).
CHROMIUM = BROWSER
CHROMIUM_ARGS = list(OFFLINE_ARGS)
