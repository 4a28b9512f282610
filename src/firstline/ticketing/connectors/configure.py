"""The connector ``[ticketing] backend`` names, built from its ``[ticketing.<vendor>]`` section.

Each section's keys are the options of that connector (:class:`~.servicenow.ServiceNowOptions`,
:class:`~.jira.JiraOptions`, :class:`~.connectwise.ConnectWiseOptions`,
:class:`~.webform.connector.WebformOptions`); ``[ticketing.<vendor>.map]`` becomes its
:class:`~firstline.ticketing.remote.FieldMap`. Credentials are read from the environment
(``FIRSTLINE_TICKETING__SERVICENOW__PASSWORD`` and so on), never from the file. An unknown or missing key
is a :class:`~firstline.errors.ConfigError` that names the section and lists the keys it takes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from firstline.errors import ConfigError
from firstline.settings import TicketingSettings
from firstline.ticketing.remote import FieldMap, TicketConnector

__all__ = ["build_connector"]

T = TypeVar("T")


def _options(cls: type[T], vendor: str, values: dict[str, Any]) -> T:
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"[ticketing.{vendor}] has unknown keys {', '.join(unknown)}; it takes: {', '.join(sorted(known))}."
        )
    try:
        return cls(**values)
    except TypeError as exc:  # a required key is missing
        raise ConfigError(f"[ticketing.{vendor}] is incomplete ({exc}); it takes: {', '.join(sorted(known))}.") from exc


def build_connector(settings: TicketingSettings, **extra: Any) -> TicketConnector:
    """The connector of ``settings.backend`` (not ``sql``); ``extra`` adds options made in code (a fallback)."""
    vendor = settings.backend
    section = getattr(settings, vendor)
    values = section.options() | extra
    fields = FieldMap(**section.map.model_dump())
    if vendor == "servicenow":
        from firstline.ticketing.connectors.servicenow import ServiceNowConnector, ServiceNowOptions

        return ServiceNowConnector(_options(ServiceNowOptions, vendor, values | {"fields": fields}))
    if vendor == "jira":
        from firstline.ticketing.connectors.jira import JiraConnector, JiraOptions

        return JiraConnector(_options(JiraOptions, vendor, values | {"fields": fields}))
    if vendor == "connectwise":
        from firstline.ticketing.connectors.connectwise import ConnectWiseConnector, ConnectWiseOptions

        # the connector lays these mappings over ConnectWise's default statuses and priorities
        return ConnectWiseConnector(_options(ConnectWiseOptions, vendor, values | {"fields": fields}))
    if vendor == "webform":
        from firstline.ticketing.connectors.webform.connector import WebformConnector, WebformOptions

        values.setdefault("user", "")
        values.setdefault("password", "")
        return WebformConnector(_options(WebformOptions, vendor, values))
    raise ConfigError(
        f"ticketing.backend {vendor!r} has no connector; use sql, servicenow, jira, connectwise or webform."
    )
