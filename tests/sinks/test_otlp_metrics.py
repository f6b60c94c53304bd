"""The OTLP sink's metrics: pushed to /v1/metrics on the interval and at the close, decoded
by the receiver with opentelemetry-proto, every data point counted."""

from __future__ import annotations

from tests.conftest import needs

needs("httpx", "opentelemetry.metrics", "opentelemetry.proto")

import threading
from collections.abc import Mapping
from typing import Any

import anyio
import pytest

import telemetry as tel
from telemetry._metrics._state import MetricsState
from telemetry.integrations._otel_metrics import MeterProvider
from telemetry.sinks import OTLPSink
from tests.sinks.otlp_receiver import Receiver, Reply, receiving


def sink(rx: Receiver, **options: Any) -> OTLPSink:
    return OTLPSink(rx.endpoint, signals=("metrics",), env={}, **options)


def points(rx: Receiver) -> dict[str, Any]:
    """The last point of each metric the receiver accepted, by name."""
    out = {}
    for _scope, m in rx.metrics():
        data = m.WhichOneof("data")
        out[m.name] = (data, getattr(m, data))
    return out


async def wait_for_pushes(rx: Receiver, n: int) -> None:
    with anyio.fail_after(10):
        while sum(r.path == "/v1/metrics" for r in rx.accepted) < n:  # noqa: ASYNC110 - no event
            await anyio.sleep(0.01)


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
async def test_metrics_are_pushed_on_the_interval_and_at_close(
    protocol: str, metrics_state: MetricsState
) -> None:
    """Sums, gauges and histograms arrive as OTLP metrics (temporality, monotonicity, int or
    double, buckets, min and max); the close pushes what was measured after the last push."""
    meter = MeterProvider(metrics_state).get_meter("shop", "3.1")
    orders = meter.create_counter("orders", unit="{order}")
    load = meter.create_gauge("load")
    latency = meter.create_histogram("latency", unit="s", explicit_bucket_boundaries_advisory=[1])
    async with receiving() as rx:
        s = sink(rx, protocol=protocol, metrics_interval=0.05)
        async with tel.Telemetry(handlers={"otlp": s}) as hub:
            orders.add(2, {"paid": True})
            load.set(0.5)
            latency.record(0.25)
            latency.record(4.0)
            await wait_for_pushes(rx, 1)
            orders.add(3, {"paid": True})
        counters = hub.stats().handlers["otlp"].sink_counters
    assert not rx.errors
    got = points(rx)
    kind, total = got["orders"]
    assert kind == "sum" and total.is_monotonic and total.aggregation_temporality == 2
    (p,) = total.data_points
    assert p.as_int == 5 and p.attributes[0].key == "paid" and p.attributes[0].value.bool_value
    assert got["load"][0] == "gauge" and got["load"][1].data_points[0].as_double == 0.5
    kind, hist = got["latency"]
    (h,) = hist.data_points
    assert (h.count, h.sum, list(h.bucket_counts), list(h.explicit_bounds)) == (
        2,
        4.25,
        [1, 1],
        [1.0],
    )
    assert (h.min, h.max) == (0.25, 4.0)
    scopes = {scope for scope, _ in rx.metrics()}
    assert scopes == {"shop"}
    pushes = sum(r.path == "/v1/metrics" for r in rx.accepted)
    assert counters["metric_exports"] == pushes >= 2
    assert counters["metric_points"] == sum(
        len(getattr(m, m.WhichOneof("data")).data_points) for _, m in rx.metrics()
    )


async def test_delta_temporality_from_the_environment(metrics_state: MetricsState) -> None:
    """OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta: each push holds the change
    since the one before; the pushes add up to the total."""
    counter = MeterProvider(metrics_state).get_meter("d").create_counter("n")
    env = {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"}
    async with receiving() as rx:
        s = OTLPSink(rx.endpoint, signals=("metrics",), env=env, metrics_interval=0.05)
        async with tel.Telemetry(handlers={"otlp": s}):
            counter.add(4)
            await wait_for_pushes(rx, 1)
            counter.add(6)
    values = [
        (m.sum.aggregation_temporality, p.as_int)
        for _, m in rx.metrics()
        for p in m.sum.data_points
    ]
    assert all(t == 1 for t, _ in values)
    assert sum(v for _, v in values) == 10 and len(values) >= 2


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
async def test_partial_success_and_refusals_are_counted(
    protocol: str, metrics_state: MetricsState
) -> None:
    """A partial success drops its rejected_data_points; a 400 drops the request's points;
    nothing raises."""
    counter = MeterProvider(metrics_state).get_meter("p").create_counter("n")
    async with receiving() as rx:
        rx.script.extend([Reply(rejected=1, message="one bad point"), Reply(status=400)])
        s = sink(rx, protocol=protocol, metrics_interval=3600)
        async with tel.Telemetry(handlers={"otlp": s}) as hub:
            for user in range(3):
                counter.add(1, {"user": user})
            assert s._metrics is not None
            await s._metrics.export()  # the interval's push, now
        counters = hub.stats().handlers["otlp"].sink_counters
    assert counters["metric_points_dropped_partial_success"] == 1
    assert counters["metric_points"] == 2
    assert counters["metric_points_dropped_rejected"] == 3  # the close's push, refused


async def test_a_receiver_that_is_down_costs_the_close_no_more_than_its_timeout(
    metrics_state: MetricsState,
) -> None:
    """Unreachable: the points are counted as dropped and the close returns."""
    MeterProvider(metrics_state).get_meter("u").create_counter("n").add(1)
    async with receiving() as rx:
        await rx.stop()
        s = sink(rx, timeout=0.5)
        with anyio.fail_after(10):
            async with tel.Telemetry(handlers={"otlp": s}, close_timeout=2) as hub:
                pass
    counters = hub.stats().handlers["otlp"].sink_counters
    assert counters["metric_points_dropped_unreachable"] == 1


async def test_a_hanging_callback_cannot_stall_the_close(metrics_state: MetricsState) -> None:
    """An observable callback that never returns is given up on at its deadline; the close
    pushes the rest."""
    release = threading.Event()
    meter = MeterProvider(metrics_state).get_meter("h")

    def stuck(options: Any) -> list[Any]:
        release.wait(30)
        return []

    meter.create_observable_gauge("stuck", [stuck])
    meter.create_counter("fine").add(1)
    try:
        async with receiving() as rx:
            with anyio.fail_after(10):
                async with tel.Telemetry(handlers={"otlp": sink(rx)}):
                    pass
        assert set(points(rx)) == {"fine"}
        assert metrics_state.dropped["callback_timeout"] == 1
    finally:
        release.set()


async def test_nothing_measured_means_no_request(metrics_state: MetricsState) -> None:
    """A sink that exports metrics sends nothing while nothing is measured."""
    async with receiving() as rx, tel.Telemetry(handlers={"otlp": sink(rx)}):
        await tel.log("info", "not a metric")
    assert rx.requests == []


@pytest.mark.parametrize(
    ("kwargs", "env", "param"),
    [
        ({"metrics_interval": 0}, {}, "metrics_interval"),
        ({}, {"OTEL_METRIC_EXPORT_INTERVAL": "soon"}, "OTEL_METRIC_EXPORT_INTERVAL"),
        ({"metrics_temporality": "both"}, {}, "metrics_temporality"),
        (
            {},
            {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "x"},
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        ),
    ],
)
def test_bad_metrics_configuration_is_named(
    kwargs: dict[str, Any], env: Mapping[str, str], param: str
) -> None:
    """A bad interval or temporality is a ConfigError naming the argument or variable."""
    with pytest.raises(tel.ConfigError, match=param):
        OTLPSink("http://127.0.0.1:4318", env=env, **kwargs)


def test_the_interval_comes_from_the_environment() -> None:
    """OTEL_METRIC_EXPORT_INTERVAL is in milliseconds; 60 s without it."""
    assert (
        OTLPSink("http://h:1", env={"OTEL_METRIC_EXPORT_INTERVAL": "1500"}).metrics_interval == 1.5
    )
    assert OTLPSink("http://h:1", env={}).metrics_interval == 60.0


async def test_the_last_push_is_bounded_whatever_the_receiver_does(
    metrics_state: MetricsState,
) -> None:
    """A receiver that never answers the last push: the close gives up on it after the
    sink's close bound (not the request's 30 s timeout) and counts its points as timeout."""
    from telemetry.sinks.otlp import CLOSE_TIMEOUT_S

    MeterProvider(metrics_state).get_meter("slow").create_counter("n").add(1)
    async with receiving() as rx:
        rx.script.append(Reply(action="hang"))
        s = sink(rx, timeout=30)
        hub = tel.Telemetry(handlers={"otlp": s}, close_timeout=CLOSE_TIMEOUT_S * 3)
        await hub.open()
        t0 = anyio.current_time()
        with anyio.fail_after(20):
            await hub.aclose()
        assert anyio.current_time() - t0 < CLOSE_TIMEOUT_S * 3
    assert [r.path for r in rx.requests] == ["/v1/metrics"]
    assert s.counters["metric_points_dropped_timeout"] == 1
