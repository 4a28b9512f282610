"""Settings: ``firstline.toml`` plus ``FIRSTLINE_*`` environment variables, validated once.

Precedence (highest first): values passed in code, environment variables, the TOML file,
defaults. Nested settings use ``__`` in environment variables::

    FIRSTLINE_KNOWLEDGE__STORE=qdrant-server
    FIRSTLINE_KNOWLEDGE__QDRANT_URL=http://10.0.0.5:6333
    FIRSTLINE_KNOWLEDGE__QDRANT_API_KEY=...        # secrets: environment only, never the file

The TOML file is ``--config PATH``, else ``$FIRSTLINE_CONFIG``, else ``./firstline.toml`` when
it exists. Nothing reads settings at import time: :func:`load_settings` is called once by the
CLI or the service and the result is passed down (see ``firstline.runtime``).
"""

from __future__ import annotations

import ipaddress
import os
import threading
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from firstline.channel_settings import ChannelsSettings, NotificationSettings, SsoSettings
from firstline.errors import ConfigError
from firstline.jobs_settings import JobsSettings
from firstline.scale_settings import ScaleSettings

__all__ = ["Settings", "load_settings", "redacted"]

StoreKind = Literal["chroma", "chroma-server", "qdrant", "qdrant-server", "memory"]
RerankKind = Literal["none", "cross-encoder", "cohere", "vllm", "tei", "infinity"]
SearchMode = Literal["dense", "bm25", "hybrid", "hybrid+rerank", "rrf"]


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "firstline"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class EmbedderSettings(_Section):
    kind: Literal["sentence-transformers", "openai"] = "sentence-transformers"
    model_path: str | None = Field(None, description="local sentence-transformers folder; default: the MiniLM package")
    engine: Literal["auto", "onnx", "torch"] = Field(
        "auto", description="auto: queries on ONNX Runtime (fast start), ingest batches on torch; or one engine"
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="torch weights for ingest; auto = bf16 where the CPU has AMX/AVX512-BF16"
    )
    cache_dir: Path | None = Field(None, description="where the ONNX export is cached; default ~/.cache/firstline/onnx")
    url: str | None = Field(None, description="OpenAI-compatible base URL ending in /v1 (kind = openai)")
    model: str | None = Field(None, description="model name sent to the embeddings endpoint")
    api_key: SecretStr | None = None
    timeout_s: float = Field(30.0, gt=0)
    batch_size: int = Field(32, ge=1, le=4096)

    @model_validator(mode="after")
    def _needs_url(self) -> EmbedderSettings:
        if self.kind == "openai" and not (self.url and self.model):
            raise ValueError("kind = 'openai' needs both `url` and `model`")
        return self


class RerankSettings(_Section):
    kind: RerankKind = "none"
    model_path: str | None = Field(None, description="local cross-encoder folder (kind = cross-encoder)")
    url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> RerankSettings:
        if self.kind == "cross-encoder" and not self.model_path:
            raise ValueError("kind = 'cross-encoder' needs `model_path`")
        if self.kind in ("cohere", "vllm", "tei", "infinity") and not self.url:
            raise ValueError(f"kind = '{self.kind}' needs `url`")
        return self


class RetrievalSettings(_Section):
    default_mode: SearchMode = "hybrid"
    candidates: int = Field(100, ge=10, le=2000)
    bm25_weight: float = Field(0.5, ge=0.0, le=10.0)
    rerank_depth: int = Field(30, ge=1, le=500)
    max_query_chars: int = Field(2000, ge=10, le=100_000)


class KnowledgeSettings(_Section):
    index_dir: Path | None = Field(None, description="default: <data_dir>/index")
    store: StoreKind = "chroma"
    collection: str = Field("firstline_chunks", pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{2,62}$")
    chroma_url: str = "http://127.0.0.1:8001"
    catalog_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the ingest catalog; default: the ticket database when it is PostgreSQL "
        "(shared by every worker and machine), else <index_dir>/catalog.sqlite3",
    )
    qdrant_url: str = "http://127.0.0.1:6333"
    qdrant_api_key: SecretStr | None = None
    chunk_max_words: int = Field(160, ge=20, le=2000)
    chunk_overlap_words: int = Field(24, ge=0, le=500)
    ingest_demo_runbooks: bool = True
    embedder: EmbedderSettings = EmbedderSettings()
    rerank: RerankSettings = RerankSettings()
    retrieval: RetrievalSettings = RetrievalSettings()

    @field_validator("chroma_url", "qdrant_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


TicketBackendKind = Literal["sql", "servicenow", "jira", "connectwise", "webform"]
_SECRET_WORDS = ("password", "secret", "token", "key")


class FieldMapSettings(_Section):
    """Firstline values -> the vendor's (``[ticketing.<vendor>.map.groups]`` and so on)."""

    groups: dict[str, str] = {}
    categories: dict[str, str] = {}
    priorities: dict[str, str] = {}
    states: dict[str, str] = {}


class VendorSettings(BaseModel):
    """One vendor's section, ``[ticketing.servicenow]`` etc.: its keys are the connector's options (see
    docs/ticketing.md); credentials come from the environment (``FIRSTLINE_TICKETING__SERVICENOW__PASSWORD``)."""

    model_config = ConfigDict(extra="allow")
    map: FieldMapSettings = FieldMapSettings()

    def options(self) -> dict[str, Any]:
        """The section's keys as given (secrets in clear: for the connector only)."""
        return dict(self.model_extra or {})


class SyncSettings(_Section):
    worker: bool = Field(True, description="`firstline serve` runs the sync worker (off: `firstline tickets sync`)")
    poll_s: float = Field(60.0, ge=0, description="how often to fetch staff changes; 0: webhooks only")
    lease_s: float = Field(120.0, gt=0, description="a change a worker claimed is taken over after this long")
    first_poll_h: float = Field(24.0, gt=0, description="how far back the very first poll looks")


class TicketingSettings(_Section):
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/tickets.db; PostgreSQL: postgresql+psycopg://"
    )
    backend: TicketBackendKind = Field(
        "sql", description="sql: tickets stay in Firstline's database; a vendor: mirrored there and synced out"
    )
    sync: SyncSettings = SyncSettings()
    servicenow: VendorSettings = VendorSettings()
    jira: VendorSettings = VendorSettings()
    connectwise: VendorSettings = VendorSettings()
    webform: VendorSettings = VendorSettings()

    @model_validator(mode="after")
    def _vendor_configured(self) -> TicketingSettings:
        if self.backend != "sql" and not getattr(self, self.backend).options():
            raise ValueError(
                f"backend = {self.backend!r} needs a [ticketing.{self.backend}] section (url and the rest; "
                f"credentials in FIRSTLINE_TICKETING__{self.backend.upper()}__...)"
            )
        return self


class OktaDirectorySettings(_Section):
    """``[directory.okta]``: the token comes from ``FIRSTLINE_DIRECTORY__OKTA__TOKEN``."""

    org_url: str | None = Field(None, description="https://<your-org>.okta.com")
    token: SecretStr | None = Field(None, description="an API token (SSWS) or an OAuth 2.0 access token (Bearer)")
    token_kind: Literal["SSWS", "Bearer"] = "SSWS"
    username_attribute: str = Field("samAccountName", description="the profile attribute holding r.chen-style names")


class GraphDirectorySettings(_Section):
    """``[directory.graph]``: an app registration with application permissions; the secret comes from
    ``FIRSTLINE_DIRECTORY__GRAPH__CLIENT_SECRET``."""

    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    base_url: str = "https://graph.microsoft.com/v1.0"
    token_url: str | None = Field(
        None, description="default https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token"
    )
    username_attribute: str = "onPremisesSamAccountName"
    password_max_age_days: int | None = Field(None, ge=1, description="the tenant's password expiry policy")
    lockout_duration_minutes: int = Field(10, ge=1, description="smart lockout duration (AD's, for synced accounts)")
    service_types: list[str] = Field(["Service"], description="employeeType values that mark service accounts")


class AdDirectorySettings(_Section):
    """``[directory.ad]``: Active Directory over LDAPS; the password comes from
    ``FIRSTLINE_DIRECTORY__AD__PASSWORD``."""

    url: str | None = Field(None, description="ldaps://dc1.corp.example:636")
    bind_dn: str | None = None
    password: SecretStr | None = None
    base_dn: str | None = Field(None, description="DC=corp,DC=example")
    users_ou: str = "CN=Users"
    max_password_age_days: int | None = Field(None, ge=1, description="the domain's maxPwdAge, for expiry")
    allow_admin_set_password: bool = Field(False, description="let the reset-link flow set unicodePwd (LDAPS only)")
    service_ou: str | None = Field(None, description="an OU whose accounts are service accounts")
    lockout_duration_minutes: int | None = Field(
        None, ge=1, description="the domain's lockout duration: an older lockoutTime no longer counts as locked"
    )
    ca_file: str | None = Field(None, description="CA bundle that signs the domain controllers' LDAPS certificates")


_REQUIRED = {
    "ldap": ("ldap_url", "ldap_bind_dn", "ldap_password", "ldap_base_dn"),
    "okta": ("okta.org_url", "okta.token"),
    "graph": ("graph.tenant_id", "graph.client_id", "graph.client_secret"),
    "ad": ("ad.url", "ad.bind_dn", "ad.password", "ad.base_dn"),
}


class DirectorySettings(_Section):
    backend: Literal["sql", "ldap", "okta", "graph", "ad"] = Field(
        "sql", description="where people, accounts and sign-in logs live"
    )
    devices: Literal["same", "sql", "graph"] = Field(
        "same", description="where devices live; same: the accounts backend if it holds devices (graph), else sql"
    )
    mail: Literal["same", "sql", "graph"] = Field(
        "same", description="where mailboxes and lists live; same: as for devices"
    )
    identity: Literal["same", "okta", "graph"] = Field(
        "same",
        description="where sign-in logs, MFA methods and sessions live; same: the accounts backend (for AD: graph)",
    )
    database_url: str | None = Field(None, description="default sqlite:///<data_dir>/directory.db")
    seed_demo_org: bool = Field(True, description="load the demo organisation into an empty SQL directory")
    lockout_threshold: int = Field(5, ge=1, le=100)
    people_remember_s: float = Field(10.0, ge=0, le=300, description="seconds a worker keeps a person it looked up "
                                     "(sql); a change elsewhere is seen within it (0: look up every time)")  # fmt: skip
    trusted_networks: list[str] = Field(
        [], description="office egress ranges (CIDR) whose failed sign-ins never count as unfamiliar"
    )
    sign_in_days: int = Field(14, ge=1, le=90, description="how far back the sign-in check before an unlock looks")
    ldap_url: str | None = Field(None, description="ldap://host:389 or ldaps://host:636 (backend = ldap)")
    ldap_bind_dn: str | None = None
    ldap_password: SecretStr | None = None
    ldap_base_dn: str | None = None
    ldap_people_ou: str = "ou=people"
    okta: OktaDirectorySettings = OktaDirectorySettings()
    graph: GraphDirectorySettings = GraphDirectorySettings()
    ad: AdDirectorySettings = AdDirectorySettings()

    @model_validator(mode="after")
    def _backend_complete(self) -> DirectorySettings:
        for kind in {self.backend, self.devices, self.mail, self.identity}:
            missing = [name for name in _REQUIRED.get(kind, ()) if not self._value(name)]
            if missing:
                raise ValueError(
                    f"the {kind!r} directory backend needs {', '.join(missing)} (secrets from the environment: "
                    f"FIRSTLINE_DIRECTORY__{kind.upper()}__...)"
                )
        for network in self.trusted_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"trusted_networks: {network!r} is not a network like 198.51.100.0/24") from None
        return self

    def _value(self, dotted: str) -> object:
        section, _, name = dotted.rpartition(".")
        return getattr(getattr(self, section) if section else self, name)

    def role(self, kind: Literal["devices", "mail", "identity"]) -> str:
        """The backend that holds devices, mail or the identity (sign-in log, MFA, sessions), ``same`` resolved:
        devices and mail come from the accounts backend when it is graph (the others hold neither), else sql;
        the identity from the accounts backend."""
        chosen = getattr(self, kind)
        if chosen != "same":
            return str(chosen)
        if kind == "identity":
            return self.backend
        return "graph" if self.backend == "graph" else "sql"


class EndpointSettings(_Section):
    """One model endpoint: a preset (what the server accepts) plus overrides."""

    preset: Literal[
        "vllm", "sglang", "tgi", "llamacpp", "ollama", "openai", "together", "fireworks", "deepinfra", "groq",
        "openrouter", "anthropic",
    ] = "vllm"  # fmt: skip
    base_url: str | None = Field(
        None, description="http(s)://host:port/v1 (anthropic: the API root); hosted presets have a default"
    )
    model: str = Field(description="the model name the server expects, e.g. Qwen/Qwen3.5-397B-A17B")
    api_key: SecretStr | None = Field(None, description="environment only: FIRSTLINE_LLM__ENDPOINTS__<NAME>__API_KEY")
    catalog_id: str | None = Field(
        None, description="the model's id in the catalog, for prices (firstline models list)"
    )
    timeout_s: float = Field(30.0, gt=0, le=600)
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(1024, ge=16, le=65536)
    overrides: dict[str, Any] = Field(default_factory=dict, description="ModelProfile fields to change")


class LlmSettings(_Section):
    """``engine = "offline"`` needs no model. With ``"llm"``, each role's endpoints are tried in order,
    and the offline engine answers when all of them fail."""

    engine: Literal["offline", "llm"] = "offline"
    endpoints: dict[str, EndpointSettings] = Field(default_factory=dict)
    triage: list[str] = Field(default_factory=list, description="endpoint names for the triage agent, in order")
    specialist: list[str] = Field(default_factory=list, description="endpoint names for the specialists, in order")
    first_token_s: float = Field(2.0, gt=0, le=120, description="one model call: its first token within this")
    turn_s: float = Field(5.0, gt=0, le=600, description="one model call: its whole answer within this")
    turn_budget_s: dict[str, float] = Field(
        default_factory=lambda: {"default": 2.0, "email": 5.0, "ticket": 5.0, "webform": 5.0},
        description="a whole turn, per channel: past it the employee gets a holding message at once",
    )
    turn_limit_factor: float = Field(
        3.0, ge=1, le=20, description="past budget x this, the turn's model calls go to the offline engine"
    )

    @model_validator(mode="after")
    def _roles_name_endpoints(self) -> LlmSettings:
        for role in ("triage", "specialist"):
            unknown = [n for n in getattr(self, role) if n not in self.endpoints]
            if unknown:
                raise ValueError(f"llm.{role} names unknown endpoint(s) {unknown}; define [llm.endpoints.<name>]")
        if self.engine == "llm" and not (self.triage or self.specialist):
            raise ValueError("engine = 'llm' needs endpoints in llm.triage and/or llm.specialist")
        return self


class ServiceSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024, description="larger request bodies get 413")
    max_upload_bytes: int = Field(20 * 1_048_576, ge=1024, description="largest knowledge upload")
    rate_limit_per_minute: int = Field(120, ge=1, description="requests per minute per account or API key")
    ip_rate_limit_per_minute: int = Field(600, ge=1, description="requests per minute per client IP")
    login_rate_limit_per_minute: int = Field(10, ge=1, description="sign-in attempts per minute per client IP")
    login_failures_allowed: int = Field(
        5, ge=1, description="failed sign-ins an account may have before each further attempt must wait"
    )
    login_delay_s: float = Field(1.0, gt=0, description="the first wait; it doubles with each further failure")
    login_max_delay_s: float = Field(900.0, gt=0, description="the longest wait between sign-in attempts")
    login_failure_window_s: float = Field(
        900.0, gt=0, description="an account's failures are forgotten this long after its last wait ends"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="IPs or CIDRs of reverse proxies whose X-Forwarded-For/-Proto are believed; none by default",
    )
    max_header_bytes: int = Field(16_384, ge=1024, description="requests with larger headers in total get 431")
    metrics_token: SecretStr | None = Field(
        None, description="environment only: when set, GET /metrics needs 'Authorization: Bearer <token>'"
    )
    session_hours: float = Field(8.0, gt=0, le=24 * 30, description="a login session lasts this long after last use")
    public_url: str = Field(
        "", description="the address people reach Firstline at (links in e-mail and channels); default http://host:port"
    )
    secure_cookies: bool = Field(False, description="mark the session cookie Secure (set when served over HTTPS)")
    seed_demo_accounts: bool = Field(True, description="create and print demo accounts when there are none")
    demo_outbox: bool = Field(
        True, description="show one-time codes in the web chat's demo phone (demo organisation only)"
    )
    log_format: Literal["json", "text"] = "json"

    @property
    def base_url(self) -> str:
        """Where people reach this deployment, without a trailing slash: ``public_url``, else ``http://host:port``."""
        return self.public_url.strip().rstrip("/") or f"http://{self.host}:{self.port}"

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        try:
            return [str(ipaddress.ip_network(item.strip(), strict=False)) for item in value]
        except ValueError as exc:
            raise ValueError(f"{exc}; give IP addresses or CIDRs such as 10.0.0.5 or 10.0.0.0/24") from None


class SecuritySettings(_Section):
    """Secrets and personal data: the server's key for one-time codes, and what leaves for hosted models."""

    secret_key: SecretStr | None = Field(
        None,
        description="environment only: the key one-time codes are HMACed with; default: a random key kept in "
        "data_dir/secret.key (0600). Give every process of one deployment the same key.",
    )
    code_ttl_s: float = Field(600.0, ge=30, le=3600, description="how long a one-time code stays valid")
    code_max_wrong: int = Field(5, ge=1, le=50, description="wrong codes per requester within the window before a lock")
    code_max_sends: int = Field(5, ge=1, le=50, description="codes sent per requester within the window")
    code_window_s: float = Field(900.0, ge=60, description="the window both limits count in (default 15 minutes)")
    code_lockout_s: float = Field(1800.0, ge=60, description="how long identity checks stay locked after the limit")
    auth_remember_s: float = Field(
        10.0, ge=0, le=300, description="seconds a worker keeps a checked API key or session; a revocation reaches "
        "the other workers within it (0: check every request)")  # fmt: skip
    redact_personal_for: list[str] = Field(
        default_factory=list,
        description="model endpoints (by name, or 'hosted' for every non-loopback one) that get e-mail addresses and "
        "phone numbers masked besides secrets",
    )


class TelemetrySettings(_Section):
    """OpenTelemetry spans for turns, agent runs, tool calls and model calls (off by default)."""

    exporter: Literal["none", "console", "otlp"] = "none"
    otlp_endpoint: str = Field("http://127.0.0.1:4317", description="OTLP/gRPC collector (exporter = otlp)")
    service_name: str = "firstline"


class Settings(BaseSettings):
    """Everything Firstline can be told. ``firstline config check`` prints the resolved values."""

    model_config = SettingsConfigDict(
        env_prefix="FIRSTLINE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    knowledge: KnowledgeSettings = KnowledgeSettings()
    ticketing: TicketingSettings = TicketingSettings()
    directory: DirectorySettings = DirectorySettings()
    service: ServiceSettings = ServiceSettings()
    security: SecuritySettings = SecuritySettings()
    llm: LlmSettings = LlmSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    sso: SsoSettings = SsoSettings()
    notifications: NotificationSettings = NotificationSettings()
    channels: ChannelsSettings = ChannelsSettings()
    scale: ScaleSettings = ScaleSettings()
    jobs: JobsSettings = JobsSettings()

    @model_validator(mode="after")
    def _workers_share(self) -> Settings:
        d = self.directory
        sql_directory = (
            d.backend == "sql"
            or "sql" in (d.devices, d.mail)
            or (d.backend != "graph" and "same" in (d.devices, d.mail))
        )
        found = self.scale.problems(
            self.ticket_database_url,
            self.directory_database_url if sql_directory else None,
            self.knowledge.store,
            self.knowledge.catalog_url,
        )
        if found:
            raise ValueError(f"scale.workers = {self.scale.workers} needs shared stores: " + "; ".join(found))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _CONFIG_FILE.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def ticket_database_url(self) -> str:
        return self.ticketing.database_url or f"sqlite:///{(self.data_dir / 'tickets.db').expanduser()}"

    @property
    def directory_database_url(self) -> str:
        return self.directory.database_url or f"sqlite:///{(self.data_dir / 'directory.db').expanduser()}"

    @property
    def index_dir(self) -> Path:
        return (self.knowledge.index_dir or self.data_dir / "index").expanduser()


_CONFIG_FILE: dict[str, Path | None] = {}
_CONFIG_LOCK = threading.Lock()


def _config_path(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    env = os.environ.get("FIRSTLINE_CONFIG")
    if env:
        return Path(env)
    local = Path("firstline.toml")
    return local if local.exists() else None


def _secret_keys(table: dict[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key, value in table.items():
        if isinstance(value, dict):
            found += _secret_keys(value, f"{prefix}{key}.")
        elif key.endswith(("api_key", "password", "secret", "token")):
            found.append(prefix + key)
    return found


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings once; raise :class:`ConfigError` saying what to fix."""
    path = _config_path(config)
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"The config file {path} does not exist (from --config or FIRSTLINE_CONFIG).")
        try:
            table = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        secrets = _secret_keys(table)
        if secrets:
            names = ", ".join(f"FIRSTLINE_{s.upper().replace('.', '__')}" for s in secrets)
            raise ConfigError(
                f"{path} contains secrets ({', '.join(secrets)}). Remove them from the file and set "
                f"them in the environment instead: {names}"
            )
    with _CONFIG_LOCK:  # the TOML path reaches settings_customise_sources through _CONFIG_FILE
        _CONFIG_FILE["path"] = path
        try:
            return Settings(**overrides)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            where = f" (file {path})" if path else ""
            raise ConfigError(f"Invalid configuration{where}: {problems}") from exc
        finally:
            _CONFIG_FILE.pop("path", None)


def redacted(settings: Settings) -> dict[str, Any]:
    """The resolved settings as plain data; pydantic shows every ``SecretStr`` as ``**********``, and a vendor
    section's keys that name a password, secret, token or key are masked the same way."""
    data = settings.model_dump(mode="json")
    for vendor in ("servicenow", "jira", "connectwise", "webform"):
        section = data["ticketing"][vendor]
        for name in section:
            if name != "map" and any(word in name.lower() for word in _SECRET_WORDS) and section[name]:
                section[name] = "**********"
    return data
