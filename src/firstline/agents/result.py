"""What a tool call came to, as data: the outcome, the data, what the employee may read, what a model should do.

Layers speak in types, never in text. A tool returns a :class:`Result` (or a plain ``str`` — a
sentence the employee may read — or JSON-able data); the runner turns every call, also a refused,
denied or failed one, into a :class:`ToolOutcome` and keeps it on the tool message
(``Message.result``). A language model reads :meth:`ToolOutcome.for_model` (facts, then guidance);
the offline engine and the helpdesk read the fields and never parse those sentences. Guidance
meant for a model ("ask which device they mean") is kept apart from ``say`` and never reaches an
employee through the offline engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from firstline.errors import BackendUnavailableError, DirectoryEntryNotFoundError, DirectoryError, FirstlineError

__all__ = ["Outcome", "Result", "ToolOutcome"]

Outcome = Literal["ok", "failed", "refused", "denied", "retry", "not_run", "unknown_tool"]


@dataclass(frozen=True, slots=True)
class Result:
    """What a tool returns when it has more to say than data.

    ``say`` is written for the employee (second person, plain words); ``data`` is for the engine
    (JSON-able); ``guidance`` is for a model only ("ask the user to type the code here").
    """

    say: str = ""
    data: Any = None
    guidance: str = ""


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """One tool call's outcome, as the runner recorded it."""

    tool: str
    outcome: Outcome
    say: str = ""
    data: Any = None
    guidance: str = ""
    by: str | None = None  # who decided, for a denied call
    reason: str = ""  # why it was refused or denied

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @classmethod
    def of(cls, tool: str, value: Any) -> ToolOutcome:
        """The outcome of a call that returned ``value`` (a :class:`Result`, a sentence or data)."""
        if isinstance(value, Result):
            return cls(tool, "ok", value.say, value.data, value.guidance)
        if isinstance(value, str):
            return cls(tool, "ok", value)
        return cls(tool, "ok", "", value)

    @classmethod
    def of_error(cls, tool: str, exc: Exception) -> ToolOutcome:
        """The outcome of a tool that raised: the directory's own refusals are told as they are (they say what
        to do instead); anything else is an internal error, with the detail an admin needs for the ticket."""
        if isinstance(exc, DirectoryError) and not isinstance(exc, DirectoryEntryNotFoundError):
            return cls(tool, "failed", str(exc), guidance="tell the user plainly; do not retry")
        data: dict[str, Any] = {"internal_error": type(exc).__name__}
        if isinstance(exc, FirstlineError):  # for the ticket's work note: what an admin must fix
            data["detail"] = str(exc)[:1000]
        if isinstance(exc, BackendUnavailableError):
            data["unavailable"] = exc.what
        guidance = f"the {tool} tool hit an internal error ({type(exc).__name__}). Tell the user plainly."
        return cls(tool, "failed", data=data, guidance=guidance)

    def for_model(self) -> str:
        """The text a language model reads for this call (facts first, then guidance)."""
        facts = self.say
        if self.data is not None and self.outcome == "ok" and not _said(self.data, self.say):
            rendered = json.dumps(_lean(self.data), default=str, ensure_ascii=False)
            facts = f"{facts}\n{rendered}" if facts else rendered
        text = " ".join(p for p in (facts, self.guidance) if p)
        match self.outcome:
            case "ok":
                return text
            case "failed":
                return f"FAILED: {text}"
            case "retry":
                return f"RETRY: {text}"
            case "refused":
                return f"REFUSED: {self.reason}" + (f" What the user is told: {self.say}" if self.say else "")
            case "denied":
                return (
                    f"DENIED by {self.by}: {self.reason or 'no reason given'}. Tell the user and offer the next step."
                )
            case "not_run":
                return f"NOT RUN: {text}"
            case _:
                return text

    def brief(self) -> str:
        """An earlier turn's call as a model needs to remember it: the outcome and what the employee was told
        (the data only when nothing was said); guidance meant for that moment is left out."""
        said = self.say or (json.dumps(_lean(self.data), default=str, ensure_ascii=False) if self.data else "")
        match self.outcome:
            case "ok":
                return said or "done"
            case "refused":
                return f"REFUSED: {self.reason}"
            case "denied":
                return f"DENIED by {self.by}: {self.reason or 'no reason given'}"
            case "failed":
                return f"FAILED: {self.say or self.guidance}"
            case "retry":
                return "RETRY (invalid arguments)"
            case "not_run":
                return "NOT RUN"
            case _:
                return f"{self.outcome.upper()}: {self.guidance}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "outcome": self.outcome,
            "say": self.say,
            "data": self.data,
            "guidance": self.guidance,
            "by": self.by,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolOutcome:
        return cls(
            str(data.get("tool", "")),
            data.get("outcome", "ok"),
            str(data.get("say") or ""),
            data.get("data"),
            str(data.get("guidance") or ""),
            data.get("by"),
            str(data.get("reason") or ""),
        )


def _lean(data: Any) -> Any:
    """``data`` without empty fields (None, "", [], {}): a model reads nothing in them, and each costs tokens."""
    if isinstance(data, dict):
        return {k: _lean(v) for k, v in data.items() if v is not None and v != "" and v != [] and v != {}}
    if isinstance(data, (list, tuple)):
        return [_lean(v) for v in data]
    return data


def _said(data: Any, say: str) -> bool:
    """Whether ``say`` already states every value in ``data`` (then the data would only repeat it)."""
    if not say:
        return False
    if isinstance(data, dict):
        return all(_said(v, say) for v in data.values())
    if isinstance(data, (list, tuple)):
        return all(_said(v, say) for v in data)
    return data is None or data == "" or str(data) in say
