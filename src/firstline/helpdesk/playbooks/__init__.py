"""The offline engine's playbooks: for each intent, which tool comes next and what to tell the user.

A playbook is a function of the :class:`~firstline.helpdesk.offline.View` (the episode so far) that
returns the next step. It is re-entered after every tool result, so it reads like a checklist:
"no status yet -> look it up; locked and not verified -> verify; verified -> unlock; unlocked ->
resolve the ticket; resolved -> tell the user". Intents without a playbook answer from the
runbooks (:func:`fallback_playbook`).
"""

from __future__ import annotations

from firstline.helpdesk.playbooks.common import Playbook
from firstline.helpdesk.playbooks.people import (
    account_unlock,
    call_forwarding,
    desk_phone_down,
    device_compliance,
    distribution_list,
    lost_device,
    mailbox_full,
    mdm_enrolment,
    mfa_reset,
    password_reset,
    phishing_report,
    shared_mailbox,
    voicemail_pin,
)  # fmt: skip
from firstline.helpdesk.playbooks.places import (
    disk_space,
    health_then_kb,
    outage_then_kb,
    print_queue_stuck,
    printer_status_answer,
    report_outage,
    software_request,
    toner,
    vpn,
)  # fmt: skip
from firstline.helpdesk.playbooks.tickets import (
    fallback_playbook,
    human_needed,
    ticket_close,
    ticket_escalate,
    ticket_status,
    ticket_update,
)

__all__ = ["PLAYBOOKS", "fallback_playbook"]

PLAYBOOKS: dict[str, Playbook] = {
    "account_unlock": account_unlock,
    "password_reset": password_reset,
    "mfa_reset": mfa_reset,
    "phishing_report": phishing_report,
    "suspicious_signin": human_needed,
    "lost_security_key": human_needed,
    "lost_device": lost_device,
    "mdm_enrolment": mdm_enrolment,
    "device_compliance": device_compliance,
    "broken_hardware": human_needed,
    "vpn_drops": vpn,
    "vpn_cannot_connect": vpn,
    "wifi": outage_then_kb,
    "network_share": outage_then_kb,
    "slow_internet": outage_then_kb,
    "mailbox_full": mailbox_full,
    "distribution_list": distribution_list,
    "shared_mailbox": shared_mailbox,
    "slow_computer": health_then_kb,
    "software_request": software_request,
    "disk_space": disk_space,
    "os_update": health_then_kb,
    "print_queue_stuck": print_queue_stuck,
    "printer_offline": printer_status_answer,
    "paper_jam": printer_status_answer,
    "toner": toner,
    "desk_phone_down": desk_phone_down,
    "voicemail_pin": voicemail_pin,
    "call_forwarding": call_forwarding,
    "new_extension": human_needed,
    "ticket_status": ticket_status,
    "ticket_update": ticket_update,
    "ticket_close": ticket_close,
    "ticket_escalate": ticket_escalate,
    "ticket_reopen": human_needed,
    "report_outage": report_outage,
    "equipment_request": human_needed,
    "onboarding": human_needed,
    "offboarding": human_needed,
}
