"""Settings for running more than one Firstline process: ``[scale]`` in :class:`firstline.settings.Settings`.

One process (``workers = 1``) keeps everything embedded: SQLite, Chroma in the data folder, rate limits,
live notices and the demo phone in memory. Several workers (``firstline serve --workers N``, or several
machines) must share all of that, so they need:

* PostgreSQL for Firstline's database (and the directory, when it is the built-in SQL one);
* a vector-store server (``knowledge.store = "chroma-server"`` or ``"qdrant-server"``);
* Redis (``redis_url``) for rate limits, the live-notice fan-out, the demo phone and cross-worker locks.

:meth:`ScaleSettings.problems` says what is missing, with the fix; ``Settings`` refuses to load with any.
The Redis password comes from the environment only: ``FIRSTLINE_SCALE__REDIS_PASSWORD``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["SHARED_STORES", "ScaleSettings"]

SHARED_STORES = ("chroma-server", "qdrant-server")  # vector stores every worker sees the same


class ScaleSettings(BaseModel):
    """``[scale]``: how many worker processes serve, and the Redis they share."""

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(1, ge=1, le=64, description="worker processes of `firstline serve` (--workers overrides)")
    redis_url: str = Field(
        "",
        description="redis://host:port/db (or rediss:// for TLS) shared by every worker; required with workers > 1 "
        "or when several machines serve one deployment; no password in the URL",
    )
    redis_password: SecretStr | None = Field(None, description="environment only: FIRSTLINE_SCALE__REDIS_PASSWORD")
    key_prefix: str = Field(
        "firstline",
        min_length=1,
        max_length=40,
        description="prefix of every Redis key and channel this deployment uses",
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"{value!r} is not a Redis URL: use redis://host:6379/0, rediss://... or unix:///path")
        if parts.password:
            raise ValueError(
                "the Redis URL must not hold a password: set FIRSTLINE_SCALE__REDIS_PASSWORD in the environment"
            )
        return value

    @property
    def shared(self) -> bool:
        """Whether this deployment shares its state through Redis (several workers, or a Redis configured)."""
        return bool(self.redis_url)

    def problems(
        self, database_url: str, directory_url: str | None, store: str, catalog_url: str | None = None
    ) -> list[str]:
        """What keeps ``workers`` processes from sharing one deployment, each with its fix (empty when fine).

        ``directory_url`` is the built-in directory's database URL, or None when the directory lives
        elsewhere (LDAP, Okta, Entra ID); ``catalog_url`` is ``knowledge.catalog_url`` when set (by default
        the knowledge catalog follows the ticket database)."""
        if self.workers == 1:
            return []
        found = []
        if database_url.startswith("sqlite"):
            found.append(
                "ticketing.database_url is SQLite, which each worker would lock in turn: set it to PostgreSQL "
                "(postgresql+psycopg://user@host/db)"
            )
        if directory_url is not None and directory_url.startswith("sqlite"):
            found.append(
                "directory.database_url is SQLite: point it at PostgreSQL too (the same database may hold both)"
            )
        if catalog_url and catalog_url.startswith("sqlite"):
            found.append(
                "knowledge.catalog_url is SQLite, which other machines cannot read: remove it (the catalog then "
                "lives in the PostgreSQL database) or point it at PostgreSQL"
            )
        if store not in SHARED_STORES:
            found.append(
                f"knowledge.store = {store!r} keeps the index inside each process: use "
                f"{' or '.join(repr(s) for s in SHARED_STORES)}"
            )
        if not self.redis_url:
            found.append("scale.redis_url is empty: workers share rate limits, live notices and locks through Redis")
        return found
