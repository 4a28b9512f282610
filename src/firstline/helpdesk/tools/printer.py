"""Printer specialist tools: status (with known incidents), the requester's own stuck jobs, toner."""

from __future__ import annotations

from typing import Any

from firstline.agents import RunContext, Tool, tool
from firstline.directory.models import Printer
from firstline.errors import DirectoryEntryNotFoundError, ToolFailed
from firstline.helpdesk.tools.deps import deps_of, requester

__all__ = ["PRINTER_TOOLS", "TONER_ORDER_THRESHOLD"]

TONER_ORDER_THRESHOLD = 20  # percent: Tier-1 orders toner at or below this level


def _printer(ctx: RunContext, name: str) -> Printer:
    try:
        return deps_of(ctx).directory.printer(name.strip())
    except DirectoryEntryNotFoundError as exc:
        raise ToolFailed(
            f"I can't find a printer called {name!r}. The name is on the label on the front, e.g. LON-F4-HP-01"
        ) from exc


@tool
def printer_status(ctx: RunContext, name: str = "", floor: int | None = None) -> dict[str, Any]:
    """A printer's status, error, toner, queue and any known incident. Without a name: the printers on a floor of
    the requester's office.

    Args:
        name: e.g. "LON-F4-HP-02".
        floor: e.g. 3; omit for their own floor.
    """
    if not name.strip():
        return _printers_near(ctx, floor)
    printer = _printer(ctx, name)
    incidents = [
        {"id": i.id, "title": i.title, "status": i.status, "workaround": i.workaround}
        for i in deps_of(ctx).directory.incidents()
        if printer.id in i.related_printers or printer.name in i.related_printers
    ]
    return {
        "name": printer.name,
        "location": f"{printer.location} floor {printer.floor}" if printer.floor is not None else printer.location,
        "status": printer.status,
        "error": printer.error,
        "toner_percent": dict(printer.toner),
        "toner_on_order": list(printer.toner_ordered),
        "jobs_in_queue": len(printer.queue),
        "stuck_jobs": sum(1 for j in printer.queue if j.status in ("stuck", "error")),
        "known_incidents": incidents,
    }


def _printers_near(ctx: RunContext, floor: int | None) -> dict[str, Any]:
    """The printers on ``floor`` (the requester's own unless given) of the requester's office, for an employee who
    doesn't know the printer's name ("the one by the kitchen on the 3rd floor")."""
    person = requester(ctx)
    wanted = floor if floor is not None else person.floor
    found = deps_of(ctx).directory.printers(location=person.location or None, floor=wanted)
    return {
        "office": person.location,
        "floor": wanted,
        "printers": [
            {"name": p.name, "model": p.model, "status": p.status} for p in sorted(found, key=lambda p: p.name)
        ],
    }


@tool(risk="write")
def clear_my_print_jobs(ctx: RunContext, name: str) -> str:
    """Cancel the requester's own stuck, held or failed jobs on a printer (never anyone else's).

    Args:
        name: e.g. "LON-F4-HP-02".
    """
    printer = _printer(ctx, name)
    me = requester(ctx).id
    mine = [j.id for j in printer.queue if j.owner == me and j.status in ("stuck", "held", "error")]
    if not mine:
        return f"You have no stuck jobs on {printer.name}; the queue problem is not yours to clear."
    deps_of(ctx).directory.clear_print_queue(printer.name, mine)
    return f"Cancelled {len(mine)} of your jobs on {printer.name}. Send the document again."


@tool(risk="write")
def order_toner(ctx: RunContext, name: str, colour: str = "black") -> str:
    """Order toner for a printer at or below 20%.

    Args:
        name: e.g. "LDS-F2-LX-01".
        colour: black, cyan, magenta or yellow.
    """
    printer = _printer(ctx, name)
    colour = colour.strip().lower()
    if colour not in printer.toner:
        raise ToolFailed(f"{printer.name} has no {colour} toner; it takes {', '.join(sorted(printer.toner))}")
    if colour in printer.toner_ordered:
        return f"A {colour} cartridge for {printer.name} is already on order."
    level = printer.toner[colour]
    if level > TONER_ORDER_THRESHOLD:
        return f"{colour.capitalize()} toner on {printer.name} is at {level}%, not low yet: no order placed."
    deps_of(ctx).directory.set_toner_order(printer.name, colour)
    return f"Ordered a {colour} cartridge for {printer.name} (now at {level}%); Print Services fit it on delivery."


PRINTER_TOOLS: tuple[Tool, ...] = (printer_status, clear_my_print_jobs, order_toner)
