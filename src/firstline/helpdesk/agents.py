"""The triage agent and the nine specialists: instructions (``helpdesk/prompts/*.md``), tools, handoffs.

Agents are data. The same agents run on the offline engine and on any LLM; what a model may
actually do is decided by the tools each agent is given and by the runner's policy.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from importlib import resources

from firstline.agents import Agent, Handoff, Tool
from firstline.helpdesk.taxonomy import SPECIALISTS, load_taxonomy
from firstline.helpdesk.tools.computer import COMPUTER_TOOLS
from firstline.helpdesk.tools.conversation import CONVERSATION_TOOLS
from firstline.helpdesk.tools.device import DEVICE_TOOLS, device_health
from firstline.helpdesk.tools.email import EMAIL_TOOLS
from firstline.helpdesk.tools.lookup import LOOKUP_TOOLS
from firstline.helpdesk.tools.network import NETWORK_TOOLS
from firstline.helpdesk.tools.phishing import PHISHING_TOOLS
from firstline.helpdesk.tools.phone import PHONE_TOOLS
from firstline.helpdesk.tools.printer import PRINTER_TOOLS
from firstline.helpdesk.tools.security import SECURITY_TOOLS, send_verification_code, verify_identity
from firstline.helpdesk.tools.ticket import TICKET_TOOLS

__all__ = ["FOCUS", "TRIAGE", "build_agents", "prompt", "specialist_tools"]

TRIAGE = "triage"
_VERIFY = (send_verification_code, verify_identity)
_VERIFY_NAMES = {t.name for t in _VERIFY}


def prompt(name: str) -> str:
    """The instructions of agent ``name``: ``helpdesk/prompts/<name>.md``, and for a specialist the rules every
    specialist shares (``specialist-rules.md``) after its own part."""
    folder = resources.files("firstline") / "helpdesk" / "prompts"
    own = (folder / f"{name}.md").read_text(encoding="utf-8").strip()
    if name == TRIAGE:
        return own
    return f"{own}\n\n{(folder / 'specialist-rules.md').read_text(encoding='utf-8').strip()}"


# Which of a specialist's own tools each intent of its topics needs: a model is offered only those (with the tools
# every specialist shares), which keeps each call's prompt short (agents.prompting). Every intent of a specialist
# with tools of its own is listed (tests check it); an own tool that serves no intent is offered only when the
# topic's intent is unknown. Be generous: a tool missing here is one a model cannot see for that topic.
FOCUS: dict[str, dict[str, tuple[str, ...]]] = {
    "device": {
        "lost_device": ("my_devices", "report_lost_device", "remote_lock"),
        "mdm_enrolment": ("my_devices", "mdm_enrol_steps"),
        "device_compliance": ("my_devices", "compliance_check", "device_health", "sync_device"),
        "new_phone_setup": ("my_devices", "mdm_enrol_steps"),
        "broken_hardware": ("my_devices", "device_health"),
    },
    "ticket": {
        "ticket_status": ("ticket_status", "my_open_tickets"),
        "ticket_update": ("ticket_status", "my_open_tickets", "add_ticket_note"),
        "ticket_close": ("ticket_status", "my_open_tickets", "close_ticket"),
        "ticket_escalate": ("ticket_status", "my_open_tickets", "escalate_ticket"),
        "ticket_reopen": ("ticket_status", "my_open_tickets", "add_ticket_note"),
        "report_outage": ("my_open_tickets",),
    },
    "network": {
        "vpn_drops": ("vpn_status", "site_outage_check"),
        "vpn_cannot_connect": ("vpn_status", "site_outage_check"),
        "wifi": ("site_outage_check",),
        "network_share": ("site_outage_check",),
        "slow_internet": ("site_outage_check", "vpn_status"),
    },
    "email": {
        "mailbox_full": ("mailbox_quota",),
        "distribution_list": ("distribution_list_info", "join_distribution_list", "add_to_distribution_list"),
        "shared_mailbox": ("shared_mailbox_access_info",),
        "outlook_password_prompt": ("mailbox_quota",),
        "email_stuck_outbox": ("mailbox_quota",),
        "calendar_delegation": ("shared_mailbox_access_info",),
        "out_of_office": ("mailbox_quota", "set_out_of_office"),
        "junk_mail": ("mailbox_quota",),
    },
    "computer": {
        "slow_computer": ("device_health", "disk_cleanup_steps"),
        "software_request": ("software_catalog", "request_software"),
        "app_crash": ("device_health", "software_catalog"),
        "disk_space": ("device_health", "disk_cleanup_steps"),
        "os_update": ("device_health", "disk_cleanup_steps"),
        "monitor_dock": ("device_health",),
        "peripherals": ("device_health",),
    },
    "printer": {
        "print_queue_stuck": ("printer_status", "clear_my_print_jobs"),
        "printer_offline": ("printer_status", "clear_my_print_jobs"),
        "paper_jam": ("printer_status",),
        "toner": ("printer_status", "order_toner"),
        "add_printer": ("printer_status",),
        "scan_to_email": ("printer_status",),
    },
    "phone": {
        "desk_phone_down": ("extension_status",),
        "voicemail_pin": ("extension_status", "reset_voicemail_pin"),
        "call_forwarding": ("extension_status", "set_call_forwarding"),
        "softphone_headset": ("extension_status",),
        "new_extension": ("extension_status",),
    },
    "security": {
        "password_reset": ("account_status", "unlock_account", "send_password_reset_link"),
        "account_unlock": ("account_status", "unlock_account", "send_password_reset_link"),
        "mfa_reset": ("account_status", "reset_mfa"),
        "phishing_report": ("report_phishing", "account_status", "send_password_reset_link"),
        "suspicious_signin": (
            "account_status",
            "sign_in_history",
            "sign_out_everywhere",
            "send_password_reset_link",
            "report_phishing",
        ),
        "lost_security_key": ("account_status", "reset_mfa"),
    },
}


def _offered(agent: str, tool: Tool, own: bool) -> Tool:
    """``tool`` as ``agent`` offers it: the identity check's tools only while the requester is unverified, and
    an own tool only for the intents that need it (FOCUS)."""
    if tool.name in _VERIFY_NAMES:
        return replace(tool, offered="unverified")
    focus = FOCUS.get(agent)
    if not own or not focus:
        return tool
    return replace(tool, intents=tuple(intent for intent, names in focus.items() if tool.name in names))


def specialist_tools() -> dict[str, tuple[Tool, ...]]:
    """Each specialist's own tools, before the ones every specialist shares."""
    return {
        "device": (*DEVICE_TOOLS, *_VERIFY),
        "ticket": (*TICKET_TOOLS, *_VERIFY),
        "network": NETWORK_TOOLS,
        "email": (*EMAIL_TOOLS, *_VERIFY),
        "computer": (device_health, *COMPUTER_TOOLS, *_VERIFY),
        "printer": (*PRINTER_TOOLS, *_VERIFY),
        "phone": (*PHONE_TOOLS, *_VERIFY),
        "security": (*SECURITY_TOOLS, *PHISHING_TOOLS),
        "lookup": (),
    }


@cache
def build_agents() -> dict[str, Agent]:
    """The ten agents by name: ``triage`` hands off to the nine specialists, each of which can hand back."""
    taxonomy = load_taxonomy()
    tools = specialist_tools()
    # What each specialist owns, without the "X belongs to Y" tails: the triage instructions list those pairs once.
    handoffs = tuple(Handoff(key, taxonomy.specialists[key].description.split(";")[0]) for key in SPECIALISTS)
    agents = {TRIAGE: Agent(TRIAGE, prompt(TRIAGE), handoffs=handoffs, model_role="triage")}
    back = Handoff(TRIAGE, "Not this specialist's: send it back to triage.")
    for key in SPECIALISTS:
        own = tools[key]
        shared = tuple(t for t in (*LOOKUP_TOOLS, *CONVERSATION_TOOLS) if t not in own)
        offered = tuple(_offered(key, t, t in own) for t in (*own, *shared))
        agents[key] = Agent(key, prompt(key), tools=offered, handoffs=(back,), metadata={"specialist": key})
    return agents
