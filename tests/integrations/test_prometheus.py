"""The Prometheus collector, scraped over HTTP from prometheus_client's own exposition server
and read back with its own parser."""

from __future__ import annotations

from tests.conftest import needs

needs("httpx", "prometheus_client")

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from telemetry import ConfigError, Telemetry
from telemetry.integrations.prometheus import COMPONENT_TYPE, TelemetryCollector
from telemetry.sinks import FileSink, MemorySink

from .._sinks import FlakySink, GatedSink
from ..conftest import assert_accounted

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def scrape() -> Iterator[tuple[CollectorRegistry, str]]:
    """A registry served by prometheus_client's HTTP server on a free port."""
    registry = CollectorRegistry()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield registry, f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


async def fetch(url: str) -> Samples:
    async with httpx.AsyncClient() as client:
        r = await client.get(url)
    assert r.status_code == 200
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def who(handler: str, **more: str) -> frozenset[tuple[str, str]]:
    labels = {"otel_component_name": handler, "otel_component_type": COMPONENT_TYPE, **more}
    return frozenset(labels.items())


async def test_a_scrape_reports_each_handlers_pipeline(
    tmp_path: Path, scrape: tuple[CollectorRegistry, str]
) -> None:
    """Queue size and capacity, accepted, processed and exported (written, or dropped by
    reason), sink errors and retries, write latency: as the hub's stats say, under the
    OpenTelemetry SDK's names in Prometheus spelling."""
    registry, url = scrape
    gated, flaky = GatedSink(), FlakySink(failing=True)
    handlers = {
        "file": FileSink(tmp_path / "app.jsonl"),
        "gated": {"sink": gated, "mode": "dropping", "buffer_size": 8, "batch_size": 1},
        "flaky": {"sink": flaky, "max_retries": 1, "retry_backoff": 0.001},
    }
    hub = Telemetry(handlers=handlers)
    registry.register(TelemetryCollector(hub))
    async with hub:
        for i in range(20):
            await hub.log("info", "hello", i=i)
        await hub.log("debug", "refused by the level")
        with anyio.fail_after(10):
            await gated.entered.wait()  # the gated worker holds one signal, the queue is full
            await hub.handlers["flaky"].control.flush()
            await hub.handlers["file"].control.flush()
        live = await fetch(url)
        stats = hub.stats()
        gated.gate.set()
    assert_accounted(hub.stats())

    assert live[("otel_sdk_log_created_total", frozenset())] == stats.emitted == 20
    assert live[("aiotelemetry_refused_total", frozenset())] == stats.refused
    g = stats.handlers["gated"]
    assert g.queued > 0 and g.dropped["queue_full"] > 0
    assert g.queued + g.dropped["queue_full"] + 1 == 20  # one is in the stuck worker's hands
    assert live[("otel_sdk_processor_log_queue_size", who("gated"))] == g.queued
    assert live[("otel_sdk_processor_log_queue_capacity", who("gated"))] == 8
    assert live[("aiotelemetry_handler_accepted_total", who("gated"))] == 20
    full = ("otel_sdk_processor_log_processed_total", who("gated", error_type="queue_full"))
    assert live[full] == g.dropped["queue_full"]
    assert live[("otel_sdk_processor_log_processed_total", who("gated", error_type=""))] == 0

    f = stats.handlers["file"]
    assert live[("otel_sdk_processor_log_processed_total", who("file", error_type=""))] == 20
    assert live[("otel_sdk_exporter_log_exported_total", who("file", error_type=""))] == 20
    count = live[("otel_sdk_exporter_operation_duration_seconds_count", who("file"))]
    total = live[("otel_sdk_exporter_operation_duration_seconds_sum", who("file"))]
    assert count == f.batches >= 1
    assert total == pytest.approx(f.latency.mean_us * f.latency.count / 1e6)
    p99 = live[("otel_sdk_exporter_operation_duration_seconds", who("file", quantile="0.99"))]
    assert p99 == pytest.approx(f.latency.p99_us / 1e6)

    b = stats.handlers["flaky"]
    # processed counts what was handed to the sink, whatever came of the write
    assert live[("otel_sdk_processor_log_processed_total", who("flaky", error_type=""))] == 20
    assert (
        "otel_sdk_processor_log_processed_total",
        who("flaky", error_type="sink_error"),
    ) not in live
    lost = live[("otel_sdk_exporter_log_exported_total", who("flaky", error_type="sink_error"))]
    assert lost == b.dropped["sink_error"] == 20
    assert live[("aiotelemetry_handler_sink_errors_total", who("flaky"))] == b.errors > 0
    assert live[("aiotelemetry_handler_retries_total", who("flaky"))] == b.retries > 0
    info = who("flaky", sink="flaky", mode="backpressure", state="open")
    assert live[("aiotelemetry_handler_info", info)] == 1


async def test_the_default_hub_is_read_at_scrape_time() -> None:
    """TelemetryCollector() follows the default hub: no samples while none is open."""
    registry = CollectorRegistry()
    registry.register(TelemetryCollector())
    families = text_string_to_metric_families(generate_latest(registry).decode())
    assert [s for family in families for s in family.samples] == []
    async with Telemetry(handlers={"g": MemorySink()}) as hub:
        await hub.event("one")
        text = generate_latest(registry).decode()
    assert "otel_sdk_log_created_total 1.0" in text
    assert 'otel_sdk_processor_log_queue_capacity{otel_component_name="g"' in text


def test_a_collector_takes_a_hub_or_nothing() -> None:
    with pytest.raises(ConfigError, match="hub"):
        TelemetryCollector("hub")  # type: ignore[arg-type]


def test_registering_twice_is_refused_by_name() -> None:
    """describe() names the families, so a registry refuses a second collector of the same
    names, as Prometheus would refuse the duplicate series."""
    registry = CollectorRegistry()
    registry.register(TelemetryCollector())
    with pytest.raises(ValueError, match="Duplicated"):
        registry.register(TelemetryCollector())


async def test_signals_after_close_are_already_shutdown() -> None:
    """OpenTelemetry's name for a drop after shutdown is already_shutdown (our `closed`); once
    closed, accepted is exactly the sum of processed over its error types."""
    registry = CollectorRegistry()
    hub = Telemetry(handlers={"m": MemorySink()})
    registry.register(TelemetryCollector(hub))
    async with hub:
        await hub.log("info", "in time")
    hub.log_nowait("info", "too late")
    samples: Samples = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    shutdown = ("otel_sdk_processor_log_processed_total", who("m", error_type="already_shutdown"))
    assert samples[shutdown] == 1
    processed = sum(
        v
        for (name, labels), v in samples.items()
        if name == "otel_sdk_processor_log_processed_total"
        and ("otel_component_name", "m") in labels
    )
    assert processed == samples[("aiotelemetry_handler_accepted_total", who("m"))] == 2


async def test_instruments_are_exposed_beside_the_pipeline(
    scrape: tuple[CollectorRegistry, str], metrics_state: Any
) -> None:
    """A scrape parsed by prometheus_client's own parser: counters as _total, histograms as
    cumulative _bucket with le, _sum and _count, attributes and the scope as labels, the
    resource as target_info, next to the pipeline's own numbers."""
    from telemetry.integrations._otel_metrics import MeterProvider

    registry, url = scrape
    registry.register(TelemetryCollector())
    meter = MeterProvider(metrics_state).get_meter("shop", "1.2")
    orders = meter.create_counter("shop.orders", unit="{order}")
    duration = meter.create_histogram(
        "http.server.request.duration", unit="s", explicit_bucket_boundaries_advisory=[0.1, 1]
    )
    for route, seconds in (("/a", 0.05), ("/a", 0.5), ("/b", 3.0)):
        duration.record(seconds, {"http.route": route, "http.response.status_code": 200})
        orders.add(1, {"paid": route == "/a"})
    orders.add(-5)  # dropped, counted
    async with Telemetry(handlers={"m": MemorySink()}) as hub:
        await hub.event("one")
        live = await fetch(url)

    scope = {"otel_scope_name": "shop", "otel_scope_version": "1.2"}

    def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
        return (name, frozenset({**scope, **labels}.items()))

    assert live[key("shop_orders_total", paid="true")] == 2
    assert live[key("shop_orders_total", paid="false")] == 1
    a = {"http_route": "/a", "http_response_status_code": "200"}
    base = "http_server_request_duration_seconds"
    assert live[key(f"{base}_bucket", le="0.1", **a)] == 1
    assert live[key(f"{base}_bucket", le="1.0", **a)] == 2
    assert live[key(f"{base}_bucket", le="+Inf", **a)] == 2
    assert live[key(f"{base}_count", **a)] == 2
    assert live[key(f"{base}_sum", **a)] == pytest.approx(0.55)
    (info,) = [labels for name, labels in live if name == "target_info"]
    assert ("telemetry_sdk_name", "aiotelemetry") in info
    assert live[("aiotelemetry_metrics_dropped_total", frozenset({("reason", "negative")}))] == 1
    assert live[("otel_sdk_log_created_total", frozenset())] == 1


async def test_one_name_from_two_scopes_is_one_family(metrics_state: Any) -> None:
    """The same instrument from two libraries shares a family, told apart by scope; the
    collector leaves the instruments out when asked."""
    from telemetry.integrations._otel_metrics import MeterProvider

    provider = MeterProvider(metrics_state)
    for lib in ("fastapi", "mine"):
        provider.get_meter(lib).create_up_down_counter("active", unit="{request}").add(1)
    registry = CollectorRegistry()
    registry.register(TelemetryCollector())
    families = list(text_string_to_metric_families(generate_latest(registry).decode()))
    (active,) = [f for f in families if f.name == "active"]
    assert active.type == "gauge"
    assert sorted(s.labels["otel_scope_name"] for s in active.samples) == ["fastapi", "mine"]
    bare = CollectorRegistry()
    bare.register(TelemetryCollector(metrics=False))
    assert "active" not in generate_latest(bare).decode()
