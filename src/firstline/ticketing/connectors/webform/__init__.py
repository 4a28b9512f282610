"""The legacy ticket web app connector: a ticket system with no API, driven in Chromium like a person would.

Two modes, one connector (:class:`WebformConnector`):

- **Form-map mode** (the default, deterministic): a TOML form map (:mod:`.formmap`) says how to log
  in, which menu links lead to each form, which *label* marks each field, which button submits, and
  how to read the result (the call number on the confirmation page, the rows of the call page, the
  notes table). Fields are found by their label text, never by CSS ids.
- **Computer-use mode** (the fallback): when the page no longer matches the map (an upgrade renamed
  "Summary" to "Short description"), map mode raises :class:`WebformMapError` naming the map key,
  unless a ``fallback`` is configured: then the logged-in page goes to it with a plain-language goal,
  and it answers with a :class:`FallbackResult` (a model-driven agent that looks at screenshots; the
  tests use a scripted stand-in).

Modules: :mod:`.formmap` (the map, checked up front), :mod:`.browser` (Chromium on one dedicated
thread, :class:`BrowserThread`, and the map's steps on a page), :mod:`.pages` (the app's pages read
back into Firstline's snapshots), :mod:`.evidence` and :mod:`.connector`. The computer-use agent
that can serve as the fallback lives in :mod:`firstline.agents.computer_use`. All browser work runs
on the browser thread, so the connector may be called from any thread. Every write keeps evidence,
a screenshot per step and an ``actions.jsonl``, under ``<evidence_dir>/<firstline number>/``
(:meth:`WebformConnector.evidence`).
"""

from firstline.ticketing.connectors.webform.browser import BrowserThread
from firstline.ticketing.connectors.webform.connector import (
    DRY_RUN,
    Fallback,
    FallbackResult,
    WebformConnector,
    WebformOptions,
)
from firstline.ticketing.connectors.webform.evidence import Evidence
from firstline.ticketing.connectors.webform.formmap import WebformMap, WebformMapError, load_form_map, parse_form_map

__all__ = [
    "DRY_RUN",
    "BrowserThread",
    "Evidence",
    "Fallback",
    "FallbackResult",
    "WebformConnector",
    "WebformMap",
    "WebformMapError",
    "WebformOptions",
    "load_form_map",
    "parse_form_map",
]
