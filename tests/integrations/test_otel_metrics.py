"""The meter provider behind the OpenTelemetry metrics API."""

from __future__ import annotations

from tests.conftest import needs

needs("opentelemetry.metrics", "opentelemetry.sdk")

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import metrics as api
from opentelemetry.metrics import CallbackOptions, Observation

from telemetry._metrics._reader import MetricReader
from telemetry._metrics._state import MetricsState
from telemetry.integrations._otel_metrics import MeterProvider

ROOT = Path(__file__).resolve().parents[2]


def test_every_instrument_of_the_api_records() -> None:
    """Counter, UpDownCounter, Histogram (with advice), Gauge and the three observables, each
    of the API's type, aggregate as the SDK's defaults, with no hub open at all."""
    state = MetricsState()
    meter = MeterProvider(state).get_meter("shop", "2.0")

    def gen() -> Iterator[list[Observation]]:
        options = yield []
        while True:
            assert isinstance(options, (CallbackOptions, tuple))
            options = yield [Observation(3, {"pool": "db"})]

    c = meter.create_counter("orders", unit="{order}")
    u = meter.create_up_down_counter("queue", unit="{item}")
    h = meter.create_histogram("latency", unit="s", explicit_bucket_boundaries_advisory=[0.1, 1])
    g = meter.create_gauge("temp", unit="Cel")
    meter.create_observable_counter("cpu", [lambda o: [Observation(2.5)]], unit="s")
    meter.create_observable_up_down_counter("conns", [gen()])
    meter.create_observable_gauge("mem", [lambda o: [Observation(10, {"kind": "rss"})]], "By")
    assert isinstance(c, api.Counter) and isinstance(u, api.UpDownCounter)
    assert isinstance(h, api.Histogram) and isinstance(g, api._Gauge)
    c.add(2, {"shop": "a"})
    u.add(-1)
    h.record(0.5)
    g.set(21.5)
    got = {m.name: m for m in MetricReader(state=state).collect()}
    assert got["orders"].points[0].value == 2 and got["orders"].monotonic
    assert got["queue"].points[0].value == -1 and not got["queue"].monotonic
    assert got["latency"].points[0].buckets == [0, 1, 0]
    assert got["temp"].aggregation == "gauge"
    assert got["cpu"].points[0].value == 2.5
    assert got["conns"].points[0].value == 3
    assert got["mem"].points[0].attrs == {"kind": "rss"}
    assert {m.scope.name for m in got.values()} == {"shop"}


def test_bad_advice_and_bad_names_are_reported_not_raised() -> None:
    """Buckets that are not increasing fall back to the default; an invalid instrument name
    gives an instrument that drops (counted) instead of an exception."""
    state = MetricsState()
    meter = MeterProvider(state).get_meter("x")
    h = meter.create_histogram("h", explicit_bucket_boundaries_advisory=[5, 1])
    assert len(h.bounds) == 15  # type: ignore[attr-defined]
    bad = meter.create_counter("1 not a name")
    bad.add(1)
    assert state.dropped["invalid_instrument"] == 1
    assert [m.name for m in MetricReader(state=state).collect()] == []


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_install_sets_the_global_provider_once() -> None:
    """install_meter_provider() is idempotent, and the API's global meters record into the
    state, including instruments made before it ran (through the API's proxies)."""
    code = """
import json
from opentelemetry import metrics
early = metrics.get_meter("early").create_counter("before")
from telemetry.integrations._otel_metrics import PROVIDER, install_meter_provider
from telemetry._metrics._reader import MetricReader
from telemetry._metrics._state import STATE
assert install_meter_provider() is PROVIDER and install_meter_provider() is PROVIDER
assert metrics.get_meter_provider() is PROVIDER and STATE.enabled
early.add(4)
metrics.get_meter("late").create_counter("after").add(1)
print(json.dumps({m.name: m.points[0].value for m in MetricReader().collect()}))
"""
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"before": 4, "after": 1}


def test_another_sdks_provider_is_named_not_replaced() -> None:
    """With the OpenTelemetry SDK's provider installed first, install says so on stderr and
    leaves it in place."""
    code = """
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
sdk = MeterProvider()
metrics.set_meter_provider(sdk)
from telemetry.integrations._otel_metrics import PROVIDER, install_meter_provider
assert install_meter_provider() is PROVIDER
assert metrics.get_meter_provider() is sdk
"""
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert "opentelemetry.sdk.metrics" in done.stderr and "already" in done.stderr


@pytest.mark.parametrize("module", ["telemetry", "telemetry.integrations.asgi"])
def test_nothing_of_opentelemetry_is_imported_before_it_is_used(module: str) -> None:
    """Importing the package, or the middleware that records metrics, imports nothing of
    OpenTelemetry's metrics API nor the meter provider."""
    done = _run(
        f"import sys, {module}; "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.metrics') "
        "or m.endswith('_otel_metrics')))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
