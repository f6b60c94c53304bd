"""The instruments of the metrics state as Prometheus metric families (for
[`TelemetryCollector`][telemetry.integrations.prometheus.TelemetryCollector]).

Instruments whose Prometheus names coincide (the same instrument name from two scopes, as
FastAPI's and the middleware's ``http.server.request.duration``) share one family, told apart
by ``otel_scope_name``; one whose kind differs from the family's first is left out, with a
warning.
"""

from __future__ import annotations

import json
import os
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from .._metrics._naming import label_name, metric_name
from .._metrics._reader import Metric as Data
from .._metrics._reader import MetricReader
from .._warn import warn

__all__ = ["metric_families", "target_info"]

_TYPES = {"histogram": "histogram", "gauge": "gauge"}


def _label_value(v: Any) -> str:
    if type(v) is bool:
        return "true" if v else "false"
    if isinstance(v, tuple):
        return json.dumps(list(v))
    return str(v)


def _labels(m: Data, attrs: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in attrs.items():
        name = label_name(k)
        value = _label_value(v)
        # Keys that become the same label (a.b and a_b) are joined, as the specification says.
        out[name] = f"{out[name]};{value}" if name in out else value
    out["otel_scope_name"] = m.scope.name
    if m.scope.version:
        out["otel_scope_version"] = m.scope.version
    return out


def _type(m: Data) -> str:
    if m.aggregation == "sum":
        return "counter" if m.monotonic else "gauge"
    return _TYPES[m.aggregation]


def _samples(family: Metric, m: Data) -> None:
    name = family.name
    for p in m.points:
        labels = _labels(m, p.attrs)
        if m.aggregation != "histogram":
            sample = f"{name}_total" if family.type == "counter" else name
            family.samples.append(Sample(sample, labels, float(p.value), None, None))
            continue
        running = 0
        for bound, n in zip(p.bounds, p.buckets, strict=False):
            running += n
            le = {**labels, "le": repr(float(bound))}
            family.samples.append(Sample(f"{name}_bucket", le, float(running), None, None))
        inf = {**labels, "le": "+Inf"}
        family.samples.append(Sample(f"{name}_bucket", inf, float(p.count), None, None))
        family.samples.append(Sample(f"{name}_count", labels, float(p.count), None, None))
        family.samples.append(Sample(f"{name}_sum", labels, float(p.sum), None, None))


def target_info(resource: dict[str, Any]) -> Metric:
    """The ``target_info`` family: the resource's attributes as labels."""
    info = Metric("target", "Target metadata", "info")
    labels = {label_name(k): _label_value(v) for k, v in resource.items()}
    info.samples.append(Sample("target_info", labels, 1.0, None, None))
    return info


def _resource() -> dict[str, Any]:
    from ..sinks._otlp_config import build_resource

    return build_resource(os.environ, service_name=None, service_version=None, attributes=None)


def metric_families(reader: MetricReader) -> list[Metric]:
    """Every instrument ``reader`` collects, as families; with ``target_info`` and the
    metrics' own drop counts when there is any."""
    data = reader.collect()
    state = reader.state
    if not data and not state.dropped and not state.overflowed():
        return []
    families: dict[str, Metric] = {}
    for m in data:
        kind = _type(m)
        name = metric_name(m.name, m.unit, kind=m.aggregation, monotonic=m.monotonic)
        family = families.get(name)
        if family is None:
            family = families[name] = Metric(name, m.description or m.name, kind)
        elif family.type != kind:
            warn(
                f"metrics:prometheus-clash:{name}",
                f"metrics: {m.name} ({m.scope.name}) is a {kind} but {name} is a "
                f"{family.type}: left out of the Prometheus exposition",
            )
            continue
        _samples(family, m)
    out = [target_info(_resource()), *families.values()]
    dropped = Metric(
        "aiotelemetry_metrics_dropped", "Measurements metrics dropped, by reason.", "counter"
    )
    for reason, n in sorted(state.dropped.items()):
        dropped.samples.append(
            Sample("aiotelemetry_metrics_dropped_total", {"reason": reason}, float(n), None, None)
        )
    overflowed = Metric(
        "aiotelemetry_metrics_overflowed",
        "Measurements that went to an overflow series (over the cardinality limit).",
        "counter",
    )
    overflowed.samples.append(
        Sample("aiotelemetry_metrics_overflowed_total", {}, float(state.overflowed()), None, None)
    )
    return [*out, dropped, overflowed]
