"""ITIL priority from the words of a request: impact (how many are affected) x urgency (how blocked).

The lookup is ServiceNow's default matrix (1 Critical, 2 High, 3 Moderate, 4 Low, 5 Planning).
Impact rises with the number of people affected ("everyone on the 4th floor", "the whole
team", "all of Finance"); urgency rises with blocking words ("can't work", "down", "urgent")
and deadlines ("before 3pm", "by tomorrow", "board meeting in an hour"). The intent's
defaults apply when the text says nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from firstline.ticketing import sla

__all__ = ["PRIORITY_NAMES", "Assessment", "assess", "priority_for"]

PRIORITY_NAMES = {1: "Critical", 2: "High", 3: "Moderate", 4: "Low", 5: "Planning"}


def priority_for(impact: int, urgency: int) -> int:
    """ServiceNow's default impact x urgency lookup (1 = high for both inputs); the ticket store's table."""
    if impact not in (1, 2, 3) or urgency not in (1, 2, 3):
        raise ValueError(f"impact and urgency must be 1, 2 or 3, got {impact} and {urgency}")
    return int(sla.priority_for(sla.Impact(impact), sla.Urgency(urgency)))


_MANY = re.compile(
    r"\b(every(one|body)|all (of )?(us|the|staff|users|my team|our team|finance|sales|hr|engineering)|"
    r"(whole|entire) (\w+ )?(floor|office|team|department|building|company|site)|"
    r"nobody|no ?one (can|is able)|(the )?(office|site|building|company)[- ]wide|"
    r"\d{2,} (people|users|staff|of us)|(many|several|multiple|lots of) (people|users|colleagues|of us)|"
    r"(the )?(london|leeds) office|(\d+(st|nd|rd|th)|ground|first|second|third|fourth|fifth) floor)\b",
    re.I,
)
_FEW = re.compile(
    r"\b((two|three|four|five|a few|a couple of|some) (people|users|colleagues|of us)|my team|our team|"
    r"the team|colleagues? (also|too)|(me|i) and (my )?\w+|we (all )?can'?t|we are|we're|our)\b",
    re.I,
)
_STOPPED = re.compile(
    r"\b(can'?t|cannot|unable to|not able to) (do (any|my) )?work\b|\b(locked out|outage|emergency|urgent(ly)?|asap|"
    r"critical|nothing works|(is|are|went|goes|has gone) down|completely (broken|dead|down)|no access to anything)\b",
    re.I,
)
_IMPAIRED = re.compile(
    r"\b(can'?t|cannot|unable to|not able to|won'?t|wont|doesn'?t|does not|isn'?t|is not|no longer|stopped)\b|"
    r"\b(not working|stuck|keeps? (dropping|crashing|freezing|disconnecting|failing)|broken|blocked)\b",
    re.I,
)
_DEADLINE = re.compile(
    r"\b(before|by|until) (\d{1,2}(:\d\d)?\s?(am|pm)?|noon|midday|tonight|tomorrow|end of (the )?day|eod|monday|"
    r"tuesday|wednesday|thursday|friday)\b|\b(in|within) (an?|\d+|half an) (hour|minutes?|mins?)\b|"
    r"\b(deadline|due today|client (meeting|call|demo)|board meeting|presentation (today|in)|payroll run)\b",
    re.I,
)
_NOT_URGENT = re.compile(
    # "whenever you can" / "fix it whenever", not "it crashes whenever I share my screen" (every time)
    r"\b(no rush|not urgent|whenever(?=\s*(?:you\b|it suits|is convenient|convenient|possible|[.!,]|$))|"
    r"when you (get a chance|have time)|low priority|next week|just wondering|"
    r"curious|out of interest)\b",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Assessment:
    impact: int
    urgency: int
    priority: int
    reasons: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"P{self.priority} {PRIORITY_NAMES[self.priority]}"


def assess(text: str, default_impact: int = 3, default_urgency: int = 3, vip: bool = False) -> Assessment:
    """Impact, urgency and priority of one request, with the reasons found in its text."""
    reasons: list[str] = []
    impact, urgency = default_impact, default_urgency
    if match := _MANY.search(text):
        impact = 1
        reasons.append(f"many people affected ({match.group(0)!r})")
    elif match := _FEW.search(text):
        impact = min(impact, 2)
        reasons.append(f"more than one person affected ({match.group(0)!r})")
    if match := _NOT_URGENT.search(text):
        urgency = 3
        reasons.append(f"not urgent ({match.group(0)!r})")
    else:
        if match := _STOPPED.search(text):
            urgency = 1
            reasons.append(f"work has stopped ({match.group(0)!r})")
        elif match := _IMPAIRED.search(text):
            urgency = min(urgency, 2)
            reasons.append(f"work is impaired ({match.group(0)!r})")
        if match := _DEADLINE.search(text):
            urgency = 1
            reasons.append(f"deadline ({match.group(0)!r})")
    if vip and impact > 2:
        impact = 2
        reasons.append("VIP requester")
    return Assessment(impact, urgency, priority_for(impact, urgency), tuple(reasons))
