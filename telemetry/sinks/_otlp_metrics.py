"""Metrics as OTLP ``ExportMetricsServiceRequest`` messages, in both encodings.

A collection (``telemetry._metrics._reader.Metric`` items) becomes one request per
``max_points`` data points, grouped by instrumentation scope; an instrument with more points
than that is split across requests (receivers merge them). Sums keep their temporality and
monotonicity, gauges are gauges, histograms carry count, sum, min, max, the explicit bounds and
a count per bucket. Integers stay integers (``asInt``), the rest are doubles.

Imported only by an [`OTLPSink`][telemetry.sinks.OTLPSink] that exports metrics.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec

from .._metrics._reader import Metric
from ._otlp_json import json_value

__all__ = ["Request", "encode_json", "encode_proto", "rejected_json", "rejected_proto"]

#: AggregationTemporality in OTLP.
_TEMPORALITY = {"delta": 1, "cumulative": 2}
_json = msgspec.json.Encoder()

#: One request: its body and the data points it holds.
Request = tuple[bytes, int]


def _chunks(metrics: Sequence[Metric], most: int) -> Iterator[list[Metric]]:
    """The metrics in groups of at most ``most`` points (an instrument split if need be)."""
    group: list[Metric] = []
    room = most
    for m in metrics:
        points = m.points
        while points:
            take, points = points[:room], points[room:]
            group.append(m._replace(points=take))
            room -= len(take)
            if room == 0:
                yield group
                group, room = [], most
    if group:
        yield group


def _by_scope(metrics: list[Metric]) -> dict[Any, list[Metric]]:
    out: dict[Any, list[Metric]] = {}
    for m in metrics:
        out.setdefault(m.scope, []).append(m)
    return out


# -- OTLP/JSON ---------------------------------------------------------------------------------


def _json_attrs(attrs: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"key": k, "value": json_value(list(v) if type(v) is tuple else v)}
        for k, v in attrs.items()
    ]


def _json_number(p: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": _json_attrs(p.attrs),
        "startTimeUnixNano": str(p.start_ns),
        "timeUnixNano": str(p.time_ns),
    }
    if type(p.value) is int:
        out["asInt"] = str(p.value)
    else:
        out["asDouble"] = float(p.value)
    return out


def _json_histogram(p: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": _json_attrs(p.attrs),
        "startTimeUnixNano": str(p.start_ns),
        "timeUnixNano": str(p.time_ns),
        "count": str(p.count),
        "sum": float(p.sum),
        "bucketCounts": [str(n) for n in p.buckets],
        "explicitBounds": list(p.bounds),
    }
    if p.min is not None:
        out["min"] = float(p.min)
        out["max"] = float(p.max)
    return out


def _json_metric(m: Metric) -> dict[str, Any]:
    out: dict[str, Any] = {"name": m.name, "description": m.description, "unit": m.unit}
    temporality = _TEMPORALITY[m.temporality]
    if m.aggregation == "histogram":
        out["histogram"] = {
            "dataPoints": [_json_histogram(p) for p in m.points],
            "aggregationTemporality": temporality,
        }
    elif m.aggregation == "gauge":
        out["gauge"] = {"dataPoints": [_json_number(p) for p in m.points]}
    else:
        out["sum"] = {
            "dataPoints": [_json_number(p) for p in m.points],
            "aggregationTemporality": temporality,
            "isMonotonic": m.monotonic,
        }
    return out


def encode_json(
    metrics: Sequence[Metric], resource: Mapping[str, Any], max_points: int
) -> list[Request]:
    """The requests in OTLP/JSON."""
    out = []
    res = {"attributes": _json_attrs(resource)}
    for chunk in _chunks(metrics, max_points):
        scopes = []
        for scope, ms in _by_scope(chunk).items():
            sc: dict[str, Any] = {"name": scope.name}
            if scope.version:
                sc["version"] = scope.version
            entry: dict[str, Any] = {"scope": sc, "metrics": [_json_metric(m) for m in ms]}
            if scope.schema_url:
                entry["schemaUrl"] = scope.schema_url
            scopes.append(entry)
        body = {"resourceMetrics": [{"resource": res, "scopeMetrics": scopes}]}
        out.append((_json.encode(body), sum(len(m.points) for m in chunk)))
    return out


def rejected_json(body: bytes) -> tuple[int, str]:
    """The partial success of an OTLP/JSON response: data points rejected, and the message.
    Raises ``ValueError`` when the body is not a response."""
    try:
        resp = msgspec.json.decode(body) if body.strip() else {}
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(resp, dict):
        raise ValueError("not a JSON object")
    ps = resp.get("partialSuccess") or {}
    if not isinstance(ps, dict):
        raise ValueError("partialSuccess is not an object")
    try:
        rejected = int(ps.get("rejectedDataPoints") or 0)
    except (TypeError, ValueError):
        raise ValueError(f"rejectedDataPoints is not a number: {ps!r}") from None
    message = ps.get("errorMessage") or ""
    return rejected, str(message)


# -- OTLP/protobuf -----------------------------------------------------------------------------


def _proto_number(dp: Any, p: Any) -> None:
    from ._otlp_proto import fill

    fill(dp.attributes, p.attrs)
    dp.start_time_unix_nano = p.start_ns
    dp.time_unix_nano = p.time_ns
    if type(p.value) is int and -(2**63) <= p.value < 2**63:
        dp.as_int = p.value
    else:
        dp.as_double = float(p.value)


def _proto_histogram(dp: Any, p: Any) -> None:
    from ._otlp_proto import fill

    fill(dp.attributes, p.attrs)
    dp.start_time_unix_nano = p.start_ns
    dp.time_unix_nano = p.time_ns
    dp.count = p.count
    dp.sum = float(p.sum)
    dp.bucket_counts.extend(p.buckets)
    dp.explicit_bounds.extend(p.bounds)
    if p.min is not None:
        dp.min = float(p.min)
        dp.max = float(p.max)


def _proto_metric(out: Any, m: Metric) -> None:
    out.name = m.name
    out.description = m.description
    out.unit = m.unit
    temporality = _TEMPORALITY[m.temporality]
    if m.aggregation == "histogram":
        out.histogram.aggregation_temporality = temporality
        for p in m.points:
            _proto_histogram(out.histogram.data_points.add(), p)
    elif m.aggregation == "gauge":
        for p in m.points:
            _proto_number(out.gauge.data_points.add(), p)
    else:
        out.sum.aggregation_temporality = temporality
        out.sum.is_monotonic = m.monotonic
        for p in m.points:
            _proto_number(out.sum.data_points.add(), p)


def encode_proto(
    metrics: Sequence[Metric], resource: Mapping[str, Any], max_points: int
) -> list[Request]:
    """The requests in OTLP/protobuf."""
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

    from ._otlp_proto import fill

    out = []
    for chunk in _chunks(metrics, max_points):
        req = metrics_service_pb2.ExportMetricsServiceRequest()
        rm = req.resource_metrics.add()
        fill(rm.resource.attributes, resource)
        for scope, ms in _by_scope(chunk).items():
            sm = rm.scope_metrics.add()
            sm.scope.name = scope.name
            sm.scope.version = scope.version
            sm.schema_url = scope.schema_url
            for m in ms:
                _proto_metric(sm.metrics.add(), m)
        out.append((req.SerializeToString(), sum(len(m.points) for m in chunk)))
    return out


def rejected_proto(body: bytes) -> tuple[int, str]:
    """The partial success of a protobuf response (see `rejected_json`)."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

    try:
        resp = metrics_service_pb2.ExportMetricsServiceResponse.FromString(body)
    except DecodeError as exc:
        raise ValueError(str(exc)) from None
    ps = resp.partial_success
    return ps.rejected_data_points, ps.error_message
