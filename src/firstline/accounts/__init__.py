"""Sign-in accounts of the service: people with a role (requester, agent, admin), API keys and login sessions.

Stored in Firstline's own database (:mod:`firstline.localdb`), apart from the directory (who works
here) and from the ticket backend (which may be a vendor's).
"""

from __future__ import annotations

from firstline.accounts.store import ROLES, Account, ApiKey, Role, SqlAccounts, role_at_least

__all__ = ["ROLES", "Account", "ApiKey", "Role", "SqlAccounts", "role_at_least"]
