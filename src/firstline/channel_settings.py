"""Settings of where people meet Firstline besides the web chat: single sign-on, notifications, Slack,
Microsoft Teams and e-mail. Part of :class:`firstline.settings.Settings` (``[sso]``,
``[notifications]``, ``[channels.slack]``, ``[channels.teams]``, ``[channels.email]``); secrets
(fields ending in ``secret``, ``password`` or ``token``) come from the environment only, e.g.
``FIRSTLINE_CHANNELS__SLACK__SIGNING_SECRET``.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

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
    """OpenID Connect sign-in for the web chat and the console (Entra ID, Okta, Google Workspace, Keycloak).

    See docs/sso.md for each provider's values. ``enabled`` needs ``issuer`` and ``client_id``; turning
    ``password_sign_in`` off needs ``enabled`` (else nobody could sign in).
    """

    enabled: bool = False
    issuer: str = Field("", description="the provider's issuer URL; its /.well-known/openid-configuration is read")
    client_id: str = ""
    client_secret: SecretStr | None = Field(None, description="environment only: FIRSTLINE_SSO__CLIENT_SECRET")
    display_name: str = Field("your company account", description="shown on the sign-in button")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    groups_claim: str = Field("groups", description="the ID token claim that lists the person's groups")
    agent_groups: list[str] = Field(default_factory=list, description="members of any of these get the agent role")
    admin_groups: list[str] = Field(default_factory=list, description="members of any of these get the admin role")
    roles_from_groups: bool = Field(
        True,
        description="set the role from the groups at every sign-in; off (providers without groups, e.g. Google): "
        "new accounts are requesters and roles stay as set in Firstline",
    )
    hosted_domain: str = Field("", description="Google Workspace: the ID token's hd claim must be this domain")
    allowed_domains: list[str] = Field(
        default_factory=list, description="e-mail domains that may sign in (empty: any the provider vouches for)"
    )
    password_sign_in: bool = Field(True, description="keep the password accounts beside single sign-on")
    clock_skew_s: int = Field(60, ge=0, le=600, description="tolerance for the token's exp/iat/nbf")
    email_claim: str = Field(
        "email", description="the ID token claim with the person's e-mail ('preferred_username' for Entra ID UPNs)"
    )
    token_endpoint_auth: Literal["auto", "client_secret_basic", "client_secret_post"] = Field(
        "auto", description="how the client secret is sent; auto: the first the provider's discovery lists"
    )
    redirect_url: str = Field(
        "", description="the callback registered at the provider; default {service.public_url}/v1/auth/sso/callback"
    )
    discovery_ttl_s: int = Field(3600, ge=0, le=86400, description="how long discovery and signing keys are cached")
    timeout_s: float = Field(10.0, gt=0, le=60, description="for each request to the provider")

    @model_validator(mode="after")
    def _complete(self) -> SsoSettings:
        if self.enabled:
            missing = [name for name in ("issuer", "client_id") if not getattr(self, name).strip()]
            if missing:
                raise ValueError(
                    f"sso.enabled needs {' and '.join('sso.' + m for m in missing)}: copy them from the app you "
                    "registered at your identity provider (see docs/sso.md)"
                )
            parts = urlsplit(self.issuer.strip())
            loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
            if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
                raise ValueError(f"sso.issuer must be an https:// URL, not {self.issuer!r}")
            if "openid" not in self.scopes:
                raise ValueError("sso.scopes must include 'openid'")
        elif not self.password_sign_in:
            raise ValueError("sso.password_sign_in = false needs sso.enabled = true, or nobody could sign in")
        self.allowed_domains = [d.strip().lower().lstrip("@") for d in self.allowed_domains if d.strip()]
        return self


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
    coalesce_s: float = Field(
        60.0, ge=0, le=3600, description="at most one mail per conversation and kind in this window (bursts merge)"
    )


class SlackSettings(_Section):
    """A Slack app: Events API and interactivity requests, replies through the Web API."""

    enabled: bool = False
    signing_secret: SecretStr | None = Field(None, description="environment only")
    bot_token: SecretStr | None = Field(None, description="environment only (xoxb-...)")
    api_url: str = Field("https://slack.com/api", description="the Web API base URL")
    max_age_s: int = Field(300, ge=30, le=900, description="requests older than this are refused (replay)")
    workers: int = Field(2, ge=1, le=32, description="threads running Slack turns (one thread per thread at a time)")
    ack_wait_s: float = Field(
        2.0, ge=0, le=2.5, description="how long an answer to Slack waits for the message to be stored (Slack: 3 s)"
    )
    timeout_s: float = Field(10.0, gt=0, le=60, description="each Web API call")
    retries: int = Field(4, ge=0, le=10, description="tries again when Slack is down or rate-limits (429)")
    retry_backoff_s: float = Field(1.0, ge=0, le=60, description="first wait between tries, doubled each time")
    max_retry_after_s: float = Field(60.0, ge=0, le=600, description="the longest 429 Retry-After honoured")


class TeamsSettings(_Section):
    """A Microsoft Teams bot on the Bot Framework (``/api/messages``)."""

    enabled: bool = False
    app_id: str = Field("", description="the bot's Microsoft App ID (the JWT audience)")
    app_password: SecretStr | None = Field(None, description="environment only: the bot's client secret")
    tenant_id: str = Field("", description="your Entra ID tenant: activities from other tenants are refused")
    openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    issuer: str = "https://api.botframework.com"
    token_url: str = "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
    key_refresh_s: float = Field(
        60.0, ge=0, le=3600, description="a token naming an unknown key refetches the keys at most this often"
    )

    @model_validator(mode="after")
    def _complete(self) -> TeamsSettings:
        if self.enabled and (not self.app_id.strip() or self.app_password is None):
            raise ValueError(
                "[channels.teams] enabled needs app_id and the bot's password in the environment "
                "(FIRSTLINE_CHANNELS__TEAMS__APP_PASSWORD); see docs/teams.md"
            )
        return self


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
    timeout_s: float = Field(30.0, gt=0, le=300, description="IMAP connect and command timeout")
    idle_s: int = Field(25 * 60, ge=5, le=29 * 60, description="renew IMAP IDLE this often (RFC 2177: < 30 min)")
    poll_s: float = Field(60.0, ge=1, le=3600, description="how often to look for mail when the server lacks IDLE")
    reconnect_max_s: float = Field(60.0, ge=1, le=3600, description="longest wait between reconnect attempts")
    link_reply_interval_s: int = Field(
        3600, ge=60, description="an unknown sender gets the how-to-link answer at most once in this time"
    )
    trust_authentication_results: bool = Field(
        False,
        description="link a sender automatically when your own mail server's Authentication-Results says DMARC "
        "passed for the From domain and the address is a directory person's (off: only verified links count)",
    )
    authserv_id: str = Field(
        "", description="the authserv-id your mail server writes in Authentication-Results (required to trust it)"
    )


class ChannelsSettings(_Section):
    slack: SlackSettings = SlackSettings()
    teams: TeamsSettings = TeamsSettings()
    email: EmailChannelSettings = EmailChannelSettings()
