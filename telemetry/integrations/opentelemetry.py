"""aiotelemetry as the OpenTelemetry SDK: the API's global providers, backed by the hub.

```python
from telemetry.integrations.opentelemetry import install

install()   # or Telemetry(opentelemetry=True), or `opentelemetry = true` in a config file
```

From then on, everything that speaks the OpenTelemetry API (FastAPI's native telemetry, the
httpx, aiohttp, asyncpg, SQLAlchemy, redis instrumentations, your own ``tracer`` and
``logger`` calls) reaches the current hub: an OpenTelemetry span becomes one span signal, a
log record one log signal, through the hub's filters, sampling, middleware and per-handler
queues, to any of its sinks, counted like every other signal and never blocking the loop.

The providers look the current hub up at each call (the default hub, or when none is open
the stderr fallback), so one ``install()`` serves every hub the process opens and closes. See
``_otel_trace`` and ``_otel_logs`` for what a span and a log record become.

The meter provider is installed as well (``_otel_metrics.install_meter_provider``): metrics
aggregate in the process and are read by the Prometheus collector and the OTLP sink.

OpenTelemetry lets each global provider be set once per process. ``install()`` sets those
still unset; calling it again does nothing. When another SDK's provider (the OpenTelemetry
SDK's, a vendor's, an explicit no-op one) is already the global one, it raises
[`ConfigError`][telemetry.ConfigError] naming it, rather than leaving the app half recorded: remove
the other set-up, or do without this one. Needs ``opentelemetry-api``:
``pip install 'aiotelemetry[opentelemetry]'``.
"""

from __future__ import annotations

import importlib.util

from .._errors import ConfigError

if importlib.util.find_spec("opentelemetry.trace") is None:  # pragma: no cover - the extra
    raise ImportError(
        "telemetry.integrations.opentelemetry needs opentelemetry-api: "
        "pip install 'aiotelemetry[opentelemetry]'"
    )

from opentelemetry import _logs, trace
from opentelemetry._logs._internal import ProxyLoggerProvider

from . import _otel_limits
from ._otel_logs import HubLogger, HubLoggerProvider
from ._otel_metrics import install_meter_provider
from ._otel_trace import HubSpan, HubTracer, HubTracerProvider

__all__ = [
    "LOGGER_PROVIDER",
    "TRACER_PROVIDER",
    "HubLogger",
    "HubLoggerProvider",
    "HubSpan",
    "HubTracer",
    "HubTracerProvider",
    "dropped",
    "install",
    "installed",
]

TRACER_PROVIDER = HubTracerProvider()
"""The one tracer provider [`install`][telemetry.integrations.opentelemetry.install] sets."""
LOGGER_PROVIDER = HubLoggerProvider()
"""The one logger provider [`install`][telemetry.integrations.opentelemetry.install] sets."""


def _describe(provider: object) -> str:
    cls = type(provider)
    return f"{cls.__module__}.{cls.__qualname__}"


def install() -> None:
    """Make aiotelemetry OpenTelemetry's global tracer, logger and meter provider
    (idempotent).

    Raises [`ConfigError`][telemetry.ConfigError] when another tracer or logger provider is already
    set globally (nothing is changed then); another meter provider stays, with a warning
    (see `install_meter_provider`)."""
    tracer_provider = trace.get_tracer_provider()
    logger_provider = _logs.get_logger_provider()
    others = [
        f"the global {what} is already {_describe(p)}"
        for what, p, ours, proxy in (
            ("TracerProvider", tracer_provider, HubTracerProvider, trace.ProxyTracerProvider),
            ("LoggerProvider", logger_provider, HubLoggerProvider, ProxyLoggerProvider),
        )
        if not isinstance(p, (ours, proxy))
    ]
    if others:
        raise ConfigError(
            "opentelemetry",
            "cannot install aiotelemetry's OpenTelemetry providers: "
            + "; ".join(others)
            + " (OpenTelemetry allows one per process: remove the other set-up, such as "
            "opentelemetry-instrument or an SDK's set_tracer_provider, or leave this off)",
        )
    if isinstance(tracer_provider, trace.ProxyTracerProvider):
        trace.set_tracer_provider(TRACER_PROVIDER)
    if isinstance(logger_provider, ProxyLoggerProvider):
        _logs.set_logger_provider(LOGGER_PROVIDER)
    # -- metrics: the meter provider too (see _otel_metrics; another SDK's meter provider
    # already set stays, with a warning, as install_meter_provider() documents) -------------
    install_meter_provider()


def installed() -> bool:
    """Whether aiotelemetry's providers are OpenTelemetry's global ones."""
    return isinstance(trace.get_tracer_provider(), HubTracerProvider) and isinstance(
        _logs.get_logger_provider(), HubLoggerProvider
    )


def dropped() -> dict[str, int]:
    """What the providers lost, by reason, since the process started (see ``_otel_limits``):
    ``attributes``, ``events``, ``links`` dropped from spans, spans ``never_ended`` (their
    signal is lost) and ``ended_twice``. Signals the handlers drop are in the hub's stats."""
    return dict(_otel_limits.DROPPED)
