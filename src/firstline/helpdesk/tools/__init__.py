"""The specialists' tools, one module per specialist. Each tool acts on the real backends in
``RunContext.deps`` (a :class:`HelpdeskDeps`) and declares its risk; the runner's policy decides
whether it may run."""

from firstline.helpdesk.tools.computer import COMPUTER_TOOLS
from firstline.helpdesk.tools.conversation import CONVERSATION_TOOLS
from firstline.helpdesk.tools.deps import HelpdeskDeps, OneTimeCodes
from firstline.helpdesk.tools.device import DEVICE_TOOLS
from firstline.helpdesk.tools.email import EMAIL_TOOLS
from firstline.helpdesk.tools.lookup import LOOKUP_TOOLS
from firstline.helpdesk.tools.network import NETWORK_TOOLS
from firstline.helpdesk.tools.phishing import PHISHING_TOOLS
from firstline.helpdesk.tools.phone import PHONE_TOOLS
from firstline.helpdesk.tools.printer import PRINTER_TOOLS
from firstline.helpdesk.tools.security import SECURITY_TOOLS
from firstline.helpdesk.tools.ticket import TICKET_TOOLS

__all__ = [
    "COMPUTER_TOOLS",
    "CONVERSATION_TOOLS",
    "DEVICE_TOOLS",
    "EMAIL_TOOLS",
    "LOOKUP_TOOLS",
    "NETWORK_TOOLS",
    "PHISHING_TOOLS",
    "PHONE_TOOLS",
    "PRINTER_TOOLS",
    "SECURITY_TOOLS",
    "TICKET_TOOLS",
    "HelpdeskDeps",
    "OneTimeCodes",
]
