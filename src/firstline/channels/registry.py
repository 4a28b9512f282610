"""Which channels this deployment runs, and how the service starts them.

A channel is a module under ``firstline.channels`` with:

* ``router``: a FastAPI ``APIRouter`` with the protocol's endpoints (mounted whether or not the channel
  is enabled; a disabled channel's endpoints answer 404), and
* ``build(runtime) -> Channel``: the live object the routes reach as ``request.app.state.channels[name]``.
  ``Channel.start()`` runs once the runtime is ready (subscribe to the conversation hub, start a
  watcher); ``Channel.stop()`` at shutdown, before the stores close.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from fastapi import HTTPException, Request

if TYPE_CHECKING:
    from firstline.settings import Settings

__all__ = ["CHANNELS", "Channel", "available", "channel_of", "enabled", "module"]

CHANNELS: dict[str, str] = {
    "slack": "firstline.channels.slack",
    "teams": "firstline.channels.teams",
    "email": "firstline.channels.email",
}


class Channel(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


def enabled(settings: Settings) -> list[str]:
    """The channels switched on in ``[channels.*]``."""
    sections = settings.channels
    return [name for name in CHANNELS if getattr(sections, name).enabled]


def available() -> list[str]:
    """The channels this installation has code for (a module may be missing while it is being built)."""
    return [name for name, path in CHANNELS.items() if importlib.util.find_spec(path) is not None]


def module(name: str) -> ModuleType:
    return importlib.import_module(CHANNELS[name])


def channel_of(request: Request, name: str) -> Channel:
    """The running channel ``name`` for a route; 404 when it is not enabled here."""
    found: Channel | None = getattr(request.app.state, "channels", {}).get(name)
    if found is None:
        raise HTTPException(404, f"The {name} channel is not enabled here (set [channels.{name}] enabled = true).")
    return found
