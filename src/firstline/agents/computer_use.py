"""``ComputerUse``: a vision model operates a legacy web page from screenshots, one action at a time.

The web-form connector's fallback for pages its form map does not fit. Given a Playwright page (already
signed in) and a goal in words, it loops: a screenshot of the page, then one request to the model (through
Firstline's model layer: any :class:`~firstline.llm.messages.ChatModel`) with the goal, the actions so far
and their outcomes, the latest screenshot as an image and the ``computer`` tool (Anthropic's own for
Claude, a function tool for OpenAI-compatible servers: :mod:`firstline.llm.vision`); then the action the
model chose, done with Playwright's mouse and keyboard. It ends when the model answers with text (the
result, e.g. ``CALL-000124``; an answer starting ``FAILED`` is a failure) or calls the ``done`` action, and
fails once ``max_steps`` actions are spent without an answer, when the model call fails, or when the page
is gone. The result's ``result_text`` is the model's answer, or why it failed.

* **Refused actions**: coordinates outside the display, unknown actions, missing or malformed fields, a
  wait over ten seconds. Nothing is done; the model is told why, and it counts as a step.
* **Evidence**, in ``evidence_dir``: ``00-start.png``, ``NN-<action>.png`` (the screen after step NN) and
  ``actions.jsonl``, one line per step (``step``, ``action``, ``args``, ``time``, ``outcome``, ``said``,
  ``screenshot``) and a last line for the answer.
* **Secrets**: text typed while the focused field is a password field (``type=password``, or named or
  labelled password, passcode, PIN or secret) is replaced by ``[N characters typed into a password field]``
  in the history the model is sent back and in ``actions.jsonl``, and by ``[password]`` wherever it shows up
  later (the model's own words, its answer); the browser shows it as dots in the screenshots. Other typed
  text is kept: the model wrote it, and the evidence must show what was entered.
* The page's viewport is set to ``display`` for the run (and put back after it), so a screenshot is exactly
  the screen the model is told about.
* Playwright's sync API belongs to its thread (where an event loop may be running), so each model call
  runs on a worker thread of this object (``asyncio.run``); a model must not touch the page itself.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from firstline.errors import ModelCallError
from firstline.llm.messages import ChatModel, ChatRequest, ComputerTool, Image, Message, ModelResponse
from firstline.llm.vision import ACTIONS, COMPUTER, read_action
from firstline.ticketing.connectors.webform.connector import FallbackResult

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["ComputerUse", "ComputerUseResult"]

MAX_WAIT_S = 10.0
MAX_TYPED = 2000  # characters in one ``type`` action
SCROLL_PX = 100  # one wheel click
_CLICKS: dict[str, tuple[Literal["left", "middle", "right"], int]] = {
    "left_click": ("left", 1), "right_click": ("right", 1), "middle_click": ("middle", 1),
    "double_click": ("left", 2), "triple_click": ("left", 3),
}  # fmt: skip
# xdotool key names (what computer-use models are trained on) in Playwright's names; others pass as they are.
_KEYS = {
    "return": "Enter", "enter": "Enter", "tab": "Tab", "escape": "Escape", "esc": "Escape",
    "backspace": "Backspace", "delete": "Delete", "space": "Space", "up": "ArrowUp", "down": "ArrowDown",
    "left": "ArrowLeft", "right": "ArrowRight", "page_up": "PageUp", "prior": "PageUp", "page_down": "PageDown",
    "next": "PageDown", "pageup": "PageUp", "pagedown": "PageDown", "home": "Home", "end": "End",
    "ctrl": "Control", "control": "Control", "alt": "Alt", "shift": "Shift", "super": "Meta", "cmd": "Meta",
    "meta": "Meta", "win": "Meta",
}  # fmt: skip
_SECRET_FIELD = """() => {
  const e = document.activeElement;
  if (!e || !('value' in e)) return false;
  const label = e.labels && e.labels.length ? e.labels[0].textContent : '';
  const words = [e.name, e.id, e.getAttribute('aria-label'), e.placeholder, label].join(' ');
  return e.type === 'password' || /pass(word|code)|secret|\\bpin\\b/i.test(words);
}"""
SYSTEM = """You operate a web browser for the IT helpdesk, to do one task in an old web application.
You see the browser's screen, {width}x{height} pixels; the latest screenshot is in the last message.
Use the `computer` tool, one action per call: click a field before typing into it, scroll to find what is
off screen, and check the screenshot after each action. You have at most {steps} actions. Do only what the
task asks. When the task is done, answer with the result only and no tool call: the reference or
confirmation the page shows, e.g. CALL-000124. If it cannot be done, answer "FAILED: " and why."""


@dataclass(frozen=True, slots=True)
class ComputerUseResult(FallbackResult):
    """What a run came to: ``ok``, the model's answer (or why it failed), the actions taken (``steps``), and the
    files it kept (``evidence``). A :class:`~.connector.FallbackResult`, so a ``ComputerUse`` is a ``Fallback``."""

    evidence: tuple[Path, ...] = ()


class _Refused(Exception):
    """An action not done (outside the screen, unknown, malformed): the model is told why."""


@dataclass
class _Run:
    page: Page
    evidence_dir: Path
    width: int
    height: int
    steps: int = 0
    mouse: tuple[int, int] = (0, 0)
    secrets: list[str] = field(default_factory=list)  # what was typed into password fields
    prefix: str = ""  # "r2-" for the second run into the same folder: no run overwrites another's screenshots

    def __post_init__(self) -> None:
        earlier = len(list(self.evidence_dir.glob("*00-start.png")))
        self.prefix = f"r{earlier + 1}-" if earlier else ""

    def scrub(self, text: str) -> str:
        """``text`` without anything typed into a password field so far."""
        for secret in self.secrets:
            text = text.replace(secret, "[password]") if len(secret) >= 3 else text
        return text

    def scrub_action(self, action: dict[str, Any]) -> dict[str, Any]:
        return {k: self.scrub(v) if isinstance(v, str) and k != "action" else v for k, v in action.items()}

    def save(self, name: str, data: bytes) -> Path:
        path = self.evidence_dir / f"{self.prefix}{name}"
        path.write_bytes(data)
        return path

    def log(self, entry: dict[str, Any]) -> None:
        entry = {"run": self.prefix.rstrip("-") or "r1", "step": self.steps, **entry}
        entry["time"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        with (self.evidence_dir / "actions.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")


class ComputerUse:
    """Run a goal on a page with a vision model (see the module docstring). An instance is a web-form
    fallback: ``ComputerUse(model, evidence_dir=...)(page, goal, evidence_dir)``."""

    def __init__(
        self,
        model: ChatModel,
        *,
        max_steps: int = 15,
        display: tuple[int, int] | None = (1024, 768),
        evidence_dir: Path | None = None,
        settle_ms: int = 250,
    ) -> None:
        """``display`` is the viewport the page is given (None: keep the page's own); ``settle_ms`` passes after
        each action (then the page's load) before the next screenshot."""
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.model = model
        self.max_steps = max_steps
        self.display = display
        self.evidence_dir = evidence_dir
        self.settle_ms = settle_ms

    def __call__(self, page: Page, goal: str, evidence_dir: Path) -> ComputerUseResult:
        return self.run(page, goal, evidence_dir)

    def run(self, page: Page, goal: str, evidence_dir: Path | None = None) -> ComputerUseResult:
        """Work on ``goal`` in ``page`` until the model answers or ``max_steps`` actions are spent."""
        before = page.viewport_size
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="firstline-computer-use") as calls:
                return self._run(calls, page, goal, evidence_dir)
        finally:
            if before is not None and page.viewport_size != before:
                page.set_viewport_size(before)

    def _run(self, calls: ThreadPoolExecutor, page: Page, goal: str, evidence_dir: Path | None) -> ComputerUseResult:
        folder = evidence_dir or self.evidence_dir
        if folder is None:
            raise ValueError("ComputerUse needs an evidence_dir: pass one to the constructor or to run()")
        folder.mkdir(parents=True, exist_ok=True)
        if self.display is not None:
            page.set_viewport_size({"width": self.display[0], "height": self.display[1]})
        size = page.viewport_size
        if size is None:
            raise ValueError("the page has no fixed viewport: give ComputerUse a display=(width, height)")
        run = _Run(page, folder, size["width"], size["height"])
        evidence: list[Path] = [folder / "actions.jsonl"]
        try:
            shot = page.screenshot(type="png")
        except Exception as exc:  # Playwright's Error: the page is closed or crashed
            return self._end(run, evidence, False, f"FAILED: no screenshot of the page ({exc})", "gave_up")
        evidence.append(run.save("00-start.png", shot))
        system = SYSTEM.format(width=run.width, height=run.height, steps=self.max_steps)
        history = [Message("system", system), Message("user", f"Task: {goal}", images=(_png(shot),))]
        tool = ComputerTool(run.width, run.height)
        while True:
            request = ChatRequest(tuple(_latest_image_only(history)), computer=tool)
            try:
                response = self._ask(calls, request)
            except ModelCallError as exc:
                return self._end(run, evidence, False, f"FAILED: the model call failed ({exc})", "gave_up")
            said = run.scrub(response.text)
            others_shown = [replace(o, arguments=run.scrub_action(o.arguments)) for o in response.tool_calls[1:]]
            if not response.tool_calls:
                text = said.strip()
                if not text:
                    return self._end(run, evidence, False, "FAILED: the model gave no action and no answer", "gave_up")
                return self._end(run, evidence, not text.upper().startswith("FAILED"), text, "answer")
            call, *others = response.tool_calls
            action = read_action(call.arguments) if call.name == COMPUTER else {"action": f"tool {call.name}"}
            if action["action"] == "done":
                text = run.scrub(str(action.get("text") or said)).strip()
                return self._end(run, evidence, bool(text), text or "FAILED: done without a result", "done")
            if run.steps >= self.max_steps:
                reason = f"FAILED: no answer after {self.max_steps} actions (max_steps)"
                return self._end(run, evidence, False, reason, "gave_up")
            run.steps += 1
            outcome, status, shown = self._step(run, action)
            try:
                shot = page.screenshot(type="png")
            except Exception as exc:  # the page went away with the action
                run.log({"action": action["action"], "args": _args(shown), "outcome": _logged(status, outcome)})
                return self._end(
                    run, evidence, False, f"FAILED: no screenshot after step {run.steps} ({exc})", "gave_up"
                )
            saved = run.save(f"{run.steps:02d}-{_slug(action['action'])}.png", shot)
            evidence.append(saved)
            run.log({"action": action["action"], "args": _args(shown), "outcome": _logged(status, outcome),
                     "said": said[:500], "screenshot": saved.name})  # fmt: skip
            if run.steps >= self.max_steps:
                outcome += " That was the last action allowed: answer now with the result, or FAILED: and why."
            history.append(Message("assistant", said, (replace(call, arguments=shown), *others_shown)))
            history.append(Message("tool", outcome, tool_call_id=call.id, name=call.name,
                                   result={"outcome": status}, images=(_png(shot),)))  # fmt: skip
            history += [Message("tool", "Not run: one action per turn.", tool_call_id=extra.id, name=extra.name,
                                result={"outcome": "refused"}) for extra in others]  # fmt: skip

    # -- one step ----------------------------------------------------------------------------------

    def _ask(self, calls: ThreadPoolExecutor, request: ChatRequest) -> ModelResponse:
        return calls.submit(asyncio.run, self.model.complete(request)).result()

    def _end(self, run: _Run, evidence: list[Path], ok: bool, text: str, how: str) -> ComputerUseResult:
        run.log({"action": how, "args": {}, "outcome": "finished" if ok else "failed", "said": text[:500]})
        return ComputerUseResult(ok, text, run.steps, tuple(p for p in evidence if p.exists()))

    def _step(self, run: _Run, action: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """Do one action: ``(what the model is told, "ok" | "refused" | "error", the action as it may be shown)``."""
        secret = action["action"] == "type" and isinstance(action.get("text"), str) and _secret_field(run.page)
        if secret:
            run.secrets.append(action["text"])
            shown = {**action, "text": f"[{len(action['text'])} characters typed into a password field]"}
        else:
            shown = run.scrub_action(action)
        try:
            outcome, status = self._do(run, action), "ok"
        except _Refused as exc:
            outcome, status = f"Refused: {exc}", "refused"
        except Exception as exc:  # Playwright's Error or TimeoutError: the model sees it and may try again
            outcome, status = f"Error: {str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}", "error"
        if status == "ok":
            self._settle(run.page)
        if secret and status == "ok":
            outcome = f"Typed {len(action['text'])} characters into the password field."
        return outcome, status, shown

    def _do(self, run: _Run, action: dict[str, Any]) -> str:
        name = action["action"]
        mouse, keyboard = run.page.mouse, run.page.keyboard
        if name not in ACTIONS:
            raise _Refused(f"unknown action {name!r}: use one of {', '.join(a for a in ACTIONS)}")
        if name == "screenshot":
            return "Here is the screen."
        if name == "cursor_position":
            return f"The mouse is at {list(run.mouse)}."
        if name in _CLICKS or name == "mouse_move":
            x, y = _point(run, action, "coordinate")
            modifiers = _keys(action["text"]) if isinstance(action.get("text"), str) and action["text"] else []
            button, count = _CLICKS.get(name, ("left", 0))
            for k in modifiers:
                keyboard.down(k)
            try:
                if count:
                    mouse.click(x, y, button=button, click_count=count)
                else:
                    mouse.move(x, y)
            finally:
                for k in reversed(modifiers):
                    keyboard.up(k)
            run.mouse = (x, y)
            return f"Did {name} at [{x}, {y}]."
        if name == "left_click_drag":
            start, end = _point(run, action, "start_coordinate"), _point(run, action, "coordinate")
            mouse.move(*start)
            mouse.down()
            mouse.move(*end, steps=5)
            mouse.up()
            run.mouse = end
            return f"Dragged from {list(start)} to {list(end)}."
        if name in ("left_mouse_down", "left_mouse_up"):
            if name == "left_mouse_down":
                mouse.down()
            else:
                mouse.up()
            return f"Did {name}."
        if name == "type":
            text = action.get("text")
            if not isinstance(text, str) or not text or len(text) > MAX_TYPED:
                raise _Refused(f"type needs a text of 1 to {MAX_TYPED} characters")
            keyboard.type(text)
            return f"Typed {len(text)} characters."
        if name in ("key", "hold_key"):
            text = action.get("text")
            if not isinstance(text, str) or not text.strip():
                raise _Refused(f"{name} needs a text naming the key, e.g. 'Return' or 'ctrl+a'")
            if name == "key":
                for combo in text.split():
                    keyboard.press("+".join(_keys(combo)))
                return f"Pressed {text}."
            held, seconds = _keys(text), _seconds(action)
            for k in held:
                keyboard.down(k)
            try:
                run.page.wait_for_timeout(seconds * 1000)
            finally:
                for k in reversed(held):
                    keyboard.up(k)
            return f"Held {text}."
        if name == "scroll":
            direction, amount = action.get("scroll_direction"), action.get("scroll_amount", 3)
            if direction not in ("up", "down", "left", "right"):
                raise _Refused("scroll needs scroll_direction: up, down, left or right")
            if not isinstance(amount, int) or isinstance(amount, bool) or not 1 <= amount <= 20:
                raise _Refused("scroll_amount must be a whole number from 1 to 20")
            if "coordinate" in action:
                run.mouse = _point(run, action, "coordinate")
                mouse.move(*run.mouse)
            pixels = amount * SCROLL_PX * (-1 if direction in ("up", "left") else 1)
            mouse.wheel(pixels if direction in ("left", "right") else 0, pixels if direction in ("up", "down") else 0)
            return f"Scrolled {direction} by {amount}."
        # wait
        run.page.wait_for_timeout(_seconds(action) * 1000)
        return f"Waited {_seconds(action):g} s."

    def _settle(self, page: Page) -> None:
        """Let what the action started (a submit, a script) finish before the next screenshot."""
        try:
            page.wait_for_timeout(self.settle_ms)
            page.wait_for_load_state("load", timeout=10_000)
        except Exception:  # a page still loading is what the next screenshot shows
            pass


def _point(run: _Run, action: dict[str, Any], key: str) -> tuple[int, int]:
    value = action.get(key)
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise _Refused(f"{action['action']} needs {key}: [x, y] in whole pixels, got {value!r}")
    x, y = value
    if not (0 <= x < run.width and 0 <= y < run.height):
        raise _Refused(f"{[x, y]} is outside the {run.width}x{run.height} screen")
    return x, y


def _seconds(action: dict[str, Any]) -> float:
    value = action.get("duration", 1.0)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= MAX_WAIT_S:
        raise _Refused(f"duration must be a number of seconds from 0 to {MAX_WAIT_S:g}")
    return float(value)


def _keys(combo: str) -> list[str]:
    """``ctrl+shift+Tab`` as Playwright's key names, one per key held together."""
    keys = [part for part in combo.strip().split("+") if part] or ["+"]
    return [_KEYS.get(k.lower(), k.upper() if re.fullmatch(r"[fF]\d{1,2}", k) else k) for k in keys]


def _secret_field(page: Page) -> bool:
    try:
        return bool(page.evaluate(_SECRET_FIELD))
    except Exception:  # a page mid-navigation: nothing is focused that the model could type a secret into
        return False


def _latest_image_only(history: list[Message]) -> list[Message]:
    """The history with only its newest screenshot: older ones are stale and cost the most tokens."""
    last = max((n for n, m in enumerate(history) if m.images), default=-1)
    return [m if n == last or not m.images else replace(m, images=()) for n, m in enumerate(history)]


def _png(data: bytes) -> Image:
    return Image("image/png", base64.b64encode(data).decode("ascii"))


def _args(action: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in action.items() if k != "action"}


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "-" for c in name)[:40]


def _logged(status: str, told: str) -> str:
    """An outcome as ``actions.jsonl`` keeps it: ``ok: Typed 4 characters.``, ``refused: ...``, ``error: ...``."""
    return f"ok: {told}" if status == "ok" else told[:1].lower() + told[1:]
