"""Firstline: an open-source, self-hostable Tier-1 IT helpdesk agent."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
