"""How Firstline's browser tests and benchmarks start Chromium: Debian's build, headless, offline.

Playwright drives the system's ``/usr/bin/chromium`` (``apt-get install chromium``); ``playwright
install`` (a download) is never needed. The flags keep the browser from reaching the network on its
own (updates, sync, QUIC probes) and let it run as root in a container.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CHROMIUM", "CHROMIUM_ARGS"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
