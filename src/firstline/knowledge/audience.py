"""Who a piece of knowledge is written for: audience values, the section marker, and the narrower of two.

Audience values are lower-case strings:

* ``all`` and ``employee`` — anyone in the organisation;
* ``manager`` — people who manage others;
* ``it-staff`` — the IT team;
* ``group:<name>`` — members of one directory group, e.g. ``group:finance-approvers``.

A document's audience comes from its front matter (``audience: manager``) or an HTML
``<meta name="audience">``. A section may carry its own, with a marker on the first line under
its heading::

    ## Service desk procedure
    <!-- audience: it-staff -->

Sections headed "When to escalate" or "What Tier-1 may and may not do" are ``it-staff`` unless a
marker says otherwise. A subsection inherits its parent's audience, and a chunk's audience is the
narrower of its document's and its section's (:func:`narrower`). Which audiences a person may read
is the helpdesk's business (``firstline.helpdesk.audience``); stores only filter on the values.
"""

from __future__ import annotations

import re

__all__ = ["AUDIENCE_MARKER", "IT_STAFF", "default_section_audience", "narrower", "normalise"]

IT_STAFF = "it-staff"
AUDIENCE_MARKER = re.compile(r"^\s*<!--\s*audience\s*:\s*(?P<audience>[^<>]*?)\s*-->\s*$", re.I)
"""The section marker: ``<!-- audience: it-staff -->`` alone on the first line under a heading."""

# Headings the runbooks use for notes written for the IT team.
_IT_HEADINGS = re.compile(r"^\s*(?:when to escalate|what tier-1 may\b.*)\s*$", re.I)
# Broadest first. Anything else (``group:...``, values of other corpora) is narrower than every role.
_RANK = {"all": 0, "employee": 1, "manager": 2, IT_STAFF: 3}


def normalise(value: object) -> str | None:
    """An audience as stored: lower case, no spaces around ``group:``; None when empty."""
    text = " ".join(str(value or "").split()).lower()
    text = re.sub(r"^group\s*:\s*", "group:", text)
    return text or None


def default_section_audience(heading: str) -> str | None:
    """The audience a section has without a marker: ``it-staff`` for the IT team's headings."""
    return IT_STAFF if _IT_HEADINGS.match(heading) else None


def narrower(outer: str | None, inner: str | None) -> str | None:
    """The narrower of two audiences (None is no restriction of its own).

    Order: ``all`` < ``employee`` < ``manager`` < ``it-staff`` < anything else (groups). On a tie
    between two different values of the same rank (two groups), ``inner`` — the section's — wins.
    """
    if not outer:
        return inner
    if not inner:
        return outer
    return inner if _RANK.get(inner, 4) >= _RANK.get(outer, 4) else outer
