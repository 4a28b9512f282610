"""What operators see: JSON logs with a request id, Prometheus metrics and OpenTelemetry spans.

* :func:`configure_logging` makes every log line one JSON object (``ts``, ``level``, ``logger``,
  ``message``, ``request_id`` and any ``extra`` fields); the request id is a context variable set per
  request, so lines written by a turn running in a worker thread carry it too.
* :class:`Metrics` is one Prometheus registry per app (``GET /metrics``).
* :func:`configure_tracing` installs a tracer provider when ``telemetry.exporter`` is not ``none``;
  the spans themselves (turn, agent run, tool call, model call) are created by the helpdesk and the
  runner through the OpenTelemetry API, which does nothing until a provider is installed.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from firstline.redaction import RedactingFilter
from firstline.settings import Settings, TelemetrySettings

__all__ = ["Metrics", "configure_logging", "configure_tracing", "request_id"]

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("firstline_request_id", default="-")

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra={...}`` fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_text:  # already formatted (and redacted) by the handler's filter
            out["exception"] = record.exc_text
        elif record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


def configure_logging(settings: Settings, stream: Any = None) -> None:
    """Route every logger (uvicorn's too) to one handler: JSON lines, or plain text when asked."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setLevel(settings.log_level)  # libraries that lower their own logger's level stay quiet too
    handler.addFilter(_RequestIdFilter())
    handler.addFilter(RedactingFilter())  # secrets never reach a log line, whoever logged them
    if settings.service.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the service logs one line per request itself
    for name in ("httpx", "httpcore", "chromadb"):  # a line per vector-store query is noise, not an event
        logging.getLogger(name).setLevel(logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING)


def configure_tracing(telemetry: TelemetrySettings) -> bool:
    """Install a tracer provider with the configured exporter; False (and no change) when it is ``none``."""
    if telemetry.exporter == "none":
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if telemetry.exporter == "console":
        exporter = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError as exc:  # pragma: no cover - the gRPC exporter ships with chromadb's dependencies
            from firstline.errors import ConfigError

            raise ConfigError(
                "telemetry.exporter = 'otlp' needs opentelemetry-exporter-otlp-proto-grpc: pip install it"
            ) from exc
        exporter = OTLPSpanExporter(
            endpoint=telemetry.otlp_endpoint, insecure=telemetry.otlp_endpoint.startswith("http:")
        )
    provider = TracerProvider(resource=Resource.create({"service.name": telemetry.service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return True


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (so two apps in one process do not clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "firstline_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "firstline_http_request_duration_seconds",
            "Time to answer an HTTP request (a streamed reply counts until the stream ends)",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.turns = Counter("firstline_turns", "Helpdesk turns finished", ["agent", "status", "engine"], registry=r)
        self.turn_seconds = Histogram(
            "firstline_turn_duration_seconds",
            "Time from a message's arrival to its stored reply",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=r,
        )
        self.turns_in_flight = Gauge("firstline_turns_in_flight", "Turns running now", registry=r)
        self.tool_calls = Counter("firstline_tool_calls", "Tool calls finished", ["tool", "ok"], registry=r)
        self.model_calls = Counter("firstline_model_calls", "Model calls", ["model"], registry=r)
        self.model_tokens = Counter("firstline_model_tokens", "Tokens used", ["model", "kind"], registry=r)
        self.model_cost = Counter("firstline_model_cost_usd", "Model cost in US dollars", ["model"], registry=r)
        self.model_cached = Counter("firstline_model_cached_tokens", "Prompt tokens served from cache", ["model"],
                                    registry=r)  # fmt: skip
        self.holding = Counter(
            "firstline_turns_held", "Turns that ran past their channel's budget (a holding message went out)",
            ["reason"], registry=r,
        )  # fmt: skip
        self.rate_limited = Counter("firstline_rate_limited", "Requests refused with 429", ["scope"], registry=r)
        self.logins = Counter("firstline_logins", "Sign-in attempts", ["outcome"], registry=r)

    def observe_turn(self, reply: dict[str, Any], seconds: float, events: list[dict[str, Any]]) -> None:
        """Count one finished turn and the tool and model calls it made."""
        self.turns.labels(str(reply.get("agent", "")), str(reply.get("status", "")), str(reply.get("engine", ""))).inc()
        self.turn_seconds.observe(seconds)
        for event in events:
            kind = event.get("kind")
            if kind == "tool_finished":
                self.tool_calls.labels(str(event.get("tool", "")), str(bool(event.get("ok", True))).lower()).inc()
            elif kind == "model_call":
                model = str(event.get("model") or "unknown")
                self.model_calls.labels(model).inc()
                self.model_tokens.labels(model, "prompt").inc(int(event.get("prompt_tokens") or 0))
                self.model_tokens.labels(model, "completion").inc(int(event.get("completion_tokens") or 0))
                self.model_cost.labels(model).inc(float(event.get("cost_usd") or 0.0))
                self.model_cached.labels(model).inc(int(event.get("cached_tokens") or 0))
            elif kind == "holding":
                self.holding.labels(str(event.get("reason") or "budget")).inc()
