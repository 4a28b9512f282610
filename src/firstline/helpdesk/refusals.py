"""What the desk refuses before any engine runs, the same for the offline and the LLM engine.

* **Someone else's things.** A request to act on another person's account, device, line, mailbox or
  tickets (:class:`~firstline.helpdesk.beneficiary.Beneficiary` decides by meaning, with the directory's
  help) is refused plainly, with how that person — or an agent acting for them — gets help. Nothing is
  carried out on the requester in their place.
* **Accounts the rules protect.** A request whose only action the account rules refuse for the
  requester (a disabled account, a leaver, a service or privileged account) is refused and handed to
  the owning team before any identity check (:class:`~firstline.helpdesk.policy.HelpdeskPolicy` applies
  the same rules to every tool call, whatever an engine tries).
"""

from __future__ import annotations

from firstline.directory.models import Person
from firstline.directory.rules import Refusal
from firstline.helpdesk.beneficiary import Beneficiary
from firstline.helpdesk.policy import INTENT_ACTIONS, HelpdeskPolicy
from firstline.helpdesk.taxonomy import Taxonomy
from firstline.helpdesk.tools.deps import HelpdeskDeps
from firstline.helpdesk.triage import TriageResult

__all__ = ["Gate"]


class Gate:
    """The refusals checked on a new request (see the module docstring)."""

    def __init__(
        self, taxonomy: Taxonomy, policy: HelpdeskPolicy, deps: HelpdeskDeps, beneficiary: Beneficiary
    ) -> None:
        self.taxonomy = taxonomy
        self.policy = policy
        self.deps = deps
        self.beneficiary = beneficiary

    def someone_else(self, result: TriageResult, text: str, person: Person) -> str | None:
        """The refusal of a request to act on another person's things, or ``None``."""
        if not self._acts_on_people(result.intent):
            return None
        if not self.beneficiary.about_someone_else(text, person, self.deps.directory):
            return None
        return _someone_else(text)

    def someone_else_later(self, intent: str, text: str, person: Person, own: str = "") -> str | None:
        """The refusal of a message that goes on with a request under way but asks it for someone else
        ("please add Oscar Bennett to exec-team@..." in answer to "what's the list's address?"), or ``None``.
        ``own``: the message's intent read alone, so a request for someone else is refused whatever it answers
        ("please add Maya Patel to first-aiders@..." to an outage's "what happens when you try?")."""
        if not (self._acts_on_people(intent) or self._acts_on_people(own)):
            return None
        if not self.beneficiary.answer_about_someone_else(text, person, self.deps.directory):
            return None
        return _someone_else(text)

    def _acts_on_people(self, name: str) -> bool:
        intent = self.taxonomy.intents.get(name)
        return intent is not None and intent.acts_on in ("person", "ticket")

    def account(self, result: TriageResult, person: Person) -> tuple[str, Refusal] | None:
        """``(action, refusal)`` when the request's action is one the account rules refuse for ``person``."""
        action = INTENT_ACTIONS.get(result.intent)
        if action is None:
            return None
        refusal = self.policy.account_refusal(self.deps, person.email, action)
        return (action, refusal) if refusal is not None else None


def _someone_else(text: str) -> str:
    return (
        f'I can only act on your own account, devices, phone and tickets, so I won\'t do "{_label(text)}" for '
        "someone else, and I haven't changed anything on yours in its place. The person it's for can ask me "
        "themselves (chat, or the service desk on 4357); if they can't, an IT agent can help them after "
        "checking who they are. If you meant your own, tell me and I'll start with a quick identity check."
    )


def _label(text: str) -> str:
    words = " ".join(text.split())
    return words if len(words) <= 70 else words[:67].rsplit(" ", 1)[0] + "..."
