"""The cost of one metric measurement, ours next to the OpenTelemetry SDK's, and the memory of
an instrument offered 100,000 attribute sets.

``python bench/metrics.py [N]`` (N measurements per round, default 100,000) records a
histogram measurement with three attributes through each meter provider, on the event loop,
in rounds that alternate between the two, and prints the median cost per measurement and the
ratio; first with one attribute mapping reused (the attribute set exists), then with a new
mapping built per call, as FastAPI's native telemetry does. The SDK's provider has an
in-memory reader attached, as any configured SDK has a reader. Then it offers 100,000
distinct attribute sets to one histogram of each and prints the memory each holds afterwards
(tracemalloc) and the series and overflow counts (``--sets=K`` offers K instead). ``--json``
prints one JSON object instead.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

ROUNDS = 7
ATTRS = {
    "http.request.method": "GET",
    "http.route": "/items/{id}",
    "http.response.status_code": 200,
}


def _ours() -> tuple[Any, Any]:
    from telemetry._metrics._reader import MetricReader
    from telemetry._metrics._state import MetricsState
    from telemetry.integrations._otel_metrics import MeterProvider

    state = MetricsState()
    meter = MeterProvider(state).get_meter("bench")
    return meter, lambda: MetricReader(state=state).collect()


def _sdk() -> tuple[Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("bench")
    return meter, reader.get_metrics_data


def _histogram(meter: Any, name: str) -> Any:
    return meter.create_histogram(
        name,
        unit="s",
        explicit_bucket_boundaries_advisory=[
            0.005,
            0.01,
            0.025,
            0.05,
            0.075,
            0.1,
            0.25,
            0.5,
            0.75,
            1,
            2.5,
            5,
            7.5,
            10,
        ],
    )


def _reused(h: Any, n: int) -> float:
    record, attrs = h.record, ATTRS
    t0 = time.perf_counter_ns()
    for i in range(n):
        record(0.001 * (i & 63), attrs)
    return (time.perf_counter_ns() - t0) / n


def _fresh(h: Any, n: int) -> float:
    record = h.record
    t0 = time.perf_counter_ns()
    for i in range(n):
        record(
            0.001 * (i & 63),
            {
                "http.request.method": "GET",
                "http.route": "/items/{id}",
                "http.response.status_code": 200,
            },
        )
    return (time.perf_counter_ns() - t0) / n


def _empty(n: int) -> float:
    """The scale of this machine now: a call of a Python function that does nothing."""

    def nothing(value: float, attributes: Any) -> None:
        pass

    attrs = ATTRS
    t0 = time.perf_counter_ns()
    for i in range(n):
        nothing(0.001 * (i & 63), attrs)
    return (time.perf_counter_ns() - t0) / n


def _cost(kind: Callable[[Any, int], float], n: int) -> dict[str, float]:
    hists = {"aiotelemetry": _histogram(_ours()[0], "d"), "otel_sdk": _histogram(_sdk()[0], "d")}
    for h in hists.values():
        kind(h, 1000)  # the attribute set exists; caches warm
    runs: dict[str, list[float]] = {name: [] for name in hists}
    gc.collect()
    for _ in range(ROUNDS):
        for name, h in hists.items():
            runs[name].append(kind(h, n))
    out = {name: statistics.median(r) for name, r in runs.items()}
    out["ratio"] = out["otel_sdk"] / out["aiotelemetry"]
    return out


def _memory(make: Callable[[], tuple[Any, Any]], sets: int) -> dict[str, Any]:
    gc.collect()
    tracemalloc.start()
    try:
        meter, collect = make()
        h = _histogram(meter, "users")
        before = tracemalloc.get_traced_memory()[0]
        for i in range(sets):
            h.record(0.01, {"user.id": i, "http.route": "/me", "tenant": i % 7})
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    data = collect()
    series = _series(data)
    return {"held_bytes": held, "series": series[0], "overflow_count": series[1]}


def _series(data: Any) -> tuple[int, int]:
    """Series and the overflow series' count, from either provider's collection."""
    if isinstance(data, list):  # ours
        points = [p for m in data for p in m.points]
    else:
        points = [
            p
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            for p in m.data.data_points
        ]
    overflow = [
        p.count
        for p in points
        if dict(p.attributes if hasattr(p, "attributes") else p.attrs).get("otel.metric.overflow")
    ]
    return len(points), sum(overflow)


async def main(n: int, sets: int = 100_000) -> dict[str, Any]:
    # Measured on the event loop, where the app records.
    return {
        "n": n,
        "empty_call_ns": statistics.median(_empty(n) for _ in range(ROUNDS)),
        "reused_attributes_ns": _cost(_reused, n),
        "new_mapping_per_call_ns": _cost(_fresh, n),
        "attribute_sets": sets,
        "memory": {"aiotelemetry": _memory(_ours, sets), "otel_sdk": _memory(_sdk, sets)},
    }


def _print(r: dict[str, Any]) -> None:
    print(f"histogram.record with 3 attributes, median of {ROUNDS} rounds of {r['n']:,}:")
    print(f"  (the same loop calling an empty Python function: {r['empty_call_ns']:.0f} ns)")
    for label, key in (
        ("same mapping", "reused_attributes_ns"),
        ("new mapping", "new_mapping_per_call_ns"),
    ):
        c = r[key]
        print(
            f"  {label:13} aiotelemetry {c['aiotelemetry']:7.0f} ns   "
            f"OpenTelemetry SDK {c['otel_sdk']:7.0f} ns   ratio {c['ratio']:.2f}x"
        )
    print(f"{r['attribute_sets']:,} distinct attribute sets offered to one histogram:")
    for name, m in r["memory"].items():
        print(
            f"  {name:13} holds {m['held_bytes'] / 1e6:6.2f} MB, {m['series']} series, "
            f"{m['overflow_count']:,} measurements in the overflow series"
        )


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    sets = [int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--sets=")]
    result = asyncio.run(main(int(args[0]) if args else 100_000, *sets))
    if "--json" in sys.argv:
        print(json.dumps(result))
    else:
        _print(result)
