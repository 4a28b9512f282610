"""The offline engine's playbooks: for each intent, which tool comes next and what to tell the user.

A playbook is a function of the :class:`~firstline.helpdesk.offline.View` (the episode so far) that
returns the next step. It is re-entered after every tool result, so it reads like a checklist:
"no status yet -> look it up; locked and not verified -> verify; verified -> unlock; unlocked ->
resolve the ticket; resolved -> tell the user". Playbooks register themselves where they are
defined (``@playbook``); an intent names its playbook in ``taxonomy.yaml`` (``runbook`` answers
from the runbooks). Dialogue acts (thanks, a person please, cancel, "did that fix it?") are the
helpdesk's, not the playbooks'.
"""

from __future__ import annotations

from firstline.helpdesk.offline.playbooks import people, places, tickets  # noqa: F401  (they register their playbooks)
from firstline.helpdesk.offline.playbooks.common import REGISTRY, Playbook, playbook, register
from firstline.helpdesk.offline.playbooks.tickets import fallback_playbook

__all__ = ["REGISTRY", "Playbook", "fallback_playbook", "playbook", "register"]
