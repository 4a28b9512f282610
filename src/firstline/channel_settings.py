"""Settings of where people meet Firstline besides the web chat: single sign-on, notifications, Slack,
Microsoft Teams and e-mail. Part of :class:`firstline.settings.Settings` (``[sso]``,
``[notifications]``, ``[channels.slack]``, ``[channels.teams]``, ``[channels.email]``); secrets
(fields ending in ``secret``, ``password`` or ``token``) come from the environment only, e.g.
``FIRSTLINE_CHANNELS__SLACK__SIGNING_SECRET``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = [
    "NOTICE_KINDS",
    "ChannelsSettings",
    "EmailChannelSettings",
    "NoticeKind",
    "NotificationSettings",
    "SlackSettings",
    "SmtpSettings",
    "SsoSettings",
    "TeamsSettings",
]


NoticeKind = Literal["approval", "reply", "resolved"]
NOTICE_KINDS: tuple[NoticeKind, ...] = ("approval", "reply", "resolved")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SsoSettings(_Section):
    """OpenID Connect sign-in for the web chat and the console (Entra ID, Okta, Google Workspace, Keycloak)."""

    enabled: bool = False
    issuer: str = Field("", description="the provider's issuer URL; its /.well-known/openid-configuration is read")
    client_id: str = ""
    client_secret: SecretStr | None = Field(None, description="environment only: FIRSTLINE_SSO__CLIENT_SECRET")
    display_name: str = Field("your company account", description="shown on the sign-in button")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    groups_claim: str = Field("groups", description="the ID token claim that lists the person's groups")
    agent_groups: list[str] = Field(default_factory=list, description="members of any of these get the agent role")
    admin_groups: list[str] = Field(default_factory=list, description="members of any of these get the admin role")
    allowed_domains: list[str] = Field(
        default_factory=list, description="e-mail domains that may sign in (empty: any the provider vouches for)"
    )
    password_sign_in: bool = Field(True, description="keep the password accounts beside single sign-on")
    clock_skew_s: int = Field(60, ge=0, le=600, description="tolerance for the token's exp/iat/nbf")


class SmtpSettings(_Section):
    """The mail server outgoing mail (notifications, e-mail replies) is handed to."""

    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str = ""
    password: SecretStr | None = Field(None, description="environment only: FIRSTLINE_NOTIFICATIONS__SMTP__PASSWORD")
    sender: str = Field("Firstline IT help desk <it-helpdesk@example.com>", description="the From of every mail")
    timeout_s: float = Field(10.0, gt=0, le=120)


class NotificationSettings(_Section):
    """Telling people when something changes: live in the browser always; by e-mail when ``email`` is on."""

    email: bool = Field(False, description="send e-mail for approvals, replies and resolutions")
    kinds: list[NoticeKind] = Field(default_factory=lambda: list(NOTICE_KINDS), description="which are e-mailed")
    smtp: SmtpSettings = SmtpSettings()


class SlackSettings(_Section):
    """A Slack app: Events API and interactivity requests, replies through the Web API."""

    enabled: bool = False
    signing_secret: SecretStr | None = Field(None, description="environment only")
    bot_token: SecretStr | None = Field(None, description="environment only (xoxb-...)")
    api_url: str = Field("https://slack.com/api", description="the Web API base URL")
    max_age_s: int = Field(300, ge=30, le=900, description="requests older than this are refused (replay)")


class TeamsSettings(_Section):
    """A Microsoft Teams bot on the Bot Framework (``/api/messages``)."""

    enabled: bool = False
    app_id: str = Field("", description="the bot's Microsoft App ID (the JWT audience)")
    app_password: SecretStr | None = Field(None, description="environment only: the bot's client secret")
    tenant_id: str = Field("", description="your Entra ID tenant: activities from other tenants are refused")
    openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    issuer: str = "https://api.botframework.com"
    token_url: str = "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"


class EmailChannelSettings(_Section):
    """A mailbox watched over IMAP: each new mail a message, each thread a conversation and ticket."""

    enabled: bool = False
    address: str = Field("it-helpdesk@example.com", description="the help desk's address (mail from it is a loop)")
    imap_host: str = "127.0.0.1"
    imap_port: int = Field(993, ge=1, le=65535)
    imap_security: Literal["none", "starttls", "tls"] = "tls"
    username: str = ""
    password: SecretStr | None = Field(None, description="environment only: FIRSTLINE_CHANNELS__EMAIL__PASSWORD")
    mailbox: str = "INBOX"


class ChannelsSettings(_Section):
    slack: SlackSettings = SlackSettings()
    teams: TeamsSettings = TeamsSettings()
    email: EmailChannelSettings = EmailChannelSettings()
