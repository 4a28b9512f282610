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

__all__ = ["Playbook", "as_dict", "then_resolve", "verified_change"]

Playbook = Callable[[View], Step]


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
