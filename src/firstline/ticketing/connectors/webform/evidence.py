"""Evidence of what the webform connector did in the app: a screenshot after every step, and a log line.

One operation collects its steps in a :class:`Trail` (on the browser thread); when it ends, well or
not, :class:`EvidenceLog` files them under the ticket they belong to::

    <evidence_dir>/<firstline number>/03-fill-summary-forms.new_call.fields.short_description.png
    <evidence_dir>/<firstline number>/actions.jsonl     {"step": 3, "operation": "create", "action": "fill", ...}
    <evidence_dir>/<firstline number>/computer-use/     the fallback's own screenshots and log

Step numbers go on across operations on the same ticket. Passwords are never written down: the
login step records the field labels only. The fields of one form share one screenshot, taken after
the last of them is filled: it shows every one of them (a shot per field nearly doubled the shots
of filing a call).
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
import weakref
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["Evidence", "EvidenceLog", "Step", "Trail", "screenshot"]

_CDP: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # page -> its CDP session


@dataclass(frozen=True, slots=True)
class Step:
    """One thing done on the page, and the screenshot taken right after it (PNG bytes)."""

    action: str
    target: str
    outcome: str
    at: datetime
    png: bytes | None


@dataclass
class Trail:
    """The steps of one operation; ``key`` is the ticket they belong to, once known. ``record=False`` keeps none."""

    page: Page
    operation: str
    record: bool = True
    key: str | None = None
    steps: list[Step] = field(default_factory=list)
    _waiting: int = field(default=0, init=False, repr=False)  # the last steps, recorded ``shot_later``, unshot

    def add(
        self, action: str, target: str, outcome: str = "ok", *, looked: bool = False, shot_later: bool = False
    ) -> None:
        """Record a step; ``looked``: it only read the page, so the last screenshot still shows it.

        ``shot_later``: the step shares the screenshot of the next step recorded (or of :meth:`finish`), as the
        fields of one form do: the page after the last field is filled shows them all.
        """
        if not self.record:
            return
        if shot_later:
            self.steps.append(Step(action, target, outcome, datetime.now(UTC), None))
            self._waiting += 1
            return
        png = self.steps[-1].png if looked and self.steps and not self._waiting else None
        if png is None:
            png = self._screenshot()
        self.steps.append(Step(action, target, outcome, datetime.now(UTC), png))

    def finish(self) -> None:
        """Give the steps still waiting for a screenshot the page as it is now (the operation ends)."""
        if self.record and self._waiting:
            self._screenshot()

    def _screenshot(self) -> bytes | None:
        try:
            png: bytes | None = screenshot(self.page)
        except Exception:  # a crashed page still gets its line in actions.jsonl
            png = None
        self._fill_waiting(png)
        return png

    def _fill_waiting(self, png: bytes | None) -> None:
        if self._waiting:
            cut = len(self.steps) - self._waiting
            self.steps[cut:] = [replace(step, png=png) for step in self.steps[cut:]]
            self._waiting = 0


def screenshot(page: Page) -> bytes:
    """The page as PNG bytes; Chromium's fast encoder through CDP (half the time), else Playwright's."""
    try:
        cdp = _CDP.get(page)
        if cdp is None:
            cdp = _CDP[page] = page.context.new_cdp_session(page)
        data = cdp.send("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True})["data"]
        return base64.b64decode(data)
    except Exception:
        _CDP.pop(page, None)
        return page.screenshot(type="png")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One recorded step: what was done to what, how it went, and the screenshot taken right after."""

    step: int
    action: str
    target: str
    outcome: str
    screenshot: Path | None
    at: datetime | None = None
    operation: str = ""


class EvidenceLog:
    """Files trails under ``root/<ticket>/`` and reads them back. ``root=None``: a new temporary folder."""

    def __init__(self, root: Path | None) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="firstline-webform-"))
        return self._root

    def folder(self, key: str) -> Path:
        return self.root / slug(key, keep_case=True)

    def keep(self, trail: Trail) -> None:
        """Write ``trail``'s screenshots and append its lines to ``actions.jsonl``."""
        if not trail.steps:
            return
        folder = self.folder(trail.key or "_unfiled")
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / "actions.jsonl"
        first = len(log.read_text(encoding="utf-8").splitlines()) + 1 if log.exists() else 1
        with log.open("a", encoding="utf-8") as out:
            for n, step in enumerate(trail.steps, first):
                shot = None
                if step.png is not None:
                    shot = f"{n:02d}-{slug(f'{step.action}-{step.target}')}.png"
                    (folder / shot).write_bytes(step.png)
                entry = {
                    "step": n, "operation": trail.operation, "action": step.action, "target": step.target,
                    "time": step.at.isoformat(), "outcome": step.outcome, "screenshot": shot,
                }  # fmt: skip
                out.write(json.dumps(entry) + "\n")

    def read(self, key: str) -> list[Evidence]:
        folder = self.folder(key)
        log = folder / "actions.jsonl"
        if not log.exists():
            return []
        out = []
        for line in log.read_text(encoding="utf-8").splitlines():
            e = json.loads(line)
            shot = folder / e["screenshot"] if e.get("screenshot") else None
            at = datetime.fromisoformat(e["time"])
            out.append(Evidence(e["step"], e["action"], e["target"], e["outcome"], shot, at, e.get("operation", "")))
        return out


def slug(text: str, *, keep_case: bool = False) -> str:
    """``text`` as a safe file name part: letters, digits, ``.``, ``_`` and ``-``; at most 48 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text if keep_case else text.lower()).strip("-.")
    return cleaned[:48] or "step"
