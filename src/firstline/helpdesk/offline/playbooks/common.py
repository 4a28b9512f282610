"""What every playbook uses: the playbook type, resolve-then-tell, and the verify-then-change playbook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from firstline.helpdesk.offline import (
    Say,
    Step,
    View,
    call,
    verification,
)

__all__ = ["REGISTRY", "Playbook", "as_dict", "playbook", "register", "then_resolve", "verified_change"]

Playbook = Callable[[View], Step]
REGISTRY: dict[str, Playbook] = {}  # playbook name (taxonomy.yaml ``playbook:``) -> playbook


def register(name: str, function: Playbook) -> Playbook:
    """Make ``function`` the playbook called ``name`` (an intent names it in taxonomy.yaml)."""
    if name in REGISTRY and REGISTRY[name] is not function:
        raise ValueError(f"two playbooks are registered as {name!r}")
    REGISTRY[name] = function
    return function


def playbook(function: Playbook) -> Playbook:
    """Register a playbook under its function name, where it is defined."""
    return register(function.__name__, function)


def then_resolve(v: View, note: str, text: str) -> Step:
    """After a change succeeded: resolve the conversation's ticket once, then say ``text``."""
    resolved = v.latest("mark_resolved")
    if resolved is None or not resolved.this_turn:
        return call("mark_resolved", note=note)
    return Say(f"{text} {resolved.result if resolved.ok else ''}".strip())


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def verified_change(tool: str, note: str, advice: str = "") -> Playbook:
    """A playbook for one change to the requester's own things: verify, call ``tool``, resolve, tell."""

    def playbook(v: View) -> Step:
        done = v.latest(tool)
        if done is not None and done.ok:
            return then_resolve(v, note, f"{done.result} {advice}".strip())
        return verification(v) or call(tool)

    return playbook
