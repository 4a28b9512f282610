"""The triage agent and the nine specialists: instructions (``helpdesk/prompts/*.md``), tools, handoffs.

Agents are data. The same agents run on the offline engine and on any LLM; what a model may
actually do is decided by the tools each agent is given and by the runner's policy.
"""

from __future__ import annotations

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

__all__ = ["TRIAGE", "build_agents", "prompt", "specialist_tools"]

TRIAGE = "triage"
_VERIFY = (send_verification_code, verify_identity)


def prompt(name: str) -> str:
    """The instructions of agent ``name`` from ``helpdesk/prompts/<name>.md``."""
    return (resources.files("firstline") / "helpdesk" / "prompts" / f"{name}.md").read_text(encoding="utf-8")


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
    handoffs = tuple(Handoff(key, taxonomy.specialists[key].description) for key in SPECIALISTS)
    agents = {TRIAGE: Agent(TRIAGE, prompt(TRIAGE), handoffs=handoffs, model_role="triage")}
    back = Handoff(TRIAGE, "The problem belongs to another specialist: send it back to triage to re-route.")
    for key in SPECIALISTS:
        own = tools[key]
        shared = tuple(t for t in (*LOOKUP_TOOLS, *CONVERSATION_TOOLS) if t not in own)
        agents[key] = Agent(key, prompt(key), tools=(*own, *shared), handoffs=(back,), metadata={"specialist": key})
    return agents
