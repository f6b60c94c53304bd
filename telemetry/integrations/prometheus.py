"""The pipeline's own numbers for Prometheus: a ``prometheus_client`` collector.

```python
from prometheus_client import REGISTRY, start_http_server
from telemetry.integrations.prometheus import TelemetryCollector

REGISTRY.register(TelemetryCollector(hub))   # or TelemetryCollector() for the default hub
start_http_server(9100)                      # or the app's own /metrics route
```

Each scrape reads [`telemetry.Telemetry.stats`][telemetry.Telemetry.stats] once (plain counters;
nothing is added to the emitting path) and reports, per handler: the queue's size and capacity, the
signals accepted, the signals processed (written, or dropped under a reason), the batches exported
(written, or lost to the sink) and failed write attempts, and the write latency. The names
are the OpenTelemetry SDK's own self-observability metrics (``otel.sdk.*``) in Prometheus
spelling where one exists (dots become underscores; counters end in ``_total``; seconds in
``_seconds``); the handler is the ``otel_component_name`` label, and the reason of a drop the
``error_type`` label, as OpenTelemetry's ``error.type`` attribute. The rest are
``aiotelemetry_*``. ``prometheus-client`` is an optional dependency: ``pip install
aiotelemetry[prometheus]``.

=================================================  =====================================
metric                                             what it counts
=================================================  =====================================
``otel_sdk_log_created_total``                     signals that passed the hub's filters
``aiotelemetry_refused_total``                     signals the hub's filters refused
``otel_sdk_processor_log_queue_size``              signals queued (or parked) now
``otel_sdk_processor_log_queue_capacity``          the queue's capacity (``buffer_size``)
``aiotelemetry_handler_accepted_total``            signals offered to the handler
``otel_sdk_processor_log_processed_total``         handed to the sink (``error_type``
                                                   empty), or dropped before (the reason;
                                                   ``closed`` is ``already_shutdown``)
``otel_sdk_exporter_log_exported_total``           written, or dropped after the sink kept
                                                   failing (``error_type="sink_error"``)
``aiotelemetry_handler_sink_errors_total``         failed write attempts (retried or not)
``aiotelemetry_handler_retries_total``             write attempts that were retries
``aiotelemetry_handler_filtered_total``            signals the handler's own filters refused
``otel_sdk_exporter_operation_duration_seconds``   a summary of write latency per batch:
                                                   count and sum over all batches, the 0.5
                                                   and 0.99 quantiles over recent ones
``aiotelemetry_handler_info``                      1, with the handler's ``sink``, ``mode``
                                                   and ``state``
=================================================  =====================================

Beside these, every instrument of the OpenTelemetry metrics API recorded through
aiotelemetry's meter provider (and the ASGI middleware's HTTP server metrics), under
OpenTelemetry's Prometheus naming (``telemetry._metrics._naming``): the unit as a suffix,
``_total`` for counters, ``_bucket`` / ``_sum`` / ``_count`` for histograms, attributes as
labels with ``otel_scope_name`` and ``otel_scope_version``, the resource as ``target_info``;
and what metrics dropped, as ``aiotelemetry_metrics_dropped_total`` by ``reason`` and
``aiotelemetry_metrics_overflowed_total``. ``TelemetryCollector(hub, metrics=False)`` leaves
them out. The instruments are read with cumulative temporality, as Prometheus expects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .._extras import missing_extra

try:
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        Metric,
        SummaryMetricFamily,
    )
    from prometheus_client.registry import Collector
    from prometheus_client.samples import Sample
except ImportError:  # the extra is missing: say which, in one line
    raise missing_extra(
        "telemetry.integrations.prometheus", "prometheus-client", "prometheus"
    ) from None

from .._errors import ConfigError
from .._hub import Telemetry
from .._metrics._reader import MetricReader
from .._metrics._state import STATE
from .._registry import get_hub
from .._stats import DROP_REASONS, Stats
from ._prometheus_metrics import metric_families

__all__ = ["COMPONENT_TYPE", "TelemetryCollector"]

COMPONENT_TYPE = "aiotelemetry_handler"
"""The ``otel_component_type`` of every handler."""
_LABELS = ["otel_component_name", "otel_component_type"]
_OTEL_ERROR_TYPES = {"closed": "already_shutdown"}
"""Drop reasons that OpenTelemetry has a name of its own for (``error.type``)."""


class TelemetryCollector(Collector):
    """A ``prometheus_client`` collector of a hub's pipeline metrics, and of every instrument
    of the metrics API recorded through aiotelemetry's meter provider.

    Register it as any collector: ``registry.register(TelemetryCollector(hub))``. Scraping is
    safe from any thread; the observable instruments' callbacks run on a thread of their own,
    waited for at most a second.

    Args:
        hub: The hub whose pipeline is measured; by default the default hub at scrape time
            (nothing while none is open).
        metrics: Whether the instruments of the metrics API are collected too.

    Raises:
        ConfigError: ``hub`` is not a [`Telemetry`][telemetry.Telemetry].
    """

    def __init__(self, hub: Telemetry | None = None, *, metrics: bool = True) -> None:
        if hub is not None and not isinstance(hub, Telemetry):
            raise ConfigError("hub", f"must be a telemetry.Telemetry or None, got {hub!r}")
        self.hub = hub
        self.reader = MetricReader("cumulative", state=STATE) if metrics else None
        """Reads the instruments at each scrape (None: ``metrics=False``)."""

    def _stats(self) -> Stats | None:
        hub = self.hub if self.hub is not None else get_hub()
        return None if hub is None else hub.stats()

    def describe(self) -> Iterator[Metric]:
        """The metric families, without values (what ``registry.register`` checks names by)."""
        return iter(_families(None))

    def collect(self) -> Iterator[Metric]:
        """The metric families with this moment's values: the pipeline's, then the
        instruments'."""
        families = _families(self._stats())
        if self.reader is not None:
            families.extend(metric_families(self.reader))
        return iter(families)


_HANDLER = tuple(_LABELS)
_WHY = (*_LABELS, "error_type")
#: The pipeline's metric families, in the order they are exposed: (key, kind, name, help,
#: labels). A table: what each family counts is in its help.
_FAMILY_TABLE: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("created", "counter", "otel_sdk_log_created", "Signals that passed the hub's filters.", ()),
    ("refused", "counter", "aiotelemetry_refused", "Signals the hub's filters refused.", ()),
    (
        "size",
        "gauge",
        "otel_sdk_processor_log_queue_size",
        "Signals in a handler's queue (or parked for it) now.",
        _HANDLER,
    ),
    (
        "capacity",
        "gauge",
        "otel_sdk_processor_log_queue_capacity",
        "The most signals a handler's queue holds.",
        _HANDLER,
    ),
    (
        "accepted",
        "counter",
        "aiotelemetry_handler_accepted",
        "Signals offered to a handler (after its filters).",
        _HANDLER,
    ),
    (
        "processed",
        "counter",
        "otel_sdk_processor_log_processed",
        "Signals a handler handed to its sink (error_type empty) or dropped before that "
        "(error_type is the reason).",
        _WHY,
    ),
    (
        "exported",
        "counter",
        "otel_sdk_exporter_log_exported",
        "Signals a handler's sink wrote (error_type empty), or that were dropped after the "
        "sink kept failing (error_type sink_error).",
        _WHY,
    ),
    (
        "errors",
        "counter",
        "aiotelemetry_handler_sink_errors",
        "Failed write attempts of a handler's sink.",
        _HANDLER,
    ),
    (
        "retries",
        "counter",
        "aiotelemetry_handler_retries",
        "Write attempts that were retries.",
        _HANDLER,
    ),
    (
        "filtered",
        "counter",
        "aiotelemetry_handler_filtered",
        "Signals a handler's own filters refused.",
        _HANDLER,
    ),
    (
        "latency",
        "summary",
        "otel_sdk_exporter_operation_duration_seconds",
        "Write latency of a handler's sink per batch: count and sum over all batches, "
        "quantiles over the recent ones.",
        _HANDLER,
    ),
    (
        "info",
        "gauge",
        "aiotelemetry_handler_info",
        "1 for each handler, with its sink, mode and state.",
        (*_LABELS, "sink", "mode", "state"),
    ),
)
_KINDS: dict[str, Callable[..., Metric]] = {
    "counter": CounterMetricFamily,
    "gauge": GaugeMetricFamily,
    "summary": SummaryMetricFamily,
}


def _families(stats: Stats | None) -> list[Metric]:
    """The pipeline's metric families, with the values of ``stats`` when given."""
    f: dict[str, Any] = {
        key: _KINDS[kind](name, doc, labels=list(labels))
        for key, kind, name, doc, labels in _FAMILY_TABLE
    }
    families: list[Metric] = list(f.values())
    if stats is None:
        return families
    f["created"].add_metric([], stats.emitted)
    f["refused"].add_metric([], stats.refused)
    for name, h in stats.handlers.items():
        who = [name, COMPONENT_TYPE]
        f["size"].add_metric(who, h.queued)
        f["capacity"].add_metric(who, h.buffer_size)
        f["accepted"].add_metric(who, h.emitted)
        # OpenTelemetry counts a signal as processed once it is handed to the exporter (the
        # sink), whatever the write's outcome: that outcome is the exporter's metric.
        lost = h.dropped.get("sink_error", 0)
        f["processed"].add_metric([*who, ""], h.written + lost)
        for reason in (*DROP_REASONS, *sorted(set(h.dropped) - set(DROP_REASONS))):
            if reason != "sink_error":
                error_type = _OTEL_ERROR_TYPES.get(reason, reason)
                f["processed"].add_metric([*who, error_type], h.dropped.get(reason, 0))
        f["exported"].add_metric([*who, ""], h.written)
        f["exported"].add_metric([*who, "sink_error"], lost)
        f["errors"].add_metric(who, h.errors)
        f["retries"].add_metric(who, h.retries)
        f["filtered"].add_metric(who, h.filtered)
        lat = h.latency
        f["latency"].add_metric(who, lat.count, lat.mean_us * lat.count / 1e6)
        labels: dict[str, Any] = dict(zip(_LABELS, who, strict=True))
        for q, value in (("0.5", lat.p50_us), ("0.99", lat.p99_us)):
            f["latency"].samples.append(
                Sample(f["latency"].name, {**labels, "quantile": q}, value / 1e6, None, None)
            )
        f["info"].add_metric([*who, h.sink, h.mode, h.state], 1)
    return families
