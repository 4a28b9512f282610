"""The specialists' tools, one module per specialist. Each tool acts on the real backends in
``RunContext.deps`` (a :class:`HelpdeskDeps`) and declares its risk; the runner's policy decides
whether it may run."""

from firstline.helpdesk.tools.deps import HelpdeskDeps, OneTimeCodes
from firstline.helpdesk.tools.lookup import LOOKUP_TOOLS
from firstline.helpdesk.tools.phone import PHONE_TOOLS
from firstline.helpdesk.tools.printer import PRINTER_TOOLS
from firstline.helpdesk.tools.security import SECURITY_TOOLS
from firstline.helpdesk.tools.ticket import TICKET_TOOLS

__all__ = [
    "LOOKUP_TOOLS",
    "PHONE_TOOLS",
    "PRINTER_TOOLS",
    "SECURITY_TOOLS",
    "TICKET_TOOLS",
    "HelpdeskDeps",
    "OneTimeCodes",
]
