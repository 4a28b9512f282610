"""What the lifespan puts on the app, typed for the routes: the runtime and the turn runner."""

from __future__ import annotations

from fastapi import Request

from firstline.runtime import Runtime
from firstline.service.turns import TurnRunner

__all__ = ["runtime_of", "turns_of"]


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def turns_of(request: Request) -> TurnRunner:
    turns: TurnRunner = request.app.state.turns
    return turns
